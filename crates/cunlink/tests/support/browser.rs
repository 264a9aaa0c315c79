//! Running a Playwright script (tests/browser/*.mjs) against a test server.
//!
//! The script prints `ok …`/`FAIL …` lines and may print `SEND <what>`: the
//! Rust side then does `<what>` (sends a reading over MQTT, say) and answers
//! with a line on the script's stdin.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

use crate::common::RawMqtt;

/// tests/browser, with its node_modules and Debian's chromium present.
pub fn tools() -> (PathBuf, String) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/browser");
    assert!(
        dir.join("node_modules/playwright-core").is_dir(),
        "tests/browser/node_modules is missing: run `npm ci` in tests/browser (bash .ci/run does it)"
    );
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(
        Path::new(&chromium).exists(),
        "{chromium} is missing: `apt-get install chromium` (bash .ci/run does it)"
    );
    (dir, chromium)
}

/// Run `node script` with `envs` (plus CHROMIUM) until it exits, answering its
/// `SEND` lines with `on_send`; fails the test if the script fails or takes
/// more than four minutes.
pub async fn run_script<F, Fut>(script: &str, envs: &[(&str, String)], mut on_send: F)
where
    F: FnMut(String) -> Fut,
    Fut: Future<Output = ()>,
{
    let (dir, chromium) = tools();
    let mut cmd = tokio::process::Command::new("node");
    cmd.arg(script)
        .current_dir(&dir)
        .env("CHROMIUM", &chromium)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .kill_on_drop(true);
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("node runs (install nodejs)");
    let mut stdin = child.stdin.take().expect("piped stdin");
    let mut out = BufReader::new(child.stdout.take().expect("piped stdout")).lines();
    let mut log = String::new();
    let run = async {
        while let Some(line) = out.next_line().await.expect("script output") {
            println!("{line}");
            log.push_str(&line);
            log.push('\n');
            if let Some(what) = line.strip_prefix("SEND ") {
                on_send(what.to_string()).await;
                stdin.write_all(b"sent\n").await.expect("script stdin");
            }
        }
        child.wait().await.expect("script exit")
    };
    let status = tokio::time::timeout(Duration::from_secs(240), run)
        .await
        .unwrap_or_else(|_| panic!("{script} finishes within 4 minutes"));
    assert!(status.success(), "{script} failed:\n{log}");
}

/// Publish `body` as `token`'s telemetry over MQTT and wait for the PUBACK.
pub async fn mqtt_reading(mqtt: std::net::SocketAddr, token: &str, body: serde_json::Value) {
    let (mut m, _) = RawMqtt::connect(mqtt, false, token).await;
    m.publish(
        false,
        "v1/devices/me/telemetry",
        body.to_string().as_bytes(),
        1,
        1,
    )
    .await;
    let ack = m.read_packet().await.expect("puback");
    assert_eq!(ack[0] >> 4, 4, "PUBACK");
}
