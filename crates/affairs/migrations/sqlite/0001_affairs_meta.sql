-- Village affairs' first table, so the domain's migrations have a start; the affairs
-- issue adds its records after it.
CREATE TABLE affairs_meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
