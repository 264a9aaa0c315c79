//! Ingest metrics, rendered into `/metrics`.

use std::fmt::Write;
use std::time::Duration;

use cunlink_core::metrics::{Counter, Gauge, Histogram};

static LATENCY_BOUNDS: [f64; 12] = [
    0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 5.0,
];
static BATCH_BOUNDS: [f64; 10] = [
    1.0,
    10.0,
    100.0,
    1_000.0,
    5_000.0,
    10_000.0,
    50_000.0,
    100_000.0,
    200_000.0,
    1_000_000.0,
];

/// Counters of the telemetry write path.
pub struct IngestMetrics {
    pub http_requests: Counter,
    pub mqtt_messages: Counter,
    pub chirpstack_events: Counter,
    pub values_accepted: Counter,
    pub rejected_bad_input: Counter,
    pub rejected_auth: Counter,
    pub rejected_overload: Counter,
    pub commits: Counter,
    pub commit_errors: Counter,
    pub commit_seconds: Histogram,
    pub batch_values: Histogram,
    pub batch_jobs: Histogram,
    pub queue_values: Gauge,
    pub mqtt_connections: Gauge,
    /// Connections closed at accept because `mqtt_max_connections` were open.
    pub mqtt_refused_full: Counter,
    /// Connections closed because no CONNECT arrived in time.
    pub mqtt_connect_timeouts: Counter,
    /// Connections closed because their first packet announced more than a CONNECT needs.
    pub mqtt_connect_too_large: Counter,
}

impl Default for IngestMetrics {
    fn default() -> Self {
        IngestMetrics {
            http_requests: Counter::default(),
            mqtt_messages: Counter::default(),
            chirpstack_events: Counter::default(),
            values_accepted: Counter::default(),
            rejected_bad_input: Counter::default(),
            rejected_auth: Counter::default(),
            rejected_overload: Counter::default(),
            commits: Counter::default(),
            commit_errors: Counter::default(),
            commit_seconds: Histogram::new(&LATENCY_BOUNDS),
            batch_values: Histogram::new(&BATCH_BOUNDS),
            batch_jobs: Histogram::new(&BATCH_BOUNDS),
            queue_values: Gauge::default(),
            mqtt_connections: Gauge::default(),
            mqtt_refused_full: Counter::default(),
            mqtt_connect_timeouts: Counter::default(),
            mqtt_connect_too_large: Counter::default(),
        }
    }
}

impl IngestMetrics {
    pub fn observe_commit(&self, jobs: usize, values: usize, took: Duration) {
        self.commits.inc();
        self.values_accepted.add(values as u64);
        self.commit_seconds.observe(took.as_secs_f64());
        self.batch_values.observe(values as f64);
        self.batch_jobs.observe(jobs as f64);
    }

    pub fn render(&self, out: &mut String) {
        self.http_requests.render(
            out,
            "cunlink_ingest_http_requests_total",
            "Device API HTTP requests received.",
        );
        self.mqtt_messages.render(
            out,
            "cunlink_ingest_mqtt_messages_total",
            "MQTT PUBLISH packets received from devices.",
        );
        self.chirpstack_events.render(
            out,
            "cunlink_ingest_chirpstack_events_total",
            "ChirpStack integration events received.",
        );
        self.values_accepted.render(
            out,
            "cunlink_ingest_values_committed_total",
            "Telemetry values durably committed.",
        );
        let _ = writeln!(
            out,
            "# HELP cunlink_ingest_rejected_total Ingest requests refused, by reason.\n# TYPE cunlink_ingest_rejected_total counter"
        );
        let _ = writeln!(
            out,
            "cunlink_ingest_rejected_total{{reason=\"bad_input\"}} {}",
            self.rejected_bad_input.get()
        );
        let _ = writeln!(
            out,
            "cunlink_ingest_rejected_total{{reason=\"auth\"}} {}",
            self.rejected_auth.get()
        );
        let _ = writeln!(
            out,
            "cunlink_ingest_rejected_total{{reason=\"overload\"}} {}",
            self.rejected_overload.get()
        );
        self.commits.render(
            out,
            "cunlink_ingest_commits_total",
            "Group commits (transactions with fsync).",
        );
        self.commit_errors.render(
            out,
            "cunlink_ingest_commit_errors_total",
            "Group commits that failed; their senders got an error.",
        );
        self.commit_seconds.render(
            out,
            "cunlink_ingest_commit_seconds",
            "Time to write and fsync one group commit.",
        );
        self.batch_values.render(
            out,
            "cunlink_ingest_batch_values",
            "Values per group commit.",
        );
        self.batch_jobs.render(
            out,
            "cunlink_ingest_batch_requests",
            "Requests and messages per group commit.",
        );
        self.queue_values.render(
            out,
            "cunlink_ingest_queue_values",
            "Values waiting for the writer.",
        );
        self.mqtt_connections
            .render(out, "cunlink_mqtt_connections", "Open MQTT connections.");
        let _ = writeln!(
            out,
            "# HELP cunlink_mqtt_refused_total MQTT connections closed before CONNECT, by reason.\n# TYPE cunlink_mqtt_refused_total counter"
        );
        for (reason, c) in [
            ("max_connections", &self.mqtt_refused_full),
            ("connect_timeout", &self.mqtt_connect_timeouts),
            ("connect_too_large", &self.mqtt_connect_too_large),
        ] {
            let _ = writeln!(
                out,
                "cunlink_mqtt_refused_total{{reason=\"{reason}\"}} {}",
                c.get()
            );
        }
    }
}
