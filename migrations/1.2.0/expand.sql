-- Expand: a client reference on orders, and its index. Old versions ignore both.
ALTER TABLE public.orders ADD COLUMN IF NOT EXISTS client_ref text;
CREATE INDEX CONCURRENTLY IF NOT EXISTS orders_client_ref_idx ON public.orders (client_ref);
