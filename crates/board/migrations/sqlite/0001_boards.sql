-- Display boards: a TV page and a text feed, reached by an unguessable slug.
CREATE TABLE boards (
    id          INTEGER PRIMARY KEY,
    slug        TEXT NOT NULL UNIQUE,
    name        TEXT NOT NULL,
    -- JSON array of farm asset ids shown, in order (ids, not a join: farm owns assets).
    assets      TEXT NOT NULL,
    -- JSON array of telemetry keys shown; empty shows every key but battery.
    keys        TEXT NOT NULL DEFAULT '[]',
    rotate_secs INTEGER NOT NULL DEFAULT 10,
    line_width  INTEGER NOT NULL DEFAULT 32,
    line_count  INTEGER NOT NULL DEFAULT 4,
    created_at  INTEGER NOT NULL
);
