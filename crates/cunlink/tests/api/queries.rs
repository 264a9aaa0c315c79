//! The query API: ranges, aggregates, CSV, live SSE, and who may see what.

use std::time::Duration;

use cunlink_core::auth::Role;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::common::{request, spawn_app};

const T0: i64 = 1_790_000_000_000;

async fn seed(app: &crate::common::TestApp) -> String {
    let token = app
        .device(json!({ "name": "g", "village": "茶香村", "asset": "茶园" }))
        .await;
    // Ten minutes of one reading a minute: 0, 1, …, 9.
    let body: Vec<_> = (0..10)
        .map(|i| json!({ "ts": T0 + i * 60_000, "values": { "t": i, "s": format!("v{i}") } }))
        .collect();
    assert_eq!(
        app.telemetry(&token, json!(body).to_string()).await.status,
        200
    );
    token
}

#[tokio::test]
async fn ranges_and_aggregates_answer_the_contract_shape() {
    let app = spawn_app().await;
    seed(&app).await;
    let raw = app
        .query(&format!(
            "/api/devices/g/telemetry?keys=t&start={}&end={}",
            T0 + 60_000,
            T0 + 180_000
        ))
        .await;
    assert_eq!(
        raw,
        json!({ "t": [{ "ts": T0 + 60_000, "value": 1 }, { "ts": T0 + 120_000, "value": 2 }, { "ts": T0 + 180_000, "value": 3 }] })
    );
    let q = |agg: &str| {
        format!(
            "/api/devices/g/telemetry?keys=t&start={T0}&end={}&interval=300000&agg={agg}",
            T0 + 600_000
        )
    };
    assert_eq!(
        app.query(&q("avg")).await,
        json!({ "t": [{ "ts": T0, "value": 2 }, { "ts": T0 + 300_000, "value": 7 }] })
    );
    assert_eq!(app.query(&q("min")).await["t"][1]["value"], 5);
    assert_eq!(app.query(&q("max")).await["t"][1]["value"], 9);
    assert_eq!(app.query(&q("sum")).await["t"][0]["value"], 10);
    assert_eq!(app.query(&q("count")).await["t"][0]["value"], 5);
    let r = app
        .get(
            &format!(
                "/api/devices/g/telemetry?keys=t&start={T0}&end={}&interval=0&agg=avg",
                T0 + 600_000
            ),
            &app.admin_token,
        )
        .await;
    assert_eq!(
        (r.status, r.json()["field"].as_str()),
        (400, Some("interval"))
    );
    let r = app
        .get(
            &format!(
                "/api/devices/g/telemetry?keys=t&start={T0}&end={}&interval=1000&agg=median",
                T0 + 600_000
            ),
            &app.admin_token,
        )
        .await;
    assert_eq!((r.status, r.json()["field"].as_str()), (400, Some("agg")));
    let r = app.get("/api/devices/nope/latest", &app.admin_token).await;
    assert_eq!(r.status, 404);
    // A number that is not one is refused naming its field.
    let r = app
        .get(
            &format!("/api/devices/g/telemetry?start=yesterday"),
            &app.admin_token,
        )
        .await;
    assert_eq!(
        (
            r.status,
            r.json()["error"].as_str(),
            r.json()["field"].as_str()
        ),
        (400, Some("bad_range"), Some("start")),
        "{}",
        r.text()
    );
    let (status, j) = app
        .create_device(
            &app.admin_token.clone(),
            json!({ "name": "x", "colour": "red" }),
        )
        .await;
    assert_eq!(
        (status, j["error"].as_str()),
        (422, Some("invalid_body")),
        "{j}"
    );
    assert!(j["message"].as_str().unwrap().contains("colour"));
}

#[tokio::test]
async fn csv_export_follows_the_accept_header() {
    let app = spawn_app().await;
    seed(&app).await;
    let auth = format!("Bearer {}", app.admin_token);
    let path = format!(
        "/api/devices/g/telemetry?keys=t,s&start={T0}&end={}",
        T0 + 60_000
    );
    let r = request(
        app.http,
        "GET",
        &path,
        &[("authorization", &auth), ("accept", "text/csv")],
        vec![],
    )
    .await;
    assert_eq!(r.status, 200);
    assert!(
        r.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    assert_eq!(
        r.text(),
        format!(
            "ts,key,value\n{T0},s,v0\n{},s,v1\n{T0},t,0\n{},t,1\n",
            T0 + 60_000,
            T0 + 60_000
        )
    );
}

#[tokio::test]
async fn queries_need_a_caller_and_respect_villages() {
    let app = spawn_app().await;
    seed(&app).await;
    let r = request(app.http, "GET", "/api/devices/g/latest", &[], vec![]).await;
    assert_eq!(r.status, 401);
    assert_eq!(r.json()["error"], "unauthorized");
    let r = app.get("/api/devices/g/latest", "cl_forged").await;
    assert_eq!(r.status, 401);

    let same = app.user("farmer-a", Role::Farmer, Some("茶香村")).await;
    assert_eq!(app.get("/api/devices/g/latest", &same).await.status, 200);
    let other = app.user("farmer-b", Role::Farmer, Some("石桥村")).await;
    assert_eq!(
        app.get("/api/devices/g/latest", &other).await.status,
        404,
        "another village's device is not revealed"
    );
    let listed = app.get("/api/devices", &other).await.json();
    assert!(listed.as_array().unwrap().iter().all(|d| d["name"] != "g"));
    let buyer = app.user("city-buyer", Role::Buyer, None).await;
    assert_eq!(app.get("/api/devices/g/latest", &buyer).await.status, 403);
    let villager = app.user("villager", Role::Villager, Some("茶香村")).await;
    let (status, _) = app.create_device(&villager, json!({ "name": "x" })).await;
    assert_eq!(status, 403, "villagers do not register devices");
}

#[tokio::test]
async fn session_cookie_login_works_and_needs_csrf_for_writes() {
    let app = spawn_app().await;
    let r = request(
        app.http,
        "POST",
        "/api/login",
        &[("content-type", "application/json")],
        br#"{"username":"admin","password":"wrong"}"#.to_vec(),
    )
    .await;
    assert_eq!(r.status, 401);
    let r = request(
        app.http,
        "POST",
        "/api/login",
        &[("content-type", "application/json")],
        br#"{"username":"admin","password":"admin-password"}"#.to_vec(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let set_cookie = r.headers["set-cookie"].to_str().unwrap().to_string();
    assert!(set_cookie.contains("HttpOnly") && set_cookie.contains("SameSite=Lax"));
    let cookie = set_cookie.split(';').next().unwrap().to_string();
    let csrf = r.json()["csrf"].as_str().unwrap().to_string();
    let me = request(app.http, "GET", "/api/me", &[("cookie", &cookie)], vec![]).await;
    assert_eq!(me.json()["username"], "admin");
    // A device belongs to a village (or is county-level on purpose).
    let body = r#"{"name":"by-cookie","village":"茶香村"}"#.as_bytes().to_vec();
    let ct = ("content-type", "application/json");
    let r = request(
        app.http,
        "POST",
        "/api/devices",
        &[("cookie", &cookie), ct],
        body.clone(),
    )
    .await;
    assert_eq!(r.status, 403, "no CSRF token");
    let r = request(
        app.http,
        "POST",
        "/api/devices",
        &[("cookie", &cookie), ct, ("x-csrf-token", &csrf)],
        body,
    )
    .await;
    assert_eq!(r.status, 201);
}

#[tokio::test]
async fn the_live_stream_carries_new_readings() {
    let app = spawn_app().await;
    let token = seed(&app).await;
    let mut s = tokio::net::TcpStream::connect(app.http).await.unwrap();
    let req = format!(
        "GET /api/devices/g/stream HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\nAccept: text/event-stream\r\n\r\n",
        app.admin_token
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    // Headers first, then post a reading and wait for its event.
    let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf))
        .await
        .unwrap()
        .unwrap();
    got.extend_from_slice(&buf[..n]);
    assert!(String::from_utf8_lossy(&got).contains("text/event-stream"));
    assert_eq!(app.telemetry(&token, r#"{"t":42}"#).await.status, 200);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while !String::from_utf8_lossy(&got).contains("\"t\":42") {
        let n = tokio::time::timeout_at(deadline, s.read(&mut buf))
            .await
            .expect("event arrives")
            .unwrap();
        got.extend_from_slice(&buf[..n]);
    }
    assert!(String::from_utf8_lossy(&got).contains("event: reading"));
}

#[tokio::test]
async fn health_and_metrics_are_served() {
    let app = spawn_app().await;
    seed(&app).await;
    let r = request(app.http, "GET", "/healthz", &[], vec![]).await;
    assert_eq!(r.json()["status"], "ok");
    let backend = if crate::common::test_database_url(&app.dir.0).is_some() {
        "postgres"
    } else {
        "sqlite"
    };
    let info = format!("cunlink_db_info{{backend=\"{backend}\"}} 1");
    assert_eq!(r.json()["database"]["backend"], backend, "{}", r.json());
    assert!(r.json()["database"]["latency_ms"].as_f64().is_some());
    let m = request(app.http, "GET", "/metrics", &[], vec![])
        .await
        .text();
    for name in [
        "cunlink_ingest_values_committed_total 20",
        "cunlink_ingest_commit_seconds_bucket",
        "cunlink_ingest_batch_values_count",
        "cunlink_ingest_queue_values",
        "cunlink_devices 1",
        "cunlink_db_pool_size ",
        "cunlink_db_pool_in_use ",
        info.as_str(),
    ] {
        assert!(m.contains(name), "{name} missing from /metrics:\n{m}");
    }
}
