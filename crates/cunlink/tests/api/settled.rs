//! Waiting for the alert engine without sleeping: `/metrics` carries the
//! watermarks of the alarm writer. A committed reading counts in
//! `cunlink_alert_readings_settled_total` once it was evaluated *and* every
//! alarm change it caused is stored, so "no (second) alarm" can be asserted
//! the moment that counter reaches `cunlink_ingest_values_committed_total`:
//! a slow machine makes the wait longer, never the answer different.

use std::time::{Duration, Instant};

use crate::common::{TestApp, request};

/// One sample of `/metrics` (0 when absent).
pub async fn metric(app: &TestApp, name: &str) -> u64 {
    let text = request(app.http, "GET", "/metrics", &[], vec![])
        .await
        .text();
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .map_or(0, |v| v as u64)
}

/// Wait until the history replayed at start and every reading committed so far
/// have been evaluated and their alarms stored. Readings must have been
/// acknowledged (HTTP 200, MQTT PUBACK) before calling this.
pub async fn alerts_settled(app: &TestApp) {
    // Generous: it only bounds how long a broken build takes to fail.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let committed = metric(app, "cunlink_ingest_values_committed_total").await;
        let settled = metric(app, "cunlink_alert_readings_settled_total").await;
        let replayed = metric(app, "cunlink_alert_replay_done").await;
        if replayed == 1 && settled >= committed {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the alert engine never caught up: {settled} of {committed} readings settled, replay done = {replayed}"
        );
        // Polling interval, not a guess at how long evaluation takes.
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
