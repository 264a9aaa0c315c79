//! `GET /farm/live?d=1,2,3`: committed readings of the listed (or all visible)
//! devices as server-sent events, for pages to update without a reload.
//! Each `reading` event is a JSON array of `{"d":device,"k":key,"v":value,"t":ms}`.

use std::collections::HashSet;
use std::convert::Infallible;

use axum::extract::{Query, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::BroadcastStream;

use cunlink_web::{PageCtx, PageError};

use super::{PagesState, require_farm};
use crate::telemetry::DeviceId;

/// Most device ids one live stream filters on.
const MAX_WATCHED: usize = 1_000;

#[derive(Deserialize)]
pub(crate) struct LiveQuery {
    d: Option<String>,
}

pub(crate) async fn stream(
    State(s): State<PagesState>,
    ctx: PageCtx,
    Query(q): Query<LiveQuery>,
) -> Result<Response, PageError> {
    require_farm(&ctx.user)?;
    let wanted: Option<HashSet<i64>> = q.d.as_deref().map(|list| {
        // A page watches a screenful of devices; more ids than that are ignored.
        list.split(',')
            .filter_map(|x| x.trim().parse().ok())
            .take(MAX_WATCHED)
            .collect()
    });
    let user = ctx.user.clone();
    let farm = s.farm.clone();
    let rx = farm.telemetry.subscribe();
    let events = BroadcastStream::new(rx).filter_map(move |batch| {
        let batch = batch.ok()?;
        let store = farm.telemetry.store();
        let mut out = Vec::new();
        let mut allowed: Option<(DeviceId, bool)> = None;
        for r in &batch.readings {
            if wanted.as_ref().is_some_and(|w| !w.contains(&r.device.0)) {
                continue;
            }
            let ok = match allowed {
                Some((d, ok)) if d == r.device => ok,
                _ => {
                    let ok = farm
                        .registry
                        .get(r.device)
                        .is_some_and(|d| crate::scope::can_see(&user, d.village_id));
                    allowed = Some((r.device, ok));
                    ok
                }
            };
            if !ok {
                continue;
            }
            let Some(k) = store.keys.name(r.key) else {
                continue;
            };
            out.push(
                serde_json::json!({ "d": r.device.0, "k": k.as_ref(), "v": r.value, "t": r.ts }),
            );
        }
        if out.is_empty() {
            return None;
        }
        Some(Ok::<_, Infallible>(
            Event::default()
                .event("reading")
                .data(serde_json::Value::Array(out).to_string()),
        ))
    });
    Ok(Sse::new(events)
        .keep_alive(KeepAlive::default())
        .into_response())
}
