-- A device's own village. Until now a device's village was its asset's, so a
-- device without an asset belonged to no village ("county-level") by accident.
-- Now every device is placed in a village when it is created, unless an admin or
-- county staff member makes it county-level on purpose (village_id NULL).
ALTER TABLE devices ADD COLUMN village_id INTEGER;
UPDATE devices SET village_id = (SELECT a.village_id FROM assets a WHERE a.id = devices.asset_id);
CREATE INDEX assets_by_village ON assets (village_id);
