//! Learning statements: every learning event (a quiz answered, a lesson or a
//! SCORM package completed) is a row with its own UUID, stored here first and
//! sent to the upstream when the link allows (`school.upstream`). The
//! upstream stores each UUID once (`INSERT OR IGNORE`), so a resend after a
//! lost answer changes nothing, and the county counts completion across its
//! schools (`GET /api/school/statements`).

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::routing::get;
use bytes::Bytes;
use serde_json::{Value, json};

use cunlink_core::auth::User;
use cunlink_core::routes::Routes;
use cunlink_core::web::CurrentUser;

use crate::course_store::{self as cs, Course, Item, Statement};
use crate::error::SchoolError;
use crate::routes::{R, SchoolState, db, tx};
use crate::{School, access, input};

/// Most statements in one upload.
const MAX_BATCH: usize = 1000;

pub fn new_uuid() -> String {
    let mut b = [0u8; 16];
    cunlink_core::random::fill(&mut b);
    uuid_text(b, 0x40)
}

/// A UUID (version-5 shaped, from SHA-256) that is the same every time for
/// `key`: a statement that must be counted once gets the same id each time.
pub fn derived_uuid(key: &str) -> String {
    use sha2::{Digest, Sha256};
    let d = Sha256::digest(key.as_bytes());
    let mut b = [0u8; 16];
    b.copy_from_slice(&d[..16]);
    uuid_text(b, 0x50)
}

/// `b` as a UUID's text with its `version` nibble and the RFC 4122 variant set.
fn uuid_text(mut b: [u8; 16], version: u8) -> String {
    b[6] = (b[6] & 0x0f) | version;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = crate::content::hex(&b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

pub fn is_uuid(s: &str) -> bool {
    s.len() == 36
        && s.char_indices().all(|(i, c)| {
            if matches!(i, 8 | 13 | 18 | 23) {
                c == '-'
            } else {
                c.is_ascii_hexdigit()
            }
        })
}

/// Store a `completed` statement for `item`; true when new.
pub fn completed(
    c: &cunlink_core::sql::Connection,
    u: &User,
    course: &Course,
    item: &Item,
    uuid: &str,
    score: Option<(i64, i64)>,
) -> Result<bool, SchoolError> {
    Ok(cs::put_statement(
        c,
        &Statement {
            uuid: uuid.to_string(),
            node: String::new(),
            actor: u.username.clone(),
            user_id: Some(u.id),
            course_id: Some(course.id),
            item_id: Some(item.id),
            verb: "completed".into(),
            score: score.map(|s| s.0),
            max_score: score.map(|s| s.1),
            detail: format!("{}: {}", course.title, item.title),
            at: cunlink_core::time::now_ms(),
        },
    )?)
}

pub(crate) fn routes() -> Routes<SchoolState> {
    Routes::new().route("/api/school/statements", get(counts).post(intake))
}

/// `POST /api/school/statements` `{"statements": [...]}` from a school's
/// node (its caller names the node: their village, else their username).
async fn intake(
    State(s): State<SchoolState>,
    CurrentUser(u): CurrentUser,
    body: Bytes,
) -> R<Json<Value>> {
    access::require_teach(&u, "sending learning statements")?;
    let o = input::object(&body)?;
    let list = o
        .get("statements")
        .and_then(Value::as_array)
        .filter(|a| a.len() <= MAX_BATCH)
        .cloned()
        .ok_or_else(|| {
            SchoolError::invalid(
                "missing_field",
                "statements",
                format!("statements is a list of at most {MAX_BATCH}"),
            )
        })?;
    let node = u.village.clone().unwrap_or_else(|| u.username.clone());
    let mut parsed = Vec::with_capacity(list.len());
    for (i, v) in list.into_iter().enumerate() {
        let mut st: Statement = serde_json::from_value(v).map_err(|e| {
            SchoolError::invalid("bad_statement", format!("statements[{i}]"), e.to_string())
        })?;
        if !is_uuid(&st.uuid) {
            return Err(SchoolError::invalid(
                "bad_uuid",
                format!("statements[{i}].uuid"),
                "not a UUID",
            )
            .into());
        }
        if st.actor.len() > 64 || st.verb.len() > 32 || st.detail.len() > 500 {
            return Err(SchoolError::invalid(
                "too_long",
                format!("statements[{i}]"),
                "actor ≤ 64, verb ≤ 32, detail ≤ 500 bytes",
            )
            .into());
        }
        // Ids of the sending node mean nothing here.
        st.uuid = st.uuid.to_ascii_lowercase();
        st.node = node.clone();
        st.user_id = None;
        st.course_id = None;
        st.item_id = None;
        parsed.push(st);
    }
    let received = parsed.len();
    let applied = tx(&s.0, move |c| {
        let mut n = 0;
        for st in &parsed {
            if cs::put_statement(c, st)? {
                n += 1;
            }
        }
        Ok(n)
    })
    .await?;
    Ok(Json(json!({"received": received, "applied": applied})))
}

/// `GET /api/school/statements`: counts by node and verb.
async fn counts(State(s): State<SchoolState>, CurrentUser(u): CurrentUser) -> R<Json<Value>> {
    access::require_teach(&u, "viewing learning statements")?;
    let rows = db(&s.0, |c| Ok(cs::statement_counts(c)?)).await?;
    let rows: Vec<Value> = rows
        .into_iter()
        .map(|(node, verb, n)| json!({"node": node, "verb": verb, "count": n}))
        .collect();
    Ok(Json(json!({"counts": rows})))
}

/// Send statements made here to the upstream, every 30 s while configured.
pub fn spawn_sender(school: Arc<School>, mut shutdown: tokio::sync::watch::Receiver<bool>) {
    let (Some(url), Some(token)) = (
        school.settings.upstream.clone(),
        school.settings.upstream_token.clone(),
    ) else {
        return;
    };
    tokio::spawn(async move {
        // A village node's statements go up with the node sync (its outbox).
        let node = school
            .db
            .call(|c| cunlink_core::sync::node_self(c).map_err(cunlink_core::DbError::from))
            .await;
        if !matches!(node, Ok(None)) {
            return;
        }
        loop {
            if let Err(e) = send_once(&school, &url, &token).await {
                tracing::info!(error = %e, "school: statements not sent yet");
            }
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs(30)) => {}
                _ = school.statements_wake.notified() => {}
                _ = shutdown.changed() => return,
            }
        }
    });
}

/// One round: send what is unsent, mark it sent on a 2xx. Returns how many.
pub async fn send_once(school: &School, url: &str, token: &str) -> Result<usize, String> {
    let mut src = crate::pull::http::HttpSource::new(url, token).map_err(|e| e.to_string())?;
    let mut sent = 0;
    loop {
        let batch = school
            .db
            .call(|c| cs::unsent(c, 500).map_err(cunlink_core::DbError::from))
            .await
            .map_err(|e| e.to_string())?;
        if batch.is_empty() {
            return Ok(sent);
        }
        let body = serde_json::to_vec(&json!({"statements": batch})).map_err(|e| e.to_string())?;
        let status = src
            .post_json("/api/school/statements", body)
            .await
            .map_err(|e| e.to_string())?;
        if !status.is_success() {
            return Err(format!("upstream answered {status}"));
        }
        let uuids: Vec<String> = batch.into_iter().map(|s| s.uuid).collect();
        sent += uuids.len();
        school
            .db
            .call(move |c| cs::mark_sent(c, &uuids).map_err(cunlink_core::DbError::from))
            .await
            .map_err(|e| e.to_string())?;
    }
}
