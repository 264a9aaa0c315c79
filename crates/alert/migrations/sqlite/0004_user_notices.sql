-- Notices from other domains (the NotifyUsers port, see notify/users.rs): an
-- in-app feed per user, and outbox deliveries that belong to a feed entry
-- rather than an alarm. The outbox is rebuilt because SQLite cannot drop the
-- NOT NULL of alarm_id in place; exactly one of alarm_id and feed_id is set.
CREATE TABLE alert_feed (
    id          INTEGER PRIMARY KEY,
    user_id     INTEGER NOT NULL,
    -- The sending domain: "affairs", "clinic", …
    source      TEXT NOT NULL,
    title       TEXT NOT NULL,
    body        TEXT NOT NULL,
    -- Where a tap leads: a path on this server.
    url         TEXT NOT NULL,
    urgent      INTEGER NOT NULL DEFAULT 0,
    created_at  INTEGER NOT NULL,
    read_at     INTEGER
);
CREATE INDEX alert_feed_by_user ON alert_feed (user_id, id);

CREATE TABLE alert_outbox_new (
    id          INTEGER PRIMARY KEY,
    alarm_id    INTEGER,
    feed_id     INTEGER,
    user_id     INTEGER NOT NULL,
    channel     TEXT NOT NULL,
    target_id   INTEGER NOT NULL,
    payload     TEXT NOT NULL,
    -- Sent with Web Push's "Urgency: high".
    urgent      INTEGER NOT NULL DEFAULT 0,
    created_at  INTEGER NOT NULL,
    next_at     INTEGER NOT NULL,
    attempts    INTEGER NOT NULL DEFAULT 0,
    status      TEXT NOT NULL DEFAULT 'pending',
    sent_at     INTEGER,
    last_error  TEXT,
    CHECK ((alarm_id IS NULL) <> (feed_id IS NULL))
);
-- Rows written before PostgreSQL was possible: SQLite only.
-- @sqlite
INSERT INTO alert_outbox_new (id, alarm_id, user_id, channel, target_id, payload, urgent,
                              created_at, next_at, attempts, status, sent_at, last_error)
SELECT id, alarm_id, user_id, channel, target_id, payload,
       payload LIKE '%"severity":"critical"%',
       created_at, next_at, attempts, status, sent_at, last_error
  FROM alert_outbox;
-- @both
DROP TABLE alert_outbox;
ALTER TABLE alert_outbox_new RENAME TO alert_outbox;
CREATE INDEX alert_outbox_due ON alert_outbox (next_at) WHERE status = 'pending';
