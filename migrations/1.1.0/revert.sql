-- Revert of expand.sql: drops exactly what it added; every order row stays.
DROP INDEX CONCURRENTLY IF EXISTS public.orders_symbol_created_at_idx;
ALTER TABLE public.orders DROP COLUMN IF EXISTS venue;
