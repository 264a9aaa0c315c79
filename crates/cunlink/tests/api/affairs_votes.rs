//! Votes through the real server: one ballot per resident (409 on the
//! second), nothing that links a voter to a choice, results only after the
//! vote closes (the domain clock is moved past it), another village shut
//! out, and bad votes refused by name.

use cunlink_core::auth::Role;
use cunlink_core::time::HOUR_MS;
use serde_json::json;

use crate::affairs_notices::get_json;
use crate::common::spawn_app;

#[tokio::test]
async fn one_resident_one_secret_ballot_and_results_after_closing() {
    let app = spawn_app().await;
    let off = app
        .user("zhuren", Role::VillageOfficial, Some("东山村"))
        .await;
    let li = app.user("li", Role::Villager, Some("东山村")).await;
    let wang = app.user("wang", Role::Farmer, Some("东山村")).await;
    let zhang = app.user("zhang", Role::Teacher, Some("东山村")).await;
    let late = app.user("late", Role::Villager, Some("东山村")).await;
    let xi = app.user("xi", Role::Villager, Some("西山村")).await;
    let buyer = app.user("buyer", Role::Buyer, None).await;
    let affairs = app.server.as_ref().unwrap().affairs.clone();
    let closes = affairs.clock.now() + HOUR_MS;
    let (s, v) = app
        .post_json("/api/affairs/votes", &off, json!({"question": "村道硬化先修哪条？", "options": ["东线", "西线"], "closes_at": closes}))
        .await;
    assert_eq!(s, 201, "{v}");
    let id = v["id"].as_i64().unwrap();
    let ballot = format!("/api/affairs/votes/{id}/ballot");

    for (t, option) in [(&li, 0), (&wang, 1), (&zhang, 0), (&off, 0)] {
        let (s, r) = app.post_json(&ballot, t, json!({"option": option})).await;
        assert_eq!(s, 200, "{r}");
    }
    // One account, one ballot.
    let (s, e) = app.post_json(&ballot, &li, json!({"option": 1})).await;
    assert_eq!((s, e["error"].as_str()), (409, Some("already_voted")));
    let (s, e) = app.post_json(&ballot, &late, json!({"option": 2})).await;
    assert_eq!((s, e["field"].as_str()), (400, Some("option")));
    // Another village and buyers are shut out.
    assert_eq!(
        app.post_json(&ballot, &xi, json!({"option": 0})).await.0,
        404
    );
    assert_eq!(
        get_json(&app, &format!("/api/affairs/votes/{id}"), &xi)
            .await
            .0,
        404
    );
    assert_eq!(
        app.post_json(&ballot, &buyer, json!({"option": 0})).await.0,
        403
    );

    // Open: turnout only, no results, and nothing names a voter.
    let (_, v) = get_json(&app, &format!("/api/affairs/votes/{id}"), &off).await;
    assert_eq!(
        (
            v["closed"].as_bool(),
            v["voters"].as_i64(),
            v["results"].clone()
        ),
        (Some(false), Some(4), json!(null))
    );
    for name in ["li", "wang", "zhang"] {
        assert!(!v.to_string().contains(name), "{v}");
    }
    // The store keeps who voted apart from what was chosen: no table has both.
    let db = app.server.as_ref().unwrap().affairs.db.clone();
    let cols: Vec<(String, String)> = db
        .call(|c| {
            let mut st = c.prepare(if c.is_postgres() {
                "SELECT table_name::text, column_name::text FROM information_schema.columns
                  WHERE table_schema = current_schema() AND table_name LIKE 'affairs_vote%'"
            } else {
                "SELECT m.name, p.name FROM sqlite_master m, pragma_table_info(m.name) p WHERE m.type = 'table' AND m.name LIKE 'affairs_vote%'"
            })?;
            let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
            Ok::<_, cunlink_core::DbError>(rows.collect::<Result<Vec<_>, _>>()?)
        })
        .await
        .unwrap();
    for table in [
        "affairs_votes",
        "affairs_vote_voters",
        "affairs_vote_tallies",
    ] {
        let has = |c: &str| cols.iter().any(|(t, n)| t == table && n == c);
        assert!(
            !(has("user_id") && has("option")),
            "{table} links a voter to a choice"
        );
    }

    // Closed: a late ballot is refused, and the results are out.
    affairs.clock.advance(HOUR_MS + 1);
    let (s, e) = app.post_json(&ballot, &late, json!({"option": 0})).await;
    assert_eq!((s, e["error"].as_str()), (409, Some("vote_closed")));
    let (_, v) = get_json(&app, &format!("/api/affairs/votes/{id}"), &li).await;
    assert_eq!(v["closed"], true);
    assert_eq!(
        v["results"],
        json!([{"option": "东线", "votes": 3}, {"option": "西线", "votes": 1}])
    );
}

#[tokio::test]
async fn bad_votes_are_refused_by_name_and_nothing_is_stored() {
    let app = spawn_app().await;
    let off = app
        .user("zhuren", Role::VillageOfficial, Some("东山村"))
        .await;
    let li = app.user("li", Role::Villager, Some("东山村")).await;
    let now = cunlink_core::time::now_ms();
    for (body, field) in [
        (
            json!({"question": "q", "options": [], "closes_at": now + HOUR_MS}),
            "options",
        ),
        (
            json!({"question": "q", "options": ["只有一个"], "closes_at": now + HOUR_MS}),
            "options",
        ),
        (
            json!({"question": "q", "options": ["a", " "], "closes_at": now + HOUR_MS}),
            "options",
        ),
        (
            json!({"question": "q", "options": ["a", "a"], "closes_at": now + HOUR_MS}),
            "options",
        ),
        (
            json!({"question": "q", "options": "a,b", "closes_at": now + HOUR_MS}),
            "options",
        ),
        (
            json!({"question": "q", "options": ["a", "b"], "closes_at": now - 1}),
            "closes_at",
        ),
        (
            json!({"question": "q", "options": ["a", "b"], "closes_at": 9.9e18}),
            "closes_at",
        ),
        (json!({"question": "q", "options": ["a", "b"]}), "closes_at"),
        (
            json!({"options": ["a", "b"], "closes_at": now + HOUR_MS}),
            "question",
        ),
    ] {
        let (s, e) = app
            .post_json("/api/affairs/votes", &off, body.clone())
            .await;
        assert_eq!((s, e["field"].as_str()), (400, Some(field)), "{body}: {e}");
    }
    assert_eq!(
        app.post_json(
            "/api/affairs/votes",
            &li,
            json!({"question": "q", "options": ["a", "b"], "closes_at": now + HOUR_MS})
        )
        .await
        .0,
        403
    );
    assert_eq!(
        get_json(&app, "/api/affairs/votes", &off).await.1,
        json!([])
    );
}
