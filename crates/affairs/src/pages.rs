//! `/affairs`: village affairs' home page. For now it says what is coming.

use askama::Template;
use axum::response::Response;
use axum::routing::get;

use cunlink_core::routes::Routes;
use cunlink_web::layout::body;
use cunlink_web::{PageCtx, PageError, PageOpts, WebKit};

/// The affairs tab's home.
pub(crate) const HOME: &str = "/affairs";

pub(crate) fn routes(kit: WebKit) -> Routes {
    Routes::new().route(HOME, get(home)).with_state(kit)
}

#[derive(Template)]
#[template(path = "affairs_home.html")]
struct HomeTpl<'a> {
    t: &'a PageCtx,
}

async fn home(ctx: PageCtx) -> Result<Response, PageError> {
    if !crate::access::can_use(&ctx.user) {
        return Err(PageError::Forbidden);
    }
    let html = body(&HomeTpl { t: &ctx })?;
    Ok(cunlink_web::page(
        &ctx,
        ctx.t("affairs.home.title"),
        &html,
        PageOpts::default(),
    ))
}
