-- The clinic's first table, so the domain's migrations have a start; the clinic
-- issue adds its records after it.
CREATE TABLE clinic_meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
