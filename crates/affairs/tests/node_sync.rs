//! Village affairs between a village node and its hub (docs/affairs.md,
//! "Village node"): two affairs domains opened as the binary opens them, "hub"
//! and "node" (the node made one with `set_node_self`), with records carried
//! between them through the kinds `Domain::sync_kinds` registers, as the node
//! protocol does: down = the hub's snapshots applied on the node in one
//! transaction, then the files the node lacks fetched one by one; up = each
//! outbox record exported on the node and applied on the hub.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use cunlink_affairs::{Affairs, AffairsDeps, AffairsError};
use cunlink_core::auth::{self, AuthService, Role, User};
use cunlink_core::notify::{NotifyUsers, UserNotice};
use cunlink_core::sql::{Connection, TransactionBehavior};
use cunlink_core::sync::{ID_SPAN, NodeSelf, SyncError, SyncKinds};
use cunlink_core::{Config, Db, DbError};
use cunlink_web::Domain;
use serde_json::{Value, json};

const VILLAGE: &str = "茶香村";
const OTHER: &str = "竹林村";
const DAY: i64 = 86_400_000;

/// The notify port as the alert crate's outbox sees it: what was queued.
#[derive(Default)]
struct Queued(Mutex<Vec<UserNotice>>);

impl NotifyUsers for Queued {
    fn enqueue(&self, _conn: &Connection, n: &UserNotice) -> cunlink_core::sql::Result<usize> {
        self.0.lock().unwrap().push(n.clone());
        Ok(n.user_ids.len())
    }
    fn wake(&self) {}
}

struct Side {
    affairs: Arc<Affairs>,
    auth: AuthService,
    queued: Arc<Queued>,
    _dir: PathBuf,
}

fn open(tag: &str) -> Side {
    let mut raw = [0u8; 8];
    cunlink_core::random::fill(&mut raw);
    let dir = std::env::temp_dir().join(format!(
        "cunlink-affairs-{tag}-{}-{:x}",
        std::process::id(),
        u64::from_le_bytes(raw)
    ));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let config = Config {
        data_dir: dir.clone(),
        ..Config::default()
    };
    let db = Db::open(&config.app_db_path()).expect("open db");
    db.migrate("core", auth::MIGRATIONS).expect("core schema");
    db.migrate("sync", cunlink_core::sync::MIGRATIONS)
        .expect("sync schema");
    let auth = AuthService::new(db.clone());
    let queued = Arc::new(Queued::default());
    let affairs = Affairs::open(
        &config,
        AffairsDeps {
            db,
            auth: auth.clone(),
            notify: queued.clone(),
        },
    )
    .expect("affairs");
    Side {
        affairs,
        auth,
        queued,
        _dir: dir,
    }
}

fn obj(v: Value) -> serde_json::Map<String, Value> {
    v.as_object().expect("object").clone()
}

struct Pair {
    hub: Side,
    node: Side,
    kinds: SyncKinds,
    village: i64,
    official: User,
    wang: User,
    li: User,
    staff: User,
}

/// A hub and a node of VILLAGE (number 1) with the same users (made in the same
/// order, so with the same ids, as the accounts kind would bring them down).
fn pair(tag: &str) -> Pair {
    let hub = open(&format!("{tag}-hub"));
    let node = open(&format!("{tag}-node"));
    let mut users = Vec::new();
    for side in [&hub, &node] {
        let mk = |n: &str, r: Role, v: Option<&str>| {
            side.auth
                .create_user_blocking(n, "a long enough password", r, v)
                .expect("user")
        };
        users.push((
            mk("cunguan", Role::VillageOfficial, Some(VILLAGE)),
            mk("wang", Role::Farmer, Some(VILLAGE)),
            mk("li", Role::Farmer, Some(VILLAGE)),
            mk("county", Role::CountyStaff, None),
            mk("other", Role::Farmer, Some(OTHER)),
        ));
    }
    assert_eq!(users[0].1.id, users[1].1.id);
    assert_eq!(users[0].4.village_id, users[1].4.village_id);
    let (official, wang, li, staff, _) = users.remove(0);
    let village = wang.village_id.expect("village");
    node.affairs
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
    hub.affairs.clone().sync_kinds(&mut kinds);
    Pair {
        hub,
        node,
        kinds,
        village,
        official,
        wang,
        li,
        staff,
    }
}

/// Rows of `sql` as text, to compare a database before and after.
fn dump(side: &Side, sql: &'static str) -> Vec<String> {
    let n = sql
        .split(" FROM ")
        .next()
        .unwrap_or("")
        .matches(',')
        .count()
        + 1;
    side.affairs
        .db
        .call_blocking(move |c| {
            let mut st = c.prepare(sql)?;
            let rows = st.query_map([], |r| {
                let mut s = String::new();
                for i in 0..n {
                    let v: cunlink_core::sql::Value = r.get(i)?;
                    s.push_str(&format!("{v:?}|"));
                }
                Ok(s)
            })?;
            Ok::<_, DbError>(rows.collect::<Result<Vec<_>, _>>()?)
        })
        .expect("dump")
}

fn node_state(p: &Pair) -> Vec<Vec<String>> {
    [
        "SELECT id, village_id, category, title, body, urgent, group_id, expires_at, photos, audio, created_by, created_at FROM affairs_notices ORDER BY id",
        "SELECT notice_id, user_id, read_at FROM affairs_notice_recipients ORDER BY notice_id, user_id",
        "SELECT id, village_id, name FROM affairs_groups ORDER BY id",
        "SELECT group_id, user_id FROM affairs_group_members ORDER BY group_id, user_id",
        "SELECT village_id, hash, content_type, length(bytes) FROM affairs_files ORDER BY hash",
        "SELECT village_id, hash, content_type, created_at FROM affairs_files_wanted ORDER BY hash",
        "SELECT COUNT(*) FROM core_sync_outbox",
    ]
    .into_iter()
    .map(|sql| dump(&p.node, sql))
    .collect()
}

impl Pair {
    /// Every down kind in one node transaction, then the files the node lacks.
    fn down(&self) -> Result<(), String> {
        let village = self.village;
        let mut snapshots = Vec::new();
        for k in &self.kinds.down {
            let rows = self
                .hub
                .affairs
                .db
                .call_blocking(|c| Ok::<_, DbError>(k.snapshot(c, village)))
                .expect("db")
                .expect("snapshot");
            snapshots.push(rows);
        }
        self.apply_down(&snapshots)?;
        for k in &self.kinds.down {
            let missing = self
                .node
                .affairs
                .db
                .call_blocking(|c| Ok::<_, DbError>(k.blobs_missing(c)))
                .expect("db")
                .expect("missing");
            for key in missing {
                let bytes = self
                    .hub
                    .affairs
                    .db
                    .call_blocking(|c| Ok::<_, DbError>(k.blob(c, village, &key)))
                    .expect("db")
                    .expect("blob")
                    .ok_or_else(|| format!("the hub has no file {key}"))?;
                self.put_blob(k.kind(), &key, &bytes)?;
            }
        }
        Ok(())
    }

    fn apply_down(&self, snapshots: &[Vec<Value>]) -> Result<(), String> {
        let village = self.village;
        self.node
            .affairs
            .db
            .call_blocking(|c| {
                let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
                for (k, rows) in self.kinds.down.iter().zip(snapshots) {
                    if let Err(e) = k.apply(&tx, village, rows) {
                        return Ok(Err(format!("{}: {e}", k.kind())));
                    }
                }
                tx.commit()?;
                Ok::<_, DbError>(Ok(()))
            })
            .expect("db")
    }

    fn put_blob(&self, kind: &str, key: &str, bytes: &[u8]) -> Result<(), String> {
        let k = self
            .kinds
            .down
            .iter()
            .find(|k| k.kind() == kind)
            .expect("kind");
        let village = self.village;
        self.node
            .affairs
            .db
            .call_blocking(|c| {
                let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
                if let Err(e) = k.put_blob(&tx, village, key, bytes) {
                    return Ok(Err(e.to_string()));
                }
                tx.commit()?;
                Ok::<_, DbError>(Ok(()))
            })
            .expect("db")
    }

    /// The node's outbox, without repeats, exported and applied on the hub
    /// (each record once per call); the outbox is then emptied.
    fn up(&self) -> Vec<Result<(), SyncError>> {
        let recs: Vec<(String, String, Option<Value>)> = self
            .node
            .affairs
            .db
            .call_blocking(|c| {
                let keys: Vec<(String, String)> = c
                    .prepare("SELECT kind, key FROM core_sync_outbox GROUP BY kind, key ORDER BY MIN(id)")?
                    .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                    .collect::<Result<_, _>>()?;
                let mut out = Vec::new();
                for (kind, key) in keys {
                    let k = self.kinds.up_kind(&kind).expect("up kind");
                    out.push((kind, key.clone(), k.export(c, &key).expect("export")));
                }
                c.execute("DELETE FROM core_sync_outbox", [])?;
                Ok::<_, DbError>(out)
            })
            .expect("outbox");
        recs.into_iter()
            .filter_map(|(kind, key, body)| body.map(|b| (kind, key, b)))
            .map(|(kind, key, body)| self.apply_up(&kind, &key, &body))
            .collect()
    }

    fn apply_up(&self, kind: &str, key: &str, body: &Value) -> Result<(), SyncError> {
        let k = self.kinds.up_kind(kind).expect("kind").clone();
        let village = self.village;
        self.hub
            .affairs
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
}

fn code(e: AffairsError) -> String {
    match e {
        AffairsError::Conflict { code, .. } => code.to_string(),
        other => format!("not a conflict: {other}"),
    }
}

const PNG: &[u8] = b"\x89PNG\r\n\x1a\nnot really a picture, but its type is read from these bytes";

#[tokio::test]
async fn notices_groups_and_files_come_down_once_and_read_only() {
    let p = pair("notices");
    let hub = &p.hub.affairs;
    let r = hub
        .put_group(
            &p.official,
            obj(json!({"name": "养猪户", "members": ["wang"]})),
        )
        .await
        .expect("group");
    assert_eq!(r["members"], 1);
    let all = hub
        .create_notice(
            &p.official,
            obj(json!({"title": "停水", "body": "下午两点到五点停水", "category": "通知"})),
        )
        .await
        .expect("notice");
    let pigs = hub
        .create_notice(
            &p.official,
            obj(json!({"title": "防疫", "body": "猪瘟疫苗", "category": "notice", "group": "养猪户"})),
        )
        .await
        .expect("group notice");
    let hash = hub
        .attach(&p.official, all, "image", PNG.to_vec())
        .await
        .expect("photo");

    p.down().expect("down");
    let node = &p.node.affairs;
    // Residents read their notices at the node, the group's only its members.
    let n = node.notice(&p.wang, all).await.expect("notice at the node");
    assert_eq!(
        (n.title.as_str(), n.photos.clone()),
        ("停水", vec![hash.clone()])
    );
    let wang: Vec<i64> = node
        .notices(&p.wang, None, 50)
        .await
        .expect("list")
        .iter()
        .map(|n| n.id)
        .collect();
    assert_eq!(wang, vec![pigs, all]);
    let li: Vec<i64> = node
        .notices(&p.li, None, 50)
        .await
        .expect("list")
        .iter()
        .map(|n| n.id)
        .collect();
    assert_eq!(li, vec![all]);
    assert_eq!(
        node.notice(&p.wang, pigs)
            .await
            .expect("n")
            .group
            .as_deref(),
        Some("养猪户")
    );
    let (ct, bytes) = node
        .file(&p.wang, hash.clone())
        .await
        .expect("photo at the node");
    assert_eq!((ct.as_str(), bytes.as_slice()), ("image/png", PNG));

    // A read at the node is the node's; applying the same snapshots again
    // (and a changed notice list) keeps it, and changes nothing else.
    node.read_notice(&p.wang, all).await.expect("read");
    let before = node_state(&p);
    p.down().expect("down again");
    assert_eq!(node_state(&p), before, "applied twice = no change");
    hub.create_notice(
        &p.official,
        obj(json!({"title": "开会", "body": "周五开会", "category": "event"})),
    )
    .await
    .expect("third notice");
    p.down().expect("down with a new notice");
    assert!(
        node.notice(&p.wang, all).await.expect("n").read,
        "the read mark stays"
    );
    assert_eq!(
        dump(&p.node, "SELECT COUNT(*) FROM affairs_files"),
        vec!["Integer(1)|".to_string()],
        "the file is not fetched again"
    );

    // The read goes up for the officials' receipts on the hub, once.
    let r = hub.receipts(&p.official, all, 100).await.expect("receipts");
    assert_eq!(r["read_count"], 0, "{r}");
    let applied = p.up();
    assert_eq!(applied.len(), 1, "{applied:?}");
    assert!(applied[0].is_ok(), "{:?}", applied[0]);
    let r = hub.receipts(&p.official, all, 100).await.expect("receipts");
    assert_eq!(
        (r["read_count"].as_i64(), r["read"][0]["user"].as_str()),
        (Some(1), Some("wang")),
        "{r}"
    );
    let key = format!("{all}:{}", p.wang.id);
    let read = json!({"notice_id": all, "user_id": p.wang.id, "read_at": 1});
    p.apply_up("notice_read", &key, &read).expect("again");
    let again = hub.receipts(&p.official, all, 100).await.expect("receipts");
    assert_eq!(again, r, "the first read stays");
    let e = p
        .apply_up(
            "notice_read",
            &format!("{}:{}", all + 100, p.wang.id),
            &json!({"notice_id": all + 100, "user_id": p.wang.id, "read_at": 1}),
        )
        .expect_err("no such notice of the village");
    assert!(e.to_string().contains("village"), "{e}");

    // The node's copy is read-only.
    for e in [
        node.create_notice(
            &p.official,
            obj(json!({"title": "x", "body": "y", "category": "notice"})),
        )
        .await
        .map(|_| ()),
        node.attach(&p.official, all, "image", PNG.to_vec())
            .await
            .map(|_| ()),
        node.put_group(&p.official, obj(json!({"name": "g", "members": []})))
            .await
            .map(|_| ()),
    ] {
        assert_eq!(code(e.expect_err("refused on a node")), "hub_only");
    }

    // Another village's notice, and bytes that are not the file, are refused.
    let notices = p
        .kinds
        .down
        .iter()
        .position(|k| k.kind() == "notices")
        .unwrap();
    let mut snaps: Vec<Vec<Value>> = p.kinds.down.iter().map(|_| Vec::new()).collect();
    let mut poisoned = p
        .hub
        .affairs
        .db
        .call_blocking(|c| Ok::<_, DbError>(p.kinds.down[notices].snapshot(c, p.village)))
        .expect("db")
        .expect("snapshot");
    poisoned[0]["village_id"] = json!(p.village + 1);
    snaps[notices] = poisoned;
    let e = p.apply_down(&snaps).expect_err("another village's notice");
    assert!(e.contains("another village"), "{e}");
    assert_eq!(node_state(&p).len(), 7);
    assert!(
        node.notice(&p.wang, all).await.is_ok(),
        "the refused snapshot changed nothing"
    );
    let photo2 = hub
        .attach(&p.official, all, "image", [PNG, b"2"].concat())
        .await
        .expect("second photo");
    let files = p
        .kinds
        .down
        .iter()
        .position(|k| k.kind() == "notice_files")
        .unwrap();
    let list = p
        .hub
        .affairs
        .db
        .call_blocking(|c| Ok::<_, DbError>(p.kinds.down[files].snapshot(c, p.village)))
        .expect("db")
        .expect("snapshot");
    let mut snaps: Vec<Vec<Value>> = Vec::new();
    for (i, k) in p.kinds.down.iter().enumerate() {
        snaps.push(if i == files {
            list.clone()
        } else {
            p.hub
                .affairs
                .db
                .call_blocking(|c| Ok::<_, DbError>(k.snapshot(c, p.village)))
                .expect("db")
                .expect("snapshot")
        });
    }
    p.apply_down(&snaps).expect("down");
    let e = p
        .put_blob("notice_files", &photo2, PNG)
        .expect_err("bytes of another file");
    assert!(e.contains("do not match"), "{e}");
    p.put_blob("notice_files", &photo2, &[PNG, b"2"].concat())
        .expect("the right bytes");
    // The hub gives only files its village's notices name.
    let other = p
        .hub
        .affairs
        .db
        .call_blocking(|c| Ok::<_, DbError>(p.kinds.down[files].blob(c, p.village + 1, &hash)))
        .expect("db")
        .expect("blob");
    assert!(
        other.is_none(),
        "another village's node gets no file of this one"
    );
}

#[tokio::test]
async fn feedback_goes_up_under_its_id_and_is_the_nodes() {
    let p = pair("feedback");
    let node = &p.node.affairs;
    let hub = &p.hub.affairs;
    let r = node
        .report(
            &p.wang,
            obj(json!({"category": "road", "text": "村口的路坏了", "place": "村口"})),
        )
        .await
        .expect("report");
    let id = r["id"].as_i64().unwrap();
    assert!(
        (ID_SPAN..2 * ID_SPAN).contains(&id),
        "the node's range: {id}"
    );
    node.ack_feedback(&p.official, id)
        .await
        .expect("ack at the node");
    let applied = p.up();
    assert_eq!(applied.len(), 1, "one record, however many changes");
    assert!(applied[0].is_ok(), "{:?}", applied[0]);
    let at_hub = hub.feedback(&p.staff, id).await.expect("on the hub");
    assert_eq!(
        (at_hub["status"].as_str(), at_hub["text"].as_str()),
        (Some("acknowledged"), Some("村口的路坏了"))
    );

    // The report's photo goes up after its record, once.
    let hash = node
        .feedback_photo(&p.wang, id, PNG.to_vec())
        .await
        .expect("photo at the node");
    assert!(p.up().iter().all(Result::is_ok));
    let fk = p.kinds.up_kind("feedback").unwrap().clone();
    let unsent = || {
        p.node
            .affairs
            .db
            .call_blocking(|c| Ok::<_, DbError>(fk.blobs_unsent(c)))
            .expect("db")
            .expect("unsent")
    };
    assert_eq!(unsent(), vec![hash.clone()]);
    let bytes = p
        .node
        .affairs
        .db
        .call_blocking(|c| Ok::<_, DbError>(fk.blob(c, &hash)))
        .expect("db")
        .expect("blob")
        .expect("the node has it");
    let put = |key: &str, bytes: &[u8]| {
        p.hub
            .affairs
            .db
            .call_blocking(|c| Ok::<_, DbError>(fk.put_blob(c, p.village, key, bytes)))
            .expect("db")
    };
    let e = put(&hash, &[PNG, b"x"].concat()).expect_err("other bytes");
    assert!(e.to_string().contains("do not match"), "{e}");
    let stray = [PNG, b"stray"].concat();
    let stray_hash = cunlink_affairs::files::hash(&stray);
    let e = put(&stray_hash, &stray).expect_err("no feedback names it");
    assert!(e.to_string().contains("names"), "{e}");
    put(&hash, &bytes).expect("stored on the hub");
    p.node
        .affairs
        .db
        .call_blocking(|c| Ok::<_, DbError>(fk.blob_sent(c, &hash)))
        .expect("db")
        .expect("sent");
    assert!(unsent().is_empty(), "not sent again");
    let (_, at_hub) = hub
        .file(&p.staff, hash.clone())
        .await
        .expect("the photo on the hub");
    assert_eq!(at_hub, PNG);

    // Applied twice: no change.
    let body = p
        .node
        .affairs
        .db
        .call_blocking(|c| {
            Ok::<_, DbError>(
                p.kinds
                    .up_kind("feedback")
                    .unwrap()
                    .export(c, &id.to_string()),
            )
        })
        .expect("db")
        .expect("export")
        .expect("exists");
    let before = dump(
        &p.hub,
        "SELECT id, village_id, reporter_id, anonymous, category, text, place, photo, status, assignee_id, reply, rating, created_at, acked_at, resolved_at, escalated_ack_at, escalated_resolve_at FROM affairs_feedback ORDER BY id",
    );
    p.apply_up("feedback", &id.to_string(), &body)
        .expect("again");
    assert_eq!(
        dump(
            &p.hub,
            "SELECT id, village_id, reporter_id, anonymous, category, text, place, photo, status, assignee_id, reply, rating, created_at, acked_at, resolved_at, escalated_ack_at, escalated_resolve_at FROM affairs_feedback ORDER BY id"
        ),
        before
    );

    // On the hub it is read-only: the node handles it.
    let e = hub
        .resolve_feedback(&p.official, id, obj(json!({"reply": "修好了"})))
        .await
        .expect_err("the hub does not change the node's feedback");
    assert_eq!(code(e), "node_feedback");
    assert_eq!(
        code(hub.ack_feedback(&p.official, id).await.expect_err("ack")),
        "node_feedback"
    );

    // Poisoned records: another village's, an id of the hub's own range.
    let mut other = body.clone();
    other["village_id"] = json!(p.village + 1);
    let e = p
        .apply_up("feedback", &id.to_string(), &other)
        .expect_err("village");
    assert!(e.to_string().contains("village"), "{e}");
    let mut low = body.clone();
    low["id"] = json!(5);
    let e = p.apply_up("feedback", "5", &low).expect_err("range");
    assert!(e.to_string().contains("range"), "{e}");
    assert_eq!(
        dump(
            &p.hub,
            "SELECT id, village_id, reporter_id, anonymous, category, text, place, photo, status, assignee_id, reply, rating, created_at, acked_at, resolved_at, escalated_ack_at, escalated_resolve_at FROM affairs_feedback ORDER BY id"
        ),
        before
    );

    // Escalation runs where the feedback lives: the hub's pass leaves it
    // alone; the node marks it, and the hub tells the township when the mark
    // comes up — once, however often the record is applied.
    hub.clock.advance(20 * DAY);
    assert_eq!(hub.escalate_now().await.expect("hub pass"), 0);
    node.clock.advance(20 * DAY);
    assert_eq!(
        node.escalate_now().await.expect("node pass"),
        1,
        "unresolved"
    );
    assert!(
        p.node.queued.0.lock().unwrap().is_empty(),
        "the node tells no one itself"
    );
    assert!(p.up().iter().all(Result::is_ok));
    let told = p.hub.queued.0.lock().unwrap().clone();
    assert_eq!(told.len(), 1, "{told:?}");
    assert_eq!(told[0].user_ids, vec![p.staff.id]);
    assert!(told[0].title.contains("unresolved"), "{}", told[0].title);
    let body = p
        .node
        .affairs
        .db
        .call_blocking(|c| {
            Ok::<_, DbError>(
                p.kinds
                    .up_kind("feedback")
                    .unwrap()
                    .export(c, &id.to_string()),
            )
        })
        .expect("db")
        .expect("export")
        .expect("exists");
    p.apply_up("feedback", &id.to_string(), &body)
        .expect("again");
    assert_eq!(p.hub.queued.0.lock().unwrap().len(), 1, "told once");
    let at_hub = hub.feedback(&p.staff, id).await.expect("on the hub");
    assert_eq!(at_hub["escalated"], "unresolved");
}
