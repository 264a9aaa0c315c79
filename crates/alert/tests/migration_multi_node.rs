//! Alert migration 5 makes duplicate alarms impossible (unique episode and
//! open-alarm indexes); databases written before it may hold duplicates, which
//! it folds first. Runs on SQLite, and on PostgreSQL too when
//! `CUNLINK_TEST_DATABASE_URL` is set (tests/pg.sh).

use cunlink_core::sql::{Connection, params};

const BEFORE: &[&str] = &[
    include_str!("../migrations/sqlite/0001_alert.sql"),
    include_str!("../migrations/sqlite/0002_dead_letter_reasons.sql"),
    include_str!("../migrations/sqlite/0003_table_names.sql"),
    include_str!("../migrations/sqlite/0004_user_notices.sql"),
];
const MULTI_NODE: &str = include_str!("../migrations/sqlite/0005_multi_node.sql");

fn alarm(c: &Connection, rule: i64, device: i64, since: i64, cleared: Option<i64>) -> i64 {
    c.execute(
        "INSERT INTO alert_alarms (rule_id, rule_name, device_id, device_name, severity, condition_since, started_at, updated_at, cleared_at)
         VALUES ($1, 'r', $2, 'd', 'critical', $3, $3, $4, $5)",
        params![rule, device, since, since + 5, cleared],
    )
    .unwrap();
    c.last_insert_rowid().unwrap()
}

fn folds_duplicates_then_refuses_them(c: &Connection) {
    for m in BEFORE {
        c.execute_batch(m).unwrap();
    }
    let rule: i64 = c
        .query_row("SELECT MIN(id) FROM alert_rules", [], |r| r.get(0))
        .unwrap();
    let first = alarm(c, rule, 1, 100, None);
    let twin = alarm(c, rule, 1, 100, None);
    let newer = alarm(c, rule, 1, 200, None);
    let cleared = alarm(c, rule, 2, 300, Some(400));
    let open = alarm(c, rule, 2, 500, None);
    c.execute(
        "INSERT INTO alert_alarm_comments (alarm_id, at, author, text) VALUES ($1, 1, 'vet', 'seen')",
        [twin],
    )
    .unwrap();
    c.execute(
        "INSERT INTO alert_outbox (alarm_id, user_id, channel, target_id, payload, created_at, next_at)
         VALUES ($1, 1, 'webhook', 1, '{}', 1, 1)",
        [twin],
    )
    .unwrap();

    c.execute_batch(MULTI_NODE).unwrap();

    let rows: Vec<(i64, Option<i64>)> = c
        .prepare("SELECT id, cleared_at FROM alert_alarms ORDER BY id")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    // The twin of an episode is gone; of two open alarms of (rule, device 1)
    // the newer stays open, the older is cleared as of its last update.
    assert_eq!(
        rows,
        vec![
            (first, Some(105)),
            (newer, None),
            (cleared, Some(400)),
            (open, None)
        ]
    );
    let moved: (i64, i64) = c
        .query_row(
            "SELECT (SELECT alarm_id FROM alert_alarm_comments), (SELECT alarm_id FROM alert_outbox)",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(
        moved,
        (first, first),
        "the twin's comment and delivery point at the first"
    );

    // Now the schema refuses a second open alarm and a second record of an episode.
    let e = c
        .execute(
            "INSERT INTO alert_alarms (rule_id, rule_name, device_id, device_name, severity, condition_since, started_at, updated_at)
             VALUES ($1, 'r', 1, 'd', 'critical', 999, 999, 999)",
            [rule],
        )
        .unwrap_err();
    assert!(e.is_unique_violation(), "{e}");
    let n = c
        .execute(
            "INSERT INTO alert_alarms (rule_id, rule_name, device_id, device_name, severity, condition_since, started_at, updated_at)
             VALUES ($1, 'r', 1, 'd', 'critical', 200, 999, 999) ON CONFLICT DO NOTHING",
            [rule],
        )
        .unwrap();
    assert_eq!(n, 0);
}

#[test]
fn sqlite() {
    folds_duplicates_then_refuses_them(&Connection::open_in_memory().unwrap());
}

#[test]
fn postgres() {
    let Ok(base) = std::env::var("CUNLINK_TEST_DATABASE_URL") else {
        return; // SQLite only; the PostgreSQL run sets it (see tests/pg.sh).
    };
    let admin = Connection::connect_postgres(&base).unwrap();
    let name = format!(
        "t_alert_mig_{}",
        cunlink_core::random::token(8).to_lowercase()
    );
    admin
        .execute_batch(&format!("CREATE DATABASE {name}"))
        .unwrap();
    let (head, _) = base.rsplit_once('/').unwrap();
    let c = Connection::connect_postgres(&format!("{head}/{name}")).unwrap();
    folds_duplicates_then_refuses_them(&c);
    drop(c);
    let _ = admin.execute_batch(&format!("DROP DATABASE {name}"));
}
