//! Market metrics in Prometheus text.

use std::time::Duration;

use cunlink_core::metrics::{Counter, Histogram};

const COMMIT_SECONDS: &[f64] = &[0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0];

pub struct MarketMetrics {
    pub orders: Counter,
    pub batches: Counter,
    /// Batches run again after a deadlock with another node's writer (PostgreSQL).
    pub retries: Counter,
    pub commit: Histogram,
}

impl Default for MarketMetrics {
    fn default() -> Self {
        MarketMetrics {
            orders: Counter::default(),
            batches: Counter::default(),
            retries: Counter::default(),
            commit: Histogram::new(COMMIT_SECONDS),
        }
    }
}

impl MarketMetrics {
    pub fn observe_commit(&self, _orders: usize, took: Duration) {
        self.batches.inc();
        self.commit.observe(took.as_secs_f64());
    }

    pub fn render(&self, out: &mut String) {
        self.orders.render(
            out,
            "cunlink_market_orders_total",
            "Orders placed (committed).",
        );
        self.batches.render(
            out,
            "cunlink_market_order_batches_total",
            "Order writer transactions.",
        );
        self.retries.render(
            out,
            "cunlink_market_order_batch_retries_total",
            "Order batches run again after a deadlock with another node's writer.",
        );
        self.commit.render(
            out,
            "cunlink_market_order_commit_seconds",
            "Order writer transaction time, including fsync.",
        );
    }
}
