-- Integration tokens: what a network server (ChirpStack's HTTP integration) sends
-- as `Authorization: Bearer TOKEN`. Only the SHA-256 of a token is kept, as for
-- users' API tokens; the token itself is shown once, when it is created.
CREATE TABLE integrations (
    id         INTEGER PRIMARY KEY,
    name       TEXT NOT NULL UNIQUE,
    token_hash TEXT NOT NULL UNIQUE,
    created_at INTEGER NOT NULL,
    revoked_at INTEGER
);
