//! `GET /school/classes/{id}/live`: the live-class page. It carries what
//! `sfu.js` needs (join URL, role, ICE servers), so it joins without another
//! round trip before the offer.

use askama::Template;
use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::get;

use cunlink_core::routes::Routes;
use cunlink_web::layout::body;
use cunlink_web::{PageCtx, PageError};

use crate::SchoolError;
use crate::pages::{St, wrap};

pub(crate) fn routes() -> Routes<St> {
    Routes::new().route("/school/classes/{id}/live", get(page))
}

#[derive(Template)]
#[template(path = "live.html")]
struct LiveTpl<'a> {
    t: &'a PageCtx,
    id: i64,
    role: &'static str,
    ice: String,
    sfu_js: &'static str,
}

async fn page(
    State(s): State<St>,
    ctx: PageCtx,
    Path(id): Path<i64>,
) -> Result<Response, PageError> {
    if !crate::access::can_use(&ctx.user) {
        return Err(PageError::Forbidden);
    }
    let uid = ctx.user.id;
    let role = match s.school.db.call(move |c| super::who(c, id, uid)).await {
        Ok(Some((_, role))) => role,
        Ok(None) => return Err(PageError::NotFound),
        Err(SchoolError::Forbidden(_)) => return Err(PageError::Forbidden),
        Err(e) => return Err(PageError::internal(e)),
    };
    let ice = serde_json::to_string(&s.school.live.ice_servers(uid).ice_servers)
        .map_err(PageError::internal)?;
    let html = body(&LiveTpl {
        t: &ctx,
        id,
        role: super::role_name(role),
        ice,
        sfu_js: cunlink_web::assets::url("sfu.js"),
    })?;
    Ok(wrap(&ctx, "school.live.title", &html))
}
