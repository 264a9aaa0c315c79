-- Rollups, compaction and retention (issue 13).
-- `rolled` = 1 once a chunk's points are in `rollups` (every chunk sealed from now
-- on; older chunks are rolled up by the background maintenance pass; 2 = a chunk
-- that does not decode). Queries use rollups only where no chunk of the range has
-- rolled = 0.
-- `fmt` = the chunk format version of `data`: the writer seals in 1, compaction
-- (maintenance) merges and rewrites in 2 (pco).
ALTER TABLE chunks ADD COLUMN rolled INTEGER NOT NULL DEFAULT 0;
ALTER TABLE chunks ADD COLUMN fmt INTEGER NOT NULL DEFAULT 1;
CREATE INDEX chunks_todo ON chunks (series) WHERE rolled = 0 OR fmt < 2;
-- Aggregate queries ask "is any chunk of this series not rolled up?": small index.
CREATE INDEX chunks_unrolled ON chunks (series, t1) WHERE rolled = 0;

-- Per-series aggregates of hours (res = 3600000) and UTC days (res = 86400000):
-- n counts every value, num_n the numeric ones (booleans as 0/1) that sum, min and
-- max are over. Kept when raw chunks are dropped by retention.
CREATE TABLE rollups (
    series INTEGER NOT NULL,
    res    INTEGER NOT NULL,
    bucket INTEGER NOT NULL,
    n      INTEGER NOT NULL,
    num_n  INTEGER NOT NULL,
    sum    REAL,
    min    REAL,
    max    REAL,
    PRIMARY KEY (series, res, bucket)
) WITHOUT ROWID;
