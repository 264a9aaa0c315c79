//! The demo village 茶香村: a tea garden with air and soil probes, a greenhouse,
//! and a barn of 40 sows wearing ear tags behind one gateway. It is seeded once
//! (with the last 24 hours of history) and then fed live readings through the
//! real ingest path — the same parsing, queue and group commit a device meets.
//!
//! Readings follow daily cycles with noise; now and then a probe misses a report
//! and a sow runs a fever for a couple of hours.

use std::f64::consts::PI;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value as J, json};
use tokio::sync::watch;

use cunlink_core::auth::{AuthService, Role};
use cunlink_core::time::{DAY_MS, HOUR_MS, TZ_OFFSET_MS, now_ms};
use cunlink_farm::Farm;
use cunlink_farm::ingest::Kind;
use cunlink_farm::model::{AssetKind, Device};
use cunlink_farm::store::NewDevice;
use cunlink_farm::telemetry::Admission;

pub const VILLAGE: &str = "茶香村";
pub const DEMO_USER: &str = "demo";
pub const DEMO_PASSWORD: &str = "cunlink-demo";
const BOARD: &str = "茶园看板";
const SOWS: usize = 40;
const TICK: Duration = Duration::from_secs(10);
const HISTORY_STEP_MS: i64 = 5 * 60_000;
const BACKFILL_DAYS: i64 = 4;

/// A small deterministic generator; the demo needs variety, not secrecy.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
    /// Roughly normal noise (sum of uniforms), standard deviation `sd`.
    fn noise(&mut self, sd: f64) -> f64 {
        (self.next() + self.next() + self.next() - 1.5) * 2.0 * sd
    }
}

struct Probe {
    device: Arc<Device>,
    kind: ProbeKind,
}

#[derive(Clone, Copy)]
enum ProbeKind {
    GardenAir,
    GreenhouseAir,
    Soil { offset: f64 },
}

/// Hour of day in China (UTC+8) as a fraction.
fn local_hour(ts: i64) -> f64 {
    ((ts + TZ_OFFSET_MS).rem_euclid(DAY_MS)) as f64 / HOUR_MS as f64
}

/// +1 at 15:00, -1 at 03:00.
fn daily(ts: i64) -> f64 {
    (2.0 * PI * (local_hour(ts) - 9.0) / 24.0).sin()
}

fn probe_values(kind: ProbeKind, ts: i64, rng: &mut Rng) -> Map<String, J> {
    let d = daily(ts);
    let mut m = Map::new();
    let r1 = |x: f64| (x * 10.0).round() / 10.0;
    match kind {
        ProbeKind::GardenAir => {
            m.insert(
                "temperature".into(),
                json!(r1(12.0 + 6.0 * d + rng.noise(0.3))),
            );
            m.insert(
                "humidity".into(),
                json!(r1((75.0 - 15.0 * d + rng.noise(1.5)).clamp(30.0, 100.0))),
            );
        }
        ProbeKind::GreenhouseAir => {
            m.insert(
                "temperature".into(),
                json!(r1(22.0 + 5.0 * d + rng.noise(0.3))),
            );
            m.insert(
                "humidity".into(),
                json!(r1((80.0 - 10.0 * d + rng.noise(1.0)).clamp(40.0, 100.0))),
            );
        }
        ProbeKind::Soil { offset } => {
            // Moisture falls through the day and recovers with the night's dew; one
            // probe sits in a drier corner so rules have something to find.
            let hours = (ts / 3_600_000) as f64;
            let drying = (hours % 72.0) / 72.0 * 12.0;
            m.insert(
                "soil_moisture".into(),
                json!(r1(
                    (34.0 + offset - drying - 2.0 * d + rng.noise(0.4)).clamp(5.0, 60.0)
                )),
            );
            m.insert(
                "soil_temperature".into(),
                json!(r1(13.0 + 2.5 * daily(ts - 2 * 3_600_000) + rng.noise(0.2))),
            );
        }
    }
    m
}

struct Sow {
    name: String,
    baseline: f64,
    /// Fever (start, end) in ms, if one is running or scheduled.
    fever: Option<(i64, i64)>,
    battery: f64,
}

impl Sow {
    fn values(&self, ts: i64, rng: &mut Rng) -> Map<String, J> {
        let mut temp = self.baseline + 0.3 * daily(ts) + rng.noise(0.08);
        let mut activity = (40.0 + 30.0 * daily(ts + 2 * 3_600_000) + rng.noise(6.0)).max(0.0);
        if let Some((s, e)) = self.fever
            && ts >= s
            && ts <= e
        {
            // Ramp up over 30 minutes, hold, and a sick sow moves less.
            let ramp = ((ts - s) as f64 / 1_800_000.0).min(1.0);
            temp += 1.6 * ramp;
            activity *= 1.0 - 0.6 * ramp;
        }
        let mut m = Map::new();
        m.insert("temperature".into(), json!((temp * 100.0).round() / 100.0));
        m.insert("activity".into(), json!(activity.round()));
        m.insert("battery".into(), json!(self.battery.round()));
        m
    }
}

/// Seed the village if it is not there yet, then feed it until shutdown.
pub async fn start(
    farm: Arc<Farm>,
    auth: AuthService,
    boards: Arc<cunlink_board::Boards>,
    shutdown: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let seeded = farm.registry.by_name("茶园气象站").await?.is_some();
    let probes = ensure_probes(&farm).await?;
    let gateway = match farm.registry.by_name("猪舍网关").await? {
        Some(d) => d,
        None => {
            farm.registry
                .create(demo_device(
                    "猪舍网关",
                    "gateway",
                    "猪舍",
                    AssetKind::Barn,
                    true,
                ))
                .await?
        }
    };
    let mut rng = Rng(0x5EED_CAFE_F00D_0001);
    let now = now_ms();
    let sows = connect_sows(&farm, &gateway, &mut rng).await?;
    if !seeded {
        ensure_demo_user(&auth).await?;
        backfill(&farm, &probes, &gateway, &sows, now, &mut rng).await?;
    }
    let board = ensure_board(&boards).await?;
    tracing::info!(
        url = %format!("/board/{}", board.slug),
        text = %format!("/board/{}.txt", board.slug),
        "demo: display board for the tea garden"
    );
    tracing::info!(
        village = VILLAGE,
        probes = probes.len(),
        sows = SOWS,
        "demo village is live"
    );
    tokio::spawn(feed(farm, probes, gateway, sows, rng, shutdown));
    Ok(())
}

/// A device of the demo village, with its asset.
fn demo_device(
    name: &str,
    profile: &str,
    asset: &str,
    kind: AssetKind,
    gateway: bool,
) -> NewDevice {
    NewDevice {
        name: name.into(),
        profile: Some(profile.into()),
        asset: Some(asset.into()),
        asset_kind: Some(kind),
        village: Some(VILLAGE.to_string()),
        is_gateway: gateway,
        ..NewDevice::default()
    }
}

/// The tea garden's and greenhouse's probes, created on first start.
async fn ensure_probes(farm: &Farm) -> anyhow::Result<Vec<Probe>> {
    let specs = [
        (
            demo_device(
                "茶园气象站",
                "air-probe",
                "龙井茶园",
                AssetKind::Field,
                false,
            ),
            ProbeKind::GardenAir,
        ),
        (
            demo_device(
                "茶园土壤-东",
                "soil-probe",
                "龙井茶园",
                AssetKind::Field,
                false,
            ),
            ProbeKind::Soil { offset: 0.0 },
        ),
        (
            demo_device(
                "茶园土壤-西",
                "soil-probe",
                "龙井茶园",
                AssetKind::Field,
                false,
            ),
            ProbeKind::Soil { offset: -8.0 },
        ),
        (
            demo_device(
                "大棚温湿度",
                "air-probe",
                "一号大棚",
                AssetKind::Greenhouse,
                false,
            ),
            ProbeKind::GreenhouseAir,
        ),
    ];
    let mut probes = Vec::new();
    for (spec, kind) in specs {
        let device = match farm.registry.by_name(&spec.name).await? {
            Some(d) => d,
            None => farm.registry.create(spec).await?,
        };
        probes.push(Probe { device, kind });
    }
    Ok(probes)
}

/// The barn's ear-tagged sows, each announced through the gateway.
async fn connect_sows(
    farm: &Farm,
    gateway: &Arc<Device>,
    rng: &mut Rng,
) -> anyhow::Result<Vec<Sow>> {
    let sows: Vec<Sow> = (0..SOWS)
        .map(|i| Sow {
            name: format!("耳标 {:04}", 401 + i),
            baseline: 37.2 + rng.next() * 0.8,
            fever: None,
            battery: 60.0 + rng.next() * 40.0,
        })
        .collect();
    for sow in &sows {
        let body = json!({ "device": sow.name, "type": "ear-tag" }).to_string();
        farm.ingest
            .gateway_connect(gateway, body.as_bytes())
            .await?;
    }
    Ok(sows)
}

/// The demo admin, created only on an empty user table.
async fn ensure_demo_user(auth: &AuthService) -> anyhow::Result<()> {
    if auth
        .db()
        .call_blocking(|c| cunlink_core::auth::user_count(c))?
        != 0
    {
        return Ok(());
    }
    let a = auth.clone();
    tokio::task::spawn_blocking(move || {
        a.create_user_blocking(DEMO_USER, DEMO_PASSWORD, Role::Admin, Some(VILLAGE))
    })
    .await??;
    tracing::info!(
        user = DEMO_USER,
        password = DEMO_PASSWORD,
        "demo: sign in with this account"
    );
    Ok(())
}

/// The tea garden's display board, created on first start.
async fn ensure_board(boards: &cunlink_board::Boards) -> anyhow::Result<cunlink_board::Board> {
    Ok(match boards.with_name(BOARD).await? {
        Some(b) => b,
        None => {
            boards
                .create(cunlink_board::NewBoard {
                    name: BOARD.into(),
                    assets: vec!["龙井茶园".into(), "一号大棚".into()],
                    keys: Vec::new(),
                    rotate_secs: 10,
                    line_width: 32,
                    line_count: 4,
                })
                .await?
        }
    })
}

async fn send(farm: &Farm, device: &Device, kind: Kind, body: J) -> anyhow::Result<()> {
    let bytes = body.to_string();
    let p = farm.ingest.prepare(device, kind, bytes.as_bytes()).await?;
    farm.telemetry
        .write(p.readings, p.attributes, Admission::Wait)
        .await?;
    Ok(())
}

/// The last 4 days, every 5 minutes, so charts have a history at first sight and
/// the herd-fever rule has its 3-day baseline from the start.
async fn backfill(
    farm: &Farm,
    probes: &[Probe],
    gateway: &Device,
    sows: &[Sow],
    now: i64,
    rng: &mut Rng,
) -> anyhow::Result<()> {
    // One day per request: the whole history in one body peaked at ~200 MB of
    // JSON trees and parsed readings, which the allocator then kept.
    const STEPS_PER_DAY: i64 = DAY_MS / HISTORY_STEP_MS;
    for day in 0..BACKFILL_DAYS {
        let steps = || {
            (day * STEPS_PER_DAY..(day + 1) * STEPS_PER_DAY)
                .map(|i| now - BACKFILL_DAYS * DAY_MS + i * HISTORY_STEP_MS)
        };
        for p in probes {
            let series: Vec<J> = steps()
                .map(|ts| json!({ "ts": ts, "values": probe_values(p.kind, ts, rng) }))
                .collect();
            send(farm, &p.device, Kind::Telemetry, J::Array(series)).await?;
        }
        let mut body = Map::new();
        for sow in sows {
            let series: Vec<J> = steps()
                .map(|ts| json!({ "ts": ts, "values": sow.values(ts, rng) }))
                .collect();
            body.insert(sow.name.clone(), J::Array(series));
        }
        send(farm, gateway, Kind::GatewayTelemetry, J::Object(body)).await?;
    }
    Ok(())
}

async fn feed(
    farm: Arc<Farm>,
    probes: Vec<Probe>,
    gateway: Arc<Device>,
    mut sows: Vec<Sow>,
    mut rng: Rng,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(TICK);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.changed() => return,
        }
        let now = now_ms();
        for p in &probes {
            // The odd dropout: a probe that misses a report now and then.
            if rng.next() < 0.03 {
                continue;
            }
            if let Err(e) = send(
                &farm,
                &p.device,
                Kind::Telemetry,
                J::Object(probe_values(p.kind, now, &mut rng)),
            )
            .await
            {
                tracing::warn!(error = %e, device = %p.device.name, "demo reading not stored");
            }
        }
        // About one fever every two hours across the herd, lasting two hours.
        if sows.iter().all(|s| s.fever.is_none_or(|(_, e)| e < now))
            && rng.next() < TICK.as_secs_f64() / 7_200.0
        {
            let i = (rng.next() * sows.len() as f64) as usize % sows.len();
            sows[i].fever = Some((now, now + 2 * 3_600_000));
            tracing::info!(sow = %sows[i].name, "demo: a sow is running a fever");
        }
        let mut body = Map::new();
        for sow in sows.iter_mut() {
            sow.battery = (sow.battery - 0.0005).max(5.0);
            if rng.next() < 0.02 {
                continue;
            }
            body.insert(sow.name.clone(), J::Object(sow.values(now, &mut rng)));
        }
        if let Err(e) = send(&farm, &gateway, Kind::GatewayTelemetry, J::Object(body)).await {
            tracing::warn!(error = %e, "demo ear-tag readings not stored");
        }
    }
}
