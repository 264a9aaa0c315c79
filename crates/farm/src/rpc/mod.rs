//! Device commands (ThingsBoard "server-side RPC"): the server asks a device to
//! do something (open a valve, reboot) and tracks what became of the request.
//!
//! Routes, in order of preference:
//! * a device behind a gateway: `v1/gateway/rpc` on the gateway's MQTT session,
//!   `{"device": NAME, "data": {"id", "method", "params"}}`;
//! * an MQTT device subscribed to `v1/devices/me/rpc/request/+`:
//!   `{"id", "method", "params"}` on `v1/devices/me/rpc/request/{id}`;
//! * an HTTP device long-polling `GET /api/v1/{token}/rpc`.
//!
//! Otherwise the command waits (queued) until the device connects or polls, or
//! until it expires. States: queued → sent (QoS 1, awaiting PUBACK) → delivered
//! → replied, or timed_out. One-way commands end at delivered. Every state is
//! stored, so a restart re-queues what was not delivered (at least once).

mod relay;
mod store;

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU8, AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cunlink_core::Db;
use cunlink_core::time::now_ms;
use serde::Serialize;
use tokio::sync::{Notify, broadcast};

use crate::ingest::mqtt::packet::{self, Version};
use crate::model::Device;
use crate::registry::Registry;
use crate::telemetry::DeviceId;

pub use store::MAX_LIST;

/// Default time a command may take to be answered (or, one-way, delivered).
pub const DEFAULT_TIMEOUT_MS: u32 = 60_000;
pub const MAX_TIMEOUT_MS: u32 = 24 * 3600 * 1000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    Queued,
    Sent,
    Delivered,
    Replied,
    TimedOut,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Queued => "queued",
            State::Sent => "sent",
            State::Delivered => "delivered",
            State::Replied => "replied",
            State::TimedOut => "timed_out",
        }
    }

    pub fn parse(s: &str) -> State {
        match s {
            "queued" => State::Queued,
            "sent" => State::Sent,
            "delivered" => State::Delivered,
            "replied" => State::Replied,
            _ => State::TimedOut,
        }
    }

    fn is_final(self, oneway: bool) -> bool {
        matches!(self, State::Replied | State::TimedOut) || (oneway && self == State::Delivered)
    }
}

/// A command as the API shows it.
#[derive(Debug, Clone, Serialize)]
pub struct Command {
    pub id: i64,
    pub device: String,
    #[serde(skip)]
    pub device_id: DeviceId,
    pub method: String,
    pub params: serde_json::Value,
    pub oneway: bool,
    pub state: State,
    pub response: Option<serde_json::Value>,
    pub origin: String,
    pub created_at: i64,
    pub updated_at: i64,
    pub expires_at: i64,
}

impl Command {
    pub fn is_final(&self) -> bool {
        self.state.is_final(self.oneway)
    }

    fn request_json(&self) -> serde_json::Value {
        serde_json::json!({ "id": self.id, "method": self.method, "params": self.params })
    }
}

#[derive(Debug, Clone)]
pub struct SendOptions {
    pub timeout_ms: u32,
    pub oneway: bool,
    /// Who asked: `user:NAME` or `rule:ID`.
    pub origin: String,
}

impl Default for SendOptions {
    fn default() -> Self {
        SendOptions {
            timeout_ms: DEFAULT_TIMEOUT_MS,
            oneway: false,
            origin: "api".into(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RpcError {
    #[error("method must be 1 to 128 bytes")]
    BadMethod,
    #[error("timeout_ms must be between 100 and {MAX_TIMEOUT_MS}")]
    BadTimeout,
    #[error("params of {0} bytes are more than the 64 KiB a command may carry")]
    TooLarge(usize),
    #[error("no command {0} for this device")]
    NoSuchCommand(i64),
    #[error(transparent)]
    Store(#[from] crate::FarmStoreError),
}

/// Bytes to an MQTT session's socket; false when the session is gone.
pub type SendBytes = Box<dyn Fn(Vec<u8>) -> bool + Send + Sync>;

/// The outbound side of one MQTT session, as RPC needs it.
pub struct Session {
    pub device: DeviceId,
    version: Version,
    send: SendBytes,
    /// Granted QoS of the device's RPC subscription; `NONE` when not subscribed.
    direct_qos: AtomicU8,
    /// Granted QoS of a gateway's `v1/gateway/rpc` subscription.
    gateway_qos: AtomicU8,
    next_pkid: AtomicU16,
    inflight: Mutex<HashMap<u16, i64>>,
}

const NONE: u8 = 255;

impl Session {
    fn pkid(&self) -> u16 {
        loop {
            let p = self.next_pkid.fetch_add(1, Ordering::Relaxed);
            if p != 0 {
                return p;
            }
        }
    }
}

/// MQTT topic filter matching (`+` one level, `#` the rest).
pub fn topic_matches(filter: &str, topic: &str) -> bool {
    let mut f = filter.split('/');
    let mut t = topic.split('/');
    loop {
        match (f.next(), t.next()) {
            (Some("#"), _) => return true,
            (Some("+"), Some(_)) => {}
            (Some(a), Some(b)) if a == b => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}

struct Pending {
    cmd: Command,
    gateway: Option<DeviceId>,
}

#[derive(Default)]
struct Inner {
    sessions: HashMap<DeviceId, Arc<Session>>,
    pending: BTreeMap<i64, Pending>,
    pollers: HashMap<DeviceId, Arc<Notify>>,
}

pub struct Rpc {
    db: Db,
    registry: Arc<Registry>,
    inner: Mutex<Inner>,
    changes: broadcast::Sender<Command>,
    /// The other nodes (several nodes over PostgreSQL; see `relay`).
    bus: Option<Arc<cunlink_core::cluster::Bus>>,
}

impl Rpc {
    /// Load unfinished commands: expired ones time out, the rest wait again.
    pub fn open(
        db: Db,
        registry: Arc<Registry>,
        cluster: &cunlink_core::cluster::Cluster,
    ) -> Result<Arc<Rpc>, crate::FarmStoreError> {
        let now = now_ms();
        let open = db.call_blocking(|c| store::unfinished(c, now))?;
        let (changes, _) = broadcast::channel(256);
        let rpc = Arc::new(Rpc {
            db,
            registry,
            inner: Mutex::new(Inner::default()),
            changes,
            bus: cluster.is_shared().then(|| cluster.bus.clone()),
        });
        {
            let mut inner = rpc.lock();
            for mut cmd in open {
                // Published before the restart but never acknowledged: send again.
                if cmd.state == State::Sent {
                    cmd.state = State::Queued;
                }
                let gateway = rpc.registry.get(cmd.device_id).and_then(|d| d.gateway_id);
                inner.pending.insert(cmd.id, Pending { cmd, gateway });
            }
        }
        Ok(rpc)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Start the expiry timers of commands loaded at start.
    pub fn spawn_expiry(self: &Arc<Self>) {
        let loaded: Vec<(i64, i64)> = self
            .lock()
            .pending
            .values()
            .map(|p| (p.cmd.id, p.cmd.expires_at))
            .collect();
        for (id, at) in loaded {
            self.expire_at(id, at);
        }
    }

    fn expire_at(self: &Arc<Self>, id: i64, at: i64) {
        let me = Arc::downgrade(self);
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis((at - now_ms()).max(0) as u64)).await;
            if let Some(me) = me.upgrade() {
                me.transition(id, State::TimedOut, None).await;
            }
        });
    }

    /// Every change of any command (for waiting callers).
    pub fn subscribe(&self) -> broadcast::Receiver<Command> {
        self.changes.subscribe()
    }

    /// Send `method(params)` to `device`.
    pub async fn send(
        self: &Arc<Self>,
        device: &Device,
        method: &str,
        params: serde_json::Value,
        opts: SendOptions,
    ) -> Result<Command, RpcError> {
        let method = method.trim();
        if method.is_empty() || method.len() > 128 {
            return Err(RpcError::BadMethod);
        }
        if !(100..=MAX_TIMEOUT_MS).contains(&opts.timeout_ms) {
            return Err(RpcError::BadTimeout);
        }
        let size = params.to_string().len();
        if size > 64 * 1024 {
            return Err(RpcError::TooLarge(size));
        }
        let now = now_ms();
        let mut cmd = Command {
            id: 0,
            device: device.name.clone(),
            device_id: device.id,
            method: method.to_string(),
            params,
            oneway: opts.oneway,
            state: State::Queued,
            response: None,
            origin: opts.origin,
            created_at: now,
            updated_at: now,
            expires_at: now + opts.timeout_ms as i64,
        };
        let row = cmd.clone();
        cmd.id = self.db.call(move |c| store::insert(c, &row)).await?;
        self.lock().pending.insert(
            cmd.id,
            Pending {
                cmd: cmd.clone(),
                gateway: device.gateway_id,
            },
        );
        self.expire_at(cmd.id, cmd.expires_at);
        let _ = self.changes.send(cmd.clone());
        self.try_deliver(cmd.id).await;
        let now = self.get(device.id, cmd.id).await?.unwrap_or(cmd);
        if now.state == State::Queued {
            // The device's session may be on another node.
            self.announce(relay::Note::New(now.id)).await;
        }
        Ok(now)
    }

    /// Deliver a queued command if its device can be reached now.
    async fn try_deliver(&self, id: i64) {
        enum Route {
            Mqtt(Arc<Session>, String, Vec<u8>, u8),
            Poll(Arc<Notify>),
            Wait,
        }
        let route = {
            let inner = self.lock();
            let Some(p) = inner.pending.get(&id) else {
                return;
            };
            if p.cmd.state != State::Queued {
                return;
            }
            let via_gateway = p
                .gateway
                .and_then(|g| inner.sessions.get(&g))
                .filter(|s| s.gateway_qos.load(Ordering::Relaxed) != NONE);
            let direct = inner
                .sessions
                .get(&p.cmd.device_id)
                .filter(|s| s.direct_qos.load(Ordering::Relaxed) != NONE);
            if let Some(s) = via_gateway {
                let body =
                    serde_json::json!({ "device": p.cmd.device, "data": p.cmd.request_json() });
                let qos = s.gateway_qos.load(Ordering::Relaxed).min(1);
                Route::Mqtt(
                    s.clone(),
                    "v1/gateway/rpc".into(),
                    body.to_string().into_bytes(),
                    qos,
                )
            } else if let Some(s) = direct {
                let qos = s.direct_qos.load(Ordering::Relaxed).min(1);
                Route::Mqtt(
                    s.clone(),
                    format!("v1/devices/me/rpc/request/{id}"),
                    p.cmd.request_json().to_string().into_bytes(),
                    qos,
                )
            } else if let Some(n) = inner.pollers.get(&p.cmd.device_id) {
                Route::Poll(n.clone())
            } else {
                Route::Wait
            }
        };
        match route {
            Route::Mqtt(session, topic, payload, qos) => {
                let pkid = if qos > 0 { session.pkid() } else { 0 };
                if qos > 0 {
                    session
                        .inflight
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .insert(pkid, id);
                }
                let mut out = Vec::with_capacity(topic.len() + payload.len() + 8);
                packet::publish(&mut out, session.version, &topic, &payload, qos, pkid);
                if (session.send)(out) {
                    let state = if qos > 0 {
                        State::Sent
                    } else {
                        State::Delivered
                    };
                    self.transition(id, state, None).await;
                }
            }
            Route::Poll(n) => n.notify_waiters(),
            Route::Wait => {}
        }
    }

    /// Move a command on; final states leave memory. Older states never
    /// overwrite newer ones (a late PUBACK after the reply, say).
    async fn transition(&self, id: i64, state: State, response: Option<serde_json::Value>) {
        let now = now_ms();
        let cmd = {
            let mut inner = self.lock();
            let Some(p) = inner.pending.get_mut(&id) else {
                return;
            };
            let rank = |s: State| match s {
                State::Queued => 0,
                State::Sent => 1,
                State::Delivered => 2,
                State::Replied | State::TimedOut => 3,
            };
            if rank(state) < rank(p.cmd.state) || (state == State::TimedOut && p.cmd.is_final()) {
                return;
            }
            // A one-way command that was delivered did what it could: it does not time out.
            if state == State::TimedOut && p.cmd.oneway && p.cmd.state == State::Delivered {
                return;
            }
            p.cmd.state = state;
            p.cmd.updated_at = now;
            if response.is_some() {
                p.cmd.response = response;
            }
            let cmd = p.cmd.clone();
            if cmd.is_final() {
                inner.pending.remove(&id);
            }
            cmd
        };
        let row = cmd.clone();
        match self.db.call(move |c| store::update(c, &row)).await {
            Ok(true) => {}
            // The stored command is already further (another node's reply or
            // timeout): that state stands, and this one is not announced.
            Ok(false) => return,
            Err(e) => tracing::warn!(error = %e, command = id, "storing a command state failed"),
        }
        let _ = self.changes.send(cmd);
        self.announce(relay::Note::Changed(id)).await;
    }

    pub async fn get(&self, device: DeviceId, id: i64) -> Result<Option<Command>, RpcError> {
        if let Some(p) = self.lock().pending.get(&id) {
            if p.cmd.device_id == device {
                return Ok(Some(p.cmd.clone()));
            }
        }
        Ok(self
            .db
            .call(move |c| store::get(c, id))
            .await?
            .filter(|c| c.device_id == device))
    }

    pub async fn list(&self, device: DeviceId) -> Result<Vec<Command>, RpcError> {
        Ok(self.db.call(move |c| store::list(c, device)).await?)
    }

    /// Wait until command `id` is final or `until` (ms) passes.
    pub async fn wait(&self, device: DeviceId, id: i64, until: i64) -> Result<Command, RpcError> {
        let mut rx = self.subscribe();
        loop {
            let cmd = self
                .get(device, id)
                .await?
                .ok_or(RpcError::NoSuchCommand(id))?;
            if cmd.is_final() || now_ms() >= until {
                return Ok(cmd);
            }
            let left = Duration::from_millis((until - now_ms()).max(0) as u64);
            match tokio::time::timeout(left, async {
                loop {
                    match rx.recv().await {
                        Ok(c) if c.id == id => return,
                        Ok(_) => {}
                        Err(broadcast::error::RecvError::Lagged(_)) => return,
                        Err(broadcast::error::RecvError::Closed) => {
                            std::future::pending::<()>().await
                        }
                    }
                }
            })
            .await
            {
                Ok(()) => {}
                Err(_) => {
                    return self
                        .get(device, id)
                        .await?
                        .ok_or(RpcError::NoSuchCommand(id));
                }
            }
        }
    }

    // ---- MQTT sessions ----

    /// A device connected over MQTT.
    pub fn register(&self, device: DeviceId, version: Version, send: SendBytes) -> Arc<Session> {
        let s = Arc::new(Session {
            device,
            version,
            send,
            direct_qos: AtomicU8::new(NONE),
            gateway_qos: AtomicU8::new(NONE),
            next_pkid: AtomicU16::new(1),
            inflight: Mutex::new(HashMap::new()),
        });
        // A newer connection of the same device replaces the old one.
        self.lock().sessions.insert(device, s.clone());
        s
    }

    pub fn unregister(&self, session: &Arc<Session>) {
        let mut inner = self.lock();
        if inner
            .sessions
            .get(&session.device)
            .is_some_and(|s| Arc::ptr_eq(s, session))
        {
            inner.sessions.remove(&session.device);
        }
        // Commands sent but not acknowledged go back to the queue.
        let unacked: Vec<i64> = session
            .inflight
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .drain()
            .map(|(_, id)| id)
            .collect();
        for id in unacked {
            if let Some(p) = inner.pending.get_mut(&id) {
                if p.cmd.state == State::Sent {
                    p.cmd.state = State::Queued;
                }
            }
        }
    }

    /// The session subscribed to `filters` (with granted QoS); deliver what waits.
    pub async fn subscribed(self: &Arc<Self>, session: &Arc<Session>, filters: &[(String, u8)]) {
        for (f, qos) in filters {
            let q = (*qos).min(1);
            if topic_matches(f, "v1/devices/me/rpc/request/1") {
                session.direct_qos.store(q, Ordering::Relaxed);
            }
            if topic_matches(f, "v1/gateway/rpc") {
                session.gateway_qos.store(q, Ordering::Relaxed);
            }
        }
        self.adopt_waiting(session.device).await;
        self.flush(session.device).await;
    }

    pub fn unsubscribed(&self, session: &Arc<Session>, filters: &[String]) {
        for f in filters {
            if topic_matches(f, "v1/devices/me/rpc/request/1") {
                session.direct_qos.store(NONE, Ordering::Relaxed);
            }
            if topic_matches(f, "v1/gateway/rpc") {
                session.gateway_qos.store(NONE, Ordering::Relaxed);
            }
        }
    }

    /// Deliver queued commands of `device` and of the devices behind it.
    async fn flush(&self, device: DeviceId) {
        let ids: Vec<i64> = self
            .lock()
            .pending
            .values()
            .filter(|p| {
                p.cmd.state == State::Queued
                    && (p.cmd.device_id == device || p.gateway == Some(device))
            })
            .map(|p| p.cmd.id)
            .collect();
        for id in ids {
            self.try_deliver(id).await;
        }
    }

    /// PUBACK of a command we published.
    pub async fn acked(&self, session: &Arc<Session>, pkid: u16) {
        let id = session
            .inflight
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&pkid);
        if let Some(id) = id {
            self.transition(id, State::Delivered, None).await;
        }
    }

    /// A reply on `v1/devices/me/rpc/response/{id}`.
    pub async fn replied(&self, device: DeviceId, id: &str, body: &[u8]) -> bool {
        let Ok(id) = id.parse::<i64>() else {
            return false;
        };
        let ours = self
            .lock()
            .pending
            .get(&id)
            .is_some_and(|p| p.cmd.device_id == device);
        if ours {
            self.transition(id, State::Replied, Some(body_json(body)))
                .await;
        }
        ours
    }

    /// A gateway's reply on `v1/gateway/rpc`: `{"device", "id", "data"}`.
    pub async fn gateway_replied(&self, gateway: DeviceId, body: &[u8]) -> bool {
        let Ok(v) = serde_json::from_slice::<serde_json::Value>(body) else {
            return false;
        };
        let Some(id) = v
            .get("id")
            .and_then(|i| i.as_i64().or_else(|| i.as_str()?.parse().ok()))
        else {
            return false;
        };
        let name = v.get("device").and_then(|d| d.as_str()).unwrap_or_default();
        let ours = self
            .lock()
            .pending
            .get(&id)
            .is_some_and(|p| p.gateway == Some(gateway) && p.cmd.device == name);
        if ours {
            let data = v.get("data").cloned().unwrap_or(serde_json::Value::Null);
            self.transition(id, State::Replied, Some(data)).await;
        }
        ours
    }

    // ---- HTTP long-poll ----

    /// The oldest queued command of `device`, waiting up to `timeout` for one.
    pub async fn poll(&self, device: DeviceId, timeout: Duration) -> Option<Command> {
        let notify = self
            .lock()
            .pollers
            .entry(device)
            .or_insert_with(|| Arc::new(Notify::new()))
            .clone();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let waiting = notify.notified();
            let next = self
                .lock()
                .pending
                .values()
                .find(|p| {
                    p.cmd.device_id == device && p.gateway.is_none() && p.cmd.state == State::Queued
                })
                .map(|p| p.cmd.id);
            if let Some(id) = next {
                self.transition(id, State::Delivered, None).await;
                if let Some(p) = self.get(device, id).await.ok().flatten() {
                    return Some(p);
                }
                continue;
            }
            if tokio::time::timeout_at(deadline, waiting).await.is_err() {
                return None;
            }
        }
    }

    /// A reply over HTTP (`POST /api/v1/{token}/rpc/{id}`).
    pub async fn http_replied(&self, device: DeviceId, id: i64, body: &[u8]) -> bool {
        self.replied(device, &id.to_string(), body).await
    }
}

fn body_json(body: &[u8]) -> serde_json::Value {
    serde_json::from_slice(body)
        .unwrap_or_else(|_| serde_json::Value::String(String::from_utf8_lossy(body).into_owned()))
}

#[cfg(test)]
mod tests {
    use super::topic_matches;

    #[test]
    fn filters() {
        assert!(topic_matches(
            "v1/devices/me/rpc/request/+",
            "v1/devices/me/rpc/request/7"
        ));
        assert!(topic_matches(
            "v1/devices/me/rpc/#",
            "v1/devices/me/rpc/request/7"
        ));
        assert!(topic_matches("#", "v1/gateway/rpc"));
        assert!(!topic_matches(
            "v1/devices/me/rpc/request/+",
            "v1/gateway/rpc"
        ));
        assert!(topic_matches("v1/gateway/rpc", "v1/gateway/rpc"));
        assert!(!topic_matches("v1/gateway/+", "v1/gateway/rpc/x"));
    }
}
