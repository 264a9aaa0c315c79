//! The open village accounts through the real server: two distinct
//! approvers, published months that cannot change (409), corrections that
//! show beside what they correct, checked totals, public answers to
//! residents' questions, and bad amounts refused by name.

use cunlink_core::auth::Role;
use serde_json::{Value, json};

use crate::affairs_notices::{get_json, post_raw};
use crate::common::spawn_app;

fn entry(date: &str, item: &str, kind: &str, fen: i64, cat: &str) -> Value {
    json!({"date": date, "item": item, "kind": kind, "amount_fen": fen, "category": cat})
}

#[tokio::test]
async fn two_approvers_publish_a_month_that_then_cannot_change() {
    let app = spawn_app().await;
    let off1 = app
        .user("zhang-shuji", Role::VillageOfficial, Some("东山村"))
        .await;
    let off2 = app
        .user("wang-kuaiji", Role::VillageOfficial, Some("东山村"))
        .await;
    let li = app.user("li", Role::Villager, Some("东山村")).await;
    let xi_off = app
        .user("xi-zhuren", Role::VillageOfficial, Some("西山村"))
        .await;
    let xi = app
        .user("xi-villager", Role::Villager, Some("西山村"))
        .await;

    let post = |t: &String, body: Value| {
        let (app, t) = (&app, t.clone());
        async move { app.post_json("/api/affairs/ledger", &t, body).await }
    };
    let (s, e1) = post(
        &off1,
        entry("2026-10-03", "鱼塘承包费", "income", 1_200_000, "租金"),
    )
    .await;
    assert_eq!(s, 201, "{e1}");
    let e1 = e1["id"].as_i64().unwrap();
    let (s, e2) = post(
        &off1,
        entry("2026-10-10", "村道修补", "spending", 350_000, "道路"),
    )
    .await;
    assert_eq!(s, 201, "{e2}");
    let e2 = e2["id"].as_i64().unwrap();
    let publish = "/api/affairs/ledger/months/2026-10/publish";

    // Not before every entry has two approvals.
    let (s, e) = app.post_json(publish, &off1, json!({})).await;
    assert_eq!(
        (s, e["error"].as_str(), e["field"].as_str()),
        (409, Some("unapproved_entries"), Some("month"))
    );
    let approve = |id: i64| format!("/api/affairs/ledger/{id}/approve");
    let (s, a) = app.post_json(&approve(e1), &off1, json!({})).await;
    assert_eq!(
        (s, a["approvals"].as_i64(), a["approved"].as_bool()),
        (200, Some(1), Some(false))
    );
    // The same official twice is not two approvers.
    let (s, e) = app.post_json(&approve(e1), &off1, json!({})).await;
    assert_eq!((s, e["error"].as_str()), (409, Some("already_approved")));
    let (s, e) = app.post_json(publish, &off1, json!({})).await;
    assert_eq!(s, 409, "{e}");
    let (_, a) = app.post_json(&approve(e1), &off2, json!({})).await;
    assert_eq!(a["approved"], true);
    // Residents and other villages' officials do not approve.
    assert_eq!(app.post_json(&approve(e2), &li, json!({})).await.0, 403);
    assert_eq!(app.post_json(&approve(e2), &xi_off, json!({})).await.0, 404);
    for t in [&off1, &off2] {
        assert_eq!(app.post_json(&approve(e2), t, json!({})).await.0, 200);
    }
    // Residents do not see a month before it is published.
    let (_, m) = get_json(&app, "/api/affairs/ledger?month=2026-10", &li).await;
    assert_eq!(
        (
            m["published"].as_bool(),
            m["entries"].as_array().map(Vec::len)
        ),
        (Some(false), Some(0))
    );
    let (s, p) = app.post_json(publish, &off2, json!({})).await;
    assert_eq!(s, 200, "{p}");

    let (s, m) = get_json(&app, "/api/affairs/ledger?month=2026-10", &li).await;
    assert_eq!(s, 200, "{m}");
    assert_eq!(m["published"], true);
    assert_eq!(m["entries"].as_array().unwrap().len(), 2);
    assert_eq!(m["totals"]["income_fen"], 1_200_000);
    assert_eq!(m["totals"]["spending_fen"], 350_000);
    assert_eq!(m["totals"]["balance_fen"], 850_000);
    let cats: Vec<(String, i64, i64)> = m["totals"]["by_category"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["category"].as_str().unwrap().into(),
                c["income_fen"].as_i64().unwrap(),
                c["spending_fen"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        cats,
        [
            ("租金".to_string(), 1_200_000, 0),
            ("道路".to_string(), 0, 350_000)
        ]
    );

    // A published month is fixed: nothing is added, approved or deleted.
    let (s, e) = post(&off1, entry("2026-10-20", "补记", "spending", 100, "其他")).await;
    assert_eq!(
        (s, e["error"].as_str(), e["field"].as_str()),
        (409, Some("month_published"), Some("date"))
    );
    let r = crate::common::request(
        app.http,
        "DELETE",
        &format!("/api/affairs/ledger/{e2}"),
        &[("authorization", &format!("Bearer {off1}"))],
        Vec::new(),
    )
    .await;
    assert_eq!(r.status, 409, "{}", r.text());
    assert_eq!(app.post_json(publish, &off1, json!({})).await.0, 409);

    // A correction is a new entry that names the old one; both show.
    let mut fix = entry("2026-11-02", "更正：村道修补多记", "income", 50_000, "道路");
    fix["corrects"] = json!(e2);
    let (s, e3) = post(&off1, fix).await;
    assert_eq!(s, 201, "{e3}");
    let e3 = e3["id"].as_i64().unwrap();
    let (_, oct) = get_json(&app, "/api/affairs/ledger?month=2026-10", &li).await;
    let old = oct["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["id"] == e2)
        .unwrap()
        .clone();
    assert_eq!(old["corrected_by"], json!([e3]));
    assert_eq!(
        old["amount_fen"], 350_000,
        "the published entry is unchanged"
    );
    let (_, nov) = get_json(&app, "/api/affairs/ledger?month=2026-11", &off1).await;
    assert_eq!(nov["entries"][0]["corrects"], e2);
    let mut bad_fix = entry("2026-11-03", "x", "income", 1, "x");
    bad_fix["corrects"] = json!(999_999);
    let (s, e) = post(&off1, bad_fix).await;
    assert_eq!((s, e["field"].as_str()), (400, Some("corrects")));

    // A resident asks; the answer is public.
    let (s, q) = app
        .post_json(
            &format!("/api/affairs/ledger/{e1}/questions"),
            &li,
            json!({"text": "承包费是一年的吗？"}),
        )
        .await;
    assert_eq!(s, 201, "{q}");
    let qid = q["id"].as_i64().unwrap();
    assert_eq!(
        app.post_json(
            &format!("/api/affairs/ledger/questions/{qid}/answer"),
            &li,
            json!({"answer": "x"})
        )
        .await
        .0,
        403
    );
    let (s, _) = app
        .post_json(
            &format!("/api/affairs/ledger/questions/{qid}/answer"),
            &off2,
            json!({"answer": "是2027年全年的。"}),
        )
        .await;
    assert_eq!(s, 200);
    let wang = app.user("wang", Role::Farmer, Some("东山村")).await;
    let (_, oct) = get_json(&app, "/api/affairs/ledger?month=2026-10", &wang).await;
    let asked = oct["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["id"] == e1)
        .unwrap();
    assert_eq!(asked["questions"][0]["answer"], "是2027年全年的。");

    // Another village sees none of it.
    let (_, theirs) = get_json(&app, "/api/affairs/ledger?month=2026-10", &xi).await;
    assert_eq!(theirs["entries"], json!([]));
    assert_eq!(
        app.post_json(
            &format!("/api/affairs/ledger/{e1}/questions"),
            &xi,
            json!({"text": "?"})
        )
        .await
        .0,
        404
    );
}

#[tokio::test]
async fn bad_amounts_and_dates_are_refused_by_name_and_nothing_is_stored() {
    let app = spawn_app().await;
    let off = app
        .user("zhuren", Role::VillageOfficial, Some("东山村"))
        .await;
    let li = app.user("li", Role::Villager, Some("东山村")).await;
    for (raw, field) in [
        (
            r#"{"date":"2026-10-03","item":"x","kind":"income","amount_fen":9223372036854775808,"category":"c"}"#,
            "amount_fen",
        ),
        (
            r#"{"date":"2026-10-03","item":"x","kind":"income","amount_fen":-5,"category":"c"}"#,
            "amount_fen",
        ),
        (
            r#"{"date":"2026-10-03","item":"x","kind":"income","amount_fen":0,"category":"c"}"#,
            "amount_fen",
        ),
        (
            r#"{"date":"2026-10-03","item":"x","kind":"income","amount_fen":1e20,"category":"c"}"#,
            "amount_fen",
        ),
        (
            r#"{"date":"2026-10-03","item":"x","kind":"income","amount_fen":12.5,"category":"c"}"#,
            "amount_fen",
        ),
        (
            r#"{"date":"2026-10-03","item":"x","kind":"income","amount_fen":"100","category":"c"}"#,
            "amount_fen",
        ),
        (
            r#"{"date":"2026-10-03","item":"x","kind":"income","amount_fen":10000000001,"category":"c"}"#,
            "amount_fen",
        ),
        (
            r#"{"date":"2026-02-30","item":"x","kind":"income","amount_fen":1,"category":"c"}"#,
            "date",
        ),
        (
            r#"{"date":"26-1-3","item":"x","kind":"income","amount_fen":1,"category":"c"}"#,
            "date",
        ),
        (
            r#"{"date":"2026-10-03","item":"x","kind":"gift","amount_fen":1,"category":"c"}"#,
            "kind",
        ),
        (
            r#"{"date":"2026-10-03","kind":"income","amount_fen":1,"category":"c"}"#,
            "item",
        ),
    ] {
        let (s, e) = post_raw(&app, "/api/affairs/ledger", &off, raw.as_bytes().to_vec()).await;
        assert_eq!((s, e["field"].as_str()), (400, Some(field)), "{raw}: {e}");
    }
    assert_eq!(
        post_raw(
            &app,
            "/api/affairs/ledger",
            &li,
            br#"{"date":"2026-10-03","item":"x","kind":"income","amount_fen":1,"category":"c"}"#
                .to_vec()
        )
        .await
        .0,
        403
    );
    let (_, months) = get_json(&app, "/api/affairs/ledger/months", &off).await;
    assert_eq!(months, json!([]), "nothing stored");
    let (s, e) = app
        .post_json(
            "/api/affairs/ledger/months/2026-13/publish",
            &off,
            json!({}),
        )
        .await;
    assert_eq!((s, e["field"].as_str()), (400, Some("month")));
}
