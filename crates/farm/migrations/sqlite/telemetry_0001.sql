-- telemetry.db: a file of its own so ingest never waits on the application database.
-- Readings arrive in `log` (one row per group commit, append-only, no per-series
-- index: that is what keeps ingest fast) and are sealed into compressed per-series
-- `chunks`. A series' points in log rows >= series.replay_from are not sealed yet
-- and are rebuilt into memory at start.
CREATE TABLE keys (
    id   INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE
);

CREATE TABLE series (
    id          INTEGER PRIMARY KEY,
    device      INTEGER NOT NULL,
    key         INTEGER NOT NULL,
    replay_from INTEGER NOT NULL DEFAULT 0,
    UNIQUE (device, key)
);

CREATE TABLE log (
    id   INTEGER PRIMARY KEY,
    body BLOB NOT NULL
);

CREATE TABLE chunks (
    id     INTEGER PRIMARY KEY,
    series INTEGER NOT NULL,
    t0     INTEGER NOT NULL,
    t1     INTEGER NOT NULL,
    n      INTEGER NOT NULL,
    data   BLOB NOT NULL
);
CREATE INDEX chunks_by_series ON chunks (series, t1);

-- Latest value per (device, key), checkpointed whenever old log rows are dropped.
CREATE TABLE latest (
    device INTEGER NOT NULL,
    key    INTEGER NOT NULL,
    ts     INTEGER NOT NULL,
    value  BLOB NOT NULL,
    PRIMARY KEY (device, key)
) WITHOUT ROWID;

-- Client attributes (firmware version, battery type…): latest value only.
CREATE TABLE attributes (
    device INTEGER NOT NULL,
    key    TEXT NOT NULL,
    ts     INTEGER NOT NULL,
    value  BLOB NOT NULL,
    PRIMARY KEY (device, key)
) WITHOUT ROWID;
