//! `cunlink user create … --role village_official --village NAME` makes an
//! official who can post notices for that village; without `--village` the
//! command refuses.

use std::io::Write;
use std::process::Stdio;

use serde_json::json;

use crate::common::{TempDir, request, test_config};

fn create(dir: &str, name: &str, village: Option<&str>) -> std::process::Output {
    let mut args = vec![
        "user",
        "create",
        "--data-dir",
        dir,
        "--username",
        name,
        "--role",
        "village_official",
    ];
    if let Some(v) = village {
        args.extend(["--village", v]);
    }
    let mut child = crate::common::cunlink_cmd(std::path::Path::new(dir))
        .args(&args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"secret123\n")
        .unwrap();
    child.wait_with_output().unwrap()
}

#[tokio::test]
async fn the_cli_makes_village_officials() {
    let dir = TempDir::new("affairs-cli");
    let d = dir.0.to_str().unwrap();
    let out = create(d, "nobody", None);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--village"),
        "{out:?}"
    );
    let out = create(d, "cunguan", Some("东山村"));
    assert!(out.status.success(), "{out:?}");
    let stdout = String::from_utf8(out.stdout).unwrap();
    let token = stdout.lines().last().unwrap().trim().to_string();

    let server = cunlink::app::start(test_config(&dir.0)).await.unwrap();
    let r = request(
        server.http_addr,
        "POST",
        "/api/affairs/notices",
        &[
            ("authorization", &format!("Bearer {token}")),
            ("content-type", "application/json"),
        ],
        json!({"title": "t", "body": "b", "category": "notice"})
            .to_string()
            .into_bytes(),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text());
    let r = request(
        server.http_addr,
        "GET",
        "/api/me",
        &[("authorization", &format!("Bearer {token}"))],
        vec![],
    )
    .await;
    assert_eq!(r.json()["role"], "village_official", "{}", r.text());
    server.shutdown().await;
}
