-- Village node sync (docs/node.md). A node is one village's installation that
-- works offline and syncs with the county hub; these tables are empty on an
-- installation that is neither.

-- On a node: who it is, given by `cunlink node join`. One row at most.
CREATE TABLE core_node_self (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    node_id    TEXT NOT NULL,
    -- The node's number on its hub: its rows' ids start at number * 2^40.
    number     INTEGER NOT NULL,
    hub        TEXT NOT NULL,
    credential TEXT NOT NULL,
    village_id INTEGER NOT NULL,
    village    TEXT NOT NULL,
    joined_at  INTEGER NOT NULL
);

-- On a node: records changed since the hub acknowledged them, written by
-- triggers in the owning domain's migrations in the transaction of the change.
-- `batch` is set when the row is put in a batch, so that a batch resent after a
-- crash holds exactly the rows it held the first time. The id is the record's
-- version on the hub, so it must only grow: AUTOINCREMENT never hands out an id
-- again after the acknowledged rows are deleted (nodes are SQLite only).
CREATE TABLE core_sync_outbox (
    id    INTEGER PRIMARY KEY AUTOINCREMENT,
    kind  TEXT NOT NULL,
    key   TEXT NOT NULL,
    batch INTEGER
);
CREATE INDEX core_sync_outbox_batch ON core_sync_outbox (batch, id);

-- On a node: cursors and counters of the streams (name → value).
CREATE TABLE core_sync_state (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

-- On the hub: the nodes that joined. `id` is the node's number.
CREATE TABLE core_sync_nodes (
    id              INTEGER PRIMARY KEY,
    node_id         TEXT NOT NULL UNIQUE,
    village_id      INTEGER NOT NULL,
    credential_hash TEXT NOT NULL UNIQUE,
    created_by      INTEGER,
    created_at      INTEGER NOT NULL,
    revoked_at      INTEGER,
    last_seen_at    INTEGER,
    -- Last batch applied, per stream: a resent batch is acknowledged again
    -- without being applied twice.
    records_batch   INTEGER NOT NULL DEFAULT 0,
    readings_batch  INTEGER NOT NULL DEFAULT 0
);

-- On the hub: the version (the node's outbox counter) of each record last
-- applied, per node; an older one is skipped. Per node: some keys (a variant's
-- allocation) are the same on every node, and each node counts on its own.
CREATE TABLE core_sync_applied (
    node    INTEGER NOT NULL,
    kind    TEXT NOT NULL,
    key     TEXT NOT NULL,
    version INTEGER NOT NULL,
    PRIMARY KEY (node, kind, key)
) WITHOUT ROWID;

-- Both sides: records the receiver could not apply, and why. They never block
-- the stream; an operator reads them at /api/node/dead-letters (node) or
-- /api/nodes/{id}/dead-letters (hub).
CREATE TABLE core_sync_dead_letters (
    id     INTEGER PRIMARY KEY,
    node   TEXT NOT NULL,
    stream TEXT NOT NULL,
    kind   TEXT NOT NULL,
    key    TEXT NOT NULL,
    reason TEXT NOT NULL,
    body   TEXT NOT NULL,
    at     INTEGER NOT NULL
);
CREATE INDEX core_sync_dead_letters_node ON core_sync_dead_letters (node, id);
