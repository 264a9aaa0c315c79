//! The market between a village node and its hub (docs/market.md, "Village
//! node"): two markets opened as the binary opens them, "hub" and "node" (the
//! node made one with `set_node_self`), with records carried between them
//! through the kinds `Domain::sync_kinds` registers, as the node protocol does:
//! down = the hub's snapshot applied on the node in one transaction; up = each
//! outbox record exported on the node and applied on the hub.

mod support;

use cunlink_core::DbError;
use cunlink_core::auth::{Role, User};
use cunlink_core::sql::TransactionBehavior;
use cunlink_core::sync::{ID_SPAN, NodeSelf, SyncError, SyncKinds};
use cunlink_market::{MarketError, allocations, orders, parcels, pickups};
use cunlink_web::Domain;
use serde_json::{Value, json};
use support::{Shop, VILLAGE, code, field, obj, one_line};

const OTHER_VILLAGE: &str = "竹林村";

struct Pair {
    hub: Shop,
    node: Shop,
    kinds: SyncKinds,
    village: i64,
    farmer: User,
    buyer: User,
    station: i64,
    product: i64,
    variant: i64,
}

/// A hub with a farmer's product (30 units online) and a station in VILLAGE,
/// and a node of VILLAGE (number 1) that took the catalog down. Users are made
/// in the same order on both, so they have the same ids (accounts come down
/// with the node protocol, which this test does not run).
fn pair(tag: &str) -> Pair {
    let hub = Shop::open(&format!("{tag}-hub"));
    let node = Shop::open(&format!("{tag}-node"));
    let mut users = Vec::new();
    for shop in [&hub, &node] {
        users.push((
            shop.user("farmer", Role::Farmer, Some(VILLAGE)),
            shop.user("buyer", Role::Buyer, None),
        ));
    }
    assert_eq!(users[0].0.id, users[1].0.id);
    assert_eq!(users[0].1.id, users[1].1.id);
    let (farmer, buyer) = users.remove(0);
    let village = farmer.village_id.expect("farmer's village");
    assert_eq!(users[0].0.village_id, Some(village));
    let station = hub.station(VILLAGE, "茶香村服务站");
    let product = hub.product(&farmer, 1500, 30);
    let variant = hub.product_json(product)["variants"][0]["id"]
        .as_i64()
        .expect("variant id");
    hub.market
        .db
        .call_blocking(|c| {
            c.execute(
                "INSERT INTO core_sync_nodes (id, node_id, village_id, credential_hash, created_at)
                 VALUES (1, 'node-1', $1, 'hash', 0)",
                [village],
            )
        })
        .map_err(DbError::from)
        .expect("hub knows the node");
    node.market
        .db
        .call_blocking(|c| {
            cunlink_core::sync::set_node_self(
                c,
                &NodeSelf {
                    node_id: "node-1".into(),
                    number: 1,
                    hub: "http://hub".into(),
                    credential: "secret".into(),
                    village_id: village,
                    village: VILLAGE.into(),
                    joined_at: 0,
                },
            )
        })
        .map_err(DbError::from)
        .expect("node identity");
    let mut kinds = SyncKinds::default();
    hub.market.clone().sync_kinds(&mut kinds);
    let p = Pair {
        hub,
        node,
        kinds,
        village,
        farmer,
        buyer,
        station,
        product,
        variant,
    };
    p.down();
    p
}

impl Pair {
    /// Every down kind, in registration order, in one node transaction.
    fn down(&self) {
        let village = self.village;
        let mut snapshots = Vec::new();
        for k in &self.kinds.down {
            let rows = self
                .hub
                .market
                .db
                .call_blocking(|c| Ok::<_, DbError>(k.snapshot(c, village)))
                .expect("db")
                .expect("snapshot");
            snapshots.push(rows);
        }
        self.node
            .market
            .db
            .call_blocking(|c| {
                let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
                for (k, rows) in self.kinds.down.iter().zip(&snapshots) {
                    if let Err(e) = k.apply(&tx, village, rows) {
                        panic!("applying {}: {e}", k.kind());
                    }
                }
                tx.commit()?;
                Ok::<_, DbError>(())
            })
            .expect("down");
    }

    /// The node's outbox, oldest first, without repeats.
    fn outbox(&self) -> Vec<(String, String)> {
        let rows: Vec<(String, String)> = self
            .node
            .market
            .db
            .call_blocking(|c| {
                let mut st = c.prepare("SELECT kind, key FROM core_sync_outbox ORDER BY id")?;
                let rows = st
                    .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                    .collect::<Result<Vec<_>, _>>()?;
                Ok::<_, DbError>(rows)
            })
            .expect("outbox");
        let mut out: Vec<(String, String)> = Vec::new();
        for r in rows {
            if !out.contains(&r) {
                out.push(r);
            }
        }
        out
    }

    fn export(&self, kind: &str, key: &str) -> Value {
        let k = self.kinds.up_kind(kind).expect("up kind");
        self.node
            .market
            .db
            .call_blocking(|c| Ok::<_, DbError>(k.export(c, key)))
            .expect("db")
            .expect("export")
            .expect("the record exists")
    }

    /// Apply one record on the hub, in a transaction as the protocol does.
    fn apply(&self, kind: &str, key: &str, body: &Value) -> Result<(), SyncError> {
        let k = self.kinds.up_kind(kind).expect("up kind");
        let village = self.village;
        self.hub
            .market
            .db
            .call_blocking(|c| {
                let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
                let r = k.apply(&tx, village, key, body);
                if r.is_ok() {
                    tx.commit()?;
                }
                Ok::<_, DbError>(r)
            })
            .expect("db")
    }

    /// Export and apply every record in the node's outbox, then clear it.
    fn up(&self) {
        for (kind, key) in self.outbox() {
            let body = self.export(&kind, &key);
            self.apply(&kind, &key, &body)
                .unwrap_or_else(|e| panic!("applying {kind} {key}: {e}"));
        }
        self.node
            .market
            .db
            .call_blocking(|c| c.execute("DELETE FROM core_sync_outbox", []))
            .map_err(DbError::from)
            .expect("clear outbox");
    }

    fn stock(shop: &Shop, variant: i64) -> i64 {
        shop.market
            .db
            .call_blocking(move |c| cunlink_market::store::allocations::stock(c, variant))
            .expect("stock")
    }

    fn allocate(&self, village: &str, quantity: i64) -> Result<Value, MarketError> {
        let (f, v) = (self.farmer.clone(), self.variant);
        let body = obj(json!({"village": village, "quantity": quantity}));
        self.hub
            .market
            .db
            .call_blocking(move |c| allocations::allocate(c, &f, v, &body))
    }

    fn release(&self, quantity: i64) -> Result<Value, MarketError> {
        let (f, v) = (self.farmer.clone(), self.variant);
        let body = obj(json!({"quantity": quantity}));
        self.node
            .market
            .db
            .call_blocking(move |c| allocations::release(c, &f, v, &body))
    }
}

/// `(id, text)` rows of a statement over one order (to see rows unchanged).
fn rows(shop: &Shop, sql: &'static str, order: i64) -> Vec<(i64, String)> {
    shop.market
        .db
        .call_blocking(move |c| {
            let mut st = c.prepare(sql)?;
            let rows = st
                .query_map([order], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<Result<Vec<_>, _>>()?;
            Ok::<_, DbError>(rows)
        })
        .expect("rows")
}

#[tokio::test]
async fn a_station_order_goes_up_under_its_id_once() {
    let p = pair("order");
    p.allocate(VILLAGE, 10).expect("allocate");
    p.down();
    let placed = p
        .node
        .order(&p.buyer, None, one_line(p.station, p.product, 2))
        .await
        .expect("order on the node");
    let id = serde_json::from_str::<Value>(&placed.body).expect("json")["id"]
        .as_i64()
        .expect("order id");
    assert!(id >= ID_SPAN, "node order id {id} is in node 1's range");
    assert_eq!(p.outbox(), vec![("order".to_string(), id.to_string())]);

    p.up();
    let (buyer, node_buyer) = (p.buyer.clone(), p.buyer.clone());
    let on_hub = p
        .hub
        .market
        .db
        .call_blocking(move |c| orders::get(c, &buyer, id))
        .expect("the hub has the order");
    let on_node = p
        .node
        .market
        .db
        .call_blocking(move |c| orders::get(c, &node_buyer, id))
        .expect("the node has the order");
    assert_eq!(on_hub["id"], json!(id));
    assert_eq!(on_hub["items"], on_node["items"]);
    assert_eq!(on_hub["events"], on_node["events"]);
    assert_eq!(on_hub["total_fen"], json!(3000));
    assert_eq!(on_hub["items"][0]["quantity"], json!(2));
    assert_eq!(on_hub["events"][0]["status"], json!("placed"));
    // The node sold its own units: the hub's online stock is what the grant left.
    assert_eq!(Pair::stock(&p.hub, p.variant), 20);
    assert_eq!(Pair::stock(&p.node, p.variant), 8);

    // The same record again, and after a status change on the node: one order,
    // its lines unchanged (same rows), its history as on the node.
    const ITEMS: &str = "SELECT id, trace_code || '×' || quantity FROM market_order_items WHERE order_id = $1 ORDER BY id";
    const EVENTS: &str =
        "SELECT id, status FROM market_order_events WHERE order_id = $1 ORDER BY id";
    let (items, events) = (rows(&p.hub, ITEMS, id), rows(&p.hub, EVENTS, id));
    let body = p.export("order", &id.to_string());
    p.apply("order", &id.to_string(), &body).expect("again");
    assert_eq!(rows(&p.hub, ITEMS, id), items);
    assert_eq!(rows(&p.hub, EVENTS, id), events);
    assert_eq!(p.hub.count("market_orders"), 1);
    assert_eq!(p.hub.count("market_order_items"), 1);
    assert_eq!(p.hub.count("market_order_events"), 1);
    assert_eq!(Pair::stock(&p.hub, p.variant), 20);

    // The order is the node's: the hub does not change it (cancelling it there
    // would put the node's units into the online stock).
    let admin = p.hub.user("admin", Role::Admin, None);
    let cancel = obj(json!({"status": "cancelled"}));
    let e = p
        .hub
        .market
        .db
        .call_blocking(move |c| orders::transition(c, &admin, id, &cancel))
        .expect_err("cancelled on the hub");
    assert_eq!(code(&e), Some("node_order"));
    assert_eq!(Pair::stock(&p.hub, p.variant), 20);
    // On the node it changes, and comes up again.
    let (op, cancel) = (p.buyer.clone(), obj(json!({"status": "cancelled"})));
    p.node
        .market
        .db
        .call_blocking(move |c| orders::transition(c, &op, id, &cancel))
        .expect("cancelled by its buyer on the node");
    assert_eq!(Pair::stock(&p.node, p.variant), 10);
    p.up();
    let buyer = p.buyer.clone();
    let on_hub = p
        .hub
        .market
        .db
        .call_blocking(move |c| orders::get(c, &buyer, id))
        .expect("order");
    assert_eq!(on_hub["status"], json!("cancelled"));
    assert_eq!(on_hub["events"].as_array().map(Vec::len), Some(2));
    assert_eq!(Pair::stock(&p.hub, p.variant), 20);
}

#[tokio::test]
async fn an_order_for_another_villages_station_is_rejected() {
    let p = pair("reject");
    p.allocate(VILLAGE, 5).expect("allocate");
    p.down();
    let placed = p
        .node
        .order(&p.buyer, None, one_line(p.station, p.product, 1))
        .await
        .expect("order on the node");
    let id = serde_json::from_str::<Value>(&placed.body).expect("json")["id"]
        .as_i64()
        .expect("order id");
    let elsewhere = p.hub.station(OTHER_VILLAGE, "竹林村服务站");
    let mut body = p.export("order", &id.to_string());
    body["pickup_station_id"] = json!(elsewhere);
    match p.apply("order", &id.to_string(), &body) {
        Err(SyncError::Reject(why)) => assert!(why.contains("village"), "{why}"),
        other => panic!("expected a rejection, got {other:?}"),
    }
    // A line naming a variant the hub does not have is rejected too.
    let mut body = p.export("order", &id.to_string());
    body["items"][0]["variant_id"] = json!(999_999);
    assert!(matches!(
        p.apply("order", &id.to_string(), &body),
        Err(SyncError::Reject(_))
    ));
    assert_eq!(p.hub.count("market_orders"), 0);
    assert_eq!(p.hub.count("market_order_items"), 0);
}

#[tokio::test]
async fn stock_has_one_owner_at_a_time() {
    let p = pair("stock");
    // The node has the product, with none of it to sell yet.
    assert_eq!(Pair::stock(&p.node, p.variant), 0);

    // Refused allocations change nothing.
    let e = p
        .allocate(VILLAGE, 31)
        .expect_err("more than the online stock");
    assert_eq!(
        (code(&e), field(&e)),
        (Some("out_of_stock"), Some("quantity"))
    );
    let e = p.allocate(VILLAGE, 0).expect_err("zero");
    assert_eq!(field(&e), Some("quantity"));
    let e = p.allocate("无此村", 1).expect_err("unknown village");
    assert_eq!(field(&e), Some("village"));
    assert_eq!(Pair::stock(&p.hub, p.variant), 30);

    let v = p.allocate(VILLAGE, 10).expect("allocate");
    assert_eq!(
        (v["granted"].as_i64(), v["stock"].as_i64()),
        (Some(10), Some(20))
    );
    p.down();
    assert_eq!(Pair::stock(&p.node, p.variant), 10);
    // The same snapshot again (a resent batch) adds nothing.
    p.down();
    assert_eq!(Pair::stock(&p.node, p.variant), 10);

    // Each side sells exactly what it owns.
    for _ in 0..10 {
        p.node
            .order(&p.buyer, None, one_line(p.station, p.product, 1))
            .await
            .expect("node sale");
    }
    let e = p
        .node
        .order(&p.buyer, None, one_line(p.station, p.product, 1))
        .await
        .expect_err("the 11th on the node");
    assert_eq!(code(&e), Some("out_of_stock"));
    for _ in 0..20 {
        p.hub
            .order(&p.buyer, None, one_line(p.station, p.product, 1))
            .await
            .expect("hub sale");
    }
    let e = p
        .hub
        .order(&p.buyer, None, one_line(p.station, p.product, 1))
        .await
        .expect_err("the 21st on the hub");
    assert_eq!(code(&e), Some("out_of_stock"));
    p.up();
    assert_eq!(p.hub.count("market_orders"), 30);
    assert_eq!(Pair::stock(&p.hub, p.variant), 0);

    // A new harvest online; 5 more units to the village. A price change on the
    // hub comes down without touching the node's stock.
    let (f, product) = (p.farmer.clone(), p.product);
    let patch = obj(json!({"stock": 5, "price_fen": 1600}));
    p.hub
        .market
        .db
        .call_blocking(move |c| cunlink_market::catalog::update(c, &f, product, &patch))
        .expect("restock online");
    p.allocate(VILLAGE, 5).expect("allocate again");
    p.down();
    assert_eq!(Pair::stock(&p.node, p.variant), 5);
    assert_eq!(p.node.product_json(p.product)["price_fen"], json!(1600));
    assert_eq!(Pair::stock(&p.hub, p.variant), 0);

    // The node's stock is the hub's to set: a PATCH of it is refused there.
    let (f, product) = (p.farmer.clone(), p.product);
    let patch = obj(json!({"stock": 100}));
    let e = p
        .node
        .market
        .db
        .call_blocking(move |c| cunlink_market::catalog::update(c, &f, product, &patch))
        .expect_err("stock set on the node");
    assert_eq!(code(&e), Some("hub_only"));
    let node = &p.node;
    let e = node
        .market
        .db
        .call_blocking(|c| cunlink_market::access::create_station(c, VILLAGE, "第二站"))
        .expect_err("a station made on the node");
    assert_eq!(code(&e), Some("hub_only"));
    // Nor does a node list products (they come down with the hub's ids).
    let f = p.farmer.clone();
    let body = obj(json!({"name": "新茶", "unit": "kg", "price_fen": 100, "stock": 1}));
    let e = p
        .node
        .market
        .db
        .call_blocking(move |c| cunlink_market::catalog::create_product(c, &f, &body))
        .expect_err("a product listed on the node");
    assert_eq!(code(&e), Some("hub_only"));

    // Releasing nothing, or more than the node has, changes nothing.
    let e = p.release(0).expect_err("release 0");
    assert_eq!(field(&e), Some("quantity"));
    let e = p.release(6).expect_err("release more than held");
    assert_eq!(
        (code(&e), field(&e)),
        (Some("out_of_stock"), Some("quantity"))
    );
    assert!(p.outbox().is_empty(), "{:?}", p.outbox());
    assert_eq!(Pair::stock(&p.node, p.variant), 5);

    // Three units go back: up once, or twice, the hub gains exactly three.
    let v = p.release(3).expect("release");
    assert_eq!(
        (v["released"].as_i64(), v["stock"].as_i64()),
        (Some(3), Some(2))
    );
    let key = p.variant.to_string();
    assert_eq!(p.outbox(), vec![("allocation".to_string(), key.clone())]);
    let body = p.export("allocation", &key);
    p.apply("allocation", &key, &body).expect("apply");
    p.apply("allocation", &key, &body).expect("apply again");
    assert_eq!(Pair::stock(&p.hub, p.variant), 3);
    // The hub's grant is unchanged, so the next snapshot adds nothing on the node.
    p.down();
    assert_eq!(Pair::stock(&p.node, p.variant), 2);
    // On the hub, releasing is refused (the units are the node's to give).
    let (f, v) = (p.farmer.clone(), p.variant);
    let e = p
        .hub
        .market
        .db
        .call_blocking(move |c| allocations::release(c, &f, v, &obj(json!({"quantity": 1}))))
        .expect_err("release on the hub");
    assert_eq!(code(&e), Some("node_only"));
}

/// A user made on both sides in the same order (same id), as accounts come down.
fn both(p: &Pair, name: &str, role: Role, village: Option<&str>) -> User {
    let on_hub = p.hub.user(name, role, village);
    let on_node = p.node.user(name, role, village);
    assert_eq!(on_hub.id, on_node.id);
    on_hub
}

fn call<T: Send + 'static>(
    shop: &Shop,
    f: impl FnOnce(&cunlink_core::sql::Connection) -> Result<T, MarketError> + Send + 'static,
) -> Result<T, MarketError> {
    shop.market.db.call_blocking(move |c| f(c))
}

#[tokio::test]
async fn a_parcel_made_at_the_station_goes_up_with_its_scans() {
    let p = pair("parcel");
    let op = both(&p, "op", Role::StationOperator, Some(VILLAGE));
    let station = p.station;
    let (u, body) = (
        op.clone(),
        obj(json!({"to_station_id": station, "recipient_name": "王大妈", "tracking": "SF1"})),
    );
    let made = call(&p.node, move |c| parcels::create(c, &u, &body)).expect("parcel on the node");
    let id = made["id"].as_i64().expect("parcel id");
    assert!(id >= ID_SPAN, "node parcel id {id} is in node 1's range");
    let u = op.clone();
    let arrived = call(&p.node, move |c| {
        parcels::scan(c, &u, id, &obj(json!({"status": "at_village_station"})))
    })
    .expect("arrival scan on the node");
    let code = arrived["pickup_code"].as_str().expect("code").to_string();
    assert_eq!(p.outbox(), vec![("parcel".to_string(), id.to_string())]);

    p.up();
    let county = p.hub.user("county", Role::CountyStaff, None);
    let u = county.clone();
    let on_hub = call(&p.hub, move |c| parcels::get(c, &u, id)).expect("the hub has it");
    assert_eq!(on_hub["id"], json!(id));
    assert_eq!(on_hub["status"], json!("at_village_station"));
    assert_eq!(on_hub["tracking"], json!("SF1"));
    assert_eq!(on_hub["events"], arrived["events"]);

    // The same record again: no row changes.
    const SCANS: &str =
        "SELECT id, status || '@' || at FROM market_parcel_events WHERE parcel_id = $1 ORDER BY id";
    let scans = rows(&p.hub, SCANS, id);
    assert_eq!(scans.len(), 2);
    let body = p.export("parcel", &id.to_string());
    p.apply("parcel", &id.to_string(), &body).expect("again");
    assert_eq!(rows(&p.hub, SCANS, id), scans);
    assert_eq!(p.hub.count("market_parcels"), 1);

    // The parcel is the node's: the hub's users do not scan or collect it.
    let u = county.clone();
    let e = call(&p.hub, move |c| {
        parcels::scan(c, &u, id, &obj(json!({"status": "returned"})))
    })
    .expect_err("scanned on the hub");
    assert_eq!(code_of(&e), Some("node_parcel"));
    let admin = p.hub.user("admin", Role::Admin, None);
    let c2 = code.clone();
    let e = call(&p.hub, move |c| {
        parcels::collect(c, &admin, id, &obj(json!({"code": c2})))
    })
    .expect_err("collected on the hub");
    assert_eq!(code_of(&e), Some("node_parcel"));
    assert_eq!(rows(&p.hub, SCANS, id), scans);

    // Another village's parcel, or one in the hub's own id range, is refused.
    let elsewhere = p.hub.station(OTHER_VILLAGE, "竹林村服务站");
    let mut bad = body.clone();
    bad["to_station_id"] = json!(elsewhere);
    match p.apply("parcel", &id.to_string(), &bad) {
        Err(SyncError::Reject(why)) => assert!(why.contains("village"), "{why}"),
        other => panic!("expected a rejection, got {other:?}"),
    }
    let mut low = body.clone();
    low["id"] = json!(5);
    assert!(matches!(
        p.apply("parcel", "5", &low),
        Err(SyncError::Reject(_))
    ));
    assert_eq!(p.hub.count("market_parcels"), 1);

    // A pickup code a hub parcel waiting at the same station holds meanwhile
    // is refused (not a failed batch on the unique index): the node's parcel
    // not on the hub yet, a hub parcel there with the same code.
    let (c3, st) = (code.clone(), station);
    p.hub
        .market
        .db
        .call_blocking(move |c| {
            c.execute("DELETE FROM market_parcel_events WHERE parcel_id = $1", [id])?;
            c.execute("DELETE FROM market_parcels WHERE id = $1", [id])?;
            c.execute(
                "INSERT INTO market_parcels (id, to_station_id, status, pickup_code, arrived_at, created_at)
                 VALUES (7, $1, 'at_village_station', $2, 0, 0)",
                cunlink_core::sql::params![st, c3],
            )
        })
        .map_err(DbError::from)
        .expect("a hub parcel");
    match p.apply("parcel", &id.to_string(), &body) {
        Err(SyncError::Reject(why)) => assert!(why.contains("pickup code"), "{why}"),
        other => panic!("expected a rejection, got {other:?}"),
    }
    p.hub
        .market
        .db
        .call_blocking(|c| c.execute("DELETE FROM market_parcels WHERE id = 7", []))
        .map_err(DbError::from)
        .expect("gone");
    // The hub's reminder check leaves the node's parcel to the node, however
    // long it waits.
    p.hub
        .market
        .db
        .call_blocking(move |c| {
            c.execute(
                "UPDATE market_parcels SET arrived_at = 0 WHERE id = $1",
                [id],
            )
        })
        .map_err(DbError::from)
        .expect("arrived long ago");
    let reminded = call(&p.hub, |c| parcels::record_reminders(c, 3)).expect("reminders");
    assert_eq!(reminded, 0);
    p.apply("parcel", &id.to_string(), &body)
        .expect("the node's copy again");

    // Collected on the node, it comes up collected.
    let u = op.clone();
    call(&p.node, move |c| {
        parcels::collect(c, &u, id, &obj(json!({"code": code})))
    })
    .expect("collected at the station");
    p.up();
    let u = county.clone();
    let on_hub = call(&p.hub, move |c| parcels::get(c, &u, id)).expect("parcel");
    assert_eq!(on_hub["status"], json!("collected"));
    assert_eq!(on_hub["events"].as_array().map(Vec::len), Some(3));
}

fn code_of(e: &MarketError) -> Option<&'static str> {
    code(e)
}

#[tokio::test]
async fn an_online_order_waits_at_the_node_and_its_pickup_goes_up() {
    let p = pair("pickup");
    let op = both(&p, "op", Role::StationOperator, Some(VILLAGE));
    let placed = p
        .hub
        .order(&p.buyer, None, one_line(p.station, p.product, 2))
        .await
        .expect("online order");
    let id = serde_json::from_str::<Value>(&placed.body).expect("json")["id"]
        .as_i64()
        .expect("order id");
    assert!(id < ID_SPAN);
    // An online order for another village's station does not come down.
    let elsewhere = p.hub.station(OTHER_VILLAGE, "竹林村服务站");
    let other = p
        .hub
        .order(&p.buyer, None, one_line(elsewhere, p.product, 1))
        .await
        .expect("order for another village");
    let other = serde_json::from_str::<Value>(&other.body).expect("json")["id"]
        .as_i64()
        .expect("order id");

    p.down();
    let u = op.clone();
    let waiting = call(&p.node, move |c| pickups::list(c, &u)).expect("list on the node");
    assert_eq!(waiting.len(), 1, "{waiting:?}");
    assert_eq!(waiting[0]["id"], json!(id));
    assert_eq!(waiting[0]["buyer_name"], json!("buyer"));
    assert_eq!(waiting[0]["lines"][0]["quantity"], json!(2));
    assert_eq!(waiting[0]["picked_up_at"], Value::Null);
    // The copy is not a node order: nothing goes up for it.
    assert!(p.outbox().is_empty(), "{:?}", p.outbox());

    // Handed over at the station (the buyer paid cash), once.
    let u = op.clone();
    let done = call(&p.node, move |c| {
        pickups::pickup(c, &u, id, &obj(json!({"method": "cash"})))
    })
    .expect("pickup on the node");
    assert!(done["picked_up_at"].as_i64().is_some());
    let u = op.clone();
    let e = call(&p.node, move |c| {
        pickups::pickup(c, &u, id, &obj(json!({})))
    })
    .expect_err("twice");
    assert_eq!(code(&e), Some("already_picked_up"));
    assert_eq!(p.outbox(), vec![("pickup".to_string(), id.to_string())]);
    // On the hub the handover is the node's to record.
    let u = p.hub.user("admin", Role::Admin, None);
    let e = call(&p.hub, move |c| pickups::pickup(c, &u, id, &obj(json!({}))))
        .expect_err("pickup on the hub");
    assert_eq!(code(&e), Some("node_only"));

    p.up();
    let buyer = p.buyer.clone();
    let on_hub = call(&p.hub, move |c| orders::get(c, &buyer, id)).expect("order");
    assert_eq!(on_hub["status"], json!("collected"));
    assert_eq!(on_hub["payment"], json!("paid_at_station"));
    assert_eq!(on_hub["payment_method"], json!("cash"));
    const EVENTS: &str =
        "SELECT id, status FROM market_order_events WHERE order_id = $1 ORDER BY id";
    let events = rows(&p.hub, EVENTS, id);
    assert_eq!(
        events.iter().map(|e| e.1.as_str()).collect::<Vec<_>>(),
        ["placed", "collected", "payment:paid_at_station"]
    );
    // Applied again: nothing changes.
    let body = p.export("pickup", &id.to_string());
    p.apply("pickup", &id.to_string(), &body).expect("again");
    assert_eq!(rows(&p.hub, EVENTS, id), events);
    // Collected, it no longer waits: the node's copy goes at the next sync.
    p.down();
    let u = op.clone();
    assert!(
        call(&p.node, move |c| pickups::list(c, &u))
            .expect("list")
            .is_empty()
    );

    // A pickup naming another village's order is refused.
    let mut bad = body.clone();
    bad["order_id"] = json!(other);
    match p.apply("pickup", &other.to_string(), &bad) {
        Err(SyncError::Reject(why)) => assert!(why.contains("village"), "{why}"),
        r => panic!("expected a rejection, got {r:?}"),
    }

    // An order cancelled on the hub while the node handed it over: refused,
    // naming why; the hub's order stays cancelled.
    let placed = p
        .hub
        .order(&p.buyer, None, one_line(p.station, p.product, 1))
        .await
        .expect("second online order");
    let second = serde_json::from_str::<Value>(&placed.body).expect("json")["id"]
        .as_i64()
        .expect("order id");
    // Paid online at the hub's counter first: the station takes no payment.
    let u = op.clone();
    call(&p.hub, move |c| {
        orders::payment(
            c,
            &u,
            second,
            &obj(json!({"state": "paid_at_station", "method": "qr"})),
        )
    })
    .expect("paid on the hub");
    p.down();
    let u = op.clone();
    let e = call(&p.node, move |c| {
        pickups::pickup(c, &u, second, &obj(json!({"method": "cash"})))
    })
    .expect_err("paid twice");
    assert_eq!(
        (code(&e), field(&e)),
        (Some("already_paid"), Some("method"))
    );
    let u = op.clone();
    call(&p.node, move |c| {
        pickups::pickup(c, &u, second, &obj(json!({})))
    })
    .expect("pickup during the cut");
    // Naming another station than the order's is refused.
    let mut bad = p.export("pickup", &second.to_string());
    bad["station_id"] = json!(elsewhere);
    match p.apply("pickup", &second.to_string(), &bad) {
        Err(SyncError::Reject(why)) => assert!(why.contains("station"), "{why}"),
        r => panic!("expected a rejection, got {r:?}"),
    }
    let buyer = p.buyer.clone();
    call(&p.hub, move |c| {
        orders::transition(c, &buyer, second, &obj(json!({"status": "cancelled"})))
    })
    .expect("cancelled on the hub");
    let body = p.export("pickup", &second.to_string());
    match p.apply("pickup", &second.to_string(), &body) {
        Err(SyncError::Reject(why)) => assert!(why.contains("cancelled"), "{why}"),
        r => panic!("expected a rejection, got {r:?}"),
    }
    let buyer = p.buyer.clone();
    let on_hub = call(&p.hub, move |c| orders::get(c, &buyer, second)).expect("order");
    assert_eq!(on_hub["status"], json!("cancelled"));
}
