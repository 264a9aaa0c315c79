//! The clinic tests' shared world: two villages, their village doctors, county
//! doctors of 内科 and 外科, a patient with their own account in each village,
//! and one waiting consult per village in 内科.

use serde_json::{Value, json};

use crate::common::{TestApp, request};
use cunlink_core::auth::Role;

pub const A: &str = "Village A";
pub const B: &str = "Village B";

pub struct ClinicWorld {
    /// (username, token)
    pub vdoc_a: (String, String),
    pub vdoc_b: (String, String),
    /// County doctor of 内科 (made by the CLI's `--department`).
    pub cdoc: (String, String),
    /// County doctor of 外科 (made through the admin API).
    pub surgeon: (String, String),
    pub pat_a_user: (String, String),
    pub pat_b_user: (String, String),
    pub patient_a: i64,
    pub patient_b: i64,
    pub consult_a: i64,
    pub consult_b: i64,
}

pub async fn ok(app: &TestApp, path: &str, token: &str, body: Value) -> Value {
    let (s, v) = app.post_json(path, token, body.clone()).await;
    assert!((200..300).contains(&s), "{path} {body}: {s} {v}");
    v
}

/// `cunlink user create` as a separate process, password on stdin; its token.
pub async fn cli_user(app: &TestApp, name: &str, extra: &[&str]) -> String {
    use tokio::io::AsyncWriteExt;
    let dir = app.dir.0.to_str().unwrap().to_string();
    let mut args = vec!["user", "create", "--data-dir", &dir, "--username", name];
    args.extend_from_slice(extra);
    let mut child = tokio::process::Command::from(crate::common::cunlink_cmd(&app.dir.0))
        .args(&args)
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
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "cunlink {args:?}: {stderr}");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .last()
        .expect("token")
        .to_string()
}

pub async fn world(app: &TestApp) -> ClinicWorld {
    let admin = app.admin_token.clone();
    let vdoc_a = cli_user(app, "vdoc-a", &["--role", "doctor", "--village", A]).await;
    let vdoc_b = app.user("vdoc-b", Role::Doctor, Some(B)).await;
    let cdoc = cli_user(app, "cdoc", &["--role", "doctor", "--department", "内科"]).await;
    let surgeon = app.user("surgeon", Role::Doctor, None).await;
    ok(
        app,
        "/api/clinic/doctors",
        &admin,
        json!({"user": "surgeon", "department": "外科"}),
    )
    .await;
    let pat_a_user = app.user("pat-a", Role::Villager, Some(A)).await;
    let pat_b_user = app.user("pat-b", Role::Villager, Some(B)).await;
    let patient_a = ok(
        app,
        "/api/clinic/patients",
        &vdoc_a,
        json!({"name": "王秀英", "sex": "female",
        "birth_date": "1958-03-02", "village": A, "phone": "138 0000 0001", "user": "pat-a"}),
    )
    .await["id"]
        .as_i64()
        .unwrap();
    let patient_b = ok(
        app,
        "/api/clinic/patients",
        &vdoc_b,
        json!({"name": "李强", "sex": "male",
        "birth_date": "1970-07-20", "village": B, "user": "pat-b"}),
    )
    .await["id"]
        .as_i64()
        .unwrap();
    let consult_a = ok(app, "/api/clinic/consults", &vdoc_a, json!({"patient_id": patient_a,
        "department": "内科", "complaint": "头晕三天", "vitals": {"systolic": 150, "diastolic": 95}}))
    .await["id"]
        .as_i64()
        .unwrap();
    let consult_b = ok(
        app,
        "/api/clinic/consults",
        &vdoc_b,
        json!({"patient_id": patient_b,
        "department": "内科", "complaint": "咳嗽"}),
    )
    .await["id"]
        .as_i64()
        .unwrap();
    ClinicWorld {
        vdoc_a: ("vdoc-a".into(), vdoc_a),
        vdoc_b: ("vdoc-b".into(), vdoc_b),
        cdoc: ("cdoc".into(), cdoc),
        surgeon: ("surgeon".into(), surgeon),
        pat_a_user: ("pat-a".into(), pat_a_user),
        pat_b_user: ("pat-b".into(), pat_b_user),
        patient_a,
        patient_b,
        consult_a,
        consult_b,
    }
}

/// The access log of a patient, as the admin reads it.
pub async fn log_len(app: &TestApp, patient: i64) -> usize {
    let r = app
        .get(
            &format!("/api/clinic/patients/{patient}/access-log?limit=500"),
            &app.admin_token.clone(),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    r.json().as_array().unwrap().len()
}

/// A PNG of `w`×`h`.
pub fn png(w: u32, h: u32) -> Vec<u8> {
    let img = image::RgbImage::from_fn(w, h, |x, y| {
        image::Rgb([(x % 256) as u8, (y % 256) as u8, 90])
    });
    let mut out = std::io::Cursor::new(Vec::new());
    image::DynamicImage::ImageRgb8(img)
        .write_to(&mut out, image::ImageFormat::Png)
        .expect("png");
    out.into_inner()
}

/// POST raw bytes with a bearer token.
pub async fn post_bytes(
    app: &TestApp,
    path: &str,
    token: &str,
    ct: &str,
    body: Vec<u8>,
) -> crate::common::Resp {
    let auth = format!("Bearer {token}");
    request(
        app.http,
        "POST",
        path,
        &[("authorization", &auth), ("content-type", ct)],
        body,
    )
    .await
}
