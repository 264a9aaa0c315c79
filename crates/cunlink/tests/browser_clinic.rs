//! The clinic in a real browser (`tests/browser/clinic.mjs`): the new-consult
//! form with a device's reading, the department queue updating live over SSE,
//! accepting and prescribing through the consult page, the A5 print page, and
//! the clinic pages' budgets, 360 px usability and contrast. Needs `npm ci` in
//! tests/browser and Debian's chromium (`./test` installs both).

#[path = "api/common.rs"]
#[allow(dead_code)]
mod common;
#[path = "support/browser.rs"]
#[allow(dead_code)]
mod support;

use serde_json::json;

use common::spawn_app;
use cunlink_core::auth::Role;
use support::run_script;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_clinic_works_in_a_real_browser() {
    support::tools();
    let app = spawn_app().await;
    let admin = app.admin_token.clone();
    let vdoc = app.user("vdoc", Role::Doctor, Some("茶香村")).await;
    app.user("cdoc", Role::Doctor, None).await;
    app.user("patient", Role::Villager, Some("茶香村")).await;
    let (s, v) = app.post_json("/api/clinic/doctors", &admin, json!({"user": "cdoc", "department": "内科"})).await;
    assert_eq!(s, 200, "{v}");
    let (s, p) = app
        .post_json("/api/clinic/patients", &vdoc, json!({"name": "王秀英", "sex": "female",
            "birth_date": "1958-03-02", "village": "茶香村", "user": "patient"}))
        .await;
    assert_eq!(s, 201, "{p}");
    let patient = p["id"].as_i64().unwrap();
    let monitor = app
        .device(json!({"name": "血压计", "type": "vitals", "asset": "茶香村卫生室", "village": "茶香村"}))
        .await;
    let r = app.post(&format!("/api/v1/{monitor}/telemetry"), r#"{"systolic":141,"diastolic":89}"#).await;
    assert_eq!(r.status, 200);
    let mut sessions = Vec::new();
    for name in ["vdoc", "cdoc", "patient"] {
        let c = app.session(name, "a-password").await;
        sessions.push(format!("{name}={}", c.trim_start_matches("cunlink_session=")));
    }
    let envs = [
        ("BASE", format!("http://{}", app.http)),
        ("SESSIONS", sessions.join("\n")),
        ("PATIENT", patient.to_string()),
    ];
    run_script("clinic.mjs", &envs, |what| {
        let (app, vdoc) = (&app, vdoc.clone());
        async move {
            assert_eq!(what, "consult");
            let (s, v) = app
                .post_json("/api/clinic/consults", &vdoc, json!({"patient_id": patient, "department": "内科", "complaint": "咳嗽"}))
                .await;
            assert_eq!(s, 201, "{v}");
        }
    })
    .await;
}
