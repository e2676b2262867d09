-- Expand: the trading venue of each order, and an index for per-symbol history.
-- Old versions of trading-api ignore both; nothing existing is changed or dropped.
ALTER TABLE public.orders ADD COLUMN IF NOT EXISTS venue text;
CREATE INDEX CONCURRENTLY IF NOT EXISTS orders_symbol_created_at_idx
    ON public.orders (symbol, created_at);
