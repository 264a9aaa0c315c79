//! The skeleton domains (clinic, school, village affairs): each is registered,
//! its home page answers its roles with a heading that says what it is, the
//! other roles get 403, and each role's tab bar shows exactly the tabs it may use.

use crate::common::{TestApp, request, spawn_app};
use cunlink_core::auth::Role;

/// (home page, heading in Chinese, a role it is for, a role it is not for).
const HOMES: &[(&str, &str, Role, Role)] = &[
    ("/clinic", "村卫生室", Role::Doctor, Role::Teacher),
    // School is no longer a skeleton (issue 12): its home is the lesson library.
    ("/school", "课程资源库", Role::Teacher, Role::Doctor),
    ("/affairs", "村务公开", Role::Villager, Role::Buyer),
];

async fn page(app: &TestApp, path: &str, cookie: &str) -> (u16, String) {
    let r = request(app.http, "GET", path, &[("cookie", cookie)], Vec::new()).await;
    (r.status, r.text())
}

#[tokio::test]
async fn skeleton_home_pages_answer_their_roles_only() {
    let app = spawn_app().await;
    for (i, (path, heading, allowed, refused)) in HOMES.iter().enumerate() {
        let ok = format!("ok-{i}");
        let no = format!("no-{i}");
        app.user(&ok, *allowed, Some("甲村")).await;
        app.user(&no, *refused, Some("甲村")).await;
        let (status, html) = page(&app, path, &app.session(&ok, "a-password").await).await;
        assert_eq!(status, 200, "{path} as {allowed:?}: {html}");
        assert!(
            html.contains(&format!("<h1>{heading}</h1>")),
            "{path} has no heading {heading}: {html}"
        );
        let (status, html) = page(&app, path, &app.session(&no, "a-password").await).await;
        assert_eq!(status, 403, "{path} as {refused:?}: {html}");
    }
}

#[tokio::test]
async fn skeleton_home_pages_speak_english() {
    let app = spawn_app().await;
    app.user("admin-en", Role::Admin, None).await;
    // A signed-in page speaks the language saved for the user.
    let auth = app.server.as_ref().unwrap().auth.clone();
    let token = app.sign_in("admin-en", "a-password").await.token;
    let (user, _) = auth.user_by_session(&token).await.unwrap().unwrap();
    auth.set_locale(user.id, "en").await.unwrap();
    let cookie = app.session("admin-en", "a-password").await;
    for (path, heading) in [
        ("/clinic", "Village clinic"),
        ("/school", "Lesson library"),
        ("/affairs", "Village affairs"),
    ] {
        let (status, html) = page(&app, path, &cookie).await;
        assert_eq!(status, 200, "{path}: {html}");
        assert!(
            html.contains(&format!("<h1>{heading}</h1>")),
            "{path}: {html}"
        );
    }
}

/// Every role sees the tabs of the domains it may use, and only those.
#[tokio::test]
async fn each_role_sees_the_skeleton_tabs_it_may_use() {
    let app = spawn_app().await;
    for role in Role::ALL {
        let name = format!("tabs-{}", role.as_str());
        app.user(&name, role, Some("甲村")).await;
        let (status, html) = page(&app, "/me", &app.session(&name, "a-password").await).await;
        assert_eq!(status, 200, "{role:?}: {html}");
        for (href, is_for) in [
            (
                "/clinic",
                matches!(
                    role,
                    Role::Doctor | Role::Admin | Role::CountyStaff | Role::Villager
                ),
            ),
            (
                "/school",
                matches!(
                    role,
                    Role::Teacher | Role::Admin | Role::CountyStaff | Role::Villager
                ),
            ),
            ("/affairs", role != Role::Buyer),
        ] {
            assert_eq!(
                html.contains(&format!("href=\"{href}\"")),
                is_for,
                "{role:?} and the {href} tab"
            );
        }
    }
}
