-- The school's first table, so the domain's migrations have a start; the school
-- issue adds its records after it.
CREATE TABLE school_meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
