//! The school's pages (学校 tab): the library (channels, a channel's lessons by
//! topic, the player) and the pull-status page with its progress bar. Course
//! pages are in `course_pages`.

use std::sync::Arc;

use askama::Template;
use axum::extract::{FromRef, Path, Query, State};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;

use cunlink_core::routes::Routes;
use cunlink_web::layout::body;
use cunlink_web::{PageCtx, PageError, PageOpts, WebKit};

use crate::store::{self, Channel, FileEntry, PullRow};
use crate::{School, access};

/// The school tab's home: the library.
pub(crate) const HOME: &str = "/school";

/// Sub-navigation: (href, label key).
pub(crate) const NAV: [(&str, &str); 4] = [
    (HOME, "school.nav.library"),
    ("/school/courses", "school.nav.courses"),
    ("/school/timetable", "school.nav.timetable"),
    ("/school/pulls", "school.nav.pulls"),
];

/// Lessons shown per page of a channel (bounded: 10,000-lesson channels exist).
pub(crate) const PER_PAGE: i64 = 200;

#[derive(Clone)]
pub(crate) struct St {
    pub school: Arc<School>,
    pub kit: WebKit,
}

impl FromRef<St> for WebKit {
    fn from_ref(s: &St) -> WebKit {
        s.kit.clone()
    }
}

pub(crate) fn routes(school: Arc<School>, kit: WebKit) -> Routes {
    Routes::new()
        .route(HOME, get(home))
        .route("/school/channels/{id}", get(channel_page))
        .route("/school/play/{sha}", get(player))
        .route("/school/pulls", get(pulls_page))
        .route("/school/timetable", get(timetable))
        .merge(crate::course_pages::routes())
        .merge(crate::live::page::routes())
        .with_state(St { school, kit })
}

pub(crate) async fn db<T: Send + 'static>(
    s: &School,
    f: impl FnOnce(&mut cunlink_core::sql::Connection) -> Result<T, crate::SchoolError> + Send + 'static,
) -> Result<T, PageError> {
    s.db.call(f)
        .await
        .map_err(|e| PageError::Internal(Box::new(e)))
}

pub(crate) fn wrap(ctx: &PageCtx, title_key: &str, html: &str) -> Response {
    cunlink_web::page(ctx, ctx.t(title_key), html, PageOpts::default())
}

fn check(ctx: &PageCtx) -> Result<(), PageError> {
    if access::can_use(&ctx.user) {
        Ok(())
    } else {
        Err(PageError::Forbidden)
    }
}

/// Human size: 12.3 MB.
pub(crate) fn size<N: std::borrow::Borrow<i64>>(n: N) -> String {
    let n = (*n.borrow()).max(0) as f64;
    if n >= 1e9 {
        format!("{:.1} GB", n / 1e9)
    } else if n >= 1e6 {
        format!("{:.1} MB", n / 1e6)
    } else if n >= 1e3 {
        format!("{:.0} KB", n / 1e3)
    } else {
        format!("{n} B")
    }
}

#[derive(Template)]
#[template(path = "school_home.html")]
struct HomeTpl<'a> {
    t: &'a PageCtx,
    channels: Vec<(Channel, i64)>,
}

async fn home(ctx: PageCtx, State(s): State<St>) -> Result<Response, PageError> {
    check(&ctx)?;
    let channels = db(&s.school, |c| {
        let list = store::channels(c, 200)?;
        let mut out = Vec::with_capacity(list.len());
        for ch in list {
            let n = store::file_count(c, ch.id)?;
            out.push((ch, n));
        }
        Ok(out)
    })
    .await?;
    let html = body(&HomeTpl { t: &ctx, channels })?;
    Ok(wrap(&ctx, "school.home.title", &html))
}

pub(crate) struct Topic {
    pub name: String,
    pub lessons: Vec<FileEntry>,
}

#[derive(Template)]
#[template(path = "school_channel.html")]
struct ChannelTpl<'a> {
    t: &'a PageCtx,
    ch: Channel,
    topics: Vec<Topic>,
    total: i64,
    page: i64,
    pages: i64,
}

#[derive(Deserialize)]
pub(crate) struct PageQ {
    page: Option<i64>,
}

/// A channel's lessons grouped by topic, [`PER_PAGE`] at a time.
async fn channel_page(
    ctx: PageCtx,
    State(s): State<St>,
    Path(id): Path<i64>,
    Query(q): Query<PageQ>,
) -> Result<Response, PageError> {
    check(&ctx)?;
    let page = q.page.unwrap_or(1).clamp(1, 100_000);
    let (ch, files, total) = db(&s.school, move |c| {
        let Some(ch) = store::channel(c, id)? else {
            return Ok(None);
        };
        let total = store::file_count(c, id)?;
        let files = store::files_page(c, id, (page - 1) * PER_PAGE, PER_PAGE)?;
        Ok(Some((ch, files, total)))
    })
    .await?
    .ok_or(PageError::NotFound)?;
    let html = render_channel(&ctx, ch, files, total, page)?;
    Ok(wrap(&ctx, "school.channel.title", &html))
}

/// Render a channel page's body (also used by the page benchmark).
pub(crate) fn render_channel(
    ctx: &PageCtx,
    ch: Channel,
    files: Vec<FileEntry>,
    total: i64,
    page: i64,
) -> Result<String, PageError> {
    let mut topics: Vec<Topic> = Vec::new();
    for f in files {
        match topics.last_mut() {
            Some(t) if t.name == f.topic => t.lessons.push(f),
            _ => topics.push(Topic {
                name: f.topic.clone(),
                lessons: vec![f],
            }),
        }
    }
    let pages = (total + PER_PAGE - 1) / PER_PAGE;
    Ok(body(&ChannelTpl {
        t: ctx,
        ch,
        topics,
        total,
        page,
        pages: pages.max(1),
    })?)
}

#[derive(Template)]
#[template(path = "school_player.html")]
struct PlayerTpl<'a> {
    t: &'a PageCtx,
    name: String,
    kind: String,
    src: String,
    size: String,
}

#[derive(Deserialize)]
pub(crate) struct PlayQ {
    name: Option<String>,
    kind: Option<String>,
}

/// The player: the file from this node, in the element its kind needs.
async fn player(
    ctx: PageCtx,
    State(s): State<St>,
    Path(sha): Path<String>,
    Query(q): Query<PlayQ>,
) -> Result<Response, PageError> {
    check(&ctx)?;
    if !crate::content::is_sha(&sha) {
        return Err(PageError::NotFound);
    }
    let sha2 = sha.clone();
    let blob = db(&s.school, move |c| Ok(store::blob(c, &sha2)?))
        .await?
        .ok_or(PageError::NotFound)?;
    let name = q.name.unwrap_or_default();
    let name: String = name.chars().take(200).collect();
    let kind = match q.kind.as_deref() {
        Some(k @ ("video" | "audio" | "pdf" | "html5" | "image" | "exercise")) => k.to_string(),
        _ => "file".to_string(),
    };
    let src = format!(
        "/api/school/content/{sha}?name={}",
        cunlink_web::page::encode_component(&name)
    );
    let html = body(&PlayerTpl {
        t: &ctx,
        name,
        kind,
        src,
        size: size(blob.0),
    })?;
    Ok(wrap(&ctx, "school.player.title", &html))
}

#[derive(Template)]
#[template(path = "school_pulls.html")]
struct PullsTpl<'a> {
    t: &'a PageCtx,
    pulls: Vec<PullRow>,
    upstream: Option<String>,
}

#[derive(Template)]
#[template(path = "school_pull_rows.html")]
struct PullRowsTpl<'a> {
    t: &'a PageCtx,
    pulls: Vec<PullRow>,
}

#[derive(Deserialize)]
pub(crate) struct PullsQ {
    part: Option<String>,
}

/// A query-string component.
pub(crate) fn enc(s: &str) -> String {
    cunlink_web::page::encode_component(s)
}

pub(crate) fn eta(p: &PullRow) -> String {
    match p.eta_secs() {
        None => "—".into(),
        Some(s) if s >= 3600 => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
        Some(s) if s >= 60 => format!("{}m{:02}s", s / 60, s % 60),
        Some(s) => format!("{s}s"),
    }
}

/// `/school/pulls`: each recent pull with a progress bar and ETA; the rows
/// refresh every 3 s (`?part=rows` answers just them).
async fn pulls_page(
    ctx: PageCtx,
    State(s): State<St>,
    Query(q): Query<PullsQ>,
) -> Result<Response, PageError> {
    if !access::can_teach(&ctx.user) {
        return Err(PageError::Forbidden);
    }
    let pulls = db(&s.school, |c| Ok(store::pulls(c, 20)?)).await?;
    if q.part.as_deref() == Some("rows") {
        let html = body(&PullRowsTpl { t: &ctx, pulls })?;
        return Ok(Html(html).into_response());
    }
    let html = body(&PullsTpl {
        t: &ctx,
        pulls,
        upstream: s.school.settings.upstream.clone(),
    })?;
    Ok(wrap(&ctx, "school.pulls.title", &html))
}

pub(crate) struct PairingView {
    pub p: crate::pairings::Pairing,
    pub next: String,
}

#[derive(Template)]
#[template(path = "school_timetable.html")]
struct TimetableTpl<'a> {
    t: &'a PageCtx,
    pairings: Vec<PairingView>,
}

/// Weekday label key, 1 = Monday.
pub(crate) fn weekday_key(d: &i64) -> &'static str {
    [
        "school.wd.1",
        "school.wd.2",
        "school.wd.3",
        "school.wd.4",
        "school.wd.5",
        "school.wd.6",
        "school.wd.7",
    ][((*d).clamp(1, 7) - 1) as usize]
}

/// `/school/timetable`: each pairing's classes, weekly timetable and next class.
async fn timetable(ctx: PageCtx, State(s): State<St>) -> Result<Response, PageError> {
    check(&ctx)?;
    let list = db(&s.school, |c| {
        let mut out = Vec::new();
        for id in crate::pairings::pairing_ids(c, 50)? {
            if let Some(p) = crate::pairings::pairing(c, id)? {
                out.push(p);
            }
        }
        Ok(out)
    })
    .await?;
    let now = cunlink_core::time::now_ms();
    let pairings = list
        .into_iter()
        .map(|p| {
            let next = p
                .slots
                .iter()
                .min_by_key(|s| s.next_start(now))
                .map(|s| {
                    let at = s.next_start(now) + cunlink_core::time::TZ_OFFSET_MS;
                    let (y, m, d) = cunlink_core::time::civil_from_days(
                        at.div_euclid(cunlink_core::time::DAY_MS),
                    );
                    format!("{y}-{m:02}-{d:02} {} {}", s.start(), s.subject)
                })
                .unwrap_or_default();
            PairingView { p, next }
        })
        .collect();
    let html = body(&TimetableTpl { t: &ctx, pairings })?;
    Ok(wrap(&ctx, "school.timetable.title", &html))
}
