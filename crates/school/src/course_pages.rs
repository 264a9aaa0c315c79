//! Course pages: the course list, a course (lessons, quizzes as plain forms
//! that work without JavaScript, SCORM packages), the quiz result with
//! feedback, the teacher's class progress, and the SCORM player with the
//! vendored `scorm-again` runtime (MIT licence; `static/vendor/`).

use std::sync::LazyLock;

use askama::Template;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use bytes::Bytes;
use serde_json::Value;

use cunlink_core::routes::Routes;
use cunlink_web::layout::body;
use cunlink_web::{PageCtx, PageError};

use crate::course_store::{self as cs, Course, Item, Question};
use crate::courses::{course_or_404, questions, score};
use crate::pages::{St, db, wrap};
use crate::{SchoolError, access, statements};

pub(crate) fn routes() -> Routes<St> {
    Routes::new()
        .route("/school/courses", get(list))
        .route("/school/courses/{id}", get(show))
        .route("/school/courses/{id}/answers", post(answer))
        .route("/school/courses/{id}/progress", get(progress))
        .route("/school/courses/{id}/scorm/{item}", get(scorm_player))
        .route("/school/static/{hash}/scorm.js", get(scorm_js))
}

fn check(ctx: &PageCtx) -> Result<(), PageError> {
    if access::can_use(&ctx.user) {
        Ok(())
    } else {
        Err(PageError::Forbidden)
    }
}

#[derive(Template)]
#[template(path = "school_courses.html")]
struct ListTpl<'a> {
    t: &'a PageCtx,
    courses: Vec<Course>,
}

async fn list(ctx: PageCtx, State(s): State<St>) -> Result<Response, PageError> {
    check(&ctx)?;
    let courses = db(&s.school, |c| Ok(cs::courses(c, 200)?)).await?;
    let html = body(&ListTpl { t: &ctx, courses })?;
    Ok(wrap(&ctx, "school.courses.title", &html))
}

pub(crate) struct ItemView {
    pub item: Item,
    pub questions: Vec<Question>,
}

#[derive(Template)]
#[template(path = "school_course.html")]
struct CourseTpl<'a> {
    t: &'a PageCtx,
    course: Course,
    items: Vec<ItemView>,
    teacher: bool,
    done: i64,
    score: i64,
    max: i64,
}

async fn show(
    ctx: PageCtx,
    State(s): State<St>,
    Path(id): Path<i64>,
) -> Result<Response, PageError> {
    check(&ctx)?;
    let u = ctx.user.clone();
    let (course, items, (done, score, max)) = db(&s.school, move |c| {
        let Some(course) = cs::course(c, id)? else {
            return Ok(None);
        };
        let items = cs::items(c, id)?;
        let p = cs::progress(c, id, u.id)?;
        Ok(Some((course, items, p)))
    })
    .await?
    .ok_or(PageError::NotFound)?;
    let teacher = access::can_teach(&ctx.user)
        && (ctx.user.role.is_county_wide() || course.village_id == ctx.user.village_id);
    let items = items
        .into_iter()
        .map(|i| ItemView {
            questions: questions(&i),
            item: i,
        })
        .collect();
    let html = body(&CourseTpl {
        t: &ctx,
        course,
        items,
        teacher,
        done,
        score,
        max,
    })?;
    Ok(wrap(&ctx, "school.course.title", &html))
}

#[derive(Template)]
#[template(path = "school_quiz_result.html")]
struct ResultTpl<'a> {
    t: &'a PageCtx,
    course_id: i64,
    score: i64,
    max: i64,
    feedback: Vec<(String, bool, String)>,
}

/// The quiz form: `csrf`, `item_id`, `uuid`, and `q{n}` per question
/// (repeated for multiple choice). Scored like the API; a reload resends the
/// same UUID and counts once.
async fn answer(
    ctx: PageCtx,
    State(s): State<St>,
    Path(id): Path<i64>,
    body_bytes: Bytes,
) -> Result<Response, PageError> {
    check(&ctx)?;
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(&body_bytes)
        .map_err(|_| PageError::BadRequest("the form could not be read".into()))?;
    let get = |k: &str| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    ctx.check_csrf(&get("csrf").unwrap_or_default())?;
    let item_id: i64 = get("item_id")
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| PageError::BadRequest("item_id is missing".into()))?;
    let uuid = get("uuid")
        .filter(|u| statements::is_uuid(u))
        .unwrap_or_else(statements::new_uuid);
    let u = ctx.user.clone();
    let out = db(&s.school, move |c| {
        let t = c.transaction()?;
        let course = course_or_404(&t, id)?;
        let teaches =
            access::can_teach(&u) && (u.role.is_county_wide() || course.village_id == u.village_id);
        if !teaches && !cs::enrolled(&t, id, u.id)? {
            return Err(SchoolError::forbidden("not enrolled"));
        }
        let item = cs::item(&t, item_id)?
            .filter(|i| i.course_id == id && i.kind == "quiz")
            .ok_or_else(|| {
                SchoolError::invalid("not_in_course", "item_id", "not a quiz of this course")
            })?;
        let qs = questions(&item);
        let answers: Vec<Value> = (0..qs.len())
            .map(|n| {
                let key = format!("q{n}");
                let vals: Vec<&String> = pairs
                    .iter()
                    .filter(|(k, _)| *k == key)
                    .map(|(_, v)| v)
                    .collect();
                if qs[n].kind == "fill" {
                    Value::String(vals.first().map(|s| s.to_string()).unwrap_or_default())
                } else {
                    Value::Array(
                        vals.iter()
                            .filter_map(|v| v.parse::<u64>().ok())
                            .map(Value::from)
                            .collect(),
                    )
                }
            })
            .collect();
        let (got, max, feedback) = score(&qs, &answers);
        cs::put_statement(
            &t,
            &cs::Statement {
                uuid,
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
        t.commit()?;
        let fb = qs
            .iter()
            .zip(feedback)
            .map(|(q, f)| {
                (
                    q.prompt.clone(),
                    f["right"].as_bool().unwrap_or(false),
                    f["feedback"].as_str().unwrap_or("").to_string(),
                )
            })
            .collect::<Vec<_>>();
        Ok((got, max, fb))
    })
    .await;
    let (score, max, feedback) = match out {
        Ok(v) => v,
        Err(PageError::Internal(e)) => {
            return Err(match e.downcast::<SchoolError>() {
                Ok(se) => match *se {
                    SchoolError::Forbidden(_) => PageError::Forbidden,
                    SchoolError::NotFound(..) => PageError::NotFound,
                    SchoolError::Invalid { message, .. } => PageError::BadRequest(message),
                    other => PageError::Internal(Box::new(other)),
                },
                Err(e) => PageError::Internal(e),
            });
        }
        Err(e) => return Err(e),
    };
    let html = body(&ResultTpl {
        t: &ctx,
        course_id: id,
        score,
        max,
        feedback,
    })?;
    Ok(wrap(&ctx, "school.quiz.result", &html))
}

pub(crate) struct LearnerRow {
    pub username: String,
    pub done: i64,
    pub score: i64,
    pub max: i64,
}

#[derive(Template)]
#[template(path = "school_progress.html")]
struct ProgressTpl<'a> {
    t: &'a PageCtx,
    course: Course,
    items: i64,
    rows: Vec<LearnerRow>,
}

/// The teacher's view: every enrolled learner's progress and score.
async fn progress(
    ctx: PageCtx,
    State(s): State<St>,
    Path(id): Path<i64>,
) -> Result<Response, PageError> {
    if !access::can_teach(&ctx.user) {
        return Err(PageError::Forbidden);
    }
    let (course, items, rows) = db(&s.school, move |c| {
        let Some(course) = cs::course(c, id)? else {
            return Ok(None);
        };
        let items = cs::items(c, id)?.len() as i64;
        let ids = cs::learners(c, id)?;
        let names = cunlink_core::auth::usernames(c, &ids)?;
        let mut rows = Vec::with_capacity(ids.len());
        for uid in ids {
            let (done, score, max) = cs::progress(c, id, uid)?;
            rows.push(LearnerRow {
                username: names.get(&uid).cloned().unwrap_or_default(),
                done,
                score,
                max,
            });
        }
        Ok(Some((course, items, rows)))
    })
    .await?
    .ok_or(PageError::NotFound)?;
    if !(ctx.user.role.is_county_wide() || course.village_id == ctx.user.village_id) {
        return Err(PageError::Forbidden);
    }
    let html = body(&ProgressTpl {
        t: &ctx,
        course,
        items,
        rows,
    })?;
    Ok(wrap(&ctx, "school.progress.title", &html))
}

#[derive(Template)]
#[template(path = "school_scorm.html")]
struct ScormTpl<'a> {
    t: &'a PageCtx,
    course_id: i64,
    item: Item,
    launch: String,
    script: &'static str,
}

async fn scorm_player(
    ctx: PageCtx,
    State(s): State<St>,
    Path((id, item_id)): Path<(i64, i64)>,
) -> Result<Response, PageError> {
    check(&ctx)?;
    let item = db(&s.school, move |c| Ok(cs::item(c, item_id)?))
        .await?
        .filter(|i| i.course_id == id && i.kind == "scorm")
        .ok_or(PageError::NotFound)?;
    let launch = format!(
        "/api/school/scorm/{item_id}/{}",
        item.package.clone().unwrap_or_default()
    );
    let html = body(&ScormTpl {
        t: &ctx,
        course_id: id,
        item,
        launch,
        script: &SCRIPT.url,
    })?;
    Ok(wrap(&ctx, "school.course.title", &html))
}

/// The runtime and our glue, served as one immutable file.
struct Built {
    bytes: &'static [u8],
    gz: Vec<u8>,
    hash: String,
    url: String,
}

static SCRIPT: LazyLock<Built> = LazyLock::new(|| {
    let mut bytes = include_bytes!("../static/vendor/scorm-again-3.4.3-scorm12.min.js").to_vec();
    bytes.push(b'\n');
    bytes.extend_from_slice(include_bytes!("../static/scorm-glue.js"));
    let hash = crate::content::sha_of(&bytes)[..16].to_string();
    Built {
        gz: cunlink_web::assets::gzip(&bytes, 9),
        url: format!("/school/static/{hash}/scorm.js"),
        hash,
        // Built once per process; the response API takes a static slice.
        bytes: Box::leak(bytes.into_boxed_slice()),
    }
});

async fn scorm_js(Path(hash): Path<String>, headers: HeaderMap) -> Response {
    let b = &*SCRIPT;
    if hash.len() > 16 {
        return StatusCode::NOT_FOUND.into_response();
    }
    let cache = if b.hash == hash {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    cunlink_web::assets::bytes_response(
        "text/javascript; charset=utf-8",
        b.bytes,
        &b.gz,
        cache,
        &headers,
    )
}
