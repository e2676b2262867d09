-- Schema of the sample trading services. Idempotent: applied on every `local up`.
CREATE TABLE IF NOT EXISTS orders (
    id          bigserial PRIMARY KEY,
    symbol      text        NOT NULL,
    side        text        NOT NULL CHECK (side IN ('buy', 'sell')),
    quantity    numeric     NOT NULL CHECK (quantity > 0),
    price       numeric     NOT NULL CHECK (price > 0),
    version     text        NOT NULL,
    color       text        NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- One fill per order, whichever color consumed it: both colors share one consumer group
-- and each partition has one owner at a time; the key makes a redelivery a no-op.
CREATE TABLE IF NOT EXISTS fills (
    order_id    bigint      NOT NULL,
    color       text        NOT NULL,
    version     text        NOT NULL,
    symbol      text        NOT NULL,
    quantity    numeric     NOT NULL,
    price       numeric     NOT NULL,
    filled_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (order_id)
);
