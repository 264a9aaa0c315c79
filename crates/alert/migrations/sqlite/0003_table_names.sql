-- Table names say their domain (issue 10): the alert crate's tables in the
-- shared application database are alert_*. SQLite carries indexes and the
-- foreign keys that point at these tables along with the rename.
ALTER TABLE rules RENAME TO alert_rules;
ALTER TABLE alarms RENAME TO alert_alarms;
ALTER TABLE alarm_comments RENAME TO alert_alarm_comments;
ALTER TABLE notify_prefs RENAME TO alert_notify_prefs;
ALTER TABLE push_subscriptions RENAME TO alert_push_subscriptions;
ALTER TABLE webhooks RENAME TO alert_webhooks;
ALTER TABLE outbox RENAME TO alert_outbox;
ALTER TABLE vapid_key RENAME TO alert_vapid_key;
