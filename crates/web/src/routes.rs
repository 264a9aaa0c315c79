//! The shell's own pages: sign-in and sign-out, the language switch, the
//! personal page, users and villages administration, and static files.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Form;
use cunlink_core::routes::Routes;
use serde::Deserialize;

use cunlink_core::auth::{AuthError, Role};
use cunlink_core::web::{SESSION_COOKIE, cookie_value};

use crate::i18n::Locale;
use crate::kit::{Slot, WebKit};
use crate::layout::{PageOpts, body, page, public_page};
use crate::page::{LANG_COOKIE, PageCtx, PageError, Visitor, encode_component, safe_next};

pub fn routes(kit: WebKit) -> Routes {
    Routes::new()
        .route("/login", get(login_page).post(login))
        .route("/logout", post(logout))
        .route("/lang/{code}", get(set_lang_cookie))
        .route("/me", get(me))
        .route("/me/locale", post(set_locale))
        .route("/admin/users", get(admin).post(add_user))
        .route("/admin/villages", post(add_village))
        .route("/static/{hash}/{*name}", get(crate::assets::serve))
        .route("/sw.js", get(crate::pwa::service_worker))
        .route("/manifest.webmanifest", get(crate::pwa::manifest))
        .with_state(kit)
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginTpl<'a> {
    heading: &'a str,
    failed: bool,
    failed_msg: &'a str,
    next: &'a str,
    next_enc: String,
    username: &'a str,
    username_label: &'a str,
    password_label: &'a str,
    submit: &'a str,
    langs: Vec<(&'static str, &'static str)>,
}

#[derive(Deserialize)]
struct NextQuery {
    next: Option<String>,
}

fn login_view(kit: &WebKit, locale: Locale, next: &str, username: &str, failed: bool) -> Response {
    let t = |k| kit.t(locale, k);
    let tpl = LoginTpl {
        heading: t("login.heading"),
        failed,
        failed_msg: t("login.failed"),
        next,
        next_enc: encode_component(next),
        username,
        username_label: t("login.username"),
        password_label: t("login.password"),
        submit: t("login.submit"),
        langs: Locale::ALL
            .iter()
            .map(|l| (l.code(), l.native_name()))
            .collect(),
    };
    match body(&tpl) {
        Ok(html) => public_page(kit, locale, t("login.title"), &html),
        Err(e) => e.into_response(),
    }
}

async fn login_page(State(kit): State<WebKit>, v: Visitor, Query(q): Query<NextQuery>) -> Response {
    login_view(&kit, v.locale, safe_next(q.next.as_deref()), "", false)
}

#[derive(Deserialize)]
struct LoginForm {
    username: String,
    password: String,
    next: Option<String>,
}

async fn login(State(kit): State<WebKit>, v: Visitor, Form(f): Form<LoginForm>) -> Response {
    let next = safe_next(f.next.as_deref()).to_string();
    let (user, session) = match kit.auth().login(&f.username, &f.password).await {
        Ok(Some(found)) => found,
        Ok(None) => {
            let mut r = login_view(&kit, v.locale, &next, &f.username, true);
            *r.status_mut() = StatusCode::UNAUTHORIZED;
            return r;
        }
        Err(e) => return PageError::from(e).into_response(),
    };
    tracing::info!(user = %user.username, "signed in through the page");
    let max_age = (session.expires_at - cunlink_core::time::now_ms()) / 1000;
    let mut r = Redirect::to(&next).into_response();
    set_cookie(
        &mut r,
        &format!(
            "{SESSION_COOKIE}={}; HttpOnly; SameSite=Lax; Path=/; Max-Age={max_age}",
            session.token
        ),
    );
    r
}

fn set_cookie(r: &mut Response, cookie: &str) {
    if let Ok(v) = HeaderValue::from_str(cookie) {
        r.headers_mut().append(header::SET_COOKIE, v);
    }
}

#[derive(Deserialize)]
struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

async fn logout(
    ctx: PageCtx,
    headers: HeaderMap,
    Form(f): Form<CsrfForm>,
) -> Result<Response, PageError> {
    ctx.check_csrf(&f.csrf)?;
    if let Some(cookie) = cookie_value(&headers, SESSION_COOKIE) {
        ctx.kit.auth().logout(&cookie).await?;
    }
    let mut r = Redirect::to("/login").into_response();
    set_cookie(
        &mut r,
        &format!("{SESSION_COOKIE}=; HttpOnly; SameSite=Lax; Path=/; Max-Age=0"),
    );
    Ok(r)
}

fn lang_cookie(l: Locale) -> String {
    format!(
        "{LANG_COOKIE}={}; SameSite=Lax; Path=/; Max-Age=31536000",
        l.code()
    )
}

async fn set_lang_cookie(Path(code): Path<String>, Query(q): Query<NextQuery>) -> Response {
    let next = safe_next(q.next.as_deref()).to_string();
    let mut r = Redirect::to(&next).into_response();
    if let Some(l) = Locale::parse(&code) {
        set_cookie(&mut r, &lang_cookie(l));
    }
    r
}

#[derive(Template)]
#[template(path = "me.html")]
struct MeTpl<'a> {
    heading: &'a str,
    account: &'a str,
    username: &'a str,
    role: &'a str,
    village: Option<&'a str>,
    language: &'a str,
    csrf: &'a str,
    langs: Vec<(&'static str, &'static str, bool)>,
    sections: String,
}

fn role_label(ctx_kit: &WebKit, locale: Locale, r: Role) -> &str {
    let key: &'static str = match r {
        Role::Admin => "role.admin",
        Role::CountyStaff => "role.county_staff",
        Role::StationOperator => "role.station_operator",
        Role::Farmer => "role.farmer",
        Role::Buyer => "role.buyer",
        Role::Doctor => "role.doctor",
        Role::Teacher => "role.teacher",
        Role::Villager => "role.villager",
    };
    ctx_kit.t(locale, key)
}

async fn me(ctx: PageCtx) -> Result<Response, PageError> {
    let sections = ctx.kit.render_slot(Slot::Personal, &ctx).await;
    let tpl = MeTpl {
        heading: ctx.t("me.heading"),
        account: ctx.t("me.account"),
        username: &ctx.user.username,
        role: role_label(&ctx.kit, ctx.locale, ctx.user.role),
        village: ctx.user.village.as_deref(),
        language: ctx.t("me.language"),
        csrf: &ctx.csrf,
        langs: Locale::ALL
            .iter()
            .map(|l| (l.code(), l.native_name(), *l == ctx.locale))
            .collect(),
        sections,
    };
    Ok(page(
        &ctx,
        ctx.t("me.heading"),
        &body(&tpl)?,
        PageOpts::default(),
    ))
}

#[derive(Deserialize)]
struct LocaleForm {
    #[serde(default)]
    csrf: String,
    locale: String,
}

async fn set_locale(ctx: PageCtx, Form(f): Form<LocaleForm>) -> Result<Response, PageError> {
    ctx.check_csrf(&f.csrf)?;
    let l = Locale::parse(&f.locale)
        .ok_or_else(|| PageError::BadRequest(format!("unknown language '{}'", f.locale)))?;
    ctx.kit.auth().set_locale(ctx.user.id, l.code()).await?;
    let mut r = Redirect::to("/me").into_response();
    set_cookie(&mut r, &lang_cookie(l));
    Ok(r)
}

#[derive(Template)]
#[template(path = "admin.html")]
struct AdminTpl<'a> {
    heading: &'a str,
    notice: Option<String>,
    users_h: &'a str,
    username_h: &'a str,
    password_h: &'a str,
    role_h: &'a str,
    village_h: &'a str,
    add_user_h: &'a str,
    villages_h: &'a str,
    add_village_h: &'a str,
    csrf: &'a str,
    users: Vec<(String, &'a str, String)>,
    roles: Vec<(&'static str, &'a str)>,
    villages: Vec<(i64, String, String)>,
}

fn require_admin(ctx: &PageCtx) -> Result<(), PageError> {
    if ctx.user.role.is_county_wide() {
        Ok(())
    } else {
        Err(PageError::Forbidden)
    }
}

#[derive(Deserialize)]
struct NoticeQuery {
    done: Option<String>,
}

async fn admin(ctx: PageCtx, Query(q): Query<NoticeQuery>) -> Result<Response, PageError> {
    require_admin(&ctx)?;
    let users = ctx.kit.auth().list_users().await?;
    let villages = ctx.kit.auth().list_villages().await?;
    let notice = match q.done.as_deref() {
        Some("user") => Some(ctx.t("admin.user_added").to_string()),
        Some("village") => Some(ctx.t("admin.village_added").to_string()),
        _ => None,
    };
    let tpl = AdminTpl {
        heading: ctx.t("admin.heading"),
        notice,
        users_h: ctx.t("admin.users"),
        username_h: ctx.t("login.username"),
        password_h: ctx.t("login.password"),
        role_h: ctx.t("admin.role"),
        village_h: ctx.t("admin.village"),
        add_user_h: ctx.t("admin.add_user"),
        villages_h: ctx.t("admin.villages"),
        add_village_h: ctx.t("admin.add_village"),
        csrf: &ctx.csrf,
        users: users
            .iter()
            .map(|u| {
                (
                    u.username.clone(),
                    role_label(&ctx.kit, ctx.locale, u.role),
                    u.village.clone().unwrap_or_default(),
                )
            })
            .collect(),
        roles: Role::ALL
            .iter()
            .map(|r| (r.as_str(), role_label(&ctx.kit, ctx.locale, *r)))
            .collect(),
        villages,
    };
    Ok(page(
        &ctx,
        ctx.t("admin.heading"),
        &body(&tpl)?,
        PageOpts::default(),
    ))
}

#[derive(Deserialize)]
struct NewUserForm {
    #[serde(default)]
    csrf: String,
    username: String,
    password: String,
    role: String,
    #[serde(default)]
    village: String,
}

async fn add_user(ctx: PageCtx, Form(f): Form<NewUserForm>) -> Result<Response, PageError> {
    ctx.check_csrf(&f.csrf)?;
    require_admin(&ctx)?;
    let role: Role = f
        .role
        .parse()
        .map_err(|e: cunlink_core::auth::UnknownRole| PageError::BadRequest(e.to_string()))?;
    // County staff may not mint administrators.
    if role == Role::Admin && ctx.user.role != Role::Admin {
        return Err(PageError::Forbidden);
    }
    let auth = ctx.kit.auth().clone();
    let village = Some(f.village.trim().to_string()).filter(|v| !v.is_empty());
    let result = tokio::task::spawn_blocking(move || {
        auth.create_user_blocking(&f.username, &f.password, role, village.as_deref())
    })
    .await
    .map_err(|e| PageError::Internal(e.to_string()))?;
    match result {
        Ok(_) => Ok(Redirect::to("/admin/users?done=user").into_response()),
        Err(AuthError::Db(e)) => Err(PageError::Internal(e.to_string())),
        Err(e) => Err(PageError::BadRequest(e.to_string())),
    }
}

#[derive(Deserialize)]
struct VillageForm {
    #[serde(default)]
    csrf: String,
    name: String,
}

async fn add_village(ctx: PageCtx, Form(f): Form<VillageForm>) -> Result<Response, PageError> {
    ctx.check_csrf(&f.csrf)?;
    require_admin(&ctx)?;
    match ctx.kit.auth().create_village(&f.name).await {
        Ok(_) => Ok(Redirect::to("/admin/users?done=village").into_response()),
        Err(AuthError::Db(e)) => Err(PageError::Internal(e.to_string())),
        Err(e) => Err(PageError::BadRequest(e.to_string())),
    }
}
