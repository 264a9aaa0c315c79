//! A village node behind a slow, cut link (issue 15): the node runs in a
//! network namespace this test creates, joined to the hub by a veth pair
//! limited to 256 kbit/s each way with `tc … tbf`; the link is cut with `ip
//! link set … down` for `CUNLINK_TEST_NODE_CUT_S` seconds (default 600, the
//! issue's ten minutes). The node keeps taking readings meanwhile, the hub
//! gets a new rule; after the link comes back the hub holds every reading
//! exactly once and the node has the rule. Needs root and iproute2, curl.
//!
//! Stock has one owner at a time (docs/market.md "Village node"): of 30 units,
//! the farmer moves 10 to the village; during the cut the station sells at
//! most those 10 and the hub's buyers at most the other 20.
//!
//! Data set: 10 soil probes; before the cut 1 reading each; during the cut,
//! every 2 s, 10 readings per probe (ThingsBoard's `[{ts, values}]` form);
//! 12 station orders at the node and 25 online orders at the hub, one unit each.

use std::time::{Duration, Instant};

use cunlink_core::auth::Role;
use serde_json::{Value, json};

use crate::common::{Launch, TempDir, enc, spawn_app_with, spawn_binary_with};
use crate::node_sync::join_cmd_with;
use crate::school_netns::Link;

/// An HTTP exchange from inside the namespace (curl, a real client).
pub struct NsHttp {
    ns: String,
    base: String,
    cookie: Option<String>,
    csrf: Option<String>,
}

impl NsHttp {
    pub async fn call(&self, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
        let mut cmd = tokio::process::Command::new("ip");
        cmd.args([
            "netns",
            "exec",
            &self.ns,
            "curl",
            "-s",
            "-m",
            "20",
            "-o",
            "-",
            "-w",
            "\n%{http_code}",
            "-X",
            method,
        ]);
        if let Some(c) = &self.cookie {
            cmd.args(["-H", &format!("cookie: {c}")]);
        }
        if let Some(t) = &self.csrf {
            cmd.args(["-H", &format!("x-csrf-token: {t}")]);
        }
        if let Some(b) = body {
            cmd.args([
                "-H",
                "content-type: application/json",
                "--data-binary",
                &b.to_string(),
            ]);
        }
        cmd.arg(format!("{}{}", self.base, path));
        let out = cmd
            .output()
            .await
            .unwrap_or_else(|e| panic!("curl: {e} (apt-get install curl)"));
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        let (body, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
        (
            code.trim().parse().unwrap_or(0),
            serde_json::from_str(body).unwrap_or(Value::Null),
        )
    }

    async fn sign_in(&mut self, user: &str) {
        let until = Instant::now() + Duration::from_secs(30);
        loop {
            let out = tokio::process::Command::new("ip")
                .args([
                    "netns",
                    "exec",
                    &self.ns,
                    "curl",
                    "-s",
                    "-m",
                    "10",
                    "-i",
                    "-H",
                    "content-type: application/json",
                    "--data-binary",
                    &json!({ "username": user, "password": "a-password" }).to_string(),
                    &format!("{}/api/login", self.base),
                ])
                .output()
                .await
                .unwrap();
            let text = String::from_utf8_lossy(&out.stdout).to_string();
            if text.starts_with("HTTP/1.1 200") {
                let cookie = text
                    .lines()
                    .find_map(|l| l.strip_prefix("set-cookie: "))
                    .map(|c| c.split(';').next().unwrap().to_string());
                let body = text.split("\r\n\r\n").nth(1).unwrap_or("");
                let j: Value = serde_json::from_str(body).unwrap_or(Value::Null);
                self.cookie = cookie;
                self.csrf = j["csrf"].as_str().map(str::to_string);
                return;
            }
            assert!(
                Instant::now() < until,
                "{user} never could sign in at the node: {text}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    async fn status_until(
        &self,
        within: Duration,
        what: &str,
        done: impl Fn(&Value) -> bool,
    ) -> Value {
        let until = Instant::now() + within;
        loop {
            let (_, s) = self.call("GET", "/api/node/status", None).await;
            if done(&s) {
                return s;
            }
            assert!(Instant::now() < until, "node never reached '{what}': {s}");
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
}

fn cut_secs() -> u64 {
    std::env::var("CUNLINK_TEST_NODE_CUT_S")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(600)
}

#[tokio::test]
async fn a_node_works_through_a_cut_and_converges_over_256_kbit() {
    let link = Link::new("256kbit");
    link.shape_inside("256kbit");
    let ip = link.host_ip.clone();
    let hub = spawn_app_with(move |c| c.http = format!("{ip}:0").parse().unwrap()).await;
    let village = "云雾村";
    hub.user("op-chen", Role::StationOperator, Some(village))
        .await;
    let farmer = hub.user("farmer-he", Role::Farmer, Some(village)).await;
    let buyer = hub.user("buyer-city", Role::Buyer, Some("县城")).await;
    let (s, st) = hub
        .post_json(
            "/api/market/stations",
            &hub.admin_token,
            json!({ "village": village, "name": "云雾村服务站" }),
        )
        .await;
    assert_eq!(s, 201, "{st}");
    let station = st["id"].as_i64().unwrap();
    let (s, p) = hub
        .post_json(
            "/api/market/products",
            &farmer,
            json!({ "name": "云雾茶", "unit": "250g", "price_fen": 6800, "stock": 30 }),
        )
        .await;
    assert_eq!(s, 201, "{p}");
    let product = p["id"].as_i64().unwrap();
    let variant = hub
        .get(&format!("/api/market/products/{product}"), &farmer)
        .await
        .json()["variants"][0]["id"]
        .as_i64()
        .unwrap();
    let staff = hub.user("county-wu", Role::CountyStaff, None).await;
    let mut probes = Vec::new();
    for i in 0..10 {
        let name = format!("云雾-探头{i:02}");
        let token = hub
            .device(json!({ "name": name, "type": "soil-probe", "village": village }))
            .await;
        probes.push((name, token));
    }

    let dir = TempDir::new("node-netns");
    let hub_url = format!("http://{}", hub.http);
    // The join itself goes over the shaped link, from inside the namespace.
    let ns_prefix = ["ip", "netns", "exec", link.ns.as_str()];
    let out = join_cmd_with(&ns_prefix, &[], &dir.0, &hub_url, &staff, village).await;
    assert!(out.status.success(), "join: {}", String::from_utf8_lossy(&out.stderr));
    let node_id = String::from_utf8_lossy(&out.stdout).lines().last().unwrap().to_string();
    let (_child, http, _) = spawn_binary_with(&Launch {
        dir: &dir.0,
        config: None,
        database_url: None,
        env: &[],
        prefix: &ns_prefix,
        http: None,
    })
    .await;
    let mut node = NsHttp {
        ns: link.ns.clone(),
        base: format!("http://{http}"),
        cookie: None,
        csrf: None,
    };
    node.sign_in("op-chen").await;
    node.status_until(Duration::from_secs(60), "connected", |s| {
        s["connected"] == true && s["last_sync_at"].is_i64()
    })
    .await;
    // The farmer moves 10 of the 30 units to the village's node.
    let (s, a) = hub
        .post_json(
            &format!("/api/market/variants/{variant}/allocate"),
            &farmer,
            json!({ "village": village, "quantity": 10 }),
        )
        .await;
    assert_eq!(s, 200, "{a}");
    let (s, _) = node.call("POST", "/api/node/sync", Some(&json!({}))).await;
    assert_eq!(s, 202);
    let until = Instant::now() + Duration::from_secs(60);
    loop {
        let (_, p) = node
            .call("GET", &format!("/api/market/products/{product}"), None)
            .await;
        if p["stock"] == 10 {
            break;
        }
        assert!(
            Instant::now() < until,
            "the village's 10 units never reached the node: {p}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }

    let t0 = cunlink_core::time::now_ms() - 3_600_000;
    let mut sent = 0usize;
    let post = |token: &str, body: Value| {
        let path = format!("/api/v1/{token}/telemetry");
        let node = &node;
        async move {
            let (s, j) = node.call("POST", &path, Some(&body)).await;
            assert_eq!(s, 200, "telemetry at the node: {j}");
        }
    };
    for (i, (_, token)) in probes.iter().enumerate() {
        post(
            token,
            json!({ "ts": t0 + i as i64, "values": { "soil_moisture": 30 } }),
        )
        .await;
        sent += 1;
    }

    // Cut.
    link.set(false);
    node.status_until(Duration::from_secs(150), "offline", |s| {
        s["connected"] == false && s["offline_since"].is_i64()
    })
    .await;
    let (s, r) = hub
        .create_rule(&staff, json!({ "name": "断网期间新规则", "severity": "warning", "village": village,
            "target": { "device": "云雾-探头00" },
            "condition": { "type": "threshold", "conditions": [{ "key": "soil_moisture", "op": ">", "value": 95 }] } }))
        .await;
    assert_eq!(s, 201, "{r}");
    // Both sides sell during the cut, each only what it owns.
    let order = json!({ "items": [{ "product_id": product, "quantity": 1 }], "pickup_station_id": station });
    let mut node_orders = Vec::new();
    for _ in 0..12 {
        let (s, o) = node.call("POST", "/api/market/orders", Some(&order)).await;
        match s {
            201 => node_orders.push(o["id"].as_i64().unwrap()),
            409 => {}
            _ => panic!("station order at the node: {s} {o}"),
        }
    }
    assert_eq!(
        node_orders.len(),
        10,
        "the station sells exactly the village's units"
    );
    assert!(
        node_orders.iter().all(|&id| id > crate::node_sync::ID_SPAN),
        "{node_orders:?}"
    );
    let mut hub_sold = 0;
    for _ in 0..25 {
        let (s, o) = hub
            .post_json("/api/market/orders", &buyer, order.clone())
            .await;
        match s {
            201 => hub_sold += 1,
            409 => {}
            _ => panic!("online order at the hub: {s} {o}"),
        }
    }
    assert_eq!(hub_sold, 20, "the hub sells exactly its online units");
    let cut = Duration::from_secs(cut_secs());
    let started = Instant::now();
    let mut round = 0i64;
    while started.elapsed() < cut {
        for (i, (_, token)) in probes.iter().enumerate() {
            let base = t0 + 1_000 + round * 10_000 + i as i64;
            let points: Vec<Value> = (0..10)
                .map(|k| json!({ "ts": base + k * 100, "values": { "soil_moisture": 20 + (round + k) % 40 } }))
                .collect();
            post(token, Value::Array(points)).await;
            sent += 10;
        }
        round += 1;
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    let s = node
        .status_until(Duration::from_secs(5), "waiting", |_| true)
        .await;
    assert!(
        s["pending_up"].as_u64() >= Some(sent as u64 - 10),
        "what the cut held back waits: {s}"
    );
    assert_eq!(s["connected"], false);

    // Back up: everything drains over 256 kbit/s, the rule comes down.
    link.set(true);
    let s = node
        .status_until(Duration::from_secs(300), "drained", |s| {
            s["connected"] == true && s["pending_up"] == 0
        })
        .await;
    assert_eq!(s["dead_letters"], 0, "{s}");
    let until = Instant::now() + Duration::from_secs(60);
    loop {
        let (_, rules) = node.call("GET", "/api/rules", None).await;
        if rules
            .as_array()
            .is_some_and(|a| a.iter().any(|r| r["name"] == "断网期间新规则"))
        {
            break;
        }
        assert!(
            Instant::now() < until,
            "the rule made during the cut never reached the node: {rules}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let mut on_hub = 0usize;
    for (name, _) in &probes {
        let v = hub
            .query(&format!("/api/devices/{}/telemetry?keys=soil_moisture&start=0&end=9999999999999&limit=100000", enc(name)))
            .await;
        on_hub += v["soil_moisture"].as_array().map_or(0, |a| a.len());
    }
    assert_eq!(
        on_hub, sent,
        "every reading on the hub exactly once ({node_id})"
    );
    // The station's orders are on the hub under their ids, once; nothing oversold.
    for id in &node_orders {
        let r = hub
            .get(&format!("/api/market/orders/{id}"), &hub.admin_token)
            .await;
        assert_eq!(r.status, 200, "node order {id} on the hub: {}", r.text());
    }
    let c = hub.db_conn();
    let (orders, units): (i64, i64) = c
        .query_row(
            "SELECT COUNT(DISTINCT o.id), COALESCE(SUM(i.quantity), 0) FROM market_orders o JOIN market_order_items i ON i.order_id = o.id WHERE i.product_id = $1",
            [product],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(
        (orders, units),
        (30, 30),
        "30 units sold in 30 orders, none twice"
    );
    assert_eq!(
        hub.get(&format!("/api/market/products/{product}"), &farmer)
            .await
            .json()["stock"],
        0
    );
}
