//! Courses: quizzes scored with feedback, enrolment by class and by person,
//! progress; learning statements sent upstream by the real sender and counted
//! once however often they arrive; SCORM 1.2 import and its completion; bad
//! input (a quiz answer for another course, a zip without manifest, zip slip).

use std::time::Duration;

use serde_json::{Value, json};

use crate::common::{TestApp, request, spawn_app, spawn_app_with};
use cunlink_core::auth::Role;

/// A zip of `files` (stored, no compression), written here so the test needs
/// no zip library.
pub fn zip(files: &[(&str, &[u8])]) -> Vec<u8> {
    fn crc32(d: &[u8]) -> u32 {
        let mut c = 0xffff_ffffu32;
        for &b in d {
            c ^= b as u32;
            for _ in 0..8 {
                c = if c & 1 != 0 {
                    (c >> 1) ^ 0xedb8_8320
                } else {
                    c >> 1
                };
            }
        }
        !c
    }
    let mut out = Vec::new();
    let mut central = Vec::new();
    for (name, data) in files {
        let off = out.len() as u32;
        let crc = crc32(data);
        let head = |sig: u32, central: bool| {
            let mut h = Vec::new();
            h.extend_from_slice(&sig.to_le_bytes());
            if central {
                h.extend_from_slice(&20u16.to_le_bytes());
            }
            h.extend_from_slice(&20u16.to_le_bytes());
            h.extend_from_slice(&0u16.to_le_bytes()); // flags
            h.extend_from_slice(&0u16.to_le_bytes()); // stored
            h.extend_from_slice(&0u32.to_le_bytes()); // time, date
            h.extend_from_slice(&crc.to_le_bytes());
            h.extend_from_slice(&(data.len() as u32).to_le_bytes());
            h.extend_from_slice(&(data.len() as u32).to_le_bytes());
            h.extend_from_slice(&(name.len() as u16).to_le_bytes());
            h.extend_from_slice(&0u16.to_le_bytes());
            if central {
                h.extend_from_slice(&[0u8; 10]); // comment length, disk, attributes
                h.extend_from_slice(&off.to_le_bytes());
            }
            h.extend_from_slice(name.as_bytes());
            h
        };
        out.extend(head(0x0403_4b50, false));
        out.extend_from_slice(data);
        central.extend(head(0x0201_4b50, true));
    }
    let cd_off = out.len() as u32;
    let cd_len = central.len() as u32;
    out.extend(central);
    out.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
    out.extend_from_slice(&[0u8; 4]);
    out.extend_from_slice(&(files.len() as u16).to_le_bytes());
    out.extend_from_slice(&(files.len() as u16).to_le_bytes());
    out.extend_from_slice(&cd_len.to_le_bytes());
    out.extend_from_slice(&cd_off.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out
}

const MANIFEST: &str = r#"<?xml version="1.0"?><manifest identifier="m"><organizations><organization><title>网络安全</title></organization></organizations>
<resources><resource identifier="r1" type="webcontent" adlcp:scormtype="sco" href="index.html"><file href="index.html"/></resource></resources></manifest>"#;

async fn post(app: &TestApp, token: &str, path: &str, body: Value) -> (u16, Value) {
    app.post_json(path, token, body).await
}

fn quiz() -> Value {
    json!({"kind": "quiz", "title": "直播小测", "questions": [
        {"kind": "single", "prompt": "直播前要做什么？", "options": ["试播", "不用准备"], "answer": [0],
         "feedback_right": "对，先试播。", "feedback_wrong": "要先试播，检查网络和灯光。"},
        {"kind": "multiple", "prompt": "哪些能提高信任？", "options": ["展示产地", "夸大效果", "讲清价格"], "answer": [0, 2]},
        {"kind": "fill", "prompt": "茶叶按什么卖？", "answer": ["斤", "500g"]}
    ]})
}

#[tokio::test]
async fn quizzes_enrolment_progress_and_bad_answers() {
    let app = spawn_app().await;
    let teacher = app.user("teacher", Role::Teacher, Some("茶香村")).await;
    let v1 = app.user("villager1", Role::Villager, Some("茶香村")).await;
    let v2 = app.user("villager2", Role::Villager, Some("茶香村")).await;
    let outsider = app.user("villager3", Role::Villager, Some("茶香村")).await;
    let (st, c) = post(
        &app,
        &teacher,
        "/api/school/courses",
        json!({"title": "用直播卖农产品", "audience": "villagers"}),
    )
    .await;
    assert_eq!(st, 201, "{c}");
    let course = c["id"].as_i64().unwrap();
    let (_, other) = post(
        &app,
        &teacher,
        "/api/school/courses",
        json!({"title": "AI 工具入门", "audience": "villagers"}),
    )
    .await;
    let other = other["id"].as_i64().unwrap();
    let (st, l) = post(
        &app,
        &teacher,
        &format!("/api/school/courses/{course}/items"),
        json!({"kind": "lesson", "title": "手机支架和灯光", "body": "……"}),
    )
    .await;
    assert_eq!(st, 201, "{l}");
    let lesson = l["id"].as_i64().unwrap();
    let (st, q) = post(
        &app,
        &teacher,
        &format!("/api/school/courses/{course}/items"),
        quiz(),
    )
    .await;
    assert_eq!(st, 201, "{q}");
    let q = q["id"].as_i64().unwrap();
    let (_, q_other) = post(
        &app,
        &teacher,
        &format!("/api/school/courses/{other}/items"),
        quiz(),
    )
    .await;
    let q_other = q_other["id"].as_i64().unwrap();

    // A learner sees the questions, never the answers.
    let shown = app
        .get(&format!("/api/school/courses/{course}"), &v1)
        .await
        .json();
    assert!(shown["items"][1]["questions"][0].get("answer").is_none());

    // Enrol villager1 by class, villager2 in person.
    let (st, cl) = post(
        &app,
        &teacher,
        "/api/school/classes",
        json!({"name": "电商班", "school": "茶香村小学"}),
    )
    .await;
    assert_eq!(st, 201);
    let class = cl["id"].as_i64().unwrap();
    let (st, _) = post(
        &app,
        &teacher,
        &format!("/api/school/classes/{class}/members"),
        json!({"username": "villager1"}),
    )
    .await;
    assert_eq!(st, 200);
    let (st, _) = post(
        &app,
        &teacher,
        &format!("/api/school/courses/{course}/enrolments"),
        json!({"class_id": class}),
    )
    .await;
    assert_eq!(st, 200);
    let (st, _) = post(
        &app,
        &teacher,
        &format!("/api/school/courses/{course}/enrolments"),
        json!({"username": "villager2"}),
    )
    .await;
    assert_eq!(st, 200);

    // villager1: all right; villager2: one right, with the feedback.
    let (st, a) = post(
        &app,
        &v1,
        &format!("/api/school/courses/{course}/answers"),
        json!({"item_id": q, "answers": [[0], [2, 0], "斤"]}),
    )
    .await;
    assert_eq!(st, 200, "{a}");
    assert_eq!(
        (a["score"].clone(), a["max_score"].clone()),
        (json!(3), json!(3))
    );
    assert_eq!(a["feedback"][0]["feedback"], "对，先试播。");
    let uuid = "0f8fad5b-d9cb-469f-a165-70867728950e";
    let body = json!({"item_id": q, "answers": [[1], [0, 2], " 500G "], "uuid": uuid});
    let (_, a) = post(
        &app,
        &v2,
        &format!("/api/school/courses/{course}/answers"),
        body.clone(),
    )
    .await;
    assert_eq!(a["score"], 2);
    assert_eq!(a["feedback"][0]["right"], false);
    assert_eq!(a["feedback"][0]["feedback"], "要先试播，检查网络和灯光。");
    assert_eq!(a["new"], true);
    // The same statement again (a resend): counted once.
    let (_, a) = post(
        &app,
        &v2,
        &format!("/api/school/courses/{course}/answers"),
        body,
    )
    .await;
    assert_eq!(a["new"], false);
    let (st, _) = post(
        &app,
        &v1,
        &format!("/api/school/courses/{course}/completions"),
        json!({"item_id": lesson}),
    )
    .await;
    assert_eq!(st, 200);

    // Bad input: a quiz of another course, a missing answer, a stranger.
    let (st, e) = post(
        &app,
        &v1,
        &format!("/api/school/courses/{course}/answers"),
        json!({"item_id": q_other, "answers": [[0], [0], "x"]}),
    )
    .await;
    assert_eq!(
        (st, e["error"].clone(), e["field"].clone()),
        (400, json!("not_in_course"), json!("item_id"))
    );
    let (st, e) = post(
        &app,
        &v1,
        &format!("/api/school/courses/{course}/answers"),
        json!({"item_id": q, "answers": [[0]]}),
    )
    .await;
    assert_eq!((st, e["field"].clone()), (400, json!("answers")));
    let (st, _) = post(
        &app,
        &outsider,
        &format!("/api/school/courses/{course}/answers"),
        json!({"item_id": q, "answers": [[0], [0], "x"]}),
    )
    .await;
    assert_eq!(st, 403);
    let (st, e) = post(&app, &teacher, &format!("/api/school/courses/{course}/items"), json!({"kind": "quiz", "title": "x", "questions": [{"kind": "single", "prompt": "p", "options": ["a", "b"], "answer": [5]}]})).await;
    assert_eq!(
        (st, e["field"].clone()),
        (400, json!("questions[0].answer"))
    );
    let (st, _) = post(
        &app,
        &teacher,
        "/api/school/courses/999/items",
        json!({"kind": "lesson", "title": "x"}),
    )
    .await;
    assert_eq!(st, 404);

    // Scores per learner: nothing from the refused answers.
    let p = app
        .get(&format!("/api/school/courses/{course}/progress"), &teacher)
        .await
        .json();
    let mut rows: Vec<(String, i64, i64, i64)> = p["learners"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["username"].as_str().unwrap().to_string(),
                r["items_done"].as_i64().unwrap(),
                r["score"].as_i64().unwrap(),
                r["max_score"].as_i64().unwrap(),
            )
        })
        .collect();
    rows.sort();
    assert_eq!(
        rows,
        vec![("villager1".into(), 2, 3, 3), ("villager2".into(), 1, 2, 3)]
    );
    // A learner sees only their own row.
    let p = app
        .get(&format!("/api/school/courses/{course}/progress"), &v2)
        .await
        .json();
    assert_eq!(p["learners"].as_array().unwrap().len(), 1);

    // The pages: the course with its quiz form, and the teacher's progress.
    let cookie = app.session("teacher", "a-password").await;
    let r = request(
        app.http,
        "GET",
        &format!("/school/courses/{course}/progress"),
        &[("cookie", &cookie)],
        vec![],
    )
    .await;
    assert_eq!(r.status, 200);
    assert!(r.text().contains("villager2"));
    let r = request(
        app.http,
        "GET",
        &format!("/school/courses/{course}"),
        &[("cookie", &cookie)],
        vec![],
    )
    .await;
    assert!(r.text().contains("直播前要做什么？") && !r.text().contains("对，先试播"));
}

#[tokio::test]
async fn statements_reach_the_upstream_once() {
    let hub = spawn_app().await;
    let hub_token = hub
        .user("node-chaxiang", Role::Teacher, Some("茶香村"))
        .await;
    let url = format!("http://{}", hub.http);
    let node = spawn_app_with(move |c| {
        c.school.upstream = Some(url);
        c.school.upstream_token = Some(hub_token);
    })
    .await;
    let teacher = node.user("teacher", Role::Teacher, Some("茶香村")).await;
    let (_, c) = post(
        &node,
        &teacher,
        "/api/school/courses",
        json!({"title": "教师培训：课堂提问", "audience": "teachers"}),
    )
    .await;
    let course = c["id"].as_i64().unwrap();
    let (_, q) = post(
        &node,
        &teacher,
        &format!("/api/school/courses/{course}/items"),
        quiz(),
    )
    .await;
    let q = q["id"].as_i64().unwrap();
    let (st, a) = post(
        &node,
        &teacher,
        &format!("/api/school/courses/{course}/answers"),
        json!({"item_id": q, "answers": [[0], [0, 2], "斤"]}),
    )
    .await;
    assert_eq!(st, 200, "{a}");

    // Watermark: the hub counts one statement from 茶香村.
    let admin = hub.admin_token.clone();
    let count = || async {
        let v = hub.get("/api/school/statements", &admin).await.json();
        v["counts"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["node"] == "茶香村")
            .map(|r| r["count"].as_i64().unwrap())
            .sum::<i64>()
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while count().await < 1 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the statement never reached the hub"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The node's ack was lost: it sends the same statement again.
    let st = json!({"uuid": a["uuid"], "actor": "teacher", "verb": "answered", "score": 3, "max_score": 3, "at": 1});
    let hub_token2 = hub.user("node-2", Role::Teacher, Some("茶香村")).await;
    let (s, v) = post(
        &hub,
        &hub_token2,
        "/api/school/statements",
        json!({"statements": [st.clone(), st]}),
    )
    .await;
    assert_eq!(
        (s, v["received"].clone(), v["applied"].clone()),
        (200, json!(2), json!(0))
    );
    assert_eq!(count().await, 1);
    // A villager may not post statements.
    let villager = hub.user("v", Role::Villager, Some("茶香村")).await;
    let (s, _) = post(
        &hub,
        &villager,
        "/api/school/statements",
        json!({"statements": []}),
    )
    .await;
    assert_eq!(s, 403);
}

#[tokio::test]
async fn scorm_package_import_play_calls_and_bad_zips() {
    let app = spawn_app().await;
    let teacher = app.user("teacher", Role::Teacher, Some("县城")).await;
    let learner = app.user("learner", Role::Teacher, Some("县城")).await;
    let (_, c) = post(
        &app,
        &teacher,
        "/api/school/courses",
        json!({"title": "教师培训", "audience": "teachers"}),
    )
    .await;
    let course = c["id"].as_i64().unwrap();
    let (st, _) = post(
        &app,
        &teacher,
        &format!("/api/school/courses/{course}/enrolments"),
        json!({"username": "learner"}),
    )
    .await;
    assert_eq!(st, 200);
    let auth = format!("Bearer {teacher}");
    let upload = |body: Vec<u8>| {
        let auth = auth.clone();
        let addr = app.http;
        async move {
            request(
                addr,
                "POST",
                &format!("/api/school/courses/{course}/scorm"),
                &[
                    ("authorization", &auth),
                    ("content-type", "application/zip"),
                ],
                body,
            )
            .await
        }
    };
    let items = || async {
        app.get(&format!("/api/school/courses/{course}"), &teacher)
            .await
            .json()["items"]
            .as_array()
            .unwrap()
            .len()
    };

    // Refused, nothing stored: no manifest; a path out of its folder; not a zip.
    let r = upload(zip(&[("index.html", b"<p>hi</p>")])).await;
    assert_eq!(
        (r.status, r.json()["error"].clone()),
        (400, json!("no_manifest")),
        "{}",
        r.text()
    );
    let r = upload(zip(&[
        ("imsmanifest.xml", MANIFEST.as_bytes()),
        ("../../evil.html", b"x"),
    ]))
    .await;
    assert_eq!(
        (r.status, r.json()["error"].clone()),
        (400, json!("zip_slip")),
        "{}",
        r.text()
    );
    let r = upload(b"not a zip".to_vec()).await;
    assert_eq!(r.status, 400);
    assert_eq!(items().await, 0);
    assert!(!app.dir.0.join("evil.html").exists() && !app.dir.0.join("school/evil.html").exists());

    // A good package.
    let index = b"<html><script>var a=parent.API;a.LMSInitialize('');a.LMSSetValue('cmi.core.lesson_status','completed');a.LMSCommit('');</script></html>";
    let r = upload(zip(&[
        ("imsmanifest.xml", MANIFEST.as_bytes()),
        ("index.html", index),
        ("css/a.css", b"p{}"),
    ]))
    .await;
    assert_eq!(r.status, 201, "{}", r.text());
    let item = r.json()["item_id"].as_i64().unwrap();
    let launch = r.json()["launch"].as_str().unwrap().to_string();
    assert_eq!(launch, format!("/api/school/scorm/{item}/index.html"));
    let f = app.get(&launch, &learner).await;
    assert_eq!((f.status, f.body.as_slice()), (200, &index[..]));
    assert_eq!(
        app.get(&format!("/api/school/scorm/{item}/css/a.css"), &learner)
            .await
            .status,
        200
    );
    assert_eq!(
        app.get(
            &format!("/api/school/scorm/{item}/..%2F..%2Fcunlink.db"),
            &learner
        )
        .await
        .status,
        404
    );

    // The runtime's calls as the player page posts them; completion recorded.
    let calls = json!({"calls": [
        {"call": "LMSInitialize"},
        {"call": "LMSSetValue", "element": "cmi.core.lesson_status", "value": "passed"},
        {"call": "LMSSetValue", "element": "cmi.core.score.raw", "value": "85"},
        {"call": "LMSCommit"}, {"call": "LMSFinish"}]});
    let (st, v) = post(
        &app,
        &learner,
        &format!("/api/school/scorm/{item}/calls"),
        calls,
    )
    .await;
    assert_eq!(
        (st, v["recorded"].clone(), v["completed"].clone()),
        (200, json!(5), json!(true)),
        "{v}"
    );
    let p = app
        .get(&format!("/api/school/courses/{course}/progress"), &learner)
        .await
        .json();
    assert_eq!(p["learners"][0]["items_done"], 1);
    // The package reports completion again (every commit does): still one
    // completed statement; a non-finite score is refused and changes nothing.
    let count = || {
        app.db_conn()
            .query_row(
                "SELECT count(*), max(score), max(max_score) FROM school_statements
                 WHERE verb = 'completed' AND item_id = $1",
                [item],
                |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, i64>(1)?,
                        r.get::<_, i64>(2)?,
                    ))
                },
            )
            .unwrap()
    };
    assert_eq!(count(), (1, 85, 100));
    let again = json!({"calls": [
        {"call": "LMSSetValue", "element": "cmi.core.lesson_status", "value": "completed"},
        {"call": "LMSSetValue", "element": "cmi.core.score.raw", "value": "150"},
        {"call": "LMSCommit"}]});
    let (st, v) = post(
        &app,
        &learner,
        &format!("/api/school/scorm/{item}/calls"),
        again,
    )
    .await;
    assert_eq!((st, v["completed"].clone()), (200, json!(true)), "{v}");
    assert_eq!(count(), (1, 85, 100));
    let inf = json!({"calls": [
        {"call": "LMSSetValue", "element": "cmi.core.lesson_status", "value": "passed"},
        {"call": "LMSSetValue", "element": "cmi.core.score.raw", "value": "inf"}]});
    let (st, v) = post(
        &app,
        &learner,
        &format!("/api/school/scorm/{item}/calls"),
        inf,
    )
    .await;
    assert_eq!(
        (st, v["field"].clone()),
        (400, json!("cmi.core.score.raw")),
        "{v}"
    );
    assert_eq!(count(), (1, 85, 100));
    // The player page loads the vendored runtime.
    let cookie = app.session("learner", "a-password").await;
    let r = request(
        app.http,
        "GET",
        &format!("/school/courses/{course}/scorm/{item}"),
        &[("cookie", &cookie)],
        vec![],
    )
    .await;
    assert_eq!(r.status, 200);
    let page = r.text();
    let src = page
        .split("<script src=\"")
        .filter_map(|s| s.split('"').next())
        .find(|s| s.ends_with("/scorm.js"))
        .expect("the runtime's script tag")
        .to_string();
    let js = request(app.http, "GET", &src, &[], vec![]).await;
    assert_eq!(js.status, 200);
    assert!(js.text().contains("Scorm12API") && js.text().contains("/api/school/scorm/"));
}

#[tokio::test]
async fn demo_school_has_its_channel_courses_and_playable_media() {
    let app = spawn_app_with(|c| c.demo = true).await;
    let teacher = app.user("t-demo", Role::Teacher, Some("茶香村")).await;
    let v = app.get("/api/school/channels", &teacher).await.json();
    let ch = &v["channels"][0];
    assert_eq!(ch["name"], "县城第一小学 · 三年级");
    assert_eq!(ch["version"], 1);
    let id = ch["id"].as_i64().unwrap();
    let files = app
        .get(&format!("/api/school/channels/{id}"), &teacher)
        .await
        .json();
    let files = files["files"].as_array().unwrap();
    assert_eq!(files.len(), 5);
    for f in files {
        let r = app
            .get(
                &format!("/api/school/content/{}", f["sha256"].as_str().unwrap()),
                &teacher,
            )
            .await;
        assert_eq!(r.status, 200);
        assert_eq!(
            crate::school_channels::sha_hex(&r.body),
            f["sha256"].as_str().unwrap()
        );
    }
    let courses = app.get("/api/school/courses", &teacher).await.json();
    let titles: Vec<&str> = courses["courses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["title"].as_str().unwrap())
        .collect();
    assert!(titles.contains(&"用直播卖农产品"), "{titles:?}");
    assert!(
        titles.iter().any(|t| t.starts_with("教师培训")),
        "{titles:?}"
    );
    // The library page lists the lessons by topic.
    let cookie = app.session("t-demo", "a-password").await;
    let r = request(
        app.http,
        "GET",
        &format!("/school/channels/{id}"),
        &[("cookie", &cookie)],
        vec![],
    )
    .await;
    assert_eq!(r.status, 200);
    assert!(r.text().contains("认识钟表.html") && r.text().contains("数学"));
}

#[tokio::test]
async fn pairings_and_their_timetable() {
    let app = spawn_app().await;
    let t = app.user("teacher", Role::Teacher, Some("县城")).await;
    let mut classes = Vec::new();
    for (n, s) in [
        ("三年级(1)班", "县城第一小学"),
        ("三年级", "茶香村小学"),
        ("三年级", "竹林村小学"),
        ("三年级", "石桥村小学"),
        ("三年级", "溪口村小学"),
    ] {
        let (st, v) = post(
            &app,
            &t,
            "/api/school/classes",
            json!({"name": n, "school": s}),
        )
        .await;
        assert_eq!(st, 201);
        classes.push(v["id"].as_i64().unwrap());
    }
    let bad = [
        (
            json!({"name": "x", "city_class_id": classes[0], "rural_class_ids": [classes[1], classes[2], classes[3], classes[4]]}),
            "rural_class_ids",
        ),
        (
            json!({"name": "x", "city_class_id": classes[0], "rural_class_ids": [classes[0]]}),
            "rural_class_ids",
        ),
        (
            json!({"name": "x", "city_class_id": classes[0], "rural_class_ids": []}),
            "rural_class_ids",
        ),
        (
            json!({"name": "x", "city_class_id": 999, "rural_class_ids": [classes[1]]}),
            "city_class_id",
        ),
    ];
    for (body, field) in bad {
        let (st, v) = post(&app, &t, "/api/school/pairings", body.clone()).await;
        assert_eq!((st, v["field"].as_str()), (400, Some(field)), "{body}: {v}");
    }
    let (st, v) = post(&app, &t, "/api/school/pairings", json!({"name": "县城第一小学 × 茶香村小学", "city_class_id": classes[0], "rural_class_ids": [classes[1], classes[2]]})).await;
    assert_eq!(st, 201, "{v}");
    let id = v["id"].as_i64().unwrap();
    let (st, e) = post(
        &app,
        &t,
        &format!("/api/school/pairings/{id}/timetable"),
        json!({"weekday": 8, "start": "10:00", "subject": "语文"}),
    )
    .await;
    assert_eq!((st, e["field"].clone()), (400, json!("weekday")));
    let (st, e) = post(
        &app,
        &t,
        &format!("/api/school/pairings/{id}/timetable"),
        json!({"weekday": 3, "start": "25:00", "subject": "语文"}),
    )
    .await;
    assert_eq!((st, e["field"].clone()), (400, json!("start")));
    let (st, e) = post(
        &app,
        &t,
        &format!("/api/school/pairings/{id}/timetable"),
        json!({"weekday": 3, "start": "10:00", "subject": "语文", "channel_id": 999}),
    )
    .await;
    assert_eq!((st, e["field"].clone()), (400, json!("channel_id")));
    let (_, ch) = post(
        &app,
        &t,
        "/api/school/channels",
        json!({"name": "三年级语文"}),
    )
    .await;
    let (st, _) = post(
        &app,
        &t,
        &format!("/api/school/pairings/{id}/timetable"),
        json!({"weekday": 3, "start": "10:00", "subject": "语文：静夜思", "channel_id": ch["id"]}),
    )
    .await;
    assert_eq!(st, 201);
    let v = app
        .get(&format!("/api/school/pairings/{id}"), &t)
        .await
        .json();
    assert_eq!(v["pairing"]["classes"].as_array().unwrap().len(), 3);
    assert_eq!(v["next"]["slot"]["subject"], "语文：静夜思");
    let starts = v["next"]["starts_at"].as_i64().unwrap();
    let now = cunlink_core::time::now_ms();
    assert!(starts >= now - 1000 && starts <= now + 7 * 86_400_000);
    let cookie = app.session("teacher", "a-password").await;
    let r = request(
        app.http,
        "GET",
        "/school/timetable",
        &[("cookie", &cookie)],
        vec![],
    )
    .await;
    assert_eq!(r.status, 200);
    assert!(r.text().contains("县城第一小学 × 茶香村小学") && r.text().contains("10:00"));
}
