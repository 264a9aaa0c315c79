-- Village node sync (docs/node.md): assets and devices made on a node (ids
-- from its range, at or above 2^40: a sensor added in the village, an ear tag
-- a gateway announced) go up; the hub's own rows only come down. Each change
-- is put in core_sync_outbox in its own transaction; on a hub (no
-- core_node_self row) the triggers do nothing. Nodes run on SQLite only.
-- @sqlite
CREATE TRIGGER farm_assets_sync_insert AFTER INSERT ON farm_assets
WHEN NEW.id >= 1099511627776 AND EXISTS (SELECT 1 FROM core_node_self)
BEGIN
    INSERT INTO core_sync_outbox (kind, key) VALUES ('asset', NEW.id);
END;
CREATE TRIGGER farm_assets_sync_update AFTER UPDATE ON farm_assets
WHEN NEW.id >= 1099511627776 AND EXISTS (SELECT 1 FROM core_node_self)
BEGIN
    INSERT INTO core_sync_outbox (kind, key) VALUES ('asset', NEW.id);
END;
CREATE TRIGGER farm_devices_sync_insert AFTER INSERT ON farm_devices
WHEN NEW.id >= 1099511627776 AND EXISTS (SELECT 1 FROM core_node_self)
BEGIN
    INSERT INTO core_sync_outbox (kind, key) VALUES ('device', NEW.id);
END;
CREATE TRIGGER farm_devices_sync_update AFTER UPDATE ON farm_devices
WHEN NEW.id >= 1099511627776 AND EXISTS (SELECT 1 FROM core_node_self)
BEGIN
    INSERT INTO core_sync_outbox (kind, key) VALUES ('device', NEW.id);
END;
