//! Display boards between a hub and a village node (docs/node.md): the boards
//! that show one of the village's assets come down, as the node protocol
//! applies them (the hub's snapshot applied in the node's transaction); a board
//! of another village does not; applying twice changes nothing; a node's copy
//! is read-only (making a board there is refused).

use cunlink_board::{BoardError, NewBoard, store};
use cunlink_core::sql::{Connection, TransactionBehavior};
use cunlink_core::sync::{NodeSelf, SyncKinds};
use cunlink_core::{Db, DbError};
use cunlink_farm::model::AssetKind;

fn open(tag: &str) -> Db {
    let mut raw = [0u8; 8];
    cunlink_core::random::fill(&mut raw);
    let dir = std::env::temp_dir().join(format!(
        "cunlink-board-{tag}-{}-{:x}",
        std::process::id(),
        u64::from_le_bytes(raw)
    ));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let db = Db::open(&dir.join("cunlink.db")).expect("open db");
    db.migrate("core", cunlink_core::auth::MIGRATIONS)
        .expect("core schema");
    db.migrate("sync", cunlink_core::sync::MIGRATIONS)
        .expect("sync schema");
    db.migrate("farm", cunlink_farm::store::MIGRATIONS)
        .expect("farm schema");
    db.migrate("board", cunlink_board::MIGRATIONS)
        .expect("board schema");
    db
}

fn board(name: &str, asset: &str) -> NewBoard {
    NewBoard {
        name: name.into(),
        assets: vec![asset.into()],
        keys: vec![],
        rotate_secs: 10,
        line_width: 32,
        line_count: 4,
    }
}

/// The villages 东山村 and 西山村 with an asset each, made in the same order on
/// both sides (assets come down with the farm's kinds, not run here).
fn world(db: &Db) -> i64 {
    db.call_blocking(|c| {
        let east = cunlink_core::auth::AuthService::ensure_village(c, "东山村").expect("village");
        let west = cunlink_core::auth::AuthService::ensure_village(c, "西山村").expect("village");
        cunlink_farm::store::ensure_asset(c, "东山茶园", AssetKind::Field, Some(east))
            .expect("asset");
        cunlink_farm::store::ensure_asset(c, "西山茶园", AssetKind::Field, Some(west))
            .expect("asset");
        Ok::<_, DbError>(east)
    })
    .expect("world")
}

fn rows(c: &Connection) -> Vec<String> {
    let mut st = c
        .prepare("SELECT id, slug, name, assets, keys, rotate_secs, line_width, line_count, created_at FROM boards ORDER BY id")
        .expect("prepare");
    st.query_map([], |r| {
        Ok(format!(
            "{}|{}|{}|{}|{}|{}|{}|{}|{}",
            r.get::<_, i64>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, String>(3)?,
            r.get::<_, String>(4)?,
            r.get::<_, i64>(5)?,
            r.get::<_, i64>(6)?,
            r.get::<_, i64>(7)?,
            r.get::<_, i64>(8)?
        ))
    })
    .expect("query")
    .collect::<Result<_, _>>()
    .expect("rows")
}

#[test]
fn the_villages_boards_come_down_and_are_read_only_on_the_node() {
    let (hub, node) = (open("hub"), open("node"));
    let village = world(&hub);
    assert_eq!(world(&node), village);
    let east = hub
        .call_blocking(|c| store::create(c, &board("东山看板", "东山茶园")))
        .expect("board");
    hub.call_blocking(|c| store::create(c, &board("西山看板", "西山茶园")))
        .expect("board");
    node.call_blocking(|c| {
        cunlink_core::sync::set_node_self(
            c,
            &NodeSelf {
                node_id: "node-1".into(),
                number: 1,
                hub: "http://hub".into(),
                credential: "secret".into(),
                village_id: village,
                village: "东山村".into(),
                joined_at: 0,
            },
        )
    })
    .map_err(DbError::from)
    .expect("node identity");
    let mut kinds = SyncKinds::default();
    cunlink_board::sync::register(&mut kinds);
    let k = kinds.down[0].clone();
    assert_eq!(k.kind(), "boards");
    let down = || {
        let snap = hub
            .call_blocking(|c| Ok::<_, DbError>(k.snapshot(c, village)))
            .expect("db")
            .expect("snapshot");
        node.call_blocking(|c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            k.apply(&tx, village, &snap).expect("apply");
            tx.commit()?;
            Ok::<_, DbError>(rows(c))
        })
        .expect("down")
    };
    let first = down();
    assert_eq!(first.len(), 1, "only the village's board: {first:?}");
    assert!(first[0].contains(&east.slug), "{first:?}");
    assert_eq!(down(), first, "applied twice = no change");
    let b = node
        .call_blocking(|c| store::by_slug(c, &east.slug))
        .expect("by slug")
        .expect("the board is at the node");
    assert_eq!(b.name, "东山看板");

    // Read-only at the node.
    let e = node
        .call_blocking(|c| store::create(c, &board("自建看板", "东山茶园")))
        .expect_err("refused on a node");
    assert!(matches!(e, BoardError::HubOnly), "{e}");
    // A row that is not a board is refused and changes nothing.
    let bad = vec![
        serde_json::json!({"id": 9, "slug": "x", "name": "x", "assets": "not a list",
        "keys": "[]", "rotate_secs": 10, "line_width": 32, "line_count": 4, "created_at": 0}),
    ];
    let refused = node
        .call_blocking(|c| Ok::<_, DbError>(k.apply(c, village, &bad)))
        .expect("db");
    assert!(refused.is_err());
    assert_eq!(
        node.call_blocking(|c| Ok::<_, DbError>(rows(c))).unwrap(),
        first
    );
}
