//! Issue 11 item 7: the FHIR R4 export, every resource validated by an
//! independent validator — the R4 (4.0.1) models of PyPI's `fhir.resources`
//! 6.4.0, run as a separate Python process from the venv `./test` installs
//! (`$CUNLINK_VENV`, default `~/.cache/cunlink/venv`). Not our own types.
//! Also: the content type, Encounter classes VR and AMB, LOINC codes,
//! `priorPrescription` on a revision, and searchset Bundles.

use std::path::PathBuf;

use serde_json::{Value, json};

use crate::clinic_world::{ok, world};
use crate::common::{TestApp, spawn_app};

fn validator() -> PathBuf {
    let venv = std::env::var_os("CUNLINK_VENV").map(PathBuf::from).unwrap_or_else(|| {
        let base = std::env::var_os("CUNLINK_CACHE")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache/cunlink"));
        base.join("venv")
    });
    let py = venv.join("bin/python");
    assert!(
        py.exists(),
        "no FHIR validator: {} is missing. Run ./test (it creates the venv), or: python3 -m venv {v} && {v}/bin/pip install 'fhir.resources==6.4.0' 'pydantic[email]>=1.10,<2'",
        py.display(),
        v = venv.display()
    );
    py
}

/// Validate one document (resource or Bundle) with the independent validator.
async fn validate(doc: &Value, what: &str) {
    use tokio::io::AsyncWriteExt;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fhir/validate.py");
    let mut child = tokio::process::Command::new(validator())
        .arg(script)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run the FHIR validator");
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(doc.to_string().as_bytes()).await.unwrap();
    drop(stdin);
    let out = child.wait_with_output().await.unwrap();
    assert!(
        out.status.success(),
        "{what} is not valid FHIR R4:\n{}{}\n{doc:#}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

async fn fhir_get(app: &TestApp, path: &str, token: &str) -> Value {
    let r = app.get(path, token).await;
    assert_eq!(r.status, 200, "{path}: {}", r.text());
    assert_eq!(r.headers["content-type"], "application/fhir+json", "{path}");
    r.json()
}

fn of_type<'a>(bundle: &'a Value, t: &str) -> Vec<&'a Value> {
    bundle["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["resource"])
        .filter(|r| r["resourceType"] == t)
        .collect()
}

#[tokio::test]
async fn the_fhir_export_is_valid_r4() {
    let py = validator();
    let app = spawn_app().await;
    let w = world(&app).await;
    let (p, k) = (w.patient_a, w.consult_a);
    let (vdoc, cdoc) = (w.vdoc_a.1.clone(), w.cdoc.1.clone());
    // A video consult with everything in it: accepted, in a call, notes, a
    // prescription revised and dispensed, closed.
    ok(&app, &format!("/api/clinic/consults/{k}/accept"), &cdoc, json!({})).await;
    let clinic = app.server.as_ref().unwrap().clinic.clone();
    let cdoc_id = clinic.call_members(k).await.unwrap().unwrap().county_doctor.unwrap();
    clinic.mark_in_call(k, cdoc_id).await.unwrap();
    ok(&app, &format!("/api/clinic/consults/{k}/notes"), &cdoc, json!({"subjective": "头晕", "objective": "BP 150/95",
        "assessment": "高血压2级", "plan": "降压，复查", "diagnosis": "原发性高血压", "icd10": "I10"}))
    .await;
    ok(&app, &format!("/api/clinic/consults/{k}/notes"), &vdoc, json!({"diagnosis": "头晕待查"})).await;
    let items = |dose: &str| json!({"items": [
        {"drug": "氨氯地平片", "dose": dose, "route": "口服", "frequency": "每日一次", "days": 14, "quantity": 14},
        {"drug": "阿司匹林肠溶片", "dose": "100 mg", "route": "口服", "frequency": "每日一次", "days": 14, "quantity": 14}]});
    let rx1 = ok(&app, &format!("/api/clinic/consults/{k}/prescriptions"), &cdoc, items("5 mg")).await["id"].as_i64().unwrap();
    let rx2 = ok(&app, &format!("/api/clinic/prescriptions/{rx1}/revise"), &cdoc, items("2.5 mg")).await["id"].as_i64().unwrap();
    ok(&app, &format!("/api/clinic/prescriptions/{rx2}/dispense"), &vdoc, json!({})).await;
    ok(&app, &format!("/api/clinic/consults/{k}/close"), &cdoc, json!({})).await;
    // And an ordinary (not video) consult, still waiting.
    let k2 = ok(&app, "/api/clinic/consults", &vdoc, json!({"patient_id": p, "department": "内科",
        "complaint": "复诊", "vitals": {"temperature": 36.8, "spo2": 97, "heart_rate": 80, "weight": 61.5, "glucose": 6.1, "respiratory_rate": 16}}))
    .await["id"]
        .as_i64()
        .unwrap();

    // $everything: every resource type, each valid.
    let all = fhir_get(&app, &format!("/fhir/r4/Patient/{p}/$everything"), &vdoc).await;
    assert_eq!(all["resourceType"], "Bundle");
    assert_eq!(all["type"], "searchset");
    validate(&all, "Patient/$everything").await;
    for t in ["Patient", "Practitioner", "Encounter", "Observation", "Condition", "MedicationRequest", "MedicationDispense"] {
        assert!(!of_type(&all, t).is_empty(), "no {t} in $everything");
    }
    let enc = of_type(&all, "Encounter");
    let class = |id: i64| enc.iter().find(|e| e["id"] == id.to_string().as_str()).unwrap()["class"]["code"].clone();
    assert_eq!(class(k), "VR", "a consult with a call is a virtual encounter");
    assert_eq!(class(k2), "AMB");
    let loinc: Vec<&str> = of_type(&all, "Observation").iter().filter_map(|o| o["code"]["coding"][0]["code"].as_str()).collect();
    for code in ["8480-6", "8462-4", "8310-5", "59408-5", "8867-4", "29463-7", "9279-1", "15074-8"] {
        assert!(loinc.contains(&code), "LOINC {code} in {loinc:?}");
    }
    let conds = of_type(&all, "Condition");
    assert!(conds.iter().any(|c| c["code"]["coding"][0]["code"] == "I10" && c["code"]["coding"][0]["system"] == "http://hl7.org/fhir/sid/icd-10"));
    assert!(conds.iter().any(|c| c["code"]["text"] == "头晕待查" && c["code"].get("coding").is_none()));
    let mr = of_type(&all, "MedicationRequest");
    let revised = mr.iter().find(|m| m["id"] == format!("{rx2}-1").as_str()).expect("revision line 1");
    assert_eq!(revised["priorPrescription"]["reference"], format!("MedicationRequest/{rx1}-1"));
    let old = mr.iter().find(|m| m["id"] == format!("{rx1}-2").as_str()).expect("old line 2");
    assert_eq!(old["status"], "stopped");
    let md = of_type(&all, "MedicationDispense");
    assert_eq!(md.len(), 2, "both lines of the dispensed version");

    // Each single read and search, validated on its own.
    validate(&fhir_get(&app, &format!("/fhir/r4/Patient/{p}"), &vdoc).await, "Patient").await;
    validate(&fhir_get(&app, &format!("/fhir/r4/Practitioner/{cdoc_id}"), &vdoc).await, "Practitioner").await;
    for t in ["Encounter", "MedicationRequest", "Observation", "Condition", "MedicationDispense"] {
        let b = fhir_get(&app, &format!("/fhir/r4/{t}?patient={p}"), &cdoc).await;
        assert_eq!(b["type"], "searchset");
        assert_eq!(b["total"].as_u64().unwrap() as usize, b["entry"].as_array().unwrap().len());
        assert!(b["entry"].as_array().unwrap().iter().all(|e| e["resource"]["resourceType"] == t), "{t}: {b}");
        validate(&b, t).await;
    }
    // The validator is a real one: an Encounter without its required class
    // fails it. (It checks structure, cardinality and formats; it does not
    // check terminology bindings, so codes are asserted above.)
    let mut broken = (*enc[0]).clone();
    broken.as_object_mut().unwrap().remove("class");
    let out = std::process::Command::new(&py)
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fhir/validate.py"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin.take().unwrap().write_all(broken.to_string().as_bytes())?;
            c.wait_with_output()
        })
        .unwrap();
    assert!(!out.status.success(), "the validator accepted an Encounter without class");
    // A search needs its patient.
    assert_eq!(app.get("/fhir/r4/Encounter", &vdoc).await.status, 400);
}
