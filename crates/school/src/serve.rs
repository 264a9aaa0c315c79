//! Serving stored bytes over HTTP with single `Range` requests, a strong ETag
//! and immutable caching: content files (`/api/school/content/{sha256}`) and
//! channel metadata exports, which a pull resumes by range like any file.

use std::io::{Read, Seek, SeekFrom};
use std::path::PathBuf;

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;

/// A parsed `Range` header against a body of `size` bytes.
#[derive(Debug, PartialEq, Eq)]
pub enum Want {
    /// No usable range: send everything (absent, several ranges, other units,
    /// or an `If-Range` that no longer matches).
    All,
    /// Bytes `start..=end`.
    Part(u64, u64),
    /// The range lies outside the body: 416.
    Unsatisfiable,
}

/// Read `Range` (and `If-Range` against `etag`). Several ranges are answered
/// with the whole body, which RFC 9110 allows; pulls ask for one.
pub fn want(headers: &HeaderMap, size: u64, etag: &str) -> Want {
    let Some(v) = headers.get(header::RANGE).and_then(|v| v.to_str().ok()) else {
        return Want::All;
    };
    if let Some(ir) = headers.get(header::IF_RANGE).and_then(|v| v.to_str().ok())
        && ir.trim() != etag
    {
        return Want::All;
    }
    let Some(spec) = v.trim().strip_prefix("bytes=") else {
        return Want::All;
    };
    if spec.contains(',') {
        return Want::All;
    }
    let Some((a, b)) = spec.trim().split_once('-') else {
        return Want::All;
    };
    let (a, b) = (a.trim(), b.trim());
    if a.is_empty() {
        // Suffix: the last n bytes.
        let Ok(n) = b.parse::<u64>() else {
            return Want::All;
        };
        if n == 0 || size == 0 {
            return Want::Unsatisfiable;
        }
        return Want::Part(size.saturating_sub(n), size - 1);
    }
    let Ok(start) = a.parse::<u64>() else {
        return Want::All;
    };
    if start >= size {
        return Want::Unsatisfiable;
    }
    let end = if b.is_empty() {
        size - 1
    } else {
        match b.parse::<u64>() {
            Ok(e) if e >= start => e.min(size - 1),
            _ => return Want::All,
        }
    };
    Want::Part(start, end)
}

/// Common headers of every answer for one stored body.
fn base(r: &mut Response, etag: &str, content_type: &'static str) {
    let h = r.headers_mut();
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    if let Ok(v) = HeaderValue::from_str(etag) {
        h.insert(header::ETAG, v);
    }
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, max-age=31536000, immutable"),
    );
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
}

/// Answer a request for a file on disk of `size` bytes.
pub fn file(
    path: PathBuf,
    size: u64,
    etag: &str,
    content_type: &'static str,
    headers: &HeaderMap,
) -> Response {
    if headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag))
    {
        let mut r = StatusCode::NOT_MODIFIED.into_response();
        base(&mut r, etag, content_type);
        return r;
    }
    let (status, start, len) = match want(headers, size, etag) {
        Want::All => (StatusCode::OK, 0, size),
        Want::Part(s, e) => (StatusCode::PARTIAL_CONTENT, s, e - s + 1),
        Want::Unsatisfiable => {
            // A JSON error like every other 4xx (the error rewriter keeps it,
            // and its Content-Range, as it is).
            let mut r = cunlink_core::ApiError::new(
                StatusCode::RANGE_NOT_SATISFIABLE,
                "range_not_satisfiable",
                format!("the range lies outside the {size} bytes"),
            )
            .with_field("range")
            .into_response();
            if let Ok(v) = HeaderValue::from_str(&format!("bytes */{size}")) {
                r.headers_mut().insert(header::CONTENT_RANGE, v);
            }
            return r;
        }
    };
    let mut r = Response::new(stream_file(path, start, len));
    *r.status_mut() = status;
    base(&mut r, etag, content_type);
    let h = r.headers_mut();
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    if status == StatusCode::PARTIAL_CONTENT
        && let Ok(v) = HeaderValue::from_str(&format!("bytes {start}-{}/{size}", start + len - 1))
    {
        h.insert(header::CONTENT_RANGE, v);
    }
    r
}

/// The bytes `start..start+len` of `path`, read on a blocking thread in 64 KiB
/// pieces so a 1 GB video never sits in memory.
fn stream_file(path: PathBuf, start: u64, len: u64) -> Body {
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(4);
    tokio::task::spawn_blocking(move || {
        let run = || -> std::io::Result<()> {
            let mut f = std::fs::File::open(&path)?;
            f.seek(SeekFrom::Start(start))?;
            let mut left = len;
            let mut buf = vec![0u8; 64 * 1024];
            while left > 0 {
                let want = (buf.len() as u64).min(left) as usize;
                let n = f.read(&mut buf[..want])?;
                if n == 0 {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::UnexpectedEof,
                        "file shorter than recorded",
                    ));
                }
                left -= n as u64;
                if tx
                    .blocking_send(Ok(Bytes::copy_from_slice(&buf[..n])))
                    .is_err()
                {
                    // The client went away.
                    return Ok(());
                }
            }
            Ok(())
        };
        if let Err(e) = run() {
            let _ = tx.blocking_send(Err(e));
        }
    });
    Body::from_stream(tokio_stream::wrappers::ReceiverStream::new(rx))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(range: &str) -> HeaderMap {
        let mut m = HeaderMap::new();
        m.insert(header::RANGE, HeaderValue::from_str(range).unwrap());
        m
    }

    #[test]
    fn ranges() {
        assert_eq!(want(&HeaderMap::new(), 10, "\"x\""), Want::All);
        assert_eq!(want(&h("bytes=0-3"), 10, "\"x\""), Want::Part(0, 3));
        assert_eq!(want(&h("bytes=5-"), 10, "\"x\""), Want::Part(5, 9));
        assert_eq!(want(&h("bytes=-4"), 10, "\"x\""), Want::Part(6, 9));
        assert_eq!(want(&h("bytes=8-100"), 10, "\"x\""), Want::Part(8, 9));
        assert_eq!(want(&h("bytes=10-"), 10, "\"x\""), Want::Unsatisfiable);
        assert_eq!(want(&h("bytes=0-1,4-5"), 10, "\"x\""), Want::All);
        assert_eq!(want(&h("items=0-1"), 10, "\"x\""), Want::All);
        let mut m = h("bytes=2-3");
        m.insert(header::IF_RANGE, HeaderValue::from_static("\"old\""));
        assert_eq!(want(&m, 10, "\"x\""), Want::All);
    }
}
