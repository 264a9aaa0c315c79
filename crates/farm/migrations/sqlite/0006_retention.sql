-- Issue 13: how long a kind of device's telemetry is kept. NULL = forever.
-- retention_days: raw readings (whole chunks ending before the cut-off are dropped);
-- rollup_retention_days: hourly and daily aggregates (kept longer than raw data).
ALTER TABLE farm_device_profiles ADD COLUMN retention_days INTEGER;
ALTER TABLE farm_device_profiles ADD COLUMN rollup_retention_days INTEGER;
