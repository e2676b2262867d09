-- Baseline schema of the sample trading services.
CREATE TABLE IF NOT EXISTS public.quotes (
    id bigserial PRIMARY KEY,
    symbol text NOT NULL,
    bid numeric(18, 6) NOT NULL,
    ask numeric(18, 6) NOT NULL,
    quoted_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS public.orders (
    id bigserial PRIMARY KEY,
    symbol text NOT NULL,
    side text NOT NULL CHECK (side IN ('buy', 'sell')),
    quantity integer NOT NULL CHECK (quantity > 0),
    limit_price numeric(18, 6),
    created_at timestamptz NOT NULL DEFAULT now()
);
