//! Bounds found in review of issue 11: a consult holds at most 50 notes and
//! 50 prescription rows (refused with 409, nothing written), and `?free=1`
//! on slots filters before the limit.

use serde_json::{Value, json};

use crate::clinic_world::{ok, world};
use crate::common::spawn_app;

#[tokio::test]
async fn a_consult_refuses_a_51st_note_and_prescription() {
    let app = spawn_app().await;
    let w = world(&app).await;
    let (kb, doc) = (w.consult_b, w.vdoc_b.1.clone());
    let admin = app.admin_token.clone();
    let note = json!({"diagnosis": "上呼吸道感染", "icd10": "J06.9"});
    let rx = json!({"items": [
        {"drug": "布洛芬", "dose": "0.2 g", "route": "口服", "frequency": "每日三次", "days": 3, "quantity": 9}]});
    for _ in 0..50 {
        ok(
            &app,
            &format!("/api/clinic/consults/{kb}/notes"),
            &doc,
            note.clone(),
        )
        .await;
    }
    let mut last_rx = Value::Null;
    for _ in 0..50 {
        last_rx = ok(
            &app,
            &format!("/api/clinic/consults/{kb}/prescriptions"),
            &doc,
            rx.clone(),
        )
        .await;
    }
    let before = app
        .get(&format!("/api/clinic/consults/{kb}"), &admin)
        .await
        .json();
    assert_eq!(before["notes"].as_array().unwrap().len(), 50, "{before}");
    assert_eq!(before["prescriptions"].as_array().unwrap().len(), 50);
    let tries = [
        (
            format!("/api/clinic/consults/{kb}/notes"),
            note.clone(),
            "too_many_notes",
        ),
        (
            format!("/api/clinic/consults/{kb}/prescriptions"),
            rx.clone(),
            "too_many_prescriptions",
        ),
        (
            format!("/api/clinic/prescriptions/{}/revise", last_rx["id"]),
            rx.clone(),
            "too_many_prescriptions",
        ),
    ];
    for (path, body, code) in tries {
        let (s, e) = app.post_json(&path, &doc, body).await;
        assert_eq!((s, e["error"].as_str()), (409, Some(code)), "{path}: {e}");
    }
    let after = app
        .get(&format!("/api/clinic/consults/{kb}"), &admin)
        .await
        .json();
    assert_eq!(after, before, "nothing written");
}

#[tokio::test]
async fn free_slots_are_filtered_before_the_limit() {
    let app = spawn_app().await;
    let w = world(&app).await;
    let start = cunlink_core::time::now_ms() + 86_400_000;
    let first = ok(
        &app,
        "/api/clinic/slots",
        &w.cdoc.1,
        json!({"starts_at": start, "minutes": 20}),
    )
    .await;
    let second = ok(
        &app,
        "/api/clinic/slots",
        &w.cdoc.1,
        json!({"starts_at": start + 3_600_000, "minutes": 20}),
    )
    .await;
    let (s, v) = app
        .post_json(
            &format!("/api/clinic/consults/{}/schedule", w.consult_a),
            &w.vdoc_a.1,
            json!({"slot_id": first["id"]}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    // The soonest slot is booked: one free slot, with limit 1, is the second.
    let list = app
        .get(
            "/api/clinic/slots?department=%E5%86%85%E7%A7%91&free=1&limit=1",
            &w.vdoc_a.1,
        )
        .await
        .json();
    let ids: Vec<&Value> = list.as_array().unwrap().iter().map(|x| &x["id"]).collect();
    assert_eq!(ids, vec![&second["id"]], "{list}");
    let all = app
        .get(
            "/api/clinic/slots?department=%E5%86%85%E7%A7%91&limit=1",
            &w.vdoc_a.1,
        )
        .await
        .json();
    assert_eq!(all[0]["id"], first["id"]);
    assert_eq!(all[0]["booked"], true);
}
