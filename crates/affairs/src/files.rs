//! Photos (notices, vouchers, feedback) and loudspeaker recordings, stored
//! by content hash in `affairs_files` (the market's idea: a file's name is
//! its SHA-256, so it never changes and is cached forever). Each village keeps
//! its own copy, keyed (village, hash): two villages uploading the same bytes
//! each own their file and neither reads the other's. Only the type is
//! checked, by the first bytes; photos are not re-encoded here.
//!
//! Speech for urgent notices comes from `espeak-ng` (Debian package
//! `espeak-ng`) when it is installed: a WAV file that IP broadcast systems
//! play from its URL.

use std::process::Stdio;

use cunlink_core::sql::{Connection, OptionalExtension, params};
use sha2::{Digest, Sha256};

use crate::AffairsError;

/// The type of an upload, from its first bytes: what it is, not what the
/// client says it is.
pub fn sniff(bytes: &[u8]) -> Option<&'static str> {
    if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some("image/jpeg")
    } else if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some("image/png")
    } else if bytes.len() > 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
        Some("image/webp")
    } else if bytes.len() > 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WAVE" {
        Some("audio/wav")
    } else if bytes.starts_with(b"ID3") || bytes.starts_with(&[0xFF, 0xFB]) {
        Some("audio/mpeg")
    } else if bytes.starts_with(b"OggS") {
        Some("audio/ogg")
    } else {
        None
    }
}

/// Check an upload is a `kind` ("image" or "audio") file; returns its type.
pub fn check(bytes: &[u8], kind: &str) -> Result<&'static str, AffairsError> {
    match sniff(bytes) {
        Some(t) if t.starts_with(kind) => Ok(t),
        _ => Err(AffairsError::invalid(
            "unsupported_file",
            "body",
            match kind {
                "image" => "the body must be a JPEG, PNG or WebP photo",
                _ => "the body must be an MP3, WAV or Ogg recording",
            },
        )),
    }
}

/// A file's name: the SHA-256 of its bytes, in lowercase hex.
pub fn hash(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Store `bytes` (already checked) for `village_id`; returns its hash.
pub fn put(
    c: &Connection,
    village_id: i64,
    content_type: &str,
    bytes: &[u8],
    now: i64,
) -> cunlink_core::sql::Result<String> {
    let hash = hash(bytes);
    c.execute(
        "INSERT OR IGNORE INTO affairs_files (hash, village_id, content_type, bytes, created_at)
         VALUES ($1, $2, $3, $4, $5)",
        params![hash, village_id, content_type, bytes, now],
    )?;
    Ok(hash)
}

/// (village, content type, bytes) of a stored file: the copy of `village_id`,
/// or with `None` (county-wide readers, who see every village) any village's.
pub fn get(
    c: &Connection,
    hash: &str,
    village_id: Option<i64>,
) -> cunlink_core::sql::Result<Option<(i64, String, Vec<u8>)>> {
    c.query_row(
        "SELECT village_id, content_type, bytes FROM affairs_files
         WHERE hash = $1 AND (CAST($2 AS BIGINT) IS NULL OR village_id = $2)
         ORDER BY village_id LIMIT 1",
        params![hash, village_id],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )
    .optional()
}

/// Whether `espeak-ng` can be run.
pub fn can_speak() -> bool {
    std::process::Command::new("espeak-ng")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// `text` spoken in Mandarin as WAV bytes, or None when espeak-ng is missing
/// or fails (the notice still goes out; an official can upload a recording).
pub fn speak(text: &str) -> Option<Vec<u8>> {
    use std::io::Write;
    // The text goes on stdin, never on the command line.
    let mut child = std::process::Command::new("espeak-ng")
        .args(["-v", "cmn", "-s", "140", "--stdout"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let mut stdin = child.stdin.take()?;
    let text = text.to_string();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(text.as_bytes());
    });
    let out = child.wait_with_output().ok()?;
    let _ = writer.join();
    (out.status.success() && sniff(&out.stdout) == Some("audio/wav")).then_some(out.stdout)
}
