//! `spawn_app()`: a real cunlink server on random loopback ports with a fresh
//! data directory, an admin API token, and small clients for HTTP and raw MQTT.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use cunlink_core::Config;
use cunlink_core::auth::Role;

/// A fresh directory removed when dropped.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        let mut raw = [0u8; 8];
        cunlink_core::random::fill(&mut raw);
        let name = format!(
            "cunlink-test-{tag}-{}-{:x}",
            std::process::id(),
            u64::from_le_bytes(raw)
        );
        let p = std::env::temp_dir().join(name);
        std::fs::create_dir_all(&p).expect("create temp dir");
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub struct TestApp {
    pub server: Option<cunlink::app::Server>,
    pub http: SocketAddr,
    pub mqtt: SocketAddr,
    pub admin_token: String,
    pub dir: TempDir,
}

/// With `CUNLINK_TEST_DATABASE_URL` set (a PostgreSQL superuser's URL, see
/// tests/pg.sh), the database of the test data directory `dir`, created on first
/// use: one database per test, so tests share neither rows nor locks. Unset:
/// `None`, and the test runs on SQLite in `dir`.
pub fn test_database_url(dir: &Path) -> Option<String> {
    use std::hash::{Hash, Hasher};
    let base = std::env::var("CUNLINK_TEST_DATABASE_URL").ok()?;
    let mut h = std::collections::hash_map::DefaultHasher::new();
    dir.hash(&mut h);
    let name = format!("t_{:016x}", h.finish());
    let admin = cunlink_core::sql::Connection::connect_postgres(&base)
        .unwrap_or_else(|e| panic!("CUNLINK_TEST_DATABASE_URL {base}: {e}"));
    if let Err(e) = admin.execute_batch(&format!("CREATE DATABASE {name}")) {
        assert!(e.to_string().contains("already exists"), "creating {name}: {e}");
    }
    let (head, _) = base.rsplit_once('/').expect("a URL ending in /DATABASE");
    Some(format!("{head}/{name}"))
}

/// A connection to the database of the data directory `dir` (its PostgreSQL
/// database with `CUNLINK_TEST_DATABASE_URL` set, else its `cunlink.db`).
#[allow(dead_code)]
pub fn db_conn_at(dir: &Path) -> cunlink_core::sql::Connection {
    match test_database_url(dir) {
        Some(url) => cunlink_core::sql::Connection::connect_postgres(&url).unwrap(),
        None => cunlink_core::sql::Connection::open(dir.join("cunlink.db")).unwrap(),
    }
}

pub fn test_config(dir: &Path) -> Config {
    let mut c = Config {
        data_dir: dir.to_path_buf(),
        database_url: test_database_url(dir),
        ..Config::default()
    };
    c.http = "127.0.0.1:0".parse().unwrap();
    c.mqtt = "127.0.0.1:0".parse().unwrap();
    c
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

pub async fn spawn_app_with(tweak: impl FnOnce(&mut Config)) -> TestApp {
    let dir = TempDir::new("app");
    let mut config = test_config(&dir.0);
    tweak(&mut config);
    let server = cunlink::app::start(config).await.expect("server starts");
    let auth = server.auth.clone();
    let admin_token = tokio::task::spawn_blocking(move || {
        let u = auth
            .create_user_blocking("admin", "admin-password", Role::Admin, None)
            .unwrap();
        auth.create_api_token_blocking(u.id).unwrap()
    })
    .await
    .unwrap();
    TestApp {
        http: server.http_addr,
        mqtt: server.mqtt_addr,
        server: Some(server),
        admin_token,
        dir,
    }
}

impl TestApp {
    /// Another node on this app's PostgreSQL database (its own data directory
    /// and ports), as a second `cunlink serve` of one deployment; `None` on
    /// SQLite, whose database one process owns. It shares the admin token.
    #[allow(dead_code)]
    pub async fn spawn_peer(&self) -> Option<TestApp> {
        self.spawn_peer_with(|_| {}).await
    }

    /// [`TestApp::spawn_peer`] with its configuration changed by `tweak`.
    #[allow(dead_code)]
    pub async fn spawn_peer_with(&self, tweak: impl FnOnce(&mut Config)) -> Option<TestApp> {
        let url = test_database_url(&self.dir.0)?;
        let dir = TempDir::new("peer");
        let mut config = test_config(&dir.0);
        config.database_url = Some(url);
        tweak(&mut config);
        let server = cunlink::app::start(config).await.expect("peer starts");
        Some(TestApp {
            http: server.http_addr,
            mqtt: server.mqtt_addr,
            server: Some(server),
            admin_token: self.admin_token.clone(),
            dir,
        })
    }

    /// A connection of its own to this app's database, whichever backend (for
    /// tests that look at or break rows directly).
    #[allow(dead_code)]
    pub fn db_conn(&self) -> cunlink_core::sql::Connection {
        db_conn_at(&self.dir.0)
    }

    /// Register a device through the API; returns its access token. Without a
    /// `village` the device is made county-level (on purpose, as the admin may).
    pub async fn device(&self, mut body: serde_json::Value) -> String {
        if body.get("village").is_none() && body.get("county_level").is_none() {
            body["county_level"] = serde_json::Value::Bool(true);
        }
        let (status, json) = self
            .post_json("/api/devices", &self.admin_token.clone(), body)
            .await;
        assert_eq!(status, 201, "device create: {json}");
        json["token"].as_str().unwrap().to_string()
    }

    pub async fn user(&self, name: &str, role: Role, village: Option<&str>) -> String {
        let auth = self.server.as_ref().unwrap().auth.clone();
        let (name, village) = (name.to_string(), village.map(str::to_string));
        tokio::task::spawn_blocking(move || {
            let u = auth
                .create_user_blocking(&name, "a-password", role, village.as_deref())
                .unwrap();
            auth.create_api_token_blocking(u.id).unwrap()
        })
        .await
        .unwrap()
    }

    /// A page session for `user`, signed in directly through the auth service
    /// (no form, no rate-limit address).
    pub async fn sign_in(&self, user: &str, password: &str) -> cunlink_core::auth::Session {
        let auth = self.server.as_ref().unwrap().auth.clone();
        match auth.login(user, password, None).await.unwrap() {
            cunlink_core::auth::LoginOutcome::SignedIn(_, s) => s,
            _ => panic!("{user} could not sign in"),
        }
    }

    /// The session cookie (`cunlink_session=…`) of a fresh [`TestApp::sign_in`].
    pub async fn session(&self, user: &str, password: &str) -> String {
        let s = self.sign_in(user, password).await;
        format!("{}={}", cunlink_core::web::SESSION_COOKIE, s.token)
    }

    pub async fn post(&self, path: &str, body: impl Into<Vec<u8>>) -> Resp {
        request(self.http, "POST", path, &[], body.into()).await
    }

    pub async fn post_json(
        &self,
        path: &str,
        token: &str,
        body: serde_json::Value,
    ) -> (u16, serde_json::Value) {
        let auth = format!("Bearer {token}");
        let r = request(
            self.http,
            "POST",
            path,
            &[
                ("authorization", &auth),
                ("content-type", "application/json"),
            ],
            body.to_string().into_bytes(),
        )
        .await;
        (r.status, r.json())
    }

    pub async fn get(&self, path: &str, token: &str) -> Resp {
        let auth = format!("Bearer {token}");
        request(
            self.http,
            "GET",
            path,
            &[("authorization", &auth)],
            Vec::new(),
        )
        .await
    }

    /// `GET …/telemetry` or `…/latest` as JSON, with the admin token.
    pub async fn query(&self, path: &str) -> serde_json::Value {
        let r = self.get(path, &self.admin_token.clone()).await;
        assert_eq!(r.status, 200, "{path}: {}", r.text());
        r.json()
    }

    pub async fn stop(&mut self) {
        if let Some(s) = self.server.take() {
            s.shutdown().await;
        }
    }
}

pub struct Resp {
    pub status: u16,
    pub headers: hyper::HeaderMap,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// One HTTP/1.1 request on a fresh connection.
pub async fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> Resp {
    let stream = TcpStream::connect(addr).await.expect("connect");
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .expect("handshake");
    tokio::spawn(conn);
    let mut req = Request::builder()
        .method(method)
        .uri(path)
        .header("host", addr.to_string());
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = sender
        .send_request(req.body(Full::new(Bytes::from(body))).unwrap())
        .await
        .expect("send");
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body = resp
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes().to_vec())
        .unwrap_or_default();
    Resp {
        status,
        headers,
        body,
    }
}

/// URL-encode a path segment (device names are Chinese and have spaces).
pub fn enc(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A raw MQTT connection for checking exact packets.
pub struct RawMqtt {
    pub stream: TcpStream,
}

impl RawMqtt {
    pub async fn connect(addr: SocketAddr, v5: bool, token: &str) -> (RawMqtt, Vec<u8>) {
        use cunlink_farm::ingest::mqtt::packet::{Version, client};
        let mut stream = TcpStream::connect(addr).await.unwrap();
        let mut out = Vec::new();
        client::connect(
            &mut out,
            if v5 { Version::V5 } else { Version::V311 },
            "raw-test",
            Some(token),
            30,
        );
        stream.write_all(&out).await.unwrap();
        let mut m = RawMqtt { stream };
        let connack = m.read_packet().await.expect("connack");
        (m, connack)
    }

    pub async fn publish(&mut self, v5: bool, topic: &str, payload: &[u8], qos: u8, pkid: u16) {
        self.try_publish(v5, topic, payload, qos, pkid)
            .await
            .expect("publish written");
    }

    pub async fn try_publish(
        &mut self,
        v5: bool,
        topic: &str,
        payload: &[u8],
        qos: u8,
        pkid: u16,
    ) -> std::io::Result<()> {
        use cunlink_farm::ingest::mqtt::packet::{Version, publish};
        let mut out = Vec::new();
        publish(
            &mut out,
            if v5 { Version::V5 } else { Version::V311 },
            topic,
            payload,
            qos,
            pkid,
        );
        self.stream.write_all(&out).await
    }

    /// The next whole packet, or None when the server closed the connection.
    pub async fn read_packet(&mut self) -> Option<Vec<u8>> {
        let mut head = [0u8; 1];
        let read = tokio::time::timeout(
            std::time::Duration::from_secs(10),
            self.stream.read_exact(&mut head),
        )
        .await
        .expect("mqtt read timed out");
        read.ok()?;
        let mut pkt = vec![head[0]];
        let (mut len, mut shift) = (0usize, 0);
        loop {
            let mut b = [0u8; 1];
            self.stream.read_exact(&mut b).await.ok()?;
            pkt.push(b[0]);
            len |= ((b[0] & 0x7f) as usize) << shift;
            shift += 7;
            if b[0] & 0x80 == 0 {
                break;
            }
        }
        let mut body = vec![0u8; len];
        self.stream.read_exact(&mut body).await.ok()?;
        pkt.extend(body);
        Some(pkt)
    }
}

impl TestApp {
    /// Stop and start again on the same data directory (new ports).
    pub async fn restart(&mut self) {
        self.stop().await;
        let server = cunlink::app::start(test_config(&self.dir.0))
            .await
            .expect("server restarts");
        self.http = server.http_addr;
        self.mqtt = server.mqtt_addr;
        self.server = Some(server);
    }

    pub async fn put_json(
        &self,
        path: &str,
        token: &str,
        body: serde_json::Value,
    ) -> (u16, serde_json::Value) {
        let auth = format!("Bearer {token}");
        let r = request(
            self.http,
            "PUT",
            path,
            &[
                ("authorization", &auth),
                ("content-type", "application/json"),
            ],
            body.to_string().into_bytes(),
        )
        .await;
        (r.status, r.json())
    }

    /// Alarms as `GET /api/alarms?…` answers them (admin).
    pub async fn alarms(&self, query: &str) -> Vec<serde_json::Value> {
        let v = self.query(&format!("/api/alarms?{query}")).await;
        v.as_array().cloned().unwrap_or_default()
    }

    /// Poll `GET /api/alarms?…` until `done` holds (the alarm writer is a step behind the commit).
    pub async fn alarms_until(
        &self,
        query: &str,
        within: std::time::Duration,
        done: impl Fn(&[serde_json::Value]) -> bool,
    ) -> Vec<serde_json::Value> {
        let until = std::time::Instant::now() + within;
        loop {
            let a = self.alarms(query).await;
            if done(&a) || std::time::Instant::now() > until {
                return a;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }
}

/// Start the real `cunlink serve` on `dir` and random loopback ports (with `config`
/// as its TOML file, if given); returns the child and its HTTP and MQTT addresses.
pub async fn spawn_binary(
    dir: &std::path::Path,
    config: Option<&str>,
) -> (tokio::process::Child, String, String) {
    spawn_binary_on(dir, config, test_database_url(dir)).await
}

/// [`spawn_binary`] on the PostgreSQL database at `database_url` (several
/// nodes of one deployment share one), or SQLite in `dir` when `None`.
pub async fn spawn_binary_on(
    dir: &std::path::Path,
    config: Option<&str>,
    database_url: Option<String>,
) -> (tokio::process::Child, String, String) {
    spawn_binary_env(dir, config, database_url, &[]).await
}

/// [`spawn_binary_on`] with extra environment variables for the server.
pub async fn spawn_binary_env(
    dir: &std::path::Path,
    config: Option<&str>,
    database_url: Option<String>,
    env: &[(&str, &str)],
) -> (tokio::process::Child, String, String) {
    spawn_binary_with(&Launch {
        dir,
        config,
        database_url,
        env,
        prefix: &[],
        http: None,
    })
    .await
}

/// How to start `cunlink serve` for a test.
pub struct Launch<'a> {
    pub dir: &'a std::path::Path,
    pub config: Option<&'a str>,
    pub database_url: Option<String>,
    pub env: &'a [(&'a str, &'a str)],
    /// Run through this command first (`ip netns exec NS`).
    pub prefix: &'a [&'a str],
    /// The HTTP address (default `127.0.0.1:0`).
    pub http: Option<&'a str>,
}

pub async fn spawn_binary_with(l: &Launch<'_>) -> (tokio::process::Child, String, String) {
    let (dir, config, database_url) = (l.dir, l.config, l.database_url.clone());
    let mut cmd = match l.prefix.split_first() {
        Some((first, rest)) => {
            let mut c = tokio::process::Command::new(first);
            c.args(rest).arg(cunlink_bin());
            c
        }
        None => tokio::process::Command::new(cunlink_bin()),
    };
    for (k, v) in l.env {
        cmd.env(k, v);
    }
    if let Some(config) = config {
        let file = dir.join("cunlink.toml");
        std::fs::write(&file, config).unwrap();
        cmd.env("CUNLINK_CONFIG", file);
    }
    if let Some(url) = database_url {
        cmd.env("CUNLINK_DATABASE_URL", url);
    }
    let mut child = cmd
        .args([
            "serve",
            "--data-dir",
            dir.to_str().unwrap(),
            "--http",
            l.http.unwrap_or("127.0.0.1:0"),
            "--mqtt",
            "127.0.0.1:0",
        ])
        .env("RUST_LOG", std::env::var("CUNLINK_TEST_RUST_LOG").unwrap_or("info".into()))
        .env("NO_COLOR", "1")
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    use tokio::io::AsyncBufReadExt;
    let mut lines = tokio::io::BufReader::new(child.stderr.take().unwrap()).lines();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let line = tokio::time::timeout_at(deadline, lines.next_line())
            .await
            .expect("server starts")
            .unwrap()
            .expect("server output");
        if line.contains("cunlink is serving") {
            let field = |k: &str| {
                let plain = line
                    .replace("\u{1b}[3m", "")
                    .replace("\u{1b}[0m", "")
                    .replace("\u{1b}[2m", "");
                plain
                    .split_whitespace()
                    .find_map(|w| w.strip_prefix(&format!("{k}=")))
                    .unwrap()
                    .to_string()
            };
            let (h, m) = (field("http_addr"), field("mqtt_addr"));
            // Keep draining stderr so the child never blocks on a full pipe.
            tokio::spawn(async move {
                while let Ok(Some(l)) = lines.next_line().await {
                    if std::env::var_os("CUNLINK_TEST_SERVER_LOG").is_some() {
                        eprintln!("server: {l}");
                    }
                }
            });
            return (child, h, m);
        }
    }
}

/// The `cunlink` binary, pointed at the same database as a test app in `dir`
/// (on PostgreSQL through `CUNLINK_DATABASE_URL`); add `--data-dir dir` as usual.
#[allow(dead_code)]
pub fn cunlink_cmd(dir: &Path) -> std::process::Command {
    let mut cmd = std::process::Command::new(cunlink_bin());
    if let Some(url) = test_database_url(dir) {
        cmd.env("CUNLINK_DATABASE_URL", url);
    }
    cmd
}

/// The `cunlink` binary the tests run: `CUNLINK_TEST_BIN` if set (a copy
/// taken right after the build, when a build cache is shared and another
/// checkout may rebuild `target/debug/cunlink` meanwhile), else cargo's.
pub fn cunlink_bin() -> std::path::PathBuf {
    std::env::var_os("CUNLINK_TEST_BIN")
        .map(Into::into)
        .unwrap_or_else(|| env!("CARGO_BIN_EXE_cunlink").into())
}

/// Run `tests/pg.sh ARGS` (a throwaway PostgreSQL: start, stop, resume); its output.
#[allow(dead_code)]
pub fn pg_sh(args: &[&str]) -> String {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/pg.sh");
    let out = std::process::Command::new("bash")
        .arg(script)
        .args(args)
        .output()
        .expect("run tests/pg.sh");
    assert!(
        out.status.success(),
        "tests/pg.sh {args:?} failed (PostgreSQL installed? apt-get install postgresql): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Stops a test's own throwaway PostgreSQL however the test ends.
pub struct Pg(pub String);
impl Drop for Pg {
    fn drop(&mut self) {
        let _ = std::process::Command::new("bash")
            .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/pg.sh"))
            .args(["stop", &self.0])
            .output();
    }
}

/// A throwaway PostgreSQL of the test's own, for tests that stop it (stopped
/// when the guard drops), and the URL of a fresh database `t` in it.
#[allow(dead_code)]
pub fn own_postgres(tag: &str) -> (TempDir, Pg, String) {
    let pgdir = TempDir::new(tag);
    let pgdir_s = pgdir.0.to_str().unwrap().to_string();
    let export = pg_sh(&["start", &pgdir_s]);
    let pg = Pg(pgdir_s);
    let base = export
        .trim()
        .strip_prefix("export CUNLINK_TEST_DATABASE_URL=")
        .expect("pg.sh prints the URL")
        .to_string();
    let admin_db = cunlink_core::sql::Connection::connect_postgres(&base).unwrap();
    admin_db.execute_batch("CREATE DATABASE t").unwrap();
    let url = format!("{}/t", base.rsplit_once('/').unwrap().0);
    (pgdir, pg, url)
}
