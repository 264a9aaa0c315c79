//! Call signaling load generator (bench/call.sh).
//!
//! `seed --data-dir DIR --rooms N --village-doctor NAME --county-doctor NAME`:
//! writes N accepted consults between the two doctors into DIR's cunlink.db
//! (before the server starts), through the clinic's own store functions.
//! Prints `FIRST=<id>` (ids are consecutive).
//!
//! `run --addr HOST:PORT --token-a T --token-b T --first ID --rooms N --pid PID`:
//! reads the server's VmRSS, then for each consult asks both doctors' room
//! tokens (`POST /api/clinic/consults/{id}/call`) and opens both signaling
//! sockets (50 rooms at a time), so N rooms of 2 members are open at once;
//! every room then relays an offer (3 KB), an answer and 8 ICE candidates.
//! With all sockets still open it reads VmRSS again and prints one line:
//!
//! `RESULT rooms=.. members=.. relayed=.. rss_before_mb=.. rss_after_mb=.. added_mb=.. setup_s=..`

use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

fn arg(args: &[String], name: &str) -> String {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .cloned()
        .unwrap_or_else(|| panic!("missing {name}"))
}

#[tokio::main(flavor = "multi_thread", worker_threads = 1)]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("seed") => seed(&args).await,
        Some("run") => run(&args).await,
        _ => {
            eprintln!("usage: cunlink-call-load seed|run …");
            std::process::exit(2);
        }
    }
}

async fn seed(args: &[String]) {
    use cunlink_clinic::ConsultStatus;
    use cunlink_clinic::store::{consults, people};
    let dir = std::path::PathBuf::from(arg(args, "--data-dir"));
    let rooms: i64 = arg(args, "--rooms").parse().expect("--rooms N");
    let db = cunlink_core::Db::open(&dir.join("cunlink.db")).expect("open cunlink.db");
    db.migrate("core", cunlink_core::auth::MIGRATIONS)
        .expect("core schema");
    db.migrate("clinic", cunlink_clinic::store::MIGRATIONS)
        .expect("clinic schema");
    let auth = cunlink_core::auth::AuthService::new(db.clone());
    let names = vec![arg(args, "--village-doctor"), arg(args, "--county-doctor")];
    let users = auth.users_by_names(names.clone()).await.expect("users");
    let id = |n: &str| {
        users
            .iter()
            .find(|u| u.username == n)
            .map(|u| (u.id, u.village_id))
            .expect("user exists")
    };
    let (vdoc, village) = id(&names[0]);
    let (cdoc, _) = id(&names[1]);
    let village = village.expect("the village doctor has a village");
    let first = db
        .call(move |c| {
            let tx = c.transaction()?;
            let dept = people::ensure_department(&tx, "内科")?;
            let patient = people::insert_patient(
                &tx,
                &people::NewPatient {
                    name: "压测病人",
                    sex: "unknown",
                    birth_date: "1960-01-01",
                    village_id: village,
                    phone: None,
                    user_id: None,
                    created_by: vdoc,
                },
            )?;
            let mut first = None;
            for _ in 0..rooms {
                let id = consults::insert(&tx, patient, dept, vdoc, "load test")?;
                consults::transition(
                    &tx,
                    id,
                    &[ConsultStatus::Waiting],
                    ConsultStatus::Accepted,
                    Some(cdoc),
                )?;
                first.get_or_insert(id);
            }
            tx.commit()?;
            Ok::<_, cunlink_clinic::ClinicError>(first.unwrap_or(0))
        })
        .await
        .expect("seed consults");
    println!("FIRST={first}");
}

fn rss_mb(pid: &str) -> f64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("server status");
    s.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map(|kb| kb / 1024.0)
        .expect("VmRSS")
}

/// `POST /api/clinic/consults/{id}/call` over plain HTTP/1.1; the room token.
async fn room_token(addr: &str, consult: i64, bearer: &str) -> String {
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let req = format!(
        "POST /api/clinic/consults/{consult}/call HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {bearer}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    );
    s.write_all(req.as_bytes()).await.expect("send");
    let mut out = String::new();
    s.read_to_string(&mut out).await.expect("read");
    assert!(
        out.starts_with("HTTP/1.1 200"),
        "token for consult {consult}: {out}"
    );
    let body = out.split("\r\n\r\n").nth(1).unwrap_or("");
    let v: serde_json::Value = serde_json::from_str(body).expect("json");
    v["token"].as_str().expect("token").to_string()
}

async fn open(addr: &str, consult: i64, bearer: &str) -> Ws {
    let token = room_token(addr, consult, bearer).await;
    let mut req = format!("ws://{addr}/api/clinic/consults/{consult}/call/ws?token={token}")
        .into_client_request()
        .expect("request");
    req.headers_mut().insert(
        "authorization",
        format!("Bearer {bearer}").parse().expect("header"),
    );
    let (ws, _) = tokio_tungstenite::connect_async(req)
        .await
        .expect("websocket");
    ws
}

async fn next(ws: &mut Ws) -> serde_json::Value {
    loop {
        let m = tokio::time::timeout(Duration::from_secs(30), ws.next())
            .await
            .expect("a message within 30 s")
            .expect("open")
            .expect("frame");
        if let Message::Text(t) = m {
            return serde_json::from_str(&t).expect("json");
        }
    }
}

async fn room(addr: String, consult: i64, a: String, b: String) -> (Ws, Ws) {
    let mut wa = open(&addr, consult, &a).await;
    assert_eq!(next(&mut wa).await["type"], "welcome");
    let mut wb = open(&addr, consult, &b).await;
    assert_eq!(next(&mut wb).await["type"], "welcome");
    assert_eq!(next(&mut wa).await["type"], "join");
    (wa, wb)
}

async fn exchange(mut wa: Ws, mut wb: Ws) -> (Ws, Ws, u64) {
    let sdp = "a=candidate:1 1 udp 2122260223 192.168.1.10 54321 typ host\\r\\n".repeat(50);
    let send = |kind: &str| {
        Message::Text(format!(r#"{{"type":"{kind}","data":{{"sdp":"{sdp}"}}}}"#).into())
    };
    wb.send(send("offer")).await.expect("offer");
    assert_eq!(next(&mut wa).await["type"], "offer");
    wa.send(send("answer")).await.expect("answer");
    assert_eq!(next(&mut wb).await["type"], "answer");
    for i in 0..4 {
        let c = Message::Text(format!(r#"{{"type":"candidate","data":{{"candidate":"candidate:{i} 1 udp 1 10.0.0.1 {i} typ host","sdpMid":"0"}}}}"#).into());
        wa.send(c.clone()).await.expect("candidate");
        wb.send(c).await.expect("candidate");
    }
    for _ in 0..4 {
        assert_eq!(next(&mut wa).await["type"], "candidate");
        assert_eq!(next(&mut wb).await["type"], "candidate");
    }
    (wa, wb, 10)
}

async fn run(args: &[String]) {
    let addr = arg(args, "--addr");
    let (a, b) = (arg(args, "--token-a"), arg(args, "--token-b"));
    let first: i64 = arg(args, "--first").parse().expect("--first ID");
    let rooms: i64 = arg(args, "--rooms").parse().expect("--rooms N");
    let pid = arg(args, "--pid");
    let before = rss_mb(&pid);
    let t0 = Instant::now();
    let mut open_rooms = Vec::new();
    for chunk in (first..first + rooms).collect::<Vec<_>>().chunks(50) {
        let tasks: Vec<_> = chunk
            .iter()
            .map(|&id| tokio::spawn(room(addr.clone(), id, a.clone(), b.clone())))
            .collect();
        for t in tasks {
            open_rooms.push(t.await.expect("room"));
        }
    }
    let setup = t0.elapsed().as_secs_f64();
    let mut relayed = 0;
    let mut held = Vec::new();
    while !open_rooms.is_empty() {
        let cut = open_rooms.len().saturating_sub(50);
        let tasks: Vec<_> = open_rooms
            .drain(cut..)
            .map(|(wa, wb)| tokio::spawn(exchange(wa, wb)))
            .collect();
        for t in tasks {
            let (wa, wb, n) = t.await.expect("exchange");
            relayed += n;
            held.push((wa, wb));
        }
    }
    // Let the server settle (freed buffers, tasks parked) before sampling.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = rss_mb(&pid);
    println!(
        "RESULT rooms={rooms} members={} relayed={relayed} rss_before_mb={before:.1} rss_after_mb={after:.1} added_mb={:.1} setup_s={setup:.1}",
        held.len() * 2,
        after - before
    );
    // The server's own count while every socket is held.
    let mut s = tokio::net::TcpStream::connect(&addr)
        .await
        .expect("connect");
    s.write_all(
        format!("GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .await
    .expect("send");
    let mut m = String::new();
    s.read_to_string(&mut m).await.expect("read");
    for l in m.lines().filter(|l| l.starts_with("cunlink_clinic_call_")) {
        println!("{l}");
    }
    drop(held);
}
