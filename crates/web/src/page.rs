//! Who is looking at a page: [`PageCtx`] is the signed-in user with the session's
//! CSRF token and language; a visitor without a session is sent to `/login`.
//! [`Visitor`] is the anonymous side (sign-in page, display boards).

use axum::extract::{FromRef, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};

use cunlink_core::auth::User;
use cunlink_core::web::{SESSION_COOKIE, cookie_value};

use crate::i18n::{Fmt, Locale};
use crate::kit::WebKit;

/// Cookie holding the language chosen before signing in.
pub const LANG_COOKIE: &str = "cunlink_lang";

/// A signed-in page request.
#[derive(Clone)]
pub struct PageCtx {
    pub user: User,
    pub csrf: String,
    pub locale: Locale,
    /// Path and query of this page (for "back here" links).
    pub path: String,
    pub kit: WebKit,
}

impl PageCtx {
    pub fn t<'a>(&'a self, key: &'a str) -> &'a str {
        self.kit.t(self.locale, key)
    }

    pub fn fmt(&self) -> Fmt {
        Fmt {
            locale: self.locale,
        }
    }

    /// A form's `csrf` field must match the session's token (compared in
    /// constant time).
    pub fn check_csrf(&self, sent: &str) -> Result<(), PageError> {
        if sent.is_empty() || !cunlink_core::auth::same_secret(sent, &self.csrf) {
            return Err(PageError::Forbidden);
        }
        Ok(())
    }
}

/// Why a page is not shown.
#[derive(Debug)]
pub enum PageError {
    /// Not signed in: go to the sign-in page and come back to `next`.
    SignIn {
        next: String,
    },
    Forbidden,
    NotFound,
    BadRequest(String),
    /// The server failed; the cause is logged with its chain, never shown.
    Internal(Box<dyn std::error::Error + Send + Sync>),
}

impl PageError {
    /// A server failure caused by `e` (an error, or a sentence for the log).
    pub fn internal(e: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        PageError::Internal(e.into())
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let (status, zh, en) = match &self {
            PageError::SignIn { next } => {
                let to = format!("/login?next={}", encode_component(next));
                return Redirect::to(&to).into_response();
            }
            PageError::Forbidden => (
                StatusCode::FORBIDDEN,
                "没有权限查看此页。",
                "You may not see this page.",
            ),
            PageError::NotFound => (StatusCode::NOT_FOUND, "没有这个页面。", "No such page."),
            PageError::BadRequest(_) => (
                StatusCode::BAD_REQUEST,
                "输入有误，请返回修改。",
                "Something in the form is wrong; go back and correct it.",
            ),
            PageError::Internal(e) => {
                let chain = cunlink_core::error::error_chain(e.as_ref());
                tracing::error!(error = %chain, "page failed");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "服务器出错，请稍后再试。",
                    "Server error; try again shortly.",
                )
            }
        };
        let detail = match &self {
            PageError::BadRequest(m) => format!("<p>{}</p>", escape(m)),
            _ => String::new(),
        };
        let body = format!(
            "<!doctype html><html lang=zh-CN><meta charset=utf-8><meta name=viewport content=\"width=device-width,initial-scale=1\"><title>{}</title><link rel=stylesheet href=\"{}\"><main class=wrap><h1>{zh}</h1><p>{en}</p>{detail}<p><a class=btn href=\"/\">首页 Home</a></p></main></html>",
            status.as_u16(),
            crate::assets::url("app.css"),
        );
        (status, Html(body)).into_response()
    }
}

impl From<cunlink_core::DbError> for PageError {
    fn from(e: cunlink_core::DbError) -> Self {
        PageError::internal(e)
    }
}

impl<S> FromRequestParts<S> for PageCtx
where
    WebKit: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let kit = WebKit::from_ref(state);
        let path = parts
            .uri
            .path_and_query()
            .map(|p| p.as_str().to_string())
            .unwrap_or_else(|| "/".into());
        let sign_in = || PageError::SignIn { next: path.clone() };
        let cookie = cookie_value(&parts.headers, SESSION_COOKIE).ok_or_else(sign_in)?;
        let (user, csrf) = kit
            .auth()
            .user_by_session(&cookie)
            .await?
            .ok_or_else(sign_in)?;
        let locale = Locale::parse(&user.locale).unwrap_or_default();
        Ok(PageCtx {
            user,
            csrf,
            locale,
            path,
            kit,
        })
    }
}

/// An anonymous request: its language comes from the `cunlink_lang` cookie,
/// else from `Accept-Language`, else zh-CN.
pub struct Visitor {
    pub locale: Locale,
}

impl<S: Send + Sync> FromRequestParts<S> for Visitor {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let from_cookie = cookie_value(&parts.headers, LANG_COOKIE).and_then(|c| Locale::parse(&c));
        let from_header = || {
            parts
                .headers
                .get(header::ACCEPT_LANGUAGE)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.split(',').next())
                .and_then(|first| Locale::parse(first.split(';').next().unwrap_or("")))
        };
        Ok(Visitor {
            locale: from_cookie.or_else(from_header).unwrap_or_default(),
        })
    }
}

/// HTML-escape text for the few places that build HTML by hand.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Percent-encode a URL query component.
pub fn encode_component(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~/".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The longest redirect target kept; longer ones fall back to `/`.
const MAX_NEXT: usize = 2048;

/// The one check for a redirect target that came from the client (`next=` on
/// `/login` and `/lang/{code}`): the value is returned only if a browser would
/// read it as a path on this site, else `/`.
///
/// Browsers normalise a `Location` before resolving it (WHATWG URL parsing): they
/// drop leading and trailing control characters and spaces, remove tabs and
/// newlines anywhere, and read `\` as `/`. So `/\t/evil.example` and
/// `/\evil.example` both become `//evil.example`, another host. Rather than
/// re-implement that normalisation and hope it matches every browser, anything
/// it would change is refused: control characters, whitespace and backslashes
/// anywhere. What is left must start with one `/` (not `//`, so no authority and
/// no scheme). Non-ASCII characters are percent-encoded, as a browser would, so
/// the value is a valid header.
pub fn safe_next(next: Option<&str>) -> String {
    let Some(n) = next else {
        return "/".into();
    };
    let hostile = |c: char| c.is_control() || c.is_whitespace() || c == '\\';
    if n.len() > MAX_NEXT || !n.starts_with('/') || n.starts_with("//") || n.chars().any(hostile) {
        return "/".into();
    }
    let mut out = String::with_capacity(n.len());
    for c in n.chars() {
        if c.is_ascii() {
            out.push(c);
        } else {
            let mut buf = [0u8; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                out.push_str(&format!("%{b:02X}"));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::safe_next;

    #[test]
    fn hostile_targets_fall_back_to_the_root() {
        for bad in [
            "//evil.example",
            "/\\evil.example",
            "\\/evil.example",
            "/\t/evil.example",
            "/\n/evil.example",
            "/\r\n/evil.example",
            "/ /evil.example",
            " //evil.example",
            "https://evil.example",
            "javascript:alert(1)",
            "evil.example",
            "/\u{7f}/evil",
            "/\u{85}/evil",
            "/\u{3000}/evil",
            "",
        ] {
            assert_eq!(safe_next(Some(bad)), "/", "{bad:?}");
        }
        assert_eq!(safe_next(None), "/");
        assert_eq!(safe_next(Some(&format!("/{}", "a".repeat(3000)))), "/");
    }

    #[test]
    fn site_paths_are_kept() {
        for good in [
            "/",
            "/farm/herd",
            "/market?ok=1&x=%2F%2F",
            "/alarms/7#c",
            "/a/.//b",
        ] {
            assert_eq!(safe_next(Some(good)), good);
        }
        assert_eq!(
            safe_next(Some("/farm/devices/探头")),
            "/farm/devices/%E6%8E%A2%E5%A4%B4"
        );
    }
}
