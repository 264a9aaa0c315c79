//! Form bodies of the pages (`application/x-www-form-urlencoded`), sent to the
//! real server as the signed-in admin with a valid CSRF field first, so the
//! handler behind the form parser runs too. The first byte picks the route.
//! Not fuzzed: `/login` and `/admin/users` (each try costs an argon2 hash) and
//! `/me/webhooks` (its URLs would be called on the next alarm), `/logout`
//! (it would end the session every later input needs).
//! Findings: a panic in the server, a 5xx, or no answer within 5 s.
#![no_main]

use cunlink_fuzz::harness;
use libfuzzer_sys::fuzz_target;

const ROUTES: &[&str] = &[
    "/me/locale",
    "/admin/villages",
    "/farm/devices",
    "/alarms/1/ack",
    "/alarms/1/clear",
    "/alarms/1/assign",
    "/alarms/1/comment",
    "/me/notifications",
    "/market/order",
    "/market/mine",
    "/market/mine/1/listed",
    "/market/station/orders/1/status",
    "/market/station/orders/1/payment",
    "/market/station/parcels/1/scan",
    "/market/station/parcels/1/collect",
    "/rules/1/delete",
];

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let route = ROUTES[pick as usize % ROUTES.len()];
    let h = harness();
    let mut body = format!("csrf={}&", h.csrf).into_bytes();
    body.extend_from_slice(rest);
    h.send("POST", route, "application/x-www-form-urlencoded", body);
});
