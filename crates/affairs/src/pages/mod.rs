//! The 村务 tab's pages: notices (`/affairs`), accounts, feedback, votes.
//! Large type and few taps; every form posts to a page route that builds the
//! same JSON object the API takes and calls the same [`Affairs`] method, so a
//! page cannot accept what the API refuses. After a POST the page redirects
//! back with a short message (PRG).

mod accounts;
mod feedback;
mod notices;
mod votes;

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::FromRef;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use cunlink_core::routes::Routes;
use cunlink_web::page::encode_component;
use cunlink_web::{PageCtx, PageError, WebKit};
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::{Affairs, AffairsError, access};

/// The affairs tab's home: the notices.
pub(crate) const HOME: &str = "/affairs";
/// `{"count": N}`: the caller's unread notices, for the tab's badge.
pub(crate) const UNREAD: &str = "/affairs/unread";

#[derive(Clone)]
pub(crate) struct St {
    pub a: Arc<Affairs>,
    pub kit: WebKit,
}

impl FromRef<St> for WebKit {
    fn from_ref(s: &St) -> WebKit {
        s.kit.clone()
    }
}

pub(crate) fn routes(a: Arc<Affairs>, kit: WebKit) -> Routes {
    Routes::new()
        .route(HOME, get(notices::page).post(notices::create))
        .route("/affairs/notices/list", get(notices::list))
        .route(UNREAD, get(notices::unread))
        .route("/affairs/notices/{id}", get(notices::detail))
        .route("/affairs/notices/{id}/read", post(notices::read))
        .route("/affairs/accounts", get(accounts::page).post(accounts::add))
        .route("/affairs/accounts/{id}/approve", post(accounts::approve))
        .route("/affairs/accounts/{id}/ask", post(accounts::ask))
        .route("/affairs/accounts/publish", post(accounts::publish))
        .route(
            "/affairs/feedback",
            get(feedback::page).post(feedback::report),
        )
        .route("/affairs/feedback/{id}/{action}", post(feedback::act))
        .route("/affairs/votes", get(votes::page).post(votes::create))
        .route("/affairs/votes/{id}/ballot", post(votes::ballot))
        .with_state(St { a, kit })
}

/// `?ok=` / `?err=` after a redirect.
#[derive(Deserialize, Default)]
pub(crate) struct Flash {
    pub ok: Option<String>,
    /// A refusal of the input or the object's state (not of access: those
    /// answer 403/404 like the API).
    pub warn: Option<String>,
}

/// Back to `to` with a message for the user.
pub(crate) fn back(to: &str, ok: bool, msg: &str) -> Response {
    let sep = if to.contains('?') { '&' } else { '?' };
    let key = if ok { "ok" } else { "warn" };
    Redirect::to(&format!("{to}{sep}{key}={}", encode_component(msg))).into_response()
}

/// A refusal as a message on the page; access refusals answer 403/404 as
/// the API does, and storage failures stay page errors.
pub(crate) fn refusal(e: AffairsError) -> Result<String, PageError> {
    match e {
        AffairsError::Db(_) => Err(PageError::internal(e)),
        AffairsError::Forbidden(_) => Err(PageError::Forbidden),
        AffairsError::NotFound { .. } => Err(PageError::NotFound),
        other => Ok(other.to_string()),
    }
}

/// The signed-in user may use affairs pages.
pub(crate) fn gate(ctx: &PageCtx) -> Result<(), PageError> {
    if access::can_use(&ctx.user) {
        Ok(())
    } else {
        Err(PageError::Forbidden)
    }
}

/// A form as the JSON object the API takes: empty fields left out, `csrf`
/// checked and dropped.
pub(crate) fn form_obj(
    ctx: &PageCtx,
    f: &HashMap<String, String>,
) -> Result<Map<String, Value>, PageError> {
    ctx.check_csrf(f.get("csrf").map(String::as_str).unwrap_or(""))?;
    Ok(f.iter()
        .filter(|(k, v)| k.as_str() != "csrf" && !v.trim().is_empty())
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect())
}

/// Money for people: fen as yuan with two decimals.
pub(crate) fn yuan(fen: i64) -> String {
    let sign = if fen < 0 { "-" } else { "" };
    format!("{sign}{}.{:02}", (fen / 100).abs(), (fen % 100).abs())
}

/// "12.50" → 1250 fen; None when it is not a positive amount with at most
/// two decimals (or too large for i64).
pub(crate) fn parse_yuan(s: &str) -> Option<i64> {
    let s = s.trim();
    let (whole, frac) = s.split_once('.').unwrap_or((s, ""));
    if whole.is_empty()
        || frac.len() > 2
        || !whole
            .bytes()
            .chain(frac.bytes())
            .all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let w: i64 = whole.parse().ok()?;
    let f: i64 = format!("{frac:0<2}").parse().ok()?;
    w.checked_mul(100)?.checked_add(f)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yuan_both_ways() {
        assert_eq!(parse_yuan("12.5"), Some(1250));
        assert_eq!(parse_yuan("3"), Some(300));
        assert_eq!(parse_yuan("1.234"), None);
        assert_eq!(parse_yuan("-1"), None);
        assert_eq!(parse_yuan("99999999999999999999"), None);
        assert_eq!(yuan(1250), "12.50");
    }
}
