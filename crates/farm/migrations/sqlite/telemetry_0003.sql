-- Several writers (nodes) on one PostgreSQL store (issue 14). SQLite keeps one
-- writer per file (telemetry.db.lock) and needs none of this.
-- @postgres
-- Whose log row: each node truncates and replays its own rows only.
ALTER TABLE log ADD COLUMN writer TEXT NOT NULL DEFAULT '';
CREATE INDEX log_by_writer ON log (writer, id);
-- Replay point per (writer, series): two nodes buffer points of one series.
CREATE TABLE series_replay (
    writer      TEXT NOT NULL,
    series      INTEGER NOT NULL,
    replay_from INTEGER NOT NULL,
    PRIMARY KEY (writer, series)
);
-- Chunks and log bodies are already compressed: no TOAST compression on top.
ALTER TABLE chunks ALTER COLUMN data SET STORAGE EXTERNAL;
ALTER TABLE log ALTER COLUMN body SET STORAGE EXTERNAL;
-- @both
