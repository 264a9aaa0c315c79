//! Page render benchmark: 10,000 devices with 30 days of data written through the
//! real telemetry write path, then every page requested over HTTP on loopback,
//! one keep-alive connection, gzip accepted; prints p50/p99 per page.
//!
//! `cargo run --release -p cunlink --example pages_bench` (or bench/pages.sh).

use anyhow::Context;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use cunlink_core::auth::Role;
use cunlink_core::time::{DAY_MS, now_ms};
use cunlink_core::{Config, Db};
use cunlink_farm::model::AssetKind;
use cunlink_farm::store::NewDevice;
use cunlink_farm::telemetry::{Admission, Reading, Value};

const DEVICES: usize = 10_000;
const TAGS: usize = 50;
const PER_ASSET: usize = 10;
const ROUNDS: usize = 200;

fn main() -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(run())
}

async fn run() -> anyhow::Result<()> {
    let dir = std::env::temp_dir().join(format!("cunlink-pages-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let mut config = Config {
        data_dir: dir.clone(),
        ..Config::default()
    };
    config.http = "127.0.0.1:0".parse()?;
    config.mqtt = "127.0.0.1:0".parse()?;

    // Devices straight into the store in one go (setup, not what is measured).
    let t = Instant::now();
    {
        let db = Db::open(&config.app_db_path())?;
        db.migrate("core", cunlink_core::auth::MIGRATIONS)?;
        db.migrate("farm", cunlink_farm::store::MIGRATIONS)?;
        db.call_blocking(|c| -> anyhow::Result<()> {
            c.execute_batch("PRAGMA synchronous=OFF")?;
            for i in 0..DEVICES - TAGS {
                let new = NewDevice {
                    name: format!("probe-{i:05}"),
                    profile: Some("soil-probe".into()),
                    asset: Some(format!("field-{:04}", i / PER_ASSET)),
                    asset_kind: Some(AssetKind::Field),
                    // One village per asset: an asset (and its devices) lives in one village.
                    village: Some(format!("village-{}", (i / PER_ASSET) % 10)),
                    ..NewDevice::default()
                };
                cunlink_farm::store::create_device(c, &new)?;
            }
            for i in 0..TAGS {
                let new = NewDevice {
                    name: format!("tag-{i:03}"),
                    profile: Some("ear-tag".into()),
                    asset: Some("barn".into()),
                    asset_kind: Some(AssetKind::Barn),
                    village: Some("village-0".into()),
                    ..NewDevice::default()
                };
                cunlink_farm::store::create_device(c, &new)?;
            }
            c.execute_batch("PRAGMA synchronous=FULL")?;
            Ok(())
        })?;
    }
    eprintln!("{DEVICES} devices created in {:.1?}", t.elapsed());

    let server = cunlink::app::start(config).await?;
    let farm = server.farm.clone();
    let auth = server.auth.clone();
    tokio::task::spawn_blocking(move || {
        auth.create_user_blocking("bench", "bench-password", Role::Admin, None)
    })
    .await??;

    // 30 days through the real write path: hourly for every probe, 5-minutely
    // (2 keys) for the first field's probes, 10-minutely for the ear tags.
    let t = Instant::now();
    let keys = &farm.telemetry.store().keys;
    let (moist, soil_t, temp) = (
        keys.intern("soil_moisture"),
        keys.intern("soil_temperature"),
        keys.intern("temperature"),
    );
    let devices = farm.registry.all();
    let now = now_ms();
    let start = now - 30 * DAY_MS;
    let mut batch = Vec::with_capacity(100_000);
    let mut total = 0usize;
    let flush = |batch: &mut Vec<Reading>, total: &mut usize| {
        *total += batch.len();
        std::mem::take(batch)
    };
    for d in &devices {
        let (step, ks): (i64, Vec<_>) = if d.profile == "ear-tag" {
            (600_000, vec![temp])
        } else if d.asset.as_deref() == Some("field-0000") {
            (300_000, vec![moist, soil_t])
        } else {
            (3_600_000, vec![moist])
        };
        let mut ts = start;
        while ts <= now {
            for (j, k) in ks.iter().enumerate() {
                let v = if d.profile == "ear-tag" {
                    37.5 + ((ts / 3_600_000) % 24) as f64 * 0.02
                } else {
                    30.0 + j as f64 + ((ts / 3_600_000) % 12) as f64
                };
                batch.push(Reading {
                    device: d.id,
                    key: *k,
                    ts,
                    value: Value::Num(v),
                });
            }
            ts += step;
        }
        if batch.len() >= 50_000 {
            let b = flush(&mut batch, &mut total);
            farm.telemetry.write(b, Vec::new(), Admission::Wait).await?;
        }
    }
    let b = flush(&mut batch, &mut total);
    farm.telemetry.write(b, Vec::new(), Admission::Wait).await?;
    eprintln!("{total} values written in {:.1?}", t.elapsed());

    // Alarms for the inbox: a rule over every field, broken by 300 probes.
    let rule: cunlink_alert::rule::RuleInput = serde_json::from_value(serde_json::json!({
        "name": "土壤过干", "severity": "major", "target": { "asset_kind": "field" },
        "condition": { "type": "threshold", "conditions": [{ "key": "soil_moisture", "op": "<", "value": 20 }] }
    }))?;
    let rule = server.alerts.add_rule(rule, None, 0).await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let dry: Vec<Reading> = devices
        .iter()
        .filter(|d| d.profile == "soil-probe")
        .take(300)
        .map(|d| Reading {
            device: d.id,
            key: moist,
            ts: now_ms(),
            value: Value::Num(10.0),
        })
        .collect();
    farm.telemetry
        .write(dry, Vec::new(), Admission::Wait)
        .await?;
    let mut alarm_id = 0;
    for _ in 0..100 {
        let open = server
            .alerts
            .db
            .call(|c| {
                cunlink_alert::store::query_alarms(
                    c,
                    &cunlink_alert::store::AlarmFilter {
                        limit: 1000,
                        ..Default::default()
                    },
                )
            })
            .await?;
        if open.len() >= 300 {
            alarm_id = open[0].id;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!("alarms raised (latest id {alarm_id})");

    let board = server
        .boards
        .create(cunlink_board::NewBoard {
            name: "bench".into(),
            assets: vec!["field-0000".into(), "field-0001".into()],
            keys: vec![],
            rotate_secs: 10,
            line_width: 32,
            line_count: 4,
        })
        .await?;

    let addr = server.http_addr;
    let stream = TcpStream::connect(addr).await?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(conn);
    // Sign in through the form, as a browser does: fetch it for its CSRF cookie and field.
    let req = Request::get("/login")
        .header("host", addr.to_string())
        .body(Full::new(Bytes::new()))?;
    let resp = sender.send_request(req).await.context("GET /login")?;
    let login_cookie = resp
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .unwrap_or_default()
        .to_string();
    let form = resp.into_body().collect().await?.to_bytes();
    let form = String::from_utf8_lossy(&form);
    let csrf = form
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .unwrap_or_default()
        .to_string();
    let req = Request::post("/login")
        .header("host", addr.to_string())
        .header("cookie", login_cookie)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Full::new(Bytes::from(format!(
            "username=bench&password=bench-password&csrf={csrf}"
        ))))?;
    sender.ready().await?;
    let resp = sender.send_request(req).await.context("POST /login")?;
    anyhow::ensure!(
        resp.status().is_redirection(),
        "sign-in refused: {}",
        resp.status()
    );
    let cookie = resp
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .unwrap_or_default()
        .to_string();
    let _ = resp.into_body().collect().await;
    let asset = devices
        .iter()
        .find(|d| d.asset.as_deref() == Some("field-0000"))
        .and_then(|d| d.asset_id)
        .unwrap_or(1);
    let pages = [
        "/login".to_string(),
        "/".into(),
        format!("/farm/assets/{asset}"),
        format!("/farm/assets/{asset}/charts?range=30d"),
        "/farm/herd".into(),
        "/farm/herd/tag-000".into(),
        "/farm/devices".into(),
        "/farm/devices/probe-00000".into(),
        "/me".into(),
        "/admin/users".into(),
        format!("/board/{}", board.slug),
        format!("/board/{}.txt", board.slug),
        "/alarms".into(),
        format!("/alarms/{alarm_id}"),
        "/rules".into(),
        "/rules/new".into(),
        format!("/rules/{}", rule.id),
        "/market".into(),
        "/market/orders".into(),
        "/market/mine".into(),
        "/market/station".into(),
        "/prices".into(),
    ];
    println!(
        "{:<40} {:>8} {:>8} {:>8} {:>9}",
        "page", "p50 ms", "p99 ms", "max ms", "gz bytes"
    );
    let mut worst: f64 = 0.0;
    for p in &pages {
        let mut times = Vec::with_capacity(ROUNDS);
        let mut size = 0;
        for i in 0..ROUNDS + 10 {
            let req = Request::get(p.as_str())
                .header("host", addr.to_string())
                .header("cookie", &cookie)
                .header("accept-encoding", "gzip")
                .body(Full::new(Bytes::new()))?;
            sender.ready().await?;
            let t = Instant::now();
            let resp = sender
                .send_request(req)
                .await
                .with_context(|| format!("GET {p}"))?;
            let status = resp.status();
            let body = resp.into_body().collect().await?.to_bytes();
            let took = t.elapsed();
            anyhow::ensure!(status.is_success(), "{p}: {status}");
            if i >= 10 {
                times.push(took);
                size = body.len();
            }
        }
        times.sort();
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        let p99 = ms(times[(times.len() * 99).div_ceil(100) - 1]);
        worst = worst.max(p99);
        println!(
            "{:<40} {:>8.2} {:>8.2} {:>8.2} {:>9}",
            p,
            ms(times[times.len() / 2]),
            p99,
            ms(*times.last().unwrap_or(&Duration::ZERO)),
            size
        );
    }
    println!(
        "worst p99: {worst:.2} ms (budget 10 ms) with {DEVICES} devices and {total} values over 30 days"
    );
    server.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
