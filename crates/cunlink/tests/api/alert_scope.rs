//! Alarm assignment and the rule form's key lookup stay inside the caller's
//! village.

use std::time::Duration;

use serde_json::json;

use crate::common::{TestApp, enc, request, spawn_app};
use crate::settled::alerts_settled;
use cunlink_core::auth::Role;

#[tokio::test]
async fn alarms_are_assigned_only_to_people_who_can_see_them() {
    let app = spawn_app().await;
    let admin = app.admin_token.clone();
    let token = app
        .device(json!({ "name": "土壤-指派", "type": "soil-probe", "village": "茶香村", "asset": "指派田", "asset_kind": "field" }))
        .await;
    let (s, r) = app
        .create_rule(&admin,
            json!({ "name": "干旱", "severity": "major", "target": { "device": "土壤-指派" },
                    "condition": { "type": "threshold", "conditions": [{ "key": "soil_moisture", "op": "<", "value": 20 }] } }),
        )
        .await;
    assert_eq!(s, 201, "{r}");
    let r = app.telemetry(&token, r#"{"soil_moisture":9}"#).await;
    assert_eq!(r.status, 200);
    let a = app
        .alarms_until("status=active", Duration::from_secs(10), |a| !a.is_empty())
        .await;
    let id = a[0]["id"].as_i64().unwrap();
    assert!(
        a[0]["village_id"].as_i64().is_some(),
        "a village's alarm: {a:?}"
    );
    let farmer = app.user("li-tea", Role::Farmer, Some("茶香村")).await;
    app.user("far-away", Role::Farmer, Some("远山村")).await;
    app.user("town-buyer", Role::Buyer, None).await;

    for name in ["far-away", "town-buyer", "nobody-at-all"] {
        let (s, e) = app
            .post_json(
                &format!("/api/alarms/{id}/assign"),
                &farmer,
                json!({ "user": name }),
            )
            .await;
        assert_eq!(
            (s, e["field"].as_str()),
            (400, Some("user")),
            "{name} → {e}"
        );
        assert_eq!(
            e["error"], "unknown_user",
            "{name}: the same answer as for no one"
        );
    }
    let (s, a) = app
        .post_json(
            &format!("/api/alarms/{id}/assign"),
            &farmer,
            json!({ "user": "li-tea" }),
        )
        .await;
    assert_eq!(s, 200, "{a}");
    assert_eq!(a["assignee"], "li-tea");
    let (s, a) = app
        .post_json(
            &format!("/api/alarms/{id}/assign"),
            &admin,
            json!({ "user": "admin" }),
        )
        .await;
    assert_eq!(
        (s, &a["assignee"]),
        (200, &json!("admin")),
        "county staff may take any alarm"
    );
}

/// A signed-in page session for `user` (password "a-password", see `TestApp::user`).
async fn session(app: &TestApp, user: &str) -> String {
    app.session(user, "a-password").await
}

async fn keys(app: &TestApp, cookie: &str, kind: &str, name: &str) -> serde_json::Value {
    let r = request(
        app.http,
        "GET",
        &format!("/rules/keys?kind={kind}&name={}", enc(name)),
        &[("cookie", cookie)],
        vec![],
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()
}

#[tokio::test]
async fn rule_keys_do_not_cross_villages() {
    let app = spawn_app().await;
    let tea = app
        .device(json!({ "name": "土壤-茶", "type": "soil-probe", "village": "茶香村", "asset": "茶园-秘", "asset_kind": "field" }))
        .await;
    let hill = app
        .device(json!({ "name": "土壤-山", "type": "soil-probe", "village": "远山村", "asset": "山地-秘", "asset_kind": "field" }))
        .await;
    for (token, key) in [(&tea, "tea_only_key"), (&hill, "hill_only_key")] {
        let r = app.telemetry(token, json!({ key: 1 }).to_string()).await;
        assert_eq!(r.status, 200);
    }
    alerts_settled(&app).await;
    app.user("tea-farmer", Role::Farmer, Some("茶香村")).await;
    app.user("roving-vet", Role::Doctor, None).await;
    let farmer = session(&app, "tea-farmer").await;
    let vet = session(&app, "roving-vet").await;
    let admin = app.session("admin", "admin-password").await;

    let k = keys(&app, &admin, "profile", "soil-probe").await;
    let all = k["keys"].to_string();
    assert!(
        all.contains("tea_only_key") && all.contains("hill_only_key"),
        "{k}"
    );

    let k = keys(&app, &farmer, "profile", "soil-probe").await;
    assert!(k["keys"].to_string().contains("tea_only_key"), "{k}");
    assert!(!k["keys"].to_string().contains("hill_only_key"), "{k}");
    assert_eq!(k["devices"], 1, "{k}");
    assert_eq!(
        keys(&app, &farmer, "asset", "山地-秘").await["exists"],
        false
    );

    // Belonging to no village is not belonging to all of them.
    let k = keys(&app, &vet, "profile", "soil-probe").await;
    assert!(!k["keys"].to_string().contains("_only_key"), "{k}");
    assert_eq!(k["devices"], 0, "{k}");
    assert_eq!(keys(&app, &vet, "asset", "茶园-秘").await["exists"], false);
}

/// A county-level device's alarm is county-level data: only admins and county
/// staff see or handle it, like the device itself (issue 9, item 2).
#[tokio::test]
async fn a_county_level_devices_alarm_is_hidden_from_village_users() {
    let app = spawn_app().await;
    let admin = app.admin_token.clone();
    let token = app
        .device(json!({ "name": "县级气象站", "type": "air-probe", "county_level": true }))
        .await;
    let (s, r) = app
        .create_rule(&admin,
            json!({ "name": "霜冻", "severity": "major", "target": { "device": "县级气象站" },
                    "condition": { "type": "threshold", "conditions": [{ "key": "temperature", "op": "<", "value": 0 }] } }),
        )
        .await;
    assert_eq!(s, 201, "{r}");
    let r = app.telemetry(&token, r#"{"temperature":-3}"#).await;
    assert_eq!(r.status, 200);
    let a = app
        .alarms_until("status=active", Duration::from_secs(10), |a| !a.is_empty())
        .await;
    let id = a[0]["id"].as_i64().unwrap();
    assert!(a[0]["village_id"].is_null(), "county-level: {a:?}");

    let farmer = app.user("li-tea", Role::Farmer, Some("茶香村")).await;
    let r = app.get(&format!("/api/alarms/{id}"), &farmer).await;
    assert_eq!(r.status, 404, "{}", r.text());
    let (s, e) = app
        .post_json(&format!("/api/alarms/{id}/ack"), &farmer, json!({}))
        .await;
    assert_eq!(s, 404, "{e}");
    let listed = app.get("/api/alarms?status=active", &farmer).await.json();
    assert_eq!(listed, json!([]), "not in the farmer's list");
    let page = app.session("li-tea", "a-password").await;
    let r = request(
        app.http,
        "GET",
        &format!("/alarms/{id}"),
        &[("cookie", &page)],
        vec![],
    )
    .await;
    assert_ne!(r.status, 200, "alarm page: {}", r.text());
    let r = app.get(&format!("/api/alarms/{id}"), &admin).await;
    assert_eq!(r.status, 200, "admins still see it");
}
