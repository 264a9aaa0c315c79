-- Paired classrooms: a city class and one to three rural classes that meet
-- online, with a weekly timetable. A timetable entry may name a channel: the
-- next class's materials, which a node with an upstream pulls before the class.
CREATE TABLE school_pairings (
    id            INTEGER PRIMARY KEY,
    name          TEXT NOT NULL,
    city_class_id INTEGER NOT NULL REFERENCES school_classes(id),
    created_by    INTEGER,
    created_at    INTEGER NOT NULL
);

CREATE TABLE school_pairing_classes (
    pairing_id INTEGER NOT NULL REFERENCES school_pairings(id),
    class_id   INTEGER NOT NULL REFERENCES school_classes(id),
    PRIMARY KEY (pairing_id, class_id)
);

-- weekday 1 (Monday) … 7; start_min: minutes after midnight, China time.
CREATE TABLE school_timetable (
    id           INTEGER PRIMARY KEY,
    pairing_id   INTEGER NOT NULL REFERENCES school_pairings(id),
    weekday      INTEGER NOT NULL CHECK (weekday BETWEEN 1 AND 7),
    start_min    INTEGER NOT NULL CHECK (start_min BETWEEN 0 AND 1439),
    minutes      INTEGER NOT NULL CHECK (minutes BETWEEN 5 AND 240),
    subject      TEXT NOT NULL,
    channel_id   INTEGER
);
CREATE INDEX school_timetable_pairing ON school_timetable(pairing_id, weekday, start_min);
