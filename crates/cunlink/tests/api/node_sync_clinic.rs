//! The village clinic on a node (issue 15, docs/clinic.md "Village node"): a
//! hub (this test's app) and a node (the real binary, joined with `cunlink node
//! join`). A patient and a consult with vitals recorded at the node appear on
//! the hub with the same ids, in the record and the FHIR views; each side
//! refuses to change what the other owns. Every wait polls an observable state.

use std::time::Duration;

use cunlink_core::auth::Role;
use serde_json::json;

use crate::common::{TempDir, spawn_app};
use crate::node_sync::{ID_SPAN, NodeProc, hub_until, join};

#[tokio::test]
async fn a_consult_held_at_the_village_node_reaches_the_hub_under_its_ids() {
    let hub = spawn_app().await;
    let village = "石桥村";
    let admin = hub.admin_token.clone();
    let (s, v) = hub
        .post_json("/api/clinic/departments", &admin, json!({"name": "内科"}))
        .await;
    assert_eq!(s, 201, "{v}");
    let hub_doctor = hub.user("cundoc", Role::Doctor, Some(village)).await;
    let staff = hub.user("county-li", Role::CountyStaff, None).await;

    let dir = TempDir::new("node-clinic");
    join(&dir.0, &format!("http://{}", hub.http), &staff, village).await;
    let node = NodeProc::start(&dir.0, &[], "cundoc").await;
    node.status_until(Duration::from_secs(30), "a first sync", |s| {
        s["connected"] == true && s["last_sync_at"].is_i64()
    })
    .await;

    // At the village clinic: a patient, and a consult with vitals.
    let r = node
        .post(
            "/api/clinic/patients",
            json!({"name": "李大爷", "sex": "male", "birth_date": "1948-07-15", "village": village}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    let patient = r.json()["id"].as_i64().unwrap();
    assert!(
        patient >= ID_SPAN,
        "a node's patient id is in its range: {patient}"
    );
    let r = node
        .post(
            "/api/clinic/consults",
            json!({"patient_id": patient, "department": "内科", "complaint": "头晕三天",
                "vitals": {"systolic": 162, "diastolic": 95, "heart_rate": 78}}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    let consult = r.json()["id"].as_i64().unwrap();
    assert!(consult >= ID_SPAN, "{consult}");
    let r = node
        .post(
            &format!("/api/clinic/consults/{consult}/notes"),
            json!({"assessment": "高血压", "diagnosis": "原发性高血压", "icd10": "I10"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text());

    // The county sees the same patient and consult, with the vitals and the note.
    let rec = hub_until(
        &hub,
        &format!("/api/clinic/patients/{patient}"),
        Duration::from_secs(30),
        "the village's patient with its consult",
        |v| {
            v["consults"][0]["notes"]
                .as_array()
                .is_some_and(|n| n.len() == 1)
        },
    )
    .await;
    assert_eq!(rec["patient"]["name"], "李大爷", "{rec}");
    assert_eq!(rec["consults"][0]["id"], consult, "{rec}");
    assert_eq!(
        rec["consults"][0]["observations"].as_array().map(Vec::len),
        Some(3),
        "{rec}"
    );
    let fhir = hub
        .get(&format!("/fhir/r4/Observation?patient={patient}"), &admin)
        .await;
    assert_eq!(fhir.status, 200, "{}", fhir.text());
    let obs = fhir.json();
    assert_eq!(obs["entry"].as_array().map(Vec::len), Some(3), "{obs}");
    let fp = hub
        .get(&format!("/fhir/r4/Patient/{patient}"), &admin)
        .await;
    assert_eq!(fp.status, 200, "{}", fp.text());
    assert_eq!(fp.json()["id"], patient.to_string());

    // The hub does not change the node's consult; the node leaves the county's work to the hub.
    let (s, v) = hub
        .post_json(
            &format!("/api/clinic/consults/{consult}/notes"),
            &hub_doctor,
            json!({"diagnosis": "感冒"}),
        )
        .await;
    assert_eq!((s, v["error"].as_str()), (409, Some("node_record")), "{v}");
    assert!(
        v["message"].as_str().is_some_and(|m| m.contains("village")),
        "{v}"
    );
    // Its page on the hub says where it is handled and offers no form.
    let cookie = hub.session("cundoc", "a-password").await;
    let page = crate::common::request(
        hub.http,
        "GET",
        &format!("/clinic/consults/{consult}"),
        &[("cookie", &cookie)],
        Vec::new(),
    )
    .await;
    assert_eq!(page.status, 200, "{}", page.text());
    let html = page.text();
    assert!(html.contains("村卫生室的节点"), "{html}");
    assert!(
        !html.contains("<form method=\"post\" action=\"/clinic/consults/"),
        "no forms: {html}"
    );
    let r = node
        .post(&format!("/api/clinic/consults/{consult}/accept"), json!({}))
        .await;
    assert_eq!(r.status, 409, "{}", r.text());
    assert_eq!(r.json()["error"], "hub_only");

    // Closed at the village: the hub follows.
    let r = node
        .post(&format!("/api/clinic/consults/{consult}/close"), json!({}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    hub_until(
        &hub,
        &format!("/api/clinic/consults/{consult}"),
        Duration::from_secs(30),
        "the consult closed",
        |v| v["status"] == "closed",
    )
    .await;
    let s = node
        .status_until(Duration::from_secs(30), "nothing waiting", |s| {
            s["pending_records"] == 0
        })
        .await;
    assert_eq!(s["dead_letters"], 0, "{s}");
}
