//! Access matrix: every route the server registers × every role (and anonymous)
//! × an object of the caller's own village and of another village, checked
//! against the table below.
//!
//! The routes come from the server (`Server::route_paths`, recorded by
//! `cunlink_core::routes::Routes` as each domain registers them) and the methods
//! of each path from the server too (the `Allow` header of a 405), so a route
//! added without a row here fails this test. Every mismatch is collected and the
//! test fails once with the whole table of them.
//!
//! How answers are classed:
//! * anonymous: `401` on the JSON API, a redirect to `/login` on pages;
//! * a role that may not use the route at all: `403` (market pages answer a
//!   refused form with a redirect carrying `?err=`, counted as a 403);
//! * an object of another village (farm, alarms, rules): `404`, existence is not
//!   revealed; an object of another owner in the market (orders, parcels,
//!   products, live sales), where ids are not secret: `403`; a role that may not
//!   do the thing anywhere may get either on another village's object;
//! * a county-level device (no village): like another village's, for everyone
//!   but admin and county staff (issue 9 item 2);
//! * allowed: past the access check, i.e. any other answer below 500 (2xx, a
//!   redirect elsewhere, or 400/409/422 when the fixed body does not fit the
//!   object's state).
//!
//! Callers of village A act on village A's objects ("own"), on village B's
//! ("other") and, on device routes, on a county-level device ("county"). The
//! village-A farmer, operator and buyer callers are the ones who listed, handle
//! and bought village A's market objects. Admin and county staff belong to no
//! village; the buyer neither. Rows that delete or move their object get a fresh
//! one per request. Routes whose object is personal (a push subscription, webhook
//! or dead letter of the caller) are walked with an unknown id: only the sign-in
//! gate is checked. Rows marked `fixed by issue 9 item N` fail until that fix lands.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use serde_json::{Value, json};

use crate::common::{TestApp, enc, request, spawn_app};
use cunlink_core::auth::Role;

// ---- the declared table ------------------------------------------------------

const ALL: &[Role] = &Role::ALL;
/// Farm and alarm data: everyone of the county and its villages, not city buyers.
const NOT_BUYER: &[Role] = &[
    Role::Admin,
    Role::CountyStaff,
    Role::StationOperator,
    Role::Farmer,
    Role::Doctor,
    Role::Teacher,
    Role::Villager,
    Role::VillageOfficial,
];
const MANAGE_DEVICES: &[Role] = &[Role::Admin, Role::CountyStaff, Role::Farmer];
const MANAGE_RULES: &[Role] = &[Role::Admin, Role::CountyStaff, Role::Farmer];
const HANDLE_ALARMS: &[Role] = &[Role::Admin, Role::CountyStaff, Role::Farmer, Role::Doctor];
const COUNTY: &[Role] = &[Role::Admin, Role::CountyStaff];
const SELLERS: &[Role] = &[Role::Admin, Role::Farmer];
const OPERATORS: &[Role] = &[Role::Admin, Role::StationOperator];
const PARCEL_STAFF: &[Role] = &[Role::Admin, Role::CountyStaff, Role::StationOperator];
/// A parcel: the county, the stations, and its recipient.
const PARCEL_READERS: &[Role] = &[
    Role::Admin,
    Role::CountyStaff,
    Role::StationOperator,
    Role::Buyer,
];
/// Roles that are never party to a parcel: told it does not exist (403 or 404).
const NOT_IN_A_PARCEL: &[(Role, Expect)] = &[
    (Role::Farmer, Expect::Denied),
    (Role::Doctor, Expect::Denied),
    (Role::Teacher, Expect::Denied),
    (Role::Villager, Expect::Denied),
    (Role::VillageOfficial, Expect::Denied),
];
/// Collecting a parcel: the destination's operator, or the recipient with the code.
const COLLECTORS: &[Role] = &[Role::Admin, Role::StationOperator, Role::Buyer];
const ORDERING: &[Role] = &[
    Role::Admin,
    Role::StationOperator,
    Role::Farmer,
    Role::Buyer,
    Role::Villager,
];
/// Who may see an order of their own village: its buyer, its seller, the
/// operator of its stations, and the county.
const ORDER_PARTIES: &[Role] = &[
    Role::Admin,
    Role::CountyStaff,
    Role::StationOperator,
    Role::Farmer,
    Role::Buyer,
];

/// The clinic: its doctor, the villagers it serves, and the county.
const CLINIC: &[Role] = &[Role::Admin, Role::CountyStaff, Role::Doctor, Role::Villager];
/// Village affairs: its officials (and admins) run it.
const AFFAIRS_MANAGE: &[Role] = &[Role::Admin, Role::VillageOfficial];
/// Read receipts: the village's officials and the county.
const AFFAIRS_OVERSEE: &[Role] = &[Role::Admin, Role::CountyStaff, Role::VillageOfficial];
/// Residents of a village: they report, ask and vote (not the county's accounts).
const RESIDENTS: &[Role] = &[
    Role::StationOperator,
    Role::Farmer,
    Role::Doctor,
    Role::Teacher,
    Role::Villager,
    Role::VillageOfficial,
];
/// A resident's feedback is seen by its reporter, the village's officials and
/// the county: other residents are told it does not exist.
const NOT_THE_REPORTER: &[(Role, Expect)] = &[
    (Role::StationOperator, Expect::NotFound),
    (Role::Farmer, Expect::NotFound),
    (Role::Doctor, Expect::NotFound),
    (Role::Teacher, Expect::NotFound),
    (Role::Villager, Expect::NotFound),
];
/// Clinic records (issue 11 item 6): admins and the doctors of the patient's
/// village (the patient's own account and assigned county doctors are walked in
/// clinic_access.rs). Everyone else is told the record does not exist.
const RECORD: &[Role] = &[Role::Admin, Role::Doctor];
const ADMIN: &[Role] = &[Role::Admin];
const DOCTOR: &[Role] = &[Role::Doctor];
const NOBODY: &[Role] = &[];
const NOT_A_READER: &[(Role, Expect)] = &[
    (Role::CountyStaff, Expect::NotFound),
    (Role::StationOperator, Expect::NotFound),
    (Role::Farmer, Expect::NotFound),
    (Role::Buyer, Expect::NotFound),
    (Role::Teacher, Expect::NotFound),
    (Role::Villager, Expect::NotFound),
    (Role::VillageOfficial, Expect::NotFound),
];
/// Who may ask for TURN credentials: doctors and villagers (patients' accounts).
const CALLERS: &[Role] = &[Role::Doctor, Role::Villager];
/// A consult's call: only its members. Village A's doctor caller is the village
/// doctor of village A's call consult and of no other; everyone else gets 403.
const CALL_MEMBERS: &[Role] = &[Role::Doctor];
/// The school: its teachers, the villagers whose children go there, and the county.
const SCHOOL: &[Role] = &[Role::Admin, Role::CountyStaff, Role::Teacher, Role::Villager];
/// Publishing lessons and watching pulls: teachers and the county.
const TEACH: &[Role] = &[Role::Admin, Role::CountyStaff, Role::Teacher];
/// A pairing's live class: its teacher and its classrooms' accounts. Village A's
/// teacher caller is a member of village A's rural class (seed_live_classroom).
const LIVE: &[Role] = &[Role::Teacher];
/// Who reads a village node's dead letters.
const NODE_OPS: &[Role] = &[Role::Admin, Role::CountyStaff, Role::StationOperator, Role::VillageOfficial];

#[derive(Clone, Copy, Debug, PartialEq)]
enum Surface {
    /// JSON API: anonymous gets 401.
    Api,
    /// HTML page: anonymous is sent to /login.
    Page,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Other {
    /// The route takes no village object.
    Unscoped,
    /// Another village's object answers 404.
    NotFound,
    /// Another owner's object answers 403 (market: ids are not secret).
    Forbidden,
}

#[derive(Clone, Copy)]
enum Rule {
    /// Anyone, signed in or not.
    Public,
    /// The `{token}` in the path is the credential (device API); anyone.
    DeviceToken,
    /// Integration token only: no user session or API token is one (issue 9 item 3).
    /// Also a village node's own credential (`/api/sync/*`, issue 15).
    Integration,
    /// The same answer for everyone (a hub's node-only routes: 404 `not_a_node`).
    Fixed(Expect),
    /// A personal object with an unknown id: signed in → 404; only the sign-in gate is checked.
    Personal(Surface),
    /// Signed-in users: `see` may learn the object exists, `act` may do it.
    Users {
        surface: Surface,
        see: &'static [Role],
        act: &'static [Role],
        other: Other,
    },
}

struct Row {
    method: &'static str,
    path: &'static str,
    rule: Rule,
    /// Per-role answers that differ from the rule's (with why).
    overrides: &'static [(Role, Expect)],
}

const fn api(see: &'static [Role], act: &'static [Role], other: Other) -> Rule {
    Rule::Users {
        surface: Surface::Api,
        see,
        act,
        other,
    }
}

const fn page(see: &'static [Role], act: &'static [Role], other: Other) -> Rule {
    Rule::Users {
        surface: Surface::Page,
        see,
        act,
        other,
    }
}

const fn row(method: &'static str, path: &'static str, rule: Rule) -> Row {
    Row {
        method,
        path,
        rule,
        overrides: &[],
    }
}

use Other::{Forbidden as Owner403, NotFound as Village404, Unscoped};

#[rustfmt::skip]
fn table() -> Vec<Row> {
    vec![
        // The binary's own.
        row("GET", "/healthz", Rule::Public),
        row("GET", "/metrics", Rule::Public),
        // core: sign-in API.
        row("POST", "/api/login", Rule::Public),
        row("POST", "/api/logout", Rule::Public),
        row("GET", "/api/me", api(ALL, ALL, Unscoped)),
        // farm: device API (ingest). The device token is the credential.
        row("POST", "/api/v1/{token}/telemetry", Rule::DeviceToken),
        row("POST", "/api/v1/{token}/attributes", Rule::DeviceToken),
        row("POST", "/api/v1/{token}/gateway/telemetry", Rule::DeviceToken),
        row("POST", "/api/v1/{token}/gateway/attributes", Rule::DeviceToken),
        row("GET", "/api/v1/{token}/rpc", Rule::DeviceToken),
        row("POST", "/api/v1/{token}/rpc/{id}", Rule::DeviceToken),
        // fixed by issue 9 item 3 (today anyone may post events)
        row("POST", "/api/integrations/chirpstack", Rule::Integration),
        // farm: JSON API. fixed by issue 9 item 2: the device rows are also walked
        // against a county-level device, which only admin and county staff may touch.
        row("GET", "/api/devices", api(NOT_BUYER, NOT_BUYER, Unscoped)),
        row("POST", "/api/devices", api(MANAGE_DEVICES, MANAGE_DEVICES, Unscoped)),
        row("GET", "/api/devices/{name}", api(NOT_BUYER, NOT_BUYER, Village404)),
        row("GET", "/api/devices/{name}/token", api(NOT_BUYER, MANAGE_DEVICES, Village404)),
        row("POST", "/api/devices/{name}/token", api(NOT_BUYER, MANAGE_DEVICES, Village404)),
        row("GET", "/api/devices/{name}/latest", api(NOT_BUYER, NOT_BUYER, Village404)),
        row("GET", "/api/devices/{name}/telemetry", api(NOT_BUYER, NOT_BUYER, Village404)),
        row("GET", "/api/devices/{name}/attributes", api(NOT_BUYER, NOT_BUYER, Village404)),
        row("GET", "/api/devices/{name}/stream", api(NOT_BUYER, NOT_BUYER, Village404)),
        row("GET", "/api/devices/{name}/rpc", api(NOT_BUYER, NOT_BUYER, Village404)),
        row("POST", "/api/devices/{name}/rpc", api(NOT_BUYER, MANAGE_DEVICES, Village404)),
        row("GET", "/api/devices/{name}/rpc/{id}", api(NOT_BUYER, NOT_BUYER, Village404)),
        row("GET", "/api/assets", api(NOT_BUYER, NOT_BUYER, Unscoped)),
        // farm: issue 13. Profiles are shared by every village; exports are scoped
        // inside the handler (walked without a query: 400 past the access check).
        row("GET", "/api/profiles/{name}", api(NOT_BUYER, NOT_BUYER, Unscoped)),
        row("PUT", "/api/profiles/{name}", api(COUNTY, COUNTY, Unscoped)),
        row("GET", "/api/export", api(NOT_BUYER, NOT_BUYER, Unscoped)),
        // farm: pages.
        Row {
            method: "GET",
            path: "/",
            rule: page(NOT_BUYER, NOT_BUYER, Unscoped),
            // fixed by issue 9 item 12: `/` sends buyers to /market instead of a 403.
            overrides: &[(Role::Buyer, Expect::Passed)],
        },
        row("GET", "/farm/live", page(NOT_BUYER, NOT_BUYER, Unscoped)),
        row("GET", "/farm/assets/{id}", page(NOT_BUYER, NOT_BUYER, Village404)),
        row("GET", "/farm/assets/{id}/charts", page(NOT_BUYER, NOT_BUYER, Village404)),
        row("GET", "/farm/herd", page(NOT_BUYER, NOT_BUYER, Unscoped)),
        row("GET", "/farm/herd/{name}", page(NOT_BUYER, NOT_BUYER, Village404)),
        row("GET", "/farm/herd/{name}/charts", page(NOT_BUYER, NOT_BUYER, Village404)),
        row("GET", "/farm/devices", page(NOT_BUYER, NOT_BUYER, Unscoped)),
        row("POST", "/farm/devices", page(MANAGE_DEVICES, MANAGE_DEVICES, Unscoped)),
        row("GET", "/farm/devices/{name}", page(NOT_BUYER, NOT_BUYER, Village404)),
        row("GET", "/farm/profiles", page(NOT_BUYER, NOT_BUYER, Unscoped)),
        row("POST", "/farm/profiles/{name}", page(COUNTY, COUNTY, Unscoped)),
        // alert: JSON API.
        row("GET", "/api/rules", api(NOT_BUYER, NOT_BUYER, Unscoped)),
        row("POST", "/api/rules", api(MANAGE_RULES, MANAGE_RULES, Unscoped)),
        row("GET", "/api/rules/{id}", api(NOT_BUYER, NOT_BUYER, Village404)),
        row("PUT", "/api/rules/{id}", api(NOT_BUYER, MANAGE_RULES, Village404)),
        row("DELETE", "/api/rules/{id}", api(NOT_BUYER, MANAGE_RULES, Village404)),
        row("GET", "/api/alarms", api(NOT_BUYER, NOT_BUYER, Unscoped)),
        row("GET", "/api/alarms/stream", api(NOT_BUYER, NOT_BUYER, Unscoped)),
        row("GET", "/api/alarms/{id}", api(NOT_BUYER, NOT_BUYER, Village404)),
        row("POST", "/api/alarms/{id}/ack", api(NOT_BUYER, HANDLE_ALARMS, Village404)),
        row("POST", "/api/alarms/{id}/clear", api(NOT_BUYER, HANDLE_ALARMS, Village404)),
        row("POST", "/api/alarms/{id}/assign", api(NOT_BUYER, HANDLE_ALARMS, Village404)),
        row("POST", "/api/alarms/{id}/comments", api(NOT_BUYER, NOT_BUYER, Village404)),
        row("GET", "/api/me/notifications", api(ALL, ALL, Unscoped)),
        row("PUT", "/api/me/notifications", api(ALL, ALL, Unscoped)),
        row("GET", "/api/me/notifications/feed", api(ALL, ALL, Unscoped)),
        row("GET", "/api/me/notifications/live", api(ALL, ALL, Unscoped)),
        row("POST", "/api/me/notifications/{id}/read", Rule::Personal(Surface::Api)),
        row("GET", "/api/push/vapid-public-key", Rule::Public),
        row("GET", "/api/push/subscriptions", api(ALL, ALL, Unscoped)),
        row("POST", "/api/push/subscriptions", api(ALL, ALL, Unscoped)),
        row("DELETE", "/api/push/subscriptions/{id}", Rule::Personal(Surface::Api)),
        row("GET", "/api/webhooks", api(ALL, ALL, Unscoped)),
        row("POST", "/api/webhooks", api(ALL, ALL, Unscoped)),
        row("DELETE", "/api/webhooks/{id}", Rule::Personal(Surface::Api)),
        row("GET", "/api/notifications/dead", api(ALL, ALL, Unscoped)),
        row("POST", "/api/notifications/{id}/retry", Rule::Personal(Surface::Api)),
        // alert: pages.
        row("GET", "/alarms", page(NOT_BUYER, NOT_BUYER, Unscoped)),
        row("GET", "/alarms/{id}", page(NOT_BUYER, NOT_BUYER, Village404)),
        row("GET", "/alarms/{id}/row", page(NOT_BUYER, NOT_BUYER, Village404)),
        row("POST", "/alarms/{id}/ack", page(NOT_BUYER, HANDLE_ALARMS, Village404)),
        row("POST", "/alarms/{id}/clear", page(NOT_BUYER, HANDLE_ALARMS, Village404)),
        row("POST", "/alarms/{id}/assign", page(NOT_BUYER, HANDLE_ALARMS, Village404)),
        row("POST", "/alarms/{id}/comment", page(NOT_BUYER, NOT_BUYER, Village404)),
        row("GET", "/rules", page(NOT_BUYER, NOT_BUYER, Unscoped)),
        row("GET", "/rules/new", page(NOT_BUYER, MANAGE_RULES, Unscoped)),
        row("GET", "/rules/keys", page(NOT_BUYER, NOT_BUYER, Unscoped)),
        row("GET", "/rules/{id}", page(NOT_BUYER, MANAGE_RULES, Village404)),
        row("POST", "/rules/{id}/delete", page(NOT_BUYER, MANAGE_RULES, Village404)),
        row("POST", "/me/notifications", page(ALL, ALL, Unscoped)),
        row("POST", "/me/webhooks", page(ALL, ALL, Unscoped)),
        row("POST", "/me/webhooks/{id}/delete", Rule::Personal(Surface::Page)),
        row("POST", "/me/dead/{id}/retry", Rule::Personal(Surface::Page)),
        row("GET", "/alert/static/{hash}/alert.js", Rule::Public),
        // market: JSON API.
        row("GET", "/api/market/stations", api(ALL, ALL, Unscoped)),
        row("POST", "/api/market/stations", api(COUNTY, COUNTY, Unscoped)),
        row("GET", "/api/market/products", Rule::Public),
        row("POST", "/api/market/products", api(SELLERS, SELLERS, Unscoped)),
        row("GET", "/api/market/products/{id}", Rule::Public),
        row("PATCH", "/api/market/products/{id}", api(SELLERS, SELLERS, Owner403)),
        row("POST", "/api/market/products/{id}/photos", api(SELLERS, SELLERS, Owner403)),
        // Stock between the hub and village nodes (issue 15): the product's seller.
        row("POST", "/api/market/variants/{id}/allocate", api(SELLERS, SELLERS, Owner403)),
        row("POST", "/api/market/variants/{id}/release", api(SELLERS, SELLERS, Owner403)),
        row("GET", "/api/market/photos/{file}", Rule::Public),
        row("GET", "/api/market/orders", api(ALL, ALL, Unscoped)),
        row("POST", "/api/market/orders", api(ORDERING, ORDERING, Unscoped)),
        row("GET", "/api/market/orders/{id}", api(ORDER_PARTIES, ORDER_PARTIES, Owner403)),
        row("POST", "/api/market/orders/{id}/status", api(ORDER_PARTIES, OPERATORS, Owner403)),
        row("POST", "/api/market/orders/{id}/payment", api(ORDER_PARTIES, OPERATORS, Owner403)),
        // Village node (issue 15): a station hands a hub order over on its node;
        // the hub answers 409 node_only past the same checks.
        row("POST", "/api/market/orders/{id}/pickup", api(ORDER_PARTIES, OPERATORS, Owner403)),
        row("GET", "/api/market/pickups", api(OPERATORS, OPERATORS, Unscoped)),
        row("POST", "/api/market/parcels", api(PARCEL_STAFF, PARCEL_STAFF, Unscoped)),
        row("GET", "/api/market/parcels/reminders", api(PARCEL_STAFF, PARCEL_STAFF, Unscoped)),
        // fixed by issue 9 item 6: an operator sees only its own station's parcels.
        // Issue 9 item 6: outside a parcel's scope (not its stations, its recipient
        // or the county) the answer is the same 404 as for no parcel at all.
        Row {
            method: "GET",
            path: "/api/market/parcels/{id}",
            rule: api(PARCEL_READERS, PARCEL_READERS, Village404),
            overrides: NOT_IN_A_PARCEL,
        },
        // fixed by issue 9 item 6: scans only by the holding station.
        Row {
            method: "POST",
            path: "/api/market/parcels/{id}/scan",
            rule: api(PARCEL_STAFF, PARCEL_STAFF, Village404),
            // The row scans `picked_up`, which only the origin station makes.
            overrides: &[(Role::CountyStaff, Expect::Forbidden)],
        },
        Row {
            method: "POST",
            path: "/api/market/parcels/{id}/collect",
            rule: api(COLLECTORS, COLLECTORS, Village404),
            overrides: NOT_IN_A_PARCEL,
        },
        row("GET", "/api/market/prices", Rule::Public),
        row("POST", "/api/market/prices", api(OPERATORS, OPERATORS, Unscoped)),
        row("GET", "/api/market/prices/trend", Rule::Public),
        // Admins may end any live sale but start one only with products they list.
        row("POST", "/api/market/live", api(SELLERS, &[Role::Farmer], Unscoped)),
        row("GET", "/api/market/live/{id}", Rule::Public),
        row("GET", "/api/market/live/{id}/stream", Rule::Public),
        row("POST", "/api/market/live/{id}/orders", api(ORDERING, ORDERING, Unscoped)),
        row("POST", "/api/market/live/{id}/end", api(SELLERS, SELLERS, Owner403)),
        row("POST", "/api/market/batches", api(SELLERS, SELLERS, Unscoped)),
        row("GET", "/t/{code}/qr.svg", Rule::Public),
        // market: pages.
        row("GET", "/market", page(ALL, ALL, Unscoped)),
        row("POST", "/market/order", page(ORDERING, ORDERING, Unscoped)),
        row("GET", "/market/orders", page(ALL, ALL, Unscoped)),
        row("GET", "/market/mine", page(SELLERS, SELLERS, Unscoped)),
        row("POST", "/market/mine", page(SELLERS, SELLERS, Unscoped)),
        row("POST", "/market/mine/{id}/listed", page(SELLERS, SELLERS, Owner403)),
        row("GET", "/market/station", page(OPERATORS, OPERATORS, Unscoped)),
        row("POST", "/market/station/orders/{id}/status", page(OPERATORS, OPERATORS, Owner403)),
        row("POST", "/market/station/orders/{id}/payment", page(OPERATORS, OPERATORS, Owner403)),
        // Handing a hub order over happens on a village node; this hub refuses
        // it to everyone (the form comes back with `?err=`, node_only).
        row("POST", "/market/station/orders/{id}/pickup", page(OPERATORS, &[], Owner403)),
        // fixed by issue 9 item 6: scans only by the holding station (the county hub may scan any).
        Row {
            method: "POST",
            path: "/market/station/parcels/{id}/scan",
            rule: page(PARCEL_STAFF, PARCEL_STAFF, Owner403),
            overrides: &[(Role::CountyStaff, Expect::Forbidden)],
        },
        // As the API: the destination's operator, or the recipient with the code.
        row("POST", "/market/station/parcels/{id}/collect", page(COLLECTORS, COLLECTORS, Owner403)),
        row("GET", "/prices", Rule::Public),
        row("GET", "/t/{code}", Rule::Public),
        // web: sign-in, settings, administration, assets.
        row("GET", "/login", Rule::Public),
        row("POST", "/login", Rule::Public),
        row("POST", "/logout", page(ALL, ALL, Unscoped)),
        row("GET", "/lang/{code}", Rule::Public),
        row("GET", "/me", page(ALL, ALL, Unscoped)),
        row("POST", "/me/locale", page(ALL, ALL, Unscoped)),
        row("GET", "/admin/users", page(COUNTY, COUNTY, Unscoped)),
        row("POST", "/admin/users", page(COUNTY, COUNTY, Unscoped)),
        // Issue 9 item 12: disable, enable, revoke tokens (the row sends no action).
        row("POST", "/admin/users/action", page(COUNTY, COUNTY, Unscoped)),
        row("POST", "/admin/villages", page(COUNTY, COUNTY, Unscoped)),
        row("GET", "/static/{hash}/{*name}", Rule::Public),
        row("GET", "/sw.js", Rule::Public),
        row("GET", "/manifest.webmanifest", Rule::Public),
        // board: the unguessable slug is the credential.
        row("GET", "/board/{slug}", Rule::Public),
        row("GET", "/board/{slug}/live", Rule::Public),
        // Skeleton domains: each home page for the roles its tab is for.
        row("GET", "/clinic", page(CLINIC, CLINIC, Unscoped)),
        // clinic (issue 11): JSON API. The village-A doctor is a village doctor;
        // accepting and publishing slots are for county doctors (clinic_flow.rs).
        row("GET", "/api/clinic/departments", api(ALL, ALL, Unscoped)),
        row("POST", "/api/clinic/departments", api(ADMIN, ADMIN, Unscoped)),
        row("POST", "/api/clinic/doctors", api(ADMIN, ADMIN, Unscoped)),
        row("GET", "/api/clinic/patients", api(RECORD, RECORD, Unscoped)),
        row("POST", "/api/clinic/patients", api(RECORD, RECORD, Unscoped)),
        Row { method: "GET", path: "/api/clinic/patients/{id}", rule: api(RECORD, RECORD, Village404), overrides: NOT_A_READER },
        // The log: the patient and admins; a doctor who may read the record is refused.
        Row { method: "GET", path: "/api/clinic/patients/{id}/access-log", rule: api(RECORD, ADMIN, Village404), overrides: NOT_A_READER },
        row("GET", "/api/clinic/consults", api(ALL, ALL, Unscoped)),
        row("POST", "/api/clinic/consults", api(RECORD, DOCTOR, Unscoped)),
        Row { method: "GET", path: "/api/clinic/consults/{id}", rule: api(RECORD, RECORD, Village404), overrides: NOT_A_READER },
        Row { method: "POST", path: "/api/clinic/consults/{id}/accept", rule: api(RECORD, NOBODY, Village404), overrides: NOT_A_READER },
        Row { method: "POST", path: "/api/clinic/consults/{id}/schedule", rule: api(RECORD, DOCTOR, Village404), overrides: NOT_A_READER },
        Row { method: "POST", path: "/api/clinic/consults/{id}/close", rule: api(RECORD, DOCTOR, Village404), overrides: NOT_A_READER },
        Row { method: "POST", path: "/api/clinic/consults/{id}/cancel", rule: api(RECORD, RECORD, Village404), overrides: NOT_A_READER },
        Row { method: "POST", path: "/api/clinic/consults/{id}/notes", rule: api(RECORD, DOCTOR, Village404), overrides: NOT_A_READER },
        Row { method: "POST", path: "/api/clinic/consults/{id}/prescriptions", rule: api(RECORD, DOCTOR, Village404), overrides: NOT_A_READER },
        Row { method: "POST", path: "/api/clinic/consults/{id}/photos", rule: api(RECORD, DOCTOR, Village404), overrides: NOT_A_READER },
        Row { method: "GET", path: "/api/clinic/photos/{id}", rule: api(RECORD, RECORD, Village404), overrides: NOT_A_READER },
        Row { method: "GET", path: "/api/clinic/prescriptions/{id}", rule: api(RECORD, RECORD, Village404), overrides: NOT_A_READER },
        Row { method: "POST", path: "/api/clinic/prescriptions/{id}/revise", rule: api(RECORD, DOCTOR, Village404), overrides: NOT_A_READER },
        Row { method: "POST", path: "/api/clinic/prescriptions/{id}/dispense", rule: api(RECORD, DOCTOR, Village404), overrides: NOT_A_READER },
        row("GET", "/api/clinic/slots", api(RECORD, RECORD, Unscoped)),
        row("POST", "/api/clinic/slots", api(NOBODY, NOBODY, Unscoped)),
        row("GET", "/api/clinic/vitals", api(DOCTOR, DOCTOR, Unscoped)),
        row("GET", "/api/clinic/queue/stream", api(RECORD, RECORD, Unscoped)),
        // clinic: FHIR R4, the same rules as the records (searches name village A's patient).
        Row { method: "GET", path: "/fhir/r4/Patient/{id}", rule: api(RECORD, RECORD, Village404), overrides: NOT_A_READER },
        Row { method: "GET", path: "/fhir/r4/Patient/{id}/$everything", rule: api(RECORD, RECORD, Village404), overrides: NOT_A_READER },
        row("GET", "/fhir/r4/Practitioner/{id}", api(CLINIC, CLINIC, Unscoped)),
        Row { method: "GET", path: "/fhir/r4/Encounter", rule: api(RECORD, RECORD, Unscoped), overrides: NOT_A_READER },
        Row { method: "GET", path: "/fhir/r4/Observation", rule: api(RECORD, RECORD, Unscoped), overrides: NOT_A_READER },
        Row { method: "GET", path: "/fhir/r4/Condition", rule: api(RECORD, RECORD, Unscoped), overrides: NOT_A_READER },
        Row { method: "GET", path: "/fhir/r4/MedicationRequest", rule: api(RECORD, RECORD, Unscoped), overrides: NOT_A_READER },
        Row { method: "GET", path: "/fhir/r4/MedicationDispense", rule: api(RECORD, RECORD, Unscoped), overrides: NOT_A_READER },
        // clinic: pages.
        row("POST", "/clinic/patients", page(RECORD, RECORD, Unscoped)),
        row("POST", "/clinic/departments", page(ADMIN, ADMIN, Unscoped)),
        row("GET", "/clinic/consults/new", page(DOCTOR, DOCTOR, Unscoped)),
        row("POST", "/clinic/consults/new", page(DOCTOR, DOCTOR, Unscoped)),
        row("GET", "/clinic/queue", page(RECORD, RECORD, Unscoped)),
        row("GET", "/clinic/queue/rows", page(RECORD, RECORD, Unscoped)),
        row("GET", "/clinic/slots", page(RECORD, RECORD, Unscoped)),
        row("POST", "/clinic/slots", page(NOBODY, NOBODY, Unscoped)),
        Row { method: "GET", path: "/clinic/consults/{id}", rule: page(RECORD, RECORD, Village404), overrides: NOT_A_READER },
        Row { method: "POST", path: "/clinic/consults/{id}/action", rule: page(RECORD, DOCTOR, Village404), overrides: NOT_A_READER },
        Row { method: "POST", path: "/clinic/consults/{id}/notes", rule: page(RECORD, DOCTOR, Village404), overrides: NOT_A_READER },
        Row { method: "POST", path: "/clinic/consults/{id}/prescriptions", rule: page(RECORD, DOCTOR, Village404), overrides: NOT_A_READER },
        Row { method: "POST", path: "/clinic/prescriptions/{id}/dispense", rule: page(RECORD, DOCTOR, Village404), overrides: NOT_A_READER },
        Row { method: "GET", path: "/clinic/patients/{id}", rule: page(RECORD, RECORD, Village404), overrides: NOT_A_READER },
        Row { method: "GET", path: "/clinic/prescriptions/{id}/print", rule: page(RECORD, RECORD, Village404), overrides: NOT_A_READER },
        row("GET", "/school", page(SCHOOL, SCHOOL, Unscoped)),
        // school: lesson channels are shared county-wide; a teacher changes only
        // their own village's (ids are not secret: 403).
        row("GET", "/api/school/channels", api(SCHOOL, SCHOOL, Unscoped)),
        row("POST", "/api/school/channels", api(SCHOOL, TEACH, Unscoped)),
        row("GET", "/api/school/channels/{id}", api(SCHOOL, SCHOOL, Unscoped)),
        row("POST", "/api/school/channels/{id}/files", api(SCHOOL, TEACH, Owner403)),
        row("POST", "/api/school/channels/{id}/publish", api(SCHOOL, TEACH, Owner403)),
        row("GET", "/api/school/channels/{id}/export", api(SCHOOL, SCHOOL, Unscoped)),
        row("GET", "/api/school/content/{sha256}", api(SCHOOL, SCHOOL, Unscoped)),
        row("GET", "/api/school/content/{sha256}/chunks", api(SCHOOL, SCHOOL, Unscoped)),
        row("GET", "/api/school/pulls", api(SCHOOL, TEACH, Unscoped)),
        // Village node sync (issue 15). The matrix's app is a hub.
        row("GET", "/api/nodes", api(COUNTY, COUNTY, Unscoped)),
        row("POST", "/api/nodes", api(COUNTY, COUNTY, Unscoped)),
        Row {
            method: "POST",
            path: "/api/nodes/{node_id}/revoke",
            rule: api(COUNTY, COUNTY, Unscoped),
            // No node has that id.
            overrides: &[(Role::Admin, Expect::NotFound), (Role::CountyStaff, Expect::NotFound)],
        },
        row("GET", "/api/nodes/{node_id}/dead-letters", api(COUNTY, COUNTY, Unscoped)),
        row("POST", "/api/sync/up", Rule::Integration),
        row("POST", "/api/sync/down", Rule::Integration),
        row("POST", "/api/sync/blob/{kind}/{key}", Rule::Integration),
        row("POST", "/api/sync/up/blob/{kind}/{key}", Rule::Integration),
        row("GET", "/api/node/status", Rule::Fixed(Expect::NotFound)),
        row("GET", "/api/node/dead-letters", api(NODE_OPS, NODE_OPS, Unscoped)),
        row("POST", "/api/node/sync", Rule::Personal(Surface::Api)),
        row("GET", "/school/channels/{id}", page(SCHOOL, SCHOOL, Unscoped)),
        row("GET", "/school/play/{sha}", page(SCHOOL, SCHOOL, Unscoped)),
        row("GET", "/school/pulls", page(SCHOOL, TEACH, Unscoped)),
        // school: courses. A teacher changes and sees the progress of their own
        // village's courses; learners answer courses they are enrolled in.
        row("GET", "/api/school/courses", api(SCHOOL, SCHOOL, Unscoped)),
        row("POST", "/api/school/courses", api(SCHOOL, TEACH, Unscoped)),
        row("GET", "/api/school/courses/{id}", api(SCHOOL, SCHOOL, Unscoped)),
        row("POST", "/api/school/courses/{id}/items", api(SCHOOL, TEACH, Owner403)),
        row("POST", "/api/school/courses/{id}/scorm", api(SCHOOL, TEACH, Owner403)),
        row("POST", "/api/school/courses/{id}/enrolments", api(SCHOOL, TEACH, Owner403)),
        row("POST", "/api/school/courses/{id}/answers", api(SCHOOL, TEACH, Owner403)),
        row("POST", "/api/school/courses/{id}/completions", api(SCHOOL, TEACH, Owner403)),
        row("GET", "/api/school/courses/{id}/progress", api(SCHOOL, SCHOOL, Unscoped)),
        row("POST", "/api/school/classes", api(SCHOOL, TEACH, Unscoped)),
        row("POST", "/api/school/classes/{id}/members", api(SCHOOL, TEACH, Owner403)),
        row("POST", "/api/school/scorm/{item}/calls", api(SCHOOL, TEACH, Owner403)),
        row("GET", "/api/school/scorm/{item}/{*path}", api(SCHOOL, SCHOOL, Unscoped)),
        row("GET", "/api/school/statements", api(SCHOOL, TEACH, Unscoped)),
        row("POST", "/api/school/statements", api(SCHOOL, TEACH, Unscoped)),
        row("GET", "/api/school/subscriptions", api(SCHOOL, TEACH, Unscoped)),
        row("POST", "/api/school/subscriptions", api(SCHOOL, TEACH, Unscoped)),
        row("GET", "/school/courses", page(SCHOOL, SCHOOL, Unscoped)),
        row("GET", "/school/courses/{id}", page(SCHOOL, SCHOOL, Unscoped)),
        row("POST", "/school/courses/{id}/answers", page(SCHOOL, TEACH, Owner403)),
        row("GET", "/school/courses/{id}/progress", page(SCHOOL, TEACH, Owner403)),
        row("GET", "/school/courses/{id}/scorm/{item}", page(SCHOOL, SCHOOL, Unscoped)),
        row("GET", "/school/static/{hash}/scorm.js", Rule::Public),
        // school: paired classrooms span villages (a city class and village
        // classes): county-level objects any teacher may arrange.
        row("POST", "/api/school/pairings", api(SCHOOL, TEACH, Unscoped)),
        row("GET", "/api/school/pairings/{id}", api(SCHOOL, SCHOOL, Unscoped)),
        // Only the city class's own teacher (no caller: the seed teacher made it) and the county.
        row("POST", "/api/school/pairings/{id}/timetable", api(SCHOOL, COUNTY, Owner403)),
        row("POST", "/api/school/classes/{id}/live", api(SCHOOL, LIVE, Owner403)),
        row("GET", "/school/classes/{id}/live", page(SCHOOL, LIVE, Owner403)),
        row("GET", "/school/timetable", page(SCHOOL, SCHOOL, Unscoped)),
        row("GET", "/affairs", page(NOT_BUYER, NOT_BUYER, Unscoped)),
        // affairs: JSON API (issue 16).
        row("GET", "/api/affairs/notices", api(NOT_BUYER, NOT_BUYER, Unscoped)),
        row("POST", "/api/affairs/notices", api(NOT_BUYER, AFFAIRS_MANAGE, Unscoped)),
        row("GET", "/api/affairs/notices/{id}", api(NOT_BUYER, NOT_BUYER, Village404)),
        row("POST", "/api/affairs/notices/{id}/read", api(NOT_BUYER, NOT_BUYER, Village404)),
        row("GET", "/api/affairs/notices/{id}/receipts", api(NOT_BUYER, AFFAIRS_OVERSEE, Village404)),
        row("POST", "/api/affairs/notices/{id}/photos", api(NOT_BUYER, AFFAIRS_MANAGE, Village404)),
        row("GET", "/api/affairs/notices/{id}/audio", api(NOT_BUYER, NOT_BUYER, Village404)),
        row("POST", "/api/affairs/notices/{id}/audio", api(NOT_BUYER, AFFAIRS_MANAGE, Village404)),
        row("GET", "/api/affairs/files/{hash}", api(NOT_BUYER, NOT_BUYER, Village404)),
        row("GET", "/api/affairs/groups", api(NOT_BUYER, NOT_BUYER, Unscoped)),
        row("POST", "/api/affairs/groups", api(NOT_BUYER, AFFAIRS_MANAGE, Unscoped)),
        row("GET", "/api/affairs/ledger", api(NOT_BUYER, NOT_BUYER, Unscoped)),
        row("POST", "/api/affairs/ledger", api(NOT_BUYER, AFFAIRS_MANAGE, Unscoped)),
        row("GET", "/api/affairs/ledger/months", api(NOT_BUYER, NOT_BUYER, Unscoped)),
        row("POST", "/api/affairs/ledger/months/{month}/publish", api(NOT_BUYER, AFFAIRS_MANAGE, Unscoped)),
        row("DELETE", "/api/affairs/ledger/{id}", api(NOT_BUYER, AFFAIRS_MANAGE, Village404)),
        row("POST", "/api/affairs/ledger/{id}/approve", api(NOT_BUYER, AFFAIRS_MANAGE, Village404)),
        row("POST", "/api/affairs/ledger/{id}/voucher", api(NOT_BUYER, AFFAIRS_MANAGE, Village404)),
        row("POST", "/api/affairs/ledger/{id}/questions", api(NOT_BUYER, RESIDENTS, Village404)),
        row("POST", "/api/affairs/ledger/questions/{id}/answer", api(NOT_BUYER, AFFAIRS_MANAGE, Village404)),
        row("GET", "/api/affairs/feedback", api(NOT_BUYER, NOT_BUYER, Unscoped)),
        row("POST", "/api/affairs/feedback", api(NOT_BUYER, RESIDENTS, Unscoped)),
        row("GET", "/api/affairs/feedback/stats", api(NOT_BUYER, NOT_BUYER, Unscoped)),
        Row { method: "GET", path: "/api/affairs/feedback/{id}", rule: api(NOT_BUYER, AFFAIRS_OVERSEE, Village404), overrides: NOT_THE_REPORTER },
        Row { method: "POST", path: "/api/affairs/feedback/{id}/ack", rule: api(NOT_BUYER, AFFAIRS_MANAGE, Village404), overrides: NOT_THE_REPORTER },
        Row { method: "POST", path: "/api/affairs/feedback/{id}/assign", rule: api(NOT_BUYER, AFFAIRS_MANAGE, Village404), overrides: NOT_THE_REPORTER },
        Row { method: "POST", path: "/api/affairs/feedback/{id}/resolve", rule: api(NOT_BUYER, AFFAIRS_MANAGE, Village404), overrides: NOT_THE_REPORTER },
        // Only the reporter rates or adds a photo (the fixture's reporter is not a caller).
        Row { method: "POST", path: "/api/affairs/feedback/{id}/rate", rule: api(NOT_BUYER, &[], Village404), overrides: NOT_THE_REPORTER },
        Row { method: "POST", path: "/api/affairs/feedback/{id}/photo", rule: api(NOT_BUYER, &[], Village404), overrides: NOT_THE_REPORTER },
        row("GET", "/api/affairs/votes", api(NOT_BUYER, NOT_BUYER, Unscoped)),
        row("POST", "/api/affairs/votes", api(NOT_BUYER, AFFAIRS_MANAGE, Unscoped)),
        row("GET", "/api/affairs/votes/{id}", api(NOT_BUYER, NOT_BUYER, Village404)),
        row("POST", "/api/affairs/votes/{id}/ballot", api(NOT_BUYER, RESIDENTS, Village404)),
        // affairs: pages.
        row("POST", "/affairs", page(NOT_BUYER, AFFAIRS_MANAGE, Unscoped)),
        row("GET", "/affairs/notices/list", page(NOT_BUYER, NOT_BUYER, Unscoped)),
        row("GET", "/affairs/unread", page(NOT_BUYER, NOT_BUYER, Unscoped)),
        row("GET", "/affairs/notices/{id}", page(NOT_BUYER, NOT_BUYER, Village404)),
        row("POST", "/affairs/notices/{id}/read", page(NOT_BUYER, NOT_BUYER, Village404)),
        row("GET", "/affairs/accounts", page(NOT_BUYER, NOT_BUYER, Unscoped)),
        row("POST", "/affairs/accounts", page(NOT_BUYER, AFFAIRS_MANAGE, Unscoped)),
        row("POST", "/affairs/accounts/{id}/approve", page(NOT_BUYER, AFFAIRS_MANAGE, Village404)),
        row("POST", "/affairs/accounts/{id}/ask", page(NOT_BUYER, RESIDENTS, Village404)),
        row("POST", "/affairs/accounts/publish", page(NOT_BUYER, AFFAIRS_MANAGE, Unscoped)),
        row("GET", "/affairs/feedback", page(NOT_BUYER, NOT_BUYER, Unscoped)),
        row("POST", "/affairs/feedback", page(NOT_BUYER, RESIDENTS, Unscoped)),
        Row { method: "POST", path: "/affairs/feedback/{id}/{action}", rule: page(NOT_BUYER, AFFAIRS_MANAGE, Village404), overrides: NOT_THE_REPORTER },
        row("GET", "/affairs/votes", page(NOT_BUYER, NOT_BUYER, Unscoped)),
        row("POST", "/affairs/votes", page(NOT_BUYER, AFFAIRS_MANAGE, Unscoped)),
        row("POST", "/affairs/votes/{id}/ballot", page(NOT_BUYER, RESIDENTS, Village404)),
        // clinic: calls (issue 11 item 3), on each village's `call_consult`. The
        // socket row sends no upgrade: a member gets 400 (past the access check),
        // everyone else 403.
        row("GET", "/api/clinic/ice-servers", api(ALL, CALLERS, Unscoped)),
        row("POST", "/api/clinic/consults/{id}/call", api(ALL, CALL_MEMBERS, Owner403)),
        row("GET", "/api/clinic/consults/{id}/call/ws", api(ALL, CALL_MEMBERS, Owner403)),
        row("GET", "/clinic/consults/{id}/call", page(ALL, CALL_MEMBERS, Owner403)),
    ]
}

// ---- expectations and outcomes -----------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq)]
enum Expect {
    Unauthorized,
    ToLogin,
    Forbidden,
    NotFound,
    /// 403 or 404: a caller whose role may not do this anywhere, on another
    /// village's object; either answer reveals nothing.
    Denied,
    /// Past the access check: any answer below 500 that is none of the above.
    Passed,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Scope {
    Own,
    Other,
    /// A county-level device (no village): only admin and county staff (issue 9 item 2).
    County,
}

fn expected(row: &Row, caller: Option<Role>, scope: Scope) -> Expect {
    if let Some(role) = caller
        && let Some((_, e)) = row.overrides.iter().find(|(r, _)| *r == role)
    {
        return *e;
    }
    match row.rule {
        Rule::Public | Rule::DeviceToken => Expect::Passed,
        Rule::Integration => Expect::Unauthorized,
        Rule::Fixed(e) => e,
        Rule::Personal(surface) => match caller {
            None => signed_out(surface),
            Some(_) => Expect::NotFound,
        },
        Rule::Users {
            surface,
            see,
            act,
            other,
        } => {
            let Some(role) = caller else {
                return signed_out(surface);
            };
            if !see.contains(&role) {
                return Expect::Forbidden;
            }
            if scope != Scope::Own && !role.is_county_wide() {
                match other {
                    _ if !act.contains(&role) && other != Other::Unscoped => return Expect::Denied,
                    Other::NotFound => return Expect::NotFound,
                    Other::Forbidden => return Expect::Forbidden,
                    Other::Unscoped => {}
                }
            }
            if act.contains(&role) {
                Expect::Passed
            } else {
                Expect::Forbidden
            }
        }
    }
}

fn signed_out(surface: Surface) -> Expect {
    match surface {
        Surface::Api => Expect::Unauthorized,
        Surface::Page => Expect::ToLogin,
    }
}

fn classify(status: u16, location: Option<&str>) -> Option<Expect> {
    match status {
        401 => Some(Expect::Unauthorized),
        403 => Some(Expect::Forbidden),
        404 => Some(Expect::NotFound),
        // A sign-in redirect says where to come back to; signing out also lands on /login.
        300..=399 if location.is_some_and(|l| l.starts_with("/login?next=")) => {
            Some(Expect::ToLogin)
        }
        // Market pages answer a refused form by redirecting back with the reason (`?err=`).
        300..=399 if location.is_some_and(|l| l.contains("err=")) => Some(Expect::Forbidden),
        405 | 500.. => None,
        _ => Some(Expect::Passed),
    }
}

/// Whether an answer meets an expectation.
fn meets(got: Option<Expect>, want: Expect) -> bool {
    match want {
        Expect::Denied => matches!(got, Some(Expect::Forbidden | Expect::NotFound)),
        w => got == Some(w),
    }
}

fn scoped(row: &Row) -> bool {
    matches!(
        row.rule,
        Rule::Users {
            other: Other::NotFound | Other::Forbidden,
            ..
        }
    )
}

// ---- the two villages ----------------------------------------------------------

const PASSWORD: &str = "a-password";
/// The sign-in form's CSRF token (32 letters and digits, as the server issues them),
/// sent both as its cookie and in the form.
const LOGIN_CSRF: &str = "AccessMatrixLoginToken0123456789";

struct Caller {
    role: Role,
    username: String,
    token: String,
    cookie: String,
    csrf: String,
    /// A second session, for the one row that signs out.
    spare_cookie: String,
    spare_csrf: String,
}

/// Ids of one village's objects.
#[derive(Default, Clone)]
struct Village {
    name: &'static str,
    device: String,
    device_token: String,
    tag: String,
    rotate: String,
    asset: i64,
    rule: i64,
    alarm: i64,
    command: i64,
    station: i64,
    product: i64,
    /// The product's (only) variant.
    variant: i64,
    order: i64,
    parcel: i64,
    live: i64,
    live_item: i64,
    gateway_token: String,
    /// The village's buyer, who places fresh orders for rows that move one.
    buyer_token: String,
    /// The village's station operator, who moves fresh parcels.
    op_token: String,
    photo: String,
    trace: String,
    // Village affairs' objects (see `seed_affairs`).
    notice: i64,
    file: String,
    entry: i64,
    question: i64,
    feedback: i64,
    vote: i64,
    /// Clinic: a patient of the village, their consult, its prescription,
    /// photo and the free slot it may book, and the village doctor's user id.
    patient: i64,
    consult: i64,
    rx: i64,
    clinic_photo: i64,
    slot: i64,
    vdoc_id: i64,
    /// A consult accepted by a county doctor whose village doctor is the
    /// village's doctor caller, for the call rows (made after the callers).
    call_consult: i64,
    /// A published school channel of the village's school, and its one file.
    school_channel: i64,
    school_sha: String,
    /// A course of the village's school, one of its classes, and a SCORM item of it.
    school_course: i64,
    school_class: i64,
    school_scorm: i64,
    school_pairing: i64,
    /// The pairing's rural class (its live class's classroom).
    school_rural: i64,
}

struct World {
    a: Village,
    b: Village,
    county: Village,
    board: String,
    static_asset: String,
    alert_asset: String,
}

async fn ok(app: &TestApp, path: &str, token: &str, body: Value) -> Value {
    let (s, v) = app.post_json(path, token, body.clone()).await;
    assert!((200..300).contains(&s), "seeding {path} {body}: {s} {v}");
    v
}

async fn seed_village(
    app: &TestApp,
    name: &'static str,
    tag: &str,
) -> (Village, String, String, String) {
    let admin = app.admin_token.clone();
    let farmer = app
        .user(&format!("farmer-{tag}"), Role::Farmer, Some(name))
        .await;
    let op = app
        .user(&format!("op-{tag}"), Role::StationOperator, Some(name))
        .await;
    let buyer = app.user(&format!("buyer-{tag}"), Role::Buyer, None).await;
    let mut v = Village {
        name,
        device: format!("dev-{tag}"),
        tag: format!("tag-{tag}"),
        rotate: format!("rot-{tag}"),
        ..Village::default()
    };
    let asset = format!("Asset {tag}");
    v.device_token = app
        .device(json!({"name": v.device, "asset": asset, "village": name}))
        .await;
    app.device(json!({"name": v.tag, "type": "ear-tag", "asset": asset, "village": name}))
        .await;
    app.device(json!({"name": v.rotate, "asset": asset, "village": name}))
        .await;
    v.gateway_token = app
        .device(
            json!({"name": format!("gw-{tag}"), "gateway": true, "asset": asset, "village": name}),
        )
        .await;
    v.buyer_token = buyer.clone();
    v.op_token = op.clone();
    let assets = app.query("/api/assets").await;
    v.asset = assets
        .as_array()
        .and_then(|a| a.iter().find(|x| x["name"] == asset.as_str()))
        .and_then(|x| x["id"].as_i64())
        .expect("asset id");
    // A reading first (a rule may only name keys its target reports), then the rule, then the reading that raises its alarm.
    for t in [5, 6] {
        let r = app
            .post(
                &format!("/api/v1/{}/telemetry", v.device_token),
                format!(r#"{{"t":{t}}}"#),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text());
        if t == 5 {
            let rule = ok(app, "/api/rules", &admin, rule_body(&v)).await;
            v.rule = rule["id"].as_i64().expect("rule id");
        }
    }
    let cmd = ok(
        app,
        &format!("/api/devices/{}/rpc", enc(&v.device)),
        &admin,
        json!({"method": "m", "params": {}, "timeout_ms": 600000}),
    )
    .await;
    v.command = cmd["id"].as_i64().expect("command id");
    // The device fetches it, so the device API's reply row has a command waiting.
    let r = request(
        app.http,
        "GET",
        &format!("/api/v1/{}/rpc?timeout=1", v.device_token),
        &[],
        Vec::new(),
    )
    .await;
    assert_eq!(r.status, 200, "poll: {}", r.text());
    let st = ok(
        app,
        "/api/market/stations",
        &admin,
        json!({"village": name, "name": format!("Station {tag}")}),
    )
    .await;
    v.station = st["id"].as_i64().expect("station id");
    let p = ok(
        app,
        "/api/market/products",
        &farmer,
        json!({"name": format!("Tea {tag}"), "unit": "kg", "price_fen": 100, "stock": 100000}),
    )
    .await;
    v.product = p["id"].as_i64().expect("product id");
    v.variant = p["variants"][0]["id"].as_i64().expect("variant id");
    let r = request(
        app.http,
        "POST",
        &format!("/api/market/products/{}/photos", v.product),
        &[
            ("authorization", &format!("Bearer {farmer}")),
            ("content-type", "image/png"),
        ],
        png(),
    )
    .await;
    assert_eq!(r.status, 201, "photo: {}", r.text());
    v.photo = r.json()["small"]
        .as_str()
        .and_then(|u| u.rsplit('/').next())
        .expect("photo url")
        .to_string();
    let o = ok(app, "/api/market/orders", &buyer, json!({"items": [{"product_id": v.product, "quantity": 1}], "pickup_station_id": v.station})).await;
    v.order = o["id"].as_i64().expect("order id");
    let path = format!("/api/market/orders/{}/status", v.order);
    ok(app, &path, &op, json!({"status": "packed"})).await;
    let shipped = ok(app, &path, &op, json!({"status": "shipped"})).await;
    v.parcel = shipped["parcel_id"].as_i64().expect("parcel id");
    let live = ok(
        app,
        "/api/market/live",
        &farmer,
        json!({"title": format!("Live {tag}"), "stream_url": "https://live.douyin.com/1",
        "items": [{"product_id": v.product, "session_price_fen": 90, "session_stock": 100}]}),
    )
    .await;
    v.live = live["id"].as_i64().expect("live id");
    v.live_item = live["items"][0]["id"].as_i64().expect("live item id");
    let now = cunlink_core::time::now_ms();
    let batch = ok(app, "/api/market/batches", &farmer, json!({"asset": asset, "grown_from": now - 86_400_000, "harvested_at": now, "product_id": v.product})).await;
    v.trace = batch["url"]
        .as_str()
        .and_then(|u| u.rsplit('/').next())
        .expect("trace url")
        .to_string();
    seed_affairs(app, &mut v, tag).await;
    seed_clinic(app, &mut v, tag).await;
    let teacher = app
        .user(&format!("teacher-seed-{tag}"), Role::Teacher, Some(name))
        .await;
    let ch = ok(app, "/api/school/channels", &teacher, json!({"name": format!("Lessons {tag}")})).await;
    v.school_channel = ch["id"].as_i64().expect("channel id");
    let r = request(
        app.http,
        "POST",
        &format!("/api/school/channels/{}/files?name=l.txt", v.school_channel),
        &[("authorization", &format!("Bearer {teacher}"))],
        format!("lesson {tag}").into_bytes(),
    )
    .await;
    assert_eq!(r.status, 201, "school file: {}", r.text());
    v.school_sha = r.json()["sha256"].as_str().expect("sha").to_string();
    ok(app, &format!("/api/school/channels/{}/publish", v.school_channel), &teacher, json!({})).await;
    let course = ok(app, "/api/school/courses", &teacher, json!({"title": format!("Course {tag}"), "audience": "teachers"})).await;
    v.school_course = course["id"].as_i64().expect("course id");
    let class = ok(app, "/api/school/classes", &teacher, json!({"name": format!("Class {tag}"), "school": "S"})).await;
    v.school_class = class["id"].as_i64().expect("class id");
    let rural = ok(app, "/api/school/classes", &teacher, json!({"name": format!("Class {tag} B"), "school": "R"})).await;
    let pairing = ok(app, "/api/school/pairings", &teacher, json!({"name": format!("Pair {tag}"), "city_class_id": v.school_class, "rural_class_ids": [rural["id"]]})).await;
    v.school_pairing = pairing["id"].as_i64().expect("pairing id");
    v.school_rural = rural["id"].as_i64().expect("rural class id");
    let manifest = br#"<manifest><resources><resource identifier="r" adlcp:scormtype="sco" href="index.html"/></resources></manifest>"#;
    let r = request(
        app.http,
        "POST",
        &format!("/api/school/courses/{}/scorm", v.school_course),
        &[("authorization", &format!("Bearer {teacher}"))],
        crate::school_courses::zip(&[("imsmanifest.xml", manifest), ("index.html", b"<p>x</p>")]),
    )
    .await;
    assert_eq!(r.status, 201, "scorm: {}", r.text());
    v.school_scorm = r.json()["item_id"].as_i64().expect("item id");
    (v, farmer, op, buyer)
}

/// The village's clinic objects: its doctor registers a patient, opens a
/// consult in 内科 with a prescription and a photo; 内科's county doctor
/// (`cdoc-mx`, made once) publishes a slot the consult may book.
async fn seed_clinic(app: &TestApp, v: &mut Village, tag: &str) {
    let admin = app.admin_token.clone();
    let cdoc = if tag == "a" {
        let t = app.user("cdoc-mx", Role::Doctor, None).await;
        ok(app, "/api/clinic/doctors", &admin, json!({"user": "cdoc-mx", "department": "内科"})).await;
        t
    } else {
        app.user("cdoc-mx-b", Role::Doctor, None).await
    };
    if tag != "a" {
        ok(app, "/api/clinic/doctors", &admin, json!({"user": "cdoc-mx-b", "department": "内科"})).await;
    }
    let vdoc = app.user(&format!("vdoc-{tag}"), Role::Doctor, Some(v.name)).await;
    v.patient = ok(app, "/api/clinic/patients", &vdoc, json!({"name": format!("病人 {tag}"), "sex": "female",
        "birth_date": "1960-01-01", "village": v.name}))
    .await["id"]
        .as_i64()
        .expect("patient id");
    v.consult = ok(app, "/api/clinic/consults", &vdoc, json!({"patient_id": v.patient, "department": "内科",
        "complaint": "头痛", "vitals": {"temperature": 37.2}}))
    .await["id"]
        .as_i64()
        .expect("consult id");
    v.rx = ok(app, &format!("/api/clinic/consults/{}/prescriptions", v.consult), &vdoc, json!({"items": [
        {"drug": "对乙酰氨基酚", "dose": "0.5 g", "route": "口服", "frequency": "必要时", "days": 2, "quantity": 4}]}))
    .await["id"]
        .as_i64()
        .expect("rx id");
    let r = request(
        app.http,
        "POST",
        &format!("/api/clinic/consults/{}/photos", v.consult),
        &[("authorization", &format!("Bearer {vdoc}")), ("content-type", "image/png")],
        png(),
    )
    .await;
    assert_eq!(r.status, 201, "clinic photo: {}", r.text());
    v.clinic_photo = r.json()["id"].as_i64().expect("photo id");
    let start = cunlink_core::time::now_ms() + 86_400_000;
    v.slot = ok(app, "/api/clinic/slots", &cdoc, json!({"starts_at": start, "minutes": 20}))
        .await["id"]
        .as_i64()
        .expect("slot id");
    let me = app.get("/api/me", &vdoc).await.json();
    v.vdoc_id = me["id"].as_i64().expect("doctor id");
}

/// A notice with a recording, a published ledger month with a question, a
/// villager's feedback and a vote, made by the village's two officials.
async fn seed_affairs(app: &TestApp, v: &mut Village, tag: &str) {
    let off = app
        .user(&format!("official-{tag}"), Role::VillageOfficial, Some(v.name))
        .await;
    let off2 = app
        .user(&format!("official2-{tag}"), Role::VillageOfficial, Some(v.name))
        .await;
    let villager = app
        .user(&format!("reporter-{tag}"), Role::Villager, Some(v.name))
        .await;
    let n = ok(app, "/api/affairs/notices", &off, json!({"title": "t", "body": "b", "category": "notice"})).await;
    v.notice = n["id"].as_i64().expect("notice id");
    let r = request(
        app.http,
        "POST",
        &format!("/api/affairs/notices/{}/audio", v.notice),
        &[("authorization", &format!("Bearer {off}"))],
        format!("RIFF\0\0\0\0WAVEfmt {tag}").into_bytes(),
    )
    .await;
    assert_eq!(r.status, 201, "audio: {}", r.text());
    v.file = r.json()["hash"].as_str().expect("hash").to_string();
    let e = ok(app, "/api/affairs/ledger", &off, json!({"date": "2026-10-05", "item": "rent", "kind": "income", "amount_fen": 100, "category": "c"})).await;
    v.entry = e["id"].as_i64().expect("entry id");
    for t in [&off, &off2] {
        ok(app, &format!("/api/affairs/ledger/{}/approve", v.entry), t, json!({})).await;
    }
    ok(app, "/api/affairs/ledger/months/2026-10/publish", &off, json!({})).await;
    let q = ok(app, &format!("/api/affairs/ledger/{}/questions", v.entry), &villager, json!({"text": "why?"})).await;
    v.question = q["id"].as_i64().expect("question id");
    let f = ok(app, "/api/affairs/feedback", &villager, json!({"category": "road", "text": "pothole"})).await;
    v.feedback = f["id"].as_i64().expect("feedback id");
    let closes = cunlink_core::time::now_ms() + 86_400_000;
    let vote = ok(app, "/api/affairs/votes", &off, json!({"question": "q", "options": ["a", "b"], "closes_at": closes})).await;
    v.vote = vote["id"].as_i64().expect("vote id");
}

/// A small PNG with something in it.
fn png() -> Vec<u8> {
    let img = image::RgbImage::from_fn(96, 80, |x, y| {
        image::Rgb([(x * 4) as u8, (y * 5) as u8, 90])
    });
    let mut out = std::io::Cursor::new(Vec::new());
    image::DynamicImage::ImageRgb8(img)
        .write_to(&mut out, image::ImageFormat::Png)
        .expect("png");
    out.into_inner()
}

fn rule_body(v: &Village) -> Value {
    json!({"name": format!("hot {}", v.device), "severity": "major", "village": v.name,
        "target": {"device": v.device},
        "condition": {"type": "threshold", "conditions": [{"key": "t", "op": ">", "value": 0}]}})
}

/// The two villages, and village A's farmer, operator and buyer (role, username, token).
async fn seed(app: &TestApp) -> (World, Vec<(Role, String, String)>) {
    let (a, farmer, op, buyer) = seed_village(app, "Village A", "a").await;
    assert_eq!(a.patient, 1, "the FHIR search rows name village A's patient as 1");
    let seeders = vec![
        (Role::Farmer, "farmer-a".to_string(), farmer),
        (Role::StationOperator, "op-a".to_string(), op),
        (Role::Buyer, "buyer-a".to_string(), buyer),
    ];
    let (b, ..) = seed_village(app, "Village B", "b").await;
    // Alarms: one per village, raised by the readings above.
    let alarms = app
        .alarms_until("", std::time::Duration::from_secs(20), |l| l.len() >= 2)
        .await;
    let alarm_of = |v: &Village| {
        alarms
            .iter()
            .find(|x| x["rule_id"].as_i64() == Some(v.rule))
            .and_then(|x| x["id"].as_i64())
            .expect("alarm raised")
    };
    let (a, b) = (
        Village {
            alarm: alarm_of(&a),
            ..a
        },
        Village {
            alarm: alarm_of(&b),
            ..b
        },
    );
    // A county-level device: made by the admin on purpose, without a village.
    let mut county = Village {
        device: "county-dev".into(),
        rotate: "county-rot".into(),
        ..Village::default()
    };
    county.device_token = app.device(json!({"name": county.device})).await;
    app.device(json!({"name": county.rotate})).await;
    let cmd = ok(
        app,
        "/api/devices/county-dev/rpc",
        &app.admin_token.clone(),
        json!({"method": "m", "params": {}, "timeout_ms": 600000}),
    )
    .await;
    county.command = cmd["id"].as_i64().expect("command id");
    let boards = app.server.as_ref().unwrap().boards.clone();
    let board = boards
        .create(cunlink_board::NewBoard {
            name: "Board A".into(),
            assets: vec!["Asset a".into()],
            keys: vec!["t".into()],
            rotate_secs: 10,
            line_width: 20,
            line_count: 4,
        })
        .await
        .expect("board");
    let login = request(app.http, "GET", "/login", &[], Vec::new())
        .await
        .text();
    let world = World {
        a,
        b,
        county,
        board: board.slug,
        static_asset: find_url(&login, "/static/"),
        alert_asset: String::new(),
    };
    (world, seeders)
}

/// A call consult in each village: village A's by the doctor caller, village
/// B's by a doctor of B; both taken by a county doctor.
/// Village A's teacher caller becomes an account of village A's rural class, so
/// it joins that pairing's live class as a classroom (and no other).
async fn seed_live_classroom(app: &TestApp, world: &World) {
    let path = format!("/api/school/classes/{}/members", world.a.school_rural);
    let (status, body) = app.post_json(&path, &app.admin_token, json!({"username": "caller-teacher"})).await;
    assert_eq!(status, 200, "live classroom member: {body}");
}

async fn seed_call_consults(app: &TestApp, world: &mut World) {
    let auth = app.server.as_ref().unwrap().auth.clone();
    let id = |name: &'static str| {
        let auth = auth.clone();
        async move {
            match auth.login(name, PASSWORD, None).await {
                Ok(cunlink_core::auth::LoginOutcome::SignedIn(u, _)) => u.id,
                _ => panic!("{name} signs in"),
            }
        }
    };
    app.user("call-cdoc", Role::Doctor, None).await;
    app.user("call-vdoc-b", Role::Doctor, Some("Village B")).await;
    let vdoc_a = id("caller-doctor").await;
    let vdoc_b = id("call-vdoc-b").await;
    let cdoc = id("call-cdoc").await;
    world.a.call_consult =
        crate::call_fixture::consult(&auth, "Village A", vdoc_a, Some(cdoc), None).await;
    world.b.call_consult =
        crate::call_fixture::consult(&auth, "Village B", vdoc_b, Some(cdoc), None).await;
}

fn find_url(html: &str, prefix: &str) -> String {
    let start = html
        .find(prefix)
        .unwrap_or_else(|| panic!("no {prefix} in page"));
    let end = html[start..]
        .find(['"', '\'', ' ', '>'])
        .map(|e| start + e)
        .unwrap_or(html.len());
    html[start..end].to_string()
}

/// One caller per role. The village-A farmer, operator and buyer are the ones
/// who listed, handle and bought village A's objects (`seeders`: role → token).
async fn callers(app: &TestApp, seeders: &[(Role, String, String)]) -> Vec<Caller> {
    let mut out = Vec::new();
    for role in Role::ALL {
        let (username, password, token) = if role == Role::Admin {
            (
                "admin".to_string(),
                "admin-password",
                app.admin_token.clone(),
            )
        } else if let Some((_, name, token)) = seeders.iter().find(|(r, ..)| *r == role) {
            (name.clone(), PASSWORD, token.clone())
        } else {
            let name = format!("caller-{}", role.as_str().replace('_', "-"));
            let village = (!role.is_county_wide()).then_some("Village A");
            let token = app.user(&name, role, village).await;
            (name, PASSWORD, token)
        };
        let mut sessions = Vec::new();
        for _ in 0..2 {
            sessions.push(app.sign_in(&username, password).await);
        }
        let cookie = |t: &str| format!("{}={t}", cunlink_core::web::SESSION_COOKIE);
        out.push(Caller {
            role,
            username,
            token,
            cookie: cookie(&sessions[0].token),
            csrf: sessions[0].csrf.clone(),
            spare_cookie: cookie(&sessions[1].token),
            spare_csrf: sessions[1].csrf.clone(),
        });
    }
    out
}

// ---- filling paths and bodies ------------------------------------------------

/// A query some routes need to get past their parser to the access check.
fn query(path: &str) -> &'static str {
    match path {
        "/rules/keys" => "?kind=device&name=dev-a",
        // The device API's long poll: answer at once.
        "/api/v1/{token}/rpc" => "?timeout=1",
        // Village A's patient, the first the clinic registered (asserted in seed).
        "/fhir/r4/Encounter" | "/fhir/r4/Observation" | "/fhir/r4/Condition"
        | "/fhir/r4/MedicationRequest" | "/fhir/r4/MedicationDispense" => "?patient=1",
        _ => "",
    }
}

fn fill(path: &str, v: &Village, w: &World, fresh: Option<i64>) -> String {
    if path == "/static/{hash}/{*name}" {
        return w.static_asset.clone();
    }
    if path == "/alert/static/{hash}/alert.js" {
        return w.alert_asset.clone();
    }
    let mut out = String::new();
    let mut rest = path;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        let end = rest[start..]
            .find('}')
            .map(|e| start + e + 1)
            .unwrap_or(rest.len());
        let param = &rest[start + 1..end - 1];
        let before = &path[..path.len() - rest.len() + start];
        out.push_str(&value(path, before, param, v, w, fresh));
        rest = &rest[end..];
    }
    out.push_str(rest);
    out.push_str(query(path));
    out
}

fn value(
    path: &str,
    before: &str,
    param: &str,
    v: &Village,
    w: &World,
    fresh: Option<i64>,
) -> String {
    let is = |p: &str| before.starts_with(p);
    match param {
        // Rotating the main device's token would lock out the device API rows.
        "name" if path == "/api/devices/{name}/token" => enc(&v.rotate),
        "token" if path.contains("/gateway/") => v.gateway_token.clone(),
        "token" => v.device_token.clone(),
        "code" if is("/lang/") => "en".into(),
        "code" => v.trace.clone(),
        "slug" => w.board.clone(),
        "file" => v.photo.clone(),
        "name" if is("/farm/herd/") => enc(&v.tag),
        "name" if is("/api/profiles/") || is("/farm/profiles/") => "air-probe".into(),
        "name" => enc(&v.device),
        "id" if is("/api/v1/") || is("/api/devices/") => v.command.to_string(),
        "id" if is("/farm/assets/") => v.asset.to_string(),
        "id" if is("/api/rules/") || is("/rules/") => fresh.unwrap_or(v.rule).to_string(),
        "id" if is("/api/alarms/") || is("/alarms/") => v.alarm.to_string(),
        "id" if is("/api/market/products/") || is("/market/mine/") => v.product.to_string(),
        "id" if is("/api/market/variants/") => v.variant.to_string(),
        "id" if is("/api/market/orders/") || is("/market/station/orders/") => {
            fresh.unwrap_or(v.order).to_string()
        }
        "id" if is("/api/market/parcels/") || is("/market/station/parcels/") => fresh
            .map(|f| f.to_string())
            .unwrap_or_else(|| v.parcel.to_string()),
        "id" if is("/api/market/live/") => v.live.to_string(),
        "id" if is("/api/affairs/notices/") || is("/affairs/notices/") => v.notice.to_string(),
        "id" if is("/api/affairs/ledger/questions/") => v.question.to_string(),
        "id" if is("/api/affairs/ledger/") || is("/affairs/accounts/") => v.entry.to_string(),
        "id" if is("/api/affairs/feedback/") || is("/affairs/feedback/") => v.feedback.to_string(),
        "id" if is("/api/affairs/votes/") || is("/affairs/votes/") => v.vote.to_string(),
        "hash" if is("/school/static/") => "0".into(),
        "hash" => v.file.clone(),
        "month" => "2026-10".into(),
        "action" => "ack".into(),
        "id" if is("/api/clinic/patients/") || is("/clinic/patients/") || is("/fhir/r4/Patient/") => {
            v.patient.to_string()
        }
        "id" if path.ends_with("/call") || path.ends_with("/call/ws") => v.call_consult.to_string(),
        "id" if is("/api/clinic/consults/") || is("/clinic/consults/") => v.consult.to_string(),
        "id" if is("/api/clinic/prescriptions/") || is("/clinic/prescriptions/") => v.rx.to_string(),
        "id" if is("/api/clinic/photos/") => v.clinic_photo.to_string(),
        "id" if is("/fhir/r4/Practitioner/") => v.vdoc_id.to_string(),
        "id" if is("/api/school/channels/") || is("/school/channels/") => v.school_channel.to_string(),
        "id" if is("/api/school/courses/") || is("/school/courses/") => v.school_course.to_string(),
        "id" if is("/api/school/classes/") || is("/school/classes/") => v.school_class.to_string(),
        "id" if is("/api/school/pairings/") => v.school_pairing.to_string(),
        "item" => v.school_scorm.to_string(),
        "*path" => "index.html".into(),
        "sha256" | "sha" => v.school_sha.clone(),
        // Personal objects (subscriptions, webhooks, dead letters): an id nobody has.
        "id" => "999999".into(),
        "node_id" => "node-nobody".into(),
        "kind" if is("/api/sync/blob/") => "notice_files".into(),
        "kind" if is("/api/sync/up/blob/") => "feedback".into(),
        "key" if is("/api/sync/") => v.file.clone(),
        other => panic!("no fixture for {{{other}}} in {before}"),
    }
}

/// A body that passes validation for an allowed caller, so the answer shows the access decision.
fn body(
    method: &str,
    path: &str,
    v: &Village,
    c: Option<&Caller>,
    n: usize,
    code: Option<&str>,
) -> (Option<&'static str>, Vec<u8>) {
    let code = code.unwrap_or("0-0-0000");
    const JSON: Option<&str> = Some("application/json");
    const FORM: Option<&str> = Some("application/x-www-form-urlencoded");
    if method == "GET" || method == "DELETE" {
        return (None, Vec::new());
    }
    let j = |v: Value| (JSON, v.to_string().into_bytes());
    let csrf = c.map(|c| c.csrf.as_str()).unwrap_or("");
    let f = |s: String| (FORM, format!("csrf={csrf}&{s}").into_bytes());
    match path {
        "/api/login" | "/login" => {
            // Every caller signs in as itself; anonymous as the admin.
            let (user, password) = match c {
                Some(c) if c.role != Role::Admin => (c.username.as_str(), PASSWORD),
                _ => ("admin", "admin-password"),
            };
            if path == "/login" {
                // The sign-in form's double-submit token, as its cookie carries it.
                (
                    FORM,
                    format!("csrf={LOGIN_CSRF}&username={user}&password={password}").into_bytes(),
                )
            } else {
                j(json!({"username": user, "password": password}))
            }
        }
        "/api/logout" => (None, Vec::new()),
        "/logout" => (
            FORM,
            format!("csrf={}", c.map(|c| c.spare_csrf.as_str()).unwrap_or("")).into_bytes(),
        ),
        "/api/v1/{token}/telemetry" => j(json!({"t": 1})),
        "/api/v1/{token}/attributes" => j(json!({"fw": "1"})),
        "/api/v1/{token}/gateway/telemetry" | "/api/v1/{token}/gateway/attributes" => {
            j(json!({"child": {"t": 1}}))
        }
        "/api/v1/{token}/rpc/{id}" => j(json!({"ok": true})),
        "/api/integrations/chirpstack" => {
            j(json!({"deviceInfo": {"devEui": "0000000000000001"}, "object": {"t": 1}}))
        }
        "/api/devices" => j(
            json!({"name": format!("new-{n}"), "asset": format!("Asset {}", &v.device[4..]), "village": v.name}),
        ),
        "/api/devices/{name}/token" => (None, Vec::new()),
        "/api/profiles/{name}" => j(json!({"reporting_interval_s": 60})),
        "/api/devices/{name}/rpc" => j(json!({"method": "m", "params": {}, "timeout_ms": 600000})),
        "/api/rules" | "/api/rules/{id}" => j(rule_body(v)),
        "/api/alarms/{id}/ack" | "/api/alarms/{id}/clear" => (None, Vec::new()),
        "/api/alarms/{id}/assign" => j(json!({"user": "farmer-a"})),
        "/api/alarms/{id}/comments" => j(json!({"text": "seen"})),
        "/api/me/notifications" => j(json!({})),
        "/api/push/subscriptions" => j(
            json!({"endpoint": "https://push.example.com/x", "keys": {"p256dh": "x", "auth": "y"}}),
        ),
        "/api/webhooks" => j(json!({"url": "https://hooks.example.com/x"})),
        "/api/notifications/{id}/retry" | "/api/me/notifications/{id}/read" => (None, Vec::new()),
        "/api/affairs/notices" => j(json!({"title": "t", "body": "b", "category": "notice", "village": v.name})),
        "/api/affairs/notices/{id}/photos" | "/api/affairs/ledger/{id}/voucher" | "/api/affairs/feedback/{id}/photo" => {
            (Some("image/jpeg"), b"\xFF\xD8\xFF\xE0 a photo".to_vec())
        }
        "/api/affairs/notices/{id}/audio" => (Some("audio/wav"), b"RIFF\0\0\0\0WAVEfmt ".to_vec()),
        "/api/affairs/groups" => j(json!({"name": "g", "members": [], "village": v.name})),
        "/api/affairs/ledger" => j(json!({"date": "2026-10-06", "item": "i", "kind": "income", "amount_fen": 1, "category": "c", "village": v.name})),
        "/api/affairs/ledger/months/{month}/publish" => j(json!({"village": v.name})),
        "/api/affairs/ledger/{id}/questions" => j(json!({"text": "q"})),
        "/api/affairs/ledger/questions/{id}/answer" => j(json!({"answer": "a"})),
        "/api/affairs/feedback" => j(json!({"category": "road", "text": "x"})),
        "/api/affairs/feedback/{id}/assign" => j(json!({"user": "caller-village-official"})),
        "/api/affairs/feedback/{id}/resolve" => j(json!({"reply": "done"})),
        "/api/affairs/feedback/{id}/rate" => j(json!({"rating": 5})),
        "/api/affairs/votes" => j(json!({"question": "q", "options": ["a", "b"], "closes_at": cunlink_core::time::now_ms() + 86_400_000, "village": v.name})),
        "/api/affairs/votes/{id}/ballot" => j(json!({"option": 0})),
        "/api/affairs/notices/{id}/read" | "/api/affairs/ledger/{id}/approve" | "/api/affairs/feedback/{id}/ack" => j(json!({})),
        "/affairs" => f(format!("title=t&body=b&category=notice&village={}", v.name.replace(' ', "+"))),
        "/affairs/accounts" => f(format!("date=2026-10-06&item=i&kind=income&amount_yuan=1&category=c&village={}", v.name.replace(' ', "+"))),
        "/affairs/accounts/publish" => f(format!("month=2026-10&village={}", v.name.replace(' ', "+"))),
        "/affairs/accounts/{id}/ask" => f("text=q".into()),
        "/affairs/feedback" => f("category=road&text=x".into()),
        "/affairs/votes" => f(format!("question=q&options=a%0Ab&village={}", v.name.replace(' ', "+"))),
        "/affairs/votes/{id}/ballot" => f("option=0".into()),
        "/affairs/notices/{id}/read" | "/affairs/accounts/{id}/approve" | "/affairs/feedback/{id}/{action}" => f(String::new()),
        "/api/market/stations" => j(json!({"village": v.name, "name": format!("Station {n}")})),
        "/api/market/products" => {
            j(json!({"name": format!("Rice {n}"), "unit": "kg", "price_fen": 100, "stock": 10}))
        }
        "/api/market/products/{id}" => j(json!({"price_fen": 120})),
        "/api/market/variants/{id}/allocate" => j(json!({"village": v.name, "quantity": 1})),
        "/api/market/variants/{id}/release" => j(json!({"quantity": 1})),
        "/api/market/products/{id}/photos" => (Some("image/jpeg"), b"not a jpeg".to_vec()),
        "/api/market/orders" => j(
            json!({"items": [{"product_id": v.product, "quantity": 1}], "pickup_station_id": v.station}),
        ),
        "/api/market/orders/{id}/status" => j(json!({"status": "packed"})),
        "/api/market/orders/{id}/payment" => {
            j(json!({"state": "paid_at_station", "method": "cash"}))
        }
        "/api/market/orders/{id}/pickup" => j(json!({})),
        "/api/market/parcels" => j(
            json!({"to_station_id": v.station, "recipient_name": "Li", "tracking": format!("T{n}")}),
        ),
        "/api/market/parcels/{id}/scan" => j(json!({"status": "picked_up", "place": "hub"})),
        "/api/market/parcels/{id}/collect" => j(json!({"code": code})),
        "/api/market/prices" => j(
            json!({"commodity": "apple", "price_fen": 800, "unit": "kg", "station_id": v.station}),
        ),
        "/api/market/live" => j(
            json!({"title": format!("Live {n}"), "stream_url": "https://live.douyin.com/2",
            "items": [{"product_id": v.product, "session_price_fen": 90, "session_stock": 5}]}),
        ),
        "/api/market/live/{id}/orders" => {
            j(json!({"item_id": v.live_item, "quantity": 1, "pickup_station_id": v.station}))
        }
        "/api/market/live/{id}/end" => (None, Vec::new()),
        "/api/clinic/consults/{id}/call" => (None, Vec::new()),
        "/api/market/batches" => j(
            json!({"asset": format!("Asset {}", &v.device[4..]), "grown_from": 1, "harvested_at": 2, "product_id": v.product}),
        ),
        "/api/clinic/departments" => j(json!({"name": format!("科 {n}")})),
        "/api/clinic/doctors" => j(json!({"user": "cdoc-mx", "department": "内科"})),
        "/api/clinic/patients" => j(json!({"name": format!("P {n}"), "sex": "male", "birth_date": "1990-05-05", "village": v.name})),
        "/api/clinic/consults" => j(json!({"patient_id": v.patient, "department": "内科", "complaint": "咳嗽"})),
        "/api/clinic/consults/{id}/accept" | "/api/clinic/consults/{id}/close"
        | "/api/clinic/consults/{id}/cancel" | "/api/clinic/prescriptions/{id}/dispense" => (None, Vec::new()),
        "/api/clinic/consults/{id}/schedule" => j(json!({"slot_id": v.slot})),
        "/api/clinic/consults/{id}/notes" => j(json!({"diagnosis": "感冒", "icd10": "J00"})),
        "/api/clinic/consults/{id}/prescriptions" | "/api/clinic/prescriptions/{id}/revise" => j(json!({"items": [
            {"drug": "维生素C", "dose": "0.1 g", "route": "口服", "frequency": "每日三次", "days": 5, "quantity": 15}]})),
        "/api/clinic/consults/{id}/photos" => (Some("image/jpeg"), b"not a jpeg".to_vec()),
        "/api/clinic/slots" => j(json!({"starts_at": cunlink_core::time::now_ms() + 3_600_000 * (n as i64 + 2), "minutes": 15})),
        "/clinic/patients" => f(format!("name=P+{n}&sex=female&birth_date=1991-01-01&village=Village+A")),
        "/clinic/departments" => f(format!("name=Dept+{n}")),
        "/clinic/consults/new" => f(format!("patient_id={}&department=%E5%86%85%E7%A7%91&complaint=cough&vital_temperature=37.5", v.patient)),
        "/clinic/slots" => f("date=2099-01-01&time=09:00&minutes=20".into()),
        "/clinic/consults/{id}/action" => f("action=close".into()),
        "/clinic/consults/{id}/notes" => f("diagnosis=cold".into()),
        "/clinic/consults/{id}/prescriptions" => f("drug_0=VC&dose_0=0.1g&route_0=po&frequency_0=tid&days_0=3&quantity_0=9".into()),
        "/clinic/prescriptions/{id}/dispense" => f(String::new()),
        "/farm/devices" => f(format!(
            "name=page-{n}&profile=default&asset=Asset+{}",
            &v.device[4..]
        )),
        "/farm/profiles/{name}" => f("retention_days=&rollup_retention_days=".into()),
        "/alarms/{id}/ack" | "/alarms/{id}/clear" => f(String::new()),
        "/alarms/{id}/assign" => f("user=farmer-a".into()),
        "/alarms/{id}/comment" => f("text=seen".into()),
        "/rules/{id}/delete" => f(String::new()),
        "/me/notifications" => f(String::new()),
        "/me/webhooks" => f("url=https%3A%2F%2Fhooks.example.com%2Fy".into()),
        "/me/webhooks/{id}/delete" | "/me/dead/{id}/retry" => f(String::new()),
        "/market/order" => f(format!(
            "product_id={}&quantity=1&pickup_station_id={}",
            v.product, v.station
        )),
        "/market/mine" => f(format!("name=Beans+{n}&unit=kg&price_yuan=1.00&stock=5")),
        // Stays listed: later rows still order it.
        "/market/mine/{id}/listed" => f("listed=1".into()),
        "/market/station/orders/{id}/status" => f("status=packed".into()),
        "/market/station/orders/{id}/pickup" => f("method=cash".into()),
        "/market/station/orders/{id}/payment" => f("status=paid_at_station&method=cash".into()),
        "/market/station/parcels/{id}/scan" => f("status=picked_up".into()),
        "/market/station/parcels/{id}/collect" => f(format!("code={code}")),
        "/me/locale" => f("locale=en".into()),
        "/admin/users" => f(format!(
            "username=made-{n}&password=a-password&role=villager&village=Village+A"
        )),
        "/admin/villages" => f(format!("name=Village+{n}")),
        // Enabling an account that is enabled changes nothing later rows rely on.
        "/admin/users/action" => f("username=caller-villager&action=enable".into()),
        "/api/school/channels" => j(json!({"name": format!("Lessons {n}")})),
        // No ?name=: an allowed caller gets 400 after the access check.
        "/api/school/channels/{id}/files" => (Some("application/octet-stream"), b"lesson".to_vec()),
        "/api/school/channels/{id}/publish" => j(json!({})),
        "/api/school/courses" => j(json!({"title": format!("Course {n}"), "audience": "villagers"})),
        "/api/school/courses/{id}/items" => j(json!({"kind": "lesson", "title": format!("Lesson {n}")})),
        // Not a zip: an allowed caller gets 400 after the access check.
        "/api/school/courses/{id}/scorm" => (Some("application/zip"), b"not a zip".to_vec()),
        // Not a caller: enrolling one would change what later rows expect of them.
        "/api/school/courses/{id}/enrolments" => j(json!({"username": "teacher-seed-a"})),
        // An item of no course: an allowed caller gets 400 after the access check.
        "/api/school/courses/{id}/answers" => j(json!({"item_id": 999999, "answers": []})),
        "/api/school/courses/{id}/completions" => j(json!({"item_id": 999999})),
        "/api/school/classes" => j(json!({"name": format!("Class {n}"), "school": "S"})),
        "/api/school/classes/{id}/members" => j(json!({"username": "teacher-seed-a"})),
        "/api/school/scorm/{item}/calls" => j(json!({"calls": []})),
        "/api/school/statements" => j(json!({"statements": []})),
        "/api/school/subscriptions" => j(json!({"channel_id": v.school_channel})),
        "/api/school/pairings" => j(json!({"name": format!("Pair {n}"), "city_class_id": v.school_class, "rural_class_ids": [999999]})),
        "/api/school/classes/{id}/live" => j(json!({"sdp": "v=0\r\n"})),
        "/api/school/pairings/{id}/timetable" => j(json!({"weekday": 3, "start": "10:00", "subject": "语文"})),
        "/school/courses/{id}/answers" => f("item_id=999999".into()),
        // An empty village: an allowed caller gets 400 naming the field after
        // the access check, and no node is made.
        "/api/nodes" => j(json!({"village": ""})),
        "/api/nodes/{node_id}/revoke" | "/api/node/sync" => j(json!({})),
        "/api/sync/up" => (Some("application/x-cunlink-batch"), b"x".to_vec()),
        "/api/sync/down" => j(json!({"have": {}})),
        "/api/sync/blob/{kind}/{key}" => (None, Vec::new()),
        "/api/sync/up/blob/{kind}/{key}" => (Some("application/octet-stream"), b"x".to_vec()),
        other => panic!("no body declared for {method} {other}"),
    }
}

// ---- the walk --------------------------------------------------------------------

/// Methods the server takes on `path` (without HEAD), from the `Allow` of a 405.
async fn served_methods(app: &TestApp, path: &str) -> BTreeSet<String> {
    let r = request(app.http, "PROPFIND", path, &[], Vec::new()).await;
    assert_eq!(
        r.status,
        405,
        "PROPFIND {path} should be refused: {}",
        r.text()
    );
    r.headers
        .get("allow")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .split(',')
        .map(|m| m.trim().to_string())
        .filter(|m| !m.is_empty() && m != "HEAD")
        .collect()
}

#[tokio::test]
async fn every_route_answers_every_role_as_declared() {
    let app = spawn_app().await;
    let (mut world, seeders) = seed(&app).await;
    let callers = callers(&app, &seeders).await;
    seed_call_consults(&app, &mut world).await;
    seed_live_classroom(&app, &world).await;
    let admin = &callers[0];
    // The alert script's hashed URL is only known from a page that loads it.
    let page = request(
        app.http,
        "GET",
        "/rules/new",
        &[("cookie", admin.cookie.as_str())],
        Vec::new(),
    )
    .await
    .text();
    world.alert_asset = find_url(&page, "/alert/static/");

    let table = table();
    let mut problems: Vec<String> = Vec::new();

    // 1. The table and the server agree on every (method, path).
    let served_paths: BTreeSet<String> = app
        .server
        .as_ref()
        .unwrap()
        .route_paths
        .iter()
        .cloned()
        .collect();
    let mut served: BTreeSet<(String, String)> = BTreeSet::new();
    for p in &served_paths {
        let probe = fill(p, &world.a, &world, None);
        for m in served_methods(&app, &probe).await {
            served.insert((m, p.clone()));
        }
    }
    let declared: BTreeSet<(String, String)> = table
        .iter()
        .map(|r| (r.method.to_string(), r.path.to_string()))
        .collect();
    for (m, p) in served.difference(&declared) {
        problems.push(format!(
            "| {m} {p} | - | - | route has no row in the access table |"
        ));
    }
    for (m, p) in declared.difference(&served) {
        problems.push(format!("| {m} {p} | - | - | declared but not served |"));
    }

    // 2. Every row × caller × scope.
    let mut n = 0usize;
    let login_cookie = format!("{}={LOGIN_CSRF}", cunlink_web::routes::LOGIN_CSRF_COOKIE);
    let mut mismatches: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
    let mut checked = 0usize;
    for row in table
        .iter()
        .filter(|r| served.contains(&(r.method.to_string(), r.path.to_string())))
    {
        let device_route = row.path.starts_with("/api/devices/{name}")
            || row.path.starts_with("/farm/devices/{name}");
        let scopes: &[Scope] = if device_route {
            &[Scope::Own, Scope::Other, Scope::County]
        } else if scoped(row) {
            &[Scope::Own, Scope::Other]
        } else {
            &[Scope::Own]
        };
        // The device token in the path is the only credential: one anonymous call says it all.
        let who: Vec<Option<&Caller>> = if matches!(row.rule, Rule::DeviceToken) {
            vec![None]
        } else {
            std::iter::once(None)
                .chain(callers.iter().map(Some))
                .collect()
        };
        for &scope in scopes {
            let v = match scope {
                Scope::Own => &world.a,
                Scope::Other => &world.b,
                Scope::County => &world.county,
            };
            for c in &who {
                n += 1;
                // Deleting needs a rule of its own per request, or later requests would find none.
                // Rows that delete a rule or move an order get one of their own per
                // request, or later requests would find it gone or already moved.
                let mut code = None;
                let fresh = match row.path {
                    "/api/rules/{id}" if row.method == "DELETE" => Some(fresh_rule(&app, v).await),
                    "/rules/{id}/delete" => Some(fresh_rule(&app, v).await),
                    "/api/market/orders/{id}/status"
                    | "/market/station/orders/{id}/status"
                    | "/api/market/orders/{id}/payment"
                    | "/market/station/orders/{id}/payment" => Some(fresh_order(&app, v).await),
                    "/api/market/parcels/{id}/scan" | "/market/station/parcels/{id}/scan" => {
                        Some(fresh_parcel(&app, v, false).await.0)
                    }
                    "/api/market/parcels/{id}/collect" | "/market/station/parcels/{id}/collect" => {
                        let (id, c) = fresh_parcel(&app, v, true).await;
                        code = Some(c);
                        Some(id)
                    }
                    _ => None,
                };
                let uri = fill(row.path, v, &world, fresh);
                let (ctype, b) = body(row.method, row.path, v, *c, n, code.as_deref());
                let bearer;
                let mut headers: Vec<(&str, &str)> = Vec::new();
                if c.is_none() && row.path == "/login" {
                    headers.push(("cookie", &login_cookie));
                }
                if let Some(c) = c {
                    bearer = format!("Bearer {}", c.token);
                    headers.push(("authorization", &bearer));
                    match row.path {
                        // Signing out ends a session: never the one every later row needs.
                        "/api/logout" => {}
                        "/logout" => headers.push(("cookie", &c.spare_cookie)),
                        "/login" => headers.push(("cookie", &login_cookie)),
                        _ => {
                            headers.push(("cookie", &c.cookie));
                            headers.push(("x-csrf-token", &c.csrf));
                        }
                    }
                }
                if let Some(t) = ctype {
                    headers.push(("content-type", t));
                }
                let r = request_head(&app, row.method, &uri, &headers, b).await;
                let location =
                    r.0.get("location")
                        .and_then(|l| l.to_str().ok())
                        .map(str::to_string);
                let got = classify(r.1, location.as_deref());
                let want = expected(row, c.map(|c| c.role), scope);
                checked += 1;
                if !meets(got, want) {
                    mismatches
                        .entry((row.method.to_string(), row.path.to_string()))
                        .or_default()
                        .push(format!(
                            "| {} {} | {} | {:?} | want {:?}, got {}{} {} |",
                            row.method,
                            row.path,
                            c.map(|c| c.role.as_str()).unwrap_or("anonymous"),
                            scope,
                            want,
                            r.1,
                            location.map(|l| format!(" → {l}")).unwrap_or_default(),
                            r.2.chars()
                                .take(80)
                                .collect::<String>()
                                .replace(['\n', '|'], " "),
                        ));
                }
            }
        }
    }
    for rows in mismatches.into_values() {
        problems.extend(rows);
    }
    let mut report = String::new();
    let _ = writeln!(
        report,
        "{} of {checked} answers (over {} routes) differ from the access table:\n| route | caller | scope | problem |\n|---|---|---|---|",
        problems.len(),
        table.len()
    );
    for p in &problems {
        let _ = writeln!(report, "{p}");
    }
    assert!(problems.is_empty(), "{report}");
}

async fn fresh_rule(app: &TestApp, v: &Village) -> i64 {
    let r = ok(app, "/api/rules", &app.admin_token.clone(), rule_body(v)).await;
    r["id"].as_i64().expect("rule id")
}

/// A new order of the village's buyer, still `placed`.
async fn fresh_order(app: &TestApp, v: &Village) -> i64 {
    let body = json!({"items": [{"product_id": v.product, "quantity": 1}], "pickup_station_id": v.station});
    let r = ok(app, "/api/market/orders", &v.buyer_token, body).await;
    r["id"].as_i64().expect("order id")
}

/// A new parcel of a fresh order (shipped by the village's operator), `created`
/// or, with `at_station`, waiting at the station; and its pickup code.
async fn fresh_parcel(app: &TestApp, v: &Village, at_station: bool) -> (i64, String) {
    let order = fresh_order(app, v).await;
    let path = format!("/api/market/orders/{order}/status");
    ok(app, &path, &v.op_token, json!({"status": "packed"})).await;
    let shipped = ok(app, &path, &v.op_token, json!({"status": "shipped"})).await;
    let parcel = shipped["parcel_id"].as_i64().expect("parcel id");
    if !at_station {
        return (parcel, String::new());
    }
    let scan = format!("/api/market/parcels/{parcel}/scan");
    ok(
        app,
        &scan,
        &v.op_token,
        json!({"status": "at_village_station"}),
    )
    .await;
    let seen = app
        .get(&format!("/api/market/parcels/{parcel}"), &v.buyer_token)
        .await
        .json();
    let code = seen["pickup_code"]
        .as_str()
        .expect("pickup code")
        .to_string();
    (parcel, code)
}

/// A request whose body is read only briefly: event streams never end.
async fn request_head(
    app: &TestApp,
    method: &str,
    uri: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> (hyper::HeaderMap, u16, String) {
    use bytes::Bytes;
    use http_body_util::{BodyExt, Full};
    use hyper_util::rt::TokioIo;
    let stream = tokio::net::TcpStream::connect(app.http)
        .await
        .expect("connect");
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .expect("handshake");
    tokio::spawn(conn);
    let mut req = hyper::Request::builder()
        .method(method)
        .uri(uri)
        .header("host", app.http.to_string());
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = sender
        .send_request(req.body(Full::new(Bytes::from(body))).expect("request"))
        .await
        .expect("send");
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let is_stream = headers
        .get("content-type")
        .is_some_and(|v| v.as_bytes().starts_with(b"text/event-stream"));
    let text = if is_stream {
        String::new()
    } else {
        match tokio::time::timeout(
            std::time::Duration::from_secs(5),
            resp.into_body().collect(),
        )
        .await
        {
            Ok(Ok(b)) => String::from_utf8_lossy(&b.to_bytes()).into_owned(),
            _ => String::new(),
        }
    };
    (headers, status, text)
}
