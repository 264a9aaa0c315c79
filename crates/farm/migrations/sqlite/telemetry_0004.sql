-- Village node (docs/node.md): readings committed here that the hub has not
-- acknowledged yet. The writer adds each batch's log record in the same
-- transaction (only on a node); the sync deletes rows the hub acknowledged.
-- Nodes run on SQLite only. AUTOINCREMENT: ids never come back after the
-- acknowledged rows are deleted, so "rows after the last one sent" stays true.
-- @sqlite
CREATE TABLE uplink (
    id   INTEGER PRIMARY KEY AUTOINCREMENT,
    n    INTEGER NOT NULL,
    body BLOB NOT NULL
);
