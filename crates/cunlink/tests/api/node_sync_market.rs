//! The market's part of village node sync (issue 15, docs/market.md "Village
//! node"), with the real binaries: a hub (this test's app) and a node (the
//! binary on its own data directory, joined with `cunlink node join`).
//! Every wait polls an observable state with a deadline.

use std::time::{Duration, Instant};

use cunlink_core::auth::Role;
use serde_json::{Value, json};

use crate::common::{TempDir, spawn_app};
use crate::node_sync::{ID_SPAN, NodeProc, hub_until, join};

#[tokio::test]
async fn parcels_scanned_and_online_orders_picked_up_at_the_node_reach_the_hub() {
    let hub = spawn_app().await;
    let village = "茶山村";
    hub.user("op-zhao", Role::StationOperator, Some(village))
        .await;
    let farmer = hub.user("farmer-lin", Role::Farmer, Some(village)).await;
    let buyer = hub.user("buyer-town", Role::Buyer, None).await;
    let staff = hub.user("county-ma", Role::CountyStaff, None).await;
    let (s, st) = hub
        .post_json(
            "/api/market/stations",
            &hub.admin_token,
            json!({ "village": village, "name": "茶山村服务站" }),
        )
        .await;
    assert_eq!(s, 201, "{st}");
    let station = st["id"].as_i64().unwrap();
    let (s, p) = hub
        .post_json(
            "/api/market/products",
            &farmer,
            json!({ "name": "茶山蜂蜜", "unit": "500g", "price_fen": 4500, "stock": 20 }),
        )
        .await;
    assert_eq!(s, 201, "{p}");
    let product = p["id"].as_i64().unwrap();

    let dir = TempDir::new("node-market");
    let hub_url = format!("http://{}", hub.http);
    join(&dir.0, &hub_url, &staff, village).await;
    let node = NodeProc::start(&dir.0, &[("CUNLINK_NODE_DOWN_EVERY_S", "3600")], "op-zhao").await;
    node.status_until(Duration::from_secs(30), "connected", |s| {
        s["connected"] == true && s["last_sync_at"].is_i64()
    })
    .await;

    // An online order on the hub for pickup at the village's station comes
    // down to the node (the test asks for a sync rather than waiting an hour).
    let (s, o) = hub
        .post_json(
            "/api/market/orders",
            &buyer,
            json!({ "items": [{ "product_id": product, "quantity": 3 }], "pickup_station_id": station }),
        )
        .await;
    assert_eq!(s, 201, "{o}");
    let order = o["id"].as_i64().unwrap();
    assert_eq!(node.post("/api/node/sync", json!({})).await.status, 202);
    let until = Instant::now() + Duration::from_secs(30);
    let waiting = loop {
        let r = node.get("/api/market/pickups").await;
        assert_eq!(r.status, 200, "{}", r.text());
        let v = r.json();
        if let Some(w) = v
            .as_array()
            .and_then(|a| a.iter().find(|o| o["id"] == order))
        {
            break w.clone();
        }
        assert!(
            Instant::now() < until,
            "the hub's order never reached the node: {v}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(waiting["buyer_name"], "buyer-town", "{waiting}");
    assert_eq!(waiting["lines"][0]["quantity"], 3, "{waiting}");
    assert_eq!(waiting["lines"][0]["name"], "茶山蜂蜜", "{waiting}");

    // A courier's parcel registered and scanned in at the station.
    let r = node
        .post(
            "/api/market/parcels",
            json!({ "to_station_id": station, "recipient_name": "赵奶奶", "tracking": "YT-88" }),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    let parcel = r.json()["id"].as_i64().unwrap();
    assert!(
        parcel >= ID_SPAN,
        "a node's parcel id is in its range: {parcel}"
    );
    let r = node
        .post(
            &format!("/api/market/parcels/{parcel}/scan"),
            json!({ "status": "at_village_station" }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());

    // The station's counter page on the node lists it with a handover button.
    let form = format!("/market/station/orders/{order}/pickup");
    let page = node.get("/market/station").await.text();
    assert!(
        page.contains(&format!("id=\"pickup-{order}\"")) && page.contains(&form),
        "{page}"
    );

    // The buyer collects the online order at the station and pays cash.
    let r = node
        .post(
            &format!("/api/market/orders/{order}/pickup"),
            json!({ "method": "cash" }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.json()["picked_up_at"].is_i64(), "{}", r.text());
    let again = node
        .post(&format!("/api/market/orders/{order}/pickup"), json!({}))
        .await;
    assert_eq!(again.status, 409, "{}", again.text());
    assert_eq!(again.json()["error"], "already_picked_up");

    // Handed over: no button any more (the card stays, marked, until the
    // hub's collected order leaves the next snapshot).
    let page = node.get("/market/station").await.text();
    assert!(!page.contains(&form), "handed over, no button: {page}");

    // Both reach the hub: the parcel under the same id with its scans, the
    // order collected and paid.
    let on_hub = hub_until(
        &hub,
        &format!("/api/market/parcels/{parcel}"),
        Duration::from_secs(30),
        "the node's parcel, arrived",
        |v| v["status"] == "at_village_station",
    )
    .await;
    assert_eq!(on_hub["id"], parcel);
    assert_eq!(on_hub["tracking"], "YT-88");
    let scans: Vec<&str> = on_hub["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["status"].as_str().unwrap())
        .collect();
    assert_eq!(scans, ["created", "at_village_station"], "{on_hub}");
    let o = hub_until(
        &hub,
        &format!("/api/market/orders/{order}"),
        Duration::from_secs(30),
        "the order, collected",
        |v| v["status"] == "collected",
    )
    .await;
    assert_eq!(o["payment"], "paid_at_station", "{o}");
    assert!(
        o["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["status"] == "collected"),
        "{o}"
    );

    // The parcel is the node's: the hub's staff cannot scan it (409 naming why).
    let (s, e) = hub
        .post_json(
            &format!("/api/market/parcels/{parcel}/scan"),
            &hub.admin_token,
            json!({ "status": "returned" }),
        )
        .await;
    assert_eq!((s, e["error"].as_str()), (409, Some("node_parcel")), "{e}");
    assert!(
        e["message"].as_str().unwrap().contains("village node"),
        "{e}"
    );
    // And on the hub a handover is not recorded (the node records it).
    let (s, e) = hub
        .post_json(
            &format!("/api/market/orders/{order}/pickup"),
            &hub.admin_token,
            json!({}),
        )
        .await;
    assert_eq!((s, e["error"].as_str()), (409, Some("node_only")), "{e}");

    // Nothing refused, nothing waiting; the collected order leaves the node's list.
    let s = node
        .status_until(Duration::from_secs(30), "all sent", |s| {
            s["pending_up"] == 0
        })
        .await;
    assert_eq!(s["dead_letters"], 0, "{s}");
    assert_eq!(node.post("/api/node/sync", json!({})).await.status, 202);
    let until = Instant::now() + Duration::from_secs(30);
    loop {
        let v: Value = node.get("/api/market/pickups").await.json();
        if v.as_array().is_some_and(Vec::is_empty) {
            break;
        }
        assert!(
            Instant::now() < until,
            "the collected order stays listed: {v}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
