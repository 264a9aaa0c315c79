//! Village affairs and display boards between a hub (this test's app, on
//! PostgreSQL when CUNLINK_TEST_DATABASE_URL is set) and a village node (the
//! real binary, joined with `cunlink node join`): a notice with a photo posted
//! on the hub is read (and its photo downloaded) at the node, feedback reported
//! at the node appears on the hub under the same id and is the node's to
//! handle, a board made on the hub shows at the node. Every wait polls an
//! observable state with a deadline. A read at the node reaches the hub's
//! read receipts; a file whose bytes do not match its name lands in the node's
//! dead letters while the others flow.

use std::time::{Duration, Instant};

use cunlink_core::auth::Role;
use serde_json::json;

use crate::common::{Resp, TempDir, request, spawn_app};
use crate::node_sync::{ID_SPAN, NodeProc, hub_until, join};

const PNG: &[u8] = b"\x89PNG\r\n\x1a\nthe village square, flooded";
const FEEDBACK_PNG: &[u8] = b"\x89PNG\r\n\x1a\na leaking pipe behind the hall";

/// Poll GET `path` at the node until it answers 200.
async fn node_until(node: &NodeProc, path: &str, what: &str) -> Resp {
    let until = Instant::now() + Duration::from_secs(30);
    loop {
        let r = node.get(path).await;
        if r.status == 200 {
            return r;
        }
        assert!(
            Instant::now() < until,
            "the node never showed {what}: {} {}",
            r.status,
            r.text()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn notices_and_boards_come_down_and_feedback_goes_up() {
    let hub = spawn_app().await;
    let village = "溪口村";
    let official = hub
        .user("cunguan", Role::VillageOfficial, Some(village))
        .await;
    hub.user("wang", Role::Villager, Some(village)).await;
    let staff = hub.user("county-zhao", Role::CountyStaff, None).await;
    hub.device(json!({ "name": "溪口-气象1", "type": "air-probe", "asset": "溪口茶园", "village": village }))
        .await;

    // On the hub: a notice with a photo, and a board of the village's asset.
    let (s, n) = hub
        .post_json(
            "/api/affairs/notices",
            &official,
            json!({"title": "河边涨水", "body": "请勿靠近河边", "category": "urgent"}),
        )
        .await;
    assert_eq!(s, 201, "{n}");
    let notice = n["id"].as_i64().unwrap();
    let r = request(
        hub.http,
        "POST",
        &format!("/api/affairs/notices/{notice}/photos"),
        &[
            ("authorization", &format!("Bearer {official}")),
            ("content-type", "image/png"),
        ],
        PNG.to_vec(),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text());
    let photo_url = r.json()["url"].as_str().unwrap().to_string();
    // A second photo whose stored bytes no longer match its name (a damaged
    // disk on the hub): the node refuses it into its dead letters, the rest flows.
    let r = request(
        hub.http,
        "POST",
        &format!("/api/affairs/notices/{notice}/photos"),
        &[
            ("authorization", &format!("Bearer {official}")),
            ("content-type", "image/png"),
        ],
        [PNG, b" (2)"].concat(),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text());
    let damaged = r.json()["hash"].as_str().unwrap().to_string();
    let c = hub.db_conn();
    let n = c
        .execute(
            "UPDATE affairs_files SET bytes = $1 WHERE hash = $2",
            cunlink_core::sql::params![b"\x89PNG\r\n\x1a\nrot".to_vec(), damaged],
        )
        .unwrap();
    assert_eq!(n, 1);
    drop(c);
    let board = hub
        .server
        .as_ref()
        .unwrap()
        .boards
        .create(cunlink_board::NewBoard {
            name: "溪口看板".into(),
            assets: vec!["溪口茶园".into()],
            keys: vec![],
            rotate_secs: 10,
            line_width: 32,
            line_count: 8,
        })
        .await
        .unwrap();

    let dir = TempDir::new("node-affairs");
    join(&dir.0, &format!("http://{}", hub.http), &staff, village).await;
    let node = NodeProc::start(&dir.0, &[("CUNLINK_NODE_DOWN_EVERY_S", "1")], "cunguan").await;

    // The notice and its photo at the node.
    let got = node_until(
        &node,
        &format!("/api/affairs/notices/{notice}"),
        "the notice",
    )
    .await;
    assert_eq!(got.json()["title"], "河边涨水");
    let file = node_until(&node, &photo_url, "the notice's photo").await;
    assert_eq!(file.body, PNG, "the same bytes");
    let letters = node_until(&node, "/api/node/dead-letters", "its dead letters").await;
    let until = Instant::now() + Duration::from_secs(30);
    let mut letters = letters.json();
    while !letters["dead_letters"]
        .as_array()
        .unwrap()
        .iter()
        .any(|d| d["kind"] == "notice_files" && d["key"] == damaged.as_str())
    {
        assert!(
            Instant::now() < until,
            "the damaged file never reached the dead letters: {letters}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
        letters = node.get("/api/node/dead-letters").await.json();
    }
    assert!(letters.to_string().contains("do not match"), "{letters}");
    let r = node.get(&format!("/api/affairs/files/{damaged}")).await;
    assert_eq!(
        r.status,
        404,
        "the damaged file is not stored: {}",
        r.text()
    );
    // Read at the node: the receipt reaches the hub.
    let r = node
        .post(&format!("/api/affairs/notices/{notice}/read"), json!({}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let receipts = hub_until(
        &hub,
        &format!("/api/affairs/notices/{notice}/receipts"),
        Duration::from_secs(30),
        "the node's read",
        |v| v["read_count"] == 1,
    )
    .await;
    assert_eq!(receipts["read"][0]["user"], "cunguan", "{receipts}");
    // The node's copy is read-only.
    let r = node
        .post(
            "/api/affairs/notices",
            json!({"title": "x", "body": "y", "category": "notice"}),
        )
        .await;
    assert_eq!(
        (r.status, r.json()["error"].as_str()),
        (409, Some("hub_only")),
        "{}",
        r.text()
    );

    // The notices page at the node offers no posting form, and says why.
    let page = node.get("/affairs").await;
    assert_eq!(page.status, 200, "{}", page.text());
    let html = page.text();
    assert!(html.contains("河边涨水"), "the page lists the notice");
    assert!(
        !html.contains("action=\"/affairs\""),
        "no posting form at the node"
    );
    assert!(
        html.contains("县平台发布") || html.contains("county platform"),
        "{html}"
    );

    // The board shows at the node (its text feed needs no sign-in).
    let feed = format!("/board/{}.txt?page=0", board.slug);
    let until = Instant::now() + Duration::from_secs(30);
    loop {
        let r = request(node.http, "GET", &feed, &[], Vec::new()).await;
        if r.status == 200 {
            assert!(
                r.text().contains("河边涨水"),
                "the board shows the notice: {}",
                r.text()
            );
            break;
        }
        assert!(
            Instant::now() < until,
            "the node never showed the board: {}",
            r.status
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Feedback reported at the node: the same id on the hub, handled at the node.
    let r = node
        .post(
            "/api/affairs/feedback",
            json!({"category": "water", "text": "水管漏水", "place": "祠堂后"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    let id = r.json()["id"].as_i64().unwrap();
    assert!(id >= ID_SPAN, "a node's feedback id is in its range: {id}");
    let r = node
        .post(&format!("/api/affairs/feedback/{id}/ack"), json!({}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let r = request(
        node.http,
        "POST",
        &format!("/api/affairs/feedback/{id}/photo"),
        &[
            ("cookie", &node.cookie),
            ("x-csrf-token", &node.csrf),
            ("content-type", "image/png"),
        ],
        FEEDBACK_PNG.to_vec(),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text());
    let feedback_photo = r.json()["url"].as_str().unwrap().to_string();
    let path = format!("/api/affairs/feedback/{id}");
    let at_hub = hub_until(
        &hub,
        &path,
        Duration::from_secs(30),
        "the node's feedback",
        |v| v["status"] == "acknowledged",
    )
    .await;
    assert_eq!(
        (at_hub["id"].as_i64(), at_hub["text"].as_str()),
        (Some(id), Some("水管漏水"))
    );
    let (s, e) = hub
        .post_json(
            &format!("{path}/resolve"),
            &official,
            json!({"reply": "修好了"}),
        )
        .await;
    assert_eq!(
        (s, e["error"].as_str()),
        (409, Some("node_feedback")),
        "{e}"
    );
    assert!(e["message"].as_str().unwrap_or("").contains("node"), "{e}");
    // The report's photo follows its record to the hub.
    let until = Instant::now() + Duration::from_secs(30);
    loop {
        let r = hub.get(&feedback_photo, &hub.admin_token.clone()).await;
        if r.status == 200 {
            assert_eq!(r.body, FEEDBACK_PNG);
            break;
        }
        assert!(
            Instant::now() < until,
            "the photo never reached the hub: {}",
            r.status
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
