//! The app shell in a real browser (`tests/browser/shell.mjs`): every role sees
//! exactly its domain tabs, a tab opens its domain's home and is marked current,
//! the domain's sub-pages are one tap away, the tab bar sits at the bottom of a
//! phone without covering the page and at the side of a wide screen; budgets and
//! screenshots of each role's pages at 360 and 1280 px. Needs `npm ci` in
//! tests/browser and Debian's chromium (`./test` installs both).

#[path = "api/common.rs"]
#[allow(dead_code)]
mod common;
#[path = "support/browser.rs"]
#[allow(dead_code)]
mod support;

use cunlink_core::auth::Role;

use common::spawn_app;
use support::run_script;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_role_sees_its_tabs_in_a_real_browser() {
    support::tools();
    let app = spawn_app().await;
    // Something on the overview and a station for the operator's page.
    app.device(serde_json::json!({"name": "棚内探头", "type": "air-probe", "asset": "一号大棚", "asset_kind": "greenhouse", "village": "茶香村"}))
        .await;
    let server = app.server.as_ref().unwrap();
    server
        .market
        .db
        .call(|c| cunlink_market::access::create_station(c, "茶香村", "茶香村服务站"))
        .await
        .unwrap();
    let village = Some("茶香村");
    let mut sessions = vec![("admin", app.session("admin", "admin-password").await)];
    for (name, role, village) in [
        ("county_staff", Role::CountyStaff, None),
        ("farmer", Role::Farmer, village),
        ("station_operator", Role::StationOperator, village),
        ("buyer", Role::Buyer, None),
        ("doctor", Role::Doctor, village),
        ("teacher", Role::Teacher, village),
        ("villager", Role::Villager, village),
        ("village_official", Role::VillageOfficial, village),
    ] {
        app.user(name, role, village).await;
        sessions.push((name, app.session(name, "a-password").await));
    }
    // role=cookie value, one per line, in the order above.
    let cookies = sessions
        .iter()
        .map(|(r, c)| format!("{r}={}", c.trim_start_matches("cunlink_session=")))
        .collect::<Vec<_>>()
        .join("\n");
    let envs = [
        ("BASE", format!("http://{}", app.http)),
        ("SESSIONS", cookies),
    ];
    run_script("shell.mjs", &envs, |_| async {}).await;
}
