//! Three `cunlink serve` processes over one PostgreSQL behave as one deployment
//! (issue 14). Runs when `CUNLINK_TEST_DATABASE_URL` is set (./test sets it):
//! there is nothing to share between processes on SQLite.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::common::{TempDir, cunlink_cmd, request, spawn_binary_on};

struct Node {
    http: SocketAddr,
    mqtt: SocketAddr,
    child: tokio::process::Child,
    _dir: TempDir,
}

/// A fresh database for the deployment, or `None` (not run) without PostgreSQL.
fn deployment_database() -> Option<String> {
    let Ok(base) = std::env::var("CUNLINK_TEST_DATABASE_URL") else {
        eprintln!("not run: CUNLINK_TEST_DATABASE_URL is not set (tests/pg.sh starts one)");
        return None;
    };
    let admin = cunlink_core::sql::Connection::connect_postgres(&base).unwrap();
    let mut raw = [0u8; 6];
    cunlink_core::random::fill(&mut raw);
    let name = format!("t_nodes_{}", raw.iter().map(|b| format!("{b:02x}")).collect::<String>());
    admin.execute_batch(&format!("CREATE DATABASE {name}")).unwrap();
    Some(format!("{}/{name}", base.rsplit_once('/').unwrap().0))
}

async fn node(url: &str) -> Node {
    let dir = TempDir::new("node");
    let (child, http, mqtt) = spawn_binary_on(&dir.0, None, Some(url.to_string())).await;
    Node {
        http: http.parse().unwrap(),
        mqtt: mqtt.parse().unwrap(),
        child,
        _dir: dir,
    }
}

/// An admin's API token, made with the CLI against the shared database.
fn admin_token(url: &str) -> String {
    let dir = TempDir::new("cli");
    let mut cmd = cunlink_cmd(&dir.0);
    cmd.env("CUNLINK_DATABASE_URL", url)
        .args(["user", "create", "--data-dir", dir.0.to_str().unwrap(), "--username", "admin", "--role", "admin"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(b"admin-password\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).lines().last().unwrap().trim().to_string()
}

async fn post_json(http: SocketAddr, path: &str, token: &str, body: serde_json::Value) -> (u16, serde_json::Value) {
    let auth = format!("Bearer {token}");
    let r = request(
        http,
        "POST",
        path,
        &[("authorization", auth.as_str()), ("content-type", "application/json")],
        body.to_string().into_bytes(),
    )
    .await;
    (r.status, serde_json::from_slice(&r.body).unwrap_or(serde_json::Value::Null))
}

/// Open `/api/devices/{device}/stream` on `http`; returns the socket once the
/// response headers arrived.
async fn open_stream(http: SocketAddr, device: &str, token: &str) -> (tokio::net::TcpStream, Vec<u8>) {
    let mut s = tokio::net::TcpStream::connect(http).await.unwrap();
    let req = format!(
        "GET /api/devices/{device}/stream HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nAccept: text/event-stream\r\n\r\n"
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&got).contains("text/event-stream") {
        let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf)).await.unwrap().unwrap();
        assert!(n > 0, "stream closed: {}", String::from_utf8_lossy(&got));
        got.extend_from_slice(&buf[..n]);
    }
    (s, got)
}

async fn wait_for(s: &mut tokio::net::TcpStream, got: &mut Vec<u8>, needle: &str, within: Duration) -> Duration {
    let started = Instant::now();
    let deadline = tokio::time::Instant::now() + within;
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(got).contains(needle) {
        let n = tokio::time::timeout_at(deadline, s.read(&mut buf))
            .await
            .unwrap_or_else(|_| panic!("{needle} did not arrive within {within:?}: {}", String::from_utf8_lossy(got)))
            .unwrap();
        got.extend_from_slice(&buf[..n]);
    }
    started.elapsed()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reading_sent_to_one_node_streams_from_the_others() {
    let Some(url) = deployment_database() else { return };
    let a = node(&url).await;
    let b = node(&url).await;
    let c = node(&url).await;
    let admin = admin_token(&url);

    let (status, dev) = post_json(
        a.http,
        "/api/devices",
        &admin,
        serde_json::json!({"name": "sow-7", "county_level": true}),
    )
    .await;
    assert_eq!(status, 201, "{dev}");
    let token = dev["token"].as_str().unwrap().to_string();

    let (mut on_b, mut got_b) = open_stream(b.http, "sow-7", &admin).await;
    let (mut on_c, mut got_c) = open_stream(c.http, "sow-7", &admin).await;
    // The other nodes' bus listeners may still be connecting: send until the
    // first reading shows on both, then time one.
    let until = Instant::now() + Duration::from_secs(15);
    let mut i = 0;
    loop {
        i += 1;
        let r = request(a.http, "POST", &format!("/api/v1/{token}/telemetry"), &[], format!("{{\"warmup\":{i}}}").into_bytes()).await;
        assert_eq!(r.status, 200);
        let mut buf = [0u8; 4096];
        if let Ok(Ok(n)) = tokio::time::timeout(Duration::from_millis(300), on_c.read(&mut buf)).await {
            got_c.extend_from_slice(&buf[..n]);
        }
        if String::from_utf8_lossy(&got_c).contains("warmup") || Instant::now() > until {
            break;
        }
    }
    let r = request(a.http, "POST", &format!("/api/v1/{token}/telemetry"), &[], br#"{"temperature":40.5}"#.to_vec()).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let on_c_after = wait_for(&mut on_c, &mut got_c, "\"temperature\":40.5", Duration::from_secs(1)).await;
    let on_b_after = wait_for(&mut on_b, &mut got_b, "\"temperature\":40.5", Duration::from_secs(2)).await;
    eprintln!("reading on A → SSE on C in {on_c_after:?}, on B in {on_b_after:?}");
    // And in node B's latest-values query (history queries see it once sealed: docs/scale.md).
    let auth = format!("Bearer {admin}");
    let latest = request(b.http, "GET", "/api/devices/sow-7/latest", &[("authorization", auth.as_str())], vec![]).await;
    assert_eq!(latest.status, 200, "{}", latest.text());
    assert!(latest.text().contains("40.5"), "{}", latest.text());
}

/// `GET` as the admin on `http`, JSON back.
async fn get_json(http: SocketAddr, path: &str, token: &str) -> serde_json::Value {
    let auth = format!("Bearer {token}");
    let r = request(http, "GET", path, &[("authorization", auth.as_str())], vec![]).await;
    assert_eq!(r.status, 200, "{path}: {}", r.text());
    r.json()
}

/// A counter of `/metrics` on `http`.
async fn metric(http: SocketAddr, name: &str) -> f64 {
    let m = request(http, "GET", "/metrics", &[], vec![]).await.text();
    m.lines()
        .find_map(|l| l.strip_prefix(name).and_then(|rest| rest.trim().parse().ok()))
        .unwrap_or(0.0)
}

/// Each node's id, from its `/healthz`.
async fn node_ids(nodes: &[&Node]) -> Vec<String> {
    let mut ids = Vec::new();
    for n in nodes {
        let h = request(n.http, "GET", "/healthz", &[], vec![]).await.json();
        ids.push(h["node"].as_str().unwrap().to_string());
    }
    ids
}

/// Which of the nodes `ids` holds `lease` (waiting up to `within`).
async fn holder_of(url: &str, lease: &str, ids: &[String], within: Duration) -> usize {
    let db = cunlink_core::sql::Connection::connect_postgres(url).unwrap();
    let until = Instant::now() + within;
    loop {
        let holder: Option<String> = db
            .query_row(
                "SELECT holder FROM core_leases WHERE name = $1 AND expires_at > CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT)",
                [lease],
                |r| r.get(0),
            )
            .ok();
        if let Some(i) = holder.and_then(|h| ids.iter().position(|id| *id == h)) {
            return i;
        }
        assert!(Instant::now() < until, "nobody holds {lease}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_herd_fever_raises_exactly_one_alarm_across_three_nodes() {
    use crate::alerts::{DAY, MIN, healthy};
    use crate::common::RawMqtt;
    let Some(url) = deployment_database() else { return };
    let a = node(&url).await;
    let b = node(&url).await;
    let c = node(&url).await;
    let admin = admin_token(&url);
    let (status, gw) = post_json(
        a.http,
        "/api/devices",
        &admin,
        serde_json::json!({"name": "一号猪舍网关", "gateway": true, "asset": "一号猪舍", "asset_kind": "barn", "county_level": true}),
    )
    .await;
    assert_eq!(status, 201, "{gw}");
    let gw = gw["token"].as_str().unwrap().to_string();
    let names: Vec<String> = (1..=40).map(|i| format!("母猪 {i:02}")).collect();
    let (mut mqtt, _) = RawMqtt::connect(a.mqtt, false, &gw).await;
    for (i, n) in names.iter().enumerate() {
        let pkid = i as u16 + 1;
        mqtt.publish(false, "v1/gateway/connect", serde_json::json!({ "device": n, "type": "ear-tag" }).to_string().as_bytes(), 1, pkid)
            .await;
        assert_eq!(mqtt.read_packet().await.unwrap(), vec![0x40, 2, 0, pkid as u8]);
    }
    // One node takes the county's devices before the readings come, and keeps
    // them once every node knows the others (3 s with the same holder).
    let ids = node_ids(&[&a, &b, &c]).await;
    let mut holder = holder_of(&url, "alert.village.county", &ids, Duration::from_secs(15)).await;
    let mut since = Instant::now();
    let until = Instant::now() + Duration::from_secs(20);
    while since.elapsed() < Duration::from_secs(3) {
        assert!(Instant::now() < until, "the county's rules keep moving");
        tokio::time::sleep(Duration::from_millis(200)).await;
        let now = holder_of(&url, "alert.village.county", &ids, Duration::from_secs(10)).await;
        if now != holder {
            (holder, since) = (now, Instant::now());
        }
    }
    eprintln!("node {holder} evaluates the county's rules");

    let step = 10 * MIN;
    let now = cunlink_core::time::now_ms() / step * step;
    let start = now - 4 * DAY;
    let fever_from = now - 3 * 60 * MIN;
    let mut sent = 0u64;
    for body in crate::alerts::herd_batches(&names, start, now, |sow, u| {
        healthy(sow, u) + if sow == 7 && u >= fever_from { 1.8 } else { 0.0 }
    }) {
        sent += body.as_object().unwrap().values().map(|p| p.as_array().unwrap().len() as u64).sum::<u64>();
        let r = request(a.http, "POST", &format!("/api/v1/{gw}/gateway/telemetry"), &[], body.to_string().into_bytes()).await;
        assert_eq!(r.status, 200, "{}", r.text());
    }
    // Watermark: every node's engine has seen every reading (its own or over the bus).
    let until = Instant::now() + Duration::from_secs(30);
    for n in [&a, &b, &c] {
        while metric(n.http, "cunlink_alert_readings_total").await < sent as f64 {
            assert!(Instant::now() < until, "readings did not reach every node's engine");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    let until = Instant::now() + Duration::from_secs(10);
    let alarms = loop {
        let v = get_json(c.http, "/api/alarms?status=all", &admin).await;
        let list = v.as_array().cloned().unwrap_or_default();
        if !list.is_empty() || Instant::now() > until {
            break list;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let raised: f64 = metric(a.http, "cunlink_alert_raise_events_total").await
        + metric(b.http, "cunlink_alert_raise_events_total").await
        + metric(c.http, "cunlink_alert_raise_events_total").await;
    assert_eq!(alarms.len(), 1, "exactly one alarm: {alarms:#?}");
    assert_eq!(alarms[0]["device"], "母猪 07");
    assert!(raised >= 1.0);
    // Only the holder evaluated: the others raised nothing.
    for (i, n) in [&a, &b, &c].iter().enumerate() {
        if i != holder {
            assert_eq!(metric(n.http, "cunlink_alert_raise_events_total").await, 0.0, "node {i} is not the holder");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_the_node_holding_a_village_dies_another_raises_its_alarm_once() {
    let Some(url) = deployment_database() else { return };
    let mut nodes = vec![node(&url).await, node(&url).await, node(&url).await];
    let admin = admin_token(&url);
    let (status, dev) = post_json(
        nodes[0].http,
        "/api/devices",
        &admin,
        serde_json::json!({"name": "sow-tag-3", "county_level": true}),
    )
    .await;
    assert_eq!(status, 201, "{dev}");
    let token = dev["token"].as_str().unwrap().to_string();
    // A normal reading first: the rule's key is one the device reports.
    let r = request(nodes[0].http, "POST", &format!("/api/v1/{token}/telemetry"), &[], br#"{"temperature":38.6}"#.to_vec()).await;
    assert_eq!(r.status, 200);
    let for_s = 5;
    let (status, rule) = post_json(
        nodes[0].http,
        "/api/rules",
        &admin,
        serde_json::json!({
            "name": "发烧", "severity": "critical", "target": { "device": "sow-tag-3" },
            "condition": { "type": "threshold", "conditions": [{ "key": "temperature", "op": ">", "value": 40 }], "for_s": for_s }
        }),
    )
    .await;
    assert_eq!(status, 201, "{rule}");
    let ids = node_ids(&nodes.iter().collect::<Vec<_>>()).await;
    let holder = holder_of(&url, "alert.village.county", &ids, Duration::from_secs(15)).await;
    // The holder dies without a word.
    nodes[holder].child.start_kill().unwrap();
    let _ = nodes[holder].child.wait().await;
    let killed_at = Instant::now();
    let survivor = (holder + 1) % 3;
    // A fever that starts after the death: a reading a second, to a survivor.
    let deadline = killed_at + Duration::from_secs(for_s + 10);
    let alarm = loop {
        let r = request(
            nodes[survivor].http,
            "POST",
            &format!("/api/v1/{token}/telemetry"),
            &[],
            br#"{"temperature":41.2}"#.to_vec(),
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.text());
        let list = get_json(nodes[survivor].http, "/api/alarms?status=all", &admin).await;
        if let Some(a) = list.as_array().and_then(|l| l.first()).cloned() {
            break a;
        }
        assert!(Instant::now() < deadline, "no alarm within the rule's {for_s} s + 10 s of the kill");
        tokio::time::sleep(Duration::from_secs(1)).await;
    };
    eprintln!("alarm {} after the kill: {:?}", alarm["id"], killed_at.elapsed());
    // Keep the fever up a while longer: still one alarm (its count may grow).
    for _ in 0..3 {
        let r = request(nodes[survivor].http, "POST", &format!("/api/v1/{token}/telemetry"), &[], br#"{"temperature":41.5}"#.to_vec()).await;
        assert_eq!(r.status, 200);
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let new_holder = holder_of(&url, "alert.village.county", &ids, Duration::from_secs(5)).await;
    assert_ne!(new_holder, holder);
    let until = Instant::now() + Duration::from_secs(10);
    for (i, n) in nodes.iter().enumerate() {
        if i == holder {
            continue;
        }
        // Watermark: both survivors' engines have seen all 4+ fever readings.
        while metric(n.http, "cunlink_alert_readings_total").await < 4.0 {
            assert!(Instant::now() < until);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    let list = get_json(nodes[survivor].http, "/api/alarms?status=all", &admin).await;
    assert_eq!(list.as_array().unwrap().len(), 1, "{list:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_on_one_node_gets_a_command_sent_through_another() {
    use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
    let Some(url) = deployment_database() else { return };
    let a = node(&url).await;
    let c = node(&url).await;
    let admin = admin_token(&url);
    let (status, dev) = post_json(
        c.http,
        "/api/devices",
        &admin,
        serde_json::json!({"name": "灌溉阀-9", "county_level": true}),
    )
    .await;
    assert_eq!(status, 201, "{dev}");
    let token = dev["token"].as_str().unwrap().to_string();
    // The valve's MQTT session is on node A.
    let mut opts = MqttOptions::new("valve-9", a.mqtt.ip().to_string(), a.mqtt.port());
    opts.set_credentials(token.as_str(), "");
    let (client, mut events) = AsyncClient::new(opts, 100);
    client.subscribe("v1/devices/me/rpc/request/+", QoS::AtLeastOnce).await.unwrap();
    loop {
        let ev = tokio::time::timeout(Duration::from_secs(10), events.poll()).await.unwrap().unwrap();
        if let Event::Incoming(Packet::SubAck(_)) = ev {
            break;
        }
    }
    // The command goes in through node C and waits there for the reply.
    let (c_http, admin2) = (c.http, admin.clone());
    let caller = tokio::spawn(async move {
        let auth = format!("Bearer {admin2}");
        request(
            c_http,
            "POST",
            &format!("/api/devices/{}/rpc?wait=true", crate::common::enc("灌溉阀-9")),
            &[("authorization", auth.as_str()), ("content-type", "application/json")],
            serde_json::json!({ "method": "setValve", "params": { "open": true }, "timeout_ms": 8000 }).to_string().into_bytes(),
        )
        .await
    });
    let started = Instant::now();
    let until = tokio::time::Instant::now() + Duration::from_secs(8);
    let id = loop {
        let ev = tokio::time::timeout_at(until, events.poll()).await.expect("the command reaches the valve").unwrap();
        if let Event::Incoming(Packet::Publish(p)) = ev {
            if p.topic.starts_with("v1/devices/me/rpc/request/") {
                let req: serde_json::Value = serde_json::from_slice(&p.payload).unwrap();
                assert_eq!(req["method"], "setValve");
                break req["id"].as_i64().unwrap();
            }
        }
    };
    eprintln!("command through C reached the valve on A in {:?}", started.elapsed());
    client
        .publish(format!("v1/devices/me/rpc/response/{id}"), QoS::AtLeastOnce, false, r#"{"open":true}"#)
        .await
        .unwrap();
    let pump = tokio::spawn(async move { while events.poll().await.is_ok() {} });
    let r = caller.await.unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["state"], "replied", "{}", r.text());
    assert_eq!(r.json()["response"]["open"], true);
    pump.abort();
}
