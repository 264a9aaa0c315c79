-- Village node sync (docs/node.md, docs/affairs.md "Village node"): feedback
-- made on a node (ids from its range) and the first read of a notice at the
-- node go up; each change is put in
-- core_sync_outbox in its own transaction; on a hub (no core_node_self row)
-- the triggers do nothing. Notices, groups and their files come down; a file
-- a notice names is fetched apart, once, when the node lacks it:
-- affairs_files_wanted lists those still to fetch; a feedback photo is sent
-- apart after its record, once (affairs_files_sent). Nodes run on SQLite only.
-- @sqlite
CREATE TRIGGER affairs_feedback_sync_insert AFTER INSERT ON affairs_feedback
WHEN NEW.id >= 1099511627776 AND EXISTS (SELECT 1 FROM core_node_self)
BEGIN
    INSERT INTO core_sync_outbox (kind, key) VALUES ('feedback', NEW.id);
END;
CREATE TRIGGER affairs_feedback_sync_update AFTER UPDATE ON affairs_feedback
WHEN NEW.id >= 1099511627776 AND EXISTS (SELECT 1 FROM core_node_self)
BEGIN
    INSERT INTO core_sync_outbox (kind, key) VALUES ('feedback', NEW.id);
END;
CREATE TRIGGER affairs_recipients_sync_read AFTER UPDATE OF read_at ON affairs_notice_recipients
WHEN OLD.read_at IS NULL AND NEW.read_at IS NOT NULL AND EXISTS (SELECT 1 FROM core_node_self)
BEGIN
    INSERT INTO core_sync_outbox (kind, key) VALUES ('notice_read', NEW.notice_id || ':' || NEW.user_id);
END;
-- Photos of the node's feedback the hub has stored (or refused for good).
CREATE TABLE affairs_files_sent (
    village_id INTEGER NOT NULL,
    hash       TEXT NOT NULL,
    PRIMARY KEY (village_id, hash)
);
CREATE TABLE affairs_files_wanted (
    village_id   INTEGER NOT NULL,
    hash         TEXT NOT NULL,
    content_type TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    PRIMARY KEY (village_id, hash)
);
