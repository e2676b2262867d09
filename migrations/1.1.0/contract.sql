-- Contract, once 1.1.0 is promoted and baked (no version that ignores `venue` runs any
-- more): orders placed before it get the desk's venue, and every new order must have one.
-- The backfill takes row locks only (orders are never updated by the services); the
-- default and the NOT VALID check take a brief lock at the end and scan nothing.
UPDATE public.orders SET venue = 'XNAS' WHERE venue IS NULL;
ALTER TABLE public.orders ALTER COLUMN venue SET DEFAULT 'XNAS';
ALTER TABLE public.orders ADD CONSTRAINT orders_venue_present CHECK (venue IS NOT NULL) NOT VALID;
