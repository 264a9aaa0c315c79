//! Down: the files (photos, loudspeaker recordings) the village's notices name.
//! The kind's rows are only each file's hash and type, so a new notice does not
//! resend every file: the node notes the ones it lacks in
//! `affairs_files_wanted` and fetches each once (`DownKind::blob`, served by
//! the hub at `/api/sync/blob/notice_files/{hash}`), checking the bytes
//! against the hash. Files are never deleted on the node: a hash names the
//! same bytes forever, and the node's own feedback photos live beside them.

use std::collections::BTreeSet;

use cunlink_core::sql::{Connection, OptionalExtension, params};
use cunlink_core::sync::{DownKind, MAX_BLOB, SyncError, field_i64, field_str};
use serde_json::{Value, json};

use super::notices::{NOTICE_SCOPE, NOTICES};
use crate::files;

/// Most files fetched after one down exchange (the rest at the next).
const FETCH_AT_ONCE: i64 = 200;

pub(crate) fn is_hash(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// The hashes the village's synced notices name (photos and recordings).
fn named(conn: &Connection, village_id: i64) -> Result<BTreeSet<String>, SyncError> {
    let sql = format!(
        "SELECT photos, audio FROM {} WHERE {NOTICE_SCOPE} ORDER BY id",
        NOTICES.name
    );
    let mut st = conn.prepare_cached(&sql)?;
    let rows = st.query_map([village_id], |r| {
        Ok((r.get::<_, String>(0)?, r.get::<_, Option<String>>(1)?))
    })?;
    let mut out = BTreeSet::new();
    for row in rows {
        let (photos, audio) = row?;
        let photos: Vec<String> = serde_json::from_str(&photos).unwrap_or_default();
        out.extend(photos.into_iter().chain(audio).filter(|h| is_hash(h)));
    }
    Ok(out)
}

pub struct NoticeFileKind;

impl DownKind for NoticeFileKind {
    fn kind(&self) -> &'static str {
        "notice_files"
    }
    fn snapshot(&self, conn: &Connection, village_id: i64) -> Result<Vec<Value>, SyncError> {
        let mut out = Vec::new();
        for hash in named(conn, village_id)? {
            let meta: Option<(String, i64)> = conn
                .prepare_cached(
                    "SELECT content_type, created_at FROM affairs_files WHERE village_id = $1 AND hash = $2",
                )?
                .query_row(params![village_id, hash], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()?;
            if let Some((ct, at)) = meta {
                out.push(json!({"hash": hash, "content_type": ct, "created_at": at}));
            }
        }
        Ok(out)
    }
    fn apply(&self, conn: &Connection, village_id: i64, list: &[Value]) -> Result<(), SyncError> {
        conn.prepare_cached("DELETE FROM affairs_files_wanted WHERE village_id = $1")?
            .execute([village_id])?;
        for f in list {
            let hash = field_str(f, "hash")?;
            let ct = field_str(f, "content_type")?;
            let at = field_i64(f, "created_at")?;
            if !is_hash(hash) {
                return Err(SyncError::reject(format!("'{hash}' is not a file hash")));
            }
            if !(ct.starts_with("image/") || ct.starts_with("audio/")) || ct.len() > 50 {
                return Err(SyncError::reject(format!("file {hash}: type '{ct}'")));
            }
            conn.prepare_cached(
                "INSERT INTO affairs_files_wanted (village_id, hash, content_type, created_at)
                 SELECT $1, $2, $3, $4 WHERE NOT EXISTS
                   (SELECT 1 FROM affairs_files WHERE village_id = $1 AND hash = $2)",
            )?
            .execute(params![village_id, hash, ct, at])?;
        }
        Ok(())
    }
    fn blobs_missing(&self, conn: &Connection) -> Result<Vec<String>, SyncError> {
        let mut st = conn.prepare_cached(
            "SELECT hash FROM affairs_files_wanted ORDER BY created_at, hash LIMIT $1",
        )?;
        let rows = st.query_map([FETCH_AT_ONCE], |r| r.get(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
    fn blob(
        &self,
        conn: &Connection,
        village_id: i64,
        key: &str,
    ) -> Result<Option<Vec<u8>>, SyncError> {
        if !is_hash(key) || !named(conn, village_id)?.contains(key) {
            return Ok(None);
        }
        let bytes: Option<Vec<u8>> = conn
            .prepare_cached("SELECT bytes FROM affairs_files WHERE village_id = $1 AND hash = $2")?
            .query_row(params![village_id, key], |r| r.get(0))
            .optional()?;
        Ok(bytes)
    }
    fn put_blob(
        &self,
        conn: &Connection,
        village_id: i64,
        key: &str,
        bytes: &[u8],
    ) -> Result<(), SyncError> {
        let wanted: Option<(String, i64)> = conn
            .prepare_cached(
                "SELECT content_type, created_at FROM affairs_files_wanted WHERE village_id = $1 AND hash = $2",
            )?
            .query_row(params![village_id, key], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        let Some((ct, at)) = wanted else {
            return Err(SyncError::reject(format!("file {key} is not wanted")));
        };
        if bytes.len() > MAX_BLOB || files::hash(bytes) != key {
            return Err(SyncError::reject(format!(
                "file {key}: the bytes do not match the hash"
            )));
        }
        conn.prepare_cached(
            "INSERT INTO affairs_files (village_id, hash, content_type, bytes, created_at) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (village_id, hash) DO NOTHING",
        )?
        .execute(params![village_id, key, ct, bytes, at])?;
        conn.prepare_cached(
            "DELETE FROM affairs_files_wanted WHERE village_id = $1 AND hash = $2",
        )?
        .execute(params![village_id, key])?;
        Ok(())
    }
}
