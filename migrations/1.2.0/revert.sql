-- Revert of expand.sql: drops exactly what it added; every order row stays.
DROP INDEX CONCURRENTLY IF EXISTS public.orders_client_ref_idx;
ALTER TABLE public.orders DROP COLUMN IF EXISTS client_ref;
