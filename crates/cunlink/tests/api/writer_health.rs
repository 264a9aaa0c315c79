//! A telemetry writer that can no longer commit is not a silent 503 factory:
//! `/healthz` says why, and the real binary exits non-zero for systemd to restart it.

use std::time::Duration;

use crate::common::{TempDir, request, spawn_binary};

fn device_token(dir: &std::path::Path) -> String {
    let out = crate::common::cunlink_cmd(dir)
        .args(["device", "create", "--data-dir"])
        .arg(dir)
        .args(["--name", "probe"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .last()
        .unwrap()
        .trim()
        .to_string()
}

/// POST a reading, tolerating a server that is going away.
async fn try_post(addr: std::net::SocketAddr, url: &str) -> Option<u16> {
    use http_body_util::Full;
    use hyper_util::rt::TokioIo;
    let stream = tokio::net::TcpStream::connect(addr).await.ok()?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .ok()?;
    tokio::spawn(conn);
    let req = hyper::Request::post(url)
        .header("host", addr.to_string())
        .body(Full::new(bytes::Bytes::from_static(b"{\"t\":3}")))
        .ok()?;
    Some(sender.send_request(req).await.ok()?.status().as_u16())
}

#[tokio::test]
async fn failing_commits_turn_healthz_503_and_then_the_process_exits_non_zero() {
    let dir = TempDir::new("writer-down");
    let token = device_token(&dir.0);
    let (mut child, http, _) =
        spawn_binary(&dir.0, Some("[ingest]\nwriter_give_up_secs = 2\n")).await;
    let http = http.parse().unwrap();
    let url = format!("/api/v1/{token}/telemetry");
    let post = |v: i64| {
        let url = url.clone();
        async move {
            request(
                http,
                "POST",
                &url,
                &[],
                format!("{{\"t\":{v}}}").into_bytes(),
            )
            .await
            .status
        }
    };
    assert_eq!(post(1).await, 200);
    let h = request(http, "GET", "/healthz", &[], vec![]).await;
    assert_eq!(h.status, 200, "{}", h.text());

    // A real storage failure, not a hook: another process drops the table every
    // commit appends to (as a botched manual repair might). Each commit now fails.
    if let Some(url) = crate::common::test_database_url(&dir.0) {
        // PostgreSQL: the store is the `telemetry` schema of the test's database.
        let db = cunlink_core::sql::Connection::connect_postgres(&url).unwrap();
        db.execute_batch("DROP TABLE telemetry.log").unwrap();
    } else {
        let db = cunlink_core::sql::Connection::open(dir.0.join("telemetry.db")).unwrap();
        db.busy_timeout(Duration::from_secs(10)).unwrap();
        db.execute_batch("DROP TABLE log").unwrap();
    }
    let status = post(2).await;
    assert!(
        status >= 500,
        "a failed commit is not acknowledged: {status}"
    );
    let h = request(http, "GET", "/healthz", &[], vec![]).await;
    assert_eq!(h.status, 503, "{}", h.text());
    let body = h.json();
    assert_eq!(body["error"], "telemetry_commits_failing", "{body}");
    assert!(
        // SQLite's words, or PostgreSQL's.
        body["message"].as_str().unwrap().contains("no such table")
            || body["message"].as_str().unwrap().contains("does not exist"),
        "{body}"
    );

    // Devices keep retrying; once commits have failed for the give-up window the
    // writer stops and the process exits with status 1.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let exit = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the process did not exit"
        );
        // The listener closes while the process shuts down: a failed send is fine.
        let _ = tokio::time::timeout(Duration::from_secs(2), try_post(http, &url)).await;
        let _ = tokio::time::timeout(Duration::from_millis(200), child.wait()).await;
    };
    assert_eq!(exit.code(), Some(1), "{exit:?}");
}
