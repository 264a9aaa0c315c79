//! The page shell every domain's page is wrapped in: head (CSS, htmx, uPlot only
//! where charts are), the top bar, the domain tabs and the current domain's
//! sub-pages ([`crate::shell`]), and the offline banner the service worker's
//! cached copies show.

use askama::Template;
use axum::response::{IntoResponse, Response};

use crate::assets::url;
use crate::i18n::Locale;
use crate::kit::WebKit;
use crate::page::{PageCtx, PageError};
use crate::shell::{self, Link, Nav};

#[derive(Template)]
#[template(path = "layout.html")]
struct Layout<'a> {
    lang: &'a str,
    app: &'a str,
    title: &'a str,
    body: &'a str,
    tabs: Vec<Link<'a>>,
    sub: Vec<Link<'a>>,
    sub_label: &'a str,
    nav_label: &'a str,
    user: Option<&'a str>,
    csrf: &'a str,
    signout: &'a str,
    offline_label: &'a str,
    asof_label: &'a str,
    /// The kit's status line (a village node offline), signed-in pages only.
    status: Option<String>,
    charts: bool,
    live: Option<&'a str>,
    /// Signed-in pages: the stream of the user's notifications.
    notify: Option<&'static str>,
    css: &'static str,
    icon: &'static str,
    htmx: &'static str,
    app_js: &'static str,
    uplot_js: &'static str,
    uplot_css: &'static str,
    chart_js: &'static str,
}

/// What a page needs from the shell besides its body.
#[derive(Default)]
pub struct PageOpts<'a> {
    /// Load uPlot and the chart glue (only pages with charts pay for them).
    pub charts: bool,
    /// An SSE URL; elements with `data-live="device/key"` update from it.
    pub live: Option<&'a str>,
}

/// Wrap `body` (HTML rendered by the domain's template) in the signed-in shell.
pub fn page(ctx: &PageCtx, title: &str, body: &str, opts: PageOpts<'_>) -> Response {
    let current = ctx.path.split('?').next().unwrap_or("/");
    let nav = shell::nav(&ctx.kit, &ctx.user, ctx.locale, current);
    render(
        &ctx.kit,
        ctx.locale,
        title,
        body,
        nav,
        Some(&ctx.user.username),
        &ctx.csrf,
        opts,
    )
}

/// The shell for visitors who are not signed in (sign-in page).
pub fn public_page(kit: &WebKit, locale: Locale, title: &str, body: &str) -> Response {
    render(
        kit,
        locale,
        title,
        body,
        Nav {
            tabs: Vec::new(),
            sub: Vec::new(),
            sub_label: "",
        },
        None,
        "",
        PageOpts::default(),
    )
}

#[allow(clippy::too_many_arguments)]
fn render(
    kit: &WebKit,
    locale: Locale,
    title: &str,
    body: &str,
    nav: Nav<'_>,
    user: Option<&str>,
    csrf: &str,
    opts: PageOpts<'_>,
) -> Response {
    let t = |k| kit.t(locale, k);
    let l = Layout {
        lang: locale.code(),
        app: t("app.name"),
        title,
        body,
        tabs: nav.tabs,
        sub: nav.sub,
        sub_label: nav.sub_label,
        nav_label: t("nav.label"),
        user,
        csrf,
        signout: t("nav.signout"),
        offline_label: t("pwa.offline"),
        asof_label: t("pwa.asof"),
        status: if user.is_some() {
            kit.status_line(locale)
        } else {
            None
        },
        charts: opts.charts,
        live: opts.live,
        notify: user.and(kit.notify_stream()),
        css: url("app.css"),
        icon: url("icon.svg"),
        htmx: url("vendor/htmx-2.0.11.min.js"),
        app_js: url("app.js"),
        uplot_js: url("vendor/uplot-1.6.32.min.js"),
        uplot_css: url("vendor/uplot-1.6.32.min.css"),
        chart_js: url("chart.js"),
    };
    match l.render() {
        Ok(html) => {
            let mut r = axum::response::Html(html).into_response();
            // Pages are personal and live: never cache them in shared caches.
            r.headers_mut().insert(
                axum::http::header::CACHE_CONTROL,
                axum::http::HeaderValue::from_static("private, no-cache"),
            );
            r
        }
        Err(e) => PageError::internal(e).into_response(),
    }
}

/// Render a domain's body template, mapping a template error to a page error.
pub fn body<T: Template>(t: &T) -> Result<String, PageError> {
    t.render().map_err(PageError::internal)
}
