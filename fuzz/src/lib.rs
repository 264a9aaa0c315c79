//! A real cunlink server for the HTTP fuzz targets: started once per fuzzing
//! process on loopback ports with a fresh data directory, an admin with an API
//! token and a session, one village, one device with readings. Targets send one
//! request per input on a kept-alive connection and treat a 5xx, a missing answer
//! or a panic anywhere in the server (libFuzzer's panic hook aborts) as a finding.

use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use tokio::runtime::Runtime;

use cunlink_core::Config;
use cunlink_core::auth::Role;

pub struct Harness {
    rt: Runtime,
    addr: std::net::SocketAddr,
    pub token: String,
    pub cookie: String,
    pub csrf: String,
    conn: Mutex<Option<SendRequest<Full<Bytes>>>>,
    // Kept for the life of the process: the server runs until libFuzzer exits.
    _server: cunlink::app::Server,
}

/// The process-wide server, started on first use.
pub fn harness() -> &'static Harness {
    static H: OnceLock<Harness> = OnceLock::new();
    H.get_or_init(start)
}

fn start() -> Harness {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let dir = std::env::temp_dir().join(format!("cunlink-fuzz-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut config = Config {
        data_dir: dir,
        ..Config::default()
    };
    config.http = "127.0.0.1:0".parse().expect("addr");
    config.mqtt = "127.0.0.1:0".parse().expect("addr");
    let server = rt
        .block_on(cunlink::app::start(config))
        .expect("server starts");
    let auth = server.auth.clone();
    let (token, session) = rt.block_on(async {
        let a = auth.clone();
        let token = tokio::task::spawn_blocking(move || {
            let u = a
                .create_user_blocking("admin", "admin-password", Role::Admin, Some("Village A"))
                .expect("admin");
            a.create_api_token_blocking(u.id).expect("token")
        })
        .await
        .expect("join");
        let session = match auth.login("admin", "admin-password", None).await {
            Ok(cunlink_core::auth::LoginOutcome::SignedIn(_, s)) => s,
            _ => panic!("the fuzz harness's admin could not sign in"),
        };
        (token, session)
    });
    let h = Harness {
        rt,
        addr: server.http_addr,
        token,
        cookie: format!("{}={}", cunlink_core::web::SESSION_COOKIE, session.token),
        csrf: session.csrf,
        conn: Mutex::new(None),
        _server: server,
    };
    let (status, body) = h.send(
        "POST",
        "/api/devices",
        "application/json",
        br#"{"name":"d1","asset":"Field 1","village":"Village A"}"#.to_vec(),
    );
    assert_eq!(
        status,
        201,
        "device create: {}",
        String::from_utf8_lossy(&body)
    );
    let device_token = serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| v["token"].as_str().map(str::to_string))
        .expect("device token");
    let (status, _) = h.send(
        "POST",
        &format!("/api/v1/{device_token}/telemetry"),
        "application/json",
        br#"[{"ts":1700000000000,"values":{"t":1,"s":"x"}},{"ts":1700000060000,"values":{"t":2}}]"#
            .to_vec(),
    );
    assert_eq!(status, 200, "seed readings");
    h
}

impl Harness {
    /// One request as the admin (bearer token, session cookie and CSRF header);
    /// panics on a 5xx or on no answer within 5 s.
    pub fn send(
        &self,
        method: &str,
        uri: &str,
        content_type: &str,
        body: Vec<u8>,
    ) -> (u16, Vec<u8>) {
        let Ok(req) = Request::builder()
            .method(method)
            .uri(uri)
            .header("host", self.addr.to_string())
            .header("authorization", format!("Bearer {}", self.token))
            .header("cookie", &self.cookie)
            .header("x-csrf-token", &self.csrf)
            .header("content-type", content_type)
            .body(Full::new(Bytes::from(body)))
        else {
            return (0, Vec::new());
        };
        let mut slot = self.conn.lock().unwrap_or_else(|e| e.into_inner());
        let addr = self.addr;
        let answer = self.rt.block_on(async {
            tokio::time::timeout(Duration::from_secs(5), async {
                let mut sender = match slot.take() {
                    Some(s) if !s.is_closed() => s,
                    _ => connect(addr).await,
                };
                sender.ready().await.ok()?;
                let resp = sender.send_request(req).await.ok()?;
                let status = resp.status().as_u16();
                let body = resp.into_body().collect().await.ok()?.to_bytes().to_vec();
                *slot = Some(sender);
                Some((status, body))
            })
            .await
        });
        let (status, body) = match answer {
            Ok(Some(a)) => a,
            Ok(None) => panic!("{method} {uri}: connection failed"),
            Err(_) => panic!("{method} {uri}: no answer within 5 s"),
        };
        assert!(
            status < 500,
            "{method} {uri} answered {status}: {}",
            String::from_utf8_lossy(&body)
        );
        (status, body)
    }
}

async fn connect(addr: std::net::SocketAddr) -> SendRequest<Full<Bytes>> {
    let stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .expect("handshake");
    tokio::spawn(conn);
    sender
}

/// Percent-encode what may not appear raw in a URI query; keep `%`, `&`, `=`
/// and friends so the fuzzer can build real escapes and separators.
pub fn query_text(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len());
    for &b in data {
        if b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@/?%".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
