-- Dead letters used to keep the first KB of the receiver's answer, which users
-- read back from /api/notifications/dead: a way to read pages off the server's
-- own network. Keep only the status (and drop addresses from connect errors).
-- Data written before PostgreSQL was possible: SQLite only.
-- @sqlite
UPDATE outbox SET last_error = substr(last_error, 1, instr(last_error, ':') - 1)
 WHERE last_error LIKE 'HTTP %:%';
UPDATE outbox SET last_error = 'connection failed' WHERE last_error LIKE 'connecting to %';
