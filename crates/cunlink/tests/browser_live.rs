//! Browser test of the school's live class (`tests/browser/live.mjs`): a
//! teacher page and classroom pages in Chromium (fake camera and microphone)
//! connect through cunlink's SFU; each classroom decodes the teacher's video,
//! the classrooms' voices reach the teacher, and a teacher of another school
//! cannot join. The teacher then shares the screen: each classroom decodes it
//! and shows it large; after the teacher stops, the classrooms decode the
//! camera again and no more screen. With `LIVE_BENCH_SECS=S` (bench/sfu.sh) it
//! also measures the SFU thread's CPU and the process's RSS over S seconds
//! with `LIVE_CLASSROOMS` classrooms, `LIVE_LAYER=high` (classrooms pin the
//! 1280×720 layer) and `LIVE_SCREEN=1` (measured while the screen is shared).
//! Needs `npm ci` in tests/browser and chromium (./test).

#[path = "api/common.rs"]
#[allow(dead_code)]
mod common;
#[path = "support/browser.rs"]
#[allow(dead_code)]
mod support;

use std::time::{Duration, Instant};

use common::{TestApp, request, spawn_app};
use cunlink_core::auth::Role;
use serde_json::json;
use support::run_script;

async fn id(app: &TestApp, token: &str, path: &str, body: serde_json::Value) -> i64 {
    let (st, v) = app.post_json(path, token, body).await;
    assert_eq!(st, 201, "{path}: {v}");
    v["id"].as_i64().expect("id")
}

/// The SFU thread's utime+stime in clock ticks (its name is `cunlink-sfu`).
fn sfu_ticks() -> u64 {
    let mut total = 0;
    for t in std::fs::read_dir("/proc/self/task")
        .expect("/proc/self/task")
        .flatten()
    {
        let comm = std::fs::read_to_string(t.path().join("comm")).unwrap_or_default();
        if comm.trim() == "cunlink-sfu" {
            total += ticks(&t.path().join("stat"));
        }
    }
    total
}

/// utime+stime of a /proc stat file.
fn ticks(stat: &std::path::Path) -> u64 {
    let s = std::fs::read_to_string(stat).unwrap_or_default();
    // Fields after the `(comm)`: state is field 3, utime 14, stime 15.
    let rest = s.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    f.get(11).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0)
        + f.get(12).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0)
}

fn rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

async fn metric(app: &TestApp, name: &str) -> u64 {
    let m = request(app.http, "GET", "/metrics", &[], Vec::new())
        .await
        .text();
    m.lines()
        .find_map(|l| l.strip_prefix(name).and_then(|v| v.trim().parse().ok()))
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_teacher_and_two_classrooms_meet_through_the_sfu() {
    support::tools();
    let hold: u64 = std::env::var("LIVE_BENCH_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let n: usize = std::env::var("LIVE_CLASSROOMS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2)
        .clamp(1, 3);
    let layer = std::env::var("LIVE_LAYER").unwrap_or_default();
    let screen = std::env::var("LIVE_SCREEN").is_ok_and(|v| v == "1");
    let app = spawn_app().await;
    let teacher = app.user("city-teacher", Role::Teacher, Some("县城")).await;
    let city = id(
        &app,
        &teacher,
        "/api/school/classes",
        json!({"name": "三年级(1)班", "school": "县城第一小学"}),
    )
    .await;
    let mut rural = Vec::new();
    let mut cookies = Vec::new();
    for (i, school) in ["茶香村小学", "竹林村小学", "石桥村小学"]
        .into_iter()
        .take(n)
        .enumerate()
    {
        let name = format!("classroom-{i}");
        let t = app.user(&name, Role::Teacher, Some("茶香村")).await;
        rural.push(
            id(
                &app,
                &t,
                "/api/school/classes",
                json!({"name": "三年级", "school": school}),
            )
            .await,
        );
        cookies.push(app.session(&name, "a-password").await);
    }
    id(&app, &teacher, "/api/school/pairings", json!({"name": "县城第一小学 × 茶香村小学", "city_class_id": city, "rural_class_ids": rural})).await;
    app.user("other-school", Role::Teacher, Some("竹溪村"))
        .await;
    let envs = [
        ("BASE", format!("http://{}", app.http)),
        ("CLASS", city.to_string()),
        (
            "RURAL",
            rural
                .iter()
                .map(i64::to_string)
                .collect::<Vec<_>>()
                .join(","),
        ),
        ("COOKIE_T", app.session("city-teacher", "a-password").await),
        ("COOKIE_R", cookies.join(",")),
        ("COOKIE_X", app.session("other-school", "a-password").await),
        ("LAYER", layer.clone()),
        ("SCREEN", if screen { "1".into() } else { String::new() }),
        (
            "HOLD",
            if hold > 0 {
                hold.to_string()
            } else {
                String::new()
            },
        ),
    ];
    let app_ref = &app;
    // The process's RSS once the accounts exist (Argon2 hashing leaves freed
    // arenas behind) and before any page joined: the live class's share is
    // what it adds.
    let rss_setup = rss_kb();
    let layer: &str = if layer.is_empty() { "auto" } else { &layer };
    run_script("live.mjs", &envs, |what| async move {
        assert_eq!(what, "measure");
        let tick = 100.0; // USER_HZ on Linux
        let rss0 = rss_kb();
        let (c0, p0, f0, b0, t0) = (
            sfu_ticks(),
            ticks(std::path::Path::new("/proc/self/stat")),
            metric(app_ref, "cunlink_school_live_forwarded_frames_total").await,
            metric(app_ref, "cunlink_school_live_forwarded_bytes_total").await,
            Instant::now(),
        );
        tokio::time::sleep(Duration::from_secs(hold)).await;
        let secs = t0.elapsed().as_secs_f64();
        let sfu = (sfu_ticks() - c0) as f64 / tick / secs * 100.0;
        let proc_ = (ticks(std::path::Path::new("/proc/self/stat")) - p0) as f64 / tick / secs * 100.0;
        let frames = metric(app_ref, "cunlink_school_live_forwarded_frames_total").await - f0;
        let bytes = metric(app_ref, "cunlink_school_live_forwarded_bytes_total").await - b0;
        // Forwarded tracks: each classroom gets the teacher's video and voice
        // (and screen), and the teacher gets each classroom's voice.
        let tracks = if screen { 4 * n } else { 3 * n };
        println!(
            "BENCH classrooms={n} layer={layer} screen={} secs={secs:.1} sfu_thread_cpu={sfu:.2}% of one core, per forwarded track {:.2}% ({tracks} tracks); \
             whole test process (server + harness) {proc_:.2}%; forwarded {:.0} frames/s, {:.0} kbit/s; VmRSS {} → {} MB (after setup, before the pages: {} MB)",
            if screen { "on" } else { "off" },
            sfu / tracks as f64,
            frames as f64 / secs,
            bytes as f64 * 8.0 / secs / 1000.0,
            rss0 / 1024,
            rss_kb() / 1024,
            rss_setup / 1024
        );
    })
    .await;
}
