-- Expand: venues on quotes and orders, and a fills table. Old versions ignore all three.
ALTER TABLE public.quotes ADD COLUMN IF NOT EXISTS venue text NOT NULL DEFAULT 'XNAS';
ALTER TABLE public.orders ADD COLUMN IF NOT EXISTS venue text;
CREATE TABLE IF NOT EXISTS public.fills (
    id bigserial PRIMARY KEY,
    order_id bigint NOT NULL REFERENCES public.orders (id),
    quantity integer NOT NULL CHECK (quantity > 0),
    price numeric(18, 6) NOT NULL,
    filled_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS quotes_symbol_quoted_at_idx ON public.quotes (symbol, quoted_at);
