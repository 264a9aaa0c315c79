//! The shape every domain crate has, so that the binary wires them as one list.
//!
//! A domain crate's handle is opened by an inherent `open(config, deps)` (each
//! domain needs different things, so that stays out of the trait), and then the
//! binary drives it only through [`Domain`]: register its strings, tabs, nav
//! entries and sections into the kit, merge its API and page routes, start its
//! background work, and stop it.

use std::sync::Arc;

use cunlink_core::routes::Routes;
use tokio::sync::watch;

use crate::kit::{KitBuilder, WebKit};

/// One domain (farm, alert, board, market, clinic, …) as the binary sees it.
///
/// Methods that hand the handle to routes or tasks take `Arc<Self>` (call them on
/// a clone); the rest borrow.
pub trait Domain: Send + Sync + 'static {
    /// Short name used in logs and migrations (`"farm"`).
    fn name(&self) -> &'static str;

    /// Add the domain's strings, tabs, nav entries, page sections and board
    /// sections. Called once, before the kit is built.
    fn register(self: Arc<Self>, kit: &mut KitBuilder);

    /// The JSON (and device) API.
    fn api_routes(self: Arc<Self>) -> Routes {
        Routes::new()
    }

    /// The HTML pages, which render with the built kit.
    fn page_routes(self: Arc<Self>, _kit: &WebKit) -> Routes {
        Routes::new()
    }

    /// Start background upkeep; it stops when `shutdown` turns true.
    fn spawn_background(self: Arc<Self>, _shutdown: watch::Receiver<bool>) {}

    /// Finish queued work after the listeners stopped (blocking: the binary
    /// calls it from a blocking task).
    fn shutdown(&self) {}

    /// Append the domain's Prometheus metrics.
    fn render_metrics(&self, _out: &mut String) {}

    /// The records the domain syncs between a village node and its hub
    /// (`cunlink_core::sync`, docs/node.md).
    fn sync_kinds(self: Arc<Self>, _kinds: &mut cunlink_core::sync::SyncKinds) {}
}
