//! The demo village's early-warning rules, besides the built-in herd-fever
//! rule that watches the 40 sows: dry soil in the tea garden, frost, and a
//! weather station that stops reporting.

use std::sync::Arc;

use serde_json::json;

use cunlink_alert::Alerts;
use cunlink_alert::rule::RuleInput;

use crate::demo::VILLAGE;

pub async fn seed(alerts: &Arc<Alerts>) -> anyhow::Result<()> {
    let existing = alerts.db.call(|c| cunlink_alert::store::rules(c)).await?;
    if existing.iter().any(|r| !r.builtin) {
        return Ok(());
    }
    let village = alerts.auth.village_id(VILLAGE.to_string()).await?;
    let rules = [
        json!({ "name": "茶园土壤干旱", "severity": "major", "target": { "asset": "龙井茶园" },
                "condition": { "type": "threshold", "conditions": [{ "key": "soil_moisture", "op": "<", "value": 22 }], "for_s": 1800 } }),
        json!({ "name": "霜冻预警", "severity": "critical", "target": { "device": "茶园气象站" },
                "condition": { "type": "threshold", "conditions": [{ "key": "temperature", "op": "<", "value": 2 }], "for_s": 600 } }),
        json!({ "name": "气象站失联", "severity": "warning", "target": { "device": "茶园气象站" },
                "condition": { "type": "silence", "intervals": 3 } }),
    ];
    for r in rules {
        let input: RuleInput = serde_json::from_value(r)?;
        input.condition.check()?;
        alerts.add_rule(input, village, 0).await?;
    }
    tracing::info!("demo: early-warning rules for the tea garden are in place");
    Ok(())
}
