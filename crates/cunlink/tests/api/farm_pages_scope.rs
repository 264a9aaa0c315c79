//! The farm pages keep the same village boundary as the JSON API: a farmer's
//! form cannot claim another village's asset, county-level devices are not shown
//! to village users, and an asset's charts are aggregated from the store.

use serde_json::json;

use crate::common::{TestApp, enc, request, spawn_app};
use cunlink_core::auth::Role;

/// Sign in through the JSON API; (cookie, csrf).
async fn sign_in(app: &TestApp, username: &str) -> (String, String) {
    let r = app.api_login(username, "a-password").await;
    assert_eq!(r.status, 200, "{}", r.text());
    let cookie = r.headers["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    (cookie, r.json()["csrf"].as_str().unwrap().to_string())
}

#[tokio::test]
async fn farm_pages_respect_the_village_boundary() {
    let app = spawn_app().await;
    app.user("farmer-a", Role::Farmer, Some("甲村")).await;
    let b = app.user("farmer-b", Role::Farmer, Some("乙村")).await;
    let (status, j) = app
        .create_device(&b, json!({ "name": "乙村探头", "asset": "乙村茶园" }))
        .await;
    assert_eq!(status, 201, "{j}");
    app.device(json!({ "name": "县气象站", "county_level": true }))
        .await;
    let (cookie, csrf) = sign_in(&app, "farmer-a").await;
    let form = |name: &str, asset: &str| {
        format!(
            "csrf={}&name={}&profile=air-probe&asset={}&asset_kind=field",
            enc(&csrf),
            enc(name),
            enc(asset)
        )
        .into_bytes()
    };
    let post = |body: Vec<u8>| {
        let cookie = cookie.clone();
        let http = app.http;
        async move {
            request(
                http,
                "POST",
                "/farm/devices",
                &[
                    ("cookie", &cookie),
                    ("content-type", "application/x-www-form-urlencoded"),
                ],
                body,
            )
            .await
        }
    };
    let r = post(form("甲村探头", "乙村茶园")).await;
    assert_eq!(r.status, 422, "{}", r.text());
    let admin = app.admin_token.clone();
    assert_eq!(
        app.get(&format!("/api/devices/{}", enc("甲村探头")), &admin)
            .await
            .status,
        404,
        "nothing was created on the other village's asset"
    );
    let r = post(form("甲村探头", "甲村茶园")).await;
    assert_eq!(r.status, 303, "{}", r.text());
    let mine = app
        .get(&format!("/api/devices/{}", enc("甲村探头")), &admin)
        .await
        .json();
    assert!(mine["village_id"].is_i64(), "{mine}");

    let get = |path: String| {
        let cookie = cookie.clone();
        let http = app.http;
        async move { request(http, "GET", &path, &[("cookie", &cookie)], vec![]).await }
    };
    let r = get(format!("/farm/devices/{}", enc("县气象站"))).await;
    assert_eq!(r.status, 404, "a county-level device is not shown");
    let r = get("/farm/devices".to_string()).await;
    assert_eq!(r.status, 200);
    let page = r.text();
    assert!(page.contains("甲村探头"), "own device listed");
    assert!(
        !page.contains("县气象站") && !page.contains("乙村探头"),
        "others' devices are not listed"
    );

    // Charts of the own asset are drawn from the readings.
    let token = app
        .get(&format!("/api/devices/{}/token", enc("甲村探头")), &admin)
        .await
        .json()["token"]
        .as_str()
        .unwrap()
        .to_string();
    let r = app
        .telemetry(&token, json!({ "temperature": 21.5 }).to_string())
        .await;
    assert_eq!(r.status, 200);
    let asset = mine["asset_id"].as_i64().unwrap();
    let r = get(format!("/farm/assets/{asset}/charts?range=7d")).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.text().contains("21.5"), "{}", r.text());
}
