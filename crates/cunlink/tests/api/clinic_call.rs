//! The consult's call (issue 11 item 3): TURN REST credentials checked against
//! an independent HMAC (Python's `hmac`), room tokens only for the consult's
//! members, and the signaling WebSocket refusing everyone else, other rooms'
//! tokens and replays.

use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::call_fixture::{CallFixture, call_fixture, consult};
use crate::common::{TestApp, request, spawn_app, spawn_app_with};

const SECRET: &str = "turn-test-secret";

/// base64(HMAC-SHA1(secret, username)) computed by Python, not by our code.
fn python_hmac(secret: &str, username: &str) -> String {
    let out = std::process::Command::new("python3")
        .args([
            "-c",
            "import base64,hashlib,hmac,sys;print(base64.b64encode(hmac.new(sys.argv[1].encode(),sys.argv[2].encode(),hashlib.sha1).digest()).decode())",
            secret,
            username,
        ])
        .output()
        .expect("python3 runs (apt-get install python3)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

#[tokio::test]
async fn ice_servers_carry_coturn_rest_credentials() {
    let app = spawn_app_with(|c| {
        c.turn_secret = Some(SECRET.into());
        c.turn_urls = vec![
            "turn:turn.example.cn:3478?transport=udp".into(),
            "turn:turn.example.cn:443?transport=tcp".into(),
            "stun:turn.example.cn:3478".into(),
        ];
    })
    .await;
    let f = call_fixture(&app).await;
    let before = cunlink_core::time::now_ms() / 1000;
    for who in [&f.village_doctor, &f.county_doctor, &f.patient] {
        let r = app.get("/api/clinic/ice-servers", &who.token).await;
        assert_eq!(r.status, 200, "{}", r.text());
        let servers = r.json()["iceServers"].as_array().cloned().unwrap();
        let stun = servers
            .iter()
            .find(|s| s.get("username").is_none())
            .unwrap();
        assert_eq!(
            stun["urls"],
            serde_json::json!(["stun:turn.example.cn:3478"])
        );
        let turn = servers
            .iter()
            .find(|s| s.get("username").is_some())
            .unwrap();
        assert_eq!(turn["urls"].as_array().unwrap().len(), 2);
        let username = turn["username"].as_str().unwrap();
        let (expiry, id) = username.split_once(':').unwrap();
        assert_eq!(id, who.id.to_string());
        let expiry: i64 = expiry.parse().unwrap();
        // Valid for hours, not forever.
        assert!(
            expiry > before + 3600 && expiry < before + 86_400,
            "{expiry}"
        );
        assert_eq!(
            turn["credential"].as_str().unwrap(),
            python_hmac(SECRET, username)
        );
    }
    // Not for farmers, not for the anonymous.
    assert_eq!(
        app.get("/api/clinic/ice-servers", &f.farmer.token)
            .await
            .status,
        403
    );
    let r = request(app.http, "GET", "/api/clinic/ice-servers", &[], Vec::new()).await;
    assert_eq!(r.status, 401);
}

#[tokio::test]
async fn without_turn_settings_the_list_is_empty() {
    let app = spawn_app().await;
    let f = call_fixture(&app).await;
    let r = app
        .get("/api/clinic/ice-servers", &f.village_doctor.token)
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json(), serde_json::json!({"iceServers": []}));
}

async fn token(app: &TestApp, consult: i64, who: &str) -> (u16, serde_json::Value) {
    app.post_json(
        &format!("/api/clinic/consults/{consult}/call"),
        who,
        serde_json::json!({}),
    )
    .await
}

#[tokio::test]
async fn only_the_consults_members_get_a_room_token() {
    let app = spawn_app().await;
    let f = call_fixture(&app).await;
    for who in [&f.village_doctor, &f.county_doctor, &f.patient] {
        let (s, v) = token(&app, f.consult, &who.token).await;
        assert_eq!(s, 200, "{} {v}", who.name);
        assert!(v["token"].as_str().unwrap().len() > 40);
        assert_eq!(
            v["ws"],
            format!("/api/clinic/consults/{}/call/ws", f.consult)
        );
    }
    for who in [&f.other_doctor, &f.farmer] {
        assert_eq!(
            token(&app, f.consult, &who.token).await.0,
            403,
            "{}",
            who.name
        );
    }
    assert_eq!(
        token(&app, f.consult, &app.admin_token.clone()).await.0,
        403
    );
    assert_eq!(token(&app, 999_999, &f.village_doctor.token).await.0, 404);
    // A consult still waiting in the queue has no call yet.
    let auth = app.server.as_ref().unwrap().auth.clone();
    let waiting = consult(&auth, "茶香村", f.village_doctor.id, None, None).await;
    let (s, v) = token(&app, waiting, &f.village_doctor.token).await;
    assert_eq!((s, v["error"].as_str()), (409, Some("consult_not_ready")));
    // The page: members only.
    let page = format!("/clinic/consults/{}/call", f.consult);
    let cookie = app.session(&f.village_doctor.name, "a-password").await;
    let r = request(app.http, "GET", &page, &[("cookie", &cookie)], Vec::new()).await;
    assert_eq!(r.status, 200);
    assert!(r.text().contains(r#"id="call""#) && r.text().contains("data-token="));
    let cookie = app.session(&f.other_doctor.name, "a-password").await;
    let r = request(app.http, "GET", &page, &[("cookie", &cookie)], Vec::new()).await;
    assert_eq!(r.status, 403);
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Open the consult's signaling socket as `bearer` with room token `room_token`.
async fn open(app: &TestApp, consult: i64, bearer: &str, room_token: &str) -> Result<Ws, u16> {
    let url = format!(
        "ws://{}/api/clinic/consults/{consult}/call/ws?token={room_token}",
        app.http
    );
    let mut req = url.into_client_request().unwrap();
    req.headers_mut()
        .insert("authorization", format!("Bearer {bearer}").parse().unwrap());
    match tokio_tungstenite::connect_async(req).await {
        Ok((ws, _)) => Ok(ws),
        Err(tokio_tungstenite::tungstenite::Error::Http(r)) => Err(r.status().as_u16()),
        Err(e) => panic!("{e}"),
    }
}

async fn next(ws: &mut Ws) -> serde_json::Value {
    loop {
        match ws.next().await.expect("open").expect("frame") {
            Message::Text(t) => return serde_json::from_str(&t).unwrap(),
            Message::Ping(_) | Message::Pong(_) => continue,
            m => panic!("unexpected {m:?}"),
        }
    }
}

async fn room_token(app: &TestApp, f: &CallFixture, bearer: &str) -> String {
    let (s, v) = token(app, f.consult, bearer).await;
    assert_eq!(s, 200, "{v}");
    v["token"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn the_room_admits_its_two_doctors_and_no_one_else() {
    let app = spawn_app().await;
    let f = call_fixture(&app).await;
    let (vd, cd) = (&f.village_doctor.token, &f.county_doctor.token);
    let t_vd = room_token(&app, &f, vd).await;
    let t_cd = room_token(&app, &f, cd).await;
    // Someone else's token, even a member's, is no key.
    assert_eq!(open(&app, f.consult, vd, &t_cd).await.err(), Some(403));
    // A token of another consult's room is refused.
    let auth = app.server.as_ref().unwrap().auth.clone();
    let second = consult(
        &auth,
        "茶香村",
        f.village_doctor.id,
        Some(f.county_doctor.id),
        None,
    )
    .await;
    assert_eq!(open(&app, second, vd, &t_vd).await.err(), Some(403));
    // An outsider with a member's token, and with a guess.
    assert_eq!(
        open(&app, f.consult, &f.other_doctor.token, &t_vd)
            .await
            .err(),
        Some(403)
    );
    assert_eq!(
        open(&app, f.consult, &f.farmer.token, "1.AAAA.AAAA")
            .await
            .err(),
        Some(403)
    );

    let mut a = open(&app, f.consult, vd, &t_vd).await.unwrap();
    assert_eq!(next(&mut a).await["type"], "welcome");
    // Used once: a replay is refused.
    assert_eq!(open(&app, f.consult, vd, &t_vd).await.err(), Some(403));
    let mut b = open(&app, f.consult, cd, &t_cd).await.unwrap();
    assert_eq!(next(&mut b).await["peers"][0]["user"], f.village_doctor.id);
    assert_eq!(next(&mut a).await["type"], "join");
    b.send(Message::Text(
        r#"{"type":"offer","data":{"type":"offer","sdp":"v=0"}}"#.into(),
    ))
    .await
    .unwrap();
    assert_eq!(next(&mut a).await["data"]["sdp"], "v=0");
    // The patient's account belongs, but the call is full with two.
    let t_p = room_token(&app, &f, &f.patient.token).await;
    assert_eq!(
        open(&app, f.consult, &f.patient.token, &t_p).await.err(),
        Some(409)
    );
    // Two members in: the consult is in a call (watermark: its state).
    let clinic_members = || {
        let auth = auth.clone();
        let id = f.consult;
        async move {
            auth.db()
                .call(move |c| {
                    Ok::<_, cunlink_clinic::ClinicError>(
                        cunlink_clinic::store::consults::get(c, id)?.map(|c| c.status),
                    )
                })
                .await
                .unwrap()
        }
    };
    let mut status = None;
    for _ in 0..200 {
        status = clinic_members().await;
        if status == Some(cunlink_clinic::ConsultStatus::InCall) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert_eq!(status, Some(cunlink_clinic::ConsultStatus::InCall));
    // The metrics count the room.
    let m = request(app.http, "GET", "/metrics", &[], Vec::new())
        .await
        .text();
    assert!(m.contains("cunlink_clinic_call_rooms 1"), "{m}");
    assert!(m.contains("cunlink_clinic_call_members 2"), "{m}");
}

#[tokio::test]
async fn closing_the_consult_ends_its_call() {
    let app = spawn_app().await;
    let f = call_fixture(&app).await;
    let (vd, cd) = (&f.village_doctor.token, &f.county_doctor.token);
    let t_vd = room_token(&app, &f, vd).await;
    let t_cd = room_token(&app, &f, cd).await;
    let mut a = open(&app, f.consult, vd, &t_vd).await.unwrap();
    let mut b = open(&app, f.consult, cd, &t_cd).await.unwrap();
    assert_eq!(next(&mut a).await["type"], "welcome");
    assert_eq!(next(&mut b).await["type"], "welcome");
    let (s, v) = app
        .post_json(
            &format!("/api/clinic/consults/{}/close", f.consult),
            cd,
            serde_json::json!({}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    // Both sockets are closed by the server, and no new token is issued.
    for ws in [&mut a, &mut b] {
        loop {
            match tokio::time::timeout(std::time::Duration::from_secs(10), ws.next())
                .await
                .expect("closed within 10 s")
            {
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                Some(Ok(_)) => continue,
            }
        }
    }
    let (s, v) = token(&app, f.consult, vd).await;
    assert_eq!((s, v["error"].as_str()), (409, Some("consult_not_ready")));
}
