-- Farm domain in cunlink.db: assets (where things grow or live), device profiles
-- (what a kind of device reports) and devices (what sends readings).
CREATE TABLE device_profiles (
    id                   INTEGER PRIMARY KEY,
    name                 TEXT NOT NULL UNIQUE,
    description          TEXT NOT NULL DEFAULT '',
    -- JSON array of {"key","unit","label"}: the keys a device of this kind reports.
    keys                 TEXT NOT NULL DEFAULT '[]',
    reporting_interval_s INTEGER NOT NULL DEFAULT 60,
    -- Ear tags measure skin temperature; a probe in the body measures core temperature.
    measures_core_temp   INTEGER NOT NULL DEFAULT 0
);

INSERT INTO device_profiles (name, description, keys, reporting_interval_s) VALUES
  ('default', 'Any device', '[]', 60),
  ('gateway', 'Gateway forwarding other devices (ear-tag readers, LoRa gateways)', '[]', 60),
  ('air-probe', 'Air temperature and humidity probe',
   '[{"key":"temperature","unit":"°C","label":"气温"},{"key":"humidity","unit":"%","label":"空气湿度"}]', 60),
  ('soil-probe', 'Soil moisture and temperature probe',
   '[{"key":"soil_moisture","unit":"%","label":"土壤湿度"},{"key":"soil_temperature","unit":"°C","label":"土壤温度"}]', 300),
  ('ear-tag', 'Livestock ear tag (skin temperature, activity)',
   '[{"key":"temperature","unit":"°C","label":"耳温"},{"key":"activity","unit":"steps","label":"活动量"},{"key":"battery","unit":"%","label":"电量"}]', 60);

CREATE TABLE assets (
    id         INTEGER PRIMARY KEY,
    name       TEXT NOT NULL UNIQUE,
    -- field | greenhouse | barn | pen | animal | other
    kind       TEXT NOT NULL,
    -- A village of the core accounts schema; kept as a plain id (no cross-domain join).
    village_id INTEGER,
    parent_id  INTEGER REFERENCES assets(id),
    ear_tag    TEXT,
    created_at INTEGER NOT NULL
);

CREATE TABLE devices (
    id         INTEGER PRIMARY KEY,
    name       TEXT NOT NULL UNIQUE,
    profile_id INTEGER NOT NULL REFERENCES device_profiles(id),
    asset_id   INTEGER REFERENCES assets(id),
    gateway_id INTEGER REFERENCES devices(id),
    is_gateway INTEGER NOT NULL DEFAULT 0,
    token      TEXT NOT NULL UNIQUE,
    dev_eui    TEXT UNIQUE,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX devices_by_update ON devices (updated_at);
