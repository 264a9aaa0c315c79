//! The installable app: a web manifest and a service worker that keeps the page
//! shell and the last visited pages for offline reading, and shows Web Push
//! notifications (the alert domain sends them; the worker only displays them).
//!
//! The worker is served at `/sw.js` (its scope is the whole site) with
//! `no-cache`, so a new release's worker is picked up at the next visit.
//! The list of shell files it precaches is prepended at run time, because the
//! files live under content-hashed URLs.

use std::sync::LazyLock;

use axum::http::HeaderMap;
use axum::response::Response;

use crate::assets::{all, bytes_response, gzip, url};

const WORKER: &str = include_str!("../static/sw.js");

struct Built {
    raw: &'static [u8],
    gz: Vec<u8>,
}

fn build(text: String) -> Built {
    let raw: &'static [u8] = Box::leak(text.into_bytes().into_boxed_slice());
    Built {
        raw,
        gz: gzip(raw, 9),
    }
}

static SW: LazyLock<Built> = LazyLock::new(|| {
    // Charts are not part of the shell: a phone that never opens a chart never pays for uPlot.
    let shell: Vec<String> = all()
        .iter()
        .filter(|a| !a.name.contains("uplot") && a.name != "chart.js" && a.name != "board.css")
        .map(|a| format!("\"{}\"", a.url))
        .collect();
    let version: String = all().iter().map(|a| &a.hash[..2]).collect();
    build(format!(
        "const SHELL=[{}];\nconst VERSION=\"{version}\";\n{WORKER}",
        shell.join(",")
    ))
});

static MANIFEST: LazyLock<Built> = LazyLock::new(|| {
    build(format!(
        r##"{{"name":"村联 cunlink","short_name":"村联","lang":"zh-CN","start_url":"/","scope":"/","display":"standalone","background_color":"#ffffff","theme_color":"#0b5d1e","icons":[{{"src":"{icon}","sizes":"any","type":"image/svg+xml","purpose":"any maskable"}}]}}"##,
        icon = url("icon.svg")
    ))
});

pub async fn service_worker(headers: HeaderMap) -> Response {
    bytes_response(
        "text/javascript; charset=utf-8",
        SW.raw,
        &SW.gz,
        "no-cache",
        &headers,
    )
}

pub async fn manifest(headers: HeaderMap) -> Response {
    bytes_response(
        "application/manifest+json",
        MANIFEST.raw,
        &MANIFEST.gz,
        "public, max-age=86400",
        &headers,
    )
}
