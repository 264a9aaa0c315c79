//! Lookups scoped to the caller's village: a teacher pairs and times only the
//! classes they teach, enrols and adds members only of their own village, and
//! cannot tell another village's usernames from names nobody has.

use serde_json::{Value, json};

use crate::common::{TestApp, spawn_app};
use cunlink_core::auth::Role;

async fn post(app: &TestApp, token: &str, path: &str, body: Value) -> (u16, Value) {
    app.post_json(path, token, body).await
}

async fn class(app: &TestApp, token: &str, name: &str) -> i64 {
    let (st, v) = post(
        app,
        token,
        "/api/school/classes",
        json!({"name": name, "school": name}),
    )
    .await;
    assert_eq!(st, 201, "{v}");
    v["id"].as_i64().unwrap()
}

#[tokio::test]
async fn only_the_city_teacher_or_county_staff_pairs_and_times_a_class() {
    let app = spawn_app().await;
    let a = app.user("teacher_a", Role::Teacher, Some("茶香村")).await;
    let b = app.user("teacher_b", Role::Teacher, Some("竹林村")).await;
    let staff = app.user("staff", Role::CountyStaff, None).await;
    let a_class = class(&app, &a, "茶香村小学").await;
    let b_class = class(&app, &b, "竹林村小学").await;

    // Teacher B names A's class as the city class (to hear A's classroom): 403.
    let (st, v) = post(
        &app,
        &b,
        "/api/school/pairings",
        json!({"name": "x", "city_class_id": a_class, "rural_class_ids": [b_class]}),
    )
    .await;
    assert_eq!(st, 403, "{v}");
    // Teacher A pairs their own class; county staff may pair any.
    let (st, v) = post(
        &app,
        &a,
        "/api/school/pairings",
        json!({"name": "x", "city_class_id": a_class, "rural_class_ids": [b_class]}),
    )
    .await;
    assert_eq!(st, 201, "{v}");
    let pairing = v["id"].as_i64().unwrap();
    let (st, v) = post(
        &app,
        &staff,
        "/api/school/pairings",
        json!({"name": "y", "city_class_id": b_class, "rural_class_ids": [a_class]}),
    )
    .await;
    assert_eq!(st, 201, "{v}");

    // Only A (or county staff) changes the timetable of A's pairing.
    let slot = json!({"weekday": 2, "start": "09:00", "subject": "数学"});
    let (st, v) = post(
        &app,
        &b,
        &format!("/api/school/pairings/{pairing}/timetable"),
        slot.clone(),
    )
    .await;
    assert_eq!(st, 403, "{v}");
    let v = app
        .get(&format!("/api/school/pairings/{pairing}"), &a)
        .await
        .json();
    assert_eq!(v["pairing"]["slots"].as_array().unwrap().len(), 0);
    for t in [&a, &staff] {
        let (st, v) = post(
            &app,
            t,
            &format!("/api/school/pairings/{pairing}/timetable"),
            slot.clone(),
        )
        .await;
        assert_eq!(st, 201, "{v}");
    }
}
