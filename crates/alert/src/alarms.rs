//! The alarm lifecycle: raised by the engine, acknowledged, assigned, commented
//! and cleared by people (or cleared by the engine when the condition ends).
//!
//! One open alarm per (rule, device): a new episode while one is open updates it.
//! An episode (rule, device, condition start) is stored once, so evaluation
//! replayed after a restart cannot raise it again. Each new alarm and its
//! deliveries are committed in one transaction before anyone is told: the
//! dispatcher, live subscribers and the rule's device command all hear of it
//! only after the commit returned. (An earlier version let deliveries leave
//! during the commit's flush to gain a disk-flush of latency; a commit that then
//! failed had told people of an alarm that did not exist.)
//!
//! The writer takes the engine's events in order and does not drop one when
//! the database refuses a write: it retries with backoff (each failure logged
//! and counted in `cunlink_alert_store_retries_total`) until the change is
//! stored, and later events wait behind it so a clear never overtakes its
//! raise. Only a change that can never succeed (its rule or alarm is gone, a
//! constraint refuses it) is given up, logged and counted as dropped. At
//! shutdown a change still being retried is left to the restart, whose replay
//! of recent history raises it again.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cunlink_core::Db;
use cunlink_core::metrics::{Counter, Gauge};
use cunlink_core::time::now_ms;
use cunlink_farm::Farm;
use cunlink_farm::telemetry::DeviceId;
use tokio::sync::{broadcast, mpsc, watch};

use crate::AlertStoreError;
use crate::engine::Event;
use crate::notify::Notifier;
use crate::store::{self, Alarm, NewAlarm};

/// The error [`Alarms::fail_next_commits`] injects: SQLite's "database is busy".
fn injected_failure() -> AlertStoreError {
    AlertStoreError::Db(cunlink_core::DbError::from(rusqlite::Error::SqliteFailure(
        rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_BUSY),
        Some("injected by a test".into()),
    )))
}

/// What a person does to an alarm.
#[derive(Debug, Clone, Copy)]
pub enum Handling {
    Ack,
    Clear,
}

/// Open alarms by (rule, device): (alarm id, condition start).
type OpenMap = HashMap<(i64, i64), (i64, i64)>;

pub struct Alarms {
    db: Db,
    farm: Arc<Farm>,
    notifier: Arc<Notifier>,
    open: Mutex<OpenMap>,
    live: broadcast::Sender<Arc<Alarm>>,
    pub metrics: AlarmMetrics,
    /// Test hook: this many raise transactions fail at their commit.
    fail_commits: Arc<AtomicU32>,
}

/// The alarm writer's counters. The `settled` ones are watermarks: a batch
/// counts once its evaluation *and* every alarm change it caused are stored,
/// so a test (or an operator) can tell "nothing more will come of what was
/// committed" without waiting an arbitrary time.
#[derive(Default)]
pub struct AlarmMetrics {
    pub store_retries: Counter,
    pub dropped: Counter,
    pub batches_settled: Counter,
    pub readings_settled: Counter,
    pub replay_settled: Gauge,
}

impl AlarmMetrics {
    pub fn render(&self, out: &mut String) {
        self.store_retries.render(
            out,
            "cunlink_alert_store_retries_total",
            "Alarm writes that failed and were retried (the alarm is kept until stored).",
        );
        self.dropped.render(
            out,
            "cunlink_alert_store_dropped_total",
            "Alarm changes given up because they can never be stored (rule or alarm gone).",
        );
        self.batches_settled.render(
            out,
            "cunlink_alert_batches_processed_total",
            "Committed reading batches evaluated, with every alarm change they caused stored.",
        );
        self.readings_settled.render(
            out,
            "cunlink_alert_readings_settled_total",
            "Committed readings evaluated with their alarm changes stored; catches up with cunlink_ingest_values_committed_total.",
        );
        self.replay_settled.render(
            out,
            "cunlink_alert_replay_done",
            "1 once the history re-read at start is evaluated and its alarms stored.",
        );
    }
}

/// First wait after a failed alarm write; doubled up to [`RETRY_MAX`].
const RETRY_FIRST: Duration = Duration::from_millis(50);
const RETRY_MAX: Duration = Duration::from_secs(5);

/// Whether retrying a failed write can succeed: the database was busy, locked,
/// full or failing for now. A missing rule or alarm, a refused constraint or a
/// corrupt row will fail the same way forever.
fn transient(e: &AlertStoreError) -> bool {
    match e {
        AlertStoreError::NoSuchRule(_)
        | AlertStoreError::NoSuchAlarm(_)
        | AlertStoreError::NodeAlarm(_)
        | AlertStoreError::HubOnly
        | AlertStoreError::Corrupt { .. } => false,
        AlertStoreError::Db(cunlink_core::DbError::Sql(e)) => !e.is_permanent(),
        AlertStoreError::Db(_) => true,
    }
}

impl Alarms {
    pub fn open(
        db: Db,
        farm: Arc<Farm>,
        notifier: Arc<Notifier>,
    ) -> Result<Arc<Alarms>, AlertStoreError> {
        let open = db
            .call_blocking(|c| store::open_alarms(c))?
            .into_iter()
            .map(|(rule, device, id, since)| ((rule, device), (id, since)))
            .collect();
        let (live, _) = broadcast::channel(1024);
        Ok(Arc::new(Alarms {
            db,
            farm,
            notifier,
            open: Mutex::new(open),
            live,
            metrics: AlarmMetrics::default(),
            fail_commits: Arc::new(AtomicU32::new(0)),
        }))
    }

    /// Test hook: make the next `n` raise transactions fail at their commit
    /// (rolled back, as a busy or failing disk would), to check that the
    /// alarm is retried, stored once, and announced only after it is stored.
    #[doc(hidden)]
    pub fn fail_next_commits(&self, n: u32) {
        self.fail_commits.store(n, Ordering::SeqCst);
    }

    /// Every change to an alarm, as it is committed.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Alarm>> {
        self.live.subscribe()
    }

    fn open_map(&self) -> std::sync::MutexGuard<'_, OpenMap> {
        self.open.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn publish(&self, alarm: Alarm) -> Arc<Alarm> {
        let a = Arc::new(alarm);
        let _ = self.live.send(a.clone());
        a
    }

    /// Consume engine events until the engine stops, storing each one before
    /// the next (see the module doc on retries).
    pub fn spawn_writer(
        self: &Arc<Self>,
        mut events: mpsc::UnboundedReceiver<Event>,
        mut shutdown: watch::Receiver<bool>,
    ) {
        let me = self.clone();
        tokio::spawn(async move {
            while let Some(ev) = events.recv().await {
                if let Event::Settled { readings, replay } = ev {
                    if replay {
                        me.metrics.replay_settled.set(1);
                    } else {
                        me.metrics.batches_settled.inc();
                        me.metrics.readings_settled.add(readings);
                    }
                    continue;
                }
                if !me.store_until_done(&ev, &mut shutdown).await {
                    break;
                }
            }
        });
    }

    /// Apply `ev`, retrying transient failures with backoff. False when the
    /// server is shutting down meanwhile.
    async fn store_until_done(&self, ev: &Event, shutdown: &mut watch::Receiver<bool>) -> bool {
        let mut wait = RETRY_FIRST;
        let mut attempt: u64 = 1;
        loop {
            let e = match self.apply(ev).await {
                Ok(()) => {
                    if attempt > 1 {
                        tracing::info!(attempt, "alarm writer: stored after retrying");
                    }
                    return true;
                }
                Err(e) => e,
            };
            if !transient(&e) {
                self.metrics.dropped.inc();
                tracing::error!(error = %e, event = ?ev, "alarm writer: this alarm change can never be stored; dropped");
                return true;
            }
            self.metrics.store_retries.inc();
            tracing::warn!(error = %e, attempt, retry_in_ms = wait.as_millis() as u64, "alarm writer: storing an alarm change failed; retrying");
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = shutdown.changed() => {
                    tracing::warn!(event = ?ev, "alarm writer: stopping before this change was stored; the restart re-evaluates recent history and raises it again");
                    return false;
                }
            }
            wait = (wait * 2).min(RETRY_MAX);
            attempt += 1;
        }
    }

    async fn apply(&self, ev: &Event) -> Result<(), AlertStoreError> {
        match ev {
            Event::Raise {
                rule,
                device,
                pen,
                pen_name,
                since,
                at,
                details,
            } => {
                self.raise(
                    rule.clone(),
                    device.clone(),
                    (*pen, pen_name.clone()),
                    *since,
                    *at,
                    details.clone(),
                )
                .await
            }
            Event::Clear {
                rule_id, device, ..
            } => self.auto_clear(*rule_id, *device).await,
            Event::Settled { .. } => Ok(()),
        }
    }

    async fn raise(
        &self,
        rule: Arc<crate::rule::Rule>,
        device: Arc<cunlink_farm::model::Device>,
        (pen, pen_name): (Option<i64>, Option<String>),
        since: i64,
        at: i64,
        details: serde_json::Value,
    ) -> Result<(), AlertStoreError> {
        let key = (rule.id, device.id.0);
        if self.open_map().get(&key).is_some_and(|(_, s)| *s == since) {
            return Ok(());
        }
        let plan = self
            .notifier
            .plan(device.village_id, pen_name.as_deref(), rule.severity, None)
            .await?;
        let open_before = self.open_map().get(&key).copied();
        let now = now_ms();
        let escalate_at = rule
            .escalate
            .as_ref()
            .map(|e| now + e.after_s as i64 * 1000);
        let record = RaiseRecord {
            rule: rule.clone(),
            device: device.clone(),
            pen,
            since,
            at,
            details,
            now,
            escalate_at,
            open_before,
            planned: plan.deliveries,
            fail: self.fail_commits.clone(),
        };
        let result = self.db.call(move |c| record_raise(c, record)).await?;
        let Some((alarm, items, new)) = result else {
            return Ok(());
        };
        self.open_map().insert(key, (alarm.id, since));
        if new {
            // Committed: now the deliveries may leave.
            self.notifier.send_now(items.clone());
            self.notifier.announce(&alarm, &plan.listeners, false);
            tracing::info!(alarm = alarm.id, rule = %alarm.rule, device = %alarm.device, severity = %alarm.severity, deliveries = items.len(), "alarm raised");
            self.run_action(&rule, &device).await;
        }
        self.publish(alarm);
        Ok(())
    }

    /// The rule's device command, if it has one; a failure is logged, the alarm stands.
    async fn run_action(&self, rule: &crate::rule::Rule, device: &cunlink_farm::model::Device) {
        let Some(action) = &rule.action else {
            return;
        };
        let r = self
            .farm
            .rpc
            .send(
                device,
                &action.rpc.method,
                action.rpc.params.clone(),
                cunlink_farm::rpc::SendOptions {
                    origin: format!("rule:{}", rule.id),
                    ..Default::default()
                },
            )
            .await;
        if let Err(e) = r {
            tracing::warn!(error = %e, rule = rule.id, device = %device.name, "rule action: device command failed");
        }
    }

    async fn auto_clear(&self, rule_id: i64, device: DeviceId) -> Result<(), AlertStoreError> {
        let key = (rule_id, device.0);
        let Some((id, _)) = self.open_map().get(&key).copied() else {
            return Ok(());
        };
        let auto = self
            .db
            .call(move |c| store::rule(c, rule_id).map(|r| r.auto_clear))
            .await
            .unwrap_or(true);
        if !auto {
            return Ok(());
        }
        self.clear(id, "system").await.map(|_| ())
    }

    pub async fn get(&self, id: i64) -> Result<Alarm, AlertStoreError> {
        self.db.call(move |c| store::alarm(c, id)).await
    }

    /// Clear an alarm; `Ok(false)` if it already was.
    pub async fn clear(&self, id: i64, by: &str) -> Result<(Alarm, bool), AlertStoreError> {
        let by = by.to_string();
        let now = now_ms();
        let (alarm, changed) = self
            .db
            .call(move |c| {
                let changed = store::clear_alarm(c, id, &by, now)?;
                Ok::<_, AlertStoreError>((store::alarm(c, id)?, changed))
            })
            .await?;
        if changed {
            self.open_map()
                .retain(|_, (open_id, _)| *open_id != alarm.id);
            let alarm = self.publish(alarm);
            return Ok(((*alarm).clone(), true));
        }
        Ok((alarm, false))
    }

    /// Acknowledge or clear, as a person asks.
    pub async fn handle(
        &self,
        id: i64,
        by: &str,
        h: Handling,
    ) -> Result<(Alarm, bool), AlertStoreError> {
        match h {
            Handling::Ack => self.ack(id, by).await,
            Handling::Clear => self.clear(id, by).await,
        }
    }

    pub async fn ack(&self, id: i64, by: &str) -> Result<(Alarm, bool), AlertStoreError> {
        let by = by.to_string();
        let now = now_ms();
        let (alarm, changed) = self
            .db
            .call(move |c| {
                let changed = store::ack_alarm(c, id, &by, now)?;
                Ok::<_, AlertStoreError>((store::alarm(c, id)?, changed))
            })
            .await?;
        if changed {
            let a = self.publish(alarm);
            return Ok(((*a).clone(), true));
        }
        Ok((alarm, false))
    }

    pub async fn assign(&self, id: i64, to: Option<String>) -> Result<Alarm, AlertStoreError> {
        let now = now_ms();
        let alarm = self
            .db
            .call(move |c| {
                store::assign_alarm(c, id, to.as_deref(), now)?;
                store::alarm(c, id)
            })
            .await?;
        Ok((*self.publish(alarm)).clone())
    }

    pub async fn comment(
        &self,
        id: i64,
        author: &str,
        text: String,
    ) -> Result<store::Comment, AlertStoreError> {
        let author = author.to_string();
        let now = now_ms();
        self.db
            .call(move |c| {
                // The comment and the alarm's new version (which puts it in a
                // node's outbox) land together.
                let tx = c.transaction().map_err(cunlink_core::DbError::from)?;
                let comment = store::add_comment(&tx, id, &author, &text, now)?;
                tx.commit().map_err(cunlink_core::DbError::from)?;
                Ok(comment)
            })
            .await
    }

    /// Every few seconds: alarms nobody acknowledged in time go to the next
    /// people named by their rule.
    pub fn spawn_escalation(self: &Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        let me = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(5));
            loop {
                tokio::select! {
                    _ = tick.tick() => {
                        if let Err(e) = me.escalate_due().await {
                            tracing::warn!(error = %e, "escalation pass failed");
                        }
                    }
                    _ = shutdown.changed() => break,
                }
            }
        });
    }

    pub async fn escalate_due(&self) -> Result<(), AlertStoreError> {
        let now = now_ms();
        let due = self
            .db
            .call(move |c| store::due_escalations(c, now))
            .await?;
        for alarm in due {
            let rule_id = alarm.rule_id;
            let to = self
                .db
                .call(move |c| store::rule(c, rule_id))
                .await
                .ok()
                .and_then(|r| r.escalate)
                .map(|e| e.to)
                .unwrap_or_default();
            let plan = self
                .notifier
                .plan(alarm.village_id, None, alarm.severity, Some(to.clone()))
                .await?;
            let planned = plan.deliveries;
            let a = alarm.clone();
            let items = self
                .db
                .call(move |c| {
                    let tx = c.transaction().map_err(cunlink_core::DbError::from)?;
                    // Every node runs this pass: only the one whose claim
                    // succeeds notifies (and an ack or clear since the scan wins).
                    if !store::claim_escalation(&tx, a.id, now)? {
                        return Ok::<_, AlertStoreError>(None);
                    }
                    let items = Notifier::enqueue_blocking(&tx, &a, &planned, true, now)?;
                    tx.commit().map_err(cunlink_core::DbError::from)?;
                    Ok(Some(items))
                })
                .await?;
            let Some(items) = items else { continue };
            tracing::info!(alarm = alarm.id, to = ?to, deliveries = items.len(), "alarm escalated");
            self.notifier.send_now(items);
            self.notifier.announce(&alarm, &plan.listeners, true);
            if let Ok(a) = self.get(alarm.id).await {
                self.publish(a);
            }
        }
        Ok(())
    }
}

/// What [`record_raise`] needs to store one raised episode.
struct RaiseRecord {
    rule: Arc<crate::rule::Rule>,
    device: Arc<cunlink_farm::model::Device>,
    pen: Option<i64>,
    since: i64,
    at: i64,
    details: serde_json::Value,
    now: i64,
    escalate_at: Option<i64>,
    /// The alarm open for this (rule, device) when the engine looked, if any.
    open_before: Option<(i64, i64)>,
    planned: Vec<crate::notify::Planned>,
    fail: Arc<AtomicU32>,
}

/// Store a raised episode in one transaction: nothing if it was seen already, a
/// repeat of the alarm still open, or a new alarm with its deliveries queued.
/// Returns the alarm, its deliveries and whether it is new.
fn record_raise(
    c: &mut cunlink_core::sql::Connection,
    r: RaiseRecord,
) -> Result<Option<(Alarm, Vec<crate::notify::store::OutboxItem>, bool)>, AlertStoreError> {
    let tx = c.transaction().map_err(cunlink_core::DbError::from)?;
    if store::episode_seen(&tx, r.rule.id, r.device.id.0, r.since)? {
        return Ok(None);
    }
    // Someone may have cleared it since we looked: then this
    // episode is a new alarm.
    // The engine's map of open alarms is this node's: another node may have
    // opened (or this node's user cleared) one since; the table says.
    let still_open = match r.open_before {
        Some((id, _)) if store::alarm(&tx, id)?.cleared_at.is_none() => Some(id),
        _ => store::open_alarm_of(&tx, r.rule.id, r.device.id.0)?,
    };
    if let Some(id) = still_open {
        store::repeat_alarm(&tx, id, r.since, &r.details, r.now)?;
        let a = store::alarm(&tx, id)?;
        tx.commit().map_err(cunlink_core::DbError::from)?;
        return Ok(Some((a, Vec::new(), false)));
    }
    let Some(id) = store::insert_alarm(
        &tx,
        &NewAlarm {
            rule: &r.rule,
            device_id: r.device.id.0,
            device_name: &r.device.name,
            village_id: r.device.village_id,
            asset_id: r.pen,
            condition_since: r.since,
            started_at: r.at,
            details: &r.details,
            escalate_at: r.escalate_at,
        },
        r.now,
    )?
    else {
        // Another node recorded it between our reads and this insert.
        return Ok(None);
    };
    let alarm = store::alarm(&tx, id)?;
    let items = Notifier::enqueue_blocking(&tx, &alarm, &r.planned, false, r.now)?;
    if r.fail
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok()
    {
        // Dropping `tx` rolls back, as a failed commit does.
        return Err(injected_failure());
    }
    // Nobody hears of the alarm inside this function: deliveries are
    // handed to the dispatcher once the commit has returned.
    tx.commit().map_err(cunlink_core::DbError::from)?;
    Ok(Some((alarm, items, true)))
}
