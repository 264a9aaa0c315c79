//! gzip for rendered pages and text feeds. Static assets are compressed once at
//! start (see [`crate::assets`]); this middleware compresses the rest of the
//! text a weak 3G link has to carry: HTML pages and `.txt` feeds. Event streams
//! are left alone (they must flush each event at once).

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;

use crate::assets::{accepts_gzip, gzip};

/// Bodies smaller than this are not worth the gzip header.
const MIN_BYTES: usize = 512;
/// Pages larger than this are not buffered for compression.
const MAX_BYTES: usize = 4 * 1024 * 1024;

pub async fn layer(req: Request, next: Next) -> Response {
    let wants = accepts_gzip(req.headers());
    let resp = next.run(req).await;
    if !wants || resp.headers().contains_key(header::CONTENT_ENCODING) {
        return resp;
    }
    let compressible = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("text/html") || ct.starts_with("text/plain"));
    if !compressible {
        return resp;
    }
    let (mut parts, body) = resp.into_parts();
    let bytes = match axum::body::to_bytes(body, MAX_BYTES).await {
        Ok(b) => b,
        Err(_) => {
            return Response::from_parts(parts, Body::from("response too large to compress"));
        }
    };
    if bytes.len() < MIN_BYTES {
        return Response::from_parts(parts, Body::from(bytes));
    }
    // Level 6: most of level 9's gain at a fraction of its time per request.
    let gz = gzip(&bytes, 6);
    parts.headers.remove(header::CONTENT_LENGTH);
    parts
        .headers
        .insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    parts
        .headers
        .append(header::VARY, HeaderValue::from_static("Accept-Encoding"));
    Response::from_parts(parts, Body::from(gz))
}
