//! `alert.js`, the script of the alert pages (live alarm rows, the rule form,
//! Web Push), embedded and served like the kit's assets: under a content-hashed
//! URL with `immutable` caching, gzip-compressed once.

use std::sync::LazyLock;

use axum::extract::Path;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

const SCRIPT: &[u8] = include_bytes!("../../static/alert.js");

struct Built {
    hash: String,
    url: String,
    gz: Vec<u8>,
}

static BUILT: LazyLock<Built> = LazyLock::new(|| {
    let hash: String = Sha256::digest(SCRIPT)
        .iter()
        .take(4)
        .map(|b| format!("{b:02x}"))
        .collect();
    Built {
        url: format!("/alert/static/{hash}/alert.js"),
        hash,
        gz: cunlink_web::assets::gzip(SCRIPT, 9),
    }
});

/// The script's hashed URL, for `<script src>`.
pub(crate) fn url() -> &'static str {
    &BUILT.url
}

pub(crate) async fn serve(Path(hash): Path<String>, headers: HeaderMap) -> Response {
    let b = &*BUILT;
    if hash.len() > 16 {
        return StatusCode::NOT_FOUND.into_response();
    }
    // A page cached from the previous release still gets the script, uncached.
    let cache = if b.hash == hash {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    cunlink_web::assets::bytes_response(
        "text/javascript; charset=utf-8",
        SCRIPT,
        &b.gz,
        cache,
        &headers,
    )
}
