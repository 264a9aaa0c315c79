//! SQL of notifications: preferences, push subscriptions, webhooks, the outbox
//! and the VAPID key.

use cunlink_core::sql::{Connection, OptionalExtension, params};
use serde::Serialize;

use super::prefs::{Prefs, QuietHours};
use crate::AlertStoreError;

fn hhmm(min: i64) -> String {
    format!("{:02}:{:02}", min / 60, min % 60)
}

pub fn prefs(conn: &Connection, user_id: i64) -> Result<Prefs, AlertStoreError> {
    let row = conn
        .prepare_cached(
            "SELECT min_severity, assets, push, webhook, quiet_start, quiet_end, utc_offset_min FROM alert_notify_prefs WHERE user_id = $1",
        )?
        .query_row([user_id], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, bool>(2)?,
                r.get::<_, bool>(3)?,
                r.get::<_, Option<i64>>(4)?,
                r.get::<_, Option<i64>>(5)?,
                r.get::<_, i32>(6)?,
            ))
        })
        .optional()?;
    let Some((sev, assets, push, webhook, qs, qe, off)) = row else {
        return Ok(Prefs::default());
    };
    Ok(Prefs {
        min_severity: sev.parse().unwrap_or(Prefs::default().min_severity),
        assets: serde_json::from_str(&assets).unwrap_or_default(),
        push,
        webhook,
        quiet_hours: match (qs, qe) {
            (Some(s), Some(e)) => Some(QuietHours {
                start: hhmm(s),
                end: hhmm(e),
            }),
            _ => None,
        },
        utc_offset_min: off,
    })
}

pub fn put_prefs(conn: &Connection, user_id: i64, p: &Prefs) -> Result<(), AlertStoreError> {
    let (qs, qe) = match &p.quiet_hours {
        Some(q) => (
            super::prefs::parse_hhmm(&q.start),
            super::prefs::parse_hhmm(&q.end),
        ),
        None => (None, None),
    };
    conn.execute(
        "INSERT INTO alert_notify_prefs (user_id, min_severity, assets, push, webhook, quiet_start, quiet_end, utc_offset_min)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
         ON CONFLICT (user_id) DO UPDATE SET min_severity = $2, assets = $3, push = $4, webhook = $5,
             quiet_start = $6, quiet_end = $7, utc_offset_min = $8",
        params![
            user_id,
            p.min_severity.as_str(),
            serde_json::to_string(&p.assets).unwrap_or_else(|_| "[]".into()),
            p.push,
            p.webhook,
            qs,
            qe,
            p.utc_offset_min
        ],
    )?;
    Ok(())
}

/// A browser's Web Push subscription (the PushSubscription JSON of the page).
#[derive(Debug, Clone, Serialize)]
pub struct PushSubscription {
    pub id: i64,
    pub user_id: i64,
    pub endpoint: String,
    /// The browser's P-256 public key, base64url.
    pub p256dh: String,
    /// The 16-byte authentication secret, base64url.
    #[serde(skip)]
    pub auth: String,
    pub created_at: i64,
}

pub fn add_push(
    conn: &Connection,
    user_id: i64,
    endpoint: &str,
    p256dh: &str,
    auth: &str,
    now: i64,
) -> Result<i64, AlertStoreError> {
    conn.execute(
        "INSERT INTO alert_push_subscriptions (user_id, endpoint, p256dh, auth, created_at) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (endpoint) DO UPDATE SET user_id = $1, p256dh = $3, auth = $4",
        params![user_id, endpoint, p256dh, auth, now],
    )?;
    Ok(conn.query_row(
        "SELECT id FROM alert_push_subscriptions WHERE endpoint = $1",
        [endpoint],
        |r| r.get(0),
    )?)
}

const PUSH_COLUMNS: &str = "id, user_id, endpoint, p256dh, auth, created_at";

fn push_from_row(r: &cunlink_core::sql::Row<'_>) -> cunlink_core::sql::Result<PushSubscription> {
    Ok(PushSubscription {
        id: r.get(0)?,
        user_id: r.get(1)?,
        endpoint: r.get(2)?,
        p256dh: r.get(3)?,
        auth: r.get(4)?,
        created_at: r.get(5)?,
    })
}

pub fn pushes_of(
    conn: &Connection,
    user_id: i64,
) -> Result<Vec<PushSubscription>, AlertStoreError> {
    let mut st = conn.prepare_cached(&format!(
        "SELECT {PUSH_COLUMNS} FROM alert_push_subscriptions WHERE user_id = $1 ORDER BY id"
    ))?;
    let rows = st.query_map([user_id], push_from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub fn push(conn: &Connection, id: i64) -> Result<Option<PushSubscription>, AlertStoreError> {
    Ok(conn
        .prepare_cached(&format!(
            "SELECT {PUSH_COLUMNS} FROM alert_push_subscriptions WHERE id = $1"
        ))?
        .query_row([id], push_from_row)
        .optional()?)
}

/// Returns whether it existed (and belonged to `user_id`, when given).
pub fn remove_push(
    conn: &Connection,
    id: i64,
    user_id: Option<i64>,
) -> Result<bool, AlertStoreError> {
    Ok(conn.execute(
        "DELETE FROM alert_push_subscriptions WHERE id = $1 AND (CAST($2 AS BIGINT) IS NULL OR user_id = $2)",
        params![id, user_id],
    )? == 1)
}

#[derive(Debug, Clone, Serialize)]
pub struct Webhook {
    pub id: i64,
    pub user_id: i64,
    pub url: String,
    pub created_at: i64,
}

pub fn add_webhook(
    conn: &Connection,
    user_id: i64,
    url: &str,
    now: i64,
) -> Result<Webhook, AlertStoreError> {
    conn.execute(
        "INSERT INTO alert_webhooks (user_id, url, created_at) VALUES ($1, $2, $3)",
        params![user_id, url, now],
    )?;
    Ok(Webhook {
        id: conn.last_insert_rowid()?,
        user_id,
        url: url.to_string(),
        created_at: now,
    })
}

pub fn webhooks_of(conn: &Connection, user_id: i64) -> Result<Vec<Webhook>, AlertStoreError> {
    let mut st = conn.prepare_cached(
        "SELECT id, user_id, url, created_at FROM alert_webhooks WHERE user_id = $1 ORDER BY id",
    )?;
    let rows = st.query_map([user_id], |r| {
        Ok(Webhook {
            id: r.get(0)?,
            user_id: r.get(1)?,
            url: r.get(2)?,
            created_at: r.get(3)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub fn webhook_url(conn: &Connection, id: i64) -> Result<Option<String>, AlertStoreError> {
    Ok(conn
        .prepare_cached("SELECT url FROM alert_webhooks WHERE id = $1")?
        .query_row([id], |r| r.get(0))
        .optional()?)
}

pub fn remove_webhook(conn: &Connection, id: i64, user_id: i64) -> Result<bool, AlertStoreError> {
    Ok(conn.execute(
        "DELETE FROM alert_webhooks WHERE id = $1 AND user_id = $2",
        params![id, user_id],
    )? == 1)
}

/// Push or webhook.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    Push,
    Webhook,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Push => "push",
            Channel::Webhook => "webhook",
        }
    }
}

/// Where a delivery goes, when already known (a fresh delivery carries it, so
/// sending needs no database read).
#[derive(Debug, Clone)]
pub enum Target {
    Push {
        endpoint: String,
        p256dh: String,
        auth: String,
    },
    Webhook {
        url: String,
    },
}

/// What a delivery is about: an alarm, or an entry of the in-app feed (a
/// notice from another domain through the `NotifyUsers` port).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    Alarm(i64),
    Feed(i64),
}

/// One delivery in the outbox.
#[derive(Debug, Clone, Serialize)]
pub struct OutboxItem {
    pub id: i64,
    /// Set for an alarm's delivery.
    pub alarm_id: Option<i64>,
    /// Set for a notice's delivery: its `alert_feed` entry.
    pub feed_id: Option<i64>,
    pub user_id: i64,
    pub channel: Channel,
    pub target_id: i64,
    pub payload: String,
    /// Sent with `Urgency: high` (critical alarms, urgent notices).
    pub urgent: bool,
    pub created_at: i64,
    pub next_at: i64,
    pub attempts: i64,
    pub status: String,
    pub last_error: Option<String>,
    #[serde(skip)]
    pub target: Option<Target>,
}

const OUTBOX_COLUMNS: &str = "id, alarm_id, feed_id, user_id, channel, target_id, payload, urgent, created_at, next_at, attempts, status, last_error";

fn outbox_from_row(r: &cunlink_core::sql::Row<'_>) -> cunlink_core::sql::Result<OutboxItem> {
    let ch: String = r.get(4)?;
    Ok(OutboxItem {
        id: r.get(0)?,
        alarm_id: r.get(1)?,
        feed_id: r.get(2)?,
        user_id: r.get(3)?,
        channel: if ch == "push" {
            Channel::Push
        } else {
            Channel::Webhook
        },
        target_id: r.get(5)?,
        payload: r.get(6)?,
        urgent: r.get(7)?,
        created_at: r.get(8)?,
        next_at: r.get(9)?,
        attempts: r.get(10)?,
        status: r.get(11)?,
        last_error: r.get(12)?,
        target: None,
    })
}

/// How a delivery is sent: the payload, its urgency, and when it may leave.
pub struct Sending<'a> {
    pub payload: &'a str,
    pub urgent: bool,
    pub next_at: i64,
}

pub fn enqueue(
    conn: &Connection,
    origin: Origin,
    user_id: i64,
    (channel, target_id, target): (Channel, i64, Option<Target>),
    sending: Sending<'_>,
    now: i64,
) -> cunlink_core::sql::Result<OutboxItem> {
    let Sending {
        payload,
        urgent,
        next_at,
    } = sending;
    let (alarm_id, feed_id) = match origin {
        Origin::Alarm(a) => (Some(a), None),
        Origin::Feed(f) => (None, Some(f)),
    };
    conn.prepare_cached(
        "INSERT INTO alert_outbox (alarm_id, feed_id, user_id, channel, target_id, payload, urgent, created_at, next_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )?
    .execute(params![
        alarm_id,
        feed_id,
        user_id,
        channel.as_str(),
        target_id,
        payload,
        urgent,
        now,
        next_at
    ])?;
    Ok(OutboxItem {
        id: conn.last_insert_rowid()?,
        alarm_id,
        feed_id,
        user_id,
        channel,
        target_id,
        payload: payload.to_string(),
        urgent,
        created_at: now,
        next_at,
        attempts: 0,
        status: "pending".into(),
        last_error: None,
        target,
    })
}

/// Pending rows due at `now` that no node is delivering (no live claim).
pub fn due(conn: &Connection, now: i64, limit: usize) -> Result<Vec<OutboxItem>, AlertStoreError> {
    let mut st = conn.prepare_cached(&format!(
        "SELECT {OUTBOX_COLUMNS} FROM alert_outbox WHERE status = 'pending' AND next_at <= $1
           AND (claimed_until IS NULL OR claimed_until < $1) ORDER BY next_at LIMIT $2"
    ))?;
    let rows = st.query_map(params![now, limit as i64], outbox_from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Claim row `id` for delivery by `node` until `now + lease_ms`: true for one
/// node only (one conditional statement, safe with several nodes: under READ
/// COMMITTED a concurrent claim's update is waited for and the condition
/// evaluated again on it). The row must be pending, due, and not claimed, or
/// its claim expired (its node died mid-delivery).
pub fn claim(
    conn: &Connection,
    id: i64,
    node: &str,
    now: i64,
    lease_ms: i64,
) -> Result<bool, AlertStoreError> {
    Ok(conn
        .prepare_cached(
            "UPDATE alert_outbox SET claimed_by = $1, claimed_until = $2
              WHERE id = $3 AND status = 'pending' AND next_at <= $4
                AND (claimed_until IS NULL OR claimed_until < $4)",
        )?
        .execute(params![node, now.saturating_add(lease_ms), id, now])?
        == 1)
}

/// Delivered by `node`, which claimed it. False (nothing changed) when the
/// claim was lost (it expired and another node took the row).
pub fn mark_sent(
    conn: &Connection,
    id: i64,
    node: &str,
    now: i64,
) -> Result<bool, AlertStoreError> {
    let n = conn
        .prepare_cached(
            "UPDATE alert_outbox SET status = 'sent', sent_at = $1, attempts = attempts + 1, last_error = NULL,
                    claimed_by = NULL, claimed_until = NULL
              WHERE id = $2 AND claimed_by = $3 AND status = 'pending'",
        )?
        .execute(params![now, id, node])?;
    if n == 0 {
        tracing::warn!(
            delivery = id,
            "sent, but this node's claim on it was lost meanwhile"
        );
    }
    Ok(n == 1)
}

/// A failed attempt by `node`, which claimed the row: retry at `next_at`, or
/// give up (`None`: dead letter). The claim ends either way.
pub fn mark_failed(
    conn: &Connection,
    id: i64,
    node: &str,
    error: &str,
    next_at: Option<i64>,
) -> Result<bool, AlertStoreError> {
    let n = match next_at {
        Some(t) => conn.execute(
            "UPDATE alert_outbox SET attempts = attempts + 1, last_error = $1, next_at = $2,
                    claimed_by = NULL, claimed_until = NULL
              WHERE id = $3 AND claimed_by = $4 AND status = 'pending'",
            params![error, t, id, node],
        )?,
        None => conn.execute(
            "UPDATE alert_outbox SET attempts = attempts + 1, last_error = $1, status = 'dead',
                    claimed_by = NULL, claimed_until = NULL
              WHERE id = $2 AND claimed_by = $3 AND status = 'pending'",
            params![error, id, node],
        )?,
    };
    Ok(n == 1)
}

/// Dead letters, newest first; `user_id` limits to one user's.
pub fn dead(conn: &Connection, user_id: Option<i64>) -> Result<Vec<OutboxItem>, AlertStoreError> {
    let mut st = conn.prepare_cached(&format!(
        "SELECT {OUTBOX_COLUMNS} FROM alert_outbox WHERE status = 'dead' AND (CAST($1 AS BIGINT) IS NULL OR user_id = $1) ORDER BY id DESC LIMIT 500"
    ))?;
    let rows = st.query_map([user_id], outbox_from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Put a dead letter back in the queue.
pub fn revive(
    conn: &Connection,
    id: i64,
    user_id: Option<i64>,
    now: i64,
) -> Result<bool, AlertStoreError> {
    Ok(conn.execute(
        "UPDATE alert_outbox SET status = 'pending', next_at = $1, attempts = 0 WHERE id = $2 AND status = 'dead' AND (CAST($3 AS BIGINT) IS NULL OR user_id = $3)",
        params![now, id, user_id],
    )? == 1)
}

pub fn outbox_item(conn: &Connection, id: i64) -> Result<Option<OutboxItem>, AlertStoreError> {
    Ok(conn
        .prepare_cached(&format!(
            "SELECT {OUTBOX_COLUMNS} FROM alert_outbox WHERE id = $1"
        ))?
        .query_row([id], outbox_from_row)
        .optional()?)
}

pub fn vapid_key(conn: &Connection) -> Result<Option<Vec<u8>>, AlertStoreError> {
    Ok(conn
        .query_row(
            "SELECT private_key FROM alert_vapid_key WHERE id = 1",
            [],
            |r| r.get(0),
        )
        .optional()?)
}

pub fn put_vapid_key(conn: &Connection, key: &[u8], now: i64) -> Result<(), AlertStoreError> {
    conn.execute(
        "INSERT OR IGNORE INTO alert_vapid_key (id, private_key, created_at) VALUES (1, $1, $2)",
        params![key, now],
    )?;
    Ok(())
}
