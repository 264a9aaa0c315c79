//! The school HTTP API for channels and content (see docs/school.md); the
//! course API is in `courses::routes`.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::body::Body;
use axum::extract::{FromRef, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use bytes::Bytes;
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;
use tokio_stream::StreamExt;

use cunlink_core::ApiError;
use cunlink_core::auth::{AuthService, User};
use cunlink_core::routes::Routes;
use cunlink_core::web::CurrentUser;

use crate::content::{self, Hasher};
use crate::error::SchoolError;
use crate::reader::Reader;
use crate::store::{self, FileEntry};
use crate::{School, access, input, serve};

#[derive(Clone)]
pub struct SchoolState(pub Arc<School>);

impl FromRef<SchoolState> for AuthService {
    fn from_ref(s: &SchoolState) -> AuthService {
        s.0.auth.clone()
    }
}

pub(crate) type R<T> = Result<T, ApiError>;

/// Largest file accepted into a channel (a long lesson video).
pub const MAX_FILE: u64 = 2 * 1024 * 1024 * 1024;
/// Kinds of files the player knows.
const KINDS: [&str; 7] = [
    "video", "audio", "pdf", "html5", "exercise", "image", "file",
];

pub fn routes(school: Arc<School>) -> Routes {
    Routes::new()
        .route(
            "/api/school/channels",
            get(list_channels).post(create_channel),
        )
        .route("/api/school/channels/{id}", get(get_channel))
        .route(
            "/api/school/channels/{id}/files",
            post(upload).layer(axum::extract::DefaultBodyLimit::disable()),
        )
        .route("/api/school/channels/{id}/publish", post(publish))
        .route("/api/school/channels/{id}/export", get(export))
        .route("/api/school/content/{sha256}", get(content_file))
        .route("/api/school/content/{sha256}/chunks", get(content_chunks))
        .route("/api/school/pulls", get(pulls))
        .merge(crate::courses::routes())
        .merge(crate::subscriptions::routes())
        .merge(crate::pairings::routes())
        .merge(crate::live::api::routes())
        .with_state(SchoolState(school))
}

/// Run `f` on the database (blocking pool).
pub(crate) async fn db<T: Send + 'static>(
    s: &School,
    f: impl FnOnce(&mut cunlink_core::sql::Connection) -> Result<T, SchoolError> + Send + 'static,
) -> R<T> {
    Ok(s.db.call(f).await?)
}

/// Run `f` in one transaction.
pub(crate) async fn tx<T: Send + 'static>(
    s: &School,
    f: impl FnOnce(&cunlink_core::sql::Transaction) -> Result<T, SchoolError> + Send + 'static,
) -> R<T> {
    db(s, move |c| {
        let t = c.transaction()?;
        let v = f(&t)?;
        t.commit()?;
        Ok(v)
    })
    .await
}

fn unknown_channel(id: i64) -> SchoolError {
    SchoolError::not_found("unknown_channel", format!("there is no channel {id}"))
}

/// The channel `id`, or 404.
pub(crate) fn channel_or_404(
    c: &cunlink_core::sql::Connection,
    id: i64,
) -> Result<store::Channel, SchoolError> {
    store::channel(c, id)?.ok_or_else(|| unknown_channel(id))
}

async fn create_channel(
    State(s): State<SchoolState>,
    CurrentUser(u): CurrentUser,
    body: Bytes,
) -> R<Response> {
    access::require_teach(&u, "creating a channel")?;
    let o = input::object(&body)?;
    let name = input::string(&o, "name", 100)?;
    let description = input::opt_string(&o, "description", 2000)?.unwrap_or_default();
    let village = if u.role.is_county_wide() {
        None
    } else {
        u.village_id
    };
    let id = tx(&s.0, move |c| {
        Ok(store::create_channel(
            c,
            &name,
            &description,
            village,
            u.id,
        )?)
    })
    .await?;
    Ok((StatusCode::CREATED, Json(json!({"id": id}))).into_response())
}

async fn list_channels(
    State(s): State<SchoolState>,
    CurrentUser(u): CurrentUser,
) -> R<Json<Value>> {
    access::require_use(&u)?;
    let list = db(&s.0, |c| Ok(store::channels(c, 500)?)).await?;
    Ok(Json(json!({ "channels": list })))
}

async fn get_channel(
    State(s): State<SchoolState>,
    CurrentUser(u): CurrentUser,
    Path(id): Path<i64>,
) -> R<Json<Value>> {
    access::require_use(&u)?;
    let (ch, files) = db(&s.0, move |c| {
        let ch = channel_or_404(c, id)?;
        let files = store::files(c, id, store::MAX_LIST)?;
        Ok((ch, files))
    })
    .await?;
    let files: Vec<Value> = files
        .iter()
        .map(|f| json!({"name": f.name, "sha256": f.sha256, "size": f.size, "topic": f.topic, "kind": f.kind}))
        .collect();
    Ok(Json(json!({
        "id": ch.id,
        "name": ch.name,
        "description": ch.description,
        "version": ch.version,
        "files": files,
    })))
}

/// `POST /api/school/channels/{id}/files?name=FILE[&sha256=HEX][&topic=T][&kind=K]`
/// with the file as the raw body. The body is streamed to a temporary file
/// and hashed; a `sha256` (query or `X-Content-SHA256`) that does not match
/// answers 400 and nothing is kept.
async fn upload(
    State(s): State<SchoolState>,
    CurrentUser(u): CurrentUser,
    Path(id): Path<i64>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Body,
) -> R<Response> {
    // Who may add is checked before anything else (the query, the body) is read.
    let user: User = u.clone();
    db(&s.0, move |c| {
        let ch = channel_or_404(c, id)?;
        access::require_edit(&user, &ch)
    })
    .await?;
    let name = input::file_name(q.get("name").map(String::as_str))?;
    let expected = q
        .get("sha256")
        .cloned()
        .or_else(|| {
            headers
                .get("x-content-sha256")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        })
        .map(|h| h.trim().to_ascii_lowercase());
    if let Some(e) = &expected
        && !content::is_sha(e)
    {
        return Err(SchoolError::invalid(
            "bad_sha256",
            "sha256",
            "sha256 must be 64 hexadecimal characters",
        )
        .into());
    }
    let topic = q
        .get("topic")
        .map(|t| t.trim().to_string())
        .unwrap_or_default();
    if topic.chars().count() > 100 || topic.chars().any(char::is_control) {
        return Err(SchoolError::invalid(
            "bad_topic",
            "topic",
            "a topic has at most 100 characters",
        )
        .into());
    }
    let kind = q
        .get("kind")
        .map(String::as_str)
        .unwrap_or_else(|| guess_kind(&name));
    if !KINDS.contains(&kind) {
        return Err(SchoolError::invalid(
            "bad_kind",
            "kind",
            format!("kind is one of {}", KINDS.join(", ")),
        )
        .into());
    }
    let kind = kind.to_string();

    let (tmp, file) = s.0.content.temp().map_err(SchoolError::from)?;
    let received = receive(body, tmp.clone(), file).await;
    let (sha, size, chunks) = match received {
        Ok(v) => v,
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            return Err(e.into());
        }
    };
    if let Some(e) = expected
        && e != sha
    {
        let _ = std::fs::remove_file(&tmp);
        return Err(SchoolError::invalid(
            "hash_mismatch",
            "sha256",
            format!(
                "the body's SHA-256 is {sha}, not the {e} that was sent with it; nothing was stored"
            ),
        )
        .into());
    }
    let store = s.0.content.clone();
    let sha2 = sha.clone();
    tokio::task::spawn_blocking(move || {
        if store.exists(&sha2) {
            std::fs::remove_file(&tmp)
        } else {
            store.install(&tmp, &sha2).map(|_| ())
        }
    })
    .await
    .map_err(ApiError::internal)?
    .map_err(SchoolError::from)?;
    let entry = FileEntry {
        name,
        sha256: sha.clone(),
        size: size as i64,
        topic,
        kind,
    };
    tx(&s.0, move |c| {
        // Bounded: a published version lists at most MAX_LIST files.
        if store::file_count(c, id)? >= store::MAX_LIST && !store::has_file(c, id, &entry.name)? {
            return Err(SchoolError::invalid(
                "too_many_files",
                "name",
                format!("a channel holds at most {} files", store::MAX_LIST),
            ));
        }
        store::put_blob(c, &entry.sha256, entry.size, &chunks)?;
        store::set_file(c, id, &entry)?;
        Ok(())
    })
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"sha256": sha, "size": size})),
    )
        .into_response())
}

/// Stream `body` into `file`, hashing it; fsync before answering.
async fn receive(
    body: Body,
    path: std::path::PathBuf,
    file: std::fs::File,
) -> Result<(String, u64, Vec<String>), SchoolError> {
    let mut f = tokio::fs::File::from_std(file);
    let mut stream = body.into_data_stream();
    let mut h = Hasher::default();
    let mut size: u64 = 0;
    while let Some(piece) = stream.next().await {
        let piece = piece.map_err(|e| {
            SchoolError::invalid(
                "body_read",
                "body",
                format!("the body could not be read: {e}"),
            )
        })?;
        size = size.saturating_add(piece.len() as u64);
        if size > MAX_FILE {
            return Err(SchoolError::TooLarge(size, MAX_FILE));
        }
        h.update(&piece);
        f.write_all(&piece).await?;
    }
    f.flush().await?;
    f.sync_all().await?;
    drop(f);
    tracing::debug!(path = %path.display(), size, "upload received");
    Ok(h.finish())
}

fn guess_kind(name: &str) -> &'static str {
    let ext = name.rsplit('.').next().unwrap_or("").to_ascii_lowercase();
    match ext.as_str() {
        "mp4" | "webm" | "mkv" => "video",
        "mp3" | "ogg" | "opus" | "m4a" | "wav" => "audio",
        "pdf" => "pdf",
        "html" | "htm" | "zip" => "html5",
        "json" => "exercise",
        "png" | "jpg" | "jpeg" | "webp" | "svg" => "image",
        _ => "file",
    }
}

/// The content type a file is served with, from its kind and name.
pub(crate) fn content_type(name: &str) -> &'static str {
    let ext = name.rsplit('.').next().unwrap_or("").to_ascii_lowercase();
    match ext.as_str() {
        "mp4" => "video/mp4",
        "webm" => "video/webm",
        "mp3" => "audio/mpeg",
        "ogg" | "opus" => "audio/ogg",
        "wav" => "audio/wav",
        "pdf" => "application/pdf",
        "html" | "htm" => "text/html; charset=utf-8",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "svg" => "image/svg+xml",
        "json" => "application/json",
        "txt" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

async fn publish(
    State(s): State<SchoolState>,
    CurrentUser(u): CurrentUser,
    Path(id): Path<i64>,
) -> R<Json<Value>> {
    let version = tx(&s.0, move |c| {
        let ch = channel_or_404(c, id)?;
        access::require_edit(&u, &ch)?;
        store::publish(c, id)?.ok_or_else(|| unknown_channel(id))
    })
    .await?;
    Ok(Json(json!({ "version": version })))
}

/// `GET /api/school/channels/{id}/export`: the latest published version's
/// metadata, gzipped JSON, resumable by Range.
async fn export(
    State(s): State<SchoolState>,
    _reader: Reader,
    Path(id): Path<i64>,
    headers: HeaderMap,
) -> R<Response> {
    let (version, manifest) = db(&s.0, move |c| {
        channel_or_404(c, id)?;
        store::latest_manifest(c, id)?.ok_or_else(|| {
            SchoolError::not_found(
                "unpublished_channel",
                format!("channel {id} has no published version yet"),
            )
        })
    })
    .await?;
    let school = s.0.clone();
    let file = tokio::task::spawn_blocking(move || school.exports.get(id, version, &manifest))
        .await
        .map_err(ApiError::internal)?
        .map_err(SchoolError::from)?;
    Ok(serve::file(
        file.path,
        file.size,
        &file.etag,
        "application/gzip",
        &headers,
    ))
}

fn check_sha(sha: &str) -> Result<(), SchoolError> {
    if content::is_sha(sha) {
        Ok(())
    } else {
        Err(SchoolError::not_found(
            "unknown_content",
            "content is named by a SHA-256 in lower-case hex",
        ))
    }
}

/// `GET /api/school/content/{sha256}`: Range (one range: 206; outside: 416),
/// strong ETag (the hash), immutable caching.
async fn content_file(
    State(s): State<SchoolState>,
    _reader: Reader,
    Path(sha): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> R<Response> {
    check_sha(&sha)?;
    let sha2 = sha.clone();
    let size = db(&s.0, move |c| Ok(store::blob(c, &sha2)?.map(|b| b.0)))
        .await?
        .ok_or_else(|| SchoolError::not_found("unknown_content", format!("no content {sha}")))?;
    let ct = q
        .get("name")
        .map_or("application/octet-stream", |n| content_type(n));
    let mut r = serve::file(
        s.0.content.path(&sha),
        size as u64,
        &format!("\"{sha}\""),
        ct,
        &headers,
    );
    // Uploaded HTML and SVG run in an opaque origin: a lesson's script can
    // never read the viewer's session or act as them.
    let h = r.headers_mut();
    h.insert(
        axum::http::header::X_CONTENT_TYPE_OPTIONS,
        axum::http::HeaderValue::from_static("nosniff"),
    );
    if ct.starts_with("text/html") || ct.starts_with("image/svg") {
        h.insert(
            axum::http::header::CONTENT_SECURITY_POLICY,
            axum::http::HeaderValue::from_static("sandbox allow-scripts"),
        );
    }
    Ok(r)
}

/// `GET /api/school/content/{sha256}/chunks`: the chunk manifest a pull
/// verifies each 1 MiB piece against.
async fn content_chunks(
    State(s): State<SchoolState>,
    _reader: Reader,
    Path(sha): Path<String>,
) -> R<Response> {
    check_sha(&sha)?;
    let sha2 = sha.clone();
    let (size, chunks) = db(&s.0, move |c| Ok(store::blob(c, &sha2)?))
        .await?
        .ok_or_else(|| SchoolError::not_found("unknown_content", format!("no content {sha}")))?;
    let mut r = Json(json!({
        "sha256": sha,
        "size": size,
        "chunk_size": content::CHUNK,
        "chunks": chunks,
    }))
    .into_response();
    r.headers_mut().insert(
        axum::http::header::CACHE_CONTROL,
        axum::http::HeaderValue::from_static("private, max-age=31536000, immutable"),
    );
    Ok(r)
}

/// `GET /api/school/pulls`: recent pulls and their progress.
async fn pulls(State(s): State<SchoolState>, CurrentUser(u): CurrentUser) -> R<Json<Value>> {
    access::require_teach(&u, "viewing pulls")?;
    let list = db(&s.0, |c| Ok(store::pulls(c, 20)?)).await?;
    let list: Vec<Value> = list
        .iter()
        .map(|p| {
            let mut v = serde_json::to_value(p).unwrap_or(Value::Null);
            v["percent"] = json!(p.percent());
            v["eta_secs"] = json!(p.eta_secs());
            v
        })
        .collect();
    Ok(Json(json!({ "pulls": list })))
}
