//! Streaming evaluation: committed readings in, alarm events out.
//!
//! One task owns all per-(rule, device) state in memory. It consumes the farm's
//! post-commit bus, so a reading is judged only once it is durable, and never
//! polls storage. At start it subscribes first, then re-reads recent history
//! through the same evaluation so that a restart neither misses an alarm nor
//! raises one twice (the alarm writer drops episodes it has already stored).

mod partition;
mod episode;
mod eval;
pub mod herd;
mod silence;
pub mod world;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cunlink_core::Db;
use cunlink_core::metrics::{Counter, Gauge, Histogram};
use cunlink_core::time::now_ms;
use cunlink_farm::Farm;
use cunlink_farm::model::Device;
use cunlink_farm::telemetry::{Committed, DeviceId, KeyId, Reading, Value};
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::{broadcast, mpsc, watch};

use crate::rule::{Rule, Target};
use crate::store;
use eval::{Outcome, RuleState};
use herd::Pen;
use silence::Timers;
use world::{Compiled, DeviceInfo, FarmView};

/// How long rule changes are gathered before the engine rebuilds its matching.
const RELOAD_DEBOUNCE: Duration = Duration::from_millis(100);

/// What the engine tells the alarm writer.
#[derive(Debug)]
pub enum Event {
    Raise {
        rule: Arc<Rule>,
        device: Arc<Device>,
        pen: Option<i64>,
        pen_name: Option<String>,
        /// Event time the condition began to hold: the episode's identity.
        since: i64,
        /// Event time it fired (wall clock for silence).
        at: i64,
        details: serde_json::Value,
    },
    Clear {
        rule_id: i64,
        device: DeviceId,
        at: i64,
    },
    /// Every event caused by one committed batch (`readings` of them), or by
    /// the history re-read at start (`replay`), has been sent. The writer
    /// turns it into the watermarks of [`crate::alarms::AlarmMetrics`] once
    /// the events before it are stored.
    Settled { readings: u64, replay: bool },
}

/// Commands from the API.
pub enum Command {
    /// Rules changed: rebuild what watches what.
    Reload,
}

pub struct EngineMetrics {
    pub readings: Counter,
    pub late_readings: Counter,
    pub lagged_batches: Counter,
    pub raised: Counter,
    pub cleared: Counter,
    pub watched: Gauge,
    pub batch_seconds: Histogram,
}

impl Default for EngineMetrics {
    fn default() -> Self {
        EngineMetrics {
            readings: Counter::default(),
            late_readings: Counter::default(),
            lagged_batches: Counter::default(),
            raised: Counter::default(),
            cleared: Counter::default(),
            watched: Gauge::default(),
            batch_seconds: Histogram::new(&[0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5]),
        }
    }
}

impl EngineMetrics {
    pub fn render(&self, out: &mut String) {
        self.readings.render(
            out,
            "cunlink_alert_readings_total",
            "Readings evaluated by the alert engine.",
        );
        self.late_readings.render(
            out,
            "cunlink_alert_late_readings_total",
            "Readings older than the state they would update (ignored).",
        );
        self.lagged_batches.render(
            out,
            "cunlink_alert_lagged_batches_total",
            "Committed batches the engine fell too far behind to see.",
        );
        self.raised.render(
            out,
            "cunlink_alert_raise_events_total",
            "Rule firings sent to the alarm writer.",
        );
        self.cleared.render(
            out,
            "cunlink_alert_clear_events_total",
            "Rule clearings sent to the alarm writer.",
        );
        self.watched.render(
            out,
            "cunlink_alert_watched_pairs",
            "Active (rule, device) pairs.",
        );
        self.batch_seconds.render(
            out,
            "cunlink_alert_batch_seconds",
            "Time to evaluate one committed batch.",
        );
    }
}

/// The running engine, as the rest of the crate sees it.
#[derive(Clone)]
pub struct EngineHandle {
    commands: mpsc::UnboundedSender<Command>,
    pub metrics: Arc<EngineMetrics>,
}

impl EngineHandle {
    pub fn reload(&self) {
        let _ = self.commands.send(Command::Reload);
    }
}

struct Entry {
    info: DeviceInfo,
    states: Vec<RuleState>,
}

struct Engine {
    farm: Arc<Farm>,
    db: Db,
    events: mpsc::UnboundedSender<Event>,
    metrics: Arc<EngineMetrics>,
    view: FarmView,
    rules: Vec<Arc<Compiled>>,
    devices: HashMap<DeviceId, Entry>,
    pens: HashMap<(i64, KeyId), Pen>,
    timers: Timers,
    /// The villages this node evaluates (all of them on one node).
    partition: partition::Partition,
}

/// Start the engine. Events go to `events`; it stops when `shutdown` turns true.
pub fn spawn(
    farm: Arc<Farm>,
    db: Db,
    events: mpsc::UnboundedSender<Event>,
    shutdown: watch::Receiver<bool>,
) -> EngineHandle {
    let (handle, ready) = prepare(farm, db, events);
    ready.spawn(shutdown);
    handle
}

/// An engine subscribed to the farm's bus but not yet running (see [`prepare`]).
pub struct Ready {
    engine: Engine,
    bus: broadcast::Receiver<Arc<Committed>>,
    commands: mpsc::UnboundedReceiver<Command>,
}

impl Ready {
    /// Start evaluating; stops when `shutdown` turns true.
    pub fn spawn(self, shutdown: watch::Receiver<bool>) {
        tokio::spawn(self.engine.run(self.bus, self.commands, shutdown));
    }
}

/// The engine's handle now and its task for later: the bus is subscribed here,
/// so readings committed before [`Ready::spawn`] wait in the subscription
/// (commands such as reloads wait in the handle's channel).
pub fn prepare(
    farm: Arc<Farm>,
    db: Db,
    events: mpsc::UnboundedSender<Event>,
) -> (EngineHandle, Ready) {
    let (commands, rx) = mpsc::unbounded_channel();
    let metrics = Arc::new(EngineMetrics::default());
    let farm_cluster = farm.cluster.clone();
    // Subscribe before reading history, so nothing committed in between is lost.
    let bus = farm.telemetry.subscribe();
    let engine = Engine {
        farm,
        db,
        events,
        metrics: metrics.clone(),
        view: FarmView::default(),
        rules: Vec::new(),
        devices: HashMap::new(),
        pens: HashMap::new(),
        timers: Timers::default(),
        partition: partition::Partition::new(farm_cluster),
    };
    (
        EngineHandle { commands, metrics },
        Ready {
            engine,
            bus,
            commands: rx,
        },
    )
}

impl Engine {
    async fn run(
        mut self,
        mut bus: broadcast::Receiver<Arc<Committed>>,
        mut commands: mpsc::UnboundedReceiver<Command>,
        mut shutdown: watch::Receiver<bool>,
    ) {
        let mut renew = tokio::time::interval(partition::RENEW_EVERY);
        renew.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        if !self.partition.is_everything() {
            // Know the other nodes, then take this node's villages, before the first load.
            self.partition.wait_settled().await;
            renew.tick().await;
            let villages = self.villages().await;
            self.partition.renew(&villages).await;
        }
        if let Err(e) = self.reload().await {
            tracing::error!(error = %e, "alert engine: loading rules failed; evaluating none until they reload");
        }
        let started = Instant::now();
        let replayed = self.replay().await;
        let _ = self.events.send(Event::Settled {
            readings: replayed as u64,
            replay: true,
        });
        tracing::info!(
            readings = replayed,
            pairs = self.metrics.watched.get(),
            ms = started.elapsed().as_millis() as u64,
            "alert engine: state rebuilt from history"
        );
        let mut refresh = tokio::time::interval(Duration::from_secs(60));
        refresh.tick().await;
        loop {
            let sleep = match self.timers.next_deadline() {
                Some(t) => Duration::from_millis((t - now_ms()).max(0) as u64),
                None => Duration::from_secs(3600),
            };
            tokio::select! {
                msg = bus.recv() => match msg {
                    Ok(batch) => {
                        let t = Instant::now();
                        self.on_readings(&batch.readings, None, Some(batch.committed_at)).await;
                        self.metrics.batch_seconds.observe(t.elapsed().as_secs_f64());
                        let _ = self.events.send(Event::Settled {
                            readings: batch.readings.len() as u64,
                            replay: false,
                        });
                    }
                    Err(RecvError::Lagged(n)) => {
                        self.metrics.lagged_batches.add(n);
                        tracing::warn!(batches = n, "alert engine fell behind ingest; some readings were not evaluated");
                    }
                    Err(RecvError::Closed) => break,
                },
                Some(cmd) = commands.recv() => match cmd {
                    Command::Reload => {
                        // Rules often change in bursts (a script adding many):
                        // gather them and rebuild once.
                        tokio::time::sleep(RELOAD_DEBOUNCE).await;
                        while commands.try_recv().is_ok() {}
                        if let Err(e) = self.reload().await {
                            tracing::warn!(error = %e, "alert engine: reloading rules failed");
                        }
                    }
                },
                _ = tokio::time::sleep(sleep) => self.fire_silences(),
                _ = renew.tick(), if !self.partition.is_everything() => {
                    let villages = self.villages().await;
                    let change = self.partition.renew(&villages).await;
                    if !change.gained.is_empty() || !change.lost.is_empty() {
                        tracing::info!(gained = ?change.gained, lost = ?change.lost, held = self.partition.held(), "alert engine: villages moved");
                        if let Err(e) = self.reload().await {
                            tracing::warn!(error = %e, "alert engine: reloading after a move failed");
                        }
                        if !change.gained.is_empty() {
                            // Taken over: rebuild the new villages' state from history.
                            let replayed = self.replay().await;
                            let _ = self.events.send(Event::Settled { readings: replayed as u64, replay: true });
                        }
                    }
                }
                _ = refresh.tick() => {
                    // Devices moved between assets, new profiles: re-match.
                    if let Err(e) = self.reload().await {
                        tracing::warn!(error = %e, "alert engine: refreshing rules failed");
                    }
                }
                _ = shutdown.changed() => break,
            }
        }
    }

    /// (Re)build rules, devices and which rule watches which device. State of
    /// unchanged (rule, device) pairs is kept.
    async fn reload(&mut self) -> Result<(), crate::AlertError> {
        let rules = self.db.call(|c| store::rules(c)).await?;
        let delegated = self
            .db
            .call(|c| {
                cunlink_core::sync::delegated_villages(c).map_err(cunlink_core::DbError::from)
            })
            .await?;
        self.partition.set_delegated(delegated.into_iter().collect());
        let profiles = self.farm.profiles().await?;
        let assets = self.farm.assets().await?;
        self.view = FarmView::new(profiles, assets);
        let keys = &self.farm.telemetry.store().keys;
        self.rules = rules
            .into_iter()
            .filter(|r| r.enabled)
            .map(|r| Arc::new(Compiled::new(Arc::new(r), |k| keys.intern(k))))
            .collect();
        let index = RuleIndex::new(&self.rules);
        let mut old = std::mem::take(&mut self.devices);
        for device in self.farm.registry.all() {
            if !self.partition.holds(device.village_id) {
                continue;
            }
            let id = device.id;
            let info = self.describe(device);
            let mut states: Vec<RuleState> = Vec::new();
            let mut previous = old.remove(&id).map(|e| e.states).unwrap_or_default();
            for rule in index.candidates(&info) {
                if !self.view.matches(&rule.rule, &info) {
                    continue;
                }
                let kept = previous.iter().position(|s| {
                    s.rule.rule.id == rule.rule.id && s.rule.rule.updated_at == rule.rule.updated_at
                });
                states.push(match kept {
                    Some(i) => {
                        let mut s = previous.swap_remove(i);
                        s.rule = rule.clone();
                        s
                    }
                    None => RuleState::new(rule.clone()),
                });
            }
            self.devices.insert(id, Entry { info, states });
        }
        self.arm_silences();
        self.metrics
            .watched
            .set(self.devices.values().map(|e| e.states.len() as u64).sum());
        Ok(())
    }

    /// Every village, and county level (`None`).
    async fn villages(&self) -> HashSet<partition::Village> {
        let mut out: HashSet<partition::Village> =
            self.farm.registry.all().iter().map(|d| d.village_id).collect();
        out.insert(None);
        match self
            .db
            .call(|c| cunlink_core::auth::village_ids(c).map_err(cunlink_core::DbError::from))
            .await
        {
            Ok(ids) => out.extend(ids.into_iter().map(Some)),
            Err(e) => tracing::warn!(error = %e, "alert engine: listing villages failed"),
        }
        out
    }

    fn describe(&self, device: Arc<Device>) -> DeviceInfo {
        let gateway = device.gateway_id.and_then(|g| self.farm.registry.get(g));
        self.view.describe(device, gateway.as_deref())
    }

    /// A device first seen in a batch (a gateway's new child): match it now.
    fn adopt(&mut self, id: DeviceId) -> bool {
        let Some(device) = self.farm.registry.get(id) else {
            return false;
        };
        if !self.partition.holds(device.village_id) {
            return false;
        }
        let info = self.describe(device);
        let index = RuleIndex::new(&self.rules);
        let states: Vec<RuleState> = index
            .candidates(&info)
            .into_iter()
            .filter(|r| self.view.matches(&r.rule, &info))
            .map(|r| RuleState::new(r.clone()))
            .collect();
        self.metrics
            .watched
            .set(self.metrics.watched.get() + states.len() as u64);
        self.devices.insert(id, Entry { info, states });
        self.arm_silences();
        true
    }

    /// Silence timers for every (silence rule, device) not armed yet; the clock
    /// starts at the device's latest reading, or now if it never sent one.
    fn arm_silences(&mut self) {
        let now = now_ms();
        let store = self.farm.telemetry.store();
        let mut live: Vec<(i64, DeviceId)> = Vec::new();
        for (id, entry) in &self.devices {
            for s in &entry.states {
                let Some(wait) = s.rule.silence_ms(&entry.info) else {
                    continue;
                };
                live.push((s.rule.rule.id, *id));
                if self.timers.is_armed(s.rule.rule.id, *id) {
                    continue;
                }
                let last = store
                    .latest(*id)
                    .iter()
                    .map(|(_, ts, _)| *ts)
                    .max()
                    .map_or(now, |t| t.min(now));
                self.timers
                    .arm(s.rule.rule.id, *id, last.saturating_add(wait));
            }
        }
        live.sort_unstable();
        self.timers
            .retain(|r, d| live.binary_search(&(r, d)).is_ok());
    }

    fn fire_silences(&mut self) {
        let now = now_ms();
        for (rule_id, device, deadline) in self.timers.pop_due(now) {
            let Some(entry) = self.devices.get(&device) else {
                continue;
            };
            let Some(state) = entry.states.iter().find(|s| s.rule.rule.id == rule_id) else {
                continue;
            };
            let waited = state.rule.silence_ms(&entry.info).unwrap_or(0);
            self.metrics.raised.inc();
            let _ = self.events.send(Event::Raise {
                rule: state.rule.rule.clone(),
                device: entry.info.device.clone(),
                pen: entry.info.pen,
                pen_name: entry.info.pen_name.clone(),
                since: deadline,
                at: now,
                details: serde_json::json!({ "silent_since": deadline.saturating_sub(waited), "silent_s": waited / 1000 }),
            });
        }
    }

    /// Evaluate readings, grouped by (device, instant). `arrival` is the wall
    /// clock the silence timers restart from (`None`: now; replay passes the
    /// readings' own times).
    async fn on_readings(
        &mut self,
        readings: &[Reading],
        replay_arrival: Option<()>,
        committed_at: Option<i64>,
    ) {
        let now = now_ms();
        self.metrics.readings.add(readings.len() as u64);
        // A gateway's buffered history arrives device by device; judge it in
        // time order so pen medians compare animals at the same moment. Live
        // batches span seconds and are left as they are.
        let sorted;
        let readings = match time_spread(readings) {
            Some(spread) if spread > DISORDER_MS && !is_time_ordered(readings) => {
                let mut v = readings.to_vec();
                v.sort_by_key(|r| r.ts);
                sorted = v;
                &sorted[..]
            }
            _ => readings,
        };
        let mut group: Vec<(KeyId, &Value)> = Vec::with_capacity(8);
        let mut i = 0;
        while i < readings.len() {
            let (device, ts) = (readings[i].device, readings[i].ts);
            group.clear();
            while i < readings.len() && readings[i].device == device && readings[i].ts == ts {
                group.push((readings[i].key, &readings[i].value));
                i += 1;
            }
            if !self.devices.contains_key(&device) && !self.adopt(device) {
                continue;
            }
            let arrival = if replay_arrival.is_some() {
                ts.min(now)
            } else {
                now
            };
            self.on_instant(device, ts, &group, arrival, committed_at);
        }
    }

    fn on_instant(
        &mut self,
        device: DeviceId,
        ts: i64,
        group: &[(KeyId, &Value)],
        arrival: i64,
        committed_at: Option<i64>,
    ) {
        let Some(entry) = self.devices.get_mut(&device) else {
            return;
        };
        for state in entry.states.iter_mut() {
            if let Some(wait) = state.rule.silence_ms(&entry.info) {
                if self
                    .timers
                    .touch(state.rule.rule.id, device, arrival.saturating_add(wait))
                {
                    self.metrics.cleared.inc();
                    let _ = self.events.send(Event::Clear {
                        rule_id: state.rule.rule.id,
                        device,
                        at: arrival,
                    });
                }
                continue;
            }
            if !state.reads(group) {
                continue;
            }
            if ts < state.last_ts {
                self.metrics.late_readings.inc();
                continue;
            }
            state.last_ts = ts;
            let pen = match (&state.kind, entry.info.pen) {
                (eval::Kind::Herd(_), Some(p)) => {
                    Some(self.pens.entry((p, state.rule.keys[0])).or_default())
                }
                _ => None,
            };
            match state.apply(&entry.info, ts, group, pen) {
                Outcome::Nothing => {}
                Outcome::Fire { since, mut details } => {
                    self.metrics.raised.inc();
                    // When the reading that raised it was stored (absent when
                    // re-read from history at start).
                    if let (Some(t), Some(obj)) = (committed_at, details.as_object_mut()) {
                        obj.insert("committed_at".into(), t.into());
                    }
                    let _ = self.events.send(Event::Raise {
                        rule: state.rule.rule.clone(),
                        device: entry.info.device.clone(),
                        pen: entry.info.pen,
                        pen_name: entry.info.pen_name.clone(),
                        since,
                        at: ts,
                        details,
                    });
                }
                Outcome::Clear => {
                    self.metrics.cleared.inc();
                    let _ = self.events.send(Event::Clear {
                        rule_id: state.rule.rule.id,
                        device,
                        at: ts,
                    });
                }
            }
        }
    }

    /// Re-read each watched device's recent history and evaluate it in time
    /// order (all devices interleaved, so pen medians see their mates).
    async fn replay(&mut self) -> usize {
        let now = now_ms();
        let mut wanted: Vec<(DeviceId, Vec<KeyId>, i64)> = Vec::new();
        for (id, entry) in &self.devices {
            let mut keys: Vec<KeyId> = Vec::new();
            let mut lookback = 0;
            for s in &entry.states {
                if s.rule.is_silence() {
                    continue;
                }
                keys.extend(s.rule.keys.iter().copied());
                lookback = lookback.max(s.rule.lookback_ms(&entry.info));
            }
            keys.sort_unstable();
            keys.dedup();
            if !keys.is_empty() {
                wanted.push((*id, keys, lookback));
            }
        }
        if wanted.is_empty() {
            return 0;
        }
        let store = self.farm.telemetry.store().clone();
        let loaded = tokio::task::spawn_blocking(move || {
            let mut out: Vec<Reading> = Vec::new();
            for (device, keys, lookback) in wanted {
                for key in keys {
                    match store.range(device, key, now.saturating_sub(lookback), now) {
                        Ok(points) => out.extend(points.into_iter().map(|(ts, value)| Reading {
                            device,
                            key,
                            ts,
                            value,
                        })),
                        Err(e) => tracing::warn!(error = %e, device = device.0, "alert replay: reading history failed"),
                    }
                }
            }
            out.sort_by_key(|r| (r.ts, r.device));
            out
        })
        .await
        .unwrap_or_default();
        let n = loaded.len();
        self.on_readings(&loaded, Some(()), None).await;
        n
    }
}

/// Time disorder within a batch that is worth sorting for.
const DISORDER_MS: i64 = 60_000;

fn time_spread(readings: &[Reading]) -> Option<i64> {
    let min = readings.iter().map(|r| r.ts).min()?;
    let max = readings.iter().map(|r| r.ts).max()?;
    Some(max - min)
}

fn is_time_ordered(readings: &[Reading]) -> bool {
    readings.windows(2).all(|w| w[0].ts <= w[1].ts)
}

/// Rules by what they target, so matching a device costs a few lookups rather
/// than a pass over every rule.
struct RuleIndex<'a> {
    by_device: HashMap<&'a str, Vec<&'a Arc<Compiled>>>,
    by_asset: HashMap<&'a str, Vec<&'a Arc<Compiled>>>,
    by_profile: HashMap<&'a str, Vec<&'a Arc<Compiled>>>,
    by_kind: HashMap<&'a str, Vec<&'a Arc<Compiled>>>,
}

impl<'a> RuleIndex<'a> {
    fn new(rules: &'a [Arc<Compiled>]) -> Self {
        let mut ix = RuleIndex {
            by_device: HashMap::new(),
            by_asset: HashMap::new(),
            by_profile: HashMap::new(),
            by_kind: HashMap::new(),
        };
        for r in rules {
            let (map, name) = match &r.rule.target {
                Target::Device(n) => (&mut ix.by_device, n),
                Target::Asset(n) => (&mut ix.by_asset, n),
                Target::Profile(n) => (&mut ix.by_profile, n),
                Target::AssetKind(n) => (&mut ix.by_kind, n),
            };
            map.entry(name.as_str()).or_default().push(r);
        }
        ix
    }

    /// Rules that may watch `info`'s device (to be confirmed by `FarmView::matches`).
    fn candidates(&self, info: &DeviceInfo) -> Vec<Arc<Compiled>> {
        let mut out: Vec<Arc<Compiled>> = Vec::new();
        let mut add = |v: Option<&Vec<&'a Arc<Compiled>>>| {
            out.extend(v.into_iter().flatten().map(|r| (*r).clone()));
        };
        add(self.by_device.get(info.device.name.as_str()));
        add(self.by_profile.get(info.device.profile.as_str()));
        if let Some(kind) = &info.asset_kind {
            add(self.by_kind.get(kind.as_str()));
        }
        if let Some(pen) = &info.pen_name {
            add(self.by_asset.get(pen.as_str()));
        }
        out
    }
}
