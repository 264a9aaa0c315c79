-- Several nodes over one PostgreSQL (docs/scale.md): leases give one node at a
-- time a piece of work (a background job, one village's alert rules). On
-- SQLite there is one node and it always holds them.
CREATE TABLE core_leases (
    name        TEXT PRIMARY KEY,
    holder      TEXT NOT NULL,
    -- Milliseconds since the epoch, by the database's clock where it matters.
    expires_at  INTEGER NOT NULL,
    -- Bumped each time the lease changes hands: a new holder knows it took over.
    epoch       INTEGER NOT NULL DEFAULT 1
);

-- Nodes alive now: each renews its row; work is spread over those seen lately.
CREATE TABLE core_nodes (
    node        TEXT PRIMARY KEY,
    started_at  INTEGER NOT NULL,
    seen_at     INTEGER NOT NULL
);
