-- Village node sync, second part (docs/market.md, "Village node"; docs/node.md).

-- On a node: the hub's online orders waiting for pickup at the village's
-- stations, a read-only copy replaced at every down sync (kind
-- `station_orders`). `lines` is the order's lines as a JSON list (name, unit,
-- quantity, price_fen, trace_code); the copy is only shown, never sold from.
CREATE TABLE market_station_orders (
    id                INTEGER PRIMARY KEY,
    buyer_id          INTEGER NOT NULL,
    buyer_name        TEXT NOT NULL DEFAULT '',
    for_name          TEXT,
    pickup_station_id INTEGER NOT NULL,
    status            TEXT NOT NULL,
    payment           TEXT NOT NULL,
    total_fen         INTEGER NOT NULL,
    created_at        INTEGER NOT NULL,
    lines             TEXT NOT NULL
);
CREATE INDEX market_station_orders_station ON market_station_orders(pickup_station_id);

-- On a node: a hub order handed over at the station (one per order; it goes
-- up as kind `pickup`). On the hub the pickup becomes the order's `collected`
-- event; this table stays empty there.
CREATE TABLE market_pickups (
    order_id    INTEGER PRIMARY KEY,
    station_id  INTEGER NOT NULL,
    at          INTEGER NOT NULL,
    operator_id INTEGER NOT NULL,
    -- cash or qr when the buyer paid at the counter; NULL otherwise.
    method      TEXT
);

-- A node sends its parcels (with their scans, kind `parcel`) and its pickups
-- up; on a hub the triggers do nothing. Nodes run on SQLite only.
-- @sqlite
CREATE TRIGGER market_parcels_sync_insert AFTER INSERT ON market_parcels
WHEN EXISTS (SELECT 1 FROM core_node_self)
BEGIN
    INSERT INTO core_sync_outbox (kind, key) VALUES ('parcel', NEW.id);
END;
CREATE TRIGGER market_parcels_sync_update AFTER UPDATE ON market_parcels
WHEN EXISTS (SELECT 1 FROM core_node_self)
BEGIN
    INSERT INTO core_sync_outbox (kind, key) VALUES ('parcel', NEW.id);
END;
CREATE TRIGGER market_parcel_events_sync_insert AFTER INSERT ON market_parcel_events
WHEN EXISTS (SELECT 1 FROM core_node_self)
BEGIN
    INSERT INTO core_sync_outbox (kind, key) VALUES ('parcel', NEW.parcel_id);
END;
CREATE TRIGGER market_pickups_sync_insert AFTER INSERT ON market_pickups
WHEN EXISTS (SELECT 1 FROM core_node_self)
BEGIN
    INSERT INTO core_sync_outbox (kind, key) VALUES ('pickup', NEW.order_id);
END;
