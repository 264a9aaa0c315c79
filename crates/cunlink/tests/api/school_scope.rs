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
    // A timetable holds at most 100 slots (what a read shows); the 101st is refused.
    for i in 2..100 {
        let (st, _) = post(
            &app,
            &a,
            &format!("/api/school/pairings/{pairing}/timetable"),
            json!({"weekday": 1 + i % 7, "start": format!("{:02}:{:02}", i / 7, i % 60), "subject": "x"}),
        )
        .await;
        assert_eq!(st, 201);
    }
    let (st, v) = post(
        &app,
        &a,
        &format!("/api/school/pairings/{pairing}/timetable"),
        slot,
    )
    .await;
    assert_eq!(
        (st, v["error"].as_str()),
        (400, Some("too_many_slots")),
        "{v}"
    );
}

#[tokio::test]
async fn enrolment_and_class_members_stay_in_the_village() {
    let app = spawn_app().await;
    let a = app.user("teacher_a", Role::Teacher, Some("茶香村")).await;
    let b = app.user("teacher_b", Role::Teacher, Some("竹林村")).await;
    app.user("near", Role::Villager, Some("茶香村")).await;
    app.user("far", Role::Villager, Some("竹林村")).await;
    let (st, c) = post(
        &app,
        &a,
        "/api/school/courses",
        json!({"title": "网购防骗", "audience": "villagers"}),
    )
    .await;
    assert_eq!(st, 201, "{c}");
    let course = c["id"].as_i64().unwrap();
    let enrol = format!("/api/school/courses/{course}/enrolments");
    let a_class = class(&app, &a, "茶香村小学").await;
    let b_class = class(&app, &b, "竹林村小学").await;

    // Class members: another village's user answers exactly like nobody.
    let members = format!("/api/school/classes/{a_class}/members");
    let (st_far, far) = post(&app, &a, &members, json!({"username": "far"})).await;
    let (st_none, none) = post(&app, &a, &members, json!({"username": "nobody"})).await;
    assert_eq!((st_far, st_none), (400, 400));
    assert_eq!(
        (far["error"].clone(), far["field"].clone()),
        (none["error"].clone(), none["field"].clone())
    );
    assert_eq!(
        far["message"].as_str().unwrap().replace("far", "?"),
        none["message"].as_str().unwrap().replace("nobody", "?")
    );
    let (st, v) = post(&app, &a, &members, json!({"username": "near"})).await;
    assert_eq!(st, 200, "{v}");

    // Enrolment: another village's user or class is refused, like unknown ones.
    let (st, v) = post(&app, &a, &enrol, json!({"username": "far"})).await;
    assert_eq!((st, v["field"].as_str()), (400, Some("username")), "{v}");
    let (st, v) = post(&app, &a, &enrol, json!({"class_id": b_class})).await;
    assert_eq!((st, v["field"].as_str()), (400, Some("class_id")), "{v}");
    let (st, v) = post(&app, &a, &enrol, json!({"username": "near"})).await;
    assert_eq!(st, 200, "{v}");
    let (st, v) = post(&app, &a, &enrol, json!({"class_id": a_class})).await;
    assert_eq!(st, 200, "{v}");
    // Only the village's learners are on the course: "near", in person and by class.
    let v = app
        .get(&format!("/api/school/courses/{course}/progress"), &a)
        .await
        .json();
    let names: Vec<&str> = v["learners"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|l| l["username"].as_str())
        .collect();
    assert!(names.contains(&"near") && !names.contains(&"far"), "{v}");
}
