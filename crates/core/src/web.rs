//! HTTP pieces every domain uses: who is calling ([`CurrentUser`]), and the
//! sign-in API that opens a session cookie.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRef, FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Json;
use crate::routes::Routes;
use serde::Deserialize;

use crate::ApiError;
use crate::auth::limit::Limited;
use crate::auth::{AuthService, LoginOutcome, User, same_secret};

/// Name of the session cookie.
pub const SESSION_COOKIE: &str = "cunlink_session";

/// The authenticated caller: a bearer API token (`Authorization: Bearer …`) or a
/// session cookie. Cookie-authenticated requests that change something must carry
/// the session's CSRF token in `X-CSRF-Token`.
pub struct CurrentUser(pub User);

impl<S> FromRequestParts<S> for CurrentUser
where
    AuthService: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let auth = AuthService::from_ref(state);
        if let Some(value) = parts.headers.get(header::AUTHORIZATION) {
            let token = value
                .to_str()
                .ok()
                .and_then(|v| v.strip_prefix("Bearer "))
                .ok_or_else(|| {
                    ApiError::unauthorized("the Authorization header must be 'Bearer <api token>'")
                })?;
            return match auth.user_by_api_token(token.trim()).await? {
                Some(u) => Ok(CurrentUser(u)),
                None => Err(ApiError::unauthorized(
                    "this API token is unknown or revoked",
                )),
            };
        }
        if let Some(cookie) = cookie_value(&parts.headers, SESSION_COOKIE) {
            let Some((user, csrf)) = auth.user_by_session(&cookie).await? else {
                return Err(ApiError::unauthorized(
                    "your session has expired; sign in again",
                ));
            };
            let safe = matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS);
            let sent = parts
                .headers
                .get("x-csrf-token")
                .and_then(|v| v.to_str().ok());
            if !safe && !sent.is_some_and(|s| same_secret(s, &csrf)) {
                return Err(ApiError::forbidden(
                    "missing or wrong X-CSRF-Token for a session request",
                ));
            }
            return Ok(CurrentUser(user));
        }
        Err(ApiError::unauthorized(
            "sign in, or send 'Authorization: Bearer <api token>'",
        ))
    }
}

/// The value of cookie `name` in the request headers.
pub fn cookie_value(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

/// The address the connection comes from, when the server was started with
/// connect info (`cunlink serve` is). Behind a reverse proxy this is the proxy.
pub struct ClientAddr(pub Option<IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(ClientAddr(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|c| c.0.ip()),
        ))
    }
}

/// The 429 answered when sign-in attempts are throttled.
pub fn too_many_attempts(l: Limited) -> ApiError {
    let mut e = ApiError::new(
        axum::http::StatusCode::TOO_MANY_REQUESTS,
        "too_many_attempts",
        if l.by_account {
            format!(
                "too many sign-in attempts for this account; try again in {} s",
                l.retry_after_s
            )
        } else {
            format!(
                "too many sign-in attempts from your address; try again in {} s",
                l.retry_after_s
            )
        },
    );
    if l.by_account {
        e = e.with_field("username");
    }
    e.retry_after = Some(l.retry_after_s);
    e
}

#[derive(Deserialize)]
struct LoginBody {
    username: String,
    password: String,
}

/// `POST /api/login`, `POST /api/logout`, `GET /api/me`.
pub fn routes(auth: AuthService) -> Routes {
    Routes::new()
        .route("/api/login", post(login))
        .route("/api/logout", post(logout))
        .route("/api/me", get(me))
        .with_state(auth)
}

async fn login(
    State(auth): State<AuthService>,
    ClientAddr(client): ClientAddr,
    Json(body): Json<LoginBody>,
) -> Result<Response, ApiError> {
    let (user, session) = match auth.login(&body.username, &body.password, client).await? {
        LoginOutcome::SignedIn(user, session) => (user, session),
        LoginOutcome::Refused => {
            return Err(ApiError::unauthorized("wrong username or password"));
        }
        LoginOutcome::Limited(l) => return Err(too_many_attempts(l)),
    };
    let max_age = (session.expires_at - crate::time::now_ms()) / 1000;
    let cookie = auth.session_cookie(&session.token, max_age);
    let mut resp = Json(serde_json::json!({ "user": user, "csrf": session.csrf })).into_response();
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        resp.headers_mut().insert(header::SET_COOKIE, v);
    }
    Ok(resp)
}

async fn logout(State(auth): State<AuthService>, headers: HeaderMap) -> Result<Response, ApiError> {
    if let Some(cookie) = cookie_value(&headers, SESSION_COOKIE) {
        auth.logout(&cookie).await?;
    }
    let mut resp = Json(serde_json::json!({ "ok": true })).into_response();
    if let Ok(v) = HeaderValue::from_str(&auth.session_cookie("", 0)) {
        resp.headers_mut().insert(header::SET_COOKIE, v);
    }
    Ok(resp)
}

async fn me(CurrentUser(user): CurrentUser) -> Json<User> {
    Json(user)
}
