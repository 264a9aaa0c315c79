//! Where `/` takes a signed-in person. The overview at `/` is one domain's page
//! (farm) and not everyone may see it: a buyer who signed in used to land on a
//! 403. The navigation already says who sees what, so a person who may not see
//! the `/` entry is sent to the first entry they do see (a buyer: `/market`).

use axum::extract::{Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};

use cunlink_core::web::{SESSION_COOKIE, cookie_value};

use crate::kit::WebKit;

/// Middleware: `GET /` by a signed-in user who may not see it → their home.
pub async fn landing(State(kit): State<WebKit>, req: Request, next: Next) -> Response {
    // The session lookup is cached; the page below repeats it for free.
    if req.method() == Method::GET
        && req.uri().path() == "/"
        && let Some(cookie) = cookie_value(req.headers(), SESSION_COOKIE)
        && let Ok(Some((user, _))) = kit.auth().user_by_session(&cookie).await
        && let Some(to) = kit.home_for(&user)
    {
        return Redirect::to(to).into_response();
    }
    next.run(req).await
}
