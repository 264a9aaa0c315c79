-- Table names say their domain (issue 10): the farm's tables in the shared
-- application database are farm_*. SQLite carries indexes and the foreign keys
-- that point at these tables along with the rename.
ALTER TABLE device_profiles RENAME TO farm_device_profiles;
ALTER TABLE assets RENAME TO farm_assets;
ALTER TABLE devices RENAME TO farm_devices;
ALTER TABLE rpc_commands RENAME TO farm_rpc_commands;
ALTER TABLE integrations RENAME TO farm_integrations;
