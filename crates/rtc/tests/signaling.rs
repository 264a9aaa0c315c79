//! The signaling hub over real WebSockets: a test server with the crate's own
//! token and hub on a loopback port, and tungstenite clients. The user id comes
//! from the query string here; in cunlink it is the signed-in session's.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, Query, State, WebSocketUpgrade};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use cunlink_rtc::{Calls, JoinError, Limits, TurnConfig};
use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use tokio_tungstenite::tungstenite::Message;

#[derive(Deserialize)]
struct Who {
    user: i64,
    #[serde(default)]
    token: String,
}

async fn token(
    State(c): State<Arc<Calls>>,
    Path(room): Path<String>,
    Query(w): Query<Who>,
) -> String {
    c.issue(&room, w.user)
}

async fn ws(
    State(c): State<Arc<Calls>>,
    Path(room): Path<String>,
    Query(w): Query<Who>,
    up: WebSocketUpgrade,
) -> Response {
    if c.redeem(&w.token, &room, w.user).is_err() {
        return StatusCode::FORBIDDEN.into_response();
    }
    match cunlink_rtc::ws::serve(&c.hub, &room, w.user, up) {
        Ok(r) => r,
        Err(JoinError::Full) => StatusCode::CONFLICT.into_response(),
        Err(JoinError::Busy) => StatusCode::SERVICE_UNAVAILABLE.into_response(),
    }
}

async fn server() -> (SocketAddr, Arc<Calls>) {
    let calls = Arc::new(Calls::new(TurnConfig::default(), Limits::default()));
    let app = Router::new()
        .route("/token/{room}", get(token))
        .route("/ws/{room}", get(ws))
        .with_state(calls.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (addr, calls)
}

async fn get_token(addr: SocketAddr, room: &str, user: i64) -> String {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    s.write_all(
        format!("GET /token/{room}?user={user} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .as_bytes(),
    )
    .await
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    out.rsplit("\r\n\r\n").next().unwrap().to_string()
}

type Client =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect(addr: SocketAddr, room: &str, user: i64, token: &str) -> Result<Client, u16> {
    let url = format!("ws://{addr}/ws/{room}?user={user}&token={token}");
    match tokio_tungstenite::connect_async(url).await {
        Ok((c, _)) => Ok(c),
        Err(tokio_tungstenite::tungstenite::Error::Http(r)) => Err(r.status().as_u16()),
        Err(e) => panic!("{e}"),
    }
}

async fn next(c: &mut Client) -> serde_json::Value {
    loop {
        match c.next().await.expect("open").expect("frame") {
            Message::Text(t) => return serde_json::from_str(&t).unwrap(),
            Message::Ping(_) | Message::Pong(_) => continue,
            m => panic!("unexpected {m:?}"),
        }
    }
}

#[tokio::test]
async fn two_members_exchange_offer_answer_and_candidates() {
    let (addr, calls) = server().await;
    let t1 = get_token(addr, "consult-1", 1).await;
    let mut a = connect(addr, "consult-1", 1, &t1).await.unwrap();
    assert_eq!(next(&mut a).await["type"], "welcome");
    let t2 = get_token(addr, "consult-1", 2).await;
    let mut b = connect(addr, "consult-1", 2, &t2).await.unwrap();
    let welcome = next(&mut b).await;
    assert_eq!(welcome["peers"][0]["user"], 1);
    let joined = next(&mut a).await;
    assert_eq!(joined["type"], "join");
    b.send(Message::Text(
        r#"{"type":"offer","data":{"type":"offer","sdp":"v=0"}}"#.into(),
    ))
    .await
    .unwrap();
    let offer = next(&mut a).await;
    assert_eq!(offer["data"]["sdp"], "v=0");
    assert_eq!(offer["from"], welcome["peer"]);
    a.send(Message::Text(
        r#"{"type":"answer","data":{"sdp":"v=1"}}"#.into(),
    ))
    .await
    .unwrap();
    assert_eq!(next(&mut b).await["type"], "answer");
    b.send(Message::Text(
        r#"{"type":"audio-only","data":{"on":true}}"#.into(),
    ))
    .await
    .unwrap();
    assert_eq!(next(&mut a).await["data"]["on"], true);
    // An unknown type is answered with an error, not relayed.
    b.send(Message::Text(r#"{"type":"spam"}"#.into()))
        .await
        .unwrap();
    assert_eq!(next(&mut b).await["type"], "error");
    b.send(Message::Text(r#"{"type":"hangup"}"#.into()))
        .await
        .unwrap();
    assert_eq!(next(&mut a).await["type"], "hangup");
    b.close(None).await.unwrap();
    assert_eq!(next(&mut a).await["type"], "leave");
    assert_eq!(calls.hub.metrics().messages.get(), 4);
}

#[tokio::test]
async fn tokens_are_bound_to_room_user_and_single_use() {
    let (addr, _calls) = server().await;
    let t = get_token(addr, "consult-1", 1).await;
    assert_eq!(
        connect(addr, "consult-2", 1, &t).await.err(),
        Some(403),
        "another room"
    );
    assert_eq!(
        connect(addr, "consult-1", 2, &t).await.err(),
        Some(403),
        "another user"
    );
    assert_eq!(
        connect(addr, "consult-1", 1, "1.2.3").await.err(),
        Some(403),
        "a guess"
    );
    let _a = connect(addr, "consult-1", 1, &t).await.unwrap();
    assert_eq!(
        connect(addr, "consult-1", 1, &t).await.err(),
        Some(403),
        "reused"
    );
}

#[tokio::test]
async fn a_third_member_is_refused() {
    let (addr, calls) = server().await;
    let mut clients = Vec::new();
    for user in [1, 2] {
        let t = get_token(addr, "r", user).await;
        let mut c = connect(addr, "r", user, &t).await.unwrap();
        assert_eq!(next(&mut c).await["type"], "welcome");
        clients.push(c);
    }
    let t = get_token(addr, "r", 3).await;
    assert_eq!(connect(addr, "r", 3, &t).await.err(), Some(409));
    assert_eq!(calls.hub.members("r").len(), 2);
}

#[tokio::test]
async fn an_oversized_message_closes_the_socket() {
    let (addr, calls) = server().await;
    let t = get_token(addr, "r", 1).await;
    let mut a = connect(addr, "r", 1, &t).await.unwrap();
    assert_eq!(next(&mut a).await["type"], "welcome");
    let big = format!(r#"{{"type":"offer","data":"{}"}}"#, "x".repeat(70 * 1024));
    let _ = a.send(Message::Text(big.into())).await;
    // The server refuses the frame and the connection ends; the member leaves.
    while let Some(Ok(m)) = a.next().await {
        if let Message::Close(_) = m {
            break;
        }
    }
    for _ in 0..100 {
        if calls.hub.members("r").is_empty() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("the member stayed in the room");
}

#[tokio::test]
async fn a_flooding_client_is_disconnected() {
    let (addr, calls) = server().await;
    let t = get_token(addr, "r", 1).await;
    let mut a = connect(addr, "r", 1, &t).await.unwrap();
    assert_eq!(next(&mut a).await["type"], "welcome");
    // 200 in a burst are allowed (ICE candidates come in bursts); 400 at once are not.
    for _ in 0..400 {
        if a.send(Message::Text(r#"{"type":"candidate","data":{}}"#.into()))
            .await
            .is_err()
        {
            break;
        }
    }
    let reason = loop {
        match a.next().await {
            Some(Ok(Message::Close(Some(f)))) => break f.reason.to_string(),
            Some(Ok(_)) => continue,
            other => panic!("expected a close frame, got {other:?}"),
        }
    };
    assert_eq!(reason, "too many messages");
    assert!(calls.hub.metrics().messages.get() >= 200);
}
