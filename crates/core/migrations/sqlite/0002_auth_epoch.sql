-- A counter bumped by every change that can take a credential away (a user
-- disabled or changed, a token revoked, a session ended), whichever process
-- makes it. The server's credential cache trusts an entry only while the
-- counter still has the value it had when the entry was read, so a change made
-- by the CLI in another process is seen by the next request.
CREATE TABLE auth_epoch (
    id    INTEGER PRIMARY KEY CHECK (id = 1),
    value INTEGER NOT NULL
);
INSERT INTO auth_epoch (id, value) VALUES (1, 0);

-- PostgreSQL keeps no credential cache (see core's auth/epoch.rs), so only
-- SQLite bumps the counter.
-- @sqlite
CREATE TRIGGER auth_epoch_user_changed AFTER UPDATE OF disabled, role, village_id, username ON users
BEGIN UPDATE auth_epoch SET value = value + 1 WHERE id = 1; END;
CREATE TRIGGER auth_epoch_user_deleted AFTER DELETE ON users
BEGIN UPDATE auth_epoch SET value = value + 1 WHERE id = 1; END;
CREATE TRIGGER auth_epoch_token_revoked AFTER UPDATE OF revoked ON api_tokens
BEGIN UPDATE auth_epoch SET value = value + 1 WHERE id = 1; END;
CREATE TRIGGER auth_epoch_token_deleted AFTER DELETE ON api_tokens
BEGIN UPDATE auth_epoch SET value = value + 1 WHERE id = 1; END;
CREATE TRIGGER auth_epoch_session_deleted AFTER DELETE ON sessions
BEGIN UPDATE auth_epoch SET value = value + 1 WHERE id = 1; END;
