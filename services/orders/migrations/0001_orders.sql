-- Orders, their lines, idempotency keys and the transactional outbox.
-- Constraints make bad states impossible to store, whatever the code above does.

CREATE TABLE orders (
    id            uuid PRIMARY KEY,
    user_id       text NOT NULL CHECK (length(user_id) BETWEEN 1 AND 128),
    status        text NOT NULL
                  CHECK (status IN ('PENDING', 'CONFIRMED', 'SHIPPED', 'DELIVERED', 'CANCELLED')),
    status_reason text
                  CHECK (status_reason IN
                         ('OUT_OF_STOCK', 'PAYMENT_DECLINED', 'CANCELLED_BY_CUSTOMER', 'FAILED')),
    total         numeric(14, 2) NOT NULL CHECK (total >= 0),
    currency      char(3) NOT NULL DEFAULT 'USD' CHECK (currency = 'USD'),
    payment_token text NOT NULL CHECK (length(payment_token) BETWEEN 1 AND 255),
    created_at    timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL,
    -- A reason exactly when cancelled.
    CONSTRAINT orders_reason_iff_cancelled CHECK ((status = 'CANCELLED') = (status_reason IS NOT NULL)),
    CONSTRAINT orders_updated_after_created CHECK (updated_at >= created_at)
);

-- Newest first per customer, with the id to break ties: the keyset of GET /orders.
CREATE INDEX orders_by_user_newest ON orders (user_id, created_at DESC, id DESC);

CREATE TABLE order_items (
    order_id   uuid NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    line_no    smallint NOT NULL CHECK (line_no BETWEEN 1 AND 50),
    product_id uuid NOT NULL,
    name       text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    unit_price numeric(12, 2) NOT NULL CHECK (unit_price BETWEEN 0 AND 1000000),
    quantity   integer NOT NULL CHECK (quantity BETWEEN 1 AND 100),
    line_total numeric(14, 2) NOT NULL,
    PRIMARY KEY (order_id, line_no),
    CONSTRAINT order_items_distinct_products UNIQUE (order_id, product_id),
    CONSTRAINT order_items_line_total CHECK (line_total = unit_price * quantity)
);

CREATE TABLE idempotency_keys (
    user_id         text NOT NULL,
    key             text NOT NULL CHECK (length(key) BETWEEN 1 AND 255),
    request_hash    char(64) NOT NULL,
    order_id        uuid NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    response_status smallint NOT NULL,
    response_body   json NOT NULL,  -- json, not jsonb: a replay repeats the first body as sent
    created_at      timestamptz NOT NULL DEFAULT now(),
    -- One key per customer: two requests with one key can never both create an order.
    PRIMARY KEY (user_id, key)
);

CREATE TABLE outbox (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    order_id   uuid NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    body       jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    sent_at    timestamptz
);

-- What the relay looks for: small, because sent messages leave it.
CREATE INDEX outbox_unsent ON outbox (id) WHERE sent_at IS NULL;
