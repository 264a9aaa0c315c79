-- Courses (teacher training, villagers' digital skills, students), their items
-- (lessons, quizzes, SCORM packages), classes and enrolment, and learning
-- statements (one UUID each; applied once however often they are sent).

CREATE TABLE school_classes (
    id         INTEGER PRIMARY KEY,
    name       TEXT NOT NULL,
    school     TEXT NOT NULL,
    village_id INTEGER,
    teacher_id INTEGER,
    created_at INTEGER NOT NULL
);

CREATE TABLE school_class_members (
    class_id INTEGER NOT NULL REFERENCES school_classes(id),
    user_id  INTEGER NOT NULL,
    PRIMARY KEY (class_id, user_id)
);

CREATE TABLE school_courses (
    id          INTEGER PRIMARY KEY,
    title       TEXT NOT NULL,
    audience    TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    village_id  INTEGER,
    created_by  INTEGER,
    created_at  INTEGER NOT NULL
);

-- kind: 'lesson' (body: text; sha256: an optional media file), 'quiz' (quiz:
-- JSON questions), 'scorm' (sha256/href: the unpacked package's launch file).
CREATE TABLE school_course_items (
    id        INTEGER PRIMARY KEY,
    course_id INTEGER NOT NULL REFERENCES school_courses(id),
    position  INTEGER NOT NULL,
    kind      TEXT NOT NULL,
    title     TEXT NOT NULL,
    body      TEXT NOT NULL DEFAULT '',
    sha256    TEXT,
    quiz      TEXT,
    package   TEXT
);
CREATE INDEX school_course_items_course ON school_course_items(course_id, position);

-- Enrolment of one person (user_id) or one class (class_id).
CREATE TABLE school_enrolments (
    course_id INTEGER NOT NULL REFERENCES school_courses(id),
    user_id   INTEGER,
    class_id  INTEGER,
    at        INTEGER NOT NULL,
    CHECK ((user_id IS NULL) <> (class_id IS NULL))
);
CREATE UNIQUE INDEX school_enrolments_one ON school_enrolments(course_id, coalesce(user_id, -1), coalesce(class_id, -1));

-- Learning statements. `uuid` makes a resend a no-op. `node` names where the
-- learner studied ('' here); `sent` is 1 once the upstream acknowledged it.
CREATE TABLE school_statements (
    uuid      TEXT PRIMARY KEY,
    node      TEXT NOT NULL DEFAULT '',
    actor     TEXT NOT NULL,
    user_id   INTEGER,
    course_id INTEGER,
    item_id   INTEGER,
    verb      TEXT NOT NULL,
    score     INTEGER,
    max_score INTEGER,
    detail    TEXT NOT NULL DEFAULT '',
    at        INTEGER NOT NULL,
    sent      INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX school_statements_course ON school_statements(course_id, user_id);
CREATE INDEX school_statements_unsent ON school_statements(sent) WHERE sent = 0;

-- The SCORM runtime's calls (LMSSetValue, LMSCommit, LMSFinish) as received.
CREATE TABLE school_scorm_calls (
    id        INTEGER PRIMARY KEY,
    user_id   INTEGER NOT NULL,
    item_id   INTEGER NOT NULL,
    call      TEXT NOT NULL,
    element   TEXT NOT NULL DEFAULT '',
    value     TEXT NOT NULL DEFAULT '',
    at        INTEGER NOT NULL
);
CREATE INDEX school_scorm_calls_item ON school_scorm_calls(item_id, user_id);
