-- Lesson channels (a school's or the county's library), their files, the
-- content files present on this node, and pulls from an upstream hub.

-- A channel. `origin_url`/`origin_id` are set on a copy pulled from an
-- upstream: the pair names the channel there, so a second pull updates it.
CREATE TABLE school_channels (
    id          INTEGER PRIMARY KEY,
    name        TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    village_id  INTEGER,
    created_by  INTEGER,
    version     INTEGER NOT NULL DEFAULT 0,
    origin_url  TEXT,
    origin_id   INTEGER,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);
CREATE UNIQUE INDEX school_channels_origin ON school_channels(origin_url, origin_id)
    WHERE origin_url IS NOT NULL;

-- The channel's working file list (what `GET /api/school/channels/{id}` shows).
-- `topic` groups lessons; `kind` says how the player shows the file.
CREATE TABLE school_channel_files (
    channel_id INTEGER NOT NULL REFERENCES school_channels(id),
    name       TEXT NOT NULL,
    sha256     TEXT NOT NULL,
    size       INTEGER NOT NULL,
    topic      TEXT NOT NULL DEFAULT '',
    kind       TEXT NOT NULL DEFAULT 'file',
    PRIMARY KEY (channel_id, name)
);
CREATE INDEX school_channel_files_sha ON school_channel_files(sha256);

-- Published versions: the file list frozen at publish, as JSON; what pulls copy.
CREATE TABLE school_channel_versions (
    channel_id   INTEGER NOT NULL REFERENCES school_channels(id),
    version      INTEGER NOT NULL,
    manifest     TEXT NOT NULL,
    published_at INTEGER NOT NULL,
    PRIMARY KEY (channel_id, version)
);

-- Content files present on disk (`school/content/ab/<sha256>`), with the
-- SHA-256 of each 1 MiB chunk (hex, concatenated) for resumable pulls.
CREATE TABLE school_blobs (
    sha256     TEXT PRIMARY KEY,
    size       INTEGER NOT NULL,
    chunks     TEXT NOT NULL,
    created_at INTEGER NOT NULL
);

-- Pulls from an upstream: progress for the pull-status page.
CREATE TABLE school_pulls (
    id           INTEGER PRIMARY KEY,
    origin_url   TEXT NOT NULL,
    origin_id    INTEGER NOT NULL,
    channel_id   INTEGER,
    state        TEXT NOT NULL,
    files_total  INTEGER NOT NULL DEFAULT 0,
    files_done   INTEGER NOT NULL DEFAULT 0,
    bytes_total  INTEGER NOT NULL DEFAULT 0,
    bytes_done   INTEGER NOT NULL DEFAULT 0,
    fetched      INTEGER NOT NULL DEFAULT 0,
    rate_bps     INTEGER NOT NULL DEFAULT 0,
    message      TEXT NOT NULL DEFAULT '',
    started_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL
);
