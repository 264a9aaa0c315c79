//! Issue 11, the clinic's whole flow through the real server: a county doctor
//! made by `cunlink user create --department`, a patient, vitals offered from a
//! `vitals` device, a consult waiting in its department's queue (and the live
//! queue told), accepted by 内科 but not by 外科, a call marked, SOAP notes, a
//! prescription revised (the first stays readable), dispensed, a slot booked,
//! photos, closing; the patient reads their own record.

use std::time::Duration;

use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::clinic_world::{A, png, post_bytes, world};
use crate::common::spawn_app;

#[tokio::test]
async fn a_consult_goes_from_the_village_to_the_county_and_back() {
    let app = spawn_app().await;
    let admin = app.admin_token.clone();
    let w = world(&app).await;
    let (vdoc, cdoc, surgeon) = (&w.vdoc_a.1, &w.cdoc.1, &w.surgeon.1);

    // A blood-pressure monitor of the clinic: an ordinary device of profile `vitals`.
    let dev = app
        .device(json!({"name": "bp-a", "type": "vitals", "asset": "卫生室 A", "village": A}))
        .await;
    let r = app
        .post(&format!("/api/v1/{dev}/telemetry"), r#"{"systolic":138,"diastolic":88,"heart_rate":71}"#)
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let r = app.get(&format!("/api/clinic/vitals?patient_id={}", w.patient_a), vdoc).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let offered = r.json();
    let sys = offered.as_array().unwrap().iter().find(|o| o["key"] == "systolic").expect("offered");
    assert_eq!(sys["value"], 138.0);
    assert_eq!(sys["device"], "bp-a");
    // Another village's doctor is offered nothing of this village.
    let r = app.get(&format!("/api/clinic/vitals?patient_id={}", w.patient_a), &w.vdoc_b.1).await;
    assert_eq!(r.status, 400, "{}", r.text());

    // The department's live queue, over SSE, sees the next consult arrive.
    let mut sse = tokio::net::TcpStream::connect(app.http).await.unwrap();
    let req = format!(
        "GET /api/clinic/queue/stream HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {cdoc}\r\nAccept: text/event-stream\r\n\r\n"
    );
    sse.write_all(req.as_bytes()).await.unwrap();
    read_until(&mut sse, "event: hello").await;

    let (s, c) = app
        .post_json("/api/clinic/consults", vdoc, json!({"patient_id": w.patient_a, "department": "内科",
            "complaint": "胸闷", "vitals": {"systolic": {"value": 138, "device": "bp-a"}, "heart_rate": 71}}))
        .await;
    assert_eq!(s, 201, "{c}");
    assert_eq!(c["status"], "waiting");
    let id = c["id"].as_i64().unwrap();
    read_until(&mut sse, &format!("data: {id}")).await;

    let r = app.get("/api/clinic/consults?status=waiting&department=%E5%86%85%E7%A7%91", cdoc).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let list = r.json();
    let row = list.as_array().unwrap().iter().find(|x| x["id"] == id).expect("in the queue");
    for k in ["id", "patient_id", "department", "status", "created_at"] {
        assert!(row.get(k).is_some(), "{k} in {row}");
    }
    assert_eq!(row["department"], "内科");

    // Accepting: 外科 may not (403); 内科 may, once.
    let (s, v) = app.post_json(&format!("/api/clinic/consults/{id}/accept"), surgeon, json!({})).await;
    assert_eq!(s, 403, "{v}");
    let (s, v) = app.post_json(&format!("/api/clinic/consults/{id}/accept"), cdoc, json!({})).await;
    assert_eq!((s, v.clone()), (200, json!({"status": "accepted"})), "{v}");
    let (s, v) = app.post_json(&format!("/api/clinic/consults/{id}/accept"), cdoc, json!({})).await;
    assert_eq!(s, 409, "{v}");

    // Both sides were told, in their in-app feed (alert's NotifyUsers).
    let url = format!("/clinic/consults/{id}");
    for (who, title) in [(cdoc, "新会诊 · 内科"), (vdoc, "会诊已接诊"), (&w.pat_a_user.1, "会诊已接诊")] {
        let feed = app.get("/api/me/notifications/feed?limit=50", who).await.json();
        assert!(
            feed.as_array().unwrap().iter().any(|e| e["source"] == "clinic" && e["url"] == url.as_str() && e["title"] == title),
            "{title} for {who}: {feed}"
        );
    }

    // The call crate's view of it, and the call beginning.
    let clinic = app.server.as_ref().unwrap().clinic.clone();
    let m = clinic.call_members(id).await.unwrap().expect("members");
    assert_eq!(m.status, cunlink_clinic::ConsultStatus::Accepted);
    assert!(m.county_doctor.is_some() && m.patient_user.is_some());
    assert!(clinic.call_members(999_999).await.unwrap().is_none());
    let cdoc_id = m.county_doctor.unwrap();
    clinic.mark_in_call(id, cdoc_id).await.unwrap();
    clinic.mark_in_call(id, cdoc_id).await.unwrap();
    assert_eq!(clinic.call_members(id).await.unwrap().unwrap().status, cunlink_clinic::ConsultStatus::InCall);

    // Notes and a prescription, then its revision.
    let (s, v) = app
        .post_json(&format!("/api/clinic/consults/{id}/notes"), cdoc, json!({"subjective": "胸闷两天",
            "objective": "BP 138/88", "assessment": "高血压", "plan": "降压", "diagnosis": "原发性高血压", "icd10": "I10"}))
        .await;
    assert_eq!(s, 201, "{v}");
    let line = json!({"drug": "氨氯地平片", "dose": "5 mg", "route": "口服", "frequency": "每日一次", "days": 14, "quantity": 14});
    let (s, rx1) = app
        .post_json(&format!("/api/clinic/consults/{id}/prescriptions"), cdoc, json!({"items": [line]}))
        .await;
    assert_eq!(s, 201, "{rx1}");
    assert_eq!(rx1["version"], 1);
    let rx1 = rx1["id"].as_i64().unwrap();
    let line2 = json!({"drug": "氨氯地平片", "dose": "2.5 mg", "route": "口服", "frequency": "每日一次", "days": 28, "quantity": 28});
    let (s, rx2) = app
        .post_json(&format!("/api/clinic/prescriptions/{rx1}/revise"), cdoc, json!({"items": [line2]}))
        .await;
    assert_eq!(s, 201, "{rx2}");
    assert_eq!(rx2["version"], 2);
    assert_eq!(rx2["previous_id"], rx1);
    let rx2 = rx2["id"].as_i64().unwrap();
    // The first version stays readable, marked superseded; it cannot be revised again.
    let old = app.get(&format!("/api/clinic/prescriptions/{rx1}"), vdoc).await;
    assert_eq!(old.status, 200, "{}", old.text());
    assert_eq!(old.json()["superseded"], true);
    assert_eq!(old.json()["items"][0]["dose"], "5 mg");
    let (s, v) = app
        .post_json(&format!("/api/clinic/prescriptions/{rx1}/revise"), cdoc, json!({"items": [line2]}))
        .await;
    assert_eq!(s, 409, "{v}");

    // Dispensing at the village clinic: the superseded version no, the latest once.
    let (s, v) = app.post_json(&format!("/api/clinic/prescriptions/{rx1}/dispense"), vdoc, json!({})).await;
    assert_eq!(s, 409, "{v}");
    let (s, v) = app.post_json(&format!("/api/clinic/prescriptions/{rx2}/dispense"), cdoc, json!({})).await;
    assert_eq!(s, 403, "the county doctor does not hand out drugs: {v}");
    let (s, v) = app.post_json(&format!("/api/clinic/prescriptions/{rx2}/dispense"), vdoc, json!({})).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["dispensed_by"], "vdoc-a");
    let (s, _) = app.post_json(&format!("/api/clinic/prescriptions/{rx2}/dispense"), vdoc, json!({})).await;
    assert_eq!(s, 409);

    // A photo: re-encoded to a small JPEG, readable by the consult's doctors.
    let r = post_bytes(&app, &format!("/api/clinic/consults/{id}/photos"), vdoc, "image/png", png(2400, 1600)).await;
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(r.json()["width"], 1024);
    let url = r.json()["url"].as_str().unwrap().to_string();
    let p = app.get(&url, cdoc).await;
    assert_eq!(p.status, 200);
    assert_eq!(&p.body[..2], &[0xFF, 0xD8], "a JPEG");
    assert_eq!(app.get(&url, &w.vdoc_b.1).await.status, 404);

    // The consult as the doctors see it.
    let r = app.get(&format!("/api/clinic/consults/{id}"), cdoc).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let k = r.json();
    assert_eq!(k["status"], "in_call");
    assert_eq!(k["observations"].as_array().unwrap().len(), 2);
    let sys = k["observations"].as_array().unwrap().iter().find(|o| o["key"] == "systolic").unwrap();
    assert_eq!((sys["value"].clone(), sys["device"].clone()), (json!(138.0), json!("bp-a")));
    assert_eq!(k["notes"][0]["icd10"], "I10");
    assert_eq!(k["prescriptions"].as_array().unwrap().len(), 2);
    assert_eq!(k["photos"].as_array().unwrap().len(), 1);

    // Closing; after that nothing more is written on it.
    let (s, v) = app.post_json(&format!("/api/clinic/consults/{id}/close"), cdoc, json!({})).await;
    assert_eq!((s, v["status"].clone()), (200, json!("closed")), "{v}");
    let (s, v) = app
        .post_json(&format!("/api/clinic/consults/{id}/prescriptions"), cdoc, json!({"items": [line]}))
        .await;
    assert_eq!(s, 409, "{v}");

    // Slots: the county doctor publishes one, the village doctor books it.
    let start = cunlink_core::time::now_ms() + 86_400_000;
    let (s, slot) = app.post_json("/api/clinic/slots", cdoc, json!({"starts_at": start, "minutes": 20})).await;
    assert_eq!(s, 201, "{slot}");
    let slots = app.get("/api/clinic/slots?department=%E5%86%85%E7%A7%91&free=1", vdoc).await.json();
    assert!(slots.as_array().unwrap().iter().any(|x| x["id"] == slot["id"]), "{slots}");
    let (s, v) = app
        .post_json(&format!("/api/clinic/consults/{}/schedule", w.consult_a), vdoc, json!({"slot_id": slot["id"]}))
        .await;
    assert_eq!((s, v["status"].clone()), (200, json!("scheduled")), "{v}");
    let m = clinic.call_members(w.consult_a).await.unwrap().unwrap();
    assert_eq!(m.county_doctor, Some(cdoc_id), "the slot's doctor takes the consult");
    let (s, v) = app
        .post_json(&format!("/api/clinic/consults/{}/schedule", w.consult_b), &w.vdoc_b.1, json!({"slot_id": slot["id"]}))
        .await;
    assert_eq!(s, 409, "a booked slot is not booked twice: {v}");

    // Cancelling a waiting consult.
    let (s, v) = app.post_json(&format!("/api/clinic/consults/{}/cancel", w.consult_b), &w.vdoc_b.1, json!({})).await;
    assert_eq!((s, v["status"].clone()), (200, json!("cancelled")), "{v}");

    // The patient reads their own record: every consult, its notes and both prescription versions.
    let r = app.get(&format!("/api/clinic/patients/{}", w.patient_a), &w.pat_a_user.1).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let rec = r.json();
    assert_eq!(rec["patient"]["name"], "王秀英");
    let consults = rec["consults"].as_array().unwrap();
    assert_eq!(consults.len(), 2);
    let closed = consults.iter().find(|x| x["id"] == id).unwrap();
    assert_eq!(closed["prescriptions"].as_array().unwrap().len(), 2);
    assert_eq!(closed["video"], true);

    // Departments are the admin's.
    let (s, _) = app.post_json("/api/clinic/departments", cdoc, json!({"name": "儿科"})).await;
    assert_eq!(s, 403);
    let (s, v) = app.post_json("/api/clinic/departments", &admin, json!({"name": "儿科"})).await;
    assert_eq!(s, 201, "{v}");
    let deps = app.get("/api/clinic/departments", vdoc).await.json();
    assert_eq!(deps.as_array().unwrap().len(), 3, "{deps}");
}

/// Read the SSE response until `needle` shows up (bounded by a timeout).
async fn read_until(s: &mut tokio::net::TcpStream, needle: &str) {
    let mut seen = String::new();
    let mut buf = [0u8; 4096];
    let found = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let n = s.read(&mut buf).await.unwrap();
            assert!(n > 0, "stream closed; saw {seen}");
            seen.push_str(&String::from_utf8_lossy(&buf[..n]));
            if seen.contains(needle) {
                return;
            }
        }
    })
    .await;
    assert!(found.is_ok(), "no {needle:?} on the queue stream");
}

/// The demo village has a clinic: a `vitals` monitor whose readings the form
/// offers, a village doctor, 内科's county doctor with a waiting consult, and
/// the patient's own account.
#[tokio::test]
async fn the_demo_village_has_a_clinic() {
    let app = crate::common::spawn_app_with(|c| c.demo = true).await;
    let session = |u: &'static str| {
        let app = &app;
        async move { app.session(u, "cunlink-demo").await }
    };
    let get = |path: String, cookie: String| {
        let app = &app;
        async move { crate::common::request(app.http, "GET", &path, &[("cookie", &cookie)], Vec::new()).await }
    };
    let neike = session("neike").await;
    let queue = get("/api/clinic/consults?status=waiting".into(), neike.clone()).await;
    assert_eq!(queue.status, 200, "{}", queue.text());
    let first = queue.json()[0].clone();
    assert_eq!(first["department"], "内科", "{first}");
    let page = get("/clinic/queue".into(), neike).await;
    assert_eq!(page.status, 200);
    assert!(page.text().contains(&format!("#{}", first["id"])), "{}", page.text());
    let form = get("/clinic/consults/new".into(), session("cunyi").await).await;
    assert_eq!(form.status, 200);
    assert!(form.text().contains("value=\"148\""), "the monitor's reading is offered: {}", form.text());
    let mine = get(format!("/clinic/patients/{}", first["patient_id"]), session("huanzhe").await).await;
    assert_eq!(mine.status, 200);
    assert!(mine.text().contains("王秀英"));
}
