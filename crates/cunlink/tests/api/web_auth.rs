//! Sign-in hardening over real HTTP: redirect targets a browser would read as
//! another site are refused, the sign-in form needs its CSRF token, attempts are
//! throttled per account with a 429 and Retry-After, cookies are `Secure` behind
//! https, and a buyer's `/` is the market.

use serde_json::json;

use crate::common::{Resp, TestApp, request, spawn_app, spawn_app_with};
use cunlink_core::auth::Role;

/// The sign-in form's CSRF cookie (`name=value`) and hidden field.
pub async fn login_form(app: &TestApp) -> (String, String) {
    let r = request(app.http, "GET", "/login", &[], vec![]).await;
    assert_eq!(r.status, 200);
    let cookie = r
        .headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("cunlink_login="))
        .and_then(|v| v.split(';').next())
        .expect("the form sets its CSRF cookie")
        .to_string();
    let csrf = field(&r.text(), "csrf");
    (cookie, csrf)
}

/// The value of hidden field `name` in an HTML page.
pub fn field(html: &str, name: &str) -> String {
    html.split(&format!("name=\"{name}\" value=\""))
        .nth(1)
        .and_then(|r| r.split('"').next())
        .unwrap_or_default()
        .to_string()
}

/// Post the sign-in form as a browser does; `next` is already URL-encoded.
pub async fn form_login(app: &TestApp, user: &str, password: &str, next: Option<&str>) -> Resp {
    let (cookie, csrf) = login_form(app).await;
    let mut body = format!("username={user}&password={password}&csrf={csrf}");
    if let Some(n) = next {
        body.push_str(&format!("&next={n}"));
    }
    request(
        app.http,
        "POST",
        "/login",
        &[
            ("cookie", &cookie),
            ("content-type", "application/x-www-form-urlencoded"),
        ],
        body.into_bytes(),
    )
    .await
}

/// The session cookie (`name=value`) a response sets.
pub fn session_of(r: &Resp) -> String {
    r.headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("cunlink_session=") && !v.starts_with("cunlink_session=;"))
        .and_then(|v| v.split(';').next())
        .unwrap_or_default()
        .to_string()
}

fn location(r: &Resp) -> String {
    r.headers
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string()
}

/// `next` values as they appear URL-encoded in a query or form body; each would
/// take a browser to another site if echoed into `Location`.
const HOSTILE: &[&str] = &[
    "//evil.example",
    "/%5Cevil.example",
    "%5C%5Cevil.example",
    "/%5C/evil.example",
    "/%09/evil.example",
    "%09//evil.example",
    "/%0A/evil.example",
    "/%0D%0A/evil.example",
    "/%0D/evil.example",
    "%20//evil.example",
    "/%20/evil.example",
    "/%E3%80%80/evil.example",
    "%2F%2Fevil.example",
    "https://evil.example",
    "https:evil.example",
    "javascript:alert(1)",
    "/%0D%0ASet-Cookie:%20x=1",
];

/// Same-site targets and the `Location` each must keep.
const GOOD: &[(&str, &str)] = &[
    ("/farm/herd", "/farm/herd"),
    ("/market%3Fok%3D1", "/market?ok=1"),
    ("/alarms/7", "/alarms/7"),
    (
        "/farm/devices/%E6%8E%A2%E5%A4%B4",
        "/farm/devices/%E6%8E%A2%E5%A4%B4",
    ),
];

#[tokio::test]
async fn hostile_next_never_reaches_location_on_lang_or_login() {
    let app = spawn_app().await;
    for next in HOSTILE {
        let r = request(
            app.http,
            "GET",
            &format!("/lang/en?next={next}"),
            &[],
            vec![],
        )
        .await;
        assert_eq!(r.status, 303, "/lang next={next}");
        assert_eq!(location(&r), "/", "/lang next={next}");
        let r = form_login(&app, "admin", "admin-password", Some(next)).await;
        assert_eq!(r.status, 303, "login next={next}: {}", r.text());
        assert_eq!(location(&r), "/", "login next={next}");
        // The form itself does not carry it either.
        let page = request(app.http, "GET", &format!("/login?next={next}"), &[], vec![]).await;
        assert_eq!(field(&page.text(), "next"), "/", "login page next={next}");
    }
    for (next, want) in GOOD {
        let r = request(
            app.http,
            "GET",
            &format!("/lang/en?next={next}"),
            &[],
            vec![],
        )
        .await;
        assert_eq!(location(&r), *want, "/lang next={next}");
        let r = form_login(&app, "admin", "admin-password", Some(next)).await;
        assert_eq!(r.status, 303);
        assert_eq!(location(&r), *want, "login next={next}");
    }
}

#[tokio::test]
async fn the_login_form_needs_its_csrf_cookie_and_field() {
    let app = spawn_app().await;
    let form = ("content-type", "application/x-www-form-urlencoded");
    let body = b"username=admin&password=admin-password".to_vec();
    // A cross-site post: no cookie, no field.
    let r = request(app.http, "POST", "/login", &[form], body.clone()).await;
    assert_eq!(r.status, 403, "{}", r.text());
    assert!(session_of(&r).is_empty(), "no session for a forged sign-in");
    // A cookie but another token in the field.
    let (cookie, csrf) = login_form(&app).await;
    let wrong = format!(
        "username=admin&password=admin-password&csrf={}",
        "x".repeat(csrf.len())
    );
    let r = request(
        app.http,
        "POST",
        "/login",
        &[form, ("cookie", &cookie)],
        wrong.into_bytes(),
    )
    .await;
    assert_eq!(r.status, 403);
    assert!(session_of(&r).is_empty());
    // The form as served works, and the API sign-in for scripts still needs no token.
    let r = form_login(&app, "admin", "admin-password", None).await;
    assert_eq!(r.status, 303);
    assert!(!session_of(&r).is_empty());
    let r = request(
        app.http,
        "POST",
        "/api/login",
        &[("content-type", "application/json")],
        json!({"username": "admin", "password": "admin-password"})
            .to_string()
            .into_bytes(),
    )
    .await;
    assert_eq!(r.status, 200);
}

#[tokio::test]
async fn fast_wrong_passwords_for_one_account_get_429_and_others_still_sign_in() {
    let app = spawn_app().await;
    app.user("ann", Role::Farmer, Some("茶香村")).await;
    app.user("bob", Role::Farmer, Some("茶香村")).await;
    let mut statuses = Vec::new();
    for _ in 0..8 {
        statuses.push(app.api_login("ann", "wrong-password").await.status);
    }
    assert_eq!(&statuses[..5], &[401; 5], "{statuses:?}");
    assert!(statuses[5..].iter().all(|s| *s == 429), "{statuses:?}");
    let r = app.api_login("Ann ", "a-password").await;
    assert_eq!(
        r.status, 429,
        "the right password waits too, whatever the spelling"
    );
    let retry: u32 = r.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry), "Retry-After {retry}");
    let j = r.json();
    assert_eq!(j["error"], "too_many_attempts");
    assert_eq!(j["field"], "username");
    // The page form answers the same way.
    let r = form_login(&app, "ann", "a-password", None).await;
    assert_eq!(r.status, 429);
    assert!(r.headers.contains_key("retry-after"));
    // Another account from the same address is not affected.
    assert_eq!(app.api_login("bob", "a-password").await.status, 200);
    assert_eq!(
        form_login(&app, "bob", "a-password", None).await.status,
        303
    );
}

#[tokio::test]
async fn session_cookies_are_secure_when_the_public_url_is_https() {
    let app = spawn_app().await;
    let r = form_login(&app, "admin", "admin-password", None).await;
    let set: Vec<_> = r
        .headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .collect();
    assert!(set.iter().all(|c| !c.contains("Secure")), "{set:?}");

    let app =
        spawn_app_with(|c| c.public_url = Some("https://cunlink.example.gov.cn".into())).await;
    let r = form_login(&app, "admin", "admin-password", None).await;
    let set: Vec<_> = r
        .headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .collect();
    let session = set
        .iter()
        .find(|c| c.starts_with("cunlink_session="))
        .unwrap();
    assert!(
        session.contains("; Secure") && session.contains("HttpOnly"),
        "{session}"
    );
    let r = app.api_login("admin", "admin-password").await;
    assert!(
        r.headers["set-cookie"]
            .to_str()
            .unwrap()
            .contains("; Secure")
    );
    let r = request(app.http, "GET", "/login", &[], vec![]).await;
    assert!(
        r.headers["set-cookie"]
            .to_str()
            .unwrap()
            .contains("; Secure")
    );
}

#[tokio::test]
async fn a_buyer_who_signs_in_lands_on_the_market() {
    let app = spawn_app().await;
    app.user("buyer", Role::Buyer, Some("县城")).await;
    let r = form_login(&app, "buyer", "a-password", None).await;
    assert_eq!(r.status, 303);
    assert_eq!(location(&r), "/");
    let cookie = session_of(&r);
    let home = request(app.http, "GET", "/", &[("cookie", &cookie)], vec![]).await;
    assert_eq!(home.status, 303, "{}", home.text());
    assert_eq!(location(&home), "/market");
    let market = request(app.http, "GET", "/market", &[("cookie", &cookie)], vec![]).await;
    assert_eq!(market.status, 200);
    // Everyone else keeps the overview.
    let r = form_login(&app, "admin", "admin-password", None).await;
    let home = request(app.http, "GET", "/", &[("cookie", &session_of(&r))], vec![]).await;
    assert_eq!(home.status, 200);
}
