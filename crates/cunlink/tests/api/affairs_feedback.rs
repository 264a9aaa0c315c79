//! Residents' feedback through the real server: anonymous reports stay
//! anonymous to officials, another village's official gets 404, and anything
//! unacknowledged for 2 days or unresolved for 15 escalates to the township
//! once. Time is the domain's clock, moved forward on the running server
//! (`Server::affairs.clock`), and the escalation pass is the one the
//! background task runs; nothing sleeps.

use cunlink_core::auth::Role;
use cunlink_core::time::DAY_MS;
use serde_json::json;

use crate::affairs_notices::get_json;
use crate::common::spawn_app;

#[tokio::test]
async fn feedback_is_handled_and_escalates_to_the_township_on_time() {
    let app = spawn_app().await;
    let off = app
        .user("zhuren", Role::VillageOfficial, Some("东山村"))
        .await;
    let li = app.user("li", Role::Villager, Some("东山村")).await;
    let xiang = app.user("xiang", Role::CountyStaff, None).await;
    let xi_off = app
        .user("xi-zhuren", Role::VillageOfficial, Some("西山村"))
        .await;
    let affairs = app.server.as_ref().unwrap().affairs.clone();

    let (s, f) = app
        .post_json(
            "/api/affairs/feedback",
            &li,
            json!({"category": "road", "text": "村口路灯坏了", "place": "村口", "anonymous": true}),
        )
        .await;
    assert_eq!(s, 201, "{f}");
    assert_eq!(f["status"], "received");
    let id = f["id"].as_i64().unwrap();
    let path = format!("/api/affairs/feedback/{id}");

    // Anonymous to the official; the reporter sees their own name.
    assert_eq!(get_json(&app, &path, &off).await.1["reporter"], json!(null));
    assert_eq!(get_json(&app, &path, &li).await.1["reporter"], "li");
    // Another village's official learns nothing.
    assert_eq!(get_json(&app, &path, &xi_off).await.0, 404);
    assert_eq!(
        app.post_json(&format!("{path}/ack"), &xi_off, json!({}))
            .await
            .0,
        404
    );

    let feed_len = |t: String| {
        let app = &app;
        async move {
            get_json(app, "/api/me/notifications/feed", &t)
                .await
                .1
                .as_array()
                .unwrap()
                .len()
        }
    };
    // Just under two days: nothing yet.
    affairs.clock.advance(2 * DAY_MS - 60_000);
    affairs.escalate_now().await.unwrap();
    assert_eq!(
        get_json(&app, &path, &off).await.1["escalated"],
        json!(null)
    );
    assert_eq!(feed_len(xiang.clone()).await, 0);
    // Past two days unacknowledged: to the township, once.
    affairs.clock.advance(120_000);
    // Two passes at once, as two nodes run them: one claims the escalation.
    let (a, b) = tokio::join!(affairs.escalate_now(), affairs.escalate_now());
    assert_eq!(a.unwrap() + b.unwrap(), 1);
    affairs.escalate_now().await.unwrap();
    assert_eq!(
        get_json(&app, &path, &off).await.1["escalated"],
        "unacknowledged"
    );
    let (_, feed) = get_json(&app, "/api/me/notifications/feed", &xiang).await;
    assert_eq!(feed.as_array().unwrap().len(), 1, "{feed}");
    assert!(
        feed[0]["title"].as_str().unwrap().contains("2天未受理"),
        "{feed}"
    );
    assert_eq!(feed[0]["source"], "affairs");

    // Acknowledged and assigned, but not resolved in 15 days: escalated again.
    let (s, v) = app.post_json(&format!("{path}/ack"), &off, json!({})).await;
    assert_eq!((s, v["status"].as_str()), (200, Some("acknowledged")));
    let (s, v) = app
        .post_json(&format!("{path}/assign"), &off, json!({"user": "zhuren"}))
        .await;
    assert_eq!((s, v["assignee"].as_str()), (200, Some("zhuren")));
    let (s, e) = app
        .post_json(&format!("{path}/assign"), &off, json!({"user": "li"}))
        .await;
    assert_eq!((s, e["field"].as_str()), (400, Some("user")));
    affairs.clock.advance(13 * DAY_MS);
    affairs.escalate_now().await.unwrap();
    assert_eq!(
        get_json(&app, &path, &off).await.1["escalated"],
        "unresolved"
    );
    assert_eq!(feed_len(xiang.clone()).await, 2);

    // Resolved with a reply the reporter is told about, then rated once.
    assert_eq!(
        app.post_json(&format!("{path}/rate"), &li, json!({"rating": 5}))
            .await
            .0,
        409,
        "not before it is resolved"
    );
    let (s, v) = app
        .post_json(
            &format!("{path}/resolve"),
            &off,
            json!({"reply": "已经换了新灯"}),
        )
        .await;
    assert_eq!((s, v["status"].as_str()), (200, Some("resolved")));
    let (_, feed) = get_json(&app, "/api/me/notifications/feed", &li).await;
    assert!(feed[0]["body"].as_str().unwrap().contains("新灯"), "{feed}");
    assert_eq!(
        app.post_json(&format!("{path}/rate"), &off, json!({"rating": 5}))
            .await
            .0,
        403
    );
    let (s, e) = app
        .post_json(&format!("{path}/rate"), &li, json!({"rating": 6}))
        .await;
    assert_eq!((s, e["field"].as_str()), (400, Some("rating")));
    assert_eq!(
        app.post_json(&format!("{path}/rate"), &li, json!({"rating": 5}))
            .await
            .0,
        200
    );
    assert_eq!(
        app.post_json(&format!("{path}/rate"), &li, json!({"rating": 4}))
            .await
            .0,
        409
    );

    // The month's statistics (the month it was reported in, China time).
    let ms = cunlink_core::time::now_ms();
    let (y, m, _) = cunlink_core::time::civil_from_days(cunlink_core::time::china_day(ms));
    let (s, st) = get_json(
        &app,
        &format!("/api/affairs/feedback/stats?month={y:04}-{m:02}"),
        &off,
    )
    .await;
    assert_eq!(s, 200, "{st}");
    assert_eq!(
        st["categories"],
        json!([{"category": "road", "received": 1, "resolved": 1}])
    );
}

#[tokio::test]
async fn bad_feedback_is_refused_by_name() {
    let app = spawn_app().await;
    let li = app.user("li", Role::Villager, Some("东山村")).await;
    for (body, field) in [
        (json!({"category": "ufo", "text": "x"}), "category"),
        (json!({"category": "road", "text": ""}), "text"),
        (
            json!({"category": "road", "text": "x".repeat(2001)}),
            "text",
        ),
        (
            json!({"category": "road", "text": "x", "anonymous": 1}),
            "anonymous",
        ),
    ] {
        let (s, e) = app
            .post_json("/api/affairs/feedback", &li, body.clone())
            .await;
        assert_eq!((s, e["field"].as_str()), (400, Some(field)), "{body}: {e}");
    }
    // The county oversees; it does not report as a resident.
    let admin = app.admin_token.clone();
    assert_eq!(
        app.post_json(
            "/api/affairs/feedback",
            &admin,
            json!({"category": "road", "text": "x"})
        )
        .await
        .0,
        403
    );
    assert_eq!(
        get_json(&app, "/api/affairs/feedback", &li).await.1,
        json!([])
    );
}
