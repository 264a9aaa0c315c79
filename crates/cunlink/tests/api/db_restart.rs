//! PostgreSQL going away and coming back (issue 14): while it is down, requests
//! that need it answer 503 with a JSON error (never a false success), `/healthz`
//! says why; when it is back, the same node serves again without a restart and
//! everything acknowledged before is still there.

use std::time::{Duration, Instant};

use crate::common::{own_postgres, pg_sh, request, spawn_app_with};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_node_answers_503_while_postgres_is_down_and_serves_again_after() {
    let (pgdir, _pg, url) = own_postgres("pg");
    let pgdir = pgdir.0.to_str().unwrap().to_string();

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

    pg_sh(&["stop", &pgdir]);
    let r = list(&app).await;
    assert_eq!(r.status, 503, "{}", r.text());
    assert_eq!(r.json()["error"], "database_unavailable", "{}", r.text());
    let h = request(app.http, "GET", "/healthz", &[], vec![]).await;
    assert_eq!(h.status, 503, "{}", h.text());
    assert_eq!(h.json()["error"], "database_unreachable");

    pg_sh(&["resume", &pgdir]);
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
