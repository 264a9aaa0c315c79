-- Village node sync (docs/clinic.md "Village node"; docs/node.md). A node sends
-- up the clinic records it made: its patients, and each consult with its
-- observations, notes, prescriptions (their lines and dispensing) inside the
-- consult's record. Each change is put in core_sync_outbox in the transaction
-- that made it. Only rows in a node's id range (>= 2^40) are the node's: the
-- hub's patients that came down are not sent back. On a hub (no
-- core_node_self row) the triggers do nothing. Nodes run on SQLite only.
-- Photos stay on the node (docs/clinic.md).
-- @sqlite
CREATE TRIGGER clinic_patients_sync_insert AFTER INSERT ON clinic_patients
WHEN NEW.id >= 1099511627776 AND EXISTS (SELECT 1 FROM core_node_self)
BEGIN
    INSERT INTO core_sync_outbox (kind, key) VALUES ('clinic_patient', NEW.id);
END;
CREATE TRIGGER clinic_patients_sync_update AFTER UPDATE ON clinic_patients
WHEN NEW.id >= 1099511627776 AND EXISTS (SELECT 1 FROM core_node_self)
BEGIN
    INSERT INTO core_sync_outbox (kind, key) VALUES ('clinic_patient', NEW.id);
END;
CREATE TRIGGER clinic_consults_sync_insert AFTER INSERT ON clinic_consults
WHEN NEW.id >= 1099511627776 AND EXISTS (SELECT 1 FROM core_node_self)
BEGIN
    INSERT INTO core_sync_outbox (kind, key) VALUES ('clinic_consult', NEW.id);
END;
CREATE TRIGGER clinic_consults_sync_update AFTER UPDATE ON clinic_consults
WHEN NEW.id >= 1099511627776 AND EXISTS (SELECT 1 FROM core_node_self)
BEGIN
    INSERT INTO core_sync_outbox (kind, key) VALUES ('clinic_consult', NEW.id);
END;
CREATE TRIGGER clinic_observations_sync_insert AFTER INSERT ON clinic_observations
WHEN NEW.consult_id >= 1099511627776 AND EXISTS (SELECT 1 FROM core_node_self)
BEGIN
    INSERT INTO core_sync_outbox (kind, key) VALUES ('clinic_consult', NEW.consult_id);
END;
CREATE TRIGGER clinic_notes_sync_insert AFTER INSERT ON clinic_notes
WHEN NEW.consult_id >= 1099511627776 AND EXISTS (SELECT 1 FROM core_node_self)
BEGIN
    INSERT INTO core_sync_outbox (kind, key) VALUES ('clinic_consult', NEW.consult_id);
END;
CREATE TRIGGER clinic_prescriptions_sync_insert AFTER INSERT ON clinic_prescriptions
WHEN NEW.consult_id >= 1099511627776 AND EXISTS (SELECT 1 FROM core_node_self)
BEGIN
    INSERT INTO core_sync_outbox (kind, key) VALUES ('clinic_consult', NEW.consult_id);
END;
CREATE TRIGGER clinic_prescriptions_sync_update AFTER UPDATE ON clinic_prescriptions
WHEN NEW.consult_id >= 1099511627776 AND EXISTS (SELECT 1 FROM core_node_self)
BEGIN
    INSERT INTO core_sync_outbox (kind, key) VALUES ('clinic_consult', NEW.consult_id);
END;
CREATE TRIGGER clinic_prescription_lines_sync_insert AFTER INSERT ON clinic_prescription_lines
WHEN EXISTS (SELECT 1 FROM core_node_self)
BEGIN
    INSERT INTO core_sync_outbox (kind, key)
    SELECT 'clinic_consult', consult_id FROM clinic_prescriptions
    WHERE id = NEW.prescription_id AND consult_id >= 1099511627776;
END;
CREATE TRIGGER clinic_dispenses_sync_insert AFTER INSERT ON clinic_dispenses
WHEN EXISTS (SELECT 1 FROM core_node_self)
BEGIN
    INSERT INTO core_sync_outbox (kind, key)
    SELECT 'clinic_consult', consult_id FROM clinic_prescriptions
    WHERE id = NEW.prescription_id AND consult_id >= 1099511627776;
END;
