//! `cunlink device create` through the real binary: the contract form still
//! prints the token last, and a device lands in a village unless there is none
//! yet or the operator asks for a county-level one.

use crate::common::TempDir;

/// The data directory named by `--data-dir` in `args` (the CLI then also gets the
/// test's PostgreSQL database when CUNLINK_TEST_DATABASE_URL is set).
fn data_dir_arg(args: &[&str]) -> std::path::PathBuf {
    let i = args
        .iter()
        .position(|a| *a == "--data-dir")
        .expect("--data-dir in the arguments");
    std::path::PathBuf::from(args[i + 1])
}

/// Run the binary; (success, last stdout line, stderr).
fn cli(args: &[&str]) -> (bool, String, String) {
    let out = crate::common::cunlink_cmd(&data_dir_arg(args))
        .args(args)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    (
        out.status.success(),
        stdout.lines().last().unwrap_or("").trim().to_string(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn device_create_places_devices_in_a_village_unless_told_otherwise() {
    let dir = TempDir::new("cli-device");
    let d = dir.0.to_str().unwrap();
    let create = |name: &str, extra: &[&str]| {
        let mut args = vec![
            "device",
            "create",
            "--data-dir",
            d,
            "--name",
            name,
            "--type",
            "air-probe",
        ];
        args.extend_from_slice(extra);
        cli(&args)
    };
    // A fresh install has no village: the contract form still works, county-level.
    let (ok, token, err) = create("first", &[]);
    assert!(ok && token.len() == 24, "{token:?} {err}");
    assert!(err.contains("county-level"), "{err}");
    // With one village, that one (asset created there).
    let (ok, _, err) = create("second", &["--asset", "龙井茶园", "--village", "茶香村"]);
    assert!(ok, "{err}");
    let (ok, token, err) = create("third", &["--asset", "一号大棚"]);
    assert!(ok && token.len() == 24, "{err}");
    assert!(err.contains("茶香村"), "{err}");
    // With two villages, a new asset needs --village; an existing one brings its own.
    let (ok, _, err) = create("fourth", &["--village", "石桥村"]);
    assert!(ok, "{err}");
    let (ok, _, err) = create("fifth", &["--asset", "新茶园"]);
    assert!(!ok && err.contains("--village"), "{err}");
    let (ok, _, err) = create("sixth", &["--asset", "龙井茶园"]);
    assert!(ok, "{err}");
    // An existing asset of one village cannot be claimed for another.
    let (ok, _, err) = create("seventh", &["--asset", "龙井茶园", "--village", "石桥村"]);
    assert!(!ok, "{err}");
    let (ok, _, err) = create("eighth", &["--county-level"]);
    assert!(ok && err.contains("county-level"), "{err}");

    let server = cunlink::app::start(crate::common::test_config(&dir.0))
        .await
        .unwrap();
    let village = |name: &str| {
        server
            .farm
            .registry
            .all()
            .into_iter()
            .find(|x| x.name == name)
            .map(|x| x.village_id)
    };
    assert_eq!(village("first"), Some(None));
    assert_eq!(village("eighth"), Some(None));
    let tea = village("second").flatten();
    assert!(tea.is_some());
    assert_eq!(village("third").flatten(), tea);
    assert_eq!(village("sixth").flatten(), tea);
    assert!(village("fourth").flatten().is_some_and(|v| Some(v) != tea));
    assert_eq!(village("fifth"), None);
    server.shutdown().await;
}
