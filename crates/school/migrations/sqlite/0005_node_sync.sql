-- Village node sync (docs/node.md, docs/school.md "Village nodes").
--
-- Channels a village's school subscribes to: set on the county hub (by county
-- staff, or a teacher for their own village), sent down to the village's node,
-- which pulls exactly these channels from the hub. `channel_id` is the hub's.
CREATE TABLE school_subscriptions (
    id         INTEGER PRIMARY KEY,
    village_id INTEGER NOT NULL,
    channel_id INTEGER NOT NULL,
    created_by INTEGER,
    created_at INTEGER NOT NULL
);
CREATE UNIQUE INDEX school_subscriptions_one ON school_subscriptions(village_id, channel_id);

-- A node sends its learning statements up (key: the statement's UUID, its id on
-- both sides). Statements never change after insert, so one trigger is enough.
-- On a hub (no core_node_self row) it does nothing. Nodes run on SQLite only.
-- @sqlite
CREATE TRIGGER school_statements_sync_insert AFTER INSERT ON school_statements
WHEN EXISTS (SELECT 1 FROM core_node_self)
BEGIN
    INSERT INTO core_sync_outbox (kind, key) VALUES ('school_statement', NEW.uuid);
END;

-- Courses made on the node (ids in its range, from 2^40) go up with their items
-- and enrolments, all under the key of the course. The hub's courses that came
-- down (ids below 2^40) are not sent back.
CREATE TRIGGER school_courses_sync_insert AFTER INSERT ON school_courses
WHEN NEW.id >= 1099511627776 AND EXISTS (SELECT 1 FROM core_node_self)
BEGIN
    INSERT INTO core_sync_outbox (kind, key) VALUES ('school_course', NEW.id);
END;
CREATE TRIGGER school_courses_sync_update AFTER UPDATE ON school_courses
WHEN NEW.id >= 1099511627776 AND EXISTS (SELECT 1 FROM core_node_self)
BEGIN
    INSERT INTO core_sync_outbox (kind, key) VALUES ('school_course', NEW.id);
END;
CREATE TRIGGER school_course_items_sync_insert AFTER INSERT ON school_course_items
WHEN NEW.course_id >= 1099511627776 AND EXISTS (SELECT 1 FROM core_node_self)
BEGIN
    INSERT INTO core_sync_outbox (kind, key) VALUES ('school_course', NEW.course_id);
END;
CREATE TRIGGER school_course_items_sync_update AFTER UPDATE ON school_course_items
WHEN NEW.course_id >= 1099511627776 AND EXISTS (SELECT 1 FROM core_node_self)
BEGIN
    INSERT INTO core_sync_outbox (kind, key) VALUES ('school_course', NEW.course_id);
END;
CREATE TRIGGER school_course_items_sync_delete AFTER DELETE ON school_course_items
WHEN OLD.course_id >= 1099511627776 AND EXISTS (SELECT 1 FROM core_node_self)
BEGIN
    INSERT INTO core_sync_outbox (kind, key) VALUES ('school_course', OLD.course_id);
END;
CREATE TRIGGER school_enrolments_sync_insert AFTER INSERT ON school_enrolments
WHEN NEW.course_id >= 1099511627776 AND EXISTS (SELECT 1 FROM core_node_self)
BEGIN
    INSERT INTO core_sync_outbox (kind, key) VALUES ('school_course', NEW.course_id);
END;
CREATE TRIGGER school_enrolments_sync_delete AFTER DELETE ON school_enrolments
WHEN OLD.course_id >= 1099511627776 AND EXISTS (SELECT 1 FROM core_node_self)
BEGIN
    INSERT INTO core_sync_outbox (kind, key) VALUES ('school_course', OLD.course_id);
END;
