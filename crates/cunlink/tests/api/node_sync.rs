//! Village node sync (issue 15, docs/node.md): a hub (this test's app, on
//! PostgreSQL when CUNLINK_TEST_DATABASE_URL is set) and a node (the real
//! binary on its own SQLite data directory, joined with `cunlink node join`).
//! Every wait polls an observable state (the node's status, the hub's lists)
//! with a deadline; none sleeps for a fixed time to prove an absence.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use cunlink_core::auth::Role;
use serde_json::{Value, json};

use crate::common::{
    Resp, TempDir, TestApp, cunlink_bin, enc, request, spawn_app, spawn_binary_env,
};

pub const ID_SPAN: i64 = 1 << 40;

/// A node process and a signed-in session on it.
#[allow(dead_code)]
pub struct NodeProc {
    pub child: tokio::process::Child,
    pub http: SocketAddr,
    pub cookie: String,
    pub csrf: String,
}

/// `cunlink node join` into a fresh data directory; the node id (last line).
/// (Async: the hub may be this test's own in-process app.)
pub async fn join(dir: &std::path::Path, hub: &str, token: &str, village: &str) -> String {
    let out = join_cmd(dir, hub, token, village).await;
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "join: {text} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let id = text.lines().last().unwrap().trim().to_string();
    assert!(
        id.starts_with("node-"),
        "the last line is the node id: {text}"
    );
    id
}

pub async fn join_cmd(
    dir: &std::path::Path,
    hub: &str,
    token: &str,
    village: &str,
) -> std::process::Output {
    join_cmd_with(&[], &[], dir, hub, token, village).await
}

/// `cunlink node join` run through `prefix` (`ip netns exec NS`) with `env`.
pub async fn join_cmd_with(
    prefix: &[&str],
    env: &[(&str, &str)],
    dir: &std::path::Path,
    hub: &str,
    token: &str,
    village: &str,
) -> std::process::Output {
    let mut cmd = match prefix.split_first() {
        Some((first, rest)) => {
            let mut c = tokio::process::Command::new(first);
            c.args(rest).arg(cunlink_bin());
            c
        }
        None => tokio::process::Command::new(cunlink_bin()),
    };
    cmd.envs(env.iter().copied())
        .args(["node", "join", "--data-dir", dir.to_str().unwrap()])
        .args(["--hub", hub, "--token", token, "--village", village])
        .output()
        .await
        .unwrap()
}

impl NodeProc {
    /// Start `serve` on a joined data directory (always SQLite) with `env`,
    /// then sign in as `user` once the accounts came down.
    pub async fn start(dir: &std::path::Path, env: &[(&str, &str)], user: &str) -> NodeProc {
        let (child, http, _) = spawn_binary_env(dir, None, None, env).await;
        let http: SocketAddr = http.parse().unwrap();
        let until = Instant::now() + Duration::from_secs(30);
        loop {
            let r = request(
                http,
                "POST",
                "/api/login",
                &[("content-type", "application/json")],
                json!({ "username": user, "password": "a-password" })
                    .to_string()
                    .into_bytes(),
            )
            .await;
            if r.status == 200 {
                let cookie = r.headers["set-cookie"]
                    .to_str()
                    .unwrap()
                    .split(';')
                    .next()
                    .unwrap()
                    .to_string();
                let csrf = r.json()["csrf"].as_str().unwrap().to_string();
                return NodeProc {
                    child,
                    http,
                    cookie,
                    csrf,
                };
            }
            assert!(
                Instant::now() < until,
                "{user} never could sign in at the node: {}",
                r.text()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub async fn get(&self, path: &str) -> Resp {
        request(
            self.http,
            "GET",
            path,
            &[("cookie", &self.cookie)],
            Vec::new(),
        )
        .await
    }

    pub async fn post(&self, path: &str, body: Value) -> Resp {
        request(
            self.http,
            "POST",
            path,
            &[
                ("cookie", &self.cookie),
                ("x-csrf-token", &self.csrf),
                ("content-type", "application/json"),
            ],
            body.to_string().into_bytes(),
        )
        .await
    }

    pub async fn status(&self) -> Value {
        let r = request(self.http, "GET", "/api/node/status", &[], Vec::new()).await;
        assert_eq!(r.status, 200, "{}", r.text());
        r.json()
    }

    /// Poll the status until `done` holds.
    pub async fn status_until(
        &self,
        within: Duration,
        what: &str,
        done: impl Fn(&Value) -> bool,
    ) -> Value {
        let until = Instant::now() + within;
        loop {
            let s = self.status().await;
            if done(&s) {
                return s;
            }
            assert!(Instant::now() < until, "node never reached '{what}': {s}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// A reading through the device API, as a sensor in the village sends it.
    pub async fn telemetry(&self, token: &str, body: Value) {
        let r = request(
            self.http,
            "POST",
            &format!("/api/v1/{token}/telemetry"),
            &[("content-type", "application/json")],
            body.to_string().into_bytes(),
        )
        .await;
        assert_eq!(r.status, 200, "telemetry: {}", r.text());
    }
}

/// Poll the hub until `done` holds for the JSON at `path`.
pub async fn hub_until(
    hub: &TestApp,
    path: &str,
    within: Duration,
    what: &str,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let until = Instant::now() + within;
    loop {
        // Not there yet (a device that has not come up) is a 404: keep asking.
        let r = hub.get(path, &hub.admin_token.clone()).await;
        let v = r.json();
        if r.status == 200 && done(&v) {
            return v;
        }
        assert!(
            Instant::now() < until,
            "hub never showed '{what}': {} {}",
            r.status,
            r.text()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn points(v: &Value, key: &str) -> usize {
    v[key].as_array().map_or(0, |a| a.len())
}

#[tokio::test]
async fn a_node_joins_syncs_both_ways_and_keeps_ids() {
    let hub = spawn_app().await;
    let village = "石桥村";
    hub.user("wang", Role::Farmer, Some(village)).await;
    let staff = hub.user("county-li", Role::CountyStaff, None).await;
    let probe = hub
        .device(json!({ "name": "石桥-土壤1", "type": "soil-probe", "village": village }))
        .await;
    let doomed = hub
        .device(json!({ "name": "石桥-将删", "type": "soil-probe", "village": village }))
        .await;
    let (s, r) = hub
        .create_rule(&staff, json!({ "name": "过干", "severity": "critical", "village": village,
            "target": { "device": "石桥-土壤1" },
            "condition": { "type": "threshold", "conditions": [{ "key": "soil_moisture", "op": "<", "value": 20 }] } }))
        .await;
    assert_eq!(s, 201, "{r}");

    // Join: a village's data directory, an admin's or county staff's token.
    let dir = TempDir::new("node-join");
    let hub_url = format!("http://{}", hub.http);
    let farmer = hub.user("farmer-x", Role::Farmer, Some(village)).await;
    let refused = join_cmd(&dir.0, &hub_url, &farmer, village).await;
    assert!(
        !refused.status.success(),
        "a farmer's token cannot join a node"
    );
    let node_id = join(&dir.0, &hub_url, &staff, village).await;
    let (s, again) = hub
        .post_json("/api/nodes", &staff, json!({ "village": village }))
        .await;
    assert_eq!(
        (s, again["error"].as_str()),
        (409, Some("village_has_node")),
        "{again}"
    );

    // A long down interval: what the node learns from the hub below, it learns
    // because the test asks it to sync now.
    let node = NodeProc::start(&dir.0, &[("CUNLINK_NODE_DOWN_EVERY_S", "3600")], "wang").await;
    let s = node
        .status_until(Duration::from_secs(30), "connected", |s| {
            s["connected"] == true && s["last_sync_at"].is_i64()
        })
        .await;
    assert_eq!(s["hub"], hub_url);
    for k in [
        "hub",
        "connected",
        "pending_up",
        "pending_down",
        "last_sync_at",
        "dead_letters",
    ] {
        assert!(s.get(k).is_some(), "status has '{k}': {s}");
    }

    // Readings at the node reach the hub under the same device name.
    for v in [31, 25, 12] {
        node.telemetry(&probe, json!({ "soil_moisture": v })).await;
    }
    let path = format!(
        "/api/devices/{}/telemetry?keys=soil_moisture&start=0&end=9999999999999",
        enc("石桥-土壤1")
    );
    let got = hub_until(&hub, &path, Duration::from_secs(30), "3 readings", |v| {
        points(v, "soil_moisture") >= 3
    })
    .await;
    assert_eq!(points(&got, "soil_moisture"), 3, "exactly once: {got}");

    // The alarm is raised by the node (it owns its village's rules) and keeps its id on the hub.
    let alarms = hub
        .alarms_until("status=all", Duration::from_secs(30), |a| !a.is_empty())
        .await;
    assert_eq!(alarms.len(), 1, "{alarms:?}");
    let id = alarms[0]["id"].as_i64().unwrap();
    assert!(id > ID_SPAN, "a node's alarm id is in its range: {id}");
    let at_node = node.get("/api/alarms?status=all").await.json();
    assert_eq!(
        at_node[0]["id"].as_i64(),
        Some(id),
        "same id on node and hub: {at_node}"
    );

    // The alarm changes where it was raised: a comment and an acknowledgement
    // at the node go up with it; the hub refuses to change its copy, and the
    // node refuses to edit the county's rules.
    let r = node
        .post(
            &format!("/api/alarms/{id}/comments"),
            json!({ "text": "已浇水" }),
        )
        .await;
    assert!(r.status / 100 == 2, "{}", r.text());
    let r = node.post(&format!("/api/alarms/{id}/ack"), json!({})).await;
    assert_eq!(r.status, 200, "{}", r.text());
    hub_until(
        &hub,
        &format!("/api/alarms/{id}"),
        Duration::from_secs(30),
        "the node's comment and acknowledgement",
        |a| a["status"] == "acknowledged" && a["comments"].to_string().contains("已浇水"),
    )
    .await;
    let (s, e) = hub
        .post_json(&format!("/api/alarms/{id}/clear"), &staff, json!({}))
        .await;
    assert_eq!((s, e["error"].as_str()), (409, Some("node_alarm")), "{e}");
    let r = node
        .post(
            "/api/rules",
            json!({ "name": "村里自建", "severity": "warning", "village": village,
                "target": { "device": "石桥-土壤1" },
                "condition": { "type": "threshold", "conditions": [{ "key": "soil_moisture", "op": ">", "value": 95 }] } }),
        )
        .await;
    assert_eq!(
        (r.status, r.json()["error"].as_str().map(str::to_string)),
        (409, Some("hub_only".to_string())),
        "{}",
        r.text()
    );

    // A sensor added in the village while it belongs to the node: its id is
    // the node's, it goes up, and its readings follow it.
    let r = node
        .post(
            "/api/devices",
            json!({ "name": "石桥-新探头", "type": "soil-probe", "village": village }),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    let fresh = r.json()["token"].as_str().unwrap().to_string();
    node.telemetry(&fresh, json!({ "soil_moisture": 33 })).await;
    let fresh_path = format!(
        "/api/devices/{}/telemetry?keys=soil_moisture&start=0&end=9999999999999",
        enc("石桥-新探头")
    );
    hub_until(
        &hub,
        &fresh_path,
        Duration::from_secs(30),
        "the new sensor's reading",
        |v| points(v, "soil_moisture") == 1,
    )
    .await;
    let d = hub
        .query(&format!("/api/devices/{}", enc("石桥-新探头")))
        .await;
    assert!(
        d["id"].as_i64() > Some(ID_SPAN),
        "the node's device keeps its id: {d}"
    );
    let listed = hub.query("/api/devices").await;
    assert!(
        listed.to_string().contains("石桥-新探头"),
        "the hub lists the node's device: {listed}"
    );

    // A rule made on the hub reaches the node.
    let (s, r) = hub
        .create_rule(&staff, json!({ "name": "过湿", "severity": "warning", "village": village,
            "target": { "device": "石桥-土壤1" },
            "condition": { "type": "threshold", "conditions": [{ "key": "soil_moisture", "op": ">", "value": 90 }] } }))
        .await;
    assert_eq!(s, 201, "{r}");
    assert_eq!(node.post("/api/node/sync", json!({})).await.status, 202);
    let until = Instant::now() + Duration::from_secs(30);
    loop {
        let rules = node.get("/api/rules").await.json();
        if rules
            .as_array()
            .is_some_and(|a| a.iter().any(|r| r["name"] == "过湿"))
        {
            break;
        }
        assert!(
            Instant::now() < until,
            "the hub's new rule never reached the node: {rules}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // A poisoned record: readings of a device the hub no longer has go to the
    // dead letters (both sides), and the readings behind them still flow.
    {
        let conn = hub.db_conn();
        conn.execute("DELETE FROM farm_devices WHERE name = $1", ["石桥-将删"])
            .unwrap();
        hub.server
            .as_ref()
            .unwrap()
            .farm
            .registry
            .reload_all()
            .unwrap();
    }
    node.telemetry(&doomed, json!({ "soil_moisture": 50 }))
        .await;
    node.telemetry(&probe, json!({ "soil_moisture": 44 })).await;
    node.status_until(Duration::from_secs(30), "all sent", |s| {
        s["pending_up"] == 0
    })
    .await;
    hub_until(
        &hub,
        &path,
        Duration::from_secs(30),
        "the 4th reading",
        |v| points(v, "soil_moisture") >= 4,
    )
    .await;
    let s = node
        .status_until(Duration::from_secs(30), "a dead letter", |s| {
            s["dead_letters"].as_i64() >= Some(1)
        })
        .await;
    assert_eq!(s["pending_up"], 0, "{s}");
    let letters = hub
        .query(&format!("/api/nodes/{node_id}/dead-letters"))
        .await;
    let l = &letters["dead_letters"][0];
    assert_eq!(l["key"], "石桥-将删/soil_moisture", "{letters}");
    assert!(
        l["reason"].as_str().unwrap().contains("no device"),
        "{letters}"
    );

    // The hub lists the node; revoking it stops the sync at once.
    let nodes = hub.query("/api/nodes").await;
    assert_eq!(nodes["nodes"][0]["node_id"], node_id.as_str());
    let (s, _) = hub
        .post_json(&format!("/api/nodes/{node_id}/revoke"), &staff, json!({}))
        .await;
    assert_eq!(s, 200);
    node.telemetry(&probe, json!({ "soil_moisture": 45 })).await;
    let s = node
        // A request already in flight may take up to the client's 20 s idle
        // bound before the next one meets the 401.
        .status_until(Duration::from_secs(60), "disconnected", |s| {
            s["connected"] == false
        })
        .await;
    assert!(
        s["pending_up"].as_i64() >= Some(1),
        "the reading waits: {s}"
    );
    assert!(s["offline_since"].is_i64(), "{s}");
    // Every page says so, with what waits.
    let until = Instant::now() + Duration::from_secs(10);
    loop {
        let page = node.get("/").await.text();
        if page.contains("class=\"syncline\"") {
            assert!(
                page.contains("起离线") && page.contains("条记录待上传"),
                "{page}"
            );
            break;
        }
        assert!(
            Instant::now() < until,
            "no offline line on the node's pages"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn sync_requests_are_refused_without_a_live_node_credential() {
    let hub = spawn_app().await;
    for (path, body) in [
        ("/api/sync/up", b"x".to_vec()),
        ("/api/sync/down", b"{}".to_vec()),
    ] {
        let r = request(hub.http, "POST", path, &[], body.clone()).await;
        assert_eq!(r.status, 401, "{path}: {}", r.text());
        let r = request(
            hub.http,
            "POST",
            path,
            &[("authorization", "Bearer nope")],
            body,
        )
        .await;
        assert_eq!(r.status, 401, "{path}: {}", r.text());
    }
    // A hub is not a node: its status says so.
    let r = request(hub.http, "GET", "/api/node/status", &[], Vec::new()).await;
    assert_eq!(
        (r.status, r.json()["error"].as_str()),
        (404, Some("not_a_node")),
        "{}",
        r.text()
    );
    let staff = hub.user("county-zhao", Role::CountyStaff, None).await;
    let (s, j) = hub
        .post_json("/api/nodes", &staff, json!({ "village": "没有这个村" }))
        .await;
    assert_eq!((s, j["field"].as_str()), (404, Some("village")), "{j}");
    let (s, j) = hub
        .post_json("/api/nodes", &staff, json!({ "villag": "x" }))
        .await;
    assert_eq!((s, j["field"].as_str()), (400, Some("village")), "{j}");
}

/// The hub behind TLS (a proxy with a certificate of the county's own CA, as a
/// county IT office sets it up): the node joins and syncs over `https://`,
/// trusting that CA through `CUNLINK_HUB_CA`; without it the join is refused.
#[tokio::test]
async fn a_node_syncs_over_https_trusting_the_countys_ca() {
    let hub = spawn_app().await;
    let village = "河湾村";
    hub.user("zhou", Role::Farmer, Some(village)).await;
    let staff = hub.user("county-sun", Role::CountyStaff, None).await;
    let probe = hub
        .device(json!({ "name": "河湾-水位", "type": "soil-probe", "village": village }))
        .await;
    let certs = TempDir::new("node-tls");
    let (cert, key) = (certs.0.join("hub.pem"), certs.0.join("hub.key"));
    let out = tokio::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=cunlink hub",
        ])
        .args([
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-addext",
            "basicConstraints=critical,CA:FALSE",
        ])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .await
        .unwrap_or_else(|e| panic!("openssl: {e} (apt-get install openssl)"));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/tls_proxy.py");
    let mut proxy = tokio::process::Command::new("python3")
        .arg(script)
        .arg(&cert)
        .arg(&key)
        .arg(hub.http.to_string())
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    use tokio::io::AsyncBufReadExt;
    let mut lines = tokio::io::BufReader::new(proxy.stdout.take().unwrap()).lines();
    let port = lines.next_line().await.unwrap().expect("the proxy's port");
    let hub_url = format!("https://127.0.0.1:{port}");

    let dir = TempDir::new("node-tls-node");
    let untrusted = join_cmd(&dir.0, &hub_url, &staff, village).await;
    assert!(
        !untrusted.status.success(),
        "a hub certificate the node does not trust is refused"
    );
    assert!(
        String::from_utf8_lossy(&untrusted.stderr).contains("TLS"),
        "{}",
        String::from_utf8_lossy(&untrusted.stderr)
    );
    let ca = cert.to_str().unwrap();
    let out = join_cmd_with(
        &[],
        &[("CUNLINK_HUB_CA", ca)],
        &dir.0,
        &hub_url,
        &staff,
        village,
    )
    .await;
    assert!(
        out.status.success(),
        "join over TLS: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let node = NodeProc::start(&dir.0, &[("CUNLINK_HUB_CA", ca)], "zhou").await;
    node.telemetry(&probe, json!({ "soil_moisture": 61 })).await;
    let path = format!(
        "/api/devices/{}/telemetry?keys=soil_moisture&start=0&end=9999999999999",
        enc("河湾-水位")
    );
    hub_until(
        &hub,
        &path,
        Duration::from_secs(30),
        "the reading over TLS",
        |v| points(v, "soil_moisture") == 1,
    )
    .await;
    let s = node.status().await;
    assert_eq!(
        (s["hub"].as_str(), s["connected"].as_bool()),
        (Some(hub_url.as_str()), Some(true)),
        "{s}"
    );
    drop(proxy);
}
