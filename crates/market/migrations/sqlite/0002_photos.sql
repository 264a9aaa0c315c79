-- Product photos; the files live under <data_dir>/photos by content hash.
CREATE TABLE market_product_photos (
    id         INTEGER PRIMARY KEY,
    product_id INTEGER NOT NULL REFERENCES market_products(id),
    hash       TEXT NOT NULL,
    width      INTEGER NOT NULL,
    height     INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    UNIQUE (product_id, hash)
);
