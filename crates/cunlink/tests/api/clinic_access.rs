//! Issue 11 item 6, the whole matrix: who may read a patient's record — every
//! role × the patient's own village or another × assigned to one of the
//! patient's consults or not, plus the patient's own account (of any role).
//! Each caller is walked over every reading route (record, consult, FHIR
//! Patient, `$everything`, searchsets); allowed callers get 200, everyone else
//! the same 404 as for a patient that does not exist.

use serde_json::json;

use crate::clinic_world::{A, B, ok, world};
use crate::common::{TestApp, spawn_app};
use cunlink_core::auth::Role;

/// Every way to read patient `p` (whose consult is `k`).
fn reads(p: i64, k: i64) -> Vec<String> {
    vec![
        format!("/api/clinic/patients/{p}"),
        format!("/api/clinic/consults/{k}"),
        format!("/fhir/r4/Patient/{p}"),
        format!("/fhir/r4/Patient/{p}/$everything"),
        format!("/fhir/r4/Encounter?patient={p}"),
        format!("/fhir/r4/MedicationRequest?patient={p}"),
        format!("/fhir/r4/Observation?patient={p}"),
    ]
}

async fn check(
    app: &TestApp,
    who: &str,
    token: &str,
    p: i64,
    k: i64,
    allowed: bool,
    bad: &mut Vec<String>,
) {
    for path in reads(p, k) {
        let got = app.get(&path, token).await.status;
        let want = if allowed { 200 } else { 404 };
        if got != want {
            bad.push(format!("{who} GET {path}: {got}, want {want}"));
        }
    }
}

#[tokio::test]
async fn record_readers_are_exactly_those_of_item_6() {
    let app = spawn_app().await;
    let w = world(&app).await;
    // Notes and a prescription so every resource type has something in it.
    let (pa, pb, ka, kb) = (w.patient_a, w.patient_b, w.consult_a, w.consult_b);
    let mut bad = Vec::new();

    // One caller per role in village A (county-wide roles have no village).
    let mut callers: Vec<(String, String, Role)> =
        vec![("admin".into(), app.admin_token.clone(), Role::Admin)];
    for role in Role::ALL {
        if role == Role::Admin {
            continue;
        }
        let name = format!("acc-{}", role.as_str().replace('_', "-"));
        let village = (!role.is_county_wide()).then_some(A);
        callers.push((name.clone(), app.user(&name, role, village).await, role));
    }
    for (name, token, role) in &callers {
        // Own village: admins and the village's doctors; other village: admins only.
        let own = matches!(role, Role::Admin | Role::Doctor);
        let other = *role == Role::Admin;
        check(
            &app,
            &format!("{name} (own village)"),
            token,
            pa,
            ka,
            own,
            &mut bad,
        )
        .await;
        check(
            &app,
            &format!("{name} (other village)"),
            token,
            pb,
            kb,
            other,
            &mut bad,
        )
        .await;
    }

    // The patient's own account, whatever its role (a farmer here), and no one else's.
    let farmer_pat = app.user("farmer-pat", Role::Farmer, Some(A)).await;
    let p2 = ok(
        &app,
        "/api/clinic/patients",
        &w.vdoc_a.1,
        json!({"name": "张三", "sex": "male",
        "birth_date": "1980-01-01", "village": A, "user": "farmer-pat"}),
    )
    .await["id"]
        .as_i64()
        .unwrap();
    let k2 = ok(
        &app,
        "/api/clinic/consults",
        &w.vdoc_a.1,
        json!({"patient_id": p2, "department": "外科", "complaint": "腿疼"}),
    )
    .await["id"]
        .as_i64()
        .unwrap();
    check(
        &app,
        "farmer patient (own record)",
        &farmer_pat,
        p2,
        k2,
        true,
        &mut bad,
    )
    .await;
    check(
        &app,
        "farmer patient (a neighbour's record)",
        &farmer_pat,
        pa,
        ka,
        false,
        &mut bad,
    )
    .await;
    check(
        &app,
        "villager patient (own record)",
        &w.pat_a_user.1,
        pa,
        ka,
        true,
        &mut bad,
    )
    .await;
    check(
        &app,
        "villager patient (other village)",
        &w.pat_a_user.1,
        pb,
        kb,
        false,
        &mut bad,
    )
    .await;
    check(
        &app,
        "villager patient (same village, not theirs)",
        &w.pat_a_user.1,
        p2,
        k2,
        false,
        &mut bad,
    )
    .await;

    // County doctors: not assigned → nothing of the record; the waiting consult
    // of their own department is readable (to take it), the record is not.
    for (who, token, p, k) in [
        ("内科, unassigned", &w.cdoc.1, pa, ka),
        ("外科, unassigned", &w.surgeon.1, pb, kb),
    ] {
        let mut rest = reads(p, k);
        let consult = rest.remove(1);
        for path in rest {
            let got = app.get(&path, token).await.status;
            if got != 404 {
                bad.push(format!("{who} GET {path}: {got}, want 404"));
            }
        }
        let want = if who.starts_with("内科") { 200 } else { 404 };
        let got = app.get(&consult, token).await.status;
        if got != want {
            bad.push(format!("{who} GET {consult} (waiting): {got}, want {want}"));
        }
    }
    // 内科 takes village B's consult: now assigned to B's patient (whole record), still not A's.
    let (s, v) = app
        .post_json(
            &format!("/api/clinic/consults/{kb}/accept"),
            &w.cdoc.1,
            json!({}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    check(
        &app,
        "内科, assigned in village B",
        &w.cdoc.1,
        pb,
        kb,
        true,
        &mut bad,
    )
    .await;
    let got = app
        .get(&format!("/api/clinic/patients/{pa}"), &w.cdoc.1)
        .await
        .status;
    if got != 404 {
        bad.push(format!("内科 assigned elsewhere reads A's record: {got}"));
    }
    // Village B's doctor still cannot read A's, and A's doctor not B's, assigned or not.
    check(
        &app,
        "village B doctor on A",
        &w.vdoc_b.1,
        pa,
        ka,
        false,
        &mut bad,
    )
    .await;
    check(
        &app,
        "village A doctor on B",
        &w.vdoc_a.1,
        pb,
        kb,
        false,
        &mut bad,
    )
    .await;
    // 外科 stays out of the consult it was never in, now taken.
    check(
        &app,
        "外科 on taken B",
        &w.surgeon.1,
        pb,
        kb,
        false,
        &mut bad,
    )
    .await;

    // Writes: only the consult's doctors.
    let note = json!({"diagnosis": "上呼吸道感染", "icd10": "J06.9"});
    for (who, token, want) in [
        ("村 A doctor", &w.vdoc_a.1, 404),
        ("外科", &w.surgeon.1, 404),
        ("patient", &w.pat_b_user.1, 403),
        ("admin", &app.admin_token.clone(), 403),
        ("内科 (assigned)", &w.cdoc.1, 201),
        ("村 B doctor", &w.vdoc_b.1, 201),
    ] {
        let (s, v) = app
            .post_json(
                &format!("/api/clinic/consults/{kb}/notes"),
                token,
                note.clone(),
            )
            .await;
        if s != want {
            bad.push(format!(
                "{who} writes a note on B's consult: {s} {v}, want {want}"
            ));
        }
    }
    assert!(
        bad.is_empty(),
        "{} mismatches:\n{}",
        bad.len(),
        bad.join("\n")
    );
    let _ = B;
}

/// Regression (review of issue 11): a patient's linked account reads the whole
/// record and joins calls, so only a resident of the patient's village may be
/// linked — never a doctor, county staff, an admin or another village's
/// account. Each is refused by field `user` and nothing is written.
#[tokio::test]
async fn a_patient_account_link_is_limited_to_residents_of_the_village() {
    let app = spawn_app().await;
    let w = world(&app).await;
    app.user("county-x", Role::CountyStaff, None).await;
    let far_away = app.user("far-away", Role::Farmer, Some(B)).await;
    app.user("nurse-a", Role::Doctor, Some(A)).await;
    let before = app.get("/api/clinic/patients", &w.vdoc_a.1).await.json();
    for who in [
        "vdoc-b", "nurse-a", "surgeon", "county-x", "admin", "far-away",
    ] {
        let (s, e) = app
            .post_json(
                "/api/clinic/patients",
                &w.vdoc_a.1,
                json!({"name": "赵六", "sex": "male", "birth_date": "1990-01-01",
                       "village": A, "user": who}),
            )
            .await;
        assert_eq!((s, e["field"].as_str()), (400, Some("user")), "{who}: {e}");
    }
    assert_eq!(
        app.get("/api/clinic/patients", &w.vdoc_a.1).await.json(),
        before,
        "nothing written"
    );
    // A resident of the village (any resident role) is linked.
    let farmer_a = app.user("farmer-a", Role::Farmer, Some(A)).await;
    // Not linked yet: a farmer gets no TURN credentials.
    assert_eq!(
        app.get("/api/clinic/ice-servers", &farmer_a).await.status,
        403
    );
    let (s, p) = app
        .post_json(
            "/api/clinic/patients",
            &w.vdoc_a.1,
            json!({"name": "赵六", "sex": "male", "birth_date": "1990-01-01",
                   "village": A, "user": "farmer-a"}),
        )
        .await;
    assert_eq!(s, 201, "{p}");
    // Linked, the farmer is a call member of their consults, so gets the
    // relay (regression: 403 for any role but doctor and villager).
    let r = app.get("/api/clinic/ice-servers", &farmer_a).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        app.get("/api/clinic/ice-servers", &far_away).await.status,
        403
    );
}
