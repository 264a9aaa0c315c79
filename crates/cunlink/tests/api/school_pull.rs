//! `cunlink school pull` against a real upstream server through a TCP proxy
//! in the test that cuts connections (once mid-metadata, several times
//! mid-file), flips a byte, or throttles so the pull can be `kill -9`ed.
//!
//! Data set (every test): one channel of 2 files of 5 MiB + 123 B and 3 MiB,
//! and 150 text files of 2,000 B (so the gzipped metadata is ~10 KB and a cut
//! can land inside it); payload 8,688,931 B.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::common::{TempDir, TestApp, spawn_app};
use crate::school_channels::{sha_hex, upload};
use cunlink_core::auth::Role;

pub const MIB: usize = 1024 * 1024;

/// What the proxy does to the bytes going from the upstream to the puller.
#[derive(Default)]
pub struct Faults {
    /// Offsets (over all connections) at which the connection is cut.
    pub cuts: Vec<u64>,
    /// Offsets at which one byte is flipped.
    pub flips: Vec<u64>,
    /// Bytes per second, when throttled.
    pub rate: Option<u64>,
}

pub struct Proxy {
    pub addr: SocketAddr,
    /// Bytes sent to the puller (headers included).
    pub down: Arc<AtomicU64>,
    pub faults: Arc<Mutex<Faults>>,
    pub cuts_done: Arc<AtomicU64>,
    pub flips_done: Arc<AtomicU64>,
}

impl Proxy {
    pub async fn start(upstream: SocketAddr, faults: Faults) -> Proxy {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let p = Proxy {
            addr: l.local_addr().unwrap(),
            down: Arc::new(AtomicU64::new(0)),
            faults: Arc::new(Mutex::new(faults)),
            cuts_done: Arc::new(AtomicU64::new(0)),
            flips_done: Arc::new(AtomicU64::new(0)),
        };
        let (down, faults, cuts, flips) = (
            p.down.clone(),
            p.faults.clone(),
            p.cuts_done.clone(),
            p.flips_done.clone(),
        );
        tokio::spawn(async move {
            while let Ok((client, _)) = l.accept().await {
                let (down, faults, cuts, flips) =
                    (down.clone(), faults.clone(), cuts.clone(), flips.clone());
                tokio::spawn(async move {
                    let Ok(server) = TcpStream::connect(upstream).await else {
                        return;
                    };
                    let (mut cr, mut cw) = client.into_split();
                    let (mut sr, mut sw) = server.into_split();
                    let up = tokio::spawn(async move {
                        let _ = tokio::io::copy(&mut cr, &mut sw).await;
                    });
                    let mut buf = vec![0u8; 16 * 1024];
                    loop {
                        let n = match sr.read(&mut buf).await {
                            Ok(0) | Err(_) => break,
                            Ok(n) => n,
                        };
                        let (send, cut, rate) = {
                            let mut f = faults.lock().unwrap();
                            let pos = down.load(Ordering::SeqCst);
                            let end = pos + n as u64;
                            let mut send = n;
                            let mut cut = false;
                            if let Some(i) = f.cuts.iter().position(|&c| c >= pos && c < end) {
                                send = (f.cuts[i] - pos) as usize;
                                f.cuts.remove(i);
                                cut = true;
                            }
                            let in_send = pos + send as u64;
                            while let Some(i) =
                                f.flips.iter().position(|&x| x >= pos && x < in_send)
                            {
                                buf[(f.flips[i] - pos) as usize] ^= 0x5a;
                                f.flips.remove(i);
                                flips.fetch_add(1, Ordering::SeqCst);
                            }
                            down.fetch_add(send as u64, Ordering::SeqCst);
                            (send, cut, f.rate)
                        };
                        if let Some(r) = rate {
                            tokio::time::sleep(Duration::from_secs_f64(send as f64 / r as f64))
                                .await;
                        }
                        if cw.write_all(&buf[..send]).await.is_err() {
                            break;
                        }
                        if cut {
                            cuts.fetch_add(1, Ordering::SeqCst);
                            break;
                        }
                    }
                    up.abort();
                });
            }
        });
        p
    }
}

pub struct Channel {
    pub id: i64,
    pub token: String,
    pub files: Vec<(String, Vec<u8>)>,
    pub payload: usize,
}

/// Pseudo-random bytes (xorshift), so chunks differ and gzip cannot shrink them.
pub fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// The data set in the module doc, published on `app`.
pub async fn publish_channel(app: &TestApp, big: &[usize], small: usize) -> Channel {
    let token = app.user("hub-teacher", Role::Teacher, Some("县城")).await;
    let (st, v) = app
        .post_json(
            "/api/school/channels",
            &token,
            json!({"name": "县城第一小学 · 三年级", "description": "test"}),
        )
        .await;
    assert_eq!(st, 201);
    let id = v["id"].as_i64().unwrap();
    let mut files = Vec::new();
    for (i, &len) in big.iter().enumerate() {
        files.push((format!("a-video-{i}.mp4"), noise(len, 1000 + i as u64)));
    }
    for i in 0..small {
        files.push((format!("b-note-{i:03}.txt"), noise(2000, 5000 + i as u64)));
    }
    for (name, data) in &files {
        let r = upload(app.http, &token, id, &format!("name={name}&topic=t"), data).await;
        assert_eq!(r.status, 201, "{}", r.text());
    }
    let (st, _) = app
        .post_json(
            &format!("/api/school/channels/{id}/publish"),
            &token,
            json!({}),
        )
        .await;
    assert_eq!(st, 200);
    let payload = files.iter().map(|f| f.1.len()).sum();
    Channel {
        id,
        token,
        files,
        payload,
    }
}

pub fn pull_cmd(dir: &Path, from: &str, ch: &Channel) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::from(crate::common::cunlink_cmd(dir));
    cmd.args([
        "school",
        "pull",
        "--data-dir",
        dir.to_str().unwrap(),
        "--from",
        from,
        "--channel",
        &ch.id.to_string(),
        "--token",
        &ch.token,
    ])
    .kill_on_drop(true);
    cmd
}

/// Run a pull to its end; (stdout, last line's files, bytes, fetched).
pub async fn pull(dir: &Path, from: &str, ch: &Channel) -> (String, u64, u64, u64) {
    let out = pull_cmd(dir, from, ch).output().await.unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "pull failed: {}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    let last = stdout.lines().last().unwrap_or("").to_string();
    let field = |k: &str| -> u64 {
        last.split_whitespace()
            .find_map(|w| w.strip_prefix(&format!("{k}=")))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("last line {last:?} lacks {k}="))
    };
    assert!(last.starts_with("files="), "last line: {last}");
    (
        stdout.clone(),
        field("files"),
        field("bytes"),
        field("fetched"),
    )
}

/// Every file of `ch` is in `dir`'s content store with the right bytes, the
/// channel row lists them, and no partial or temporary file is left.
pub fn assert_complete(dir: &Path, ch: &Channel) {
    for (name, data) in &ch.files {
        let sha = sha_hex(data);
        let p = dir.join("school/content").join(&sha[..2]).join(&sha);
        let got = std::fs::read(&p).unwrap_or_else(|_| panic!("{name} missing"));
        assert_eq!(sha_hex(&got), sha, "{name} damaged");
    }
    let db = crate::common::db_conn_at(dir);
    let n: i64 = db
        .query_row(
            "SELECT count(*) FROM school_channel_files f JOIN school_channels c ON c.id = f.channel_id
             WHERE c.origin_id = $1",
            [ch.id],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(n as usize, ch.files.len());
    let parts = std::fs::read_dir(dir.join("school/partial"))
        .map(|d| {
            d.filter_map(Result::ok)
                .filter(|e| e.file_name().to_string_lossy().ends_with(".part"))
                .count()
        })
        .unwrap_or(0);
    assert_eq!(parts, 0, "partial files left");
}

#[tokio::test]
async fn pull_survives_cuts_mid_metadata_and_mid_file() {
    let app = spawn_app().await;
    let ch = publish_channel(&app, &[5 * MIB + 123, 3 * MIB], 150).await;
    // The metadata answer is first (~10 KB): cut it at 3,000 B. Then three
    // cuts inside the big files.
    let proxy = Proxy::start(
        app.http,
        Faults {
            cuts: vec![3_000, 2_000_000, 4_700_003, 7_300_000],
            ..Faults::default()
        },
    )
    .await;
    let dir = TempDir::new("school-pull");
    let (out, files, bytes, fetched) = pull(&dir.0, &format!("http://{}", proxy.addr), &ch).await;
    assert_eq!(proxy.cuts_done.load(Ordering::SeqCst), 4, "{out}");
    assert_eq!(files, ch.files.len() as u64);
    assert_eq!(bytes, ch.payload as u64);
    assert_complete(&dir.0, &ch);
    let wire = proxy.down.load(Ordering::SeqCst);
    let ratio = fetched as f64 / ch.payload as f64;
    let wire_ratio = wire as f64 / ch.payload as f64;
    eprintln!(
        "cuts: fetched={fetched} wire={wire} payload={} ratio={ratio:.4} wire_ratio={wire_ratio:.4}",
        ch.payload
    );
    assert!(ratio <= 1.1, "fetched {fetched} for {} payload", ch.payload);
    assert!(
        wire_ratio <= 1.1,
        "{wire} bytes on the wire for {} payload",
        ch.payload
    );
    // One line per file.
    assert_eq!(
        out.lines().filter(|l| l.starts_with("got ")).count(),
        ch.files.len()
    );

    // Again: nothing to fetch (the metadata answers 304).
    let (_, _, _, fetched) = pull(&dir.0, &format!("http://{}", proxy.addr), &ch).await;
    assert_eq!(fetched, 0);
}

#[tokio::test]
async fn corrupted_chunk_is_detected_refetched_and_never_stored() {
    let app = spawn_app().await;
    let ch = publish_channel(&app, &[5 * MIB + 123, 3 * MIB], 150).await;
    let proxy = Proxy::start(
        app.http,
        Faults {
            flips: vec![3_500_001],
            ..Faults::default()
        },
    )
    .await;
    let dir = TempDir::new("school-flip");
    let (out, _, _, fetched) = pull(&dir.0, &format!("http://{}", proxy.addr), &ch).await;
    assert_eq!(proxy.flips_done.load(Ordering::SeqCst), 1);
    assert!(
        out.lines()
            .any(|l| l.starts_with("corrupt a-video-0.mp4 chunk=")),
        "the bad chunk was not reported:\n{out}"
    );
    assert_complete(&dir.0, &ch);
    // The bad chunk cost one chunk more, no more.
    assert!(fetched <= (ch.payload + 2 * MIB) as u64);
}

#[tokio::test]
async fn killed_pull_resumes_without_fetching_twice() {
    let app = spawn_app().await;
    let ch = publish_channel(&app, &[5 * MIB + 123, 3 * MIB], 150).await;
    // 3 MB/s: slow enough to kill it in the middle of the first big file.
    let proxy = Proxy::start(
        app.http,
        Faults {
            rate: Some(3_000_000),
            ..Faults::default()
        },
    )
    .await;
    let dir = TempDir::new("school-kill");
    let from = format!("http://{}", proxy.addr);
    let mut child = pull_cmd(&dir.0, &from, &ch)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Watermark: two verified chunks of the first big file are on disk.
    let sha = sha_hex(&ch.files[0].1);
    let part = dir.0.join("school/partial").join(format!("{sha}.part"));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        if std::fs::metadata(&part).map(|m| m.len()).unwrap_or(0) >= 2 * MIB as u64 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the pull made no progress"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    child.start_kill().unwrap(); // SIGKILL
    child.wait().await.unwrap();
    let first = proxy.down.load(Ordering::SeqCst);
    proxy.faults.lock().unwrap().rate = None;
    let (_, _, _, fetched) = pull(&dir.0, &from, &ch).await;
    assert_complete(&dir.0, &ch);
    let total = proxy.down.load(Ordering::SeqCst);
    eprintln!(
        "kill -9: first run {first} B, second run fetched {fetched} B, wire total {total} B, payload {}",
        ch.payload
    );
    // Both runs together: the payload, the metadata twice, the chunk that was
    // in flight when killed, and HTTP headers (~300 B × ~160 answers × 2).
    let allowance = (ch.payload + MIB + 200 * 1024) as u64;
    assert!(
        total <= allowance,
        "{total} bytes on the wire; at most {allowance} expected"
    );
}

#[tokio::test]
async fn usb_folder_export_and_import_use_the_same_pull() {
    let app = spawn_app().await;
    let ch = publish_channel(&app, &[2 * MIB + 5], 3).await;
    let usb = TempDir::new("school-usb");
    // The database named by the flag, not the environment (both work).
    let mut export = tokio::process::Command::new(crate::common::cunlink_bin());
    export.args([
        "school",
        "export",
        "--data-dir",
        app.dir.0.to_str().unwrap(),
        "--channel",
        &ch.id.to_string(),
        "--to",
        usb.0.to_str().unwrap(),
    ]);
    if let Some(url) = crate::common::test_database_url(&app.dir.0) {
        export.args(["--database-url", &url]);
    }
    let out = export.output().await.unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let dir = TempDir::new("school-usb-in");
    let (_, files, bytes, fetched) = pull(&dir.0, usb.0.to_str().unwrap(), &ch).await;
    assert_eq!((files, bytes, fetched), (4, ch.payload as u64, 0));
    assert_complete(&dir.0, &ch);

    // A damaged stick: the bad byte is found and the file is not stored.
    let sha = sha_hex(&ch.files[0].1);
    let on_usb = usb.0.join("content").join(&sha[..2]).join(&sha);
    let mut bytes = std::fs::read(&on_usb).unwrap();
    bytes[MIB + 7] ^= 1;
    std::fs::write(&on_usb, bytes).unwrap();
    let dir2 = TempDir::new("school-usb-bad");
    let out = pull_cmd(&dir2.0, usb.0.to_str().unwrap(), &ch)
        .args(["--max-failures", "2"])
        .output()
        .await
        .unwrap();
    assert!(!out.status.success());
    assert!(
        !dir2
            .0
            .join("school/content")
            .join(&sha[..2])
            .join(&sha)
            .exists()
    );
}

/// Hub A → node B (by HTTP) → folder (B's export) → node C: B republishes the
/// channel under its own id, which differs from A's, and C pulls that id.
#[tokio::test]
async fn a_pulled_channel_relays_under_its_local_id() {
    let app = spawn_app().await;
    // A first channel on the hub, so the published one's id is not B's.
    let other = app.user("other-teacher", Role::Teacher, Some("县城")).await;
    let (st, _) = app
        .post_json("/api/school/channels", &other, json!({"name": "空"}))
        .await;
    assert_eq!(st, 201);
    let ch = publish_channel(&app, &[MIB + 3], 2).await;
    let b = TempDir::new("school-relay-b");
    // A trailing '/' names the same origin: the second pull updates one copy.
    pull(&b.0, &format!("http://{}/", app.http), &ch).await;
    pull(&b.0, &format!("http://{}", app.http), &ch).await;
    let (copies, local): (i64, i64) = crate::common::db_conn_at(&b.0)
        .query_row(
            "SELECT count(*), max(id) FROM school_channels WHERE origin_id = $1",
            [ch.id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(copies, 1);
    assert_ne!(local, ch.id);
    let usb = TempDir::new("school-relay-usb");
    let out = tokio::process::Command::from(crate::common::cunlink_cmd(&b.0))
        .args(["school", "export", "--data-dir", b.0.to_str().unwrap()])
        .args([
            "--channel",
            &local.to_string(),
            "--to",
            usb.0.to_str().unwrap(),
        ])
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let relayed = Channel {
        id: local,
        token: ch.token.clone(),
        files: ch.files.clone(),
        payload: ch.payload,
    };
    let c = TempDir::new("school-relay-c");
    let (_, files, bytes, _) = pull(&c.0, usb.0.to_str().unwrap(), &relayed).await;
    assert_eq!((files, bytes), (3, ch.payload as u64));
    assert_complete(&c.0, &relayed);
    // A manifest filed under another id (a renamed file) is refused.
    let ch_dir = usb.0.join("channels");
    std::fs::copy(
        ch_dir.join(format!("{local}.json.gz")),
        ch_dir.join(format!("{}.json.gz", ch.id)),
    )
    .unwrap();
    let wrong = Channel {
        id: ch.id,
        ..relayed
    };
    let d = TempDir::new("school-relay-d");
    let out = pull_cmd(&d.0, usb.0.to_str().unwrap(), &wrong)
        .args(["--max-failures", "1"])
        .output()
        .await
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("metadata describes channel"), "{err}");
}

#[tokio::test]
async fn serve_pulls_configured_channels_and_shows_the_progress_bar() {
    let hub = spawn_app().await;
    let ch = publish_channel(&hub, &[MIB + 3], 4).await;
    let (url, token, id) = (format!("http://{}", hub.http), ch.token.clone(), ch.id);
    let node = crate::common::spawn_app_with(move |c| {
        c.school.upstream = Some(url);
        c.school.upstream_token = Some(token);
        c.school.channels = vec![id];
    })
    .await;
    let teacher = node
        .user("rural-teacher", Role::Teacher, Some("茶香村"))
        .await;
    // Watermark: the pulled channel appears on the node.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let local = loop {
        let v = node.get("/api/school/channels", &teacher).await.json();
        if let Some(c) = v["channels"].as_array().and_then(|a| a.first()) {
            break c["id"].as_i64().unwrap();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the scheduled pull never finished"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_complete(&node.dir.0, &ch);
    let v = node
        .get(&format!("/api/school/channels/{local}"), &teacher)
        .await
        .json();
    assert_eq!(v["files"].as_array().unwrap().len(), ch.files.len());
    let p = node.get("/api/school/pulls", &teacher).await.json();
    assert_eq!(p["pulls"][0]["state"], "done");
    assert_eq!(p["pulls"][0]["percent"], 100);
    let cookie = node.session("rural-teacher", "a-password").await;
    let r = crate::common::request(
        node.http,
        "GET",
        "/school/pulls",
        &[("cookie", &cookie)],
        vec![],
    )
    .await;
    assert_eq!(r.status, 200);
    let html = r.text();
    assert!(
        html.contains(r#"data-state="done""#)
            && html.contains(r#"<progress max="100" value="100""#),
        "{html}"
    );
    // A pulled channel changes only at its origin.
    let r = upload(node.http, &teacher, local, "name=x.txt", b"x").await;
    assert_eq!(r.status, 403);
}
