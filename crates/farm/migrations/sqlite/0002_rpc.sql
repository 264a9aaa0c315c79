-- Device commands (ThingsBoard server-side RPC) and what became of them.
CREATE TABLE rpc_commands (
    id          INTEGER PRIMARY KEY,
    device_id   INTEGER NOT NULL REFERENCES devices(id),
    method      TEXT NOT NULL,
    params      TEXT NOT NULL,
    oneway      INTEGER NOT NULL DEFAULT 0,
    -- queued | sent | delivered | replied | timed_out
    state       TEXT NOT NULL,
    response    TEXT,
    -- who asked: "user:NAME" or "rule:ID"
    origin      TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL
);
CREATE INDEX rpc_by_device ON rpc_commands (device_id, id);
CREATE INDEX rpc_pending ON rpc_commands (expires_at) WHERE state IN ('queued', 'sent', 'delivered');
