//! The `NotifyUsers` port of `cunlink_core::notify`, implemented with alert's
//! machinery: a notice becomes one in-app feed entry per user (`alert_feed`)
//! and, per the user's channels, Web Push and webhook deliveries in the same
//! outbox that carries alarms, so the dispatcher, retries and dead letters are
//! shared. Everything is written on the caller's connection, inside its
//! transaction; the caller calls `wake` after committing.
//!
//! Quiet hours hold back a notice's push and webhook deliveries like a
//! non-critical alarm's; urgent notices go at once. Severity and asset choices
//! are about alarms and do not filter notices. The feed entry is there at once
//! either way.

use std::collections::BTreeSet;

use cunlink_core::notify::{NotifyUsers, UserNotice};
use cunlink_core::sql::Connection;
use cunlink_core::time::now_ms;
use serde_json::json;

use super::feed::{self, NewEntry};
use super::store::{self, Channel, Origin, Sending, Target};
use super::{Notifier, webpush};
use crate::AlertStoreError;
use crate::rule::Severity;

/// A notice's title and body as stored in the feed are cut to these many
/// characters; the sending domain keeps the whole text behind `url`.
const MAX_TITLE: usize = 200;
const MAX_BODY: usize = 4000;

fn cut(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

/// Alert's store functions wrap the SQL error; the port speaks it.
fn sqlite(e: AlertStoreError) -> cunlink_core::sql::Error {
    match e {
        AlertStoreError::Db(cunlink_core::DbError::Sql(e)) => e,
        other => cunlink_core::sql::Error::Other(other.to_string()),
    }
}

/// What the service worker shows: shortened until it fits one push record.
fn push_payload(n: &UserNotice, feed_id: i64, title: &str, body: &str) -> String {
    let mut chars = body.chars().count();
    loop {
        let b = cut(body, chars);
        let p = json!({
            "title": title,
            "body": b,
            "url": n.url,
            "tag": format!("feed-{feed_id}"),
            "source": n.source,
            "urgent": n.urgent,
        })
        .to_string();
        if p.len() <= webpush::MAX_PLAINTEXT || chars == 0 {
            return p;
        }
        chars /= 2;
    }
}

/// What SMS gateways and chat bots receive, like an alarm's webhook: `text`
/// is ready to send as one message.
fn webhook_payload(n: &UserNotice, feed_id: i64, title: &str, body: &str) -> String {
    json!({
        "text": format!("{title} {body}"),
        "title": title,
        "body": body,
        "url": n.url,
        "source": n.source,
        "urgent": n.urgent,
        "notice": { "feed_id": feed_id },
    })
    .to_string()
}

impl Notifier {
    /// See [`NotifyUsers::enqueue`]; alert's own error type.
    fn enqueue_notice(&self, conn: &Connection, n: &UserNotice) -> Result<usize, AlertStoreError> {
        let now = now_ms();
        let title = cut(n.title.trim(), MAX_TITLE);
        let body = cut(n.body.trim(), MAX_BODY);
        // Urgent notices are treated as critical alarms by the quiet hours.
        let severity = if n.urgent {
            Severity::Critical
        } else {
            Severity::Major
        };
        let users: BTreeSet<i64> = n.user_ids.iter().copied().collect();
        let mut queued = 0;
        for user_id in users {
            let feed_id = feed::insert(
                conn,
                &NewEntry {
                    user_id,
                    source: n.source,
                    title: &title,
                    body: &body,
                    url: &n.url,
                    urgent: n.urgent,
                },
                now,
            )?;
            queued += 1;
            let prefs = store::prefs(conn, user_id)?;
            let next_at = prefs.release_at(severity, now);
            let mut deliveries: Vec<(Channel, i64, Target)> = Vec::new();
            if prefs.push && next_at <= now {
                self.local.hold(
                    feed_id,
                    now,
                    super::local::LocalNotice {
                        user_id,
                        payload: push_payload(n, feed_id, &title, &body),
                    },
                );
            }
            if prefs.push {
                for s in store::pushes_of(conn, user_id)? {
                    let target = Target::Push {
                        endpoint: s.endpoint,
                        p256dh: s.p256dh,
                        auth: s.auth,
                    };
                    deliveries.push((Channel::Push, s.id, target));
                }
            }
            if prefs.webhook {
                for w in store::webhooks_of(conn, user_id)? {
                    deliveries.push((Channel::Webhook, w.id, Target::Webhook { url: w.url }));
                }
            }
            for (channel, target_id, target) in deliveries {
                let payload = match channel {
                    Channel::Push => push_payload(n, feed_id, &title, &body),
                    Channel::Webhook => webhook_payload(n, feed_id, &title, &body),
                };
                store::enqueue(
                    conn,
                    Origin::Feed(feed_id),
                    user_id,
                    (channel, target_id, Some(target)),
                    Sending {
                        payload: &payload,
                        urgent: n.urgent,
                        next_at,
                    },
                    now,
                )?;
                queued += 1;
            }
        }
        Ok(queued)
    }
}

impl NotifyUsers for Notifier {
    /// Counts every feed entry and every push or webhook delivery queued.
    fn enqueue(&self, conn: &Connection, notice: &UserNotice) -> cunlink_core::sql::Result<usize> {
        self.enqueue_notice(conn, notice).map_err(sqlite)
    }

    fn wake(&self) {
        self.scan_now.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn notice(body: &str) -> UserNotice {
        UserNotice {
            user_ids: vec![1],
            source: "affairs",
            title: "停水通知".into(),
            body: body.into(),
            url: "/affairs/notices/1".into(),
            urgent: true,
        }
    }

    #[test]
    fn long_notices_fit_one_push_record() {
        let body = "水".repeat(10_000);
        let p = push_payload(&notice(&body), 7, "停水通知", &cut(&body, MAX_BODY));
        assert!(p.len() <= webpush::MAX_PLAINTEXT, "{}", p.len());
        let v: serde_json::Value = serde_json::from_str(&p).unwrap();
        assert_eq!(v["tag"], "feed-7");
        assert_eq!(v["url"], "/affairs/notices/1");
    }

    #[test]
    fn cut_keeps_whole_characters() {
        assert_eq!(cut("村务公开", 2), "村务…");
        assert_eq!(cut("村务", 2), "村务");
    }
}
