//! Early-warning benchmark, against the real `cunlink` binary on 127.0.0.1:
//!
//! 1. **Rule cost**: HTTP gateway ingest throughput (10,000 devices, 2 values
//!    each, spread over 10 request bodies) without rules, then with one
//!    threshold rule per device (10,000 rules created through `/api/rules`).
//! 2. **Latency**: with those rules, background ingest at half the larger maximum just
//!    measured, a test device crosses a threshold every 50 ms; the time from
//!    sending that reading to the webhook receiving the alarm is measured. It
//!    includes the commit, so it bounds commit → notification from above.
//!
//! `cunlink-alert-load --bin target/release/cunlink [--seconds 10] [--devices 10000] [--triggers 200]`
//! prints `RESULT …` lines. Every loop is bounded in count and time.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_util::rt::TokioIo;
use serde_json::json;
use tokio::net::TcpStream;
use tokio::process::{Child, Command};
use tokio::sync::mpsc;

struct Args {
    bin: String,
    seconds: f64,
    devices: usize,
    triggers: usize,
    conns: usize,
}

fn args() -> Args {
    let mut a = Args {
        bin: "target/release/cunlink".into(),
        seconds: 10.0,
        devices: 10_000,
        triggers: 200,
        conns: 16,
    };
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        let v = it.next().unwrap_or_default();
        match k.as_str() {
            "--bin" => a.bin = v,
            "--seconds" => a.seconds = v.parse().unwrap_or(a.seconds),
            "--devices" => a.devices = v.parse().unwrap_or(a.devices),
            "--triggers" => a.triggers = v.parse().unwrap_or(a.triggers),
            "--conns" => a.conns = v.parse().unwrap_or(a.conns),
            _ => panic!("unknown argument {k}"),
        }
    }
    a
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Run a cunlink CLI command; its last stdout line.
async fn cli(bin: &str, args: &[&str], stdin: Option<&str>) -> String {
    use tokio::io::AsyncWriteExt;
    let mut cmd = Command::new(bin);
    cmd.args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null());
    let mut child = cmd.spawn().expect("cunlink runs");
    if let Some(s) = stdin {
        let mut i = child.stdin.take().unwrap();
        i.write_all(s.as_bytes()).await.unwrap();
    }
    drop(child.stdin.take());
    let out = child.wait_with_output().await.unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .last()
        .unwrap_or_default()
        .trim()
        .to_string()
}

struct Server {
    child: Child,
    http: SocketAddr,
    admin: String,
    gateway: String,
    _dir: TempDir,
}

struct TempDir(std::path::PathBuf);
impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

async fn start(bin: &str, tag: &str) -> Server {
    let dir =
        std::env::temp_dir().join(format!("cunlink-alert-bench-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let d = dir.to_string_lossy().to_string();
    let admin = cli(
        bin,
        &[
            "user",
            "create",
            "--data-dir",
            &d,
            "--username",
            "bench",
            "--role",
            "admin",
        ],
        Some("bench-password\n"),
    )
    .await;
    let gateway = cli(
        bin,
        &[
            "device",
            "create",
            "--data-dir",
            &d,
            "--name",
            "bench-gateway",
            "--gateway",
        ],
        None,
    )
    .await;
    let (hp, mp) = (free_port(), free_port());
    // The latency run's webhook receiver listens on 127.0.0.1, which the
    // server refuses to notify unless the configuration allows it.
    let config = dir.join("bench.toml");
    std::fs::write(&config, "[notify]\nallow_private = true\n").expect("write bench config");
    let child = Command::new(bin)
        .args([
            "serve",
            "--config",
            &config.to_string_lossy(),
            "--data-dir",
            &d,
            "--http",
            &format!("127.0.0.1:{hp}"),
            "--mqtt",
            &format!("127.0.0.1:{mp}"),
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("server starts");
    let http: SocketAddr = format!("127.0.0.1:{hp}").parse().unwrap();
    for _ in 0..200 {
        if TcpStream::connect(http).await.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Server {
        child,
        http,
        admin,
        gateway,
        _dir: TempDir(dir),
    }
}

/// A keep-alive HTTP/1.1 connection.
struct Conn {
    sender: hyper::client::conn::http1::SendRequest<Full<Bytes>>,
    addr: SocketAddr,
}

impl Conn {
    async fn open(addr: SocketAddr) -> Conn {
        let s = TcpStream::connect(addr).await.expect("connect");
        let _ = s.set_nodelay(true);
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(s))
            .await
            .expect("handshake");
        tokio::spawn(conn);
        Conn { sender, addr }
    }

    async fn send(
        &mut self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Bytes,
    ) -> (u16, Bytes) {
        if self.sender.ready().await.is_err() {
            *self = Conn::open(self.addr).await;
        }
        let mut req = Request::builder()
            .method(method)
            .uri(path)
            .header("host", self.addr.to_string())
            .header("content-type", "application/json");
        if let Some(t) = token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        let resp = match self
            .sender
            .send_request(req.body(Full::new(body)).unwrap())
            .await
        {
            Ok(r) => r,
            Err(_) => return (0, Bytes::new()),
        };
        let status = resp.status().as_u16();
        let body = resp
            .into_body()
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        (status, body)
    }
}

/// Bodies that together give every device two values.
fn bodies(devices: usize) -> Vec<Bytes> {
    (0..devices)
        .collect::<Vec<_>>()
        .chunks(1000)
        .map(|chunk| {
            let mut m = serde_json::Map::new();
            for i in chunk {
                m.insert(
                    format!("dev{i:05}"),
                    json!({ "temperature": 23.5, "humidity": 61.2 }),
                );
            }
            Bytes::from(serde_json::Value::Object(m).to_string())
        })
        .collect()
}

/// Send gateway bodies on `conns` connections for `seconds`, at most `rate`
/// values/s in total (None: as fast as acks come). Returns values/s acked.
async fn load(
    http: SocketAddr,
    gateway: &str,
    conns: usize,
    seconds: f64,
    rate: Option<f64>,
    stop: Arc<AtomicBool>,
) -> f64 {
    let bodies = Arc::new(bodies_cache());
    let values = Arc::new(AtomicU64::new(0));
    let path = format!("/api/v1/{gateway}/gateway/telemetry");
    let started = Instant::now();
    let until = started + Duration::from_secs_f64(seconds);
    let mut tasks = Vec::new();
    for c in 0..conns {
        let (bodies, values, path, stop) =
            (bodies.clone(), values.clone(), path.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            let mut conn = Conn::open(http).await;
            let mut k = c;
            let per_req = 2000.0;
            let interval = rate.map(|r| Duration::from_secs_f64(per_req * conns as f64 / r));
            let mut next = Instant::now();
            while Instant::now() < until && !stop.load(Ordering::Relaxed) {
                if let Some(iv) = interval {
                    next += iv;
                    let now = Instant::now();
                    if next > now {
                        tokio::time::sleep(next - now).await;
                    }
                }
                let body = bodies[k % bodies.len()].clone();
                k += 1;
                let (st, _) = conn.send("POST", &path, None, body).await;
                if st == 200 {
                    values.fetch_add(2000, Ordering::Relaxed);
                }
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    values.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64()
}

static BODIES: std::sync::OnceLock<Vec<Bytes>> = std::sync::OnceLock::new();
fn bodies_cache() -> Vec<Bytes> {
    BODIES.get().cloned().unwrap_or_default()
}

async fn metric(addr: SocketAddr, name: &str) -> f64 {
    let mut c = Conn::open(addr).await;
    let (_, body) = c.send("GET", "/metrics", None, Bytes::new()).await;
    String::from_utf8_lossy(&body)
        .lines()
        .find_map(|l| l.strip_prefix(name).and_then(|r| r.trim().parse().ok()))
        .unwrap_or(0.0)
}

async fn seed_devices(s: &Server) {
    let mut c = Conn::open(s.http).await;
    let path = format!("/api/v1/{}/gateway/telemetry", s.gateway);
    for b in bodies_cache() {
        let (st, body) = c.send("POST", &path, None, b).await;
        assert_eq!(
            st,
            200,
            "seeding devices: {}",
            String::from_utf8_lossy(&body)
        );
    }
}

async fn create_rules(s: &Server, devices: usize) {
    let next = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let (next, addr, admin) = (next.clone(), s.http, s.admin.clone());
        tasks.push(tokio::spawn(async move {
            let mut c = Conn::open(addr).await;
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed) as usize;
                if i >= devices {
                    break;
                }
                let rule = json!({ "name": format!("过热 {i}"), "severity": "minor", "target": { "device": format!("dev{i:05}") },
                    "condition": { "type": "threshold", "conditions": [{ "key": "temperature", "op": ">", "value": 60 }], "for_s": 60 } });
                let (st, body) = c.send("POST", "/api/rules", Some(&admin), Bytes::from(rule.to_string())).await;
                assert_eq!(st, 201, "rule {i}: {}", String::from_utf8_lossy(&body));
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    for _ in 0..600 {
        if metric(s.http, "cunlink_alert_watched_pairs").await >= devices as f64 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the engine did not pick up {devices} rules");
}

fn pct(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    if v.is_empty() {
        return f64::NAN;
    }
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

#[tokio::main]
async fn main() {
    let a = args();
    let _ = BODIES.set(bodies(a.devices));
    let never = Arc::new(AtomicBool::new(false));

    eprintln!(
        "[alert-bench] rule cost: {} devices, {} s loads, {} connections",
        a.devices, a.seconds, a.conns
    );
    let mut base = start(&a.bin, "base").await;
    seed_devices(&base).await;
    let without = load(
        base.http,
        &base.gateway,
        a.conns,
        a.seconds,
        None,
        never.clone(),
    )
    .await;
    let _ = base.child.kill().await;
    drop(base);

    let mut s = start(&a.bin, "rules").await;
    seed_devices(&s).await;
    let t = Instant::now();
    create_rules(&s, a.devices).await;
    eprintln!(
        "[alert-bench] {} rules created and active in {:.1} s",
        a.devices,
        t.elapsed().as_secs_f64()
    );
    let with = load(s.http, &s.gateway, a.conns, a.seconds, None, never.clone()).await;
    let lagged = metric(s.http, "cunlink_alert_lagged_batches_total").await;
    println!(
        "RESULT rule_cost devices={} rules={} values_per_s_without={:.0} values_per_s_with={:.0} cost_pct={:.1} engine_lagged_batches={}",
        a.devices,
        a.devices,
        without,
        with,
        (1.0 - with / without) * 100.0,
        lagged
    );

    // Latency: a webhook receiver, a rule that fires at once, background load at half the max.
    // (arrival, wall-clock ms at arrival − the reading's commit time stated in the alarm)
    let (tx, mut arrivals) = mpsc::unbounded_channel::<(Instant, Option<f64>)>();
    let recv = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |body: Bytes| {
            let tx = tx.clone();
            async move {
                if body.windows(4).any(|w| w == b"lat-") {
                    let now = Instant::now();
                    let wall = std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map(|d| d.as_secs_f64() * 1000.0)
                        .unwrap_or(0.0);
                    let committed = serde_json::from_slice::<serde_json::Value>(&body)
                        .ok()
                        .and_then(|v| v["alarm"]["details"]["committed_at"].as_f64());
                    let _ = tx.send((now, committed.map(|c| wall - c)));
                }
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hook = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, recv).await;
    });
    let mut c = Conn::open(s.http).await;
    let (st, b) = c
        .send(
            "POST",
            "/api/webhooks",
            Some(&s.admin),
            Bytes::from(json!({ "url": format!("http://{hook}/hook") }).to_string()),
        )
        .await;
    assert_eq!(st, 201, "{}", String::from_utf8_lossy(&b));
    let gw_path = format!("/api/v1/{}/gateway/telemetry", s.gateway);
    let (st, _) = c
        .send(
            "POST",
            &gw_path,
            None,
            Bytes::from(r#"{"lat-probe":{"temperature":20}}"#),
        )
        .await;
    assert_eq!(st, 200);
    let rule = json!({ "name": "lat-rule", "severity": "critical", "target": { "device": "lat-probe" },
        "condition": { "type": "threshold", "conditions": [{ "key": "temperature", "op": ">", "value": 100 }] } });
    let (st, b) = c
        .send(
            "POST",
            "/api/rules",
            Some(&s.admin),
            Bytes::from(rule.to_string()),
        )
        .await;
    assert_eq!(st, 201, "{}", String::from_utf8_lossy(&b));
    tokio::time::sleep(Duration::from_millis(500)).await;

    // Half the maximum ingest measured in this run (without rules: the larger).
    let target = without.max(with) / 2.0;
    let stop = Arc::new(AtomicBool::new(false));
    let bg_seconds = 120.0;
    let bg = {
        let (stop, conns) = (stop.clone(), a.conns);
        let s_http = s.http;
        let gateway = s.gateway.clone();
        tokio::spawn(
            async move { load(s_http, &gateway, conns, bg_seconds, Some(target), stop).await },
        )
    };
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mut lat = Vec::new();
    let mut after_ack = Vec::new();
    let mut from_commit = Vec::new();
    let mut ack_ms = Vec::new();
    let mut missed = 0;
    let deadline = Instant::now() + Duration::from_secs(100);
    for _ in 0..a.triggers {
        if Instant::now() > deadline {
            break;
        }
        while arrivals.try_recv().is_ok() {}
        let sent = Instant::now();
        let (st, _) = c
            .send(
                "POST",
                &gw_path,
                None,
                Bytes::from(r#"{"lat-probe":{"temperature":150}}"#),
            )
            .await;
        assert_eq!(st, 200);
        let acked = Instant::now();
        ack_ms.push((acked - sent).as_secs_f64() * 1000.0);
        match tokio::time::timeout(Duration::from_secs(2), arrivals.recv()).await {
            Ok(Some((at, since_commit))) => {
                lat.push((at - sent).as_secs_f64() * 1000.0);
                if let Some(ms) = since_commit {
                    from_commit.push(ms);
                }
                // The webhook may answer before the ingest 200 reaches us.
                after_ack.push(at.saturating_duration_since(acked).as_secs_f64() * 1000.0);
            }
            _ => missed += 1,
        }
        let (st, _) = c
            .send(
                "POST",
                &gw_path,
                None,
                Bytes::from(r#"{"lat-probe":{"temperature":20}}"#),
            )
            .await;
        assert_eq!(st, 200);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop.store(true, Ordering::Relaxed);
    let achieved = bg.await.unwrap_or(0.0);
    let n = lat.len();
    // send→webhook includes the reading's own commit: an upper bound of
    // commit→notification. ack→webhook starts after the commit: a lower bound.
    // commit→webhook from the commit time the server states (wall clock, ms).
    println!(
        "RESULT commit_to_notification samples={} p50_ms={:.1} p99_ms={:.1} max_ms={:.1}",
        from_commit.len(),
        pct(&mut from_commit, 0.5),
        pct(&mut from_commit, 0.99),
        pct(&mut from_commit, 1.0)
    );
    println!(
        "RESULT latency triggers={} received={} missed={} background_target_values_per_s={:.0} background_values_per_s={:.0} send_to_webhook_p50_ms={:.1} p99_ms={:.1} max_ms={:.1} ingest_ack_p99_ms={:.1} ack_to_webhook_p50_ms={:.1} p99_ms={:.1} max_ms={:.1}",
        a.triggers,
        n,
        missed,
        target,
        achieved,
        pct(&mut lat, 0.5),
        pct(&mut lat, 0.99),
        pct(&mut lat, 1.0),
        pct(&mut ack_ms, 0.99),
        pct(&mut after_ack, 0.5),
        pct(&mut after_ack, 0.99),
        pct(&mut after_ack, 1.0)
    );
    let _ = s.child.kill().await;
}
