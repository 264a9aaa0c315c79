-- The market domain. Money is integer fen; time is ms UTC; a "day" is days since
-- 1970-01-01 in China time (UTC+8).

-- A farmer or cooperative that sells; one per user account.
CREATE TABLE market_producers (
    id         INTEGER PRIMARY KEY,
    user_id    INTEGER NOT NULL UNIQUE,
    name       TEXT NOT NULL,
    kind       TEXT NOT NULL DEFAULT 'farmer',
    village_id INTEGER,
    created_at INTEGER NOT NULL
);

-- A village e-commerce service station: packs its producers' orders, is the pickup point.
CREATE TABLE market_stations (
    id         INTEGER PRIMARY KEY,
    village_id INTEGER NOT NULL,
    name       TEXT NOT NULL,
    -- Running counter for the sequence part of pickup codes.
    pickup_seq INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    UNIQUE (village_id, name)
);

CREATE TABLE market_products (
    id          INTEGER PRIMARY KEY,
    producer_id INTEGER NOT NULL REFERENCES market_producers(id),
    village_id  INTEGER,
    name        TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    listed      INTEGER NOT NULL DEFAULT 1,
    batch_id    INTEGER,
    created_at  INTEGER NOT NULL
);

-- What is actually sold: a unit, a weight, a price and the stock.
CREATE TABLE market_variants (
    id         INTEGER PRIMARY KEY,
    product_id INTEGER NOT NULL REFERENCES market_products(id),
    unit       TEXT NOT NULL,
    weight_g   INTEGER,
    price_fen  INTEGER NOT NULL CHECK (price_fen > 0),
    stock      INTEGER NOT NULL CHECK (stock >= 0)
);
CREATE INDEX market_variants_product ON market_variants(product_id);

CREATE TABLE market_orders (
    id                INTEGER PRIMARY KEY,
    buyer_id          INTEGER NOT NULL,
    -- Differs from buyer_id when a station operator ordered for a villager.
    placed_by         INTEGER NOT NULL,
    for_name          TEXT,
    seller_station_id INTEGER REFERENCES market_stations(id),
    pickup_station_id INTEGER NOT NULL REFERENCES market_stations(id),
    status            TEXT NOT NULL,
    payment           TEXT NOT NULL DEFAULT 'unpaid',
    payment_method    TEXT,
    total_fen         INTEGER NOT NULL,
    live_session_id   INTEGER,
    created_at        INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL
);
CREATE INDEX market_orders_buyer ON market_orders(buyer_id);

CREATE TABLE market_order_items (
    id         INTEGER PRIMARY KEY,
    order_id   INTEGER NOT NULL REFERENCES market_orders(id),
    product_id INTEGER NOT NULL,
    variant_id INTEGER NOT NULL,
    live_item_id INTEGER,
    quantity   INTEGER NOT NULL,
    price_fen  INTEGER NOT NULL,
    batch_id   INTEGER,
    trace_code TEXT NOT NULL UNIQUE
);
CREATE INDEX market_order_items_order ON market_order_items(order_id);

CREATE TABLE market_order_events (
    id       INTEGER PRIMARY KEY,
    order_id INTEGER NOT NULL,
    at       INTEGER NOT NULL,
    status   TEXT NOT NULL,
    user_id  INTEGER,
    note     TEXT NOT NULL DEFAULT ''
);
CREATE INDEX market_order_events_order ON market_order_events(order_id);

-- First answer to each (user, Idempotency-Key), replayed on retries.
CREATE TABLE market_idempotency (
    user_id      INTEGER NOT NULL,
    key          TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    status       INTEGER NOT NULL,
    response     TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    PRIMARY KEY (user_id, key)
) WITHOUT ROWID;

CREATE TABLE market_parcels (
    id                INTEGER PRIMARY KEY,
    order_id          INTEGER,
    from_station_id   INTEGER,
    to_station_id     INTEGER NOT NULL REFERENCES market_stations(id),
    recipient_user_id INTEGER,
    recipient_name    TEXT NOT NULL DEFAULT '',
    tracking          TEXT NOT NULL DEFAULT '',
    status            TEXT NOT NULL,
    pickup_code       TEXT,
    arrived_at        INTEGER,
    collected_at      INTEGER,
    last_reminder_at  INTEGER,
    created_at        INTEGER NOT NULL
);
CREATE INDEX market_parcels_waiting ON market_parcels(status, arrived_at);
CREATE UNIQUE INDEX market_parcels_code ON market_parcels(to_station_id, pickup_code)
    WHERE status = 'at_village_station';

CREATE TABLE market_parcel_events (
    id          INTEGER PRIMARY KEY,
    parcel_id   INTEGER NOT NULL,
    at          INTEGER NOT NULL,
    status      TEXT NOT NULL,
    place       TEXT NOT NULL DEFAULT '',
    operator_id INTEGER,
    note        TEXT NOT NULL DEFAULT ''
);
CREATE INDEX market_parcel_events_parcel ON market_parcel_events(parcel_id);

-- Price board.
CREATE TABLE market_commodities (
    id   INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    unit TEXT NOT NULL
);
CREATE TABLE market_markets (
    id   INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE
);
-- The latest price of each commodity at each market.
CREATE TABLE market_prices_today (
    commodity_id INTEGER NOT NULL,
    market_id    INTEGER NOT NULL,
    day          INTEGER NOT NULL,
    price_fen    INTEGER NOT NULL,
    unit         TEXT NOT NULL,
    PRIMARY KEY (commodity_id, market_id)
) WITHOUT ROWID;
-- One row per commodity, market and 365-day period (day / 365): daily prices as run-length,
-- delta-coded varints (see prices/history.rs).
CREATE TABLE market_price_history (
    commodity_id INTEGER NOT NULL,
    market_id    INTEGER NOT NULL,
    period       INTEGER NOT NULL,
    data         BLOB NOT NULL,
    PRIMARY KEY (commodity_id, market_id, period)
) WITHOUT ROWID;
-- Who reported what (station reports and order-derived prices).
CREATE TABLE market_price_reports (
    id           INTEGER PRIMARY KEY,
    commodity_id INTEGER NOT NULL,
    market_id    INTEGER NOT NULL,
    day          INTEGER NOT NULL,
    price_fen    INTEGER NOT NULL,
    unit         TEXT NOT NULL,
    source       TEXT NOT NULL,
    reporter_id  INTEGER,
    at           INTEGER NOT NULL
);

-- Live sales.
CREATE TABLE market_live_sessions (
    id          INTEGER PRIMARY KEY,
    producer_id INTEGER NOT NULL,
    title       TEXT NOT NULL,
    platform    TEXT NOT NULL,
    stream_url  TEXT NOT NULL,
    status      TEXT NOT NULL DEFAULT 'live',
    created_at  INTEGER NOT NULL,
    ended_at    INTEGER
);
CREATE TABLE market_live_items (
    id                INTEGER PRIMARY KEY,
    session_id        INTEGER NOT NULL,
    product_id        INTEGER NOT NULL,
    variant_id        INTEGER NOT NULL,
    session_price_fen INTEGER NOT NULL,
    -- Units set aside from the variant's stock for this session.
    session_stock     INTEGER NOT NULL CHECK (session_stock >= 0),
    sold              INTEGER NOT NULL DEFAULT 0
);

-- Traceability: a harvest batch grown on a farm asset.
CREATE TABLE market_batches (
    id           INTEGER PRIMARY KEY,
    producer_id  INTEGER NOT NULL,
    product_id   INTEGER,
    asset_id     INTEGER NOT NULL,
    asset_name   TEXT NOT NULL,
    grown_from   INTEGER NOT NULL,
    harvested_at INTEGER NOT NULL,
    note         TEXT NOT NULL DEFAULT '',
    code         TEXT NOT NULL UNIQUE,
    created_at   INTEGER NOT NULL
);
