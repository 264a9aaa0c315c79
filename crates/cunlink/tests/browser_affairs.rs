//! Browser test of the 村务 pages (`tests/browser/affairs.mjs`): an urgent
//! notice posted while a villager has /affairs open appears on that page
//! without a reload (the list polls every 3 s with htmx), is marked read
//! there and shows in the official's read receipts; a ballot and a feedback
//! report go through the forms; the accounts page draws its chart; page
//! weight, 360 px checks and screenshots. Needs `npm ci` in tests/browser and
//! Debian's chromium (`./test` installs both).

#[path = "api/common.rs"]
#[allow(dead_code)]
mod common;
#[path = "support/browser.rs"]
#[allow(dead_code)]
mod support;

use cunlink_core::auth::Role;
use serde_json::json;

use common::spawn_app;
use support::run_script;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn affairs_pages_work_in_a_real_browser() {
    support::tools();
    let app = spawn_app().await;
    let off = app.user("zhuren", Role::VillageOfficial, Some("茶香村")).await;
    let off2 = app.user("kuaiji", Role::VillageOfficial, Some("茶香村")).await;
    app.user("li", Role::Villager, Some("茶香村")).await;
    // A published month and an open vote.
    let (s, e) = app
        .post_json(
            "/api/affairs/ledger",
            &off,
            json!({"date": "2026-10-03", "item": "鱼塘承包费", "kind": "income", "amount_fen": 1_200_000, "category": "租金"}),
        )
        .await;
    assert_eq!(s, 201, "{e}");
    let id = e["id"].as_i64().unwrap();
    for t in [&off, &off2] {
        let (s, r) = app
            .post_json(&format!("/api/affairs/ledger/{id}/approve"), t, json!({}))
            .await;
        assert_eq!(s, 200, "{r}");
    }
    let (s, r) = app
        .post_json("/api/affairs/ledger/months/2026-10/publish", &off, json!({}))
        .await;
    assert_eq!(s, 200, "{r}");
    let (s, r) = app
        .post_json(
            "/api/affairs/votes",
            &off,
            json!({"question": "村道先修哪条？", "options": ["东线", "西线"], "closes_at": cunlink_core::time::now_ms() + 86_400_000}),
        )
        .await;
    assert_eq!(s, 201, "{r}");

    let envs = [
        ("BASE", format!("http://{}", app.http)),
        ("VILLAGER", app.session("li", "a-password").await),
        ("OFFICIAL", app.session("zhuren", "a-password").await),
    ];
    run_script("affairs.mjs", &envs, |what| {
        let (app, off) = (&app, off.clone());
        async move {
            assert_eq!(what, "urgent");
            let (s, n) = app
                .post_json(
                    "/api/affairs/notices",
                    &off,
                    json!({"title": "紧急停水", "body": "今天下午两点到五点停水，请提前储水。", "category": "urgent"}),
                )
                .await;
            assert_eq!(s, 201, "{n}");
        }
    })
    .await;
}
