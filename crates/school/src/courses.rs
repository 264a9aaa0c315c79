//! Courses (teacher training, villagers' digital skills, students): lessons,
//! quizzes (single and multiple choice, fill-in, with feedback), SCORM 1.2
//! packages, enrolment by class or by person, and progress and scores per
//! learner, all kept as learning statements (see `statements`).

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use bytes::Bytes;
use serde_json::{Value, json};

use cunlink_core::ApiError;
use cunlink_core::auth::User;
use cunlink_core::routes::Routes;
use cunlink_core::web::CurrentUser;

use crate::course_store::{self as cs, Course, Question, Statement};
use crate::error::SchoolError;
use crate::routes::{R, SchoolState, db, tx};
use crate::{access, input, scorm, statements};

const AUDIENCES: [&str; 3] = ["teachers", "villagers", "students"];

pub(crate) fn routes() -> Routes<SchoolState> {
    Routes::new()
        .route("/api/school/courses", get(list).post(create))
        .route("/api/school/courses/{id}", get(show))
        .route("/api/school/courses/{id}/items", post(add_item))
        .route(
            "/api/school/courses/{id}/scorm",
            post(import_scorm).layer(axum::extract::DefaultBodyLimit::max(scorm::MAX_ZIP)),
        )
        .route("/api/school/courses/{id}/enrolments", post(enrol))
        .route("/api/school/courses/{id}/answers", post(answer))
        .route("/api/school/courses/{id}/completions", post(complete))
        .route("/api/school/courses/{id}/progress", get(progress))
        .route("/api/school/classes", post(create_class))
        .route("/api/school/classes/{id}/members", post(add_member))
        .route("/api/school/scorm/{item}/calls", post(scorm_calls))
        .route("/api/school/scorm/{item}/{*path}", get(scorm_file))
        .merge(statements::routes())
}

fn unknown_course(id: i64) -> SchoolError {
    SchoolError::not_found("unknown_course", format!("there is no course {id}"))
}

pub(crate) fn course_or_404(c: &cunlink_core::sql::Connection, id: i64) -> Result<Course, SchoolError> {
    cs::course(c, id)?.ok_or_else(|| unknown_course(id))
}

/// A teacher changes only their own village's courses (county staff any).
fn require_edit(u: &User, course: &Course) -> Result<(), SchoolError> {
    access::require_teach(u, "changing a course")?;
    if u.role.is_county_wide() || course.village_id == u.village_id {
        Ok(())
    } else {
        Err(SchoolError::forbidden(
            "this course belongs to another village",
        ))
    }
}

async fn create(
    State(s): State<SchoolState>,
    CurrentUser(u): CurrentUser,
    body: Bytes,
) -> R<Response> {
    access::require_teach(&u, "creating a course")?;
    let o = input::object(&body)?;
    let title = input::string(&o, "title", 100)?;
    let audience = input::string(&o, "audience", 20)?;
    if !AUDIENCES.contains(&audience.as_str()) {
        return Err(SchoolError::invalid(
            "bad_audience",
            "audience",
            format!("audience is one of {}", AUDIENCES.join(", ")),
        )
        .into());
    }
    let description = input::opt_string(&o, "description", 2000)?.unwrap_or_default();
    let village = if u.role.is_county_wide() {
        None
    } else {
        u.village_id
    };
    let id = tx(&s.0, move |c| {
        // A course made on a village node is its village's (it goes up).
        let village = match cunlink_core::sync::node_self(c)? {
            Some(n) => Some(n.village_id),
            None => village,
        };
        Ok(cs::create_course(
            c,
            &title,
            &audience,
            &description,
            village,
            u.id,
        )?)
    })
    .await?;
    Ok((StatusCode::CREATED, Json(json!({"id": id}))).into_response())
}

async fn list(State(s): State<SchoolState>, CurrentUser(u): CurrentUser) -> R<Json<Value>> {
    access::require_use(&u)?;
    let list = db(&s.0, |c| Ok(cs::courses(c, 500)?)).await?;
    Ok(Json(json!({ "courses": list })))
}

/// A question as a learner sees it: no answer.
fn public_question(q: &Question) -> Value {
    json!({"kind": q.kind, "prompt": q.prompt, "options": q.options})
}

pub(crate) fn questions(item: &cs::Item) -> Vec<Question> {
    item.quiz
        .as_deref()
        .and_then(|q| serde_json::from_str(q).ok())
        .unwrap_or_default()
}

async fn show(
    State(s): State<SchoolState>,
    CurrentUser(u): CurrentUser,
    Path(id): Path<i64>,
) -> R<Json<Value>> {
    access::require_use(&u)?;
    let (course, items) = db(&s.0, move |c| {
        Ok((course_or_404(c, id)?, cs::items(c, id)?))
    })
    .await?;
    let items: Vec<Value> = items
        .iter()
        .map(|i| {
            let mut v = serde_json::to_value(i).unwrap_or(Value::Null);
            if i.kind == "quiz" {
                v["questions"] = questions(i).iter().map(public_question).collect();
            }
            v
        })
        .collect();
    Ok(Json(json!({"course": course, "items": items})))
}

/// Check one question from a request body.
fn parse_question(q: &Value, n: usize) -> Result<Question, SchoolError> {
    let field = |f: &str| format!("questions[{n}].{f}");
    let q: Question = serde_json::from_value(q.clone()).map_err(|e| {
        SchoolError::invalid("bad_question", format!("questions[{n}]"), e.to_string())
    })?;
    match q.kind.as_str() {
        "single" | "multiple" => {
            let idx: Vec<u64> = q
                .answer
                .as_array()
                .map(|a| a.iter().filter_map(Value::as_u64).collect())
                .unwrap_or_default();
            let n_opts = q.options.len() as u64;
            if q.options.len() < 2 || q.options.len() > 10 {
                return Err(SchoolError::invalid(
                    "bad_options",
                    field("options"),
                    "2 to 10 options",
                ));
            }
            if idx.is_empty()
                || idx.len() != q.answer.as_array().map_or(0, Vec::len)
                || idx.iter().any(|&i| i >= n_opts)
                || (q.kind == "single" && idx.len() != 1)
            {
                return Err(SchoolError::invalid(
                    "bad_answer",
                    field("answer"),
                    "answer lists the right options' indexes (one for single choice)",
                ));
            }
        }
        "fill" => {
            let ok = q
                .answer
                .as_array()
                .is_some_and(|a| !a.is_empty() && a.iter().all(Value::is_string));
            if !ok {
                return Err(SchoolError::invalid(
                    "bad_answer",
                    field("answer"),
                    "answer lists the accepted texts",
                ));
            }
        }
        _ => {
            return Err(SchoolError::invalid(
                "bad_kind",
                field("kind"),
                "kind is single, multiple or fill",
            ));
        }
    }
    if q.prompt.trim().is_empty() || q.prompt.chars().count() > 1000 {
        return Err(SchoolError::invalid(
            "bad_prompt",
            field("prompt"),
            "a prompt of 1 to 1000 characters",
        ));
    }
    Ok(q)
}

async fn add_item(
    State(s): State<SchoolState>,
    CurrentUser(u): CurrentUser,
    Path(id): Path<i64>,
    body: Bytes,
) -> R<Response> {
    let o = input::object(&body)?;
    let user = u.clone();
    db(&s.0, move |c| {
        require_edit(&user, &course_or_404(c, id)?)?;
        crate::sync::require_course_owner(c, id)
    })
    .await?;
    let kind = input::string(&o, "kind", 10)?;
    let title = input::string(&o, "title", 200)?;
    let text = input::opt_string(&o, "body", 20_000)?.unwrap_or_default();
    let sha = input::opt_string(&o, "sha256", 64)?;
    if let Some(h) = &sha
        && !crate::content::is_sha(h)
    {
        return Err(SchoolError::invalid(
            "bad_sha256",
            "sha256",
            "sha256 must be 64 hex characters",
        )
        .into());
    }
    let quiz = match kind.as_str() {
        "lesson" => None,
        "quiz" => {
            let qs = o
                .get("questions")
                .and_then(Value::as_array)
                .filter(|a| !a.is_empty() && a.len() <= 100)
                .ok_or_else(|| {
                    SchoolError::invalid(
                        "missing_field",
                        "questions",
                        "a quiz has 1 to 100 questions",
                    )
                })?;
            let parsed = qs
                .iter()
                .enumerate()
                .map(|(i, q)| parse_question(q, i))
                .collect::<Result<Vec<_>, _>>()?;
            Some(serde_json::to_string(&parsed).unwrap_or_default())
        }
        _ => {
            return Err(SchoolError::invalid(
                "bad_kind",
                "kind",
                "kind is lesson or quiz (SCORM: POST …/scorm)",
            )
            .into());
        }
    };
    let item = tx(&s.0, move |c| {
        Ok(cs::add_item(
            c,
            id,
            &kind,
            &title,
            &text,
            sha.as_deref(),
            quiz.as_deref(),
            None,
        )?)
    })
    .await?;
    Ok((StatusCode::CREATED, Json(json!({"id": item}))).into_response())
}

/// `POST /api/school/courses/{id}/scorm` with the zip as the body.
async fn import_scorm(
    State(s): State<SchoolState>,
    CurrentUser(u): CurrentUser,
    Path(id): Path<i64>,
    body: Bytes,
) -> R<Response> {
    let user = u.clone();
    db(&s.0, move |c| {
        require_edit(&user, &course_or_404(c, id)?)?;
        crate::sync::require_course_owner(c, id)
    })
    .await?;
    let pkg = tokio::task::spawn_blocking(move || scorm::check(&body))
        .await
        .map_err(ApiError::internal)?
        .map_err(|e| {
            let field = "body";
            SchoolError::invalid(
                match e {
                    scorm::ScormError::NoManifest => "no_manifest",
                    scorm::ScormError::ZipSlip(_) => "zip_slip",
                    scorm::ScormError::TooLarge => "too_large",
                    _ => "bad_package",
                },
                field,
                e.to_string(),
            )
        })?;
    let title = pkg.title.clone().unwrap_or_else(|| "SCORM".into());
    let launch = pkg.launch.clone();
    let launch_tail = pkg.launch.clone();
    // Unpack into a fresh folder off the database lock, then add the row and
    // rename the folder to its id in one step: a failure leaves neither.
    let root = s.0.content.partial_dir().with_file_name("scorm");
    let staged = root.join(format!("new-{}", cunlink_core::random::token(12)));
    let staged2 = staged.clone();
    tokio::task::spawn_blocking(move || {
        std::fs::create_dir_all(&root)?;
        scorm::unpack(&pkg, &staged2)
    })
    .await
    .map_err(ApiError::internal)?
    .map_err(SchoolError::from)?;
    let staged3 = staged.clone();
    let added = db(&s.0, move |c| {
        let t = c.transaction()?;
        let item = cs::add_item(&t, id, "scorm", &title, "", None, None, Some(&launch))?;
        let dir = staged3.with_file_name(item.to_string());
        std::fs::rename(&staged3, &dir)?;
        if let Err(e) = t.commit() {
            let _ = std::fs::remove_dir_all(&dir);
            return Err(e.into());
        }
        Ok(item)
    })
    .await;
    let item = match added {
        Ok(i) => i,
        Err(e) => {
            let _ = std::fs::remove_dir_all(&staged);
            return Err(e);
        }
    };
    let launch = format!("/api/school/scorm/{item}/{launch_tail}");
    Ok((
        StatusCode::CREATED,
        Json(json!({"item_id": item, "launch": launch})),
    )
        .into_response())
}

/// `GET /api/school/scorm/{item}/{*path}`: a file of an unpacked package.
async fn scorm_file(
    State(s): State<SchoolState>,
    CurrentUser(u): CurrentUser,
    Path((item, path)): Path<(i64, String)>,
    headers: HeaderMap,
) -> R<Response> {
    access::require_use(&u)?;
    if !scorm::safe_name(&path) {
        return Err(SchoolError::not_found("unknown_file", "no such file in the package").into());
    }
    let file =
        s.0.content
            .partial_dir()
            .with_file_name("scorm")
            .join(item.to_string())
            .join(&path);
    let meta = std::fs::metadata(&file)
        .ok()
        .filter(|m| m.is_file())
        .ok_or_else(|| SchoolError::not_found("unknown_file", "no such file in the package"))?;
    let ct = crate::routes::content_type(&path);
    let ct = if path.ends_with(".js") {
        "text/javascript; charset=utf-8"
    } else if path.ends_with(".css") {
        "text/css; charset=utf-8"
    } else {
        ct
    };
    let etag = format!("\"{item}-{}\"", meta.len());
    let mut r = crate::serve::file(file, meta.len(), &etag, ct, &headers);
    r.headers_mut().insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    Ok(r)
}

/// The answer both for a username nobody has and for one of another village.
fn unknown_user(name: &str) -> SchoolError {
    SchoolError::invalid(
        "unknown_user",
        "username",
        format!("there is no user '{name}' in this village"),
    )
}

async fn enrol(
    State(s): State<SchoolState>,
    CurrentUser(u): CurrentUser,
    Path(id): Path<i64>,
    body: Bytes,
) -> R<Json<Value>> {
    let o = input::object(&body)?;
    let user = u.clone();
    let course = db(&s.0, move |c| {
        let course = course_or_404(c, id)?;
        require_edit(&user, &course)?;
        crate::sync::require_course_owner(c, id)?;
        Ok(course)
    })
    .await?;
    // Outside county staff, a course takes only learners of its own village.
    let scoped = !u.role.is_county_wide();
    let village = course.village_id;
    let class_id = input::opt_int(&o, "class_id")?;
    let username = input::opt_string(&o, "username", 64)?;
    let user_id = match (&username, class_id) {
        (Some(name), None) => {
            let found =
                s.0.auth
                    .users_by_names(vec![name.clone()])
                    .await
                    .map_err(SchoolError::from)?;
            Some(
                found
                    .first()
                    .filter(|f| !scoped || f.village_id == village)
                    .ok_or_else(|| unknown_user(name))?
                    .id,
            )
        }
        (None, Some(_)) => None,
        _ => {
            return Err(SchoolError::invalid(
                "missing_field",
                "username",
                "send either username or class_id",
            )
            .into());
        }
    };
    tx(&s.0, move |c| {
        if let Some(cid) = class_id
            && !cs::class(c, cid)?.is_some_and(|(_, _, _, v)| !scoped || v == village)
        {
            return Err(SchoolError::invalid(
                "unknown_class",
                "class_id",
                format!("there is no class {cid}"),
            ));
        }
        cs::enrol(c, id, user_id, class_id)?;
        Ok(())
    })
    .await?;
    Ok(Json(
        json!({"course_id": id, "username": username, "class_id": class_id}),
    ))
}

async fn create_class(
    State(s): State<SchoolState>,
    CurrentUser(u): CurrentUser,
    body: Bytes,
) -> R<Response> {
    access::require_teach(&u, "creating a class")?;
    crate::sync::hub_only(&s.0, "classes").await?;
    let o = input::object(&body)?;
    let name = input::string(&o, "name", 64)?;
    let school = input::string(&o, "school", 64)?;
    let village = if u.role.is_county_wide() {
        None
    } else {
        u.village_id
    };
    let id = tx(&s.0, move |c| {
        Ok(cs::create_class(c, &name, &school, village, u.id)?)
    })
    .await?;
    Ok((StatusCode::CREATED, Json(json!({"id": id}))).into_response())
}

async fn add_member(
    State(s): State<SchoolState>,
    CurrentUser(u): CurrentUser,
    Path(id): Path<i64>,
    body: Bytes,
) -> R<Json<Value>> {
    access::require_teach(&u, "changing a class")?;
    crate::sync::hub_only(&s.0, "classes").await?;
    let o = input::object(&body)?;
    let name = input::string(&o, "username", 64)?;
    let county = u.role.is_county_wide();
    let village = db(&s.0, move |c| {
        let (_, _, _, village) = cs::class(c, id)?.ok_or_else(|| {
            SchoolError::not_found("unknown_class", format!("there is no class {id}"))
        })?;
        if !county && village != u.village_id {
            return Err(SchoolError::forbidden(
                "this class belongs to another village",
            ));
        }
        Ok(village)
    })
    .await?;
    let found =
        s.0.auth
            .users_by_names(vec![name.clone()])
            .await
            .map_err(SchoolError::from)?;
    // Another village's user answers like no user at all, so the answer does
    // not reveal which usernames exist elsewhere in the county.
    let member = found
        .first()
        .filter(|f| county || f.village_id == village)
        .ok_or_else(|| unknown_user(&name))?
        .id;
    tx(&s.0, move |c| {
        cs::add_member(c, id, member)?;
        Ok(())
    })
    .await?;
    Ok(Json(json!({"class_id": id, "username": name})))
}

/// The statement's UUID: the client's (so a resend is a no-op), or a new one.
fn uuid_of(o: &input::Obj) -> Result<String, SchoolError> {
    match input::opt_string(o, "uuid", 36)? {
        Some(u) if statements::is_uuid(&u) => Ok(u.to_ascii_lowercase()),
        Some(_) => Err(SchoolError::invalid(
            "bad_uuid",
            "uuid",
            "uuid must look like 0f8fad5b-d9cb-469f-a165-70867728950e",
        )),
        None => Ok(statements::new_uuid()),
    }
}

/// Whether the caller may learn in this course: enrolled, or a teacher of it.
fn require_learner(c: &cunlink_core::sql::Connection, u: &User, course: &Course) -> Result<(), SchoolError> {
    if cs::enrolled(c, course.id, u.id)?
        || (access::can_teach(u) && require_edit(u, course).is_ok())
    {
        Ok(())
    } else {
        Err(SchoolError::forbidden(
            "you are not enrolled in this course",
        ))
    }
}

/// Score a quiz answer: (score, max, feedback per question).
pub(crate) fn score(qs: &[Question], answers: &[Value]) -> (i64, i64, Vec<Value>) {
    let mut got = 0;
    let mut feedback = Vec::with_capacity(qs.len());
    for (i, q) in qs.iter().enumerate() {
        let a = answers.get(i).cloned().unwrap_or(Value::Null);
        let right = match q.kind.as_str() {
            "single" | "multiple" => {
                let mut want: Vec<u64> = q
                    .answer
                    .as_array()
                    .map(|v| v.iter().filter_map(Value::as_u64).collect())
                    .unwrap_or_default();
                let mut given: Vec<u64> = match &a {
                    Value::Array(v) => v.iter().filter_map(Value::as_u64).collect(),
                    Value::Number(n) => n.as_u64().into_iter().collect(),
                    _ => Vec::new(),
                };
                want.sort_unstable();
                given.sort_unstable();
                given.dedup();
                want == given
            }
            _ => {
                let norm = |s: &str| s.trim().to_lowercase();
                let given = match &a {
                    Value::String(s) => norm(s),
                    Value::Array(v) => v
                        .first()
                        .and_then(Value::as_str)
                        .map(norm)
                        .unwrap_or_default(),
                    _ => String::new(),
                };
                q.answer
                    .as_array()
                    .is_some_and(|v| v.iter().filter_map(Value::as_str).any(|t| norm(t) == given))
            }
        };
        if right {
            got += 1;
        }
        feedback.push(json!({
            "right": right,
            "feedback": if right { &q.feedback_right } else { &q.feedback_wrong },
        }));
    }
    (got, qs.len() as i64, feedback)
}

/// `POST /api/school/courses/{id}/answers` `{"item_id", "answers": [...], "uuid"?}`:
/// score a quiz, store the statement, answer score and feedback.
async fn answer(
    State(s): State<SchoolState>,
    CurrentUser(u): CurrentUser,
    Path(id): Path<i64>,
    body: Bytes,
) -> R<Json<Value>> {
    let o = input::object(&body)?;
    let item_id = input::int(&o, "item_id")?;
    let uuid = uuid_of(&o)?;
    let answers = o
        .get("answers")
        .and_then(Value::as_array)
        .cloned()
        .ok_or_else(|| {
            SchoolError::invalid(
                "missing_field",
                "answers",
                "answers is a list, one per question",
            )
        })?;
    let out = tx(&s.0, move |c| {
        let course = course_or_404(c, id)?;
        require_learner(c, &u, &course)?;
        let item = cs::item(c, item_id)?
            .filter(|i| i.course_id == id && i.kind == "quiz")
            .ok_or_else(|| {
                SchoolError::invalid(
                    "not_in_course",
                    "item_id",
                    format!("item {item_id} is not a quiz of course {id}"),
                )
            })?;
        let qs = questions(&item);
        if answers.len() != qs.len() {
            return Err(SchoolError::invalid(
                "wrong_count",
                "answers",
                format!(
                    "the quiz has {} questions; {} answers were sent",
                    qs.len(),
                    answers.len()
                ),
            ));
        }
        let (got, max, feedback) = score(&qs, &answers);
        let new = cs::put_statement(
            c,
            &Statement {
                uuid: uuid.clone(),
                node: String::new(),
                actor: u.username.clone(),
                user_id: Some(u.id),
                course_id: Some(id),
                item_id: Some(item_id),
                verb: "answered".into(),
                score: Some(got),
                max_score: Some(max),
                detail: format!("{}: {}", course.title, item.title),
                at: cunlink_core::time::now_ms(),
            },
        )?;
        Ok(json!({"uuid": uuid, "score": got, "max_score": max, "feedback": feedback, "new": new}))
    })
    .await?;
    s.0.statements_wake.notify_one();
    Ok(Json(out))
}

/// `POST /api/school/courses/{id}/completions` `{"item_id", "uuid"?}`: a
/// lesson was studied to the end.
async fn complete(
    State(s): State<SchoolState>,
    CurrentUser(u): CurrentUser,
    Path(id): Path<i64>,
    body: Bytes,
) -> R<Json<Value>> {
    let o = input::object(&body)?;
    let item_id = input::int(&o, "item_id")?;
    let uuid = uuid_of(&o)?;
    let out = tx(&s.0, move |c| {
        let course = course_or_404(c, id)?;
        require_learner(c, &u, &course)?;
        let item = cs::item(c, item_id)?
            .filter(|i| i.course_id == id)
            .ok_or_else(|| {
                SchoolError::invalid(
                    "not_in_course",
                    "item_id",
                    format!("item {item_id} is not in course {id}"),
                )
            })?;
        let new = statements::completed(c, &u, &course, &item, &uuid, None)?;
        Ok(json!({"uuid": uuid, "new": new}))
    })
    .await?;
    s.0.statements_wake.notify_one();
    Ok(Json(out))
}

/// `GET /api/school/courses/{id}/progress`: every learner's items done and
/// score (a teacher of the course), or the caller's own.
async fn progress(
    State(s): State<SchoolState>,
    CurrentUser(u): CurrentUser,
    Path(id): Path<i64>,
) -> R<Json<Value>> {
    access::require_use(&u)?;
    let out = db(&s.0, move |c| {
        let course = course_or_404(c, id)?;
        let items = cs::items(c, id)?.len() as i64;
        let teacher = require_edit(&u, &course).is_ok();
        let ids = if teacher {
            cs::learners(c, id)?
        } else {
            vec![u.id]
        };
        let names = cunlink_core::auth::usernames(c, &ids)?;
        let mut rows = Vec::with_capacity(ids.len());
        for uid in ids {
            let (done, score, max) = cs::progress(c, id, uid)?;
            rows.push(json!({
                "username": names.get(&uid).cloned().unwrap_or_default(),
                "items_done": done, "items": items, "score": score, "max_score": max,
            }));
        }
        Ok(json!({"course_id": id, "learners": rows}))
    })
    .await?;
    Ok(Json(out))
}

/// `POST /api/school/scorm/{item}/calls` `{"calls":[{"call","element","value"}]}`:
/// the runtime's LMS calls, recorded; a lesson status of completed or passed
/// becomes a `completed` statement with the raw score.
/// A SCORM score element as a whole number; 400 naming it when it is not a
/// finite number ("inf" would otherwise become a huge score).
fn score_value(values: &HashMap<String, String>, el: &str) -> Result<Option<i64>, SchoolError> {
    let Some(v) = values.get(el).filter(|v| !v.trim().is_empty()) else {
        return Ok(None);
    };
    match v.trim().parse::<f64>() {
        Ok(f) if f.is_finite() && f.abs() < 1e12 => Ok(Some(f.round() as i64)),
        _ => Err(SchoolError::invalid(
            "bad_score",
            el,
            format!("{el} is a finite number"),
        )),
    }
}

async fn scorm_calls(
    State(s): State<SchoolState>,
    CurrentUser(u): CurrentUser,
    Path(item_id): Path<i64>,
    body: Bytes,
) -> R<Json<Value>> {
    let o = input::object(&body)?;
    let calls = o
        .get("calls")
        .and_then(Value::as_array)
        .filter(|a| a.len() <= 500)
        .cloned()
        .ok_or_else(|| {
            SchoolError::invalid("missing_field", "calls", "calls is a list of at most 500")
        })?;
    let out = tx(&s.0, move |c| {
        let item = cs::item(c, item_id)?
            .filter(|i| i.kind == "scorm")
            .ok_or_else(|| {
                SchoolError::not_found("unknown_item", format!("there is no SCORM item {item_id}"))
            })?;
        let course = course_or_404(c, item.course_id)?;
        require_learner(c, &u, &course)?;
        let mut values: HashMap<String, String> = HashMap::new();
        for (i, call) in calls.iter().enumerate() {
            let get = |k: &str| call.get(k).and_then(Value::as_str).unwrap_or("");
            let name = get("call");
            if !matches!(
                name,
                "LMSInitialize" | "LMSSetValue" | "LMSCommit" | "LMSFinish"
            ) {
                return Err(SchoolError::invalid(
                    "bad_call",
                    format!("calls[{i}].call"),
                    "call is LMSInitialize, LMSSetValue, LMSCommit or LMSFinish",
                ));
            }
            let (el, val) = (get("element"), get("value"));
            if el.len() > 255 || val.len() > 4096 {
                return Err(SchoolError::invalid(
                    "too_long",
                    format!("calls[{i}]"),
                    "element ≤ 255, value ≤ 4096 bytes",
                ));
            }
            cs::record_scorm_call(c, u.id, item_id, name, el, val)?;
            if name == "LMSSetValue" {
                values.insert(el.to_string(), val.to_string());
            }
        }
        let status = values.get("cmi.core.lesson_status").map(String::as_str);
        let mut done = false;
        if matches!(status, Some("completed" | "passed")) {
            let max = score_value(&values, "cmi.core.score.max")?
                .unwrap_or(100)
                .clamp(1, 1_000_000);
            let raw = score_value(&values, "cmi.core.score.raw")?.map(|r| r.clamp(0, max));
            // One completion per learner and item however often the package
            // reports it: the UUID is derived, so a repeat is a no-op.
            let uuid = statements::derived_uuid(&format!(
                "scorm-completed\n{}\n{}\n{}",
                u.village.as_deref().unwrap_or(""),
                u.username,
                item.id
            ));
            statements::completed(c, &u, &course, &item, &uuid, raw.map(|r| (r, max)))?;
            done = true;
        }
        Ok(json!({"recorded": calls.len(), "completed": done}))
    })
    .await?;
    s.0.statements_wake.notify_one();
    Ok(Json(out))
}
