//! Issue 13 through the real server and binary: Parquet and CSV export (read back
//! by pyarrow), scoped to the caller's village; the profiles API and `cunlink
//! profile set`; `cunlink import` (all or nothing, errors name the line).

use serde_json::json;

use crate::common::{TempDir, enc, request, spawn_app};
use cunlink_core::auth::Role;

/// The venv Python with pyarrow that `./test` prepares; fail loudly without it.
fn python() -> String {
    let p = std::env::var("CUNLINK_PYTHON").unwrap_or_else(|_| {
        let home = std::env::var("HOME").unwrap_or_default();
        let cache = std::env::var("CUNLINK_CACHE").unwrap_or(format!("{home}/.cache/cunlink"));
        format!("{cache}/venv/bin/python")
    });
    let ok = std::process::Command::new(&p)
        .args(["-c", "import pyarrow"])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        ok,
        "{p} cannot import pyarrow: run ./test once (it creates the venv), or `python3 -m venv ~/.cache/cunlink/venv && ~/.cache/cunlink/venv/bin/pip install pyarrow`"
    );
    p
}

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

const T0: i64 = 1_767_225_600_000; // 2026-01-01T00:00:00Z

#[tokio::test]
async fn telemetry_export_streams_parquet_and_csv_within_the_village() {
    let app = spawn_app().await;
    let a = app.user("farmer-a", Role::Farmer, Some("甲村")).await;
    let b = app.user("farmer-b", Role::Farmer, Some("乙村")).await;
    let (status, j) = app
        .create_device(
            &a,
            json!({ "name": "甲村探头", "type": "air-probe", "asset": "甲村茶园" }),
        )
        .await;
    assert_eq!(status, 201, "{j}");
    let token_a = j["token"].as_str().unwrap().to_string();
    let (status, j) = app
        .create_device(
            &b,
            json!({ "name": "乙村探头", "type": "air-probe", "asset": "乙村茶园" }),
        )
        .await;
    assert_eq!(status, 201, "{j}");
    let token_b = j["token"].as_str().unwrap().to_string();
    // 3,000 minutes of two keys (enough to seal chunks), odd values included.
    let mut rows = Vec::new();
    for i in 0..3000i64 {
        let t = (i as f64 * 0.37).sin() * 10.0;
        let temp = (t * 10.0).round() / 10.0;
        rows.push(json!({ "ts": T0 + i * 60_000, "values": { "temperature": temp, "humidity": 60 + i % 7 } }));
    }
    rows.push(json!({ "ts": T0 + 3000 * 60_000, "values": { "temperature": -0.0, "door": true, "mode": "auto, eco" } }));
    for part in rows.chunks(500) {
        let r = request(
            app.http,
            "POST",
            &format!("/api/v1/{token_a}/telemetry"),
            &[("content-type", "application/json")],
            serde_json::Value::Array(part.to_vec())
                .to_string()
                .into_bytes(),
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.text());
    }
    let r = request(
        app.http,
        "POST",
        &format!("/api/v1/{token_b}/telemetry"),
        &[("content-type", "application/json")],
        json!({ "ts": T0, "values": { "temperature": 99.5 } })
            .to_string()
            .into_bytes(),
    )
    .await;
    assert_eq!(r.status, 200);
    let end = T0 + 4000 * 60_000;

    // Parquet of the whole village A, read back by pyarrow.
    let r = app
        .get(
            &format!(
                "/api/export?village={}&start={T0}&end={end}&format=parquet",
                enc("甲村")
            ),
            &a,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let dir = TempDir::new("export");
    let file = dir.0.join("a.parquet");
    std::fs::write(&file, &r.body).unwrap();
    let script = r#"
import json, sys, pyarrow.parquet as pq
t = pq.read_table(sys.argv[1])
print(json.dumps({
  "schema": [[f.name, str(f.type)] for f in t.schema],
  "rows": t.num_rows,
  "devices": sorted(set(t.column("device").to_pylist())),
  "keys": sorted(set(t.column("key").to_pylist())),
  "first": [t.column(c)[0].as_py() if c != "ts" else t.column("ts")[0].value for c in ("device", "key", "ts", "value")],
  "sum_temperature": sum(v for k, v in zip(t.column("key").to_pylist(), t.column("value").to_pylist()) if k == "temperature"),
}))
"#;
    let out = std::process::Command::new(python())
        .args(["-c", script, file.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        got["schema"],
        json!([
            ["device", "string"],
            ["key", "string"],
            ["ts", "timestamp[ms, tz=UTC]"],
            ["value", "double"]
        ]),
        "{got}"
    );
    // 3,001 temperatures, 3,000 humidities, one door (true = 1); the text value is left out.
    assert_eq!(got["rows"], 6002, "{got}");
    assert_eq!(got["devices"], json!(["甲村探头"]));
    assert_eq!(got["keys"], json!(["door", "humidity", "temperature"]));
    assert_eq!(
        got["first"],
        json!(["甲村探头", "door", T0 + 3000 * 60_000, 1.0])
    );
    let want: f64 = (0..3000i64)
        .map(|i| (((i as f64 * 0.37).sin() * 10.0) * 10.0).round() / 10.0)
        .sum();
    assert!(
        (got["sum_temperature"].as_f64().unwrap() - want).abs() < 1e-6,
        "{got} vs {want}"
    );

    // The same device as CSV: every value, text quoted.
    let r = app
        .get(
            &format!(
                "/api/export?device={}&start={T0}&end={end}&keys=temperature,mode",
                enc("甲村探头")
            ),
            &a,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let text = r.text();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "device,key,ts,value");
    assert_eq!(
        lines.len(),
        1 + 1 + 3001,
        "{}",
        &text[..200.min(text.len())]
    );
    assert_eq!(
        lines[1],
        format!("甲村探头,mode,{},\"auto, eco\"", T0 + 3000 * 60_000)
    );
    assert_eq!(lines[2], format!("甲村探头,temperature,{T0},0"));
    assert_eq!(
        *lines.last().unwrap(),
        format!("甲村探头,temperature,{},-0", T0 + 3000 * 60_000)
    );

    // Aggregated by day: one row per key per day.
    let r = app
        .get(&format!("/api/export?asset={}&start={T0}&end={end}&interval=86400000&agg=count&keys=humidity", enc("甲村茶园")), &a)
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let text = r.text();
    assert_eq!(text.lines().count(), 1 + 3, "{text}");
    assert!(
        text.contains(&format!("甲村探头,humidity,{T0},1440")),
        "{text}"
    );

    // Another village's device, asset or village: not found, nothing told.
    for q in [
        format!("device={}", enc("乙村探头")),
        format!("asset={}", enc("乙村茶园")),
        format!("village={}", enc("乙村")),
    ] {
        let r = app
            .get(&format!("/api/export?{q}&start={T0}&end={end}"), &a)
            .await;
        assert_eq!(r.status, 404, "{q}: {}", r.text());
        assert!(!r.text().contains("99.5"));
    }
    // Bad input names its field and reads nothing.
    let r = app
        .get(
            &format!("/api/export?device={}&end={end}", enc("甲村探头")),
            &a,
        )
        .await;
    assert_eq!(
        (r.status, r.json()["field"].as_str()),
        (400, Some("start")),
        "{}",
        r.text()
    );
    let r = app
        .get(
            &format!(
                "/api/export?device={}&start={T0}&end={end}&format=xlsx",
                enc("甲村探头")
            ),
            &a,
        )
        .await;
    assert_eq!(
        (r.status, r.json()["field"].as_str()),
        (400, Some("format"))
    );
    let r = app
        .get(
            &format!("/api/export?device=x&village=y&start={T0}&end={end}"),
            &a,
        )
        .await;
    assert_eq!(r.status, 400);
}

#[tokio::test]
async fn telemetry_profiles_are_read_and_changed_by_the_county() {
    let app = spawn_app().await;
    let farmer = app.user("farmer-a", Role::Farmer, Some("甲村")).await;
    let r = app.get("/api/profiles/air-probe", &farmer).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let p = r.json();
    assert_eq!(p["retention_days"], serde_json::Value::Null);
    assert_eq!(p["keys"][0]["key"], "temperature");
    let (status, _) = app
        .put_json(
            "/api/profiles/air-probe",
            &farmer,
            json!({"retention_days": 30}),
        )
        .await;
    assert_eq!(status, 403);
    let admin = app.admin_token.clone();
    let (status, j) = app
        .put_json(
            "/api/profiles/air-probe",
            &admin,
            json!({"retention_days": 30, "rollup_retention_days": 3650}),
        )
        .await;
    assert_eq!(status, 200, "{j}");
    assert_eq!(
        (
            j["retention_days"].as_i64(),
            j["rollup_retention_days"].as_i64()
        ),
        (Some(30), Some(3650))
    );
    assert_eq!(
        j["keys"][0]["key"], "temperature",
        "absent fields are kept: {j}"
    );
    let (status, j) = app
        .put_json(
            "/api/profiles/air-probe",
            &admin,
            json!({"retention_days": 0}),
        )
        .await;
    // 0 days is forever, as in `cunlink profile set --retention-days 0`.
    assert_eq!(
        (status, j["retention_days"].clone()),
        (200, serde_json::Value::Null),
        "{j}"
    );
    let (status, j) = app
        .put_json(
            "/api/profiles/air-probe",
            &admin,
            json!({"retention_days": 40000}),
        )
        .await;
    assert_eq!(
        (status, j["field"].as_str()),
        (400, Some("retention_days")),
        "{j}"
    );
    let (_, j) = app
        .put_json(
            "/api/profiles/air-probe",
            &admin,
            json!({"retention_days": 30}),
        )
        .await;
    assert_eq!(j["retention_days"], 30);
    let (status, j) = app
        .put_json(
            "/api/profiles/air-probe",
            &admin,
            json!({"retention_days": null}),
        )
        .await;
    assert_eq!(
        (status, j["retention_days"].clone()),
        (200, serde_json::Value::Null),
        "{j}"
    );
    let (status, j) = app
        .put_json(
            "/api/profiles/water-meter",
            &admin,
            json!({"keys": [{"key": "flow", "unit": "m³/h", "label": "流量"}], "reporting_interval_s": 900, "retention_days": 365}),
        )
        .await;
    assert_eq!(status, 201, "{j}");
    assert_eq!(
        app.get("/api/profiles/water-meter", &farmer).await.json()["reporting_interval_s"],
        900
    );
    assert_eq!(
        app.get("/api/profiles/nothing-here", &farmer).await.status,
        404
    );
}

#[tokio::test]
async fn telemetry_import_is_all_or_nothing_and_profile_set_works_from_the_cli() {
    let dir = TempDir::new("import");
    let d = dir.0.to_str().unwrap();
    let (ok, _, err) = cli(&[
        "device",
        "create",
        "--data-dir",
        d,
        "--name",
        "old-probe",
        "--type",
        "air-probe",
        "--county-level",
    ]);
    assert!(ok, "{err}");
    let (ok, last, err) = cli(&[
        "profile",
        "set",
        "--data-dir",
        d,
        "--name",
        "air-probe",
        "--retention-days",
        "400",
    ]);
    assert!(ok, "{err}");
    let p: serde_json::Value = serde_json::from_str(&last).unwrap();
    assert_eq!(p["retention_days"], 400);
    let (ok, _, err) = cli(&[
        "profile",
        "set",
        "--data-dir",
        d,
        "--name",
        "air-probe",
        "--retention-days",
        "99999",
    ]);
    assert!(!ok && err.contains("--retention-days"), "{err}");

    // A bad third line: named, and nothing of the file is stored.
    let bad = dir.0.join("bad.csv");
    std::fs::write(
        &bad,
        "ts,key,value\n1767225600000,temperature,1.5\n1767225660000,temperature\n",
    )
    .unwrap();
    let (ok, _, err) = cli(&[
        "import",
        "--data-dir",
        d,
        "--device",
        "old-probe",
        "--csv",
        bad.to_str().unwrap(),
    ]);
    assert!(
        !ok && err.contains("line 3") && err.contains("nothing was imported"),
        "{err}"
    );
    // ThingsBoard's shape: a time column and one column per key.
    let good = dir.0.join("tb.csv");
    let mut csv = String::from("Timestamp,temperature,humidity\n");
    for i in 0..1000 {
        csv.push_str(&format!(
            "2026-01-01 {:02}:{:02}:00,{}.5,{}\n",
            i / 60 % 24,
            i % 60,
            i % 30,
            50 + i % 9
        ));
    }
    std::fs::write(&good, csv).unwrap();
    let (ok, last, err) = cli(&[
        "import",
        "--data-dir",
        d,
        "--device",
        "old-probe",
        "--csv",
        good.to_str().unwrap(),
    ]);
    assert!(ok, "{err}");
    assert_eq!(last, "imported=2000");

    let mut config = crate::common::test_config(&dir.0);
    config.demo = false;
    let server = cunlink::app::start(config).await.unwrap();
    // While the server runs, import refuses rather than racing its writer.
    let (ok, _, err) = cli(&[
        "import",
        "--data-dir",
        d,
        "--device",
        "old-probe",
        "--csv",
        good.to_str().unwrap(),
    ]);
    assert!(!ok && err.contains("stop the server"), "{err}");
    let store = server.farm.telemetry.store().clone();
    let dev = server
        .farm
        .registry
        .all()
        .into_iter()
        .find(|x| x.name == "old-probe")
        .unwrap()
        .id;
    let key = store.keys.lookup("temperature").unwrap();
    let pts = store.range(dev, key, 0, i64::MAX / 4).unwrap();
    // 1,000 lines, 1,000 distinct minutes of one day.
    assert_eq!(pts.len(), 1000);
    assert_eq!(pts[0], (T0, cunlink_farm::telemetry::Value::Num(0.5)));
    server.shutdown().await;
}
