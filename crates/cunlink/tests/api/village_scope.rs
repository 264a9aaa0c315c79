//! Village boundary on devices and assets: assets are resolved within the
//! caller's village, a device always belongs to a village unless an admin (or
//! county staff) makes it county-level on purpose, and county-level devices are
//! for admins and county staff only.

use serde_json::json;

use crate::common::{enc, request, spawn_app};
use cunlink_core::auth::Role;

#[tokio::test]
async fn a_farmer_cannot_put_a_device_on_another_villages_asset() {
    let app = spawn_app().await;
    let a = app.user("farmer-a", Role::Farmer, Some("甲村")).await;
    let b = app.user("farmer-b", Role::Farmer, Some("乙村")).await;
    let (status, j) = app
        .create_device(&b, json!({ "name": "乙村探头", "asset": "乙村茶园" }))
        .await;
    assert_eq!(status, 201, "{j}");
    let b_village = j["village_id"].clone();
    assert!(b_village.is_i64(), "{j}");

    let (status, j) = app
        .create_device(&a, json!({ "name": "甲村的探头", "asset": "乙村茶园" }))
        .await;
    assert_eq!(
        (status, j["error"].as_str(), j["field"].as_str()),
        (404, Some("unknown_asset"), Some("asset")),
        "{j}"
    );
    // Nothing about the other village is told: not its name, not the asset's id.
    let text = j.to_string();
    assert!(
        !text.contains("乙村探头") && !text.contains("village_id"),
        "{text}"
    );
    assert!(!text.replace("乙村茶园", "").contains("乙村"), "{text}");
    // No device was made: nothing for anyone to find, the admin included.
    let r = app
        .get(
            &format!("/api/devices/{}", enc("甲村的探头")),
            &app.admin_token,
        )
        .await;
    assert_eq!(r.status, 404, "{}", r.text());

    // In its own village the farmer's device lands there, and B cannot see it.
    let (status, j) = app
        .create_device(
            &a,
            json!({ "name": "甲村探头", "asset": "甲村茶园", "village": "乙村" }),
        )
        .await;
    assert_eq!(status, 201, "{j}");
    assert_ne!(
        j["village_id"], b_village,
        "a farmer's `village` is not honoured"
    );
    let r = app
        .get(&format!("/api/devices/{}", enc("甲村探头")), &b)
        .await;
    assert_eq!(r.status, 404);
    // A device without an asset still belongs to the farmer's village.
    let (status, j) = app
        .create_device(&a, json!({ "name": "甲村网关", "gateway": true }))
        .await;
    assert_eq!(status, 201, "{j}");
    assert!(j["village_id"].is_i64(), "{j}");
    let r = app
        .get(&format!("/api/devices/{}", enc("甲村网关")), &b)
        .await;
    assert_eq!(r.status, 404);
}

#[tokio::test]
async fn county_level_devices_are_for_admins_and_county_staff_only() {
    let app = spawn_app().await;
    let farmer = app.user("farmer", Role::Farmer, Some("甲村")).await;
    let villager = app.user("villager", Role::Villager, Some("甲村")).await;
    let staff = app.user("staff", Role::CountyStaff, None).await;
    let admin = app.admin_token.clone();

    // Not by accident: an admin naming no village gets a 400 naming the field…
    let (status, j) = app
        .create_device(&admin, json!({ "name": "县气象站" }))
        .await;
    assert_eq!(
        (status, j["error"].as_str(), j["field"].as_str()),
        (400, Some("village_required"), Some("village")),
        "{j}"
    );
    // …a farmer may not ask for it…
    let (status, j) = app
        .create_device(&farmer, json!({ "name": "县气象站", "county_level": true }))
        .await;
    assert_eq!(
        (status, j["field"].as_str()),
        (403, Some("county_level")),
        "{j}"
    );
    // …and an admin makes one on purpose.
    let (status, j) = app
        .create_device(&admin, json!({ "name": "县气象站", "county_level": true }))
        .await;
    assert_eq!(status, 201, "{j}");
    assert!(j["village_id"].is_null(), "{j}");

    let name = enc("县气象站");
    for who in [&farmer, &villager] {
        for (method, path) in [
            ("GET", format!("/api/devices/{name}")),
            ("GET", format!("/api/devices/{name}/latest")),
            ("GET", format!("/api/devices/{name}/token")),
            ("POST", format!("/api/devices/{name}/token")),
            ("GET", format!("/api/devices/{name}/rpc")),
        ] {
            let auth = format!("Bearer {who}");
            let r = request(app.http, method, &path, &[("authorization", &auth)], vec![]).await;
            assert!(
                r.status == 404 || r.status == 403,
                "{method} {path}: {} {}",
                r.status,
                r.text()
            );
        }
        let (status, j) = app
            .post_json(
                &format!("/api/devices/{name}/rpc"),
                who,
                json!({ "method": "reboot" }),
            )
            .await;
        assert!(status == 404 || status == 403, "rpc: {status} {j}");
        let list = app.get("/api/devices", who).await.json();
        assert_eq!(list, json!([]), "the list leaves it out");
    }
    for who in [&admin, &staff] {
        let r = app.get(&format!("/api/devices/{name}/token"), who).await;
        assert_eq!(r.status, 200, "{}", r.text());
    }
    // County-level and a village at once make no sense.
    let (status, j) = app
        .create_device(
            &admin,
            json!({ "name": "x", "county_level": true, "village": "甲村" }),
        )
        .await;
    assert_eq!(
        (status, j["field"].as_str()),
        (400, Some("county_level")),
        "{j}"
    );
}

#[tokio::test]
async fn a_gateways_devices_live_in_its_village() {
    let app = spawn_app().await;
    let farmer = app.user("farmer", Role::Farmer, Some("甲村")).await;
    let other = app.user("other", Role::Farmer, Some("乙村")).await;
    let (status, j) = app
        .create_device(
            &farmer,
            json!({ "name": "猪舍网关", "gateway": true, "asset": "猪舍", "asset_kind": "barn" }),
        )
        .await;
    assert_eq!(status, 201, "{j}");
    let token = app
        .get(&format!("/api/devices/{}/token", enc("猪舍网关")), &farmer)
        .await
        .json()["token"]
        .as_str()
        .unwrap()
        .to_string();
    let r = app
        .gateway_telemetry(
            &token,
            json!({ "耳标 0001": [{ "temperature": 38.5 }] }).to_string(),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let path = format!("/api/devices/{}", enc("耳标 0001"));
    assert_eq!(app.get(&path, &farmer).await.status, 200);
    assert_eq!(app.get(&path, &other).await.status, 404);
}
