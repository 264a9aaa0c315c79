//! Hostile numbers in farm queries: overflowing, negative, huge. Each is a 400
//! naming the field, answered at once (before any data is read), and a raw query
//! with a small limit over a large stored range reads only what it answers.

use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::common::{request, spawn_app};

const T0: i64 = 1_790_000_000_000;

#[tokio::test]
async fn overflowing_and_out_of_range_parameters_are_a_quick_400_naming_the_field() {
    let app = spawn_app().await;
    let token = app.device(json!({ "name": "d" })).await;
    let body: Vec<_> = (0..100)
        .map(|i| json!({ "ts": T0 + i * 1000, "values": { "t": i } }))
        .collect();
    let r = app.telemetry(&token, json!(body).to_string()).await;
    assert_eq!(r.status, 200);
    let cases = [
        // The request of issue 9: `end - start` wrapped and `aggregate` never ended.
        (
            "start=-9223372036854775808&interval=9223372036854775807&agg=count",
            "start",
        ),
        (
            "start=0&end=9223372036854775807&interval=1&agg=count",
            "end",
        ),
        (
            "start=-9223372036854775808&end=9223372036854775807",
            "start",
        ),
        ("start=0&end=99999999999999999999", "end"),
        ("limit=-1", "limit"),
        ("limit=-9223372036854775808", "limit"),
        ("limit=0", "limit"),
        ("limit=18446744073709551616", "limit"),
        ("start=0&end=1800000000000&interval=0&agg=avg", "interval"),
        (
            "start=0&end=1800000000000&interval=-60000&agg=avg",
            "interval",
        ),
        ("start=0&end=1800000000000&interval=1&agg=count", "interval"),
        (
            "start=0&end=1800000000000&interval=9223372036854775807&agg=sum",
            "interval",
        ),
        ("keys=t&keys=u", "keys"),
    ];
    for (q, field) in cases {
        let started = Instant::now();
        let r = app
            .get(&format!("/api/devices/d/telemetry?{q}"), &app.admin_token)
            .await;
        let took = started.elapsed();
        let j = r.json();
        assert_eq!(
            (r.status, j["field"].as_str()),
            (400, Some(field)),
            "{q}: {}",
            r.text()
        );
        assert!(j["error"].is_string() && j["message"].is_string(), "{j}");
        assert!(took < Duration::from_millis(100), "{q} took {took:?}");
    }
    // Many keys × a large limit would be one huge answer.
    let keys: Vec<String> = (0..11).map(|i| format!("k{i}")).collect();
    let r = app
        .get(
            &format!(
                "/api/devices/d/telemetry?keys={}&limit=100000",
                keys.join(",")
            ),
            &app.admin_token,
        )
        .await;
    assert_eq!(
        (r.status, r.json()["field"].as_str()),
        (400, Some("limit")),
        "{}",
        r.text()
    );
    // Device commands: a timeout that does not fit (or is negative) is refused naming its field.
    let auth = format!("Bearer {}", app.admin_token);
    for timeout in ["18446744073709551616", "-1", "1.5"] {
        let r = request(
            app.http,
            "POST",
            "/api/devices/d/rpc",
            &[
                ("authorization", &auth),
                ("content-type", "application/json"),
            ],
            format!(r#"{{"method":"m","timeout_ms":{timeout}}}"#).into_bytes(),
        )
        .await;
        assert_eq!(
            (r.status, r.json()["field"].as_str()),
            (400, Some("timeout_ms")),
            "{timeout}: {}",
            r.text()
        );
    }
    // A device's long poll: a negative wait is refused, not turned into a huge one.
    let r = request(
        app.http,
        "GET",
        &format!("/api/v1/{token}/rpc?timeout=-1"),
        &[],
        vec![],
    )
    .await;
    assert_eq!(
        (r.status, r.json()["field"].as_str()),
        (400, Some("timeout")),
        "{}",
        r.text()
    );
    // The server still answers normally afterwards.
    let all = app
        .query(&format!(
            "/api/devices/d/telemetry?keys=t&start={T0}&end={}&interval=10000&agg=count",
            T0 + 100_000
        ))
        .await;
    assert_eq!(all["t"].as_array().unwrap().len(), 10);
}

#[tokio::test]
async fn a_small_limit_over_a_large_stored_range_returns_the_newest_points() {
    // Checkpoint on every commit, so most points are sealed into chunks.
    let app = crate::common::spawn_app_with(|c| c.ingest.checkpoint_secs = 0).await;
    let token = app.device(json!({ "name": "big" })).await;
    let url = format!("/api/v1/{token}/telemetry");
    let n: i64 = 6_000;
    for batch in 0..(n / 500) {
        // Written newest batch first, so chunk order and time order disagree.
        let b = n / 500 - 1 - batch;
        let body: Vec<_> = (0..500)
            .map(|i| {
                let k = b * 500 + i;
                json!({ "ts": T0 + k * 1000, "values": { "v": k } })
            })
            .collect();
        assert_eq!(app.post(&url, json!(body).to_string()).await.status, 200);
    }
    // A rewrite of one of the newest timestamps wins over its first value.
    let r = app
        .post(
            &url,
            json!({ "ts": T0 + (n - 2) * 1000, "values": { "v": -7 } }).to_string(),
        )
        .await;
    assert_eq!(r.status, 200);
    let q = |limit: i64| {
        format!(
            "/api/devices/big/telemetry?keys=v&start=0&end={}&limit={limit}",
            T0 + n * 1000
        )
    };
    let stats = &app.server.as_ref().unwrap().farm.telemetry.store().stats;
    let sealed = stats.chunks_sealed.load(Relaxed);
    assert!(sealed >= 10, "the points are in chunks ({sealed})");
    let read_before = stats.chunks_read.load(Relaxed);
    let got = app.query(&q(3)).await;
    let read = stats.chunks_read.load(Relaxed) - read_before;
    // Before, every chunk of the range was decoded and then all but 3 points dropped.
    assert!(read <= 2, "{read} of {sealed} chunks decoded for 3 points");
    assert_eq!(
        got["v"],
        json!([
            { "ts": T0 + (n - 3) * 1000, "value": n - 3 },
            { "ts": T0 + (n - 2) * 1000, "value": -7 },
            { "ts": T0 + (n - 1) * 1000, "value": n - 1 },
        ])
    );
    // The same answer as the tail of a full read, for a limit across many chunks.
    let full = app.query(&q(100_000)).await;
    let full = full["v"].as_array().unwrap();
    assert_eq!(full.len() as i64, n);
    let part = app.query(&q(1_234)).await;
    assert_eq!(
        part["v"].as_array().unwrap()[..],
        full[full.len() - 1_234..]
    );
    // Aggregates stream over the same data.
    let sum = app
        .query(&format!(
            "/api/devices/big/telemetry?keys=v&start={T0}&end={}&interval={}&agg=count",
            T0 + n * 1000,
            n * 1000
        ))
        .await;
    assert_eq!(sum["v"], json!([{ "ts": T0, "value": n }]));
}

#[tokio::test]
async fn chunks_that_overlap_in_time_read_back_in_order() {
    let app = crate::common::spawn_app_with(|c| c.ingest.checkpoint_secs = 0).await;
    let token = app.device(json!({ "name": "mix" })).await;
    let url = format!("/api/v1/{token}/telemetry");
    // Three chunks whose time spans interleave: even seconds, odd seconds, every third.
    let mut expected = std::collections::BTreeMap::new();
    for (step, offset, tag) in [(2, 0, 1), (2, 1, 2), (3, 0, 3)] {
        let body: Vec<_> = (0..600)
            .map(|i| {
                let ts = T0 + (i * step + offset) * 1000;
                expected.insert(ts, tag);
                json!({ "ts": ts, "values": { "v": tag } })
            })
            .collect();
        assert_eq!(app.post(&url, json!(body).to_string()).await.status, 200);
    }
    let end = T0 + 2_000_000;
    let full = app
        .query(&format!(
            "/api/devices/mix/telemetry?keys=v&start={T0}&end={end}&limit=100000"
        ))
        .await;
    let got: Vec<(i64, i64)> = full["v"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["ts"].as_i64().unwrap(), p["value"].as_i64().unwrap()))
        .collect();
    // One point per timestamp, ascending, the last written value winning.
    let want: Vec<(i64, i64)> = expected.into_iter().collect();
    assert_eq!(got, want);
    let tail = app
        .query(&format!(
            "/api/devices/mix/telemetry?keys=v&start={T0}&end={end}&limit=50"
        ))
        .await;
    let tail: Vec<(i64, i64)> = tail["v"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["ts"].as_i64().unwrap(), p["value"].as_i64().unwrap()))
        .collect();
    assert_eq!(tail[..], want[want.len() - 50..]);
    let count = app
        .query(&format!(
            "/api/devices/mix/telemetry?keys=v&start={T0}&end={end}&interval=3000000&agg=count"
        ))
        .await;
    assert_eq!(count["v"][0]["value"], want.len());
}
