//! Leases and the bus on PostgreSQL (runs when `CUNLINK_TEST_DATABASE_URL` is
//! set; `./test` sets it).

use std::time::Duration;

use cunlink_core::Db;
use cunlink_core::cluster::{Bus, notify};
use cunlink_core::sql::Connection;

fn fresh_db(tag: &str) -> Option<(Db, String)> {
    let Ok(base) = std::env::var("CUNLINK_TEST_DATABASE_URL") else {
        eprintln!("not run: CUNLINK_TEST_DATABASE_URL is not set (tests/pg.sh starts one)");
        return None;
    };
    let admin = Connection::connect_postgres(&base).unwrap();
    let name = format!("t_cluster_{tag}_{}", std::process::id());
    admin.execute_batch(&format!("DROP DATABASE IF EXISTS {name}")).unwrap();
    admin.execute_batch(&format!("CREATE DATABASE {name}")).unwrap();
    let url = format!("{}/{name}", base.rsplit_once('/').unwrap().0);
    let db = Db::connect(&url, 4, &std::env::temp_dir()).unwrap();
    db.migrate("cluster", cunlink_core::cluster::MIGRATIONS).unwrap();
    Some((db, url))
}

#[test]
fn leases_race_on_postgres_and_one_node_wins() {
    let Some((db, url)) = fresh_db("lease") else { return };
    // Eight "nodes" race for one lease, each on its own connection.
    let winners: Vec<bool> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..8)
            .map(|i| {
                let url = url.clone();
                s.spawn(move || {
                    let c = Connection::connect_postgres(&url).unwrap();
                    cunlink_core::cluster::Leases::try_acquire_for_test(&c, "village.1", &format!("node{i}"))
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(winners.iter().filter(|w| **w).count(), 1, "{winners:?}");
    drop(db);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bus_delivers_other_nodes_committed_messages_only() {
    let Some((db, url)) = fresh_db("bus") else { return };
    let bus = Bus::start(db.clone());
    let mut rx = bus.subscribe("cunlink_test");
    // The listener needs a moment to LISTEN; send until the first arrives.
    let other = Connection::connect_postgres(&url).unwrap();
    let mut first = None;
    for _ in 0..50 {
        other
            .query_row("SELECT pg_notify('cunlink_test', 'node-x' || chr(31) || 'ping')", [], |_| Ok(()))
            .unwrap();
        if let Ok(Ok(m)) = tokio::time::timeout(Duration::from_millis(100), rx.recv()).await {
            first = Some(m);
            break;
        }
    }
    assert_eq!(first.as_deref(), Some("ping"));
    while rx.try_recv().is_ok() {}

    // This node's own message and a rolled-back one never arrive; a committed one does.
    let mut c = Connection::connect_postgres(&url).unwrap();
    notify(&c, "cunlink_test", "mine").unwrap();
    {
        let tx = c.transaction().unwrap();
        tx.query_row("SELECT pg_notify('cunlink_test', 'node-x' || chr(31) || 'rolled back')", [], |_| Ok(()))
            .unwrap();
        tx.rollback().unwrap();
    }
    let tx = c.transaction().unwrap();
    tx.query_row("SELECT pg_notify('cunlink_test', 'node-x' || chr(31) || 'committed')", [], |_| Ok(()))
        .unwrap();
    tx.commit().unwrap();
    let got = tokio::time::timeout(Duration::from_secs(5), rx.recv()).await.unwrap().unwrap();
    assert_eq!(&*got, "committed");
}

#[test]
fn a_panic_inside_a_database_call_gives_the_connection_back() {
    let Some((_, url)) = fresh_db("panic") else { return };
    let db = Db::connect(&url, 1, &std::env::temp_dir()).unwrap();
    for _ in 0..3 {
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            db.call_blocking(|c| {
                let tx = c.transaction().map_err(cunlink_core::DbError::from)?;
                tx.execute_batch("CREATE TABLE IF NOT EXISTS t (x BIGINT)")
                    .map_err(cunlink_core::DbError::from)?;
                if tx.is_postgres() {
                    panic!("a bug in a closure");
                }
                Ok::<_, cunlink_core::DbError>(())
            })
        }));
        assert!(r.is_err());
    }
    // The pool's one connection came back each time, its transaction rolled back.
    let n: i64 = db
        .call_blocking(|c| {
            c.query_row(
                "SELECT COUNT(*) FROM information_schema.tables WHERE table_name = 't'",
                [],
                |r| r.get(0),
            )
            .map_err(cunlink_core::DbError::from)
        })
        .unwrap();
    assert_eq!(n, 0);
    assert_eq!(db.pool_stats().in_use, 0);
}
