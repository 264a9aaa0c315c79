//! The words of a notification, in the recipient's language. Short: a phone's
//! lock screen shows two lines.

use serde_json::json;

use crate::rule::Severity;
use crate::store::Alarm;

pub struct Message {
    pub title: String,
    pub body: String,
}

fn severity_label(s: Severity, zh: bool) -> &'static str {
    match (s, zh) {
        (Severity::Critical, true) => "严重",
        (Severity::Major, true) => "重要",
        (Severity::Minor, true) => "次要",
        (Severity::Warning, true) => "提示",
        (Severity::Critical, false) => "Critical",
        (Severity::Major, false) => "Major",
        (Severity::Minor, false) => "Minor",
        (Severity::Warning, false) => "Warning",
    }
}

impl Message {
    pub fn for_alarm(alarm: &Alarm, locale: &str, escalation: bool) -> Message {
        let zh = !locale.starts_with("en");
        let sev = severity_label(alarm.severity, zh);
        let value = alarm
            .details
            .get("value")
            .and_then(|v| v.as_f64())
            .map(|v| format!("{v:.1}"));
        let title = match (zh, escalation) {
            (true, false) => format!("【{sev}】{}", alarm.rule),
            (true, true) => format!("【{sev}·无人确认】{}", alarm.rule),
            (false, false) => format!("[{sev}] {}", alarm.rule),
            (false, true) => format!("[{sev}, unacknowledged] {}", alarm.rule),
        };
        let body = match (zh, value) {
            (true, Some(v)) => format!("{}：当前 {v}", alarm.device),
            (true, None) => alarm.device.to_string(),
            (false, Some(v)) => format!("{}: now {v}", alarm.device),
            (false, None) => alarm.device.to_string(),
        };
        Message { title, body }
    }

    /// What the service worker shows (see the web app's `push` handler).
    pub fn push_json(&self, alarm: &Alarm) -> String {
        json!({
            "title": self.title,
            "body": self.body,
            "url": format!("/alarms/{}", alarm.id),
            "tag": format!("alarm-{}", alarm.id),
            "alarm_id": alarm.id,
            "severity": alarm.severity,
        })
        .to_string()
    }

    /// What SMS gateways and chat bots receive: the text plus the alarm itself.
    pub fn webhook_json(&self, alarm: &Alarm) -> String {
        json!({
            "text": format!("{} {}", self.title, self.body),
            "title": self.title,
            "body": self.body,
            "alarm": alarm,
        })
        .to_string()
    }
}
