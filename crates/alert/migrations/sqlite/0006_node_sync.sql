-- Village node sync (docs/node.md): a node sends its alarms up. Each change is
-- put in core_sync_outbox in the transaction that made it; on a hub (no
-- core_node_self row) the triggers do nothing. Nodes run on SQLite only.
-- @sqlite
CREATE TRIGGER alert_alarms_sync_insert AFTER INSERT ON alert_alarms
WHEN EXISTS (SELECT 1 FROM core_node_self)
BEGIN
    INSERT INTO core_sync_outbox (kind, key) VALUES ('alarm', NEW.id);
END;
CREATE TRIGGER alert_alarms_sync_update AFTER UPDATE ON alert_alarms
WHEN EXISTS (SELECT 1 FROM core_node_self)
BEGIN
    INSERT INTO core_sync_outbox (kind, key) VALUES ('alarm', NEW.id);
END;
