//! The live class's join API (`POST /api/school/classes/{id}/live`): real SDP
//! offers (made with str0m, as a browser's would be) are answered for the
//! class's teacher and its paired classrooms' accounts; a teacher of another
//! school is refused (403) and changes nothing; an unknown class is 404; a
//! bad offer 400 naming `sdp`; a fourth classroom 409. The SFU's figures show
//! on `/metrics`.

use std::time::Instant;

use cunlink_core::auth::Role;
use serde_json::{Value, json};
use str0m::Rtc;
use str0m::media::{Direction, MediaKind};

use crate::common::{TestApp, request, spawn_app};

/// An offer like sfu.js's: the teacher sends video and voice and receives 3
/// voices; a classroom receives video and talks both ways.
fn offer(teacher: bool) -> String {
    let mut rtc = Rtc::builder().build(Instant::now());
    let mut api = rtc.sdp_api();
    if teacher {
        api.add_media(
            MediaKind::Video,
            Direction::SendOnly,
            Some("cam".into()),
            None,
            None,
        );
        api.add_media(
            MediaKind::Audio,
            Direction::SendOnly,
            Some("cam".into()),
            None,
            None,
        );
        for _ in 0..3 {
            api.add_media(MediaKind::Audio, Direction::RecvOnly, None, None, None);
        }
    } else {
        api.add_media(MediaKind::Video, Direction::RecvOnly, None, None, None);
        api.add_media(
            MediaKind::Audio,
            Direction::SendRecv,
            Some("room".into()),
            None,
            None,
        );
    }
    let (offer, _pending) = api.apply().expect("an offer");
    offer.to_sdp_string()
}

async fn metrics(app: &TestApp) -> String {
    request(app.http, "GET", "/metrics", &[], Vec::new())
        .await
        .text()
}

async fn post(app: &TestApp, token: &str, path: &str, body: Value) -> (u16, Value) {
    app.post_json(path, token, body).await
}

struct Class {
    city: i64,
    rural: Vec<i64>,
    teacher: String,
    rooms: Vec<String>,
}

/// 县城第一小学's class paired with three village classes, each with its own
/// teacher account (the classroom's projector page signs in with it).
async fn paired(app: &TestApp) -> Class {
    let teacher = app.user("city-teacher", Role::Teacher, Some("县城")).await;
    let (st, v) = post(
        app,
        &teacher,
        "/api/school/classes",
        json!({"name": "三年级(1)班", "school": "县城第一小学"}),
    )
    .await;
    assert_eq!(st, 201, "{v}");
    let city = v["id"].as_i64().unwrap();
    let mut rural = Vec::new();
    let mut rooms = Vec::new();
    for (i, school) in ["茶香村小学", "竹林村小学", "石桥村小学"]
        .into_iter()
        .enumerate()
    {
        let t = app
            .user(&format!("rural-{i}"), Role::Teacher, Some("茶香村"))
            .await;
        let (st, v) = post(
            app,
            &t,
            "/api/school/classes",
            json!({"name": "三年级", "school": school}),
        )
        .await;
        assert_eq!(st, 201, "{v}");
        rural.push(v["id"].as_i64().unwrap());
        rooms.push(t);
    }
    let (st, v) = post(
        app,
        &teacher,
        "/api/school/pairings",
        json!({"name": "结对", "city_class_id": city, "rural_class_ids": rural}),
    )
    .await;
    assert_eq!(st, 201, "{v}");
    Class {
        city,
        rural,
        teacher,
        rooms,
    }
}

fn live(class: i64) -> String {
    format!("/api/school/classes/{class}/live")
}

#[tokio::test]
async fn teacher_and_classrooms_join_others_do_not() {
    let app = spawn_app().await;
    let c = paired(&app).await;

    let (st, v) = post(&app, &c.teacher, &live(c.city), json!({"sdp": offer(true)})).await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["role"], "teacher");
    let answer = v["sdp"].as_str().unwrap();
    assert!(
        answer.contains("a=ice-lite"),
        "the SFU is ICE-lite: {answer}"
    );
    assert!(
        answer.contains("typ host"),
        "it names its UDP address: {answer}"
    );

    // Each classroom joins through its own class's id as well as the city class's.
    for (i, t) in c.rooms.iter().enumerate() {
        let (st, v) = post(&app, t, &live(c.rural[i]), json!({"sdp": offer(false)})).await;
        assert_eq!((st, v["role"].as_str()), (200, Some("classroom")), "{v}");
    }
    // A reload replaces the classroom's earlier session: still three.
    let (st, v) = post(
        &app,
        &c.rooms[0],
        &live(c.city),
        json!({"sdp": offer(false)}),
    )
    .await;
    assert_eq!(st, 200, "{v}");

    // A fourth account of a paired class would be a fourth classroom.
    let extra = app.user("rural-0-b", Role::Teacher, Some("茶香村")).await;
    let (st, v) = post(
        &app,
        &c.rooms[0],
        &format!("/api/school/classes/{}/members", c.rural[0]),
        json!({"username": "rural-0-b"}),
    )
    .await;
    assert_eq!(st, 200, "{v}");
    let (st, v) = post(&app, &extra, &live(c.city), json!({"sdp": offer(false)})).await;
    assert_eq!((st, v["error"].as_str()), (409, Some("live_full")), "{v}");

    let m = metrics(&app).await;
    assert!(m.contains("cunlink_school_live_sessions 4"), "{m}");
    assert!(m.contains("cunlink_school_live_rooms 1"), "{m}");
}

#[tokio::test]
async fn a_user_of_another_school_cannot_join() {
    let app = spawn_app().await;
    let c = paired(&app).await;
    let other = app
        .user("other-school", Role::Teacher, Some("竹溪村"))
        .await;
    let (st, v) = post(
        &app,
        &other,
        "/api/school/classes",
        json!({"name": "四年级", "school": "竹溪村小学"}),
    )
    .await;
    assert_eq!(st, 201);
    let own = v["id"].as_i64().unwrap();
    for class in [c.city, c.rural[1]] {
        let (st, v) = post(&app, &other, &live(class), json!({"sdp": offer(false)})).await;
        assert_eq!(st, 403, "{v}");
    }
    // Its own class is in no pairing: no live class.
    let (st, v) = post(&app, &other, &live(own), json!({"sdp": offer(true)})).await;
    assert_eq!(
        (st, v["error"].as_str()),
        (404, Some("unknown_class")),
        "{v}"
    );
    let (st, _) = post(&app, &other, &live(999_999), json!({"sdp": offer(true)})).await;
    assert_eq!(st, 404);
    // A villager (a parent) is not a classroom either.
    let parent = app.user("parent", Role::Villager, Some("茶香村")).await;
    let (st, _) = post(&app, &parent, &live(c.city), json!({"sdp": offer(false)})).await;
    assert_eq!(st, 403);
    // The page too.
    let cookie = app.session("other-school", "a-password").await;
    let r = request(
        app.http,
        "GET",
        &format!("/school/classes/{}/live", c.city),
        &[("cookie", &cookie)],
        Vec::new(),
    )
    .await;
    assert_eq!(r.status, 403);
    // Nothing joined.
    let m = metrics(&app).await;
    assert!(m.contains("cunlink_school_live_sessions 0"), "{m}");
}

#[tokio::test]
async fn a_bad_offer_is_refused_naming_sdp() {
    let app = spawn_app().await;
    let c = paired(&app).await;
    for body in [
        json!({}),
        json!({"sdp": ""}),
        json!({"sdp": "v=0\r\nnot an offer\r\n"}),
        json!({"sdp": "x".repeat(70_000)}),
    ] {
        let (st, v) = post(&app, &c.teacher, &live(c.city), body).await;
        assert_eq!((st, v["field"].as_str()), (400, Some("sdp")), "{v}");
    }
    let m = metrics(&app).await;
    assert!(m.contains("cunlink_school_live_sessions 0"), "{m}");
}

/// An offer like today's sfu.js: a second video (the screen) and a data channel.
fn offer_with_screen(teacher: bool) -> String {
    let mut rtc = Rtc::builder().build(Instant::now());
    let mut api = rtc.sdp_api();
    let dir = if teacher {
        Direction::SendOnly
    } else {
        Direction::RecvOnly
    };
    api.add_media(MediaKind::Video, dir, Some("cam".into()), None, None);
    api.add_media(MediaKind::Video, dir, Some("screen".into()), None, None);
    api.add_media(
        MediaKind::Audio,
        if teacher {
            Direction::SendOnly
        } else {
            Direction::SendRecv
        },
        Some("cam".into()),
        None,
        None,
    );
    if teacher {
        for _ in 0..3 {
            api.add_media(MediaKind::Audio, Direction::RecvOnly, None, None, None);
        }
    }
    api.add_channel("class".into());
    let (offer, _pending) = api.apply().expect("an offer");
    offer.to_sdp_string()
}

/// The screen-sharing offers (camera, screen, data channel) are answered with
/// both videos and the channel; a classroom may pin a layer (`layer`), and an
/// unknown layer is 400 naming `layer` and joins nobody.
#[tokio::test]
async fn screen_offers_and_layer_pins() {
    let app = spawn_app().await;
    let c = paired(&app).await;
    for body in [
        json!({"sdp": offer_with_screen(false), "layer": "ultra"}),
        json!({"sdp": offer_with_screen(false), "layer": 3}),
    ] {
        let (st, v) = post(&app, &c.rooms[0], &live(c.city), body).await;
        assert_eq!((st, v["field"].as_str()), (400, Some("layer")), "{v}");
    }
    let m = metrics(&app).await;
    assert!(m.contains("cunlink_school_live_sessions 0"), "{m}");

    let (st, v) = post(
        &app,
        &c.teacher,
        &live(c.city),
        json!({"sdp": offer_with_screen(true)}),
    )
    .await;
    assert_eq!(st, 200, "{v}");
    let answer = v["sdp"].as_str().unwrap_or_default();
    assert_eq!(answer.matches("m=video").count(), 2, "{answer}");
    assert!(answer.contains("m=application"), "{answer}");
    for (i, layer) in ["high", "auto"].into_iter().enumerate() {
        let (st, v) = post(
            &app,
            &c.rooms[i],
            &live(c.rural[i]),
            json!({"sdp": offer_with_screen(false), "layer": layer}),
        )
        .await;
        assert_eq!((st, v["role"].as_str()), (200, Some("classroom")), "{v}");
    }
    let m = metrics(&app).await;
    assert!(m.contains("cunlink_school_live_sessions 3"), "{m}");
}
