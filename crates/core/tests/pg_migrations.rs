//! Every domain's migrations, in the order `serve` applies them, on a fresh
//! PostgreSQL database (rewritten by `core::sql::translate`), then once more to
//! show that a second node starting on the same database applies nothing twice.
//! Runs when `CUNLINK_TEST_DATABASE_URL` is set (tests/pg.sh); `./test` always sets it.

use cunlink_core::sql::Connection;

const ORDER: &[(&str, &str)] = &[
    ("core", "crates/core"),
    ("farm", "crates/farm"),
    ("alert", "crates/alert"),
    ("market", "crates/market"),
    ("board", "crates/board"),
    ("clinic", "crates/clinic"),
    ("school", "crates/school"),
    ("affairs", "crates/affairs"),
];

fn migrations(dir: &std::path::Path, prefix: &str) -> Vec<(i64, String, &'static str)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        let name = p.file_name().unwrap().to_str().unwrap().to_string();
        let own = if prefix.is_empty() {
            name.chars().next().is_some_and(|c| c.is_ascii_digit())
        } else {
            name.starts_with(prefix)
        };
        if !own || !name.ends_with(".sql") {
            continue;
        }
        let digits: String = name.chars().filter(|c| c.is_ascii_digit()).take(4).collect();
        let sql: &'static str = Box::leak(std::fs::read_to_string(&p).unwrap().into_boxed_str());
        out.push((digits.parse().unwrap(), name, sql));
    }
    out.sort();
    out
}

#[test]
fn every_migration_applies_on_postgres_once() {
    let Ok(base) = std::env::var("CUNLINK_TEST_DATABASE_URL") else {
        // The PostgreSQL backend is tested when a test database is named (./test
        // always names one); a plain `cargo test` stays on SQLite.
        eprintln!("not run: CUNLINK_TEST_DATABASE_URL is not set (tests/pg.sh starts one)");
        return;
    };
    let admin = Connection::connect_postgres(&base).unwrap();
    let name = format!("t_migrations_{}", std::process::id());
    admin.execute_batch(&format!("DROP DATABASE IF EXISTS {name}")).unwrap();
    admin.execute_batch(&format!("CREATE DATABASE {name}")).unwrap();
    let url = format!("{}/{name}", base.rsplit_once('/').unwrap().0);
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    for round in 0..2 {
        let db = cunlink_core::Db::connect(&url, 2, &std::env::temp_dir()).unwrap();
        let mut sets: Vec<(String, Vec<(i64, String, &'static str)>)> = ORDER
            .iter()
            .map(|(d, c)| (d.to_string(), migrations(&root.join(c).join("migrations/sqlite"), "")))
            .collect();
        sets.push(("telemetry".into(), migrations(&root.join("crates/farm/migrations/sqlite"), "telemetry_")));
        sets.push(("cluster".into(), migrations(&root.join("crates/core/migrations/sqlite"), "cluster_")));
        for (domain, ms) in sets {
            let list: Vec<cunlink_core::Migration> = ms
                .iter()
                .map(|(v, n, sql)| cunlink_core::Migration {
                    version: *v,
                    name: Box::leak(n.clone().into_boxed_str()),
                    sql,
                })
                .collect();
            db.migrate(&domain, &list)
                .unwrap_or_else(|e| panic!("round {round}: {domain}: {e:#}"));
        }
    }
    drop(admin);
}
