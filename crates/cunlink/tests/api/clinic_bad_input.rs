//! Issue 11: bad input gets a 4xx naming the field and changes nothing —
//! unknown patient, department or slot, malformed dates, unknown or
//! out-of-range vitals, negative or fractional quantities, ICD-10 codes that are
//! not, a prescription on a closed consult, bad query parameters.

use serde_json::{Value, json};

use crate::clinic_world::{A, log_len, ok, post_bytes, world};
use crate::common::{TestApp, spawn_app};

/// Everything a bad request could have changed, as the admin sees it.
async fn snapshot(app: &TestApp, patient: i64, consult: i64) -> Value {
    let admin = app.admin_token.clone();
    let patients = app.get("/api/clinic/patients?limit=500", &admin).await.json();
    let consults = app.get("/api/clinic/consults?limit=500", &admin).await.json();
    let deps = app.get("/api/clinic/departments", &admin).await.json();
    let slots = app.get("/api/clinic/slots?department=%E5%86%85%E7%A7%91&limit=500", &admin).await.json();
    // Reading the record is logged; the log is compared separately.
    let record = app.get(&format!("/api/clinic/patients/{patient}"), &admin).await.json();
    let k = app.get(&format!("/api/clinic/consults/{consult}"), &admin).await.json();
    json!({"patients": patients, "consults": consults, "departments": deps, "slots": slots, "record": record, "consult": k})
}

#[tokio::test]
async fn bad_input_is_refused_by_name_and_changes_nothing() {
    let app = spawn_app().await;
    let w = world(&app).await;
    let (p, k) = (w.patient_a, w.consult_a);
    let (vdoc, cdoc) = (w.vdoc_a.1.clone(), w.cdoc.1.clone());
    let admin = app.admin_token.clone();
    // A closed consult to write on.
    let closed = ok(&app, "/api/clinic/consults", &vdoc, json!({"patient_id": p, "department": "内科", "complaint": "随访"}))
        .await["id"]
        .as_i64()
        .unwrap();
    ok(&app, &format!("/api/clinic/consults/{closed}/accept"), &cdoc, json!({})).await;
    let rx = ok(&app, &format!("/api/clinic/consults/{closed}/prescriptions"), &cdoc, json!({"items": [
        {"drug": "A", "dose": "1", "route": "po", "frequency": "qd", "days": 1, "quantity": 1}]}))
    .await["id"]
        .as_i64()
        .unwrap();
    ok(&app, &format!("/api/clinic/consults/{closed}/close"), &cdoc, json!({})).await;

    let line = |days: Value, quantity: Value| json!({"items": [{"drug": "阿莫西林", "dose": "0.5 g", "route": "口服", "frequency": "每日三次", "days": days, "quantity": quantity}]});
    let patient = |over: Value| {
        let mut b = json!({"name": "赵六", "sex": "male", "birth_date": "1975-04-01", "village": A});
        for (key, val) in over.as_object().unwrap() {
            b[key] = val.clone();
        }
        b
    };
    // (who, path, body, status, field)
    let cases: Vec<(&str, String, Value, u16, &str)> = vec![
        (&vdoc, "/api/clinic/patients".into(), patient(json!({"birth_date": "1975-02-30"})), 400, "birth_date"),
        (&vdoc, "/api/clinic/patients".into(), patient(json!({"birth_date": "01/04/1975"})), 400, "birth_date"),
        (&vdoc, "/api/clinic/patients".into(), patient(json!({"birth_date": "2999-01-01"})), 400, "birth_date"),
        (&vdoc, "/api/clinic/patients".into(), patient(json!({"sex": "f"})), 400, "sex"),
        (&vdoc, "/api/clinic/patients".into(), patient(json!({"name": ""})), 400, "name"),
        (&vdoc, "/api/clinic/patients".into(), patient(json!({"village": "Nowhere"})), 400, "village"),
        (&vdoc, "/api/clinic/patients".into(), patient(json!({"phone": "call me"})), 400, "phone"),
        (&vdoc, "/api/clinic/patients".into(), patient(json!({"user": "nobody-here"})), 400, "user"),
        (&vdoc, "/api/clinic/patients".into(), json!([1, 2]), 400, "body"),
        (&vdoc, "/api/clinic/consults".into(), json!({"patient_id": 999999, "department": "内科", "complaint": "x"}), 400, "patient_id"),
        (&vdoc, "/api/clinic/consults".into(), json!({"patient_id": w.patient_b, "department": "内科", "complaint": "x"}), 400, "patient_id"),
        (&vdoc, "/api/clinic/consults".into(), json!({"patient_id": p, "department": "牙科", "complaint": "x"}), 400, "department"),
        (&vdoc, "/api/clinic/consults".into(), json!({"patient_id": p, "department": "内科", "complaint": ""}), 400, "complaint"),
        (&vdoc, "/api/clinic/consults".into(), json!({"patient_id": p, "department": "内科", "complaint": "x", "vitals": {"mood": 3}}), 400, "vitals.mood"),
        (&vdoc, "/api/clinic/consults".into(), json!({"patient_id": p, "department": "内科", "complaint": "x", "vitals": {"temperature": 365}}), 400, "vitals.temperature"),
        (&vdoc, "/api/clinic/consults".into(), json!({"patient_id": p, "department": "内科", "complaint": "x", "vitals": {"systolic": "high"}}), 400, "vitals.systolic"),
        (&vdoc, "/api/clinic/consults".into(), json!({"patient_id": "one", "department": "内科", "complaint": "x"}), 400, "patient_id"),
        (&vdoc, format!("/api/clinic/consults/{k}/prescriptions"), line(json!(5), json!(-3)), 400, "items[0].quantity"),
        (&vdoc, format!("/api/clinic/consults/{k}/prescriptions"), line(json!(0), json!(3)), 400, "items[0].days"),
        (&vdoc, format!("/api/clinic/consults/{k}/prescriptions"), line(json!(5), json!(1.5)), 400, "items[0].quantity"),
        (&vdoc, format!("/api/clinic/consults/{k}/prescriptions"), json!({"items": []}), 400, "items"),
        (&vdoc, format!("/api/clinic/consults/{k}/prescriptions"), json!({"items": [{"drug": "A"}]}), 400, "items[0].dose"),
        (&cdoc, format!("/api/clinic/consults/{closed}/prescriptions"), line(json!(5), json!(15)), 409, "consult"),
        (&cdoc, format!("/api/clinic/prescriptions/{rx}/revise"), line(json!(5), json!(15)), 409, "consult"),
        (&cdoc, format!("/api/clinic/consults/{closed}/notes"), json!({"diagnosis": "x"}), 409, "consult"),
        (&vdoc, format!("/api/clinic/consults/{k}/notes"), json!({"diagnosis": "感冒", "icd10": "cold"}), 400, "icd10"),
        (&vdoc, format!("/api/clinic/consults/{k}/notes"), json!({"plan": "rest"}), 400, "diagnosis"),
        (&vdoc, format!("/api/clinic/consults/{k}/schedule"), json!({"slot_id": 999999}), 400, "slot_id"),
        (&cdoc, "/api/clinic/slots".into(), json!({"starts_at": 1, "minutes": 20}), 400, "starts_at"),
        (&cdoc, "/api/clinic/slots".into(), json!({"starts_at": cunlink_core::time::now_ms() + 3_600_000, "minutes": 2}), 400, "minutes"),
        (&admin, "/api/clinic/doctors".into(), json!({"user": "vdoc-a", "department": "内科"}), 400, "user"),
        (&admin, "/api/clinic/departments".into(), json!({"name": "内科"}), 409, "name"),
    ];
    let before = snapshot(&app, p, k).await;
    let log_before = log_len(&app, p).await;
    let mut bad = Vec::new();
    for (who, path, body, status, field) in &cases {
        let (s, v) = app.post_json(path, who, body.clone()).await;
        if s != *status || v["field"] != *field || v["error"].as_str().is_none_or(str::is_empty) || v["message"].as_str().is_none_or(str::is_empty) {
            bad.push(format!("POST {path} {body}: {s} {v}, want {status} field {field}"));
        }
    }
    // Bad query parameters and photos.
    for (path, field) in [
        ("/api/clinic/consults?status=done", "status"),
        ("/api/clinic/consults?department=%E7%89%99%E7%A7%91", "department"),
        ("/api/clinic/consults?limit=100000", "limit"),
        ("/api/clinic/consults?before=-1", "before"),
    ] {
        let r = app.get(path, &vdoc).await;
        if r.status != 400 || r.json()["field"] != field {
            bad.push(format!("GET {path}: {} {}, want 400 field {field}", r.status, r.text()));
        }
    }
    let r = post_bytes(&app, &format!("/api/clinic/consults/{k}/photos"), &vdoc, "image/jpeg", b"not a jpeg".to_vec()).await;
    if r.status != 422 || r.json()["field"] != "photo" {
        bad.push(format!("garbage photo: {} {}", r.status, r.text()));
    }
    let r = post_bytes(&app, &format!("/api/clinic/consults/{k}/photos"), &vdoc, "text/plain", b"hello".to_vec()).await;
    if r.status != 415 {
        bad.push(format!("text photo: {} {}", r.status, r.text()));
    }
    assert!(bad.is_empty(), "{} wrong answers:\n{}", bad.len(), bad.join("\n"));
    // Nothing changed (the snapshot's own record reads are the only new log rows).
    let after = snapshot(&app, p, k).await;
    assert_eq!(before, after, "a refused request changed something");
    assert_eq!(log_len(&app, p).await, log_before + 2, "only the snapshot's two reads were logged");
}
