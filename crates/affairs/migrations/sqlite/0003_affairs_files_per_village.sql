-- Files were keyed by hash alone, so the second village to upload the same
-- bytes got no row of its own: its residents were refused their own photo
-- while the first village's residents could read it. Each village now keeps
-- its own copy, keyed (village_id, hash).
CREATE TABLE affairs_files_new (
    village_id   INTEGER NOT NULL,
    hash         TEXT NOT NULL,
    content_type TEXT NOT NULL,
    bytes        BLOB NOT NULL,
    created_at   INTEGER NOT NULL,
    PRIMARY KEY (village_id, hash)
);
INSERT INTO affairs_files_new (village_id, hash, content_type, bytes, created_at)
    SELECT village_id, hash, content_type, bytes, created_at FROM affairs_files;
DROP TABLE affairs_files;
ALTER TABLE affairs_files_new RENAME TO affairs_files;
