//! PostgreSQL going away and coming back (issue 14): while it is down, requests
//! that need it answer 503 with a JSON error (never a false success), `/healthz`
//! says why; when it is back, the same node serves again without a restart and
//! everything acknowledged before is still there.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::common::{TempDir, request, spawn_app_with};

fn pg(cmd: &str, dir: &std::path::Path) -> String {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/pg.sh");
    let out = Command::new("bash")
        .arg(script)
        .arg(cmd)
        .arg(dir)
        .output()
        .expect("tests/pg.sh runs");
    assert!(
        out.status.success(),
        "tests/pg.sh {cmd}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).to_string()
}

/// Stops the throwaway server even when the test fails.
struct Pg(TempDir);
impl Drop for Pg {
    fn drop(&mut self) {
        pg("stop", &self.0.0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_node_answers_503_while_postgres_is_down_and_serves_again_after() {
    let server = Pg(TempDir::new("pg"));
    let printed = pg("start", &server.0.0);
    let base = printed
        .trim()
        .strip_prefix("export CUNLINK_TEST_DATABASE_URL=")
        .expect("pg.sh prints the URL")
        .to_string();
    let url = format!("{}/cunlink", base.rsplit_once('/').unwrap().0);
    let admin = cunlink_core::sql::Connection::connect_postgres(&base).unwrap();
    admin.execute_batch("CREATE DATABASE cunlink").unwrap();
    drop(admin);

    let app = spawn_app_with(|c| c.database_url = Some(url.clone())).await;
    let token = app.device(serde_json::json!({"name": "restart-meter"})).await;
    assert!(!token.is_empty());
    let list = |app: &crate::common::TestApp| {
        let auth = format!("Bearer {}", app.admin_token);
        let http = app.http;
        async move {
            request(http, "GET", "/api/devices", &[("authorization", auth.as_str())], vec![]).await
        }
    };
    assert_eq!(list(&app).await.status, 200);

    pg("stop", &server.0.0);
    let r = list(&app).await;
    assert_eq!(r.status, 503, "{}", r.text());
    assert_eq!(r.json()["error"], "database_unavailable", "{}", r.text());
    let h = request(app.http, "GET", "/healthz", &[], vec![]).await;
    assert_eq!(h.status, 503, "{}", h.text());
    assert_eq!(h.json()["error"], "database_unreachable");

    pg("resume", &server.0.0);
    let until = Instant::now() + Duration::from_secs(20);
    let r = loop {
        let r = list(&app).await;
        if r.status == 200 || Instant::now() > until {
            break r;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.text().contains("restart-meter"), "{}", r.text());
    let h = request(app.http, "GET", "/healthz", &[], vec![]).await;
    assert_eq!(h.status, 200, "{}", h.text());
}
