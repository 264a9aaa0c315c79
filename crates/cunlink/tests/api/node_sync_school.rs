//! The school's part of the village node sync (issue 15, docs/school.md
//! "Village nodes"): a real hub (this test's app, on PostgreSQL when the suite
//! is) behind TLS, as a county sets it up, and a real node binary joined to it.
//! A channel subscribed on the hub for the village is pulled by the node over
//! https with its own credential and its lessons play there; a learning
//! statement recorded on the node reaches the hub under the same UUID, naming
//! the hub's course; a course made on the node reaches the hub under its id. Every wait polls an observable state with a deadline.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use cunlink_core::auth::Role;
use serde_json::{Value, json};

use crate::common::{Resp, TempDir, request, spawn_app};
use crate::node_sync::{ID_SPAN, NodeProc, hub_until, join_cmd_with};
use crate::school_channels::{sha_hex, upload};

/// Sign in at `http`: (cookie, CSRF token).
async fn login(http: SocketAddr, user: &str) -> (String, String) {
    let r = request(
        http,
        "POST",
        "/api/login",
        &[("content-type", "application/json")],
        json!({ "username": user, "password": "a-password" })
            .to_string()
            .into_bytes(),
    )
    .await;
    assert_eq!(r.status, 200, "{user} signs in: {}", r.text());
    let cookie = r.headers["set-cookie"].to_str().unwrap();
    let cookie = cookie.split(';').next().unwrap().to_string();
    (cookie, r.json()["csrf"].as_str().unwrap().to_string())
}

async fn post_as(http: SocketAddr, who: &(String, String), path: &str, body: Value) -> Resp {
    request(
        http,
        "POST",
        path,
        &[
            ("cookie", &who.0),
            ("x-csrf-token", &who.1),
            ("content-type", "application/json"),
        ],
        body.to_string().into_bytes(),
    )
    .await
}

/// A self-signed certificate for 127.0.0.1 and a TLS proxy in front of `hub`
/// (tests/tls_proxy.py): (the hub's https URL, the CA file, the proxy).
async fn tls_front(hub: SocketAddr, certs: &TempDir) -> (String, String, tokio::process::Child) {
    let (cert, key) = (certs.0.join("hub.pem"), certs.0.join("hub.key"));
    let out = tokio::process::Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
        ])
        .args(["-subj", "/CN=cunlink hub"])
        .args(["-addext", "subjectAltName=IP:127.0.0.1"])
        .args(["-addext", "basicConstraints=critical,CA:FALSE"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .await
        .unwrap_or_else(|e| panic!("openssl: {e} (apt-get install openssl)"));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/tls_proxy.py");
    let mut proxy = tokio::process::Command::new("python3")
        .arg(script)
        .arg(&cert)
        .arg(&key)
        .arg(hub.to_string())
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("python3: {e} (apt-get install python3)"));
    use tokio::io::AsyncBufReadExt;
    let mut lines = tokio::io::BufReader::new(proxy.stdout.take().unwrap()).lines();
    let port = lines.next_line().await.unwrap().expect("the proxy's port");
    (
        format!("https://127.0.0.1:{port}"),
        cert.to_str().unwrap().to_string(),
        proxy,
    )
}

/// Deterministic bytes that do not compress (a recording stands in).
fn noise(len: usize) -> Vec<u8> {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

#[tokio::test]
async fn a_subscribed_channel_is_pulled_over_https_and_a_statement_goes_up() {
    let hub = spawn_app().await;
    let village = "松溪村";
    let teacher = hub.user("laoshi-sx", Role::Teacher, Some(village)).await;
    hub.user("xuesheng-sx", Role::Villager, Some(village)).await;
    let staff = hub.user("county-zhao", Role::CountyStaff, None).await;
    let stranger = hub.user("laoshi-bie", Role::Teacher, Some("别村")).await;

    // The county's library: a channel for the village, and one it does not get.
    let mut channels = Vec::new();
    let clock = b"<!doctype html><title>clock</title><p>\xe8\xae\xa4\xe8\xaf\x86\xe9\x92\x9f\xe8\xa1\xa8</p>".to_vec();
    // Over one chunk (1 MiB): the pull fetches it by ranges.
    let video = noise(1_500_000);
    for name in ["松溪小学 · 三年级", "未订阅的频道"] {
        let (s, v) = hub
            .post_json("/api/school/channels", &teacher, json!({ "name": name }))
            .await;
        assert_eq!(s, 201, "{v}");
        let id = v["id"].as_i64().unwrap();
        for (file, data) in [("clock.html", &clock), ("read.mp4", &video)] {
            let r = upload(hub.http, &teacher, id, &format!("name={file}"), data).await;
            assert_eq!(r.status, 201, "{}", r.text());
        }
        let (s, v) = hub
            .post_json(
                &format!("/api/school/channels/{id}/publish"),
                &teacher,
                json!({}),
            )
            .await;
        assert_eq!(s, 200, "{v}");
        channels.push(id);
    }
    let ch = channels[0];

    // Subscriptions are set on the hub: county staff name the village; a
    // teacher of another village may not; unknown channels are refused.
    let sub = |v: Value| hub.post_json("/api/school/subscriptions", &staff, v);
    let (s, v) = hub
        .post_json(
            "/api/school/subscriptions",
            &stranger,
            json!({ "village": village, "channel_id": ch }),
        )
        .await;
    assert_eq!(s, 403, "{v}");
    let (s, v) = sub(json!({ "channel_id": ch })).await;
    assert_eq!((s, v["field"].as_str()), (400, Some("village")), "{v}");
    let (s, v) = sub(json!({ "village": village, "channel_id": 999_999 })).await;
    assert_eq!(
        (s, v["error"].as_str()),
        (404, Some("unknown_channel")),
        "{v}"
    );
    let (s, v) = sub(json!({ "village": village, "channel_id": ch })).await;
    assert_eq!(s, 201, "{v}");
    let (s, again) = sub(json!({ "village": village, "channel_id": ch })).await;
    assert_eq!(
        (s, &again["id"]),
        (200, &v["id"]),
        "subscribing twice: {again}"
    );

    // A course of the village's school with a lesson and an enrolled learner.
    let (s, v) = hub
        .post_json(
            "/api/school/courses",
            &teacher,
            json!({ "title": "三年级数学", "audience": "students" }),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    let course = v["id"].as_i64().unwrap();
    let (s, v) = hub
        .post_json(
            &format!("/api/school/courses/{course}/items"),
            &teacher,
            json!({ "kind": "lesson", "title": "认识钟表", "body": "看钟表课件" }),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    let item = v["id"].as_i64().unwrap();
    let (s, v) = hub
        .post_json(
            &format!("/api/school/courses/{course}/enrolments"),
            &teacher,
            json!({ "username": "xuesheng-sx" }),
        )
        .await;
    assert!(s < 300, "{s} {v}");

    // The node joins over https, trusting the county's CA.
    let certs = TempDir::new("school-node-tls");
    let (hub_url, ca, proxy) = tls_front(hub.http, &certs).await;
    let dir = TempDir::new("school-node");
    let out = join_cmd_with(
        &[],
        &[("CUNLINK_HUB_CA", &ca)],
        &dir.0,
        &hub_url,
        &staff,
        village,
    )
    .await;
    assert!(
        out.status.success(),
        "join: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let node = NodeProc::start(&dir.0, &[("CUNLINK_HUB_CA", &ca)], "laoshi-sx").await;

    // The subscribed channel comes down and is pulled, through the proxy.
    let until = Instant::now() + Duration::from_secs(90);
    let local = loop {
        let v = node.get("/api/school/channels").await.json();
        let found = v["channels"].as_array().and_then(|a| {
            a.iter()
                .find(|c| c["name"] == "松溪小学 · 三年级")
                .and_then(|c| c["id"].as_i64())
        });
        if let Some(id) = found {
            break id;
        }
        assert!(
            Instant::now() < until,
            "the node never pulled the channel: {v}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let v = node
        .get(&format!("/api/school/channels/{local}"))
        .await
        .json();
    assert_eq!(v["files"].as_array().map(Vec::len), Some(2), "{v}");
    let subs = node.get("/api/school/subscriptions").await;
    assert_eq!(subs.status, 200, "{}", subs.text());
    let subs = subs.json();
    assert_eq!(
        subs["subscriptions"].as_array().map(Vec::len),
        Some(1),
        "{subs}"
    );
    assert_eq!(subs["subscriptions"][0]["channel_id"], ch, "{subs}");
    assert_eq!(
        subs["subscriptions"][0]["local_channel_id"], local,
        "{subs}"
    );
    let listed = node.get("/api/school/channels").await.json();
    assert!(
        !listed.to_string().contains("未订阅的频道"),
        "a channel the village does not subscribe to is not pulled: {listed}"
    );

    // Its lessons play at the node: the page's file, and the recording by Range.
    let r = node
        .get(&format!(
            "/api/school/content/{}?name=clock.html",
            sha_hex(&clock)
        ))
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body, clock);
    let r = request(
        node.http,
        "GET",
        &format!("/api/school/content/{}?name=read.mp4", sha_hex(&video)),
        &[("cookie", &node.cookie), ("range", "bytes=1048570-1048579")],
        Vec::new(),
    )
    .await;
    assert_eq!(r.status, 206);
    assert_eq!(r.body, video[1_048_570..1_048_580]);

    // The hub's records are read-only at the node.
    let teacher_at_node = (node.cookie.clone(), node.csrf.clone());
    for (path, body) in [
        (
            "/api/school/subscriptions".to_string(),
            json!({ "channel_id": ch, "subscribed": false }),
        ),
        (
            format!("/api/school/courses/{course}/items"),
            json!({ "kind": "lesson", "title": "村里加的课" }),
        ),
        (
            "/api/school/classes".to_string(),
            json!({ "name": "村里自建班", "school": "松溪小学" }),
        ),
    ] {
        let r = post_as(node.http, &teacher_at_node, &path, body).await;
        assert_eq!(
            (r.status, r.json()["error"].as_str()),
            (409, Some("hub_only")),
            "{path}: {}",
            r.text()
        );
    }

    // A course made at the node (offline or not) is the node's: an id in its
    // range, the same on the hub, changed only at the node.
    let r = post_as(
        node.http,
        &teacher_at_node,
        "/api/school/courses",
        json!({ "title": "村里的采茶课", "audience": "villagers" }),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text());
    let own = r.json()["id"].as_i64().unwrap();
    assert!(own >= ID_SPAN, "a node's course id is in its range: {own}");
    let r = post_as(
        node.http,
        &teacher_at_node,
        &format!("/api/school/courses/{own}/items"),
        json!({ "kind": "lesson", "title": "怎样采一芽一叶", "body": "看老师示范" }),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text());
    let own_item = r.json()["id"].as_i64().unwrap();
    let r = post_as(
        node.http,
        &teacher_at_node,
        &format!("/api/school/courses/{own}/enrolments"),
        json!({ "username": "xuesheng-sx" }),
    )
    .await;
    assert!(r.status < 300, "{}", r.text());

    // The learner completes the lesson at the node, in the course the hub made.
    let learner = login(node.http, "xuesheng-sx").await;
    let r = post_as(
        node.http,
        &learner,
        &format!("/api/school/courses/{course}/completions"),
        json!({ "item_id": item }),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let uuid = r.json()["uuid"].as_str().unwrap().to_string();
    let r = post_as(
        node.http,
        &learner,
        &format!("/api/school/courses/{own}/completions"),
        json!({ "item_id": own_item }),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    hub_until(
        &hub,
        &format!("/api/school/courses/{course}/progress"),
        Duration::from_secs(30),
        "the node's statement in the course's progress",
        |v| v["learners"][0]["items_done"] == 1,
    )
    .await;
    let v = hub_until(
        &hub,
        &format!("/api/school/courses/{own}/progress"),
        Duration::from_secs(30),
        "the node's course and its statement on the hub",
        |v| v["learners"][0]["items_done"] == 1,
    )
    .await;
    assert_eq!(v["course_id"], own, "{v}");
    let (s, v) = hub
        .post_json(
            &format!("/api/school/courses/{own}/items"),
            &teacher,
            json!({ "kind": "lesson", "title": "县里加的课" }),
        )
        .await;
    assert_eq!((s, v["error"].as_str()), (409, Some("node_owned")), "{v}");
    let u = uuid.clone();
    let stored: Vec<(String, String, Option<i64>, Option<i64>)> = hub
        .server
        .as_ref()
        .unwrap()
        .market
        .db
        .call(move |c| {
            let mut st = c.prepare(
                "SELECT uuid, node, course_id, item_id FROM school_statements WHERE uuid = $1",
            )?;
            let rows = st
                .query_map([u], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
                .collect::<Result<Vec<_>, _>>()?;
            Ok::<_, cunlink_core::DbError>(rows)
        })
        .await
        .unwrap();
    assert_eq!(
        stored,
        vec![(uuid, village.to_string(), Some(course), Some(item))],
        "once, under the same id, naming the hub's course and the node's village"
    );

    // The hub's channel routes take a live node credential only: once the node
    // is revoked, its credential reads nothing.
    let db = dir.0.join("cunlink.db");
    let (node_id, credential): (String, String) = tokio::task::spawn_blocking(move || {
        let c = cunlink_core::sql::Connection::open(&db).unwrap();
        c.query_row("SELECT node_id, credential FROM core_node_self", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap()
    })
    .await
    .unwrap();
    let path = format!("/api/school/content/{}", sha_hex(&clock));
    let read = |cred: String| {
        let path = path.clone();
        async move {
            let auth = format!("Bearer {cred}");
            request(
                hub.http,
                "GET",
                &path,
                &[("authorization", &auth)],
                Vec::new(),
            )
            .await
            .status
        }
    };
    assert_eq!(read(credential.clone()).await, 200);
    let (s, v) = hub
        .post_json(&format!("/api/nodes/{node_id}/revoke"), &staff, json!({}))
        .await;
    assert!(s < 300, "{s} {v}");
    assert_eq!(read(credential).await, 401);
    drop(proxy);
}
