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

use cunlink_core::auth::{AuthError, LoginOutcome, Role, same_secret};
use cunlink_core::web::{ClientAddr, SESSION_COOKIE, cookie_value};

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
        .route("/admin/users/action", post(user_action))
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
    error: Option<String>,
    next: &'a str,
    next_enc: String,
    csrf: &'a str,
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

/// Cookie carrying the sign-in form's CSRF token before there is a session
/// (double submit: the form echoes it in its `csrf` field). A page on another
/// site can make a browser post to `/login` but can neither read this cookie
/// nor set it, so it cannot sign a victim into the attacker's account.
pub const LOGIN_CSRF_COOKIE: &str = "cunlink_login";
/// Length of the login CSRF token.
const LOGIN_CSRF_LEN: usize = 32;

/// The sign-in form's token: the visitor's cookie if it looks like one of ours,
/// else a new one (then `fresh` is true and the cookie must be set).
fn login_csrf(headers: &HeaderMap) -> (String, bool) {
    match cookie_value(headers, LOGIN_CSRF_COOKIE) {
        Some(c) if c.len() == LOGIN_CSRF_LEN && c.bytes().all(|b| b.is_ascii_alphanumeric()) => {
            (c, false)
        }
        _ => (cunlink_core::random::token(LOGIN_CSRF_LEN), true),
    }
}

fn login_csrf_cookie(kit: &WebKit, token: &str, max_age_s: i64) -> String {
    format!(
        "{LOGIN_CSRF_COOKIE}={token}; HttpOnly; SameSite=Lax; Path=/login; Max-Age={max_age_s}{}",
        kit.auth().cookie_secure_attr()
    )
}

fn login_view(
    kit: &WebKit,
    locale: Locale,
    next: &str,
    username: &str,
    error: Option<String>,
    csrf: (&str, bool),
) -> Response {
    let t = |k| kit.t(locale, k);
    let tpl = LoginTpl {
        heading: t("login.heading"),
        error,
        next,
        next_enc: encode_component(next),
        csrf: csrf.0,
        username,
        username_label: t("login.username"),
        password_label: t("login.password"),
        submit: t("login.submit"),
        langs: Locale::ALL
            .iter()
            .map(|l| (l.code(), l.native_name()))
            .collect(),
    };
    let mut r = match body(&tpl) {
        Ok(html) => public_page(kit, locale, t("login.title"), &html),
        Err(e) => return e.into_response(),
    };
    if csrf.1 {
        set_cookie(&mut r, &login_csrf_cookie(kit, csrf.0, 7200));
    }
    r
}

async fn login_page(
    State(kit): State<WebKit>,
    v: Visitor,
    headers: HeaderMap,
    Query(q): Query<NextQuery>,
) -> Response {
    let (csrf, fresh) = login_csrf(&headers);
    login_view(
        &kit,
        v.locale,
        &safe_next(q.next.as_deref()),
        "",
        None,
        (&csrf, fresh),
    )
}

/// The sign-in form (contract: fields `username` and `password`; `next` and
/// `csrf` are the form's own hidden fields).
#[derive(Deserialize)]
struct LoginForm {
    username: String,
    password: String,
    next: Option<String>,
    #[serde(default)]
    csrf: String,
}

async fn login(
    State(kit): State<WebKit>,
    v: Visitor,
    ClientAddr(client): ClientAddr,
    headers: HeaderMap,
    Form(f): Form<LoginForm>,
) -> Response {
    let next = safe_next(f.next.as_deref());
    let (csrf, fresh) = login_csrf(&headers);
    // Refused before any password is looked at: a cross-site post has no cookie.
    if fresh || f.csrf.is_empty() || !same_secret(&f.csrf, &csrf) {
        let msg = kit.t(v.locale, "login.expired").to_string();
        let mut r = login_view(
            &kit,
            v.locale,
            &next,
            &f.username,
            Some(msg),
            (&csrf, fresh),
        );
        *r.status_mut() = StatusCode::FORBIDDEN;
        return r;
    }
    let (user, session) = match kit.auth().login(&f.username, &f.password, client).await {
        Ok(LoginOutcome::SignedIn(user, session)) => (user, session),
        Ok(LoginOutcome::Refused) => {
            let msg = kit.t(v.locale, "login.failed").to_string();
            let mut r = login_view(
                &kit,
                v.locale,
                &next,
                &f.username,
                Some(msg),
                (&csrf, false),
            );
            *r.status_mut() = StatusCode::UNAUTHORIZED;
            return r;
        }
        Ok(LoginOutcome::Limited(l)) => {
            let msg = kit
                .t(v.locale, "login.too_many")
                .replace("{s}", &l.retry_after_s.to_string());
            let mut r = login_view(
                &kit,
                v.locale,
                &next,
                &f.username,
                Some(msg),
                (&csrf, false),
            );
            *r.status_mut() = StatusCode::TOO_MANY_REQUESTS;
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(l.retry_after_s));
            return r;
        }
        Err(e) => return PageError::from(e).into_response(),
    };
    tracing::info!(user = %user.username, "signed in through the page");
    let max_age = (session.expires_at - cunlink_core::time::now_ms()) / 1000;
    let mut r = Redirect::to(&next).into_response();
    set_cookie(&mut r, &kit.auth().session_cookie(&session.token, max_age));
    // The pre-session token has served its purpose.
    set_cookie(&mut r, &login_csrf_cookie(&kit, "", 0));
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
    set_cookie(&mut r, &ctx.kit.auth().session_cookie("", 0));
    Ok(r)
}

fn lang_cookie(l: Locale) -> String {
    format!(
        "{LANG_COOKIE}={}; SameSite=Lax; Path=/; Max-Age=31536000",
        l.code()
    )
}

async fn set_lang_cookie(Path(code): Path<String>, Query(q): Query<NextQuery>) -> Response {
    let next = safe_next(q.next.as_deref());
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
        Role::VillageOfficial => "role.village_official",
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

/// A row of the users table.
struct UserRow<'a> {
    name: String,
    role: &'a str,
    village: String,
    disabled: bool,
    /// Whether the viewer may disable this account or revoke its tokens.
    actions: bool,
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
    state_h: &'a str,
    active_l: &'a str,
    disabled_l: &'a str,
    disable_l: &'a str,
    enable_l: &'a str,
    revoke_l: &'a str,
    add_user_h: &'a str,
    villages_h: &'a str,
    add_village_h: &'a str,
    csrf: &'a str,
    users: Vec<UserRow<'a>>,
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

/// Whether `actor` may disable `target` or revoke its tokens: county-wide users
/// only, county staff not over administrators, and nobody over themselves
/// (disabling oneself would lock the county out).
fn may_manage(actor: &cunlink_core::auth::User, target: &cunlink_core::auth::User) -> bool {
    actor.role.is_county_wide()
        && actor.id != target.id
        && (target.role != Role::Admin || actor.role == Role::Admin)
}

#[derive(Deserialize)]
struct NoticeQuery {
    done: Option<String>,
}

async fn admin(ctx: PageCtx, Query(q): Query<NoticeQuery>) -> Result<Response, PageError> {
    require_admin(&ctx)?;
    let users = ctx.kit.auth().list_accounts().await?;
    let villages = ctx.kit.auth().list_villages().await?;
    let notice = match q.done.as_deref() {
        Some("user") => Some(ctx.t("admin.user_added").to_string()),
        Some("village") => Some(ctx.t("admin.village_added").to_string()),
        Some("disabled") => Some(ctx.t("admin.user_disabled").to_string()),
        Some("enabled") => Some(ctx.t("admin.user_enabled").to_string()),
        Some("revoked") => Some(ctx.t("admin.tokens_revoked").to_string()),
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
        state_h: ctx.t("admin.state"),
        active_l: ctx.t("admin.active"),
        disabled_l: ctx.t("admin.disabled"),
        disable_l: ctx.t("admin.disable"),
        enable_l: ctx.t("admin.enable"),
        revoke_l: ctx.t("admin.revoke"),
        add_user_h: ctx.t("admin.add_user"),
        villages_h: ctx.t("admin.villages"),
        add_village_h: ctx.t("admin.add_village"),
        csrf: &ctx.csrf,
        users: users
            .iter()
            .map(|(u, disabled)| UserRow {
                name: u.username.clone(),
                role: role_label(&ctx.kit, ctx.locale, u.role),
                village: u.village.clone().unwrap_or_default(),
                disabled: *disabled,
                actions: may_manage(&ctx.user, u),
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
struct UserActionForm {
    #[serde(default)]
    csrf: String,
    username: String,
    action: String,
}

/// Disable, enable, or revoke the tokens of an account (the users table's buttons).
async fn user_action(ctx: PageCtx, Form(f): Form<UserActionForm>) -> Result<Response, PageError> {
    ctx.check_csrf(&f.csrf)?;
    require_admin(&ctx)?;
    let action: &'static str = match f.action.as_str() {
        "disable" => "disable",
        "enable" => "enable",
        "revoke_tokens" => "revoke_tokens",
        other => return Err(PageError::BadRequest(format!("unknown action '{other}'"))),
    };
    let auth = ctx.kit.auth().clone();
    let actor = ctx.user.clone();
    let done = tokio::task::spawn_blocking(move || {
        let target = auth.user_by_name_blocking(&f.username)?;
        if !may_manage(&actor, &target) {
            return Ok(None);
        }
        let (name, by) = (target.username.as_str(), Some(actor.id));
        let done = match action {
            "disable" => auth
                .set_disabled_blocking(name, true, by)
                .map(|_| "disabled"),
            "enable" => auth
                .set_disabled_blocking(name, false, by)
                .map(|_| "enabled"),
            _ => auth.revoke_tokens_blocking(name, by).map(|_| "revoked"),
        }?;
        Ok::<_, AuthError>(Some(done))
    })
    .await
    .map_err(PageError::internal)?;
    match done {
        Ok(Some(done)) => Ok(Redirect::to(&format!("/admin/users?done={done}")).into_response()),
        Ok(None) => Err(PageError::Forbidden),
        Err(AuthError::Db(e)) => Err(PageError::internal(e)),
        Err(AuthError::UnknownUser(_)) => Err(PageError::NotFound),
        Err(e) => Err(PageError::BadRequest(e.to_string())),
    }
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
    .map_err(PageError::internal)?;
    match result {
        Ok(_) => Ok(Redirect::to("/admin/users?done=user").into_response()),
        Err(AuthError::Db(e)) => Err(PageError::internal(e)),
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
        Err(AuthError::Db(e)) => Err(PageError::internal(e)),
        Err(e) => Err(PageError::BadRequest(e.to_string())),
    }
}
