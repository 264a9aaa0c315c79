-- Village affairs (issue 16): notices with read receipts, groups, the open
-- ledger with approvals and published months, feedback, votes, and the files
-- (photos, loudspeaker audio) they carry. Every row names its village.

-- Photos and recordings, stored once by content hash.
CREATE TABLE affairs_files (
    hash         TEXT PRIMARY KEY,
    village_id   INTEGER NOT NULL,
    content_type TEXT NOT NULL,
    bytes        BLOB NOT NULL,
    created_at   INTEGER NOT NULL
);

-- A named set of residents a notice can be sent to (pig farmers, parents).
CREATE TABLE affairs_groups (
    id         INTEGER PRIMARY KEY,
    village_id INTEGER NOT NULL,
    name       TEXT NOT NULL,
    UNIQUE (village_id, name)
);
CREATE TABLE affairs_group_members (
    group_id INTEGER NOT NULL REFERENCES affairs_groups(id),
    user_id  INTEGER NOT NULL,
    PRIMARY KEY (group_id, user_id)
);

CREATE TABLE affairs_notices (
    id          INTEGER PRIMARY KEY,
    village_id  INTEGER NOT NULL,
    -- notice | policy | event | urgent
    category    TEXT NOT NULL,
    title       TEXT NOT NULL,
    body        TEXT NOT NULL,
    urgent      INTEGER NOT NULL DEFAULT 0,
    -- NULL: the whole village.
    group_id    INTEGER REFERENCES affairs_groups(id),
    expires_at  INTEGER,
    -- JSON array of affairs_files hashes.
    photos      TEXT NOT NULL DEFAULT '[]',
    -- The loudspeaker's recording (affairs_files hash), urgent notices.
    audio       TEXT,
    created_by  INTEGER NOT NULL,
    created_at  INTEGER NOT NULL
);
CREATE INDEX affairs_notices_by_village ON affairs_notices (village_id, id);

-- Who a notice was addressed to, and when each read it (read receipts).
CREATE TABLE affairs_notice_recipients (
    notice_id INTEGER NOT NULL REFERENCES affairs_notices(id),
    user_id   INTEGER NOT NULL,
    read_at   INTEGER,
    PRIMARY KEY (notice_id, user_id)
);
CREATE INDEX affairs_recipients_by_user ON affairs_notice_recipients (user_id, read_at);

-- The open ledger (村务公开). Amounts in fen, always positive; `kind` says
-- which way the money went.
CREATE TABLE affairs_ledger_entries (
    id          INTEGER PRIMARY KEY,
    village_id  INTEGER NOT NULL,
    -- YYYY-MM, the month the entry is published in.
    month       TEXT NOT NULL,
    -- YYYY-MM-DD
    date        TEXT NOT NULL,
    item        TEXT NOT NULL,
    -- income | spending
    kind        TEXT NOT NULL,
    amount_fen  INTEGER NOT NULL CHECK (amount_fen > 0),
    category    TEXT NOT NULL,
    voucher     TEXT,
    -- A correction names the entry it corrects (in a published month).
    corrects    INTEGER REFERENCES affairs_ledger_entries(id),
    created_by  INTEGER NOT NULL,
    created_at  INTEGER NOT NULL
);
CREATE INDEX affairs_ledger_by_month ON affairs_ledger_entries (village_id, month);

CREATE TABLE affairs_ledger_approvals (
    entry_id    INTEGER NOT NULL REFERENCES affairs_ledger_entries(id),
    user_id     INTEGER NOT NULL,
    approved_at INTEGER NOT NULL,
    PRIMARY KEY (entry_id, user_id)
);

-- A published month: its entries can no longer change.
CREATE TABLE affairs_ledger_months (
    village_id   INTEGER NOT NULL,
    month        TEXT NOT NULL,
    published_at INTEGER NOT NULL,
    published_by INTEGER NOT NULL,
    PRIMARY KEY (village_id, month)
);

-- Residents' questions on an entry; the answer is public.
CREATE TABLE affairs_ledger_questions (
    id          INTEGER PRIMARY KEY,
    entry_id    INTEGER NOT NULL REFERENCES affairs_ledger_entries(id),
    asked_by    INTEGER NOT NULL,
    text        TEXT NOT NULL,
    asked_at    INTEGER NOT NULL,
    answer      TEXT,
    answered_by INTEGER,
    answered_at INTEGER
);
CREATE INDEX affairs_questions_by_entry ON affairs_ledger_questions (entry_id);

CREATE TABLE affairs_feedback (
    id           INTEGER PRIMARY KEY,
    village_id   INTEGER NOT NULL,
    -- Kept even for anonymous reports (only the reporter may rate); never
    -- shown to officials when anonymous.
    reporter_id  INTEGER NOT NULL,
    anonymous    INTEGER NOT NULL DEFAULT 0,
    -- problem | suggestion | road | water | environment | safety | other
    category     TEXT NOT NULL,
    text         TEXT NOT NULL,
    place        TEXT,
    photo        TEXT,
    -- received | acknowledged | resolved
    status       TEXT NOT NULL DEFAULT 'received',
    assignee_id  INTEGER,
    reply        TEXT,
    rating       INTEGER,
    created_at   INTEGER NOT NULL,
    acked_at     INTEGER,
    resolved_at  INTEGER,
    -- When it was escalated to the township, and why (unacknowledged | unresolved).
    escalated_ack_at     INTEGER,
    escalated_resolve_at INTEGER
);
CREATE INDEX affairs_feedback_by_village ON affairs_feedback (village_id, id);
CREATE INDEX affairs_feedback_open ON affairs_feedback (created_at) WHERE status <> 'resolved';

CREATE TABLE affairs_votes (
    id         INTEGER PRIMARY KEY,
    village_id INTEGER NOT NULL,
    question   TEXT NOT NULL,
    -- JSON array of option texts.
    options    TEXT NOT NULL,
    closes_at  INTEGER NOT NULL,
    created_by INTEGER NOT NULL,
    created_at INTEGER NOT NULL
);
-- Who voted, and separately how many chose each option: no row links a
-- person to a choice, so the secret does not depend on who reads the table.
CREATE TABLE affairs_vote_voters (
    vote_id INTEGER NOT NULL REFERENCES affairs_votes(id),
    user_id INTEGER NOT NULL,
    PRIMARY KEY (vote_id, user_id)
);
CREATE TABLE affairs_vote_tallies (
    vote_id INTEGER NOT NULL REFERENCES affairs_votes(id),
    option  INTEGER NOT NULL,
    count   INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (vote_id, option)
);
