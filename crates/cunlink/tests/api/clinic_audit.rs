//! Issue 11 item 6: every read of a record writes one access-log row (who,
//! what, when, for which consult) — API, FHIR and pages alike — and refused
//! reads write none. The patient and admins list the log, newest first.

use serde_json::json;

use crate::clinic_world::{log_len, ok, png, post_bytes, world};
use crate::common::{request, spawn_app};
use cunlink_core::auth::Role;

#[tokio::test]
async fn every_read_of_a_record_is_logged_and_only_reads() {
    let app = spawn_app().await;
    let w = world(&app).await;
    let (p, k) = (w.patient_a, w.consult_a);
    let vdoc = w.vdoc_a.1.clone();
    let cdoc = w.cdoc.1.clone();
    ok(&app, &format!("/api/clinic/consults/{k}/accept"), &cdoc, json!({})).await;
    let rx = ok(&app, &format!("/api/clinic/consults/{k}/prescriptions"), &cdoc, json!({"items": [
        {"drug": "布洛芬", "dose": "0.2 g", "route": "口服", "frequency": "每日三次", "days": 3, "quantity": 9}]}))
    .await["id"]
        .as_i64()
        .unwrap();
    let photo = post_bytes(&app, &format!("/api/clinic/consults/{k}/photos"), &vdoc, "image/png", png(200, 100)).await;
    assert_eq!(photo.status, 201, "{}", photo.text());
    let photo = photo.json()["url"].as_str().unwrap().to_string();
    // Writing is not reading: nothing logged yet.
    assert_eq!(log_len(&app, p).await, 0);

    // Each read adds exactly one row, whoever reads and however.
    let reads: Vec<(String, &str, &str)> = vec![
        (format!("/api/clinic/patients/{p}"), vdoc.as_str(), "read record"),
        (format!("/api/clinic/patients/{p}?consult={k}"), cdoc.as_str(), "read record"),
        (format!("/api/clinic/consults/{k}"), cdoc.as_str(), "read consult"),
        (format!("/api/clinic/prescriptions/{rx}"), vdoc.as_str(), "read prescription"),
        (photo.clone(), cdoc.as_str(), "read photo"),
        (format!("/fhir/r4/Patient/{p}"), vdoc.as_str(), "fhir Patient"),
        (format!("/fhir/r4/Patient/{p}/$everything"), cdoc.as_str(), "fhir Patient/$everything"),
        (format!("/fhir/r4/Encounter?patient={p}"), vdoc.as_str(), "fhir Encounter search"),
        (format!("/fhir/r4/MedicationRequest?patient={p}"), vdoc.as_str(), "fhir MedicationRequest search"),
        (format!("/fhir/r4/Condition?patient={p}"), vdoc.as_str(), "fhir Condition search"),
        (format!("/api/clinic/patients/{p}"), w.pat_a_user.1.as_str(), "read record"),
    ];
    let admin = app.admin_token.clone();
    for (i, (path, token, action)) in reads.iter().enumerate() {
        let r = app.get(path, token).await;
        assert_eq!(r.status, 200, "{path}: {}", r.text());
        assert_eq!(log_len(&app, p).await, i + 1, "one row for {path}");
        let log = app.get(&format!("/api/clinic/patients/{p}/access-log"), &admin).await.json();
        let newest = &log[0];
        assert_eq!(newest["action"], *action, "{log}");
        for key in ["user", "action", "at"] {
            assert!(newest.get(key).is_some(), "{key} in {newest}");
        }
    }
    let log = app.get(&format!("/api/clinic/patients/{p}/access-log"), &admin).await.json();
    let log = log.as_array().unwrap();
    // Newest first; the read "for a consult" names it.
    assert!(log.windows(2).all(|x| x[0]["at"].as_i64() >= x[1]["at"].as_i64()));
    assert_eq!(log[0]["user"], "pat-a");
    assert_eq!(log.last().unwrap()["user"], "vdoc-a");
    assert_eq!(log[log.len() - 2]["consult_id"], k);

    // Pages are reads too.
    let cookie = app.session("vdoc-a", "a-password").await;
    for page in [format!("/clinic/consults/{k}"), format!("/clinic/patients/{p}"), format!("/clinic/prescriptions/{rx}/print")] {
        let before = log_len(&app, p).await;
        let r = request(app.http, "GET", &page, &[("cookie", &cookie)], Vec::new()).await;
        assert_eq!(r.status, 200, "{page}: {}", r.text());
        assert_eq!(log_len(&app, p).await, before + 1, "one row for the page {page}");
    }

    // Refused reads write nothing; so do lists without clinical content.
    let before = log_len(&app, p).await;
    let stranger = app.user("stranger", Role::Villager, Some("Village A")).await;
    for path in [format!("/api/clinic/patients/{p}"), format!("/fhir/r4/Patient/{p}/$everything"), format!("/api/clinic/consults/{k}")] {
        assert_eq!(app.get(&path, &stranger).await.status, 404, "{path}");
        assert_eq!(app.get(&path, &w.vdoc_b.1).await.status, 404, "{path}");
    }
    assert_eq!(app.get("/api/clinic/consults?status=accepted", &vdoc).await.status, 200);
    assert_eq!(log_len(&app, p).await, before);

    // Who lists the log: the patient and admins; a doctor who may read the
    // record is refused (403); anyone else is told there is no such patient.
    assert_eq!(app.get(&format!("/api/clinic/patients/{p}/access-log"), &w.pat_a_user.1).await.status, 200);
    assert_eq!(app.get(&format!("/api/clinic/patients/{p}/access-log"), &vdoc).await.status, 403);
    assert_eq!(app.get(&format!("/api/clinic/patients/{p}/access-log"), &stranger).await.status, 404);
    assert_eq!(log_len(&app, p).await, before, "listing the log is not a record read");
}
