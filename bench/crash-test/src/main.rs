//! Crash test: is every acknowledged write there exactly once after `kill -9`?
//!
//! ```text
//! cunlink-crash-test BIN KILLS [SEED]
//! ```
//!
//! Sets up a throwaway data directory with the `cunlink` binary BIN (two devices, a
//! farmer with a product, a buyer, a station), then KILLS times: starts the server,
//! drives three writers at once, and SIGKILLs it after a random 0.3–2.3 s:
//!
//! * HTTP ingest: one reading per request, `{"ts": T0+seq, "values": {"s": seq}}`,
//!   acknowledged by a 200;
//! * MQTT 3.1.1 QoS 1: the same on another device, up to 32 in flight,
//!   acknowledged by the PUBACK;
//! * orders: `POST /api/market/orders` with `Idempotency-Key: crash-{seq}`,
//!   acknowledged by the 201 (its order id is recorded).
//!
//! What was sent but not acknowledged when the server died is sent again (same
//! timestamp, same key) after the restart, as a device or a shop client would.
//! At the end the server runs once more until everything is acknowledged, then:
//! every sequence number of each stream is read back exactly once with its value
//! (readings through the query API), and the buyer's orders in the database are
//! exactly the acknowledged ids, one per sequence number. Prints one summary line
//! and exits 1 on any loss or duplicate.
//!
//! The MQTT and HTTP encodings here are written independently of the server's code.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Reading timestamps: T0 + sequence number (ms), far from the demo's "now".
const T0: i64 = 1_700_000_000_000;
const MQTT_WINDOW: usize = 32;
const VILLAGE: &str = "茶香村";

fn die(msg: &str) -> ! {
    eprintln!("cunlink-crash-test: {msg}");
    std::process::exit(2)
}

/// Sequence numbers of one stream: handed out, acknowledged, or sent without an answer.
#[derive(Default)]
struct Seqs {
    next: u64,
    acked: BTreeMap<u64, i64>,
    pending: BTreeSet<u64>,
}

impl Seqs {
    /// The next number to send: a pending one first. In drain mode only pending ones.
    fn take(&mut self, drain: bool) -> Option<u64> {
        if let Some(s) = self.pending.pop_first() {
            return Some(s);
        }
        if drain {
            return None;
        }
        self.next += 1;
        Some(self.next)
    }
}

#[derive(Default)]
struct Shared {
    http: Mutex<Seqs>,
    mqtt: Mutex<Seqs>,
    orders: Mutex<Seqs>,
    problems: Mutex<Vec<String>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

struct Setup {
    bin: PathBuf,
    dir: PathBuf,
    http: SocketAddr,
    mqtt: SocketAddr,
    http_token: String,
    mqtt_token: String,
    admin: String,
    farmer: String,
    buyer: String,
    product: i64,
    station: i64,
}

fn cli(bin: &Path, args: &[&str], stdin: Option<&str>) -> String {
    let mut c = std::process::Command::new(bin);
    c.args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = c
        .spawn()
        .unwrap_or_else(|e| die(&format!("run {bin:?}: {e}")));
    if let Some(input) = stdin {
        use std::io::Write;
        let _ = child
            .stdin
            .take()
            .map(|mut s| s.write_all(input.as_bytes()));
    }
    let out = child
        .wait_with_output()
        .unwrap_or_else(|e| die(&format!("{e}")));
    if !out.status.success() {
        die(&format!(
            "{args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .last()
        .unwrap_or_default()
        .trim()
        .to_string()
}

fn free_port() -> SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap_or_else(|e| die(&format!("no free port: {e}")))
}

/// One keep-alive HTTP/1.1 connection, reopened after an error.
struct Http {
    addr: SocketAddr,
    send: Option<SendRequest<Full<Bytes>>>,
}

impl Http {
    fn new(addr: SocketAddr) -> Http {
        Http { addr, send: None }
    }

    async fn call(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: String,
    ) -> Result<(u16, Vec<u8>), String> {
        let r = tokio::time::timeout(
            Duration::from_secs(10),
            self.call_inner(method, path, headers, body),
        )
        .await
        .unwrap_or_else(|_| Err("timed out".into()));
        if r.is_err() {
            self.send = None;
        }
        r
    }

    async fn call_inner(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: String,
    ) -> Result<(u16, Vec<u8>), String> {
        if self.send.is_none() {
            let s = TcpStream::connect(self.addr)
                .await
                .map_err(|e| e.to_string())?;
            let (send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(s))
                .await
                .map_err(|e| e.to_string())?;
            tokio::spawn(conn);
            self.send = Some(send);
        }
        let send = self.send.as_mut().ok_or("no connection")?;
        send.ready().await.map_err(|e| e.to_string())?;
        let mut b = Request::builder()
            .method(method)
            .uri(path)
            .header("host", "crash");
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        let req = b
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| e.to_string())?;
        let resp = send.send_request(req).await.map_err(|e| e.to_string())?;
        let status = resp.status().as_u16();
        let body = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| e.to_string())?
            .to_bytes()
            .to_vec();
        Ok((status, body))
    }
}

fn json(body: &[u8]) -> serde_json::Value {
    serde_json::from_slice(body).unwrap_or(serde_json::Value::Null)
}

fn setup(bin: PathBuf) -> Setup {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(1);
    let dir = std::env::temp_dir().join(format!("cunlink-crash-{}-{nanos:x}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| die(&format!("{e}")));
    let d = dir.to_string_lossy().to_string();
    let device = |name: &str| {
        cli(
            &bin,
            &[
                "device",
                "create",
                "--data-dir",
                &d,
                "--name",
                name,
                "--asset",
                "crash-field",
                "--village",
                VILLAGE,
            ],
            None,
        )
    };
    let http_token = device("crash-http");
    let mqtt_token = device("crash-mqtt");
    let user = |name: &str, role: &str, village: Option<&str>| {
        let mut args = vec![
            "user",
            "create",
            "--data-dir",
            &d,
            "--username",
            name,
            "--role",
            role,
        ];
        if let Some(v) = village {
            args.extend(["--village", v]);
        }
        cli(&bin, &args, Some("crash-test-password\n"))
    };
    let admin = user("crash-admin", "admin", None);
    let farmer = user("crash-farmer", "farmer", Some(VILLAGE));
    let buyer = user("crash-buyer", "buyer", None);
    let station: i64 = cli(
        &bin,
        &[
            "station",
            "create",
            "--data-dir",
            &d,
            "--village",
            VILLAGE,
            "--name",
            "crash-station",
        ],
        None,
    )
    .parse()
    .unwrap_or_else(|_| die("station id"));
    Setup {
        bin,
        dir,
        http: free_port(),
        mqtt: free_port(),
        http_token,
        mqtt_token,
        admin,
        farmer,
        buyer,
        // Created through the API once the server runs.
        product: 0,
        station,
    }
}

async fn start_server(s: &Setup, cycle: usize) -> tokio::process::Child {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(s.dir.join("server.log"))
        .unwrap_or_else(|e| die(&format!("{e}")));
    let child = tokio::process::Command::new(&s.bin)
        .args(["serve", "--data-dir"])
        .arg(&s.dir)
        .args(["--http", &s.http.to_string(), "--mqtt", &s.mqtt.to_string()])
        .env("NO_COLOR", "1")
        .stdout(Stdio::null())
        .stderr(log)
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| die(&format!("start server: {e}")));
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut h = Http::new(s.http);
    loop {
        if let Ok((200, _)) = h.call("GET", "/healthz", &[], String::new()).await {
            return child;
        }
        if Instant::now() > deadline {
            die(&format!(
                "server did not come up (cycle {cycle}); see {}",
                s.dir.join("server.log").display()
            ));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn http_ingest(s: Arc<Setup>, sh: Arc<Shared>, stop: Arc<AtomicBool>, drain: bool) {
    let mut h = Http::new(s.http);
    let path = format!("/api/v1/{}/telemetry", s.http_token);
    while !stop.load(Ordering::Relaxed) {
        let Some(seq) = lock(&sh.http).take(drain) else {
            return;
        };
        let body = format!(r#"{{"ts":{},"values":{{"s":{seq}}}}}"#, T0 + seq as i64);
        match h
            .call("POST", &path, &[("content-type", "application/json")], body)
            .await
        {
            Ok((200, _)) => {
                lock(&sh.http).acked.insert(seq, 0);
            }
            Ok((503, _)) => {
                lock(&sh.http).pending.insert(seq);
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Ok((status, body)) => {
                lock(&sh.http).pending.insert(seq);
                lock(&sh.problems).push(format!(
                    "http ingest {seq}: {status} {}",
                    String::from_utf8_lossy(&body)
                ));
                return;
            }
            Err(_) => {
                // The server died with this request in flight: it may or may not be stored.
                lock(&sh.http).pending.insert(seq);
                return;
            }
        }
    }
}

async fn place_orders(s: Arc<Setup>, sh: Arc<Shared>, stop: Arc<AtomicBool>, drain: bool) {
    let mut h = Http::new(s.http);
    let auth = format!("Bearer {}", s.buyer);
    while !stop.load(Ordering::Relaxed) {
        let Some(seq) = lock(&sh.orders).take(drain) else {
            return;
        };
        let key = format!("crash-{seq}");
        let body = format!(
            r#"{{"items":[{{"product_id":{},"quantity":1}}],"pickup_station_id":{}}}"#,
            s.product, s.station
        );
        match h
            .call(
                "POST",
                "/api/market/orders",
                &[
                    ("authorization", &auth),
                    ("content-type", "application/json"),
                    ("idempotency-key", &key),
                ],
                body,
            )
            .await
        {
            Ok((201, body)) => match json(&body)["id"].as_i64() {
                Some(id) => {
                    lock(&sh.orders).acked.insert(seq, id);
                }
                None => {
                    lock(&sh.problems).push(format!("order {seq}: 201 without an id"));
                    return;
                }
            },
            Ok((503, _)) => {
                lock(&sh.orders).pending.insert(seq);
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Ok((status, body)) => {
                lock(&sh.orders).pending.insert(seq);
                lock(&sh.problems).push(format!(
                    "order {seq}: {status} {}",
                    String::from_utf8_lossy(&body)
                ));
                return;
            }
            Err(_) => {
                lock(&sh.orders).pending.insert(seq);
                return;
            }
        }
    }
}

fn mqtt_len(out: &mut Vec<u8>, mut n: usize) {
    loop {
        let b = (n % 128) as u8;
        n /= 128;
        out.push(if n > 0 { b | 0x80 } else { b });
        if n == 0 {
            return;
        }
    }
}

fn mqtt_str(out: &mut Vec<u8>, s: &[u8]) {
    out.extend_from_slice(&(s.len() as u16).to_be_bytes());
    out.extend_from_slice(s);
}

/// MQTT 3.1.1 publisher of the mqtt stream; what is in flight when the
/// connection dies goes back to pending.
async fn mqtt_ingest(s: Arc<Setup>, sh: Arc<Shared>, stop: Arc<AtomicBool>, drain: bool) {
    let mut inflight: BTreeMap<u16, u64> = BTreeMap::new();
    let r = mqtt_session(&s, &sh, &stop, drain, &mut inflight).await;
    let mut q = lock(&sh.mqtt);
    q.pending.extend(inflight.into_values());
    if let Err(e) = r
        && drain
    {
        lock(&sh.problems).push(format!("mqtt while draining: {e}"));
    }
}

async fn mqtt_session(
    s: &Setup,
    sh: &Shared,
    stop: &AtomicBool,
    drain: bool,
    inflight: &mut BTreeMap<u16, u64>,
) -> Result<(), String> {
    let mut stream = TcpStream::connect(s.mqtt)
        .await
        .map_err(|e| e.to_string())?;
    let _ = stream.set_nodelay(true);
    let mut body = Vec::new();
    mqtt_str(&mut body, b"MQTT");
    body.extend_from_slice(&[4, 0x82, 0, 60]); // 3.1.1, username + clean session, keep-alive 60 s
    mqtt_str(&mut body, b"crash-test");
    mqtt_str(&mut body, s.mqtt_token.as_bytes());
    let mut pkt = vec![0x10];
    mqtt_len(&mut pkt, body.len());
    pkt.extend(body);
    stream.write_all(&pkt).await.map_err(|e| e.to_string())?;
    let mut connack = [0u8; 4];
    stream
        .read_exact(&mut connack)
        .await
        .map_err(|e| e.to_string())?;
    if connack != [0x20, 2, 0, 0] {
        return Err(format!("connack {connack:?}"));
    }
    let (mut rd, mut wr) = stream.into_split();
    let mut pkid: u16 = 0;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        // Fill the window.
        let mut out = Vec::new();
        while inflight.len() < MQTT_WINDOW && !stop.load(Ordering::Relaxed) {
            let Some(seq) = lock(&sh.mqtt).take(drain) else {
                break;
            };
            pkid = pkid.checked_add(1).unwrap_or(1);
            while inflight.contains_key(&pkid) {
                pkid = pkid.checked_add(1).unwrap_or(1);
            }
            inflight.insert(pkid, seq);
            let payload = format!(r#"{{"ts":{},"values":{{"s":{seq}}}}}"#, T0 + seq as i64);
            let mut body = Vec::new();
            mqtt_str(&mut body, b"v1/devices/me/telemetry");
            body.extend_from_slice(&pkid.to_be_bytes());
            body.extend_from_slice(payload.as_bytes());
            out.push(0x32);
            mqtt_len(&mut out, body.len());
            out.extend(body);
        }
        if inflight.is_empty() {
            return Ok(());
        }
        if !out.is_empty() {
            wr.write_all(&out).await.map_err(|e| e.to_string())?;
        }
        let n = tokio::time::timeout(Duration::from_secs(10), rd.read(&mut chunk))
            .await
            .map_err(|_| "no PUBACK within 10 s".to_string())?
            .map_err(|e| e.to_string())?;
        if n == 0 {
            return Err("closed".into());
        }
        buf.extend_from_slice(&chunk[..n]);
        while buf.len() >= 4 {
            if buf[0] != 0x40 || buf[1] != 2 {
                return Err(format!("unexpected packet {:02x?}", &buf[..4]));
            }
            let id = u16::from_be_bytes([buf[2], buf[3]]);
            buf.drain(..4);
            match inflight.remove(&id) {
                Some(seq) => {
                    lock(&sh.mqtt).acked.insert(seq, 0);
                }
                None => return Err(format!("PUBACK for unknown packet id {id}")),
            }
        }
    }
}

/// Run the three writers until `stop` (or, in drain mode, until nothing is pending).
fn writers(
    s: &Arc<Setup>,
    sh: &Arc<Shared>,
    stop: &Arc<AtomicBool>,
    drain: bool,
) -> Vec<tokio::task::JoinHandle<()>> {
    vec![
        tokio::spawn(http_ingest(s.clone(), sh.clone(), stop.clone(), drain)),
        tokio::spawn(mqtt_ingest(s.clone(), sh.clone(), stop.clone(), drain)),
        tokio::spawn(place_orders(s.clone(), sh.clone(), stop.clone(), drain)),
    ]
}

/// Every value of key `s` of a device, by timestamp window (each window holds
/// fewer points than the limit, so nothing is cut off).
async fn read_back(s: &Setup, device: &str, max_seq: u64) -> Result<Vec<(i64, i64)>, String> {
    let mut h = Http::new(s.http);
    let auth = format!("Bearer {}", s.admin);
    let mut out = Vec::new();
    let mut from = T0;
    let end = T0 + max_seq as i64 + 1000;
    while from <= end {
        let to = from + 999;
        let path =
            format!("/api/devices/{device}/telemetry?keys=s&start={from}&end={to}&limit=1000");
        let (status, body) = h
            .call("GET", &path, &[("authorization", &auth)], String::new())
            .await?;
        if status != 200 {
            return Err(format!(
                "{path}: {status} {}",
                String::from_utf8_lossy(&body)
            ));
        }
        for p in json(&body)["s"].as_array().into_iter().flatten() {
            out.push((
                p["ts"].as_i64().unwrap_or(-1),
                p["value"].as_i64().unwrap_or(-1),
            ));
        }
        from = to + 1;
    }
    Ok(out)
}

/// (lost, duplicated, wrong) for a reading stream.
fn check_readings(
    name: &str,
    q: &Seqs,
    points: &[(i64, i64)],
    problems: &mut Vec<String>,
) -> (usize, usize) {
    let mut seen: BTreeMap<u64, usize> = BTreeMap::new();
    for &(ts, v) in points {
        let seq = (ts - T0) as u64;
        if v != seq as i64 {
            problems.push(format!("{name}: ts {ts} holds {v}, expected {seq}"));
        }
        if seq == 0 || seq > q.next {
            problems.push(format!("{name}: reading {seq} was never sent"));
        }
        *seen.entry(seq).or_default() += 1;
    }
    let lost = q.acked.keys().filter(|s| !seen.contains_key(s)).count();
    let dup = seen.values().filter(|&&n| n > 1).count();
    // After the drain every number 1..=next was acknowledged.
    let missing_unacked = (1..=q.next)
        .filter(|s| !q.acked.contains_key(s) && !seen.contains_key(s))
        .count();
    if missing_unacked > 0 {
        problems.push(format!(
            "{name}: {missing_unacked} numbers never acknowledged"
        ));
    }
    (lost, dup)
}

fn check_orders(s: &Setup, q: &Seqs, problems: &mut Vec<String>) -> (usize, usize) {
    let db = match rusqlite::Connection::open(s.dir.join("cunlink.db")) {
        Ok(db) => db,
        Err(e) => {
            problems.push(format!("open cunlink.db: {e}"));
            return (0, 0);
        }
    };
    let ids: Result<Vec<i64>, _> = db
        .prepare(
            "SELECT o.id FROM market_orders o JOIN users u ON u.id = o.buyer_id WHERE u.username = 'crash-buyer'",
        )
        .and_then(|mut st| st.query_map([], |r| r.get(0))?.collect());
    let ids: BTreeSet<i64> = match ids {
        Ok(v) => v.into_iter().collect(),
        Err(e) => {
            problems.push(format!("read orders: {e}"));
            return (0, 0);
        }
    };
    let acked: BTreeSet<i64> = q.acked.values().copied().collect();
    if acked.len() != q.acked.len() {
        problems.push("two sequence numbers were answered with the same order id".into());
    }
    let lost = acked.difference(&ids).count();
    // Orders nobody was told about: a retried key that created a second order.
    let dup = ids.difference(&acked).count();
    (lost, dup)
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 3 {
        die("usage: cunlink-crash-test BIN KILLS [SEED]");
    }
    let bin = PathBuf::from(&args[1]);
    let kills: usize = args[2].parse().unwrap_or_else(|_| die("KILLS"));
    let seed: u64 = args
        .get(3)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| std::process::id() as u64 * 2_654_435_761 + 1);
    let mut rng = Rng(seed.max(1));
    let mut s = setup(bin);
    eprintln!(
        "[crash] data dir {} (seed {seed}); {kills} kills",
        s.dir.display()
    );

    // The product, through the API of a first (cleanly stopped) server.
    {
        let mut child = start_server(&s, 0).await;
        let farmer = s.farmer.clone();
        let mut h = Http::new(s.http);
        let (status, body) = h
            .call(
                "POST",
                "/api/market/products",
                &[
                    ("authorization", &format!("Bearer {farmer}")),
                    ("content-type", "application/json"),
                ],
                r#"{"name":"崩溃测试茶","unit":"500g","price_fen":100,"stock":10000000}"#.into(),
            )
            .await
            .unwrap_or_else(|e| die(&e));
        s.product = json(&body)["id"].as_i64().unwrap_or_else(|| {
            die(&format!(
                "product: {status} {}",
                String::from_utf8_lossy(&body)
            ))
        });
        let _ = child.start_kill();
        let _ = child.wait().await;
    }
    let s = Arc::new(s);
    let sh = Arc::new(Shared::default());
    let started = Instant::now();
    for cycle in 1..=kills {
        let mut child = start_server(&s, cycle).await;
        let stop = Arc::new(AtomicBool::new(false));
        let tasks = writers(&s, &sh, &stop, false);
        let after = Duration::from_millis(300 + rng.next() % 2000);
        tokio::time::sleep(after).await;
        let _ = child.start_kill(); // SIGKILL
        let _ = child.wait().await;
        stop.store(true, Ordering::Relaxed);
        for t in tasks {
            let _ = t.await;
        }
        if cycle % 10 == 0 {
            eprintln!(
                "[crash] {cycle} kills in {:.0} s; acked http {} mqtt {} orders {}",
                started.elapsed().as_secs_f64(),
                lock(&sh.http).acked.len(),
                lock(&sh.mqtt).acked.len(),
                lock(&sh.orders).acked.len()
            );
        }
    }

    // Last start: send what is still unacknowledged, then read everything back.
    let mut child = start_server(&s, kills + 1).await;
    let stop = Arc::new(AtomicBool::new(false));
    for t in writers(&s, &sh, &stop, true) {
        let _ = t.await;
    }
    let mut problems = std::mem::take(&mut *lock(&sh.problems));
    let (http_pts, mqtt_pts) = {
        let hn = lock(&sh.http).next;
        let mn = lock(&sh.mqtt).next;
        (
            read_back(&s, "crash-http", hn).await,
            read_back(&s, "crash-mqtt", mn).await,
        )
    };
    // A clean stop (SIGTERM) before reading the database directly.
    if let Some(pid) = child.id() {
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status();
    }
    let _ = tokio::time::timeout(Duration::from_secs(30), child.wait()).await;

    let mut lost = 0;
    let mut dup = 0;
    let mut acked = 0;
    for (name, q, pts) in [("http", &sh.http, http_pts), ("mqtt", &sh.mqtt, mqtt_pts)] {
        let q = lock(q);
        acked += q.acked.len();
        match pts {
            Ok(pts) => {
                let (l, d) = check_readings(name, &q, &pts, &mut problems);
                lost += l;
                dup += d;
            }
            Err(e) => problems.push(format!("{name} read back: {e}")),
        }
    }
    {
        let q = lock(&sh.orders);
        acked += q.acked.len();
        let (l, d) = check_orders(&s, &q, &mut problems);
        lost += l;
        dup += d;
    }
    for p in problems.iter().take(20) {
        eprintln!("[crash] problem: {p}");
    }
    println!(
        "{lost} lost, {dup} duplicated over {kills} kills ({acked} acknowledged writes: http {} readings, mqtt {} readings, {} orders; {:.0} s){}",
        lock(&sh.http).acked.len(),
        lock(&sh.mqtt).acked.len(),
        lock(&sh.orders).acked.len(),
        started.elapsed().as_secs_f64(),
        if problems.is_empty() {
            String::new()
        } else {
            format!("; {} other problems", problems.len())
        }
    );
    if lost > 0 || dup > 0 || !problems.is_empty() {
        eprintln!("[crash] data dir kept: {}", s.dir.display());
        std::process::exit(1);
    }
    let _ = std::fs::remove_dir_all(&s.dir);
}
