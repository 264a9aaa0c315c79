//! Client numbers that meet arithmetic in the alert domain (rule durations,
//! silence intervals, escalation delays, quiet-hour offsets, alarm list
//! limits and time ranges) are range-checked: out of range is a 400 that
//! names the field, and nothing is stored.

use serde_json::{Value, json};

use crate::common::spawn_app;

/// Numbers a hostile or careless client sends.
fn hostile() -> [Value; 5] {
    [
        json!(i64::MAX),
        json!(i64::MIN),
        json!(u64::MAX),
        json!(-1),
        json!(1.5),
    ]
}

#[tokio::test]
async fn rule_numbers_out_of_range_are_refused_naming_the_field() {
    let app = spawn_app().await;
    app.device(json!({ "name": "界限-1", "type": "soil-probe", "village": "茶香村" }))
        .await;
    let admin = app.admin_token.clone();
    let threshold = |v: &Value| json!({ "type": "threshold", "conditions": [{ "key": "soil_moisture", "op": "<", "value": 20 }], "for_s": v });
    for v in hostile() {
        let cases: Vec<(Value, Option<Value>, &str)> = vec![
            (threshold(&v), None, "condition.for_s"),
            (
                json!({ "type": "rate", "key": "soil_moisture", "change": 5, "within_s": v }),
                None,
                "condition.within_s",
            ),
            (
                json!({ "type": "silence", "after_s": v }),
                None,
                "condition.after_s",
            ),
            (
                json!({ "type": "silence", "intervals": v }),
                None,
                "condition.intervals",
            ),
            (
                json!({ "type": "herd_fever", "for_s": v }),
                None,
                "condition.for_s",
            ),
            (
                json!({ "type": "herd_fever", "baseline_days": v }),
                None,
                "condition.baseline_days",
            ),
            (
                json!({ "type": "herd_fever", "window_min": v }),
                None,
                "condition.window_min",
            ),
            (
                threshold(&json!(60)),
                Some(json!({ "after_s": v, "to": ["admin"] })),
                "escalate.after_s",
            ),
        ];
        for (condition, escalate, field) in cases {
            let mut body = json!({ "name": "x", "severity": "major", "target": { "device": "界限-1" }, "condition": condition });
            if let Some(e) = escalate {
                body["escalate"] = e;
            }
            let (s, e) = app.create_rule(&admin, body.clone()).await;
            assert_eq!((s, e["field"].as_str()), (400, Some(field)), "{body} → {e}");
        }
    }
    // In range for the type, but intervals × a profile's interval could wrap.
    let (s, e) = app
        .create_rule(
            &admin,
            json!({ "name": "x", "severity": "major", "target": { "device": "界限-1" },
                    "condition": { "type": "silence", "intervals": u32::MAX } }),
        )
        .await;
    assert_eq!(
        (s, e["field"].as_str()),
        (400, Some("condition.intervals")),
        "{e}"
    );
    let rules = app.query("/api/rules").await;
    assert_eq!(
        rules.as_array().unwrap().len(),
        1,
        "only the built-in rule: {rules}"
    );
}

#[tokio::test]
async fn alarm_list_parameters_out_of_range_are_refused_naming_the_field() {
    let app = spawn_app().await;
    let admin = app.admin_token.clone();
    let max = i64::MAX.to_string();
    let min = i64::MIN.to_string();
    let cases = [
        format!("limit={max}"),
        "limit=-1".to_string(),
        "limit=0".to_string(),
        "limit=18446744073709551616".to_string(),
        format!("since={max}"),
        format!("since={min}"),
        "since=-1".to_string(),
        format!("until={max}"),
        format!("until={min}"),
        "until=1e3".to_string(),
        "since=2000&until=1000".to_string(),
    ];
    for q in cases {
        let field = q.split('=').next().unwrap().to_string();
        let started = std::time::Instant::now();
        let r = app.get(&format!("/api/alarms?{q}"), &admin).await;
        assert!(started.elapsed().as_millis() < 1000, "{q} answered slowly");
        assert_eq!(r.status, 400, "{q}: {}", r.text());
        let e = r.json();
        assert_eq!(e["field"].as_str(), Some(field.as_str()), "{q}: {e}");
    }
    let r = app
        .get(
            "/api/alarms?limit=5000&since=0&until=253402300799999",
            &admin,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
}

#[tokio::test]
async fn notification_preference_numbers_out_of_range_are_refused_naming_the_field() {
    let app = spawn_app().await;
    let admin = app.admin_token.clone();
    for v in [
        json!(i64::MAX),
        json!(i64::MIN),
        json!(u64::MAX),
        json!(-100_000),
        json!(1.5),
    ] {
        let (s, e) = app
            .put_json(
                "/api/me/notifications",
                &admin,
                json!({ "utc_offset_min": v }),
            )
            .await;
        assert_eq!(
            (s, e["field"].as_str()),
            (400, Some("utc_offset_min")),
            "{v} → {e}"
        );
    }
    let (s, e) = app
        .put_json(
            "/api/me/notifications",
            &admin,
            json!({ "quiet_hours": { "start": "99999999999999999999:00", "end": "07:00" } }),
        )
        .await;
    assert_eq!(
        (s, e["field"].as_str()),
        (400, Some("quiet_hours.start")),
        "{e}"
    );
    let stored = app.query("/api/me/notifications").await;
    assert_eq!(stored["utc_offset_min"], 480, "unchanged: {stored}");
}
