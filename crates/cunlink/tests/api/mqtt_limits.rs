//! What an anonymous MQTT socket may cost: a connection slot out of a fixed
//! number, a few KB and a few seconds before CONNECT.

use std::net::SocketAddr;
use std::time::Duration;

use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::common::{RawMqtt, TestApp, request, spawn_app_with};

/// A sample of `/metrics` (no labels or with them, as written there).
async fn metric(app: &TestApp, sample: &str) -> u64 {
    let r = request(app.http, "GET", "/metrics", &[], vec![]).await;
    r.text()
        .lines()
        .find_map(|l| l.strip_prefix(sample)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no {sample} in /metrics"))
}

/// Wait (up to `within`) for the server to close `s`: a read returns end of
/// stream or a reset. Returns false if the socket is still open by then.
async fn closed_within(s: &mut TcpStream, within: Duration) -> bool {
    let mut buf = [0u8; 64];
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, s.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            // Whatever the server sent before closing (nothing is expected): keep reading.
            Ok(Ok(_)) => continue,
        }
    }
}

fn connect_packet(token: &str) -> Vec<u8> {
    use cunlink_farm::ingest::mqtt::packet::{Version, client};
    let mut out = Vec::new();
    client::connect(&mut out, Version::V311, "limits", Some(token), 30);
    out
}

async fn wait_metric(app: &TestApp, sample: &str, want: u64) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while metric(app, sample).await != want {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{sample} never reached {want}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn connections_over_the_cap_are_closed_at_once() {
    let app = spawn_app_with(|c| c.mqtt_max_connections = 2).await;
    let token = app.device(json!({ "name": "capped" })).await;
    let (_a, connack) = RawMqtt::connect(app.mqtt, false, &token).await;
    assert_eq!(connack, [0x20, 2, 0, 0]);
    let (b, connack) = RawMqtt::connect(app.mqtt, false, &token).await;
    assert_eq!(connack, [0x20, 2, 0, 0]);

    // The third gets no CONNACK: it is closed as soon as it is accepted.
    let mut third = TcpStream::connect(app.mqtt).await.unwrap();
    let _ = third.write_all(&connect_packet(&token)).await;
    assert!(
        closed_within(&mut third, Duration::from_secs(3)).await,
        "a connection over the cap must be closed (well before the CONNECT timeout)"
    );
    assert_eq!(
        metric(
            &app,
            "cunlink_mqtt_refused_total{reason=\"max_connections\"}"
        )
        .await,
        1
    );

    // A freed slot is usable again.
    drop(b);
    wait_metric(&app, "cunlink_mqtt_connections", 1).await;
    let (_c, connack) = RawMqtt::connect(app.mqtt, false, &token).await;
    assert_eq!(connack, [0x20, 2, 0, 0]);
}

#[tokio::test]
async fn a_huge_remaining_length_before_connect_is_refused_without_buffering() {
    let app = spawn_app_with(|_| {}).await;
    let mut s = TcpStream::connect(app.mqtt).await.unwrap();
    // CONNECT announcing 1,000,000 bytes: under the 1 MiB packet limit of a
    // connected device, far over what any CONNECT needs.
    let mut head = vec![0x10];
    let mut n = 1_000_000usize;
    loop {
        let b = (n % 128) as u8;
        n /= 128;
        head.push(if n > 0 { b | 0x80 } else { b });
        if n == 0 {
            break;
        }
    }
    s.write_all(&head).await.unwrap();
    let (mut rd, mut wr) = s.into_split();
    // Keep sending body bytes; the server must not wait for (and hold) them.
    let feeder = tokio::spawn(async move {
        let chunk = vec![0u8; 64 * 1024];
        for _ in 0..15 {
            if wr.write_all(&chunk).await.is_err() {
                return;
            }
        }
        // Held open, so a close can only come from the server.
        tokio::time::sleep(Duration::from_secs(30)).await;
        drop(wr);
    });
    let mut buf = [0u8; 64];
    let closed = tokio::time::timeout(Duration::from_secs(3), async {
        loop {
            match rd.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await;
    feeder.abort();
    assert!(
        closed.is_ok(),
        "the server must close at the length, before the CONNECT timeout"
    );
    assert_eq!(
        metric(
            &app,
            "cunlink_mqtt_refused_total{reason=\"connect_too_large\"}"
        )
        .await,
        1
    );
}

#[tokio::test]
async fn a_silent_socket_is_closed_after_the_connect_timeout() {
    let app = spawn_app_with(|_| {}).await;
    let addr: SocketAddr = app.mqtt;
    let started = std::time::Instant::now();
    let mut s = TcpStream::connect(addr).await.unwrap();
    // One byte of a fixed header, then nothing.
    s.write_all(&[0x10]).await.unwrap();
    // The timeout is 5 s; 9 s leaves room for a slow machine and is still under
    // the 10 s the server allowed before.
    assert!(
        closed_within(&mut s, Duration::from_secs(9)).await,
        "a socket that sends no CONNECT must be closed within a few seconds"
    );
    assert!(started.elapsed() >= Duration::from_secs(4));
    assert_eq!(
        metric(
            &app,
            "cunlink_mqtt_refused_total{reason=\"connect_timeout\"}"
        )
        .await,
        1
    );
}
