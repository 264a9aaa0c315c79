//! Three `cunlink serve` processes over one PostgreSQL behave as one deployment
//! (issue 14). Runs when `CUNLINK_TEST_DATABASE_URL` is set (./test sets it):
//! there is nothing to share between processes on SQLite.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::common::{TempDir, cunlink_cmd, request, spawn_binary_on};

struct Node {
    http: SocketAddr,
    _child: tokio::process::Child,
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
    let (child, http, _mqtt) = spawn_binary_on(&dir.0, None, Some(url.to_string())).await;
    Node {
        http: http.parse().unwrap(),
        _child: child,
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
}
