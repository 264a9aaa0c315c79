-- Alert domain in cunlink.db: rules (data, edited by users), alarms with their
-- history, and the notification outbox that survives restarts.
CREATE TABLE rules (
    id          INTEGER PRIMARY KEY,
    name        TEXT NOT NULL,
    -- NULL: every village (only county-wide roles create these).
    village_id  INTEGER,
    severity    TEXT NOT NULL,
    -- JSON: {"device"|"asset"|"profile"|"asset_kind": NAME}
    target      TEXT NOT NULL,
    -- JSON: the condition, see alert::rule::Condition.
    condition   TEXT NOT NULL,
    -- JSON or NULL: {"rpc": {"method", "params"}}
    action      TEXT,
    -- JSON or NULL: {"after_s", "to": [usernames]}
    escalate    TEXT,
    auto_clear  INTEGER NOT NULL DEFAULT 1,
    enabled     INTEGER NOT NULL DEFAULT 1,
    -- Shipped with cunlink (the herd-fever default); editable, not deletable.
    builtin     INTEGER NOT NULL DEFAULT 0,
    created_by  INTEGER,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    -- Deleted rules stay so that their alarms keep a history.
    deleted_at  INTEGER
);

-- Every ear tag gets herd-fever detection without anyone writing a rule.
INSERT INTO rules (name, village_id, severity, target, condition, builtin, created_at, updated_at)
VALUES ('母猪发热预警 / sow fever', NULL, 'critical', '{"profile":"ear-tag"}',
        '{"type":"herd_fever"}', 1, 0, 0);

CREATE TABLE alarms (
    id              INTEGER PRIMARY KEY,
    rule_id         INTEGER NOT NULL REFERENCES rules(id),
    rule_name       TEXT NOT NULL,
    device_id       INTEGER NOT NULL,
    device_name     TEXT NOT NULL,
    village_id      INTEGER,
    asset_id        INTEGER,
    severity        TEXT NOT NULL,
    -- Event time when the condition started to hold; with (rule, device) it
    -- identifies an episode, so re-evaluating history after a restart cannot
    -- raise the same alarm twice.
    condition_since INTEGER NOT NULL,
    started_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    acked_at        INTEGER,
    acked_by        TEXT,
    cleared_at      INTEGER,
    cleared_by      TEXT,
    assignee        TEXT,
    -- Repeat triggers folded into this alarm.
    count           INTEGER NOT NULL DEFAULT 1,
    -- JSON: the values that triggered it.
    details         TEXT NOT NULL DEFAULT '{}',
    escalate_at     INTEGER,
    escalated_at    INTEGER
);
CREATE INDEX alarms_open ON alarms (rule_id, device_id) WHERE cleared_at IS NULL;
CREATE INDEX alarms_episode ON alarms (rule_id, device_id, condition_since);
CREATE INDEX alarms_by_start ON alarms (started_at);
CREATE INDEX alarms_escalation ON alarms (escalate_at) WHERE escalate_at IS NOT NULL AND escalated_at IS NULL;

CREATE TABLE alarm_comments (
    id        INTEGER PRIMARY KEY,
    alarm_id  INTEGER NOT NULL REFERENCES alarms(id),
    at        INTEGER NOT NULL,
    author    TEXT NOT NULL,
    text      TEXT NOT NULL
);
CREATE INDEX alarm_comments_by_alarm ON alarm_comments (alarm_id);

-- What each user wants to hear about. No row: the defaults of notify::prefs.
CREATE TABLE notify_prefs (
    user_id       INTEGER PRIMARY KEY,
    min_severity  TEXT NOT NULL DEFAULT 'warning',
    -- JSON array of asset names; empty: all assets the user can see.
    assets        TEXT NOT NULL DEFAULT '[]',
    push          INTEGER NOT NULL DEFAULT 1,
    webhook       INTEGER NOT NULL DEFAULT 1,
    -- Minutes after local midnight; quiet hours hold back all but critical alarms.
    quiet_start   INTEGER,
    quiet_end     INTEGER,
    utc_offset_min INTEGER NOT NULL DEFAULT 480
);

CREATE TABLE push_subscriptions (
    id         INTEGER PRIMARY KEY,
    user_id    INTEGER NOT NULL,
    endpoint   TEXT NOT NULL UNIQUE,
    p256dh     TEXT NOT NULL,
    auth       TEXT NOT NULL,
    created_at INTEGER NOT NULL
);

CREATE TABLE webhooks (
    id         INTEGER PRIMARY KEY,
    user_id    INTEGER NOT NULL,
    url        TEXT NOT NULL,
    created_at INTEGER NOT NULL
);

-- A delivery waits here until it is sent or given up (dead letter).
CREATE TABLE outbox (
    id          INTEGER PRIMARY KEY,
    alarm_id    INTEGER NOT NULL,
    user_id     INTEGER NOT NULL,
    -- push | webhook
    channel     TEXT NOT NULL,
    target_id   INTEGER NOT NULL,
    -- escalation deliveries say so in the payload
    payload     TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    next_at     INTEGER NOT NULL,
    attempts    INTEGER NOT NULL DEFAULT 0,
    -- pending | sent | dead
    status      TEXT NOT NULL DEFAULT 'pending',
    sent_at     INTEGER,
    last_error  TEXT
);
CREATE INDEX outbox_due ON outbox (next_at) WHERE status = 'pending';

-- The server's VAPID key pair (P-256), made on first start.
CREATE TABLE vapid_key (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    private_key BLOB NOT NULL,
    created_at  INTEGER NOT NULL
);
