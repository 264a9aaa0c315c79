-- The clinic's records (issue 11). Users and villages are core's: their ids are
-- kept here without foreign keys, resolved through core's lookup functions.

-- County departments (内科, 外科, …), created by admins or by
-- `cunlink user create --role doctor --department NAME`.
CREATE TABLE clinic_departments (
    id         INTEGER PRIMARY KEY,
    name       TEXT NOT NULL UNIQUE,
    created_at INTEGER NOT NULL
);

-- County doctors: a doctor account with a department (and no village).
CREATE TABLE clinic_doctors (
    user_id       INTEGER PRIMARY KEY,
    department_id INTEGER NOT NULL REFERENCES clinic_departments(id)
);
CREATE INDEX clinic_doctors_department ON clinic_doctors(department_id);

CREATE TABLE clinic_patients (
    id         INTEGER PRIMARY KEY,
    name       TEXT NOT NULL,
    sex        TEXT NOT NULL CHECK (sex IN ('male', 'female', 'other', 'unknown')),
    birth_date TEXT NOT NULL,
    village_id INTEGER NOT NULL,
    phone      TEXT,
    -- The patient's own account, if they have one.
    user_id    INTEGER,
    created_by INTEGER NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX clinic_patients_village ON clinic_patients(village_id, id);
CREATE INDEX clinic_patients_user ON clinic_patients(user_id) WHERE user_id IS NOT NULL;

-- Time slots a county doctor publishes; a booked slot names its consult.
CREATE TABLE clinic_slots (
    id            INTEGER PRIMARY KEY,
    doctor_id     INTEGER NOT NULL,
    department_id INTEGER NOT NULL REFERENCES clinic_departments(id),
    starts_at     INTEGER NOT NULL,
    minutes       INTEGER NOT NULL CHECK (minutes BETWEEN 5 AND 240),
    consult_id    INTEGER UNIQUE,
    created_at    INTEGER NOT NULL,
    UNIQUE (doctor_id, starts_at)
);
CREATE INDEX clinic_slots_department ON clinic_slots(department_id, starts_at);

-- waiting → accepted | scheduled → in_call → closed; or cancelled.
CREATE TABLE clinic_consults (
    id                INTEGER PRIMARY KEY,
    patient_id        INTEGER NOT NULL REFERENCES clinic_patients(id),
    department_id     INTEGER NOT NULL REFERENCES clinic_departments(id),
    village_doctor_id INTEGER NOT NULL,
    county_doctor_id  INTEGER,
    status            TEXT NOT NULL CHECK (status IN
                        ('waiting', 'accepted', 'scheduled', 'in_call', 'closed', 'cancelled')),
    complaint         TEXT NOT NULL,
    slot_id           INTEGER REFERENCES clinic_slots(id),
    -- Set once a call started: the FHIR Encounter's class is VR, else AMB.
    video             INTEGER NOT NULL DEFAULT 0,
    created_at        INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL,
    closed_at         INTEGER
);
CREATE INDEX clinic_consults_queue ON clinic_consults(department_id, status, id);
CREATE INDEX clinic_consults_patient ON clinic_consults(patient_id, id);
CREATE INDEX clinic_consults_county_doctor ON clinic_consults(county_doctor_id, patient_id);

-- Vital signs accepted into a consult (typed in, or offered from a `vitals` device).
CREATE TABLE clinic_observations (
    id          INTEGER PRIMARY KEY,
    consult_id  INTEGER NOT NULL REFERENCES clinic_consults(id),
    key         TEXT NOT NULL,
    value       REAL NOT NULL,
    device      TEXT,
    observed_at INTEGER NOT NULL
);
CREATE INDEX clinic_observations_consult ON clinic_observations(consult_id);

-- Photos of a consult, re-encoded as small JPEGs (private: kept in the database,
-- served only through the record's access check).
CREATE TABLE clinic_photos (
    id         INTEGER PRIMARY KEY,
    consult_id INTEGER NOT NULL REFERENCES clinic_consults(id),
    width      INTEGER NOT NULL,
    height     INTEGER NOT NULL,
    jpeg       BLOB NOT NULL,
    created_by INTEGER NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX clinic_photos_consult ON clinic_photos(consult_id);

-- SOAP notes.
CREATE TABLE clinic_notes (
    id         INTEGER PRIMARY KEY,
    consult_id INTEGER NOT NULL REFERENCES clinic_consults(id),
    author_id  INTEGER NOT NULL,
    subjective TEXT NOT NULL,
    objective  TEXT NOT NULL,
    assessment TEXT NOT NULL,
    plan       TEXT NOT NULL,
    diagnosis  TEXT NOT NULL,
    icd10      TEXT,
    created_at INTEGER NOT NULL
);
CREATE INDEX clinic_notes_consult ON clinic_notes(consult_id);

-- Prescriptions; a revision is a new row naming the one it supersedes.
CREATE TABLE clinic_prescriptions (
    id            INTEGER PRIMARY KEY,
    consult_id    INTEGER NOT NULL REFERENCES clinic_consults(id),
    prescriber_id INTEGER NOT NULL,
    version       INTEGER NOT NULL,
    previous_id   INTEGER UNIQUE REFERENCES clinic_prescriptions(id),
    superseded    INTEGER NOT NULL DEFAULT 0,
    created_at    INTEGER NOT NULL
);
CREATE INDEX clinic_prescriptions_consult ON clinic_prescriptions(consult_id);

CREATE TABLE clinic_prescription_lines (
    id              INTEGER PRIMARY KEY,
    prescription_id INTEGER NOT NULL REFERENCES clinic_prescriptions(id),
    drug            TEXT NOT NULL,
    dose            TEXT NOT NULL,
    route           TEXT NOT NULL,
    frequency       TEXT NOT NULL,
    days            INTEGER NOT NULL CHECK (days > 0),
    quantity        INTEGER NOT NULL CHECK (quantity > 0)
);
CREATE INDEX clinic_prescription_lines_rx ON clinic_prescription_lines(prescription_id);

-- Handing out a prescription at the village clinic: once.
CREATE TABLE clinic_dispenses (
    prescription_id INTEGER PRIMARY KEY REFERENCES clinic_prescriptions(id),
    by_user         INTEGER NOT NULL,
    at              INTEGER NOT NULL
);

-- Every read of a patient's record: who, what, when, and the consult it was for.
CREATE TABLE clinic_access_log (
    id         INTEGER PRIMARY KEY,
    patient_id INTEGER NOT NULL,
    user_id    INTEGER NOT NULL,
    action     TEXT NOT NULL,
    consult_id INTEGER,
    at         INTEGER NOT NULL
);
CREATE INDEX clinic_access_log_patient ON clinic_access_log(patient_id, id);
