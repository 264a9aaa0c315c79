//! Webhooks and Web Push endpoints cannot point the server at its own network:
//! loopback, private, link-local, unique-local and similar addresses are
//! refused at registration and at send time unless the configuration allows
//! them, and what a receiver answers never reaches the user.

use std::time::Duration;

use axum::http::StatusCode;
use axum::routing::post;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::common::{TestApp, spawn_app, spawn_app_with};

/// A receiver on 127.0.0.1 answering `status` with `body`; counts calls.
async fn receiver(status: StatusCode, body: &'static str) -> (String, mpsc::UnboundedReceiver<()>) {
    let (tx, rx) = mpsc::unbounded_channel::<()>();
    let app = axum::Router::new().route(
        "/{*path}",
        post(move || {
            let tx = tx.clone();
            async move {
                let _ = tx.send(());
                (status, body)
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{addr}"), rx)
}

/// A browser's subscription keys (any valid P-256 point and 16-byte secret).
fn push_keys() -> Value {
    let ua = p256::SecretKey::from_slice(&[0x42; 32]).unwrap();
    use p256::elliptic_curve::sec1::ToSec1Point;
    let point = ua
        .public_key()
        .as_affine()
        .to_sec1_point(false)
        .as_bytes()
        .to_vec();
    json!({ "p256dh": B64.encode(point), "auth": B64.encode([9u8; 16]) })
}

const PRIVATE: [&str; 12] = [
    "http://127.0.0.1:9/hook",
    "http://10.0.0.1/hook",
    "http://[::1]:8080/hook",
    "http://169.254.169.254/latest/meta-data/",
    "http://localhost:8080/hook",
    "http://[::ffff:127.0.0.1]/hook",
    "http://[::ffff:10.1.2.3]/hook",
    "http://0.0.0.0:8080/hook",
    "http://192.168.1.1/admin",
    "http://172.16.0.1/",
    "https://[fd00::1]/push",
    "https://[fe80::1]/push",
];

#[tokio::test]
async fn private_targets_are_refused_at_registration_naming_the_field() {
    let app = spawn_app().await;
    let admin = app.admin_token.clone();
    for url in PRIVATE {
        let (s, e) = app
            .post_json("/api/webhooks", &admin, json!({ "url": url }))
            .await;
        assert_eq!((s, e["field"].as_str()), (400, Some("url")), "{url} → {e}");
        assert_eq!(e["error"], "private_address", "{url} → {e}");
        let (s, e) = app
            .post_json(
                "/api/push/subscriptions",
                &admin,
                json!({ "endpoint": url, "keys": push_keys() }),
            )
            .await;
        assert_eq!(
            (s, e["field"].as_str()),
            (400, Some("endpoint")),
            "{url} → {e}"
        );
    }
    assert_eq!(app.query("/api/webhooks").await, json!([]));
    assert_eq!(app.query("/api/push/subscriptions").await, json!([]));
}

#[tokio::test]
async fn an_operator_may_allow_one_network() {
    let app = spawn_app_with(|c| c.notify.allow_networks = vec!["127.0.0.1/32".into()]).await;
    let admin = app.admin_token.clone();
    let (s, e) = app
        .post_json(
            "/api/webhooks",
            &admin,
            json!({ "url": "http://127.0.0.1:9/sms" }),
        )
        .await;
    assert_eq!(s, 201, "{e}");
    for url in ["http://[::1]:9/sms", "http://10.0.0.1/sms"] {
        let (s, e) = app
            .post_json("/api/webhooks", &admin, json!({ "url": url }))
            .await;
        assert_eq!((s, e["field"].as_str()), (400, Some("url")), "{url} → {e}");
    }
}

async fn fire_an_alarm(app: &TestApp, device: &str) {
    let admin = app.admin_token.clone();
    let token = app
        .device(json!({ "name": device, "type": "soil-probe", "village": "茶香村" }))
        .await;
    let (s, r) = app
        .create_rule(&admin,
            json!({ "name": "干旱", "severity": "critical", "target": { "device": device },
                    "condition": { "type": "threshold", "conditions": [{ "key": "soil_moisture", "op": "<", "value": 20 }] } }),
        )
        .await;
    assert_eq!(s, 201, "{r}");
    let r = app.telemetry(&token, r#"{"soil_moisture":9}"#).await;
    assert_eq!(r.status, 200);
}

/// Poll the dead-letter list until it has an entry.
async fn first_dead_letter(app: &TestApp) -> Value {
    let until = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let dead = app.query("/api/notifications/dead").await;
        if let Some(d) = dead.as_array().and_then(|a| a.first()) {
            assert_eq!(dead.as_array().unwrap().len(), 1, "{dead}");
            return d.clone();
        }
        assert!(std::time::Instant::now() < until, "no dead letter");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn dead_letters_carry_a_status_not_the_receivers_answer() {
    let app = spawn_app_with(|c| c.notify.allow_private = true).await;
    let (base, mut calls) = receiver(
        StatusCode::NOT_FOUND,
        "<html>SECRET router admin page: password=hunter2</html>",
    )
    .await;
    let (s, w) = app
        .post_json(
            "/api/webhooks",
            &app.admin_token.clone(),
            json!({ "url": format!("{base}/x") }),
        )
        .await;
    assert_eq!(s, 201, "{w}");
    fire_an_alarm(&app, "土壤-回显").await;
    calls.recv().await.expect("the receiver is called");
    let dead = first_dead_letter(&app).await;
    assert_eq!(dead["last_error"], "HTTP 404 Not Found", "{dead}");
    let listed = app.query("/api/notifications/dead").await.to_string();
    assert!(
        !listed.contains("SECRET") && !listed.contains("hunter2"),
        "{listed}"
    );
}

#[tokio::test]
async fn a_stored_target_that_is_private_is_refused_at_send_time() {
    // As if registered while its name resolved to a public address, or stored
    // before this check existed: the send checks again and does not connect.
    let app = spawn_app().await;
    let (base, mut calls) = receiver(StatusCode::OK, "ok").await;
    let server = app.server.as_ref().unwrap();
    let admin_id = server
        .auth
        .users_by_names(vec!["admin".into()])
        .await
        .unwrap()[0]
        .id;
    let url = format!("{base}/rebound");
    server
        .alerts
        .db
        .call(move |c| cunlink_alert::notify::store::add_webhook(c, admin_id, &url, 0))
        .await
        .unwrap();
    fire_an_alarm(&app, "土壤-重绑").await;
    let dead = first_dead_letter(&app).await;
    assert!(
        dead["last_error"].as_str().unwrap().contains("not allowed"),
        "{dead}"
    );
    // The attempt is over (it is a dead letter) and it never reached the receiver.
    assert!(calls.try_recv().is_err(), "the private receiver was called");
}

#[tokio::test]
async fn a_misspelt_allowed_network_stops_the_server_from_starting() {
    let dir = crate::common::TempDir::new("notify-cfg");
    let mut c = crate::common::test_config(&dir.0);
    c.notify.allow_networks = vec!["192.168.1/24".into()];
    let e = cunlink::app::start(c).await.err().expect("refused");
    assert!(format!("{e:#}").contains("192.168.1/24"), "{e:#}");
}
