//! The school between a village node and its hub (docs/school.md "Village
//! nodes"): two schools opened as the binary opens them, "hub" and "node" (the
//! node made one with `set_node_self`), with records carried between them
//! through the kinds `Domain::sync_kinds` registers, as the node protocol does:
//! down = the hub's snapshot of each kind applied on the node in one
//! transaction; up = each outbox record exported on the node and applied on the
//! hub in a transaction.

use std::path::PathBuf;
use std::sync::Arc;

use cunlink_core::auth::{self, AuthService, Role, User};
use cunlink_core::sql::{Connection, TransactionBehavior, params};
use cunlink_core::sync::{ID_SPAN, NodeSelf, SyncError, SyncKinds};
use cunlink_core::{Config, Db, DbError};
use cunlink_school::course_store as cs;
use cunlink_school::{School, SchoolDeps, SchoolError, statements};
use cunlink_web::Domain;
use serde_json::Value;

const VILLAGE: &str = "茶香村";
const OTHER: &str = "竹林村";

struct Side {
    school: Arc<School>,
    auth: AuthService,
    _dir: PathBuf,
}

fn open(tag: &str) -> Side {
    let mut raw = [0u8; 8];
    cunlink_core::random::fill(&mut raw);
    let dir = std::env::temp_dir().join(format!(
        "cunlink-school-{tag}-{}-{:x}",
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
    let school = School::open(
        &config,
        SchoolDeps {
            db,
            auth: auth.clone(),
        },
    )
    .expect("school");
    Side {
        school,
        auth,
        _dir: dir,
    }
}

impl Side {
    fn user(&self, name: &str, role: Role, village: Option<&str>) -> User {
        self.auth
            .create_user_blocking(name, "a long enough password", role, village)
            .expect("user")
    }

    fn with<T>(&self, f: impl FnOnce(&Connection) -> Result<T, SchoolError>) -> T {
        self.school.db.call_blocking(|c| f(c)).expect("database")
    }

    /// The rows of `sql` as text, to compare a table before and after.
    fn dump(&self, sql: &str) -> Vec<String> {
        self.with(|c| {
            let mut st = c.prepare(sql)?;
            let rows = st
                .query_map([], |r| {
                    // Every column: reading past the last one is an error.
                    let mut line = Vec::new();
                    while let Ok(v) = r.get::<_, cunlink_core::sql::Value>(line.len()) {
                        line.push(format!("{v:?}"));
                    }
                    Ok(line.join("|"))
                })?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(rows)
        })
    }
}

struct Pair {
    hub: Side,
    node: Side,
    kinds: SyncKinds,
    village: i64,
    other: i64,
    teacher: User,
    learner: User,
}

/// A hub with courses and classes of VILLAGE, a county-wide course, and
/// another village's course; a node of VILLAGE (number 1). Users are made in
/// the same order on both, so they have the same ids (accounts come down with
/// the node protocol, which this test does not run).
fn pair(tag: &str) -> Pair {
    // The live classes' SFU starts with the school and needs a runtime.
    let rt = Box::leak(Box::new(tokio::runtime::Runtime::new().expect("runtime")));
    let _g = rt.enter();
    let hub = open(&format!("{tag}-hub"));
    let node = open(&format!("{tag}-node"));
    let mut users = Vec::new();
    for side in [&hub, &node] {
        users.push((
            side.user("laoshi", Role::Teacher, Some(VILLAGE)),
            side.user("cunmin", Role::Villager, Some(VILLAGE)),
        ));
    }
    assert_eq!(users[0].0.id, users[1].0.id);
    assert_eq!(users[0].1.id, users[1].1.id);
    let (teacher, learner) = users.remove(0);
    let village = teacher.village_id.expect("village");
    let stranger = hub.user("zhulin", Role::Villager, Some(OTHER));
    let other = stranger.village_id.expect("other village");
    hub.with(|c| {
        c.execute(
            "INSERT INTO core_sync_nodes (id, node_id, village_id, credential_hash, created_at)
             VALUES (1, 'node-1', $1, 'hash', 0)",
            [village],
        )?;
        Ok(())
    });
    node.with(|c| {
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
        )?;
        Ok(())
    });
    let mut kinds = SyncKinds::default();
    hub.school.clone().sync_kinds(&mut kinds);
    Pair {
        hub,
        node,
        kinds,
        village,
        other,
        teacher,
        learner,
    }
}

/// A course with one lesson and one enrolled learner; (course, item).
fn course(
    c: &Connection,
    title: &str,
    village: Option<i64>,
    by: i64,
    learner: Option<i64>,
) -> (i64, i64) {
    let id = cs::create_course(c, title, "villagers", "", village, by).expect("course");
    let item = cs::add_item(c, id, "lesson", "第一课", "body", None, None, None).expect("item");
    if let Some(l) = learner {
        cs::enrol(c, id, Some(l), None).expect("enrol");
    }
    (id, item)
}

const NODE_TABLES: &[&str] = &[
    "SELECT * FROM school_courses ORDER BY id",
    "SELECT * FROM school_course_items ORDER BY id",
    "SELECT * FROM school_enrolments ORDER BY course_id, user_id, class_id",
    "SELECT * FROM school_classes ORDER BY id",
    "SELECT * FROM school_class_members ORDER BY class_id, user_id",
    "SELECT * FROM school_subscriptions ORDER BY id",
];

impl Pair {
    fn snapshots(&self) -> Vec<Vec<Value>> {
        let village = self.village;
        self.kinds
            .down
            .iter()
            .map(|k| {
                self.hub
                    .with(|c| Ok(k.snapshot(c, village)))
                    .unwrap_or_else(|e| panic!("snapshot {}: {e}", k.kind()))
            })
            .collect()
    }

    /// Apply `snapshots` on the node in one transaction; the first rejection.
    fn apply_down(&self, snapshots: &[Vec<Value>]) -> Result<(), SyncError> {
        let village = self.village;
        self.node
            .school
            .db
            .call_blocking(|c| {
                let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
                for (k, rows) in self.kinds.down.iter().zip(snapshots) {
                    if let Err(e) = k.apply(&tx, village, rows) {
                        return Ok::<_, DbError>(Err(e));
                    }
                }
                tx.commit()?;
                Ok(Ok(()))
            })
            .expect("db")
    }

    fn down(&self) {
        self.apply_down(&self.snapshots()).expect("down");
    }

    fn node_tables(&self) -> Vec<Vec<String>> {
        NODE_TABLES.iter().map(|q| self.node.dump(q)).collect()
    }

    fn outbox(&self, side: &Side) -> Vec<(String, String)> {
        side.with(|c| {
            let mut st = c.prepare("SELECT kind, key FROM core_sync_outbox ORDER BY id")?;
            let rows = st
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(rows)
        })
    }

    fn export(&self, kind: &str, key: &str) -> Value {
        let k = self.kinds.up_kind(kind).expect("up kind");
        self.node
            .with(|c| Ok(k.export(c, key)))
            .expect("export")
            .expect("the statement exists")
    }

    /// Apply one statement on the hub as a node of `village` sends it.
    fn apply_up(&self, village: i64, key: &str, body: &Value) -> Result<(), SyncError> {
        self.apply_up_kind("school_statement", village, key, body)
    }

    /// Apply one record of `kind` on the hub as a node of `village` sends it.
    fn apply_up_kind(
        &self,
        kind: &str,
        village: i64,
        key: &str,
        body: &Value,
    ) -> Result<(), SyncError> {
        let k = self.kinds.up_kind(kind).expect("up kind");
        self.hub
            .school
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

#[test]
fn courses_classes_and_subscriptions_come_down_once_and_only_the_villages() {
    let p = pair("down");
    let (teacher, learner) = (p.teacher.id, p.learner.id);
    let (village, other) = (p.village, p.other);
    let (own, county, foreign, class) = p.hub.with(|c| {
        let own = course(c, "用手机卖茶", Some(village), teacher, Some(learner));
        let county = course(c, "防诈骗", None, teacher, None);
        let foreign = course(c, "竹编", Some(other), teacher, None);
        let class = cs::create_class(c, "三年级", "茶香小学", Some(village), teacher)?;
        cs::add_member(c, class, learner)?;
        cs::enrol(c, county.0, None, Some(class))?;
        cs::create_class(c, "竹林班", "竹林小学", Some(other), teacher)?;
        for (v, ch) in [(village, 7), (village, 9), (other, 7)] {
            c.execute(
                "INSERT INTO school_subscriptions (village_id, channel_id, created_at) VALUES ($1, $2, 0)",
                params![v, ch],
            )?;
        }
        Ok((own, county, foreign, class))
    });
    p.down();
    let got = p.node_tables();
    let courses = p.node.dump("SELECT id FROM school_courses ORDER BY id");
    assert_eq!(
        courses,
        vec![
            format!("Integer({})", own.0),
            format!("Integer({})", county.0)
        ],
        "the village's and the county-wide course, under the hub's ids; not {foreign:?}"
    );
    assert_eq!(
        p.node
            .dump("SELECT id, course_id FROM school_course_items ORDER BY id"),
        vec![
            format!("Integer({})|Integer({})", own.1, own.0),
            format!("Integer({})|Integer({})", county.1, county.0)
        ]
    );
    assert!(
        p.node.with(|c| Ok(cs::enrolled(c, own.0, learner)?)),
        "enrolled by name"
    );
    assert!(
        p.node.with(|c| Ok(cs::enrolled(c, county.0, learner)?)),
        "enrolled through the class"
    );
    assert_eq!(
        p.node.dump("SELECT id FROM school_classes"),
        vec![format!("Integer({class})")]
    );
    assert_eq!(
        p.node
            .with(|c| Ok(cunlink_school::sync::subscriptions::channels(c, village)?)),
        vec![7, 9]
    );
    assert_eq!(p.node.dump("SELECT 1 FROM school_subscriptions").len(), 2);

    // Applied twice: nothing changes.
    p.down();
    assert_eq!(p.node_tables(), got);

    // The hub drops a course and a subscription: the node's copy follows.
    p.hub.with(|c| {
        for sql in [
            "DELETE FROM school_course_items WHERE course_id = $1",
            "DELETE FROM school_enrolments WHERE course_id = $1",
            "DELETE FROM school_courses WHERE id = $1",
        ] {
            c.execute(sql, [own.0])?;
        }
        c.execute("DELETE FROM school_subscriptions WHERE channel_id = 9", [])?;
        Ok(())
    });
    p.down();
    assert_eq!(
        p.node.dump("SELECT id FROM school_courses ORDER BY id"),
        vec![format!("Integer({})", county.0)]
    );
    assert_eq!(p.node.dump("SELECT 1 FROM school_course_items").len(), 1);
    assert_eq!(
        p.node
            .with(|c| Ok(cunlink_school::sync::subscriptions::channels(c, village)?)),
        vec![7]
    );

    // Another village's rows in a snapshot are refused, and the node's copy
    // stays as it was (the transaction is not committed).
    let before = p.node_tables();
    let mut poisoned = p.snapshots();
    let subs = p
        .kinds
        .down
        .iter()
        .position(|k| k.kind() == "school_subscriptions")
        .unwrap();
    poisoned[subs].push(
        serde_json::json!({"id": 99, "village_id": other, "channel_id": 5,
        "created_by": null, "created_at": 0}),
    );
    let e = p
        .apply_down(&poisoned)
        .expect_err("another village's subscription");
    assert!(e.to_string().contains("another village"), "{e}");
    let mut poisoned = p.snapshots();
    let courses_k = p
        .kinds
        .down
        .iter()
        .position(|k| k.kind() == "school_courses")
        .unwrap();
    poisoned[courses_k][0]["village_id"] = other.into();
    let e = p
        .apply_down(&poisoned)
        .expect_err("another village's course");
    assert!(e.to_string().contains("another village"), "{e}");
    assert_eq!(p.node_tables(), before);
}

#[test]
fn each_side_changes_only_its_own_courses() {
    let p = pair("owner");
    let refused = |side: &Side, id: i64| match side
        .with(|c| Ok(cunlink_school::sync::require_course_owner(c, id)))
    {
        Err(SchoolError::Conflict(code, _)) => code,
        other => panic!("course {id} is refused: {other:?}"),
    };
    let (hub_course, node_course) = (5, ID_SPAN + 5);
    assert_eq!(refused(&p.node, hub_course), "hub_only");
    assert_eq!(refused(&p.hub, node_course), "node_owned");
    assert!(
        p.hub
            .with(|c| Ok(cunlink_school::sync::require_course_owner(c, hub_course)))
            .is_ok()
    );
    assert!(
        p.node
            .with(|c| Ok(cunlink_school::sync::require_course_owner(c, node_course)))
            .is_ok()
    );
    // Classes and subscriptions are the hub's alone.
    match p
        .node
        .with(|c| Ok(cunlink_school::sync::require_hub(c, "classes")))
    {
        Err(SchoolError::Conflict(code, _)) => assert_eq!(code, "hub_only"),
        other => panic!("a node refuses with 409 hub_only: {other:?}"),
    }
    assert!(
        p.hub
            .with(|c| Ok(cunlink_school::sync::require_hub(c, "classes")))
            .is_ok()
    );
}

#[test]
fn a_course_made_on_the_node_goes_up_under_its_id_once() {
    let p = pair("course-up");
    let (teacher, learner) = (p.teacher.id, p.learner.id);
    let (village, other) = (p.village, p.other);
    let class = p.hub.with(|c| {
        let class = cs::create_class(c, "三年级", "茶香小学", Some(village), teacher)?;
        cs::add_member(c, class, learner)?;
        Ok(class)
    });
    p.down();
    let (id, item) = p.node.with(|c| {
        let (id, item) = course(c, "村里的茶课", Some(village), teacher, Some(learner));
        cs::enrol(c, id, None, Some(class))?;
        Ok((id, item))
    });
    assert!(
        id >= ID_SPAN && item >= ID_SPAN,
        "node-range ids: {id} {item}"
    );
    let key = id.to_string();
    let mut queued = p.outbox(&p.node);
    queued.dedup();
    assert_eq!(queued, vec![("school_course".to_string(), key.clone())]);
    let body = p.export("school_course", &key);
    p.apply_up_kind("school_course", village, &key, &body)
        .expect("applied");
    let q = "SELECT * FROM school_courses ORDER BY id";
    let items = "SELECT * FROM school_course_items ORDER BY id";
    let enrol = "SELECT * FROM school_enrolments ORDER BY course_id, user_id, class_id";
    assert_eq!(
        p.hub.dump(q),
        p.node.dump(q),
        "the same course under the same id"
    );
    assert_eq!(p.hub.dump(items), p.node.dump(items));
    assert_eq!(p.hub.dump(enrol), p.node.dump(enrol));
    // Applied twice: nothing changes.
    let before = [p.hub.dump(q), p.hub.dump(items), p.hub.dump(enrol)];
    p.apply_up_kind("school_course", village, &key, &body)
        .expect("applied again");
    assert_eq!(
        [p.hub.dump(q), p.hub.dump(items), p.hub.dump(enrol)],
        before
    );

    // A statement naming it goes up after it.
    let uuid = statements::new_uuid();
    let (u2, l2) = (uuid.clone(), p.learner.clone());
    p.node.with(move |c| {
        let course = cs::course(c, id)?.expect("course");
        let item = cs::item(c, item)?.expect("item");
        statements::completed(c, &l2, &course, &item, &u2, None)?;
        Ok(())
    });
    let st = p.export("school_statement", &uuid);
    p.apply_up(village, &uuid, &st)
        .expect("statement of a node course");

    // The hub's snapshot leaves the node's course out, and the node's copy of
    // it survives the next down sync.
    p.down();
    assert_eq!(p.node.dump(q), p.hub.dump(q));
    assert!(p.node.with(|c| Ok(cs::course(c, id)?)).is_some());

    // Refused: another village's node, a hub id, a learner of another village.
    let reject = |village: i64, key: &str, body: &Value| {
        p.apply_up_kind("school_course", village, key, body)
            .expect_err("refused")
            .to_string()
    };
    assert!(reject(other, &key, &body).contains("not of the node's village"));
    let mut b = body.clone();
    b["id"] = 5.into();
    assert!(reject(village, "5", &b).contains("the hub's"));
    let mut b = body.clone();
    let stranger = p.hub.with(|c| {
        Ok(
            c.query_row("SELECT id FROM users WHERE username = 'zhulin'", [], |r| {
                r.get::<_, i64>(0)
            })?,
        )
    });
    let by_name = b["enrolments"]
        .as_array()
        .and_then(|a| a.iter().position(|e| e["user_id"].is_i64()))
        .expect("the learner's enrolment");
    b["enrolments"][by_name]["user_id"] = stranger.into();
    assert!(reject(village, &key, &b).contains("not of the node's village"));
    assert_eq!(
        [p.hub.dump(q), p.hub.dump(items), p.hub.dump(enrol)],
        before
    );
}

#[test]
fn statements_go_up_under_their_uuid_once_and_only_the_villages() {
    let p = pair("up");
    let (teacher, learner) = (p.teacher.clone(), p.learner.clone());
    let (village, other) = (p.village, p.other);
    let (own, foreign) = p.hub.with(|c| {
        let own = course(c, "用手机卖茶", Some(village), teacher.id, Some(learner.id));
        let foreign = course(c, "竹编", Some(other), teacher.id, None);
        Ok((own, foreign))
    });
    p.down();

    // A statement on the hub puts nothing in the hub's outbox (the triggers
    // are silent on a hub); on the node, one record per statement.
    p.hub.with(|c| {
        let course = cs::course(c, own.0)?.expect("course");
        let item = cs::item(c, own.1)?.expect("item");
        statements::completed(c, &learner, &course, &item, &statements::new_uuid(), None)?;
        Ok(())
    });
    assert!(p.outbox(&p.hub).is_empty());
    let uuid = statements::new_uuid();
    let u2 = uuid.clone();
    p.node.with(move |c| {
        let course = cs::course(c, own.0)?.expect("course came down");
        let item = cs::item(c, own.1)?.expect("item came down");
        statements::completed(c, &learner, &course, &item, &u2, Some((3, 4)))?;
        Ok(())
    });
    assert_eq!(
        p.outbox(&p.node),
        vec![("school_statement".to_string(), uuid.clone())]
    );

    let body = p.export("school_statement", &uuid);
    p.apply_up(village, &uuid, &body).expect("applied");
    let q = format!(
        "SELECT uuid, node, user_id, course_id, item_id, verb, score, max_score FROM school_statements WHERE uuid = '{uuid}'"
    );
    let stored = p.hub.dump(&q);
    assert_eq!(stored.len(), 1);
    assert_eq!(
        stored[0],
        format!(
            "Text(\"{uuid}\")|Text(\"{VILLAGE}\")|Integer({})|Integer({})|Integer({})|Text(\"completed\")|Integer(3)|Integer(4)",
            p.learner.id, own.0, own.1
        ),
        "same id, same course and item, named by the node's village"
    );
    // Applied twice: nothing changes.
    let all = "SELECT * FROM school_statements ORDER BY uuid";
    let before = p.hub.dump(all);
    p.apply_up(village, &uuid, &body).expect("applied again");
    assert_eq!(p.hub.dump(all), before);

    // Poisoned records are refused, naming why, and change nothing.
    let reject = |village: i64, key: &str, body: &Value| -> String {
        let e = p.apply_up(village, key, body).expect_err("refused");
        e.to_string()
    };
    assert!(reject(other, &uuid, &body).contains("not of the node's village"));
    let fresh = statements::new_uuid();
    let mut b = body.clone();
    b["uuid"] = fresh.clone().into();
    b["course_id"] = foreign.0.into();
    b["item_id"] = foreign.1.into();
    assert!(reject(village, &fresh, &b).contains("another village"));
    let mut b = body.clone();
    b["uuid"] = fresh.clone().into();
    b["user_id"] = p
        .hub
        .with(|c| {
            Ok(
                c.query_row("SELECT id FROM users WHERE username = 'zhulin'", [], |r| {
                    r.get::<_, i64>(0)
                })?,
            )
        })
        .into();
    assert!(reject(village, &fresh, &b).contains("not of the node's village"));
    let mut b = body.clone();
    b["item_id"] = foreign.1.into();
    b["uuid"] = fresh.clone().into();
    assert!(reject(village, &fresh, &b).contains("not an item of course"));
    assert!(reject(village, &statements::new_uuid(), &body).contains("differs from its key"));
    // The same UUID sent by another village's node (its learner, no course).
    let mut b = body.clone();
    b["user_id"] = Value::Null;
    b["course_id"] = Value::Null;
    b["item_id"] = Value::Null;
    assert!(reject(other, &uuid, &b).contains("another village's"));
    assert_eq!(p.hub.dump(all), before);
}
