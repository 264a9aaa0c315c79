//! Notifications: who hears about an alarm, and getting it to them.
//!
//! Deliveries are written to the `outbox` in the same transaction as the alarm,
//! so a crash between the two cannot lose one. The dispatcher sends new ones at
//! once and scans the outbox every second for retries, quiet-hour releases and
//! whatever a restart left behind. A receiver that fails costs a timeout in the
//! dispatcher, never a delay in evaluation. After [`MAX_ATTEMPTS`] a delivery is
//! a dead letter, listed at `/api/notifications/dead` and retryable from there.

pub mod feed;
pub mod http;
pub mod local;
mod message;
pub mod net;
pub mod prefs;
pub mod store;
mod users;
pub mod webpush;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use cunlink_core::Db;
use cunlink_core::auth::{AuthService, Role, User};
use cunlink_core::metrics::{Counter, Histogram};
use cunlink_core::time::now_ms;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;

use crate::AlertStoreError;
use crate::rule::Severity;
use crate::store::Alarm;
use store::{Channel, OutboxItem};

pub use message::Message;

/// A webhook receiver cunlink can call: http or https with a host.
pub fn webhook_url_ok(url: &str) -> bool {
    net::host_port(url).is_ok()
}

/// A short reason for a receiver's status, for the dead-letter list (never
/// the receiver's own words).
fn status_reason(status: u16) -> String {
    let reason = axum::http::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("");
    format!("HTTP {status} {reason}").trim_end().to_string()
}

/// Attempts before a delivery becomes a dead letter.
pub const MAX_ATTEMPTS: i64 = 8;
const SEND_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a node's claim on an outbox row holds (ms): well past a send's
/// timeout, so only a node that died mid-delivery loses its rows to another.
const CLAIM_LEASE_MS: i64 = 60_000;
const MAX_CONCURRENT: usize = 64;

pub struct NotifyMetrics {
    pub sent: Counter,
    pub failed: Counter,
    pub dead: Counter,
    /// Alarm commit → delivery accepted by the receiver.
    pub latency: Histogram,
}

impl Default for NotifyMetrics {
    fn default() -> Self {
        NotifyMetrics {
            sent: Counter::default(),
            failed: Counter::default(),
            dead: Counter::default(),
            latency: Histogram::new(&[0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0, 60.0]),
        }
    }
}

/// A delivery decided but not yet stored.
#[derive(Debug, Clone)]
pub struct Planned {
    pub user_id: i64,
    pub locale: String,
    pub channel: Channel,
    pub target_id: i64,
    pub target: store::Target,
    pub next_at: i64,
}

/// Who hears of an alarm: deliveries for the outbox, and the users who
/// also hear it on the local channel.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    pub deliveries: Vec<Planned>,
    pub listeners: Vec<local::Listener>,
}

pub struct Notifier {
    db: Db,
    /// Notifications over the village network (`local`).
    pub local: local::Local,
    auth: AuthService,
    pub vapid: webpush::Vapid,
    /// Which addresses deliveries may go to.
    pub policy: net::Policy,
    wake: mpsc::UnboundedSender<Vec<OutboxItem>>,
    wake_rx: std::sync::Mutex<Option<mpsc::UnboundedReceiver<Vec<OutboxItem>>>>,
    /// Scan the outbox now: committed notices from other domains are waiting
    /// (`NotifyUsers::wake`).
    scan_now: tokio::sync::Notify,
    pub metrics: NotifyMetrics,
    /// This process among the nodes sharing the database: outbox rows it
    /// delivers are claimed in its name (`alert_outbox.claimed_by`).
    node: String,
}

/// Roles told about their village's alarms without asking: the people who
/// run the farm and the county.
fn notified_by_default(u: &User) -> bool {
    matches!(u.role, Role::Admin | Role::CountyStaff | Role::Farmer)
}

impl Notifier {
    /// Load (or make, on first start) the VAPID key.
    pub fn open(
        db: Db,
        auth: AuthService,
        subject: String,
        policy: net::Policy,
    ) -> Result<Notifier, crate::AlertError> {
        let stored = db.call_blocking(|c| store::vapid_key(c))?;
        let secret = match stored.and_then(|b| p256::SecretKey::from_slice(&b).ok()) {
            Some(k) => k,
            None => {
                let k = webpush::new_secret()?;
                let bytes = k.to_bytes().to_vec();
                db.call_blocking(|c| store::put_vapid_key(c, &bytes, now_ms()))?;
                // Another process may have won the race: use what is stored.
                let b = db.call_blocking(|c| store::vapid_key(c))?.unwrap_or(bytes);
                p256::SecretKey::from_slice(&b).map_err(|_| webpush::PushError::Crypto)?
            }
        };
        let (wake, rx) = mpsc::unbounded_channel();
        Ok(Notifier {
            db,
            auth,
            vapid: webpush::Vapid::from_secret(&secret, subject),
            policy,
            local: local::Local::default(),
            wake,
            wake_rx: std::sync::Mutex::new(Some(rx)),
            scan_now: tokio::sync::Notify::new(),
            metrics: NotifyMetrics::default(),
            node: cunlink_core::random::token(16),
        })
    }

    /// Whether `url` may be registered as a webhook or push endpoint: http(s),
    /// and every address its host resolves to allowed by the policy.
    /// The lookup is bounded like a send, so a slow resolver cannot hold the
    /// request.
    pub async fn check_target(&self, url: &str) -> Result<(), net::TargetError> {
        tokio::time::timeout(SEND_TIMEOUT, self.policy.resolve(url))
            .await
            .map_err(|_| net::TargetError::Unresolved)?
            .map(|_| ())
    }

    /// Decide who gets `alarm` and how. `only`: escalation to named users,
    /// who get it whatever their severity and asset choices.
    pub async fn plan(
        &self,
        village_id: Option<i64>,
        asset: Option<&str>,
        severity: Severity,
        only: Option<Vec<String>>,
    ) -> Result<Plan, AlertStoreError> {
        let escalation = only.is_some();
        let users = match only {
            Some(names) => self.auth.users_by_names(names).await?,
            None => self
                .auth
                .users_for_village(village_id)
                .await?
                .into_iter()
                .filter(notified_by_default)
                .collect(),
        };
        if users.is_empty() {
            return Ok(Plan::default());
        }
        let asset = asset.map(str::to_string);
        let now = now_ms();
        self.db
            .call(move |c| {
                let mut out = Vec::new();
                let mut listeners = Vec::new();
                for u in users {
                    let p = store::prefs(c, u.id)?;
                    if !escalation {
                        if !severity.at_least(p.min_severity) {
                            continue;
                        }
                        if !p.assets.is_empty()
                            && !asset.as_ref().is_some_and(|a| p.assets.contains(a))
                        {
                            continue;
                        }
                    }
                    let next_at = p.release_at(severity, now);
                    if p.push {
                        listeners.push(local::Listener {
                            user_id: u.id,
                            locale: u.locale.clone(),
                            due_at: next_at,
                        });
                        for s in store::pushes_of(c, u.id)? {
                            out.push(Planned {
                                user_id: u.id,
                                locale: u.locale.clone(),
                                channel: Channel::Push,
                                target_id: s.id,
                                target: store::Target::Push {
                                    endpoint: s.endpoint,
                                    p256dh: s.p256dh,
                                    auth: s.auth,
                                },
                                next_at,
                            });
                        }
                    }
                    if p.webhook {
                        for w in store::webhooks_of(c, u.id)? {
                            out.push(Planned {
                                user_id: u.id,
                                locale: u.locale.clone(),
                                channel: Channel::Webhook,
                                target_id: w.id,
                                target: store::Target::Webhook { url: w.url },
                                next_at,
                            });
                        }
                    }
                }
                Ok(Plan {
                    deliveries: out,
                    listeners,
                })
            })
            .await
    }

    /// After the commit of `alarm`: tell its listeners whose push is due now.
    pub fn announce(&self, alarm: &Alarm, listeners: &[local::Listener], escalation: bool) {
        let now = now_ms();
        for l in listeners.iter().filter(|l| l.due_at <= now) {
            let msg = Message::for_alarm(alarm, &l.locale, escalation);
            self.local.send(local::LocalNotice {
                user_id: l.user_id,
                payload: msg.push_json(alarm),
            });
        }
    }

    /// Write planned deliveries for `alarm` into the outbox (inside the
    /// caller's transaction).
    pub fn enqueue_blocking(
        conn: &cunlink_core::sql::Connection,
        alarm: &Alarm,
        planned: &[Planned],
        escalation: bool,
        now: i64,
    ) -> Result<Vec<OutboxItem>, AlertStoreError> {
        let mut out = Vec::with_capacity(planned.len());
        for p in planned {
            let msg = Message::for_alarm(alarm, &p.locale, escalation);
            let payload = match p.channel {
                Channel::Push => msg.push_json(alarm),
                Channel::Webhook => msg.webhook_json(alarm),
            };
            out.push(store::enqueue(
                conn,
                store::Origin::Alarm(alarm.id),
                p.user_id,
                (p.channel, p.target_id, Some(p.target.clone())),
                store::Sending {
                    payload: &payload,
                    urgent: alarm.severity == Severity::Critical,
                    next_at: p.next_at,
                },
                now,
            )?);
        }
        Ok(out)
    }

    /// Hand freshly committed deliveries to the dispatcher (those due now).
    pub fn send_now(&self, items: Vec<OutboxItem>) {
        let now = now_ms();
        let due: Vec<OutboxItem> = items.into_iter().filter(|i| i.next_at <= now).collect();
        if !due.is_empty() {
            let _ = self.wake.send(due);
        }
    }

    /// Start the dispatcher.
    pub fn spawn(self: &Arc<Self>, shutdown: watch::Receiver<bool>) {
        let Some(rx) = self
            .wake_rx
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
        else {
            return;
        };
        tokio::spawn(self.clone().dispatch(rx, shutdown));
    }

    async fn dispatch(
        self: Arc<Self>,
        mut rx: mpsc::UnboundedReceiver<Vec<OutboxItem>>,
        mut shutdown: watch::Receiver<bool>,
    ) {
        let mut inflight: HashSet<i64> = HashSet::new();
        let mut running: JoinSet<i64> = JoinSet::new();
        // (delivery, fresh): fresh ones were committed a moment ago and handed
        // over directly; scanned ones may have changed since they were read.
        let mut backlog: Vec<(OutboxItem, bool)> = Vec::new();
        let mut scan = tokio::time::interval(Duration::from_secs(1));
        loop {
            tokio::select! {
                Some(items) = rx.recv() => backlog.extend(items.into_iter().map(|i| (i, true))),
                _ = async {
                    tokio::select! {
                        _ = scan.tick() => {}
                        _ = self.scan_now.notified() => {}
                    }
                } => {
                    match self.db.call(|c| store::due(c, now_ms(), 500)).await {
                        Ok(items) => backlog.extend(items.into_iter().map(|i| (i, false))),
                        Err(e) => tracing::warn!(error = %e, "outbox scan failed"),
                    }
                    if self.local.has_held() {
                        let me = self.clone();
                        if let Err(e) = self.db.call(move |c| me.local.release(c).map_err(cunlink_core::DbError::from)).await {
                            tracing::warn!(error = %e, "local notifications: release failed");
                        }
                    }
                }
                Some(done) = running.join_next(), if !running.is_empty() => {
                    if let Ok(id) = done {
                        inflight.remove(&id);
                    }
                }
                _ = shutdown.changed() => break,
            }
            while running.len() < MAX_CONCURRENT {
                let Some((item, fresh)) = backlog.pop() else {
                    break;
                };
                if inflight.insert(item.id) {
                    let me = self.clone();
                    running.spawn(async move {
                        let id = item.id;
                        me.deliver(item, fresh).await;
                        id
                    });
                }
            }
            // What did not fit is picked up again by the next scan.
            backlog.retain(|(i, _)| !inflight.contains(&i.id));
            if backlog.len() > 10_000 {
                backlog.clear();
            }
        }
        // Deliveries in flight finish or time out; the outbox keeps the rest.
        let _ = tokio::time::timeout(SEND_TIMEOUT, async {
            while running.join_next().await.is_some() {}
        })
        .await;
    }

    async fn deliver(&self, item: OutboxItem, fresh: bool) {
        // Every node scans the outbox: a row is delivered by the one whose
        // claim succeeds (pending, due, and nobody else's live claim).
        let node = self.node.clone();
        let id = item.id;
        let lease = CLAIM_LEASE_MS;
        match self
            .db
            .call(move |c| store::claim(c, id, &node, now_ms(), lease))
            .await
        {
            Ok(true) => {}
            Ok(false) => return,
            Err(e) => {
                tracing::warn!(error = %e, "outbox claim failed");
                return;
            }
        }
        // A scanned row may have been tried meanwhile (attempts changed).
        let item = if fresh {
            item
        } else {
            match self.db.call(move |c| store::outbox_item(c, id)).await {
                Ok(Some(i)) if i.status == "pending" => i,
                Ok(_) => return,
                Err(e) => {
                    tracing::warn!(error = %e, "outbox read failed");
                    return;
                }
            }
        };
        let result = match item.channel {
            Channel::Push => self.send_push(&item).await,
            Channel::Webhook => self.send_webhook(&item).await,
        };
        let now = now_ms();
        let outcome = match result {
            Ok(()) => {
                self.metrics.sent.inc();
                self.metrics
                    .latency
                    .observe((now - item.created_at).max(0) as f64 / 1000.0);
                let node = self.node.clone();
                self.db
                    .call(move |c| store::mark_sent(c, id, &node, now))
                    .await
            }
            Err(Failure { message, permanent }) => {
                self.metrics.failed.inc();
                let attempts = item.attempts + 1;
                let next =
                    (!permanent && attempts < MAX_ATTEMPTS).then(|| now + backoff_ms(attempts));
                if next.is_none() {
                    self.metrics.dead.inc();
                }
                tracing::info!(delivery = id, channel = item.channel.as_str(), attempts, error = %message, dead = next.is_none(), "notification failed");
                let node = self.node.clone();
                self.db
                    .call(move |c| store::mark_failed(c, id, &node, &message, next))
                    .await
            }
        };
        if let Err(e) = outcome {
            tracing::warn!(error = %e, "recording a delivery failed");
        }
    }

    async fn send_webhook(&self, item: &OutboxItem) -> Result<(), Failure> {
        let url = match &item.target {
            Some(store::Target::Webhook { url }) => url.clone(),
            _ => {
                let target = item.target_id;
                self.db
                    .call(move |c| store::webhook_url(c, target))
                    .await
                    .map_err(|e| Failure::retry(e.to_string()))?
                    .ok_or_else(|| Failure::permanent("the webhook was removed"))?
            }
        };
        let headers = [
            (
                "content-type",
                "application/json; charset=utf-8".to_string(),
            ),
            ("x-cunlink-delivery", item.id.to_string()),
        ];
        let status = http::post(
            &url,
            &headers,
            item.payload.clone().into_bytes(),
            SEND_TIMEOUT,
            &self.policy,
        )
        .await
        .map_err(Failure::from_http)?;
        match status {
            200..=299 => Ok(()),
            // A receiver that refuses the request itself will refuse it again.
            400 | 401 | 403 | 404 | 410 | 413 | 422 => {
                Err(Failure::permanent(status_reason(status)))
            }
            _ => Err(Failure::retry(status_reason(status))),
        }
    }

    async fn send_push(&self, item: &OutboxItem) -> Result<(), Failure> {
        let (endpoint, p256dh, key_auth) = match &item.target {
            Some(store::Target::Push {
                endpoint,
                p256dh,
                auth,
            }) => (endpoint.clone(), p256dh.clone(), auth.clone()),
            _ => {
                let target = item.target_id;
                let sub = self
                    .db
                    .call(move |c| store::push(c, target))
                    .await
                    .map_err(|e| Failure::retry(e.to_string()))?
                    .ok_or_else(|| Failure::permanent("the push subscription was removed"))?;
                (sub.endpoint, sub.p256dh, sub.auth)
            }
        };
        let body = webpush::encrypt(&p256dh, &key_auth, item.payload.as_bytes())
            .map_err(|e| Failure::permanent(e.to_string()))?;
        let auth = self
            .vapid
            .authorization(&endpoint, now_ms() / 1000)
            .map_err(|e| Failure::permanent(e.to_string()))?;
        let urgent = item.urgent;
        let headers = [
            ("authorization", auth),
            ("content-encoding", "aes128gcm".to_string()),
            ("content-type", "application/octet-stream".to_string()),
            ("ttl", "86400".to_string()),
            (
                "urgency",
                if urgent { "high" } else { "normal" }.to_string(),
            ),
        ];
        let status = http::post(&endpoint, &headers, body, SEND_TIMEOUT, &self.policy)
            .await
            .map_err(Failure::from_http)?;
        match status {
            200..=299 => Ok(()),
            // The browser unsubscribed: forget the subscription (RFC 8030 §7.3).
            404 | 410 => {
                let id = item.target_id;
                let _ = self.db.call(move |c| store::remove_push(c, id, None)).await;
                Err(Failure::permanent(format!(
                    "subscription gone ({})",
                    status_reason(status)
                )))
            }
            400 | 401 | 403 | 413 => Err(Failure::permanent(status_reason(status))),
            _ => Err(Failure::retry(status_reason(status))),
        }
    }

    pub fn render_metrics(&self, out: &mut String) {
        self.metrics.sent.render(
            out,
            "cunlink_notifications_sent_total",
            "Notifications accepted by their receiver.",
        );
        self.metrics.failed.render(
            out,
            "cunlink_notifications_failed_total",
            "Failed delivery attempts.",
        );
        self.metrics.dead.render(
            out,
            "cunlink_notifications_dead_total",
            "Deliveries given up (dead letters).",
        );
        self.metrics.latency.render(
            out,
            "cunlink_notification_latency_seconds",
            "From the alarm's commit to the receiver's answer.",
        );
    }
}

struct Failure {
    message: String,
    permanent: bool,
}

impl Failure {
    fn retry(m: impl Into<String>) -> Self {
        Failure {
            message: m.into(),
            permanent: false,
        }
    }
    fn permanent(m: impl Into<String>) -> Self {
        Failure {
            message: m.into(),
            permanent: true,
        }
    }
    fn from_http(e: http::HttpError) -> Self {
        Failure {
            permanent: e.is_permanent(),
            message: e.to_string(),
        }
    }
}

/// 5 s, 10 s, 20 s … capped at an hour.
fn backoff_ms(attempts: i64) -> i64 {
    (5_000i64 << (attempts - 1).clamp(0, 20)).min(3_600_000)
}

#[cfg(test)]
mod tests {
    use super::webhook_url_ok;

    #[test]
    fn webhooks_are_http_or_https_with_a_host() {
        assert!(webhook_url_ok("http://10.0.0.2:8080/hook"));
        assert!(webhook_url_ok("https://example.org/hook"));
        assert!(!webhook_url_ok("http:///nohost"));
        assert!(!webhook_url_ok("ftp://x/y"));
    }
}
