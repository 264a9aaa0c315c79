//! Browser test of the consult's video call (`tests/browser/call.mjs`): two
//! Chromium contexts with a fake camera and microphone join through cunlink's
//! signaling and reach `connected`, directly and then relayed only through a
//! real coturn (Debian's `turnserver`, started here on loopback with
//! `use-auth-secret`) using the credentials cunlink hands out; the low
//! profile's cap holds in `getStats`; audio-only works; a third user cannot
//! join; on a relay policed below the video profile the call falls back to
//! audio only by itself. With `CALL_BENCH_RUNS=N` the script also measures call setup
//! (bench/call.sh). Needs `npm ci` in tests/browser, chromium and coturn (./test).

#[path = "api/call_fixture.rs"]
#[allow(dead_code)]
mod call_fixture;
#[path = "api/common.rs"]
#[allow(dead_code)]
mod common;
#[path = "support/browser.rs"]
#[allow(dead_code)] // the call test sends no MQTT reading
mod support;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::spawn_app_with;
use support::run_script;

const SECRET: &str = "browser-call-turn-secret";

/// The two tests run one after the other: each drives two media-encoding
/// Chromium pages, and their bitrate checks need the machine's cores.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// coturn on loopback, stopped when dropped.
struct Turn {
    child: Child,
    port: u16,
    log: std::path::PathBuf,
}

impl Drop for Turn {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    // A port free for both UDP and TCP (turnserver listens on both).
    loop {
        let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = udp.local_addr().unwrap().port();
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// coturn on loopback; `max_bps`: its per-session policing (bytes/s each way).
async fn start_turn(dir: &Path, max_bps: Option<u32>) -> Turn {
    let bin = Path::new("/usr/bin/turnserver");
    assert!(
        bin.exists(),
        "/usr/bin/turnserver is missing: `apt-get install coturn` (./test does it)"
    );
    let port = free_port();
    let log = dir.join(format!("turn-{port}.log"));
    let mut cmd = Command::new(bin);
    if let Some(bps) = max_bps {
        cmd.arg(format!("--max-bps={bps}"));
    }
    let child = cmd
        .args([
            "-n", // no configuration file
            "--use-auth-secret",
            &format!("--static-auth-secret={SECRET}"),
            "--realm=cunlink.test",
            "--listening-ip=127.0.0.1",
            "--relay-ip=127.0.0.1",
            &format!("--listening-port={port}"),
            "--min-port=50000",
            "--max-port=50999",
            "--allow-loopback-peers",
            "--no-cli",
            "--no-tls",
            "--no-dtls",
            "--simple-log",
            "--verbose", // logs each allocation with its username
            &format!("--log-file={}", log.display()),
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("turnserver starts");
    let turn = Turn { child, port, log };
    // Ready when its TCP listener accepts.
    for _ in 0..200 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return turn;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!(
        "turnserver did not listen on {port}: {}",
        std::fs::read_to_string(&turn.log).unwrap_or_default()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_doctors_call_directly_and_through_coturn() {
    support::tools();
    let _serial = SERIAL.lock().await;
    let dir = common::TempDir::new("turn");
    let turn = start_turn(&dir.0, None).await;
    let turn_url = format!("turn:127.0.0.1:{}?transport=udp", turn.port);
    let app = spawn_app_with(|c| {
        c.turn_secret = Some(SECRET.into());
        c.turn_urls = vec![turn_url.clone()];
    })
    .await;
    let f = call_fixture::call_fixture(&app).await;
    let cookie = |s: &cunlink_core::auth::Session| {
        format!("{}={}", cunlink_core::web::SESSION_COOKIE, s.token)
    };
    let a = app.sign_in(&f.village_doctor.name, "a-password").await;
    let b = app.sign_in(&f.county_doctor.name, "a-password").await;
    let c = app.sign_in(&f.other_doctor.name, "a-password").await;
    let envs = [
        ("BASE", format!("http://{}", app.http)),
        ("CONSULT", f.consult.to_string()),
        ("COOKIE_A", cookie(&a)),
        ("COOKIE_B", cookie(&b)),
        ("COOKIE_C", cookie(&c)),
        ("CSRF_C", c.csrf.clone()),
        ("TURN_URL", turn_url.clone()),
        ("RUNS", std::env::var("CALL_BENCH_RUNS").unwrap_or_default()),
    ];
    let close = format!("/api/clinic/consults/{}/close", f.consult);
    let app_ref = &app;
    let (close_ref, cdoc) = (&close, &f.county_doctor.token);
    run_script("call.mjs", &envs, |what| async move {
        assert_eq!(what, "close");
        let (s, v) = app_ref
            .post_json(close_ref, cdoc, serde_json::json!({}))
            .await;
        assert_eq!(s, 200, "close: {v}");
    })
    .await;
    // The relayed call really went through this coturn, with cunlink's
    // credentials (usernames `EXPIRY:USER_ID` of the two doctors).
    let log = std::fs::read_to_string(&turn.log).unwrap_or_default();
    for who in [&f.village_doctor, &f.county_doctor] {
        let ok = log.lines().any(|l| {
            l.contains("ALLOCATE processed, success") && l.contains(&format!(":{}>", who.id))
        });
        assert!(ok, "coturn allocated nothing for {}:\n{log}", who.name);
    }
}

/// A TURN server that polices each session to 8,000 bytes/s (64 kbit/s) each
/// way: too little for the low video profile plus audio, enough for audio. The
/// call, relayed through it only, must go audio-only by itself and stay up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_on_a_weak_link_falls_back_to_audio_only() {
    support::tools();
    let _serial = SERIAL.lock().await;
    let dir = common::TempDir::new("turn-weak");
    let turn = start_turn(&dir.0, Some(8_000)).await;
    let app = spawn_app_with(|c| {
        c.turn_secret = Some(SECRET.into());
        c.turn_urls = vec![format!("turn:127.0.0.1:{}?transport=udp", turn.port)];
    })
    .await;
    let f = call_fixture::call_fixture(&app).await;
    let cookie = |s: &cunlink_core::auth::Session| {
        format!("{}={}", cunlink_core::web::SESSION_COOKIE, s.token)
    };
    let a = app.sign_in(&f.village_doctor.name, "a-password").await;
    let b = app.sign_in(&f.county_doctor.name, "a-password").await;
    let envs = [
        ("BASE", format!("http://{}", app.http)),
        ("CONSULT", f.consult.to_string()),
        ("COOKIE_A", cookie(&a)),
        ("COOKIE_B", cookie(&b)),
        ("PHASE", "weak".to_string()),
    ];
    run_script("call.mjs", &envs, |_| async {}).await;
}
