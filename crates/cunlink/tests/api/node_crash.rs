//! `kill -9` of a village node and of its hub while batches are on the way,
//! again and again (issue 15): afterwards the hub holds every reading and every
//! station order exactly once. Both run as real processes (the hub on
//! PostgreSQL when CUNLINK_TEST_DATABASE_URL is set, on a fixed port so the
//! node finds it again).
//!
//! Data set: 5 probes; 4 rounds of 2,000 readings per probe and 3 station
//! orders, each round ended by killing the node and then the hub.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::common::{
    Launch, Resp, TempDir, cunlink_cmd, request, spawn_binary_with, test_database_url,
};
use crate::node_sync::{ID_SPAN, NodeProc, join};

fn user_cli(dir: &std::path::Path, username: &str, role: &str, village: Option<&str>) -> String {
    use std::io::Write;
    let mut cmd = cunlink_cmd(dir);
    cmd.args([
        "user",
        "create",
        "--data-dir",
        dir.to_str().unwrap(),
        "--username",
        username,
        "--role",
        role,
    ]);
    if let Some(v) = village {
        cmd.args(["--village", v]);
    }
    let mut child = cmd
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"a-password\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "user create: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .last()
        .unwrap()
        .trim()
        .to_string()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn start_hub(dir: &std::path::Path, http: &str) -> tokio::process::Child {
    let (child, _, _) = spawn_binary_with(&Launch {
        dir,
        config: None,
        database_url: test_database_url(dir),
        env: &[],
        prefix: &[],
        http: Some(http),
    })
    .await;
    child
}

async fn call(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> Resp {
    let auth = format!("Bearer {token}");
    let mut h = vec![("authorization", auth.as_str())];
    if body.is_some() {
        h.push(("content-type", "application/json"));
    }
    request(
        addr,
        method,
        path,
        &h,
        body.map(|b| b.to_string().into_bytes()).unwrap_or_default(),
    )
    .await
}

async fn kill(child: &mut tokio::process::Child) {
    child.start_kill().unwrap();
    let _ = child.wait().await;
}

#[tokio::test]
async fn kill_9_of_node_and_hub_mid_batch_loses_and_doubles_nothing() {
    let village = "柳树村";
    let hub_dir = TempDir::new("node-crash-hub");
    let admin = user_cli(&hub_dir.0, "admin-crash", "admin", None);
    let staff = user_cli(&hub_dir.0, "county-crash", "county_staff", None);
    let farmer = user_cli(&hub_dir.0, "farmer-crash", "farmer", Some(village));
    user_cli(&hub_dir.0, "op-crash", "station_operator", Some(village));
    let hub_http = format!("127.0.0.1:{}", free_port());
    let hub_addr: SocketAddr = hub_http.parse().unwrap();
    let mut hub = start_hub(&hub_dir.0, &hub_http).await;

    let mut probes = Vec::new();
    for i in 0..5 {
        let name = format!("柳树-探头{i}");
        let r = call(
            hub_addr,
            "POST",
            "/api/devices",
            &staff,
            Some(json!({ "name": name, "type": "soil-probe", "village": village })),
        )
        .await;
        assert_eq!(r.status, 201, "{}", r.text());
        probes.push((name, r.json()["token"].as_str().unwrap().to_string()));
    }
    let r = call(
        hub_addr,
        "POST",
        "/api/market/stations",
        &admin,
        Some(json!({ "village": village, "name": "柳树村站" })),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text());
    let station = r.json()["id"].as_i64().unwrap();
    let r = call(
        hub_addr,
        "POST",
        "/api/market/products",
        &farmer,
        Some(json!({ "name": "柳树蜂蜜", "unit": "瓶", "price_fen": 4500, "stock": 100 })),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text());
    let product = r.json()["id"].as_i64().unwrap();
    let variant = call(
        hub_addr,
        "GET",
        &format!("/api/market/products/{product}"),
        &farmer,
        None,
    )
    .await
    .json()["variants"][0]["id"]
        .as_i64()
        .unwrap();

    let node_dir = TempDir::new("node-crash-node");
    join(&node_dir.0, &format!("http://{hub_http}"), &staff, village).await;
    let r = call(
        hub_addr,
        "POST",
        &format!("/api/market/variants/{variant}/allocate"),
        &farmer,
        Some(json!({ "village": village, "quantity": 60 })),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let mut node = NodeProc::start(&node_dir.0, &[], "op-crash").await;
    let until = Instant::now() + Duration::from_secs(60);
    while node
        .get(&format!("/api/market/products/{product}"))
        .await
        .json()["stock"]
        != 60
    {
        assert!(
            Instant::now() < until,
            "the village's units never reached the node"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let t0 = cunlink_core::time::now_ms() - 30 * 86_400_000;
    let mut per_probe = 0usize;
    let mut orders = Vec::new();
    let mut killed_mid_batch = 0;
    for round in 0..4i64 {
        for (i, (_, token)) in probes.iter().enumerate() {
            let points: Vec<Value> = (0..2000i64)
                .map(|k| json!({ "ts": t0 + round * 10_000_000 + k * 1000 + i as i64, "values": { "soil_moisture": (k % 50) as f64 + 0.5 } }))
                .collect();
            node.telemetry(token, Value::Array(points)).await;
        }
        per_probe += 2000;
        for _ in 0..3 {
            let r = node
                .post("/api/market/orders", json!({ "items": [{ "product_id": product, "quantity": 1 }], "pickup_station_id": station }))
                .await;
            assert_eq!(r.status, 201, "{}", r.text());
            orders.push(r.json()["id"].as_i64().unwrap());
        }
        // Mid-sync: the node first, then the hub while the node resends.
        let before = node.status().await;
        eprintln!(
            "round {round}: killing the node with {} waiting",
            before["pending_up"]
        );
        if before["pending_up"].as_u64() > Some(0) {
            killed_mid_batch += 1;
        }
        kill(&mut node.child).await;
        node = NodeProc::start(&node_dir.0, &[], "op-crash").await;
        kill(&mut hub).await;
        hub = start_hub(&hub_dir.0, &hub_http).await;
    }
    assert!(
        killed_mid_batch > 0,
        "no kill came while something waited to be sent"
    );
    let s = node
        .status_until(Duration::from_secs(120), "drained", |s| {
            s["connected"] == true && s["pending_up"] == 0
        })
        .await;
    assert_eq!(s["dead_letters"], 0, "{s}");
    for (name, _) in &probes {
        let path = format!(
            "/api/devices/{}/telemetry?keys=soil_moisture&start=0&end=9999999999999&limit=100000",
            crate::common::enc(name)
        );
        let r = call(hub_addr, "GET", &path, &staff, None).await;
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(
            r.json()["soil_moisture"].as_array().map_or(0, Vec::len),
            per_probe,
            "{name}: every reading once"
        );
    }
    let c = crate::common::db_conn_at(&hub_dir.0);
    let mut on_hub: Vec<i64> = {
        let mut st = c
            .prepare("SELECT id FROM market_orders WHERE id > $1 ORDER BY id")
            .unwrap();
        st.query_map([ID_SPAN], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    };
    orders.sort();
    on_hub.sort();
    assert_eq!(
        on_hub, orders,
        "every station order on the hub once, under its id"
    );
    let items: i64 = c
        .query_row(
            "SELECT COUNT(*) FROM market_order_items WHERE order_id > $1",
            [ID_SPAN],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(items, orders.len() as i64, "no order line twice");
    kill(&mut hub).await;
}
