//! Query parameters of the routes that parse them (telemetry ranges and
//! aggregates, latest, alarms, market search and trend, the pages' filters), sent
//! to the real server. The first byte picks the route; the rest is the query.
//! Findings: a panic in the server, a 5xx, or no answer within 5 s.
#![no_main]

use cunlink_fuzz::{harness, query_text};
use libfuzzer_sys::fuzz_target;

const ROUTES: &[&str] = &[
    "/api/devices/d1/telemetry",
    "/api/devices/d1/latest",
    "/api/alarms",
    "/api/market/products",
    "/api/market/prices",
    "/api/market/prices/trend",
    "/api/market/parcels/reminders",
    "/api/devices/d1/rpc",
    "/farm/devices",
    "/farm/assets/1",
    "/farm/assets/1/charts",
    "/farm/herd/d1",
    "/farm/herd/d1/charts",
    "/",
    "/alarms",
    "/rules/keys",
    "/market",
    "/prices",
    "/admin/users",
    "/login",
];

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let path = ROUTES[pick as usize % ROUTES.len()];
    let uri = format!("{path}?{}", query_text(rest));
    harness().send("GET", &uri, "text/plain", Vec::new());
});
