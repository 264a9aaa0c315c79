//! Notifications leave the server: Web Push to a local push service that checks
//! the VAPID signature (RFC 8292) and decrypts the payload (RFC 8291) the way a
//! browser would; webhooks with a dead-letter list.

use std::time::Duration;

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes128Gcm, Nonce};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use hkdf::Hkdf;
use p256::ecdsa::signature::Verifier;
use p256::ecdsa::{Signature, VerifyingKey};
use p256::{PublicKey, SecretKey};
use serde_json::{Value, json};
use sha2::Sha256;
use tokio::sync::mpsc;

use crate::common::{TestApp, spawn_app_with};

/// The receivers here listen on 127.0.0.1, which a server refuses to notify
/// unless its configuration allows private addresses.
pub(crate) async fn spawn_local_receivers_app() -> TestApp {
    spawn_app_with(|c| c.notify.allow_private = true).await
}

/// What a receiver got: headers and body.
pub(crate) type Received = (HeaderMap, Vec<u8>);

/// A local HTTP receiver answering `status`; returns its base URL.
pub(crate) async fn receiver(status: StatusCode) -> (String, mpsc::UnboundedReceiver<Received>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let app = axum::Router::new()
        .route(
            "/{*path}",
            post(
                |State((tx, status)): State<(mpsc::UnboundedSender<Received>, StatusCode)>,
                 headers: HeaderMap,
                 body: axum::body::Bytes| async move {
                    let _ = tx.send((headers, body.to_vec()));
                    status
                },
            ),
        )
        .with_state((tx, status));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{addr}"), rx)
}

pub(crate) fn uncompressed(p: &PublicKey) -> Vec<u8> {
    use p256::elliptic_curve::sec1::ToSec1Point;
    p.as_affine().to_sec1_point(false).as_bytes().to_vec()
}

/// Decrypt an `aes128gcm` Web Push body as the browser holding `ua` and `auth` would.
pub(crate) fn browser_decrypt(ua: &SecretKey, auth: &[u8], body: &[u8]) -> Vec<u8> {
    assert!(body.len() > 21 + 65 + 16, "body too short");
    let salt = &body[..16];
    let rs = u32::from_be_bytes(body[16..20].try_into().unwrap());
    assert!(rs >= 18, "record size");
    let idlen = body[20] as usize;
    assert_eq!(idlen, 65, "keyid is the sender's uncompressed P-256 key");
    let as_public = PublicKey::from_sec1_bytes(&body[21..21 + idlen]).expect("sender key");
    let ciphertext = &body[21 + idlen..];
    assert!(ciphertext.len() <= rs as usize, "one record");

    let shared = ua.diffie_hellman(&as_public);
    let mut info = b"WebPush: info\0".to_vec();
    info.extend(uncompressed(&ua.public_key()));
    info.extend(uncompressed(&as_public));
    let mut ikm = [0u8; 32];
    Hkdf::<Sha256>::new(Some(auth), shared.raw_secret_bytes())
        .expand(&info, &mut ikm)
        .unwrap();
    let prk = Hkdf::<Sha256>::new(Some(salt), &ikm);
    let (mut cek, mut nonce) = ([0u8; 16], [0u8; 12]);
    prk.expand(b"Content-Encoding: aes128gcm\0", &mut cek)
        .unwrap();
    prk.expand(b"Content-Encoding: nonce\0", &mut nonce)
        .unwrap();
    let mut plain = Aes128Gcm::new_from_slice(&cek)
        .unwrap()
        .decrypt(&Nonce::from(nonce), ciphertext)
        .expect("the payload decrypts and authenticates");
    // Strip padding: zeros after the delimiter; 0x02 marks the last record.
    while plain.last() == Some(&0) {
        plain.pop();
    }
    assert_eq!(plain.pop(), Some(2), "last-record delimiter");
    plain
}

/// Check the `Authorization: vapid t=…, k=…` header for `audience`.
fn check_vapid(header: &str, audience: &str, server_key: &str) {
    let rest = header.strip_prefix("vapid ").expect("vapid scheme");
    let mut t = None;
    let mut k = None;
    for part in rest.split(',') {
        let (name, value) = part.trim().split_once('=').expect("t=… and k=…");
        match name {
            "t" => t = Some(value.to_string()),
            "k" => k = Some(value.to_string()),
            _ => {}
        }
    }
    let (t, k) = (t.expect("t"), k.expect("k"));
    assert_eq!(k, server_key, "k is the key browsers subscribed with");
    let parts: Vec<&str> = t.split('.').collect();
    assert_eq!(parts.len(), 3, "a JWS compact token");
    let header: Value = serde_json::from_slice(&B64.decode(parts[0]).unwrap()).unwrap();
    assert_eq!(header["alg"], "ES256");
    let claims: Value = serde_json::from_slice(&B64.decode(parts[1]).unwrap()).unwrap();
    assert_eq!(claims["aud"], audience);
    let now = cunlink_core::time::now_ms() / 1000;
    let exp = claims["exp"].as_i64().unwrap();
    assert!(
        exp > now && exp <= now + 24 * 3600,
        "exp within 24 h: {claims}"
    );
    assert!(claims["sub"].as_str().unwrap().starts_with("mailto:"));
    let key = VerifyingKey::from_sec1_bytes(&B64.decode(&k).unwrap()).expect("k is a P-256 key");
    let sig = Signature::from_slice(&B64.decode(parts[2]).unwrap()).expect("64-byte r||s");
    key.verify(format!("{}.{}", parts[0], parts[1]).as_bytes(), &sig)
        .expect("the VAPID signature verifies");
}

async fn dry_soil_rule(app: &TestApp, device: &str) {
    let admin = app.admin_token.clone();
    let (s, r) = app
        .create_rule(&admin,
            json!({ "name": "土壤干旱", "severity": "critical", "target": { "device": device },
                    "condition": { "type": "threshold", "conditions": [{ "key": "soil_moisture", "op": "<", "value": 20 }] } }),
        )
        .await;
    assert_eq!(s, 201, "{r}");
}

#[tokio::test]
async fn web_push_is_signed_and_encrypted_for_the_browser() {
    let app = spawn_local_receivers_app().await;
    let (base, mut pushes) = receiver(StatusCode::CREATED).await;
    let ua = SecretKey::from_slice(&[0x42; 32]).unwrap();
    let auth = [9u8; 16];
    let admin = app.admin_token.clone();
    let endpoint = format!("{base}/push/phone-1");
    let (s, sub) = app
        .post_json(
            "/api/push/subscriptions",
            &admin,
            json!({ "endpoint": endpoint, "keys": { "p256dh": B64.encode(uncompressed(&ua.public_key())), "auth": B64.encode(auth) } }),
        )
        .await;
    assert_eq!(s, 201, "{sub}");
    // A subscription with a bad key is refused, naming it.
    let (s, e) = app
        .post_json(
            "/api/push/subscriptions",
            &admin,
            json!({ "endpoint": endpoint, "keys": { "p256dh": "AAAA", "auth": B64.encode(auth) } }),
        )
        .await;
    assert_eq!((s, e["field"].as_str()), (400, Some("keys.p256dh")));

    let token = app
        .device(json!({ "name": "土壤-推送", "type": "soil-probe" }))
        .await;
    dry_soil_rule(&app, "土壤-推送").await;
    let r = app.telemetry(&token, r#"{"soil_moisture":11}"#).await;
    assert_eq!(r.status, 200);

    let (headers, body) = tokio::time::timeout(Duration::from_secs(10), pushes.recv())
        .await
        .expect("a push arrives")
        .unwrap();
    assert_eq!(headers["content-encoding"], "aes128gcm");
    assert!(headers.get("ttl").is_some(), "TTL header (RFC 8030)");
    assert_eq!(headers["urgency"], "high", "critical alarms are urgent");
    let server_key = app.query("/api/push/vapid-public-key").await["public_key"]
        .as_str()
        .unwrap()
        .to_string();
    check_vapid(
        headers["authorization"].to_str().unwrap(),
        &base,
        &server_key,
    );
    let plain = browser_decrypt(&ua, &auth, &body);
    let msg: Value = serde_json::from_slice(&plain).expect("JSON payload");
    assert!(msg["title"].as_str().unwrap().contains("土壤干旱"), "{msg}");
    assert!(msg["body"].as_str().unwrap().contains("土壤-推送"), "{msg}");
    assert!(msg["url"].as_str().unwrap().starts_with("/alarms/"));
}

#[tokio::test]
async fn webhooks_deliver_and_refusals_become_dead_letters() {
    let app = spawn_local_receivers_app().await;
    let (good, mut delivered) = receiver(StatusCode::OK).await;
    let (bad, mut refused) = receiver(StatusCode::NOT_FOUND).await;
    let admin = app.admin_token.clone();
    for url in [format!("{good}/sms"), format!("{bad}/gone")] {
        let (s, w) = app
            .post_json("/api/webhooks", &admin, json!({ "url": url }))
            .await;
        assert_eq!(s, 201, "{w}");
    }
    let (s, e) = app
        .post_json("/api/webhooks", &admin, json!({ "url": "ftp://x" }))
        .await;
    assert_eq!((s, e["field"].as_str()), (400, Some("url")));

    let token = app
        .device(json!({ "name": "土壤-短信", "type": "soil-probe" }))
        .await;
    dry_soil_rule(&app, "土壤-短信").await;
    let r = app.telemetry(&token, r#"{"soil_moisture":9}"#).await;
    assert_eq!(r.status, 200);
    let (headers, body) = tokio::time::timeout(Duration::from_secs(10), delivered.recv())
        .await
        .expect("the webhook is called")
        .unwrap();
    assert!(
        headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["alarm"]["device"], "土壤-短信");
    assert!(v["text"].as_str().unwrap().contains("土壤干旱"));
    tokio::time::timeout(Duration::from_secs(10), refused.recv())
        .await
        .expect("the failing webhook is tried")
        .unwrap();
    let mut dead = Value::Null;
    for _ in 0..100 {
        dead = app.query("/api/notifications/dead").await;
        if dead.as_array().is_some_and(|a| !a.is_empty()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let dead = dead.as_array().unwrap();
    assert_eq!(dead.len(), 1, "{dead:?}");
    assert_eq!(dead[0]["last_error"], "HTTP 404 Not Found");
    // The alarm was stored and raised regardless of the failing receiver.
    assert_eq!(app.alarms("status=active").await.len(), 1);
    // Retrying puts it back in the queue.
    let id = dead[0]["id"].as_i64().unwrap();
    let (s, _) = app
        .post_json(&format!("/api/notifications/{id}/retry"), &admin, json!({}))
        .await;
    assert_eq!(s, 202);
}

#[tokio::test]
async fn unacknowledged_alarms_escalate_to_the_vet() {
    let app = spawn_local_receivers_app().await;
    let (hook, mut calls) = receiver(StatusCode::OK).await;
    let vet = app
        .user("vet-wang", cunlink_core::auth::Role::Doctor, Some("茶香村"))
        .await;
    let (s, w) = app
        .post_json(
            "/api/webhooks",
            &vet,
            json!({ "url": format!("{hook}/vet") }),
        )
        .await;
    assert_eq!(s, 201, "{w}");
    let token = app
        .device(json!({ "name": "耳标 0007", "type": "soil-probe", "village": "茶香村" }))
        .await;
    let admin = app.admin_token.clone();
    let (s, r) = app
        .create_rule(&admin,
            json!({ "name": "过干", "severity": "major", "target": { "device": "耳标 0007" },
                    "escalate": { "after_s": 1, "to": ["vet-wang"] },
                    "condition": { "type": "threshold", "conditions": [{ "key": "soil_moisture", "op": "<", "value": 20 }] } }),
        )
        .await;
    assert_eq!(s, 201, "{r}");
    let raised = cunlink_core::time::now_ms();
    let r = app.telemetry(&token, r#"{"soil_moisture":5}"#).await;
    assert_eq!(r.status, 200);
    // The vet is not told at first (doctors are not notified by default)…
    let (_, body) = tokio::time::timeout(Duration::from_secs(10), calls.recv())
        .await
        .expect("the escalation reaches the vet")
        .unwrap();
    // …only once nobody acknowledged it in time.
    assert!(cunlink_core::time::now_ms() - raised >= 1_000);
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert!(v["title"].as_str().unwrap().contains("无人确认"), "{v}");
    let a = app.alarms("status=active").await;
    assert!(a[0]["escalated_at"].as_i64().is_some(), "{a:?}");
    // Escalation to an unknown user is refused.
    let (s, e) = app
        .create_rule(
            &admin,
            json!({ "name": "x", "severity": "major", "target": { "device": "耳标 0007" },
                    "escalate": { "after_s": 60, "to": ["nobody"] },
                    "condition": { "type": "silence" } }),
        )
        .await;
    assert_eq!((s, e["field"].as_str()), (400, Some("escalate.to")));
}
