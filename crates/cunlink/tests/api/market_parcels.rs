//! Station scope on parcels (issue 9, item 6): only the parcel's own stations,
//! county staff and the recipient see it; each scan belongs to the station (or
//! the hub) holding the parcel; the pickup code reaches only the recipient and
//! the holding station, never an event.

use serde_json::{Value, json};

use crate::common::TestApp;
use crate::common::spawn_app;
use crate::market::{get_json, list_tea, world};
use cunlink_core::auth::Role;

async fn scan(app: &TestApp, token: &str, parcel: i64, status: &str) -> (u16, Value) {
    app.post_json(
        &format!("/api/market/parcels/{parcel}/scan"),
        token,
        json!({"status": status, "place": "somewhere"}),
    )
    .await
}

/// Status and number of events, as an admin reads them.
async fn state(app: &TestApp, parcel: i64) -> (String, usize) {
    let p = get_json(
        app,
        &format!("/api/market/parcels/{parcel}"),
        &app.admin_token,
    )
    .await;
    (
        p["status"].as_str().unwrap().to_string(),
        p["events"].as_array().unwrap().len(),
    )
}

#[tokio::test]
async fn parcels_are_scoped_to_their_stations_and_codes_stay_with_buyer_and_holder() {
    let mut app = spawn_app().await;
    let w = world(&app).await;
    let admin = app.admin_token.clone();
    // A third village's station and operator: nothing to do with this parcel.
    let (s, v) = app
        .post_json(
            "/api/market/stations",
            &admin,
            json!({"village": "李家村", "name": "李家村服务站"}),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    let other = app
        .user("li-op", Role::StationOperator, Some("李家村"))
        .await;
    let county = app.user("county", Role::CountyStaff, None).await;

    let tea = list_tea(&app, &w, 10).await;
    let (s, o) = app
        .place_order(&w.buyer,
            json!({"items": [{"product_id": tea, "quantity": 1}], "pickup_station_id": w.town_station}),
        )
        .await;
    assert_eq!(s, 201, "{o}");
    let order = o["id"].as_i64().unwrap();
    for st in ["packed", "shipped"] {
        let (s, v) = app
            .post_json(
                &format!("/api/market/orders/{order}/status"),
                &w.tea_op,
                json!({"status": st}),
            )
            .await;
        assert_eq!(s, 200, "{v}");
    }
    let parcel =
        get_json(&app, &format!("/api/market/orders/{order}"), &w.buyer).await["parcel_id"]
            .as_i64()
            .unwrap();

    // Another station's operator: the parcel does not exist for them.
    let r = app
        .get(&format!("/api/market/parcels/{parcel}"), &other)
        .await;
    assert_eq!(r.status, 404, "{}", r.text());
    for st in [
        "picked_up",
        "at_county_hub",
        "at_village_station",
        "returned",
    ] {
        let (s, e) = scan(&app, &other, parcel, st).await;
        assert_eq!(s, 404, "{st}: {e}");
        assert_eq!(
            state(&app, parcel).await,
            ("created".to_string(), 1),
            "{st}"
        );
    }
    // The stations on its way may only make their own scans.
    let (s, e) = scan(&app, &w.town_op, parcel, "picked_up").await;
    assert_eq!(s, 403, "destination picks up: {e}");
    let (s, e) = scan(&app, &w.tea_op, parcel, "at_village_station").await;
    assert_eq!(s, 403, "origin marks arrival: {e}");
    let (s, e) = scan(&app, &county, parcel, "picked_up").await;
    assert_eq!(s, 403, "county picks up at a station: {e}");
    assert_eq!(state(&app, parcel).await, ("created".to_string(), 1));

    let (s, v) = scan(&app, &w.tea_op, parcel, "picked_up").await;
    assert_eq!(s, 200, "{v}");
    let (s, e) = scan(&app, &w.tea_op, parcel, "at_county_hub").await;
    assert_eq!(s, 403, "origin scans the hub: {e}");
    let (s, e) = scan(&app, &w.town_op, parcel, "at_county_hub").await;
    assert_eq!(s, 403, "destination scans the hub: {e}");
    let (s, v) = scan(&app, &county, parcel, "at_county_hub").await;
    assert_eq!(s, 200, "{v}");
    let (s, e) = scan(&app, &w.tea_op, parcel, "returned").await;
    assert_eq!(s, 403, "origin returns what the hub holds: {e}");
    assert_eq!(state(&app, parcel).await, ("at_county_hub".to_string(), 3));

    let (s, p) = scan(&app, &w.town_op, parcel, "at_village_station").await;
    assert_eq!(s, 200, "{p}");
    let code = p["pickup_code"].as_str().unwrap().to_string();

    // The code: recipient and holding station only, and in no event for anyone.
    for (who, token, sees) in [
        ("buyer", &w.buyer, true),
        ("holding station", &w.town_op, true),
        ("origin station", &w.tea_op, false),
        ("county staff", &county, false),
    ] {
        let p = get_json(&app, &format!("/api/market/parcels/{parcel}"), token).await;
        assert!(
            !p["events"].to_string().contains(&code),
            "{who} reads the code in an event: {p}"
        );
        if sees {
            assert_eq!(p["pickup_code"], code.as_str(), "{who}: {p}");
        } else {
            assert!(!p.to_string().contains(&code), "{who} sees the code: {p}");
        }
    }
    let o = get_json(&app, &format!("/api/market/orders/{order}"), &w.tea_op).await;
    assert!(!o.to_string().contains(&code), "{o}");

    // Collecting: not another station, not the origin station, even with the code.
    let body = json!({"code": code});
    let (s, e) = app
        .post_json(
            &format!("/api/market/parcels/{parcel}/collect"),
            &other,
            body.clone(),
        )
        .await;
    assert_eq!(s, 404, "{e}");
    let (s, e) = app
        .post_json(
            &format!("/api/market/parcels/{parcel}/collect"),
            &w.tea_op,
            body.clone(),
        )
        .await;
    assert_eq!(s, 403, "{e}");
    let (s, e) = scan(&app, &other, parcel, "returned").await;
    assert_eq!(s, 404, "{e}");
    assert_eq!(
        state(&app, parcel).await,
        ("at_village_station".to_string(), 4)
    );

    // Reminders: the holding station sees the code; county staff see the parcel
    // without it; another station sees nothing. The row appears once the clock
    // has moved past the arrival (`arrived_at < now`).
    let mut seen = None;
    for _ in 0..200 {
        let v = get_json(&app, "/api/market/parcels/reminders?days=0", &w.town_op).await;
        if let Some(row) = v
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["parcel_id"] == parcel)
        {
            seen = Some(row.clone());
            break;
        }
        tokio::task::yield_now().await;
    }
    let row = seen.expect("the holding station's reminder list shows the parcel");
    assert_eq!(row["pickup_code"], code.as_str());
    let v = get_json(&app, "/api/market/parcels/reminders?days=0", &county).await;
    assert!(
        v.as_array()
            .unwrap()
            .iter()
            .any(|r| r["parcel_id"] == parcel),
        "{v}"
    );
    assert!(
        !v.to_string().contains(&code),
        "county staff see the code: {v}"
    );
    let v = get_json(&app, "/api/market/parcels/reminders?days=0", &other).await;
    assert!(
        v.as_array()
            .unwrap()
            .iter()
            .all(|r| r["parcel_id"] != parcel),
        "{v}"
    );

    // The holder hands it over with the code.
    let (s, p) = app
        .post_json(
            &format!("/api/market/parcels/{parcel}/collect"),
            &w.town_op,
            body,
        )
        .await;
    assert_eq!((s, p["status"].as_str()), (200, Some("collected")), "{p}");
    app.stop().await;
}

#[tokio::test]
async fn an_operator_registers_parcels_for_their_own_station_only() {
    let mut app = spawn_app().await;
    let w = world(&app).await;
    let parcel = |station: i64| json!({"to_station_id": station, "recipient_name": "王大妈"});
    let (s, e) = app
        .post_json("/api/market/parcels", &w.tea_op, parcel(w.town_station))
        .await;
    assert_eq!(s, 403, "{e}");
    let (s, e) = app
        .post_json(
            "/api/market/parcels",
            &w.town_op,
            json!({"to_station_id": w.town_station, "recipient_name": "王大妈", "recipient_user_id": 999_999}),
        )
        .await;
    assert_eq!(
        (s, e["field"].as_str()),
        (400, Some("recipient_user_id")),
        "{e}"
    );
    let (s, p) = app
        .post_json("/api/market/parcels", &w.town_op, parcel(w.town_station))
        .await;
    assert_eq!(s, 201, "{p}");
    let id = p["id"].as_i64().unwrap();
    // A courier's parcel has no origin station: the destination marks its
    // arrival; another village's operator cannot see it.
    let r = app
        .get(&format!("/api/market/parcels/{id}"), &w.tea_op)
        .await;
    assert_eq!(r.status, 404, "{}", r.text());
    let (s, v) = scan(&app, &w.town_op, id, "at_village_station").await;
    assert_eq!(s, 200, "{v}");
    app.stop().await;
}

async fn login(app: &TestApp, username: &str) -> String {
    let r = app.api_login(username, "a-password").await;
    assert_eq!(r.status, 200, "{}", r.text());
    let c = r.headers["set-cookie"].to_str().unwrap();
    c.split(';').next().unwrap().to_string()
}

async fn page(app: &TestApp, cookie: &str) -> String {
    let r = crate::common::request(
        app.http,
        "GET",
        "/market/station",
        &[("cookie", cookie)],
        vec![],
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    r.text()
}

#[tokio::test]
async fn station_pages_offer_each_station_its_own_scans_and_the_code_only_at_the_holder() {
    let mut app = spawn_app().await;
    let w = world(&app).await;
    let tea = list_tea(&app, &w, 10).await;
    let (s, o) = app
        .place_order(&w.buyer,
            json!({"items": [{"product_id": tea, "quantity": 1}], "pickup_station_id": w.town_station}),
        )
        .await;
    assert_eq!(s, 201, "{o}");
    let order = o["id"].as_i64().unwrap();
    for st in ["packed", "shipped"] {
        let (s, v) = app
            .post_json(
                &format!("/api/market/orders/{order}/status"),
                &w.tea_op,
                json!({"status": st}),
            )
            .await;
        assert_eq!(s, 200, "{v}");
    }
    let parcel =
        get_json(&app, &format!("/api/market/orders/{order}"), &w.buyer).await["parcel_id"]
            .as_i64()
            .unwrap();
    let (origin, holder) = (login(&app, "tea-op").await, login(&app, "town-op").await);
    // The origin station hands it to the courier; the destination only awaits it.
    let p = page(&app, &origin).await;
    assert!(p.contains(&format!("id=\"out-{parcel}\"")), "{p}");
    let p = page(&app, &holder).await;
    assert!(!p.contains(&format!("id=\"out-{parcel}\"")), "{p}");
    assert!(
        !p.contains("value=\"picked_up\"") && !p.contains("value=\"at_county_hub\""),
        "{p}"
    );
    let (s, v) = scan(&app, &w.town_op, parcel, "at_village_station").await;
    assert_eq!(s, 200, "{v}");
    let code = v["pickup_code"].as_str().unwrap().to_string();
    assert!(page(&app, &holder).await.contains(&code));
    assert!(!page(&app, &origin).await.contains(&code));
    app.stop().await;
}
