//! The school's tables. Other crates never name them in SQL: they go through
//! functions here (see docs/tables.md). Courses are in `course_store`.

use cunlink_core::Migration;
use cunlink_core::time::now_ms;
use cunlink_core::sql::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};

pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "school_meta",
        sql: include_str!("../migrations/sqlite/0001_school_meta.sql"),
    },
    Migration {
        version: 2,
        name: "school_channels",
        sql: include_str!("../migrations/sqlite/0002_school_channels.sql"),
    },
    Migration {
        version: 3,
        name: "school_courses",
        sql: include_str!("../migrations/sqlite/0003_school_courses.sql"),
    },
    Migration {
        version: 4,
        name: "school_pairings",
        sql: include_str!("../migrations/sqlite/0004_school_pairings.sql"),
    },
    Migration {
        version: 5,
        name: "school_node_sync",
        sql: include_str!("../migrations/sqlite/0005_node_sync.sql"),
    },
];

/// Longest list any query here returns.
pub const MAX_LIST: i64 = 10_000;

#[derive(Debug, Clone, Serialize)]
pub struct Channel {
    pub id: i64,
    pub name: String,
    pub description: String,
    pub village_id: Option<i64>,
    pub version: i64,
    pub origin_url: Option<String>,
    pub origin_id: Option<i64>,
}

/// One file of a channel.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FileEntry {
    pub name: String,
    pub sha256: String,
    pub size: i64,
    #[serde(default)]
    pub topic: String,
    #[serde(default = "default_kind")]
    pub kind: String,
}

fn default_kind() -> String {
    "file".into()
}

fn channel_row(r: &cunlink_core::sql::Row) -> cunlink_core::sql::Result<Channel> {
    Ok(Channel {
        id: r.get(0)?,
        name: r.get(1)?,
        description: r.get(2)?,
        village_id: r.get(3)?,
        version: r.get(4)?,
        origin_url: r.get(5)?,
        origin_id: r.get(6)?,
    })
}

const CHANNEL_COLS: &str = "id, name, description, village_id, version, origin_url, origin_id";

pub fn create_channel(
    c: &Connection,
    name: &str,
    description: &str,
    village_id: Option<i64>,
    user_id: i64,
) -> cunlink_core::sql::Result<i64> {
    let now = now_ms();
    c.execute(
        "INSERT INTO school_channels (name, description, village_id, created_by, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $5)",
        params![name, description, village_id, user_id, now],
    )?;
    Ok(c.last_insert_rowid()?)
}

pub fn channel(c: &Connection, id: i64) -> cunlink_core::sql::Result<Option<Channel>> {
    c.query_row(
        &format!("SELECT {CHANNEL_COLS} FROM school_channels WHERE id = $1"),
        [id],
        channel_row,
    )
    .optional()
}

/// Channels, newest first, at most `limit`.
pub fn channels(c: &Connection, limit: i64) -> cunlink_core::sql::Result<Vec<Channel>> {
    let mut st = c.prepare(&format!(
        "SELECT {CHANNEL_COLS} FROM school_channels ORDER BY id DESC LIMIT $1"
    ))?;
    st.query_map([limit.clamp(0, MAX_LIST)], channel_row)?
        .collect()
}

/// A channel's working files, by topic then name, at most `limit`.
pub fn files(c: &Connection, channel_id: i64, limit: i64) -> cunlink_core::sql::Result<Vec<FileEntry>> {
    let mut st = c.prepare(
        "SELECT name, sha256, size, topic, kind FROM school_channel_files
         WHERE channel_id = $1 ORDER BY topic, name LIMIT $2",
    )?;
    st.query_map(params![channel_id, limit.clamp(0, MAX_LIST)], |r| {
        Ok(FileEntry {
            name: r.get(0)?,
            sha256: r.get(1)?,
            size: r.get(2)?,
            topic: r.get(3)?,
            kind: r.get(4)?,
        })
    })?
    .collect()
}

/// One page of a channel's files, by topic then name.
pub fn files_page(
    c: &Connection,
    channel_id: i64,
    offset: i64,
    limit: i64,
) -> cunlink_core::sql::Result<Vec<FileEntry>> {
    let mut st = c.prepare_cached(
        "SELECT name, sha256, size, topic, kind FROM school_channel_files
         WHERE channel_id = $1 ORDER BY topic, name LIMIT $2 OFFSET $3",
    )?;
    st.query_map(
        params![channel_id, limit.clamp(0, MAX_LIST), offset.max(0)],
        |r| {
            Ok(FileEntry {
                name: r.get(0)?,
                sha256: r.get(1)?,
                size: r.get(2)?,
                topic: r.get(3)?,
                kind: r.get(4)?,
            })
        },
    )?
    .collect()
}

pub fn has_file(c: &Connection, channel_id: i64, name: &str) -> cunlink_core::sql::Result<bool> {
    c.query_row(
        "SELECT EXISTS (SELECT 1 FROM school_channel_files WHERE channel_id = $1 AND name = $2)",
        params![channel_id, name],
        |r| r.get(0),
    )
}

pub fn file_count(c: &Connection, channel_id: i64) -> cunlink_core::sql::Result<i64> {
    c.query_row(
        "SELECT count(*) FROM school_channel_files WHERE channel_id = $1",
        [channel_id],
        |r| r.get(0),
    )
}

/// Record a content file present on disk (no-op when known).
pub fn put_blob(c: &Connection, sha: &str, size: i64, chunks: &[String]) -> cunlink_core::sql::Result<()> {
    c.execute(
        "INSERT OR IGNORE INTO school_blobs (sha256, size, chunks, created_at) VALUES ($1, $2, $3, $4)",
        params![sha, size, chunks.concat(), now_ms()],
    )?;
    Ok(())
}

/// A content file's size and chunk hashes, when this node has it.
pub fn blob(c: &Connection, sha: &str) -> cunlink_core::sql::Result<Option<(i64, Vec<String>)>> {
    let row: Option<(i64, String)> = c
        .query_row(
            "SELECT size, chunks FROM school_blobs WHERE sha256 = $1",
            [sha],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    Ok(row.map(|(size, chunks)| {
        let list = chunks
            .as_bytes()
            .chunks(64)
            .map(|h| String::from_utf8_lossy(h).into_owned())
            .collect();
        (size, list)
    }))
}

/// Add or replace the file `name` of a channel.
pub fn set_file(c: &Connection, channel_id: i64, f: &FileEntry) -> cunlink_core::sql::Result<()> {
    c.execute(
        "INSERT INTO school_channel_files (channel_id, name, sha256, size, topic, kind)
         VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (channel_id, name) DO UPDATE SET sha256 = excluded.sha256,
           size = excluded.size, topic = excluded.topic, kind = excluded.kind",
        params![channel_id, f.name, f.sha256, f.size, f.topic, f.kind],
    )?;
    c.execute(
        "UPDATE school_channels SET updated_at = $1 WHERE id = $2",
        params![now_ms(), channel_id],
    )?;
    Ok(())
}

/// What a published version freezes: everything a pulling node needs.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    pub id: i64,
    pub name: String,
    pub description: String,
    pub version: i64,
    pub files: Vec<FileEntry>,
}

/// Publish the working file list as the next version; returns it.
pub fn publish(c: &Connection, channel_id: i64) -> cunlink_core::sql::Result<Option<i64>> {
    // Take the next number first, in one statement: two publishes racing
    // (on two nodes) get two numbers, never the same one twice.
    if c.execute(
        "UPDATE school_channels SET version = version + 1, updated_at = $1 WHERE id = $2",
        params![now_ms(), channel_id],
    )? == 0
    {
        return Ok(None);
    }
    let Some(ch) = channel(c, channel_id)? else {
        return Ok(None);
    };
    let version = ch.version;
    let manifest = Manifest {
        id: ch.id,
        name: ch.name,
        description: ch.description,
        version,
        files: files(c, channel_id, MAX_LIST)?,
    };
    let json = serde_json::to_string(&manifest).unwrap_or_default();
    c.execute(
        "INSERT INTO school_channel_versions (channel_id, version, manifest, published_at)
         VALUES ($1, $2, $3, $4)",
        params![channel_id, version, json, now_ms()],
    )?;
    Ok(Some(version))
}

/// The latest published manifest of a channel, as stored (JSON).
pub fn latest_manifest(c: &Connection, channel_id: i64) -> cunlink_core::sql::Result<Option<(i64, String)>> {
    c.query_row(
        "SELECT version, manifest FROM school_channel_versions WHERE channel_id = $1
         ORDER BY version DESC LIMIT 1",
        [channel_id],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
    .optional()
}

/// Make the local copy of an upstream channel match `m` (all its files are on
/// disk already). Returns the local id.
pub fn apply_pulled(c: &Connection, origin_url: &str, m: &Manifest) -> cunlink_core::sql::Result<i64> {
    let now = now_ms();
    // Get-or-create on the unique (origin_url, origin_id): a second node
    // pulling the same channel at once finds the first one's row.
    c.execute(
        "INSERT OR IGNORE INTO school_channels (name, description, version, origin_url, origin_id, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $6)",
        params![m.name, m.description, m.version, origin_url, m.id, now],
    )?;
    let id: i64 = c.query_row(
        "SELECT id FROM school_channels WHERE origin_url = $1 AND origin_id = $2",
        params![origin_url, m.id],
        |r| r.get(0),
    )?;
    c.execute(
        "UPDATE school_channels SET name = $1, description = $2, version = $3, updated_at = $4
         WHERE id = $5",
        params![m.name, m.description, m.version, now, id],
    )?;
    c.execute(
        "DELETE FROM school_channel_files WHERE channel_id = $1",
        [id],
    )?;
    for f in &m.files {
        set_file(c, id, f)?;
    }
    // The local copy republishes what it received, so a node further down
    // (a USB export, a neighbouring school) can pull from this one, under the
    // id it has here: a pull asks for that id and checks the manifest says it.
    let local = Manifest { id, ..m.clone() };
    let json = serde_json::to_string(&local).unwrap_or_default();
    c.execute(
        "INSERT INTO school_channel_versions (channel_id, version, manifest, published_at)
         VALUES ($1, $2, $3, $4)
         ON CONFLICT (channel_id, version) DO UPDATE SET manifest = excluded.manifest,
           published_at = excluded.published_at",
        params![id, m.version, json, now],
    )?;
    Ok(id)
}

// --- pulls ---------------------------------------------------------------

/// A pull's progress, as the pull-status page shows it.
#[derive(Debug, Clone, Serialize, Default)]
pub struct PullRow {
    pub id: i64,
    pub origin_url: String,
    pub origin_id: i64,
    pub channel_id: Option<i64>,
    pub state: String,
    pub files_total: i64,
    pub files_done: i64,
    pub bytes_total: i64,
    pub bytes_done: i64,
    pub fetched: i64,
    pub rate_bps: i64,
    pub message: String,
    pub started_at: i64,
    pub updated_at: i64,
}

impl PullRow {
    /// Seconds left at the current rate, when there is one.
    pub fn eta_secs(&self) -> Option<i64> {
        let left = self.bytes_total.saturating_sub(self.bytes_done);
        if left <= 0 {
            return Some(0);
        }
        // Sizes come from the upstream: no overflow near i64::MAX.
        (self.rate_bps > 0).then(|| left / self.rate_bps + i64::from(left % self.rate_bps != 0))
    }

    /// Locale key of the state's label.
    pub fn state_key(&self) -> &'static str {
        match self.state.as_str() {
            "metadata" => "school.pulls.state.metadata",
            "files" => "school.pulls.state.files",
            "done" => "school.pulls.state.done",
            "paused" => "school.pulls.state.paused",
            _ => "school.pulls.state.failed",
        }
    }

    pub fn percent(&self) -> i64 {
        if self.bytes_total <= 0 {
            return if self.state == "done" { 100 } else { 0 };
        }
        (self.bytes_done.saturating_mul(100) / self.bytes_total).clamp(0, 100)
    }
}

/// Pull rows kept for the pull-status page; older ones are pruned.
pub const KEEP_PULLS: i64 = 100;

pub fn start_pull(c: &Connection, origin_url: &str, origin_id: i64) -> cunlink_core::sql::Result<i64> {
    let now = now_ms();
    // A scheduled pull adds a row every run: keep the newest, not all.
    c.execute(
        "DELETE FROM school_pulls WHERE id <= (SELECT id FROM school_pulls ORDER BY id DESC LIMIT 1 OFFSET $1)",
        [KEEP_PULLS - 1],
    )?;
    c.execute(
        "INSERT INTO school_pulls (origin_url, origin_id, state, started_at, updated_at)
         VALUES ($1, $2, 'metadata', $3, $3)",
        params![origin_url, origin_id, now],
    )?;
    Ok(c.last_insert_rowid()?)
}

pub fn update_pull(c: &Connection, p: &PullRow) -> cunlink_core::sql::Result<()> {
    c.execute(
        "UPDATE school_pulls SET channel_id = $1, state = $2, files_total = $3, files_done = $4,
           bytes_total = $5, bytes_done = $6, fetched = $7, rate_bps = $8, message = $9,
           updated_at = $10 WHERE id = $11",
        params![
            p.channel_id,
            p.state,
            p.files_total,
            p.files_done,
            p.bytes_total,
            p.bytes_done,
            p.fetched,
            p.rate_bps,
            p.message,
            now_ms(),
            p.id
        ],
    )?;
    Ok(())
}

/// The most recent pulls, newest first.
pub fn pulls(c: &Connection, limit: i64) -> cunlink_core::sql::Result<Vec<PullRow>> {
    let mut st = c.prepare(
        "SELECT id, origin_url, origin_id, channel_id, state, files_total, files_done, bytes_total,
                bytes_done, fetched, rate_bps, message, started_at, updated_at
         FROM school_pulls ORDER BY id DESC LIMIT $1",
    )?;
    st.query_map([limit.clamp(0, 200)], |r| {
        Ok(PullRow {
            id: r.get(0)?,
            origin_url: r.get(1)?,
            origin_id: r.get(2)?,
            channel_id: r.get(3)?,
            state: r.get(4)?,
            files_total: r.get(5)?,
            files_done: r.get(6)?,
            bytes_total: r.get(7)?,
            bytes_done: r.get(8)?,
            fetched: r.get(9)?,
            rate_bps: r.get(10)?,
            message: r.get(11)?,
            started_at: r.get(12)?,
            updated_at: r.get(13)?,
        })
    })?
    .collect()
}
