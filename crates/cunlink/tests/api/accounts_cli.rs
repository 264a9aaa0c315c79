//! Taking credentials away: `cunlink user disable` / `revoke-tokens` run as a
//! separate process against a data directory a server is using, and the admin
//! page's buttons. Afterwards the user's bearer tokens and sessions get 401 on
//! the very next request, although the server had them cached.

use crate::common::{TestApp, request, spawn_app};
use crate::web_auth::{field, form_login, session_of};
use cunlink_core::auth::Role;

/// Run the real binary; (exit ok, stderr).
pub async fn cunlink(args: &[&str]) -> (bool, String) {
    // The same database as the server whose `--data-dir` is given.
    // (A data directory that does not exist stays a plain path: the command
    // must refuse it on either backend.)
    let cmd = match args
        .iter()
        .position(|a| *a == "--data-dir")
        .and_then(|i| args.get(i + 1))
    {
        Some(dir) if std::path::Path::new(dir).exists() => {
            crate::common::cunlink_cmd(std::path::Path::new(dir))
        }
        _ => std::process::Command::new(crate::common::cunlink_bin()),
    };
    let out = tokio::process::Command::from(cmd)
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .await
        .expect("run cunlink");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

async fn api_session(app: &TestApp, user: &str) -> String {
    let r = app.api_login(user, "a-password").await;
    assert_eq!(r.status, 200, "{}", r.text());
    session_of(&r)
}

/// `GET /api/me` with a bearer token, and with a session cookie.
async fn me(app: &TestApp, token: &str, cookie: &str) -> (u16, u16) {
    let by_token = app.get("/api/me", token).await.status;
    let by_cookie = request(app.http, "GET", "/api/me", &[("cookie", cookie)], vec![])
        .await
        .status;
    (by_token, by_cookie)
}

#[tokio::test]
async fn cli_disable_and_revoke_tokens_take_effect_on_a_running_server() {
    let app = spawn_app().await;
    let token = app.user("ann", Role::Farmer, Some("茶香村")).await;
    let cookie = api_session(&app, "ann").await;
    let dir = app.dir.0.to_str().unwrap().to_string();
    // Both credentials work, and are now in the server's credential cache.
    assert_eq!(me(&app, &token, &cookie).await, (200, 200));

    let (ok, err) = cunlink(&["user", "disable", "--data-dir", &dir, "--username", "ann"]).await;
    assert!(ok, "{err}");
    assert_eq!(
        me(&app, &token, &cookie).await,
        (401, 401),
        "disabled in another process"
    );
    let r = app.api_login("ann", "a-password").await;
    assert_eq!(r.status, 401, "a disabled user cannot sign in");

    let (ok, err) = cunlink(&["user", "enable", "--data-dir", &dir, "--username", "ann"]).await;
    assert!(ok, "{err}");
    assert_eq!(
        app.get("/api/me", &token).await.status,
        200,
        "enabled again: the token works"
    );
    let cookie = api_session(&app, "ann").await;
    assert_eq!(me(&app, &token, &cookie).await, (200, 200));

    let (ok, err) = cunlink(&[
        "user",
        "revoke-tokens",
        "--data-dir",
        &dir,
        "--username",
        "ann",
    ])
    .await;
    assert!(ok, "{err}");
    assert!(
        err.contains("revoked 1 API tokens and ended 1 sessions"),
        "{err}"
    );
    assert_eq!(
        me(&app, &token, &cookie).await,
        (401, 401),
        "revoked in another process"
    );

    // Mistakes are refused with a message and a failing exit status.
    let (ok, err) = cunlink(&[
        "user",
        "disable",
        "--data-dir",
        &dir,
        "--username",
        "nobody",
    ])
    .await;
    assert!(!ok && err.contains("no user named 'nobody'"), "{err}");
    let (ok, err) = cunlink(&[
        "user",
        "disable",
        "--data-dir",
        "/nonexistent/cunlink",
        "--username",
        "ann",
    ])
    .await;
    assert!(!ok && err.contains("no cunlink.db"), "{err}");
}

#[tokio::test]
async fn admin_page_disables_enables_and_revokes_with_csrf() {
    let app = spawn_app().await;
    let bob = app.user("bob", Role::Farmer, Some("茶香村")).await;
    let staff = app.user("staff", Role::CountyStaff, None).await;
    assert_eq!(app.get("/api/me", &bob).await.status, 200);
    let admin = session_of(&form_login(&app, "admin", "admin-password", None).await);
    let page = request(
        app.http,
        "GET",
        "/admin/users",
        &[("cookie", &admin)],
        vec![],
    )
    .await;
    assert_eq!(page.status, 200);
    let html = page.text();
    assert!(
        html.contains("action=\"/admin/users/action\""),
        "the users table has its buttons"
    );
    let csrf = field(&html, "csrf");
    let post = |body: String| {
        let admin = admin.clone();
        let http = app.http;
        async move {
            request(
                http,
                "POST",
                "/admin/users/action",
                &[
                    ("cookie", &admin),
                    ("content-type", "application/x-www-form-urlencoded"),
                ],
                body.into_bytes(),
            )
            .await
        }
    };
    let r = post("username=bob&action=disable".into()).await;
    assert_eq!(r.status, 403, "no CSRF token");
    assert_eq!(
        app.get("/api/me", &bob).await.status,
        200,
        "nothing changed"
    );
    let r = post(format!(
        "username=bob&action=disable&csrf={}",
        "x".repeat(csrf.len())
    ))
    .await;
    assert_eq!(r.status, 403, "wrong CSRF token");

    let r = post(format!("username=bob&action=disable&csrf={csrf}")).await;
    assert_eq!(r.status, 303, "{}", r.text());
    assert_eq!(app.get("/api/me", &bob).await.status, 401);
    let page = request(
        app.http,
        "GET",
        "/admin/users?done=disabled",
        &[("cookie", &admin)],
        vec![],
    )
    .await;
    assert!(
        page.text().contains("value=\"enable\""),
        "bob is shown disabled, with Enable"
    );

    let r = post(format!("username=bob&action=enable&csrf={csrf}")).await;
    assert_eq!(r.status, 303);
    assert_eq!(app.get("/api/me", &bob).await.status, 200);

    let r = post(format!("username=bob&action=revoke_tokens&csrf={csrf}")).await;
    assert_eq!(r.status, 303);
    assert_eq!(app.get("/api/me", &bob).await.status, 401);

    // Nobody disables themselves, and county staff cannot touch administrators.
    let r = post(format!("username=admin&action=disable&csrf={csrf}")).await;
    assert_eq!(r.status, 403);
    assert_eq!(app.get("/api/me", &app.admin_token).await.status, 200);
    let staff_session = session_of(&form_login(&app, "staff", "a-password", None).await);
    let staff_page = request(
        app.http,
        "GET",
        "/admin/users",
        &[("cookie", &staff_session)],
        vec![],
    )
    .await;
    let staff_csrf = field(&staff_page.text(), "csrf");
    let r = request(
        app.http,
        "POST",
        "/admin/users/action",
        &[
            ("cookie", &staff_session),
            ("content-type", "application/x-www-form-urlencoded"),
        ],
        format!("username=admin&action=disable&csrf={staff_csrf}").into_bytes(),
    )
    .await;
    assert_eq!(r.status, 403);
    assert_eq!(app.get("/api/me", &app.admin_token).await.status, 200);
    assert_eq!(app.get("/api/me", &staff).await.status, 200);
}

/// Two creators racing (as on two nodes sharing one database): one account
/// per name, the loser told the name is taken (not a server error), and a
/// new village created once for both.
#[tokio::test]
async fn racing_creators_get_one_account_and_one_village() {
    use cunlink_core::auth::AuthError;
    let app = spawn_app().await;
    let auth = app.server.as_ref().unwrap().auth.clone();
    let run = |name: &'static str| {
        let a = auth.clone();
        tokio::task::spawn_blocking(move || {
            a.create_user_blocking(name, "a-password", Role::Farmer, Some("新建村"))
        })
    };
    let (a, b, c) = tokio::join!(run("twin"), run("twin"), run("other"));
    let (a, b, c) = (
        a.unwrap(),
        b.unwrap(),
        c.unwrap().expect("another name is created"),
    );
    let made = match (a, b) {
        (Ok(u), Err(AuthError::UsernameTaken(n))) | (Err(AuthError::UsernameTaken(n)), Ok(u)) => {
            assert_eq!(n, "twin");
            u
        }
        other => panic!("want one account and one UsernameTaken, got {other:?}"),
    };
    assert!(made.village_id.is_some());
    assert_eq!(made.village_id, c.village_id, "one village, not two");
}
