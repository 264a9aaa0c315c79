//! Early warning end to end: readings in over the device API, alarms out of
//! `/api/alarms`, judged on event time, across restarts.

use std::time::Duration;

use serde_json::json;

use crate::common::{RawMqtt, TestApp, enc, spawn_app};
use crate::settled::alerts_settled;
use cunlink_core::time::now_ms;

pub(crate) const MIN: i64 = 60_000;
pub(crate) const DAY: i64 = 24 * 60 * MIN;

async fn gateway_post(app: &TestApp, token: &str, body: serde_json::Value) {
    let r = app.gateway_telemetry(token, body.to_string()).await;
    assert_eq!(r.status, 200, "{}", r.text());
}

async fn telemetry(app: &TestApp, token: &str, body: serde_json::Value) {
    let r = app.telemetry(token, body.to_string()).await;
    assert_eq!(r.status, 200, "{}", r.text());
}

/// Small deterministic noise in [-0.1, 0.1].
pub(crate) fn noise(i: i64, j: i64) -> f64 {
    let x = (i * 7919 + j * 104_729) % 2001;
    (x as f64 - 1000.0) / 10_000.0
}

/// Ear-tag skin temperature of a healthy sow: her own level plus the day's cycle.
pub(crate) fn healthy(sow: i64, ts: i64) -> f64 {
    let tod = (ts.rem_euclid(DAY)) as f64 / DAY as f64;
    36.4 + (sow % 5) as f64 * 0.12
        + 0.9 * (2.0 * std::f64::consts::PI * tod).sin()
        + noise(sow, ts / MIN)
}

/// Gateway bodies of ear-tag temperatures every 10 minutes from `start` to
/// `now` for the sows `names` (numbered from 1), `temp(sow, ts)` each, in
/// 6-hour batches as a gateway that was offline would send them.
pub(crate) fn herd_batches(
    names: &[String],
    start: i64,
    now: i64,
    temp: impl Fn(i64, i64) -> f64,
) -> Vec<serde_json::Value> {
    let step = 10 * MIN;
    let mut out = Vec::new();
    let mut t = start;
    while t <= now {
        let mut body = serde_json::Map::new();
        for (i, n) in names.iter().enumerate() {
            let sow = i as i64 + 1;
            let mut points = Vec::new();
            let mut u = t;
            while u < t + 6 * 60 * MIN && u <= now {
                let v = temp(sow, u);
                points.push(
                    json!({ "ts": u, "values": { "temperature": (v * 100.0).round() / 100.0 } }),
                );
                u += step;
            }
            body.insert(n.clone(), json!(points));
        }
        out.push(serde_json::Value::Object(body));
        t += 6 * 60 * MIN;
    }
    out
}

#[tokio::test]
async fn one_sow_with_fever_raises_exactly_one_alarm() {
    let app = spawn_app().await;
    let gw = app
        .device(json!({ "name": "一号猪舍网关", "gateway": true, "asset": "一号猪舍", "asset_kind": "barn" }))
        .await;
    let names: Vec<String> = (1..=40).map(|i| format!("母猪 {i:02}")).collect();
    // Ear tags announce themselves through the gateway (MQTT `v1/gateway/connect`).
    let (mut mqtt, _) = RawMqtt::connect(app.mqtt, false, &gw).await;
    for (i, n) in names.iter().enumerate() {
        let pkid = i as u16 + 1;
        mqtt.publish(
            false,
            "v1/gateway/connect",
            json!({ "device": n, "type": "ear-tag" })
                .to_string()
                .as_bytes(),
            1,
            pkid,
        )
        .await;
        assert_eq!(
            mqtt.read_packet().await.unwrap(),
            vec![0x40, 2, 0, pkid as u8]
        );
    }
    let step = 10 * MIN;
    let now = now_ms() / step * step;
    let start = now - 4 * DAY;
    let fever_from = now - 3 * 60 * MIN;
    let fever_sow = 7;
    let spike_at = now - 5 * 60 * MIN;
    let spike_sow = 12;
    // History in 6-hour batches, as a gateway that was offline would send it.
    for body in herd_batches(&names, start, now, |sow, u| {
        let mut v = healthy(sow, u);
        if sow == fever_sow && u >= fever_from {
            v += 1.8;
        }
        if sow == spike_sow && u == spike_at {
            v += 2.5;
        }
        v
    }) {
        gateway_post(&app, &gw, body).await;
    }
    // Everything sent is evaluated and its alarms stored: what is listed now is all there will be.
    alerts_settled(&app).await;
    let alarms = app.alarms("status=all").await;
    assert_eq!(alarms.len(), 1, "exactly one alarm: {alarms:#?}");
    let a = &alarms[0];
    assert_eq!(a["device"], format!("母猪 {fever_sow:02}"));
    assert_eq!(a["status"], "active");
    assert_eq!(a["severity"], "critical");
    for k in [
        "id",
        "device",
        "rule",
        "severity",
        "status",
        "started_at",
        "updated_at",
    ] {
        assert!(a.get(k).is_some(), "alarm has '{k}'");
    }
    // Raised within the duration (30 min by default) plus one reading interval.
    let started = a["started_at"].as_i64().unwrap();
    assert!(
        started >= fever_from + 30 * MIN,
        "not before the duration: {a}"
    );
    assert!(
        started <= fever_from + 30 * MIN + step,
        "within duration + one interval: {a}"
    );
    assert!(a["details"]["baseline"].as_f64().is_some(), "{a}");
}

async fn soil_probe(app: &TestApp, name: &str) -> String {
    app.device(json!({ "name": name, "type": "soil-probe", "asset": "东茶园", "asset_kind": "field", "village": "茶香村" }))
        .await
}

#[tokio::test]
async fn a_duration_window_survives_a_restart_and_fires_once() {
    let mut app = spawn_app().await;
    let token = soil_probe(&app, "土壤-东").await;
    let admin = app.admin_token.clone();
    let (status, rule) = app
        .create_rule(&admin,
            json!({
                "name": "土壤干旱",
                "severity": "major",
                "target": { "device": "土壤-东" },
                "condition": { "type": "threshold", "conditions": [{ "key": "soil_moisture", "op": "<", "value": 20 }], "for_s": 1800 }
            }),
        )
        .await;
    assert_eq!(status, 201, "{rule}");
    let t0 = now_ms() - 35 * MIN;
    for k in 0..3 {
        telemetry(
            &app,
            &token,
            json!({ "ts": t0 + k * 10 * MIN, "values": { "soil_moisture": 15 } }),
        )
        .await;
    }
    // 20 minutes into a 30-minute window: nothing yet.
    alerts_settled(&app).await;
    assert!(app.alarms("status=all").await.is_empty());

    app.restart().await;
    telemetry(
        &app,
        &app_token(&app, &token),
        json!({ "ts": t0 + 30 * MIN, "values": { "soil_moisture": 14 } }),
    )
    .await;
    let alarms = app
        .alarms_until(
            "status=active&device=%E5%9C%9F%E5%A3%A4-%E4%B8%9C",
            Duration::from_secs(5),
            |a| !a.is_empty(),
        )
        .await;
    assert_eq!(alarms.len(), 1, "{alarms:?}");
    assert_eq!(alarms[0]["started_at"].as_i64(), Some(t0 + 30 * MIN));
    assert_eq!(
        alarms[0]["condition_since"].as_i64(),
        Some(t0),
        "the window began before the restart"
    );

    // Restart again: the history replays, the episode is known, no second alarm.
    app.restart().await;
    alerts_settled(&app).await;
    assert_eq!(app.alarms("status=all").await.len(), 1);

    // Moisture back: the alarm clears by itself.
    telemetry(
        &app,
        &token,
        json!({ "ts": t0 + 31 * MIN, "values": { "soil_moisture": 35 } }),
    )
    .await;
    let cleared = app
        .alarms_until("status=cleared", Duration::from_secs(5), |a| !a.is_empty())
        .await;
    assert_eq!(cleared.len(), 1);
    assert_eq!(cleared[0]["cleared_by"], "system");
}

/// Device tokens survive restarts (they are in the database).
fn app_token(_app: &TestApp, token: &str) -> String {
    token.to_string()
}

#[tokio::test]
async fn a_flood_that_keeps_a_condition_true_raises_one_alarm() {
    let app = spawn_app().await;
    let token = soil_probe(&app, "土壤-西").await;
    let admin = app.admin_token.clone();
    let (status, _) = app
        .create_rule(
            &admin,
            json!({
                "name": "过湿或过干",
                "severity": "minor",
                "target": { "asset": "东茶园" },
                "condition": { "type": "threshold", "match": "any", "conditions": [
                    { "key": "soil_moisture", "op": "<", "value": 20 },
                    { "key": "soil_temperature", "op": ">", "value": 35 }
                ] }
            }),
        )
        .await;
    assert_eq!(status, 201);
    let base = now_ms() - 10 * MIN;
    for batch in 0..10 {
        let points: Vec<_> = (0..100)
            .map(|i| json!({ "ts": base + (batch * 100 + i) * 100, "values": { "soil_moisture": 10, "soil_temperature": 20 } }))
            .collect();
        telemetry(&app, &token, json!(points)).await;
    }
    // OR across keys: the temperature alone also holds, no new alarm while it does.
    telemetry(
        &app,
        &token,
        json!({ "ts": base + 200_000, "values": { "soil_moisture": 30, "soil_temperature": 40 } }),
    )
    .await;
    alerts_settled(&app).await;
    let all = app.alarms("status=all").await;
    assert_eq!(all.len(), 1, "{all:?}");
    assert_eq!(all[0]["count"], 1);
}

#[tokio::test]
async fn silence_fires_on_time_and_clears_when_data_returns() {
    let app = spawn_app().await;
    let token = soil_probe(&app, "土壤-北").await;
    let admin = app.admin_token.clone();
    telemetry(&app, &token, json!({ "soil_moisture": 30 })).await;
    let (status, rule) = app
        .create_rule(&admin,
            json!({ "name": "探头失联", "severity": "warning", "target": { "device": "土壤-北" }, "condition": { "type": "silence", "after_s": 2 } }),
        )
        .await;
    assert_eq!(status, 201, "{rule}");
    let last = now_ms();
    telemetry(&app, &token, json!({ "soil_moisture": 31 })).await;
    let fired = app
        .alarms_until("status=active", Duration::from_secs(6), |a| !a.is_empty())
        .await;
    assert_eq!(fired.len(), 1, "silence alarm fired");
    let at = fired[0]["started_at"].as_i64().unwrap();
    assert!(at - last >= 2_000, "not early: {}", at - last);
    assert!(
        at - last < 3_000,
        "on time (within a second): {}",
        at - last
    );
    telemetry(&app, &token, json!({ "soil_moisture": 32 })).await;
    let cleared = app
        .alarms_until("status=cleared", Duration::from_secs(3), |a| !a.is_empty())
        .await;
    assert_eq!(cleared.len(), 1);
}

#[tokio::test]
async fn bad_rules_are_refused_with_the_field_named() {
    let app = spawn_app().await;
    soil_probe(&app, "土壤-南").await;
    let admin = app.admin_token.clone();
    let cases = [
        (
            json!({ "name": "x", "severity": "major", "target": { "device": "土壤-南" },
                     "condition": { "type": "threshold", "conditions": [{ "key": "soil_moistur", "op": "<", "value": 20 }] } }),
            "unknown_key",
            "condition.conditions[0].key",
        ),
        (
            json!({ "name": "x", "severity": "major", "target": { "device": "土壤-南" },
                     "condition": { "type": "threshold", "conditions": [
                        { "key": "soil_moisture", "op": "<", "value": 10 }, { "key": "soil_moisture", "op": ">", "value": 50 }] } }),
            "invalid_rule",
            "condition.conditions",
        ),
        (
            json!({ "name": "x", "severity": "major", "target": { "device": "没有这个" },
                     "condition": { "type": "silence" } }),
            "unknown_target",
            "target",
        ),
        (
            json!({ "name": "x", "severity": "loud", "target": { "device": "土壤-南" }, "condition": { "type": "silence" } }),
            "invalid_rule",
            "",
        ),
        (
            json!({ "name": "x", "severity": "major", "target": { "device": "土壤-南" },
                     "condition": { "type": "rate", "key": "soil_moisture", "change": 0, "within_s": 60 } }),
            "invalid_rule",
            "condition.change",
        ),
    ];
    for (body, code, field) in cases {
        let (status, err) = app.create_rule(&admin, body.clone()).await;
        assert_eq!(status, 400, "{body} → {err}");
        assert_eq!(err["error"], code, "{err}");
        if !field.is_empty() {
            assert_eq!(err["field"], field, "{err}");
        }
    }
    // Nothing was stored: only the built-in herd-fever rule exists.
    let rules = app.query("/api/rules").await;
    assert_eq!(rules.as_array().unwrap().len(), 1, "{rules}");
    assert_eq!(rules[0]["builtin"], true);
    // The built-in rule can be tuned but not deleted.
    let id = rules[0]["id"].as_i64().unwrap();
    let (s, r) = app
        .put_json(
            &format!("/api/rules/{id}"),
            &admin,
            json!({ "name": "母猪发热预警", "severity": "critical", "target": { "profile": "ear-tag" },
                    "condition": { "type": "herd_fever", "above_baseline": 1.2 } }),
        )
        .await;
    assert_eq!(s, 200, "{r}");
    assert_eq!(r["condition"]["above_baseline"], 1.2);
    let r = crate::common::request(
        app.http,
        "DELETE",
        &format!("/api/rules/{id}"),
        &[("authorization", &format!("Bearer {admin}"))],
        vec![],
    )
    .await;
    assert_eq!(r.status, 409, "{}", r.text());
}

#[tokio::test]
async fn alarms_are_acknowledged_and_cleared_through_the_api() {
    let app = spawn_app().await;
    let token = soil_probe(&app, "土壤-中").await;
    let admin = app.admin_token.clone();
    let (s, _) = app
        .create_rule(&admin,
            json!({ "name": "霜冻", "severity": "critical", "target": { "asset_kind": "field" }, "auto_clear": false,
                    "condition": { "type": "threshold", "conditions": [{ "key": "soil_temperature", "op": "<", "value": 2 }] } }),
        )
        .await;
    assert_eq!(s, 201);
    telemetry(&app, &token, json!({ "soil_temperature": 1.5 })).await;
    let q = format!("status=active&device={}", enc("土壤-中"));
    let active = app
        .alarms_until(&q, Duration::from_secs(5), |a| !a.is_empty())
        .await;
    assert_eq!(active.len(), 1);
    let id = active[0]["id"].as_i64().unwrap();

    // A buyer cannot see alarms; a farmer of another village cannot touch this one.
    let buyer = app
        .user("city-buyer", cunlink_core::auth::Role::Buyer, None)
        .await;
    assert_eq!(app.get("/api/alarms", &buyer).await.status, 403);
    let other = app
        .user(
            "far-farmer",
            cunlink_core::auth::Role::Farmer,
            Some("远山村"),
        )
        .await;
    let (s, _) = app
        .post_json(&format!("/api/alarms/{id}/ack"), &other, json!({}))
        .await;
    assert_eq!(s, 404);

    let (s, a) = app
        .post_json(&format!("/api/alarms/{id}/ack"), &admin, json!({}))
        .await;
    assert_eq!(s, 200, "{a}");
    assert_eq!(a["status"], "acknowledged");
    let (s, c) = app
        .post_json(
            &format!("/api/alarms/{id}/comments"),
            &admin,
            json!({ "text": "已盖膜防冻" }),
        )
        .await;
    assert_eq!(s, 201, "{c}");
    assert!(app.alarms(&q).await.is_empty(), "no longer active");
    assert_eq!(app.alarms("status=acknowledged").await.len(), 1);
    // Temperature back up: auto_clear is off, so it stays until someone clears it.
    telemetry(&app, &token, json!({ "soil_temperature": 8 })).await;
    alerts_settled(&app).await;
    assert_eq!(app.alarms("status=acknowledged").await.len(), 1);
    let (s, a) = app
        .post_json(&format!("/api/alarms/{id}/clear"), &admin, json!({}))
        .await;
    assert_eq!(s, 200);
    assert_eq!(a["status"], "cleared");
    let detail = app.query(&format!("/api/alarms/{id}")).await;
    assert_eq!(detail["comments"][0]["text"], "已盖膜防冻");
    assert_eq!(app.alarms("status=all").await.len(), 1);
    let (s, e) = app
        .post_json("/api/alarms/99999/ack", &admin, json!({}))
        .await;
    assert_eq!(s, 404, "{e}");
}
