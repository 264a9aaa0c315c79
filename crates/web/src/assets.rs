//! Static assets (CSS, JS, icons) embedded in the binary: villages may have no
//! route to any CDN, and one file to copy is one thing less to go wrong.
//!
//! Each asset is served under a content-hashed URL (`/static/{hash8}/{name}`) with
//! `Cache-Control: immutable`, so a phone downloads it once per release, and is
//! gzip-compressed once at first use rather than per request.

use std::io::Write;
use std::sync::LazyLock;

use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

struct Source {
    name: &'static str,
    mime: &'static str,
    bytes: &'static [u8],
}

macro_rules! asset {
    ($name:literal, $mime:literal) => {
        Source {
            name: $name,
            mime: $mime,
            bytes: include_bytes!(concat!("../static/", $name)),
        }
    };
}

const SOURCES: &[Source] = &[
    asset!("app.css", "text/css; charset=utf-8"),
    asset!("app.js", "text/javascript; charset=utf-8"),
    asset!("chart.js", "text/javascript; charset=utf-8"),
    // The browser side of cunlink-rtc's calls (clinic consults, later classrooms).
    asset!("call.js", "text/javascript; charset=utf-8"),
    // The browser side of cunlink-rtc's SFU (the school's live class).
    asset!("sfu.js", "text/javascript; charset=utf-8"),
    asset!("board.css", "text/css; charset=utf-8"),
    asset!("icon.svg", "image/svg+xml"),
    asset!(
        "vendor/htmx-2.0.11.min.js",
        "text/javascript; charset=utf-8"
    ),
    asset!(
        "vendor/uplot-1.6.32.min.js",
        "text/javascript; charset=utf-8"
    ),
    asset!("vendor/uplot-1.6.32.min.css", "text/css; charset=utf-8"),
];

/// One embedded file, ready to serve.
pub struct Asset {
    pub name: &'static str,
    pub mime: &'static str,
    pub url: String,
    pub hash: String,
    pub raw: &'static [u8],
    pub gzip: Vec<u8>,
}

static ASSETS: LazyLock<Vec<Asset>> = LazyLock::new(|| {
    SOURCES
        .iter()
        .map(|s| {
            let digest = Sha256::digest(s.bytes);
            let hash: String = digest.iter().take(4).map(|b| format!("{b:02x}")).collect();
            Asset {
                name: s.name,
                mime: s.mime,
                url: format!("/static/{hash}/{}", s.name),
                hash,
                raw: s.bytes,
                gzip: gzip(s.bytes, 9),
            }
        })
        .collect()
});

/// The hashed URL of embedded asset `name` (e.g. `"app.css"`).
/// An unknown name is a programming error caught by the page tests; it yields a
/// URL that answers 404 rather than panicking a request.
pub fn url(name: &str) -> &'static str {
    ASSETS
        .iter()
        .find(|a| a.name == name)
        .map(|a| a.url.as_str())
        .unwrap_or("/static/missing")
}

/// Every asset URL; the service worker precaches the shell from this.
pub fn all() -> &'static [Asset] {
    &ASSETS
}

/// gzip `bytes` at `level` (0-9).
pub fn gzip(bytes: &[u8], level: u32) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(
        Vec::with_capacity(bytes.len() / 3),
        flate2::Compression::new(level),
    );
    // Writing into a Vec cannot fail.
    let _ = enc.write_all(bytes);
    enc.finish().unwrap_or_default()
}

/// Whether the client takes gzip (`Accept-Encoding`), ignoring `q=0`.
pub fn accepts_gzip(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|part| {
            let mut it = part.split(';');
            let name = it.next().unwrap_or("").trim();
            let q0 = it.any(|p| matches!(p.trim(), "q=0" | "q=0.0" | "q=0.00" | "q=0.000"));
            (name == "gzip" || name == "*") && !q0
        })
}

/// `GET /static/{hash}/{*name}`.
pub async fn serve(Path((hash, name)): Path<(String, String)>, headers: HeaderMap) -> Response {
    let Some(a) = ASSETS.iter().find(|a| a.name == name) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    // An old hash (a page cached from the previous release) still gets the file,
    // but must not be cached as immutable under that URL.
    let cache = if a.hash == hash {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    bytes_response(a.mime, a.raw, &a.gzip, cache, &headers)
}

/// A response of `raw` or its precompressed `gz`, as the client accepts.
pub fn bytes_response(
    mime: &'static str,
    raw: &'static [u8],
    gz: &[u8],
    cache: &'static str,
    headers: &HeaderMap,
) -> Response {
    let mut resp = if accepts_gzip(headers) {
        let mut r = gz.to_vec().into_response();
        r.headers_mut()
            .insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        r
    } else {
        raw.into_response()
    };
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(mime));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    h.insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_asset_has_a_hashed_url_and_compresses() {
        for a in all() {
            assert!(a.url.starts_with("/static/") && a.url.ends_with(a.name));
            assert!(!a.gzip.is_empty());
        }
        assert_ne!(url("app.css"), "/static/missing");
    }

    #[test]
    fn accept_encoding_is_read() {
        let mut h = HeaderMap::new();
        h.insert(
            header::ACCEPT_ENCODING,
            HeaderValue::from_static("br, gzip;q=0.8"),
        );
        assert!(accepts_gzip(&h));
        h.insert(
            header::ACCEPT_ENCODING,
            HeaderValue::from_static("gzip;q=0, br"),
        );
        assert!(!accepts_gzip(&h));
    }
}
