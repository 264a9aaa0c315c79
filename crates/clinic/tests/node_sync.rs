//! The clinic between a village node and its hub (docs/clinic.md, "Village
//! node"): two clinics opened as the binary opens them, "hub" and "node" (the
//! node made one with `set_node_self`), with records carried between them
//! through the kinds `Domain::sync_kinds` registers, as the node protocol does:
//! down = the hub's snapshot applied on the node in one transaction; up = each
//! outbox record exported on the node and applied on the hub.

use std::path::PathBuf;
use std::sync::Arc;

use cunlink_clinic::{Clinic, ClinicError, input::Obj};
use cunlink_core::auth::{self, AuthService, Role, User};
use cunlink_core::notify::{NotifyUsers, UserNotice};
use cunlink_core::sql::{Connection, TransactionBehavior};
use cunlink_core::sync::{ID_SPAN, NodeSelf, SyncError, SyncKinds};
use cunlink_core::{Config, Db, DbError};
use cunlink_farm::{Farm, FarmDeps};
use cunlink_web::Domain;
use serde_json::{Value, json};

const VILLAGE: &str = "茶香村";
const OTHER_VILLAGE: &str = "竹林村";

/// Notices are the alert crate's (not a dependency of the clinic): none are
/// queued here.
struct NoNotices;

impl NotifyUsers for NoNotices {
    fn enqueue(&self, _: &Connection, _: &UserNotice) -> cunlink_core::sql::Result<usize> {
        Ok(0)
    }
    fn wake(&self) {}
}

struct Side {
    clinic: Arc<Clinic>,
    auth: AuthService,
    _dir: PathBuf,
}

impl Side {
    fn open(tag: &str) -> Side {
        let mut raw = [0u8; 8];
        cunlink_core::random::fill(&mut raw);
        let dir = std::env::temp_dir().join(format!(
            "cunlink-clinic-{tag}-{}-{:x}",
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
        db.migrate("cluster", cunlink_core::cluster::MIGRATIONS)
            .expect("cluster schema");
        db.migrate("sync", cunlink_core::sync::MIGRATIONS)
            .expect("sync schema");
        let auth = AuthService::new(db.clone());
        let farm = Farm::open(
            &config,
            FarmDeps {
                db: db.clone(),
                auth: auth.clone(),
                mqtt_port: 0,
                cluster: cunlink_core::cluster::Cluster::start(db.clone()),
            },
        )
        .expect("farm");
        let clinic = Clinic::open(
            &config,
            cunlink_clinic::ClinicDeps {
                db,
                auth: auth.clone(),
                farm,
                notify: Arc::new(NoNotices),
            },
        )
        .expect("clinic");
        Side {
            clinic,
            auth,
            _dir: dir,
        }
    }

    fn user(&self, name: &str, role: Role, village: Option<&str>) -> User {
        self.auth
            .create_user_blocking(name, "a long enough password", role, village)
            .expect("user")
    }

    fn sql<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> cunlink_core::sql::Result<T> + Send + 'static,
    ) -> T {
        self.clinic
            .db
            .call_blocking(move |c| f(c).map_err(DbError::from))
            .expect("sql")
    }

    fn count(&self, table: &'static str) -> i64 {
        self.sql(move |c| c.query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0)))
    }
}

fn obj(v: Value) -> Obj {
    match v {
        Value::Object(o) => o,
        _ => panic!("not an object"),
    }
}

fn id_of(v: &Value) -> i64 {
    v["id"].as_i64().expect("id")
}

fn code(e: ClinicError) -> &'static str {
    match e {
        ClinicError::Conflict { code, .. } => code,
        other => panic!("expected a 409, got {other:?}"),
    }
}

struct Pair {
    hub: Side,
    node: Side,
    kinds: SyncKinds,
    village: i64,
    admin: User,
    doctor: User,
    county: User,
    /// A patient the hub registered for the village (it comes down).
    hub_patient: i64,
}

/// A hub with a department, a county doctor in it and a patient of VILLAGE,
/// and a node of VILLAGE (number 1) that took the departments and patients
/// down. Users are made in the same order on both, so they have the same ids
/// (accounts come down with the node protocol, which this test does not run).
async fn pair(tag: &str) -> Pair {
    let hub = Side::open(&format!("{tag}-hub"));
    let node = Side::open(&format!("{tag}-node"));
    let mut users = Vec::new();
    for side in [&hub, &node] {
        users.push((
            side.user("admin", Role::Admin, None),
            side.user("cundoc", Role::Doctor, Some(VILLAGE)),
            side.user("neike", Role::Doctor, None),
            side.user("other", Role::Doctor, Some(OTHER_VILLAGE)),
        ));
    }
    assert_eq!(users[0].1.id, users[1].1.id);
    let (admin, doctor, county, _) = users.remove(0);
    let village = doctor.village_id.expect("village");
    hub.clinic
        .create_department(&admin, obj(json!({"name": "内科"})))
        .await
        .expect("department");
    hub.clinic
        .assign_department(county.clone(), "内科".into())
        .await
        .expect("county doctor");
    let hub_patient = id_of(
        &hub.clinic
            .create_patient(
                &doctor,
                obj(json!({"name": "王大妈", "sex": "female", "birth_date": "1950-03-01", "village": VILLAGE})),
            )
            .await
            .expect("hub patient"),
    );
    node.sql(move |c| {
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
    });
    let mut kinds = SyncKinds::default();
    hub.clinic.clone().sync_kinds(&mut kinds);
    let p = Pair {
        hub,
        node,
        kinds,
        village,
        admin,
        doctor,
        county,
        hub_patient,
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
                .clinic
                .db
                .call_blocking(|c| Ok::<_, DbError>(k.snapshot(c, village)))
                .expect("db")
                .expect("snapshot");
            snapshots.push(rows);
        }
        self.node
            .clinic
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
        let rows: Vec<(String, String)> = self.node.sql(|c| {
            let mut st = c.prepare("SELECT kind, key FROM core_sync_outbox ORDER BY id")?;
            let rows = st
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(rows)
        });
        let mut out: Vec<(String, String)> = Vec::new();
        for r in rows {
            if !out.contains(&r) {
                out.push(r);
            }
        }
        out
    }

    fn export(&self, side: &Side, kind: &str, key: &str) -> Option<Value> {
        let k = self.kinds.up_kind(kind).expect("up kind");
        side.clinic
            .db
            .call_blocking(|c| Ok::<_, DbError>(k.export(c, key)))
            .expect("db")
            .expect("export")
    }

    /// Apply one record on the hub, in a transaction as the protocol does.
    fn apply(&self, village: i64, kind: &str, key: &str, body: &Value) -> Result<(), SyncError> {
        let k = self.kinds.up_kind(kind).expect("up kind");
        self.hub
            .clinic
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
    fn up(&self) -> Vec<(String, String)> {
        let sent = self.outbox();
        for (kind, key) in &sent {
            let body = self
                .export(&self.node, kind, key)
                .expect("the record exists");
            self.apply(self.village, kind, key, &body)
                .unwrap_or_else(|e| panic!("applying {kind} {key}: {e}"));
        }
        self.node
            .sql(|c| c.execute("DELETE FROM core_sync_outbox", []));
        sent
    }

    /// A patient registered at the node, and a consult held there with vitals,
    /// a note, a prescription revised once and dispensed; (patient, consult, rx v2).
    async fn village_consult(&self) -> (i64, i64, i64) {
        let n = &self.node.clinic;
        let d = &self.doctor;
        let patient = id_of(
            &n.create_patient(
                d,
                obj(json!({"name": "李大爷", "sex": "male", "birth_date": "1948-07-15", "village": VILLAGE})),
            )
            .await
            .expect("patient at the node"),
        );
        let consult = id_of(
            &n.open_consult(
                d,
                obj(
                    json!({"patient_id": patient, "department": "内科", "complaint": "头晕三天",
                    "vitals": {"systolic": 162, "diastolic": 95, "heart_rate": 78}}),
                ),
            )
            .await
            .expect("consult at the node"),
        );
        n.add_note(
            d,
            consult,
            obj(json!({"subjective": "头晕", "assessment": "高血压", "plan": "服药，一周后复查", "diagnosis": "原发性高血压", "icd10": "I10"})),
        )
        .await
        .expect("note");
        let line = json!({"drug": "氨氯地平片", "dose": "5mg", "route": "口服", "frequency": "每日一次", "days": 7, "quantity": 7});
        let v1 = id_of(
            &n.prescribe(d, consult, obj(json!({"items": [line.clone()]})))
                .await
                .expect("prescription"),
        );
        let v2 = id_of(
            &n.revise(d, v1, obj(json!({"items": [line.clone(), line]})))
                .await
                .expect("revision"),
        );
        n.dispense(d, v2).await.expect("dispensed");
        n.close(d, consult).await.expect("closed at the village");
        (patient, consult, v2)
    }
}

#[tokio::test]
async fn a_village_consult_goes_up_under_its_ids_once() {
    let p = pair("up").await;
    let (patient, consult, rx) = p.village_consult().await;
    assert!(patient >= ID_SPAN && consult >= ID_SPAN && rx >= ID_SPAN);
    let sent = p.up();
    assert_eq!(
        sent,
        vec![
            ("clinic_patient".to_string(), patient.to_string()),
            ("clinic_consult".to_string(), consult.to_string()),
        ]
    );
    // The hub reads the same record the node holds: same ids, same children.
    let key = consult.to_string();
    let on_node = p.export(&p.node, "clinic_consult", &key).expect("node");
    let on_hub = p.export(&p.hub, "clinic_consult", &key).expect("hub");
    assert_eq!(on_hub, on_node);
    assert_eq!(on_hub["status"], "closed");
    assert_eq!(on_hub["observations"].as_array().map(Vec::len), Some(3));
    assert_eq!(on_hub["prescriptions"][1]["dispensed_by"], p.doctor.id);
    assert_eq!(on_hub["prescriptions"][0]["superseded"], 1);
    // The county's record view shows the village's patient and vitals.
    let rec = p
        .hub
        .clinic
        .read_record(&p.admin, patient, None, "read")
        .await
        .expect("record on the hub")
        .to_json();
    assert_eq!(rec["patient"]["name"], "李大爷");
    assert_eq!(rec["consults"][0]["id"], consult);
    assert_eq!(
        rec["consults"][0]["observations"].as_array().map(Vec::len),
        Some(3)
    );

    // Applied twice: nothing changes (the same record, the same row counts).
    let tables = [
        "clinic_patients",
        "clinic_consults",
        "clinic_observations",
        "clinic_notes",
        "clinic_prescriptions",
        "clinic_prescription_lines",
        "clinic_dispenses",
    ];
    let before: Vec<i64> = tables.iter().map(|t| p.hub.count(t)).collect();
    p.apply(p.village, "clinic_consult", &key, &on_node)
        .expect("again");
    let patient_body = p
        .export(&p.node, "clinic_patient", &patient.to_string())
        .expect("patient");
    p.apply(
        p.village,
        "clinic_patient",
        &patient.to_string(),
        &patient_body,
    )
    .expect("again");
    let after: Vec<i64> = tables.iter().map(|t| p.hub.count(t)).collect();
    assert_eq!(before, after);
    assert_eq!(p.export(&p.hub, "clinic_consult", &key), Some(on_node));

    // A later hub record gets a hub id, below the node's range.
    let later = id_of(
        &p.hub
            .clinic
            .create_patient(
                &p.doctor,
                obj(json!({"name": "张三", "sex": "male", "birth_date": "1990-01-01", "village": VILLAGE})),
            )
            .await
            .expect("hub patient"),
    );
    assert!(later < ID_SPAN, "hub id {later}");
}

#[tokio::test]
async fn another_villages_or_the_hubs_records_are_rejected() {
    let p = pair("reject").await;
    let (patient, consult, _) = p.village_consult().await;
    let pk = patient.to_string();
    let ck = consult.to_string();
    let patient_body = p.export(&p.node, "clinic_patient", &pk).expect("patient");
    let consult_body = p.export(&p.node, "clinic_consult", &ck).expect("consult");
    let other = p
        .hub
        .sql(|c| auth::village_id(c, OTHER_VILLAGE))
        .expect("other village");
    // Another village's node sends them: refused, nothing stored.
    let e = p
        .apply(other, "clinic_patient", &pk, &patient_body)
        .expect_err("another village's patient");
    assert!(e.to_string().contains("village"), "{e}");
    p.apply(p.village, "clinic_patient", &pk, &patient_body)
        .expect("patient");
    let e = p
        .apply(other, "clinic_consult", &ck, &consult_body)
        .expect_err("another village's consult");
    assert!(e.to_string().contains("not of the node's village"), "{e}");
    assert_eq!(p.hub.count("clinic_consults"), 0);
    // A record under a hub id is the hub's, whatever the node says.
    let mut hub_one = consult_body.clone();
    hub_one["id"] = json!(7);
    let e = p
        .apply(p.village, "clinic_consult", "7", &hub_one)
        .expect_err("a hub id");
    assert!(e.to_string().contains("hub's"), "{e}");
    // A consult for a patient the hub does not know.
    let mut orphan = consult_body.clone();
    orphan["patient_id"] = json!(ID_SPAN + 999);
    let e = p
        .apply(p.village, "clinic_consult", &ck, &orphan)
        .expect_err("unknown patient");
    assert!(e.to_string().contains("no patient"), "{e}");
    // An unknown department, or a hub slot, is refused.
    let mut bad = consult_body.clone();
    bad["department_id"] = json!(999);
    let e = p
        .apply(p.village, "clinic_consult", &ck, &bad)
        .expect_err("unknown department");
    assert!(e.to_string().contains("no department"), "{e}");
    let mut bad = consult_body.clone();
    bad["slot_id"] = json!(1);
    let e = p
        .apply(p.village, "clinic_consult", &ck, &bad)
        .expect_err("a slot");
    assert!(e.to_string().contains("slot"), "{e}");
    // A note smuggled under another consult's id is refused.
    p.apply(p.village, "clinic_consult", &ck, &consult_body)
        .expect("consult");
    let mut second = consult_body.clone();
    second["id"] = json!(consult + 1);
    second["observations"] = json!([]);
    second["prescriptions"] = json!([]);
    second["notes"][0]["consult_id"] = json!(consult + 1);
    let e = p
        .apply(
            p.village,
            "clinic_consult",
            &(consult + 1).to_string(),
            &second,
        )
        .expect_err("a note of another consult");
    assert!(e.to_string().contains("belongs to"), "{e}");
    assert_eq!(p.hub.count("clinic_consults"), 1);
}

#[tokio::test]
async fn each_side_refuses_what_the_other_owns() {
    let p = pair("owner").await;
    let (_, consult, rx) = p.village_consult().await;
    // A second consult, left waiting at the node.
    let patient = p.hub_patient;
    let waiting = id_of(
        &p.node
            .clinic
            .open_consult(
                &p.doctor,
                obj(json!({"patient_id": patient, "department": "内科", "complaint": "咳嗽"})),
            )
            .await
            .expect("a consult for the hub's patient, at the node"),
    );
    p.up();
    let h = &p.hub.clinic;
    // On the hub, the node's consults change only at the node.
    let note = obj(json!({"diagnosis": "感冒"}));
    assert_eq!(
        code(h.add_note(&p.doctor, waiting, note).await.unwrap_err()),
        "node_record"
    );
    assert_eq!(
        code(h.accept(&p.county, waiting).await.unwrap_err()),
        "node_record"
    );
    assert_eq!(
        code(h.cancel(&p.admin, waiting).await.unwrap_err()),
        "node_record"
    );
    let line = json!({"items": [{"drug": "x", "dose": "1", "route": "口服", "frequency": "qd", "days": 1, "quantity": 1}]});
    assert_eq!(
        code(h.revise(&p.doctor, rx, obj(line)).await.unwrap_err()),
        "node_record"
    );
    assert_eq!(
        code(h.mark_in_call(consult, p.doctor.id).await.unwrap_err()),
        "node_record"
    );
    assert_eq!(
        code(h.close(&p.doctor, waiting).await.unwrap_err()),
        "node_record"
    );
    assert_eq!(
        code(h.dispense(&p.doctor, rx).await.unwrap_err()),
        "node_record"
    );
    let line = json!({"items": [{"drug": "x", "dose": "1", "route": "口服", "frequency": "qd", "days": 1, "quantity": 1}]});
    assert_eq!(
        code(
            h.prescribe(&p.doctor, waiting, obj(line))
                .await
                .unwrap_err()
        ),
        "node_record"
    );
    // A photo is refused before its bytes are even decoded.
    let photo = h
        .add_photo(
            &p.doctor,
            waiting,
            "image/jpeg".into(),
            bytes::Bytes::from_static(b"not decoded"),
        )
        .await
        .unwrap_err();
    assert_eq!(code(photo), "node_record");
    // Nor do the county doctors find it in their queue.
    let queue = p
        .hub
        .sql(|c| cunlink_clinic::store::consults::waiting(c, 1, 100));
    assert!(
        queue.iter().all(|q| q.0.id != waiting),
        "{waiting} in the hub's queue"
    );
    // At the node, what the county does is refused.
    let n = &p.node.clinic;
    assert_eq!(
        code(n.accept(&p.county, waiting).await.unwrap_err()),
        "hub_only"
    );
    assert_eq!(
        code(
            n.create_department(&p.admin, obj(json!({"name": "外科"})))
                .await
                .unwrap_err()
        ),
        "hub_only"
    );
    let slot = obj(json!({"starts_at": cunlink_core::time::now_ms() + 3_600_000, "minutes": 15}));
    assert_eq!(
        code(n.create_slot(&p.county, slot).await.unwrap_err()),
        "hub_only"
    );
    assert_eq!(
        code(n.mark_in_call(waiting, p.doctor.id).await.unwrap_err()),
        "hub_only"
    );
    assert_eq!(
        code(
            n.schedule(&p.doctor, waiting, obj(json!({"slot_id": 1})))
                .await
                .unwrap_err()
        ),
        "hub_only"
    );
    assert_eq!(
        code(
            n.assign_department(p.county.clone(), "内科".into())
                .await
                .unwrap_err()
        ),
        "hub_only"
    );
    // Nothing of that reached the hub's rows.
    assert_eq!(
        p.export(&p.hub, "clinic_consult", &waiting.to_string())
            .expect("hub")["status"],
        "waiting"
    );
}

#[tokio::test]
async fn departments_and_the_hubs_patients_come_down_once() {
    let p = pair("down").await;
    assert_eq!(p.node.count("clinic_departments"), 1);
    let rows = p.node.sql(|c| {
        c.query_row("SELECT id, name FROM clinic_patients", [], |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))
        })
    });
    assert_eq!(rows, (p.hub_patient, "王大妈".to_string()));
    // The hub's patient does not go back up, and a second sync changes nothing.
    assert!(p.outbox().is_empty());
    p.down();
    assert!(p.outbox().is_empty());
    assert_eq!(p.node.count("clinic_patients"), 1);
    // A patient of another village in the snapshot is refused.
    let k = p
        .kinds
        .down
        .iter()
        .find(|k| k.kind() == "clinic_patients")
        .expect("kind");
    let bad = json!([{"id": 5, "name": "x", "sex": "male", "birth_date": "2000-01-01",
        "village_id": p.village + 1, "phone": null, "user_id": null, "created_by": 1, "created_at": 0}]);
    let r = p
        .node
        .clinic
        .db
        .call_blocking(|c| Ok::<_, DbError>(k.apply(c, p.village, bad.as_array().expect("list"))))
        .expect("db");
    assert!(r.is_err());
}
