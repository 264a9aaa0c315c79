//! The board's plain-text feed for LED controllers: what it says, not only how
//! many lines it has.

use serde_json::json;

use crate::common::{request, spawn_app};

/// Display columns as the board counts them (CJK two, others one).
fn columns(s: &str) -> usize {
    s.chars().map(cunlink_board::text::char_width).sum()
}

#[tokio::test]
async fn the_text_feed_shows_the_latest_readings_in_fixed_width_lines() {
    let app = spawn_app().await;
    let token = app
        .device(json!({ "name": "棚内探头", "type": "air-probe", "asset": "一号大棚", "asset_kind": "greenhouse", "village": "茶香村" }))
        .await;
    let r = app
        .telemetry(
            &token,
            json!({ "temperature": 24.9, "humidity": 66 }).to_string(),
        )
        .await;
    assert_eq!(r.status, 200);
    let board = app
        .server
        .as_ref()
        .unwrap()
        .boards
        .create(cunlink_board::NewBoard {
            name: "大棚看板".into(),
            assets: vec!["一号大棚".into()],
            keys: vec![],
            rotate_secs: 10,
            line_width: 24,
            line_count: 4,
        })
        .await
        .unwrap();
    let r = request(
        app.http,
        "GET",
        &format!("/board/{}.txt?page=0", board.slug),
        &[],
        vec![],
    )
    .await;
    assert_eq!(r.status, 200);
    let txt = r.text();
    let lines: Vec<&str> = txt.lines().collect();
    assert_eq!(lines.len(), 3, "the name and two values:\n{txt}");
    assert_eq!(lines[0], "大棚看板", "line 1 is the board's name:\n{txt}");
    for l in &lines[1..] {
        assert_eq!(columns(l), 24, "value lines fill the panel's width: '{l}'");
        assert!(l.starts_with("一号大棚 "), "the asset comes first: '{l}'");
    }
    assert!(
        lines[1..]
            .iter()
            .any(|l| l.contains("温度") && l.ends_with("24.9°C")),
        "the temperature, value right-aligned:\n{txt}"
    );
    assert!(
        lines[1..]
            .iter()
            .any(|l| l.contains("空气湿度") && l.ends_with("66%")),
        "the humidity:\n{txt}"
    );
}
