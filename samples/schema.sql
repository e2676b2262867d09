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

-- One fill per order per consuming color: each color has its own consumer group.
CREATE TABLE IF NOT EXISTS fills (
    order_id    bigint      NOT NULL,
    color       text        NOT NULL,
    version     text        NOT NULL,
    symbol      text        NOT NULL,
    quantity    numeric     NOT NULL,
    price       numeric     NOT NULL,
    filled_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (order_id, color)
);
