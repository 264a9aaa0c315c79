//! `cunlink user create --role doctor --department D` makes the account and
//! its department link in one transaction: when the link fails, no doctor
//! without a department is left behind (regression from review of issue 11).

use tokio::io::AsyncWriteExt;

use crate::common::spawn_app;

async fn create(dir: &str, name: &str) -> (bool, String) {
    let args = [
        "user",
        "create",
        "--data-dir",
        dir,
        "--username",
        name,
        "--role",
        "doctor",
        "--department",
        "内科",
    ];
    let mut child =
        tokio::process::Command::from(crate::common::cunlink_cmd(std::path::Path::new(dir)))
            .args(args)
            .env("RUST_LOG", "warn")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("run cunlink");
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(b"a-password\n").await.unwrap();
    drop(stdin);
    let out = child.wait_with_output().await.unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn a_failed_department_link_leaves_no_doctor_behind() {
    let app = spawn_app().await;
    let dir = app.dir.0.to_str().unwrap().to_string();
    let db = app.db_conn();
    db.busy_timeout(std::time::Duration::from_secs(10)).unwrap();
    // Make the link step fail, as a full disk or a locked table would.
    db.execute_batch(if db.is_postgres() {
        "CREATE FUNCTION test_refuse_link() RETURNS trigger LANGUAGE plpgsql
           AS 'BEGIN RAISE EXCEPTION ''link refused for the test''; END';
         CREATE TRIGGER test_refuse_link BEFORE INSERT ON clinic_doctors
           FOR EACH ROW EXECUTE FUNCTION test_refuse_link();"
    } else {
        "CREATE TRIGGER test_refuse_link BEFORE INSERT ON clinic_doctors
         BEGIN SELECT RAISE(ABORT, 'link refused for the test'); END;"
    })
    .unwrap();
    let (ok, err) = create(&dir, "doc-x").await;
    assert!(!ok, "the link failed, so must the command: {err}");
    let users: i64 = db
        .query_row(
            "SELECT count(*) FROM users WHERE username = 'doc-x'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(users, 0, "no account without its department: {err}");
    db.execute_batch(if db.is_postgres() {
        "DROP TRIGGER test_refuse_link ON clinic_doctors;"
    } else {
        "DROP TRIGGER test_refuse_link;"
    })
    .unwrap();
    let (ok, err) = create(&dir, "doc-x").await;
    assert!(ok, "{err}");
    let linked: i64 = db
        .query_row(
            "SELECT count(*) FROM clinic_doctors d JOIN users u ON u.id = d.user_id
              WHERE u.username = 'doc-x'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(linked, 1);
}
