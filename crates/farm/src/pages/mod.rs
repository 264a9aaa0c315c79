//! The farm's pages: the village overview (`/`), asset pages with charts, the
//! herd with fever flags, devices (add, token, QR, connection examples) and a
//! live stream of readings for the pages' SSE.
//!
//! Pages read the same in-memory latest values and telemetry store as the JSON
//! API, and show only what the signed-in user's village lets them see.

mod animal;
mod asset;
mod charts;
mod devices;
pub mod herd;
mod live;
mod overview;
mod profiles;
pub mod readings;

use std::sync::Arc;

use axum::extract::FromRef;
use axum::routing::get;
use cunlink_core::routes::Routes;

use cunlink_core::auth::User;
use cunlink_web::{KitBuilder, Locale, NavEntry, PageError, Tab, WebKit, icon};

use crate::Farm;

#[derive(Clone)]
pub(crate) struct PagesState {
    pub farm: Arc<Farm>,
    pub kit: WebKit,
    pub herd: Arc<herd::BaselineCache>,
    /// The MQTT port devices connect to (for the connection examples).
    pub mqtt_port: u16,
}

impl FromRef<PagesState> for WebKit {
    fn from_ref(s: &PagesState) -> WebKit {
        s.kit.clone()
    }
}

/// Add the farm's strings and navigation entries to the kit.
pub fn register(kit: &mut KitBuilder) {
    // The files are part of this crate; the page tests catch a broken one.
    let _ = kit.locale(Locale::ZhCn, include_str!("../../locales/zh-CN.yml"));
    let _ = kit.locale(Locale::En, include_str!("../../locales/en.yml"));
    kit.tab(Tab {
        id: "farm",
        label: "farm.tab",
        icon: icon::FARM,
        home: "/",
        order: 100,
        visible: can_read_farm,
    });
    kit.nav(NavEntry {
        tab: "farm",
        href: "/",
        label: "farm.nav.overview",
        order: 0,
        visible: can_read_farm,
    });
    kit.nav(NavEntry {
        tab: "farm",
        href: "/farm/herd",
        label: "farm.nav.herd",
        order: 20,
        visible: can_read_farm,
    });
    kit.nav(NavEntry {
        tab: "farm",
        href: "/farm/devices",
        label: "farm.nav.devices",
        order: 30,
        visible: can_read_farm,
    });
}

pub fn routes(farm: Arc<Farm>, kit: WebKit, mqtt_port: u16) -> Routes {
    let state = PagesState {
        herd: Arc::new(herd::BaselineCache::default()),
        farm,
        kit,
        mqtt_port,
    };
    Routes::new()
        .route("/", get(overview::page))
        .route("/farm/live", get(live::stream))
        .route("/farm/assets/{id}", get(asset::page))
        .route("/farm/assets/{id}/charts", get(asset::charts_fragment))
        .route("/farm/herd", get(herd::page))
        .route("/farm/herd/{name}", get(animal::page))
        .route("/farm/herd/{name}/charts", get(animal::charts_fragment))
        .route("/farm/devices", get(devices::list).post(devices::create))
        .route("/farm/devices/{name}", get(devices::show))
        .route("/farm/profiles", get(profiles::list))
        .route(
            "/farm/profiles/{name}",
            axum::routing::post(profiles::set_retention),
        )
        .with_state(state)
}

pub(crate) use crate::scope::{can_manage_devices, can_read_farm};

pub(crate) fn require_farm(u: &User) -> Result<(), PageError> {
    if can_read_farm(u) {
        Ok(())
    } else {
        Err(PageError::Forbidden)
    }
}
