//! The ChirpStack endpoint needs an integration token (`Authorization: Bearer`);
//! without a valid one it answers the same 401 whatever the DevEUI, and stores
//! nothing. Tokens come from `cunlink integration create`, printed last.

use std::process::Stdio;

use serde_json::json;

use crate::common::{TempDir, request, spawn_app, test_config};
use crate::ingest_chirpstack::{integration, up};

const KNOWN: &str = "70b3d57ed0005678";
const UNKNOWN: &str = "0102030405060709";

#[tokio::test]
async fn without_a_valid_token_every_dev_eui_gets_the_same_401() {
    let app = spawn_app().await;
    app.device(json!({ "name": "lora-1", "dev_eui": KNOWN }))
        .await;
    let good = integration(&app).await;
    let send = |eui: &'static str, auth: Option<String>| {
        let http = app.http;
        async move {
            let mut headers = vec![("content-type", "application/json".to_string())];
            if let Some(a) = auth {
                headers.push(("authorization", a));
            }
            let h: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
            request(
                http,
                "POST",
                "/api/integrations/chirpstack?event=up",
                &h,
                up(eui, json!({ "t": 1 })).into_bytes(),
            )
            .await
        }
    };
    let wrong = Some("Bearer not-a-token".to_string());
    let mut bodies = Vec::new();
    for (eui, auth) in [
        (KNOWN, None),
        (UNKNOWN, None),
        (KNOWN, wrong.clone()),
        (UNKNOWN, wrong.clone()),
        (KNOWN, Some(good.replace("Bearer ", "Basic "))),
    ] {
        let r = send(eui, auth.clone()).await;
        assert_eq!(r.status, 401, "{eui} {auth:?}: {}", r.text());
        assert_eq!(r.json()["error"], "unauthorized", "{}", r.text());
        bodies.push(r.body);
    }
    assert!(
        bodies.windows(2).all(|w| w[0] == w[1]),
        "answers differ: {:?}",
        bodies
            .iter()
            .map(|b| String::from_utf8_lossy(b).into_owned())
            .collect::<Vec<_>>()
    );
    // Nothing was stored by the refused requests…
    assert_eq!(app.query("/api/devices/lora-1/latest").await, json!({}));
    // …and the same event with the token is.
    let r = send(KNOWN, Some(good)).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        app.query("/api/devices/lora-1/latest").await["t"][0]["value"],
        1
    );
}

#[tokio::test]
async fn the_cli_prints_a_working_token_last() {
    let dir = TempDir::new("integration");
    let cli = |args: &[&str]| {
        let out = crate::common::cunlink_cmd(&dir.0)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .last()
            .unwrap_or("")
            .trim()
            .to_string()
    };
    let d = dir.0.to_str().unwrap();
    let token = cli(&[
        "integration",
        "create",
        "--data-dir",
        d,
        "--name",
        "chirpstack",
    ]);
    assert!(token.len() >= 32, "token: {token:?}");
    cli(&[
        "device",
        "create",
        "--data-dir",
        d,
        "--name",
        "lora-2",
        "--village",
        "茶香村",
        "--dev-eui",
        KNOWN,
    ]);
    let server = cunlink::app::start(test_config(&dir.0)).await.unwrap();
    let r = request(
        server.http_addr,
        "POST",
        "/api/integrations/chirpstack?event=up",
        &[("authorization", &format!("Bearer {token}"))],
        up(KNOWN, json!({ "soil_moisture": 20 })).into_bytes(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    // A second integration of the same name is refused; the first token still works.
    let out = crate::common::cunlink_cmd(&dir.0)
        .args([
            "integration",
            "create",
            "--data-dir",
            d,
            "--name",
            "chirpstack",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let device = server
        .farm
        .registry
        .by_name("lora-2")
        .await
        .unwrap()
        .unwrap();
    let latest = server.farm.telemetry.store().latest(device.id);
    assert_eq!(latest.len(), 1, "{latest:?}");
    server.shutdown().await;
}
