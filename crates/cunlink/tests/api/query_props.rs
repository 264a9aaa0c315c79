//! Hostile query strings against the real server (property test, a few hundred
//! seeded cases inside `cargo test`; `fuzz/` has the long-running version): every
//! route that parses a query answers, within two seconds, with no 5xx and no
//! dropped connection (a panic in a handler drops it). Overflowing numbers,
//! negative limits and huge ranges must come back as 4xx naming the field.

use std::time::Duration;

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use serde_json::json;

use crate::common::{enc, spawn_app};

/// Routes that read a query and the parameters each reads (pages get the session
/// cookie, APIs the admin token); `#` marks a number.
const ROUTES: &[(&str, &[&str])] = &[
    (
        "/api/devices/probe/telemetry",
        &[
            "#start",
            "#end",
            "#interval",
            "agg",
            "#limit",
            "keys",
            "format",
        ],
    ),
    ("/api/devices/probe/latest", &["format"]),
    (
        "/api/alarms",
        &[
            "status", "device", "severity", "asset", "village", "#since", "#until", "#limit",
        ],
    ),
    ("/api/market/products", &["#village_id"]),
    ("/api/market/prices", &["q", "market", "#limit"]),
    (
        "/api/market/prices/trend",
        &["commodity", "market", "#days"],
    ),
    ("/api/market/parcels/reminders", &["#days"]),
    ("/farm/devices", &["#page"]),
    ("/farm/herd/probe", &["#start", "#end", "range"]),
    ("/alarms", &["status", "severity", "asset"]),
    ("/market", &["q", "ok", "err"]),
    ("/prices", &["q", "c", "#days"]),
];

/// Numbers: mostly the ones that have broken servers before (the ends of the
/// integer types, negative, zero), sometimes anything.
fn number() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => Just(i64::MIN.to_string()),
        3 => Just(i64::MAX.to_string()),
        1 => Just(u64::MAX.to_string()),
        2 => Just("-1".to_string()),
        2 => Just("0".to_string()),
        2 => Just("1".to_string()),
        2 => any::<i64>().prop_map(|n| n.to_string()),
        1 => Just("1e308".to_string()),
        1 => "[ -~]{0,8}".prop_map(|s| enc(&s)),
    ]
}

/// Words: the values routes know, or anything printable.
fn word() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("count".to_string()),
        Just("avg".to_string()),
        Just("csv".to_string()),
        Just("t".to_string()),
        Just("open".to_string()),
        Just("major".to_string()),
        "[ -~]{0,12}".prop_map(|s| enc(&s)),
    ]
}

/// A route and a query: each parameter the route reads is present half the
/// time, in the route's order; sometimes an unknown one rides along.
fn query() -> impl Strategy<Value = (usize, String)> {
    (0..ROUTES.len())
        .prop_flat_map(|route| {
            let values: Vec<_> = ROUTES[route]
                .1
                .iter()
                .map(|n| {
                    let v = if n.starts_with('#') {
                        number().boxed()
                    } else {
                        word().boxed()
                    };
                    proptest::option::of(v)
                })
                .collect();
            (Just(route), values, proptest::option::weighted(0.1, word()))
        })
        .prop_map(|(route, values, extra)| {
            let mut q: Vec<String> = ROUTES[route]
                .1
                .iter()
                .zip(values)
                .filter_map(|(n, v)| v.map(|v| format!("{}={v}", n.trim_start_matches('#'))))
                .collect();
            if let Some(v) = extra {
                q.push(format!("unknown={v}"));
            }
            (route, q.join("&"))
        })
}

#[tokio::test]
async fn hostile_query_strings_get_an_answer_below_500() {
    let app = spawn_app().await;
    let token = app
        .device(
            json!({"name": "probe", "type": "ear-tag", "asset": "Field", "village": "Village A"}),
        )
        .await;
    let r = app
        .telemetry(
            &token,
            r#"[{"ts":1700000000000,"values":{"t":1}},{"ts":1700000060000,"values":{"t":2}}]"#,
        )
        .await;
    assert_eq!(r.status, 200);
    let session = app.sign_in("admin", "admin-password").await;
    let cookie = format!("{}={}", cunlink_core::web::SESSION_COOKIE, session.token);
    let bearer = format!("Bearer {}", app.admin_token);

    // Generate the cases first (the runner is synchronous), then send them.
    let mut runner = TestRunner::new_with_rng(
        Config {
            cases: 600,
            failure_persistence: None,
            ..Config::default()
        },
        TestRng::deterministic_rng(RngAlgorithm::ChaCha),
    );
    let strategy = query();
    let mut cases = Vec::new();
    for _ in 0..600 {
        cases.push(strategy.new_tree(&mut runner).unwrap().current());
    }
    let mut failures = Vec::new();
    for (route, q) in cases {
        let uri = format!("{}?{q}", ROUTES[route].0);
        let (addr, target, b, c) = (app.http, uri.clone(), bearer.clone(), cookie.clone());
        let answer = tokio::time::timeout(
            Duration::from_secs(2),
            tokio::spawn(async move {
                let headers = [("authorization", b.as_str()), ("cookie", c.as_str())];
                crate::common::request(addr, "GET", &target, &headers, Vec::new()).await
            }),
        )
        .await;
        match answer {
            Err(_) => failures.push(format!("{uri}: no answer within 2 s")),
            Ok(Err(_)) => failures.push(format!("{uri}: connection dropped (handler panicked?)")),
            Ok(Ok(r)) if r.status >= 500 => {
                failures.push(format!("{uri}: {} {}", r.status, r.text()))
            }
            Ok(Ok(_)) => {}
        }
    }
    assert!(
        failures.is_empty(),
        "{} of 600 hostile queries failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
