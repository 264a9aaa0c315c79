-- Village node sync (docs/market.md, "Village node"; docs/node.md).

-- On the hub: units of a variant moved from the online stock to a village
-- node's allocation. Both counters only grow, so that applying a record twice
-- changes nothing: `granted` is every unit ever moved to the village (sent down),
-- `released_applied` the node's `released` counter last added back to the
-- online stock.
CREATE TABLE market_allocations (
    village_id       INTEGER NOT NULL,
    variant_id       INTEGER NOT NULL REFERENCES market_variants(id),
    granted          INTEGER NOT NULL CHECK (granted >= 0),
    released_applied INTEGER NOT NULL DEFAULT 0 CHECK (released_applied >= 0),
    PRIMARY KEY (village_id, variant_id)
);

-- On a node: how much of the hub's `granted` is already in the local stock, and
-- every unit the node ever gave back (sent up).
CREATE TABLE market_node_allocations (
    variant_id      INTEGER PRIMARY KEY REFERENCES market_variants(id),
    granted_applied INTEGER NOT NULL DEFAULT 0 CHECK (granted_applied >= 0),
    released        INTEGER NOT NULL DEFAULT 0 CHECK (released >= 0)
);

-- A node sends its station orders and its released units up. Each change is put
-- in core_sync_outbox in the transaction that made it; on a hub (no
-- core_node_self row) the triggers do nothing. Nodes run on SQLite only.
-- @sqlite
CREATE TRIGGER market_orders_sync_insert AFTER INSERT ON market_orders
WHEN EXISTS (SELECT 1 FROM core_node_self)
BEGIN
    INSERT INTO core_sync_outbox (kind, key) VALUES ('order', NEW.id);
END;
CREATE TRIGGER market_orders_sync_update AFTER UPDATE ON market_orders
WHEN EXISTS (SELECT 1 FROM core_node_self)
BEGIN
    INSERT INTO core_sync_outbox (kind, key) VALUES ('order', NEW.id);
END;
CREATE TRIGGER market_order_items_sync_insert AFTER INSERT ON market_order_items
WHEN EXISTS (SELECT 1 FROM core_node_self)
BEGIN
    INSERT INTO core_sync_outbox (kind, key) VALUES ('order', NEW.order_id);
END;
CREATE TRIGGER market_order_events_sync_insert AFTER INSERT ON market_order_events
WHEN EXISTS (SELECT 1 FROM core_node_self)
BEGIN
    INSERT INTO core_sync_outbox (kind, key) VALUES ('order', NEW.order_id);
END;
CREATE TRIGGER market_node_allocations_sync_insert AFTER INSERT ON market_node_allocations
WHEN NEW.released > 0 AND EXISTS (SELECT 1 FROM core_node_self)
BEGIN
    INSERT INTO core_sync_outbox (kind, key) VALUES ('allocation', NEW.variant_id);
END;
CREATE TRIGGER market_node_allocations_sync_update AFTER UPDATE OF released ON market_node_allocations
WHEN NEW.released <> OLD.released AND EXISTS (SELECT 1 FROM core_node_self)
BEGIN
    INSERT INTO core_sync_outbox (kind, key) VALUES ('allocation', NEW.variant_id);
END;
