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
