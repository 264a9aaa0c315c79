-- Several `cunlink serve` on one PostgreSQL evaluate the same rules and drain
-- the same outbox (issue 14). The schema itself now refuses a second alarm for
-- one episode and a second open alarm per (rule, device); outbox rows carry
-- the claim of the node delivering them.
--
-- Nothing stopped such duplicates before, so older data may hold some.
-- First, a later record of an episode already recorded folds into the first:
-- its comments and deliveries point at the first, then it goes.
UPDATE alert_alarm_comments SET alarm_id = (
    SELECT MIN(k.id) FROM alert_alarms d JOIN alert_alarms k
        ON k.rule_id = d.rule_id AND k.device_id = d.device_id AND k.condition_since = d.condition_since
     WHERE d.id = alert_alarm_comments.alarm_id)
 WHERE alarm_id IN (
    SELECT d.id FROM alert_alarms d WHERE EXISTS (
        SELECT 1 FROM alert_alarms k WHERE k.rule_id = d.rule_id AND k.device_id = d.device_id
           AND k.condition_since = d.condition_since AND k.id < d.id));
UPDATE alert_outbox SET alarm_id = (
    SELECT MIN(k.id) FROM alert_alarms d JOIN alert_alarms k
        ON k.rule_id = d.rule_id AND k.device_id = d.device_id AND k.condition_since = d.condition_since
     WHERE d.id = alert_outbox.alarm_id)
 WHERE alarm_id IN (
    SELECT d.id FROM alert_alarms d WHERE EXISTS (
        SELECT 1 FROM alert_alarms k WHERE k.rule_id = d.rule_id AND k.device_id = d.device_id
           AND k.condition_since = d.condition_since AND k.id < d.id));
DELETE FROM alert_alarms WHERE EXISTS (
    SELECT 1 FROM alert_alarms k WHERE k.rule_id = alert_alarms.rule_id AND k.device_id = alert_alarms.device_id
       AND k.condition_since = alert_alarms.condition_since AND k.id < alert_alarms.id);
-- Then of several open alarms of one (rule, device) the newest stays open;
-- the others are cleared by the system, as of their last update.
UPDATE alert_alarms SET cleared_at = updated_at, cleared_by = 'system'
 WHERE cleared_at IS NULL AND id NOT IN (
    SELECT MAX(id) FROM alert_alarms WHERE cleared_at IS NULL GROUP BY rule_id, device_id);

DROP INDEX IF EXISTS alarms_open;
DROP INDEX IF EXISTS alarms_episode;
CREATE UNIQUE INDEX alert_alarms_episode ON alert_alarms (rule_id, device_id, condition_since);
CREATE UNIQUE INDEX alert_alarms_open ON alert_alarms (rule_id, device_id) WHERE cleared_at IS NULL;

-- The node delivering a row (a random id per process) and until when (ms) its
-- claim holds; another node takes the row over only after that.
ALTER TABLE alert_outbox ADD COLUMN claimed_by TEXT;
ALTER TABLE alert_outbox ADD COLUMN claimed_until INTEGER;
