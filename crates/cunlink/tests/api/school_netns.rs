//! The pull over a rate-limited link: the puller runs in a network namespace
//! this test creates, joined to the upstream by a veth pair whose upstream
//! side is limited with `tc qdisc … tbf rate 8mbit`; the link is taken down and
//! up again mid-pull. Needs root and iproute2 (`./test` installs it).
//!
//! Data set: one channel of 4 MiB + 2 MiB + 10 files of 2,000 B.

use std::process::Command;
use std::time::Duration;

use crate::common::{TempDir, spawn_app_with};
use crate::school_pull::{MIB, assert_complete, publish_channel, pull_cmd};

/// The link's rate: 8 Mbit/s = 1,000,000 B/s.
const RATE_BPS: i64 = 1_000_000;

fn sh(args: &[&str]) {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .unwrap_or_else(|e| panic!("{args:?}: {e} (install iproute2: apt-get install iproute2)"));
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A namespace and veth pair, removed when dropped.
pub struct Link {
    pub ns: String,
    pub host_if: String,
    pub host_ip: String,
    /// The veth end inside the namespace.
    pub peer_if: String,
    /// The namespace side's address.
    pub inner_ip: String,
}

impl Link {
    pub fn new(rate: &str) -> Link {
        // Several links in one test process (the school's and the node's tests
        // run side by side): a counter keeps names and subnets apart.
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let tag = format!("{}{n}", std::process::id() % 10_000);
        let net = std::process::id() % 250 + 1;
        let second = 231 + n % 20;
        let l = Link {
            ns: format!("cls{tag}"),
            host_if: format!("cvh{tag}"),
            host_ip: format!("10.{second}.{net}.1"),
            peer_if: format!("cvn{tag}"),
            inner_ip: format!("10.{second}.{net}.2"),
        };
        let peer = l.peer_if.clone();
        let _ = Command::new("ip").args(["netns", "del", &l.ns]).output();
        sh(&["ip", "netns", "add", &l.ns]);
        sh(&[
            "ip", "link", "add", &l.host_if, "type", "veth", "peer", "name", &peer,
        ]);
        sh(&["ip", "link", "set", &peer, "netns", &l.ns]);
        sh(&[
            "ip",
            "addr",
            "add",
            &format!("{}/24", l.host_ip),
            "dev",
            &l.host_if,
        ]);
        sh(&["ip", "link", "set", &l.host_if, "up"]);
        let inside = |a: &[&str]| {
            let mut v = vec!["ip", "netns", "exec", &l.ns];
            v.extend_from_slice(a);
            sh(&v);
        };
        inside(&[
            "ip",
            "addr",
            "add",
            &format!("{}/24", l.inner_ip),
            "dev",
            &peer,
        ]);
        inside(&["ip", "link", "set", &peer, "up"]);
        inside(&["ip", "link", "set", "lo", "up"]);
        // Upstream → puller: what a county hub's uplink to a village looks like.
        sh(&[
            "tc", "qdisc", "add", "dev", &l.host_if, "root", "tbf", "rate", rate, "burst",
            "32kbit", "latency", "400ms",
        ]);
        l
    }

    /// Limit the other direction too (namespace → host: a village's uplink).
    pub fn shape_inside(&self, rate: &str) {
        sh(&[
            "ip", "netns", "exec", &self.ns, "tc", "qdisc", "add", "dev", &self.peer_if, "root", "tbf",
            "rate", rate, "burst", "32kbit", "latency", "400ms",
        ]);
    }

    pub fn set(&self, up: bool) {
        sh(&[
            "ip",
            "link",
            "set",
            &self.host_if,
            if up { "up" } else { "down" },
        ]);
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        // Deleting the namespace deletes the veth pair with it.
        let _ = Command::new("ip").args(["netns", "del", &self.ns]).output();
    }
}

#[tokio::test]
async fn pull_over_a_tbf_limited_link_with_cuts_completes_with_a_sane_eta() {
    let link = Link::new("8mbit");
    let ip = link.host_ip.clone();
    let app = spawn_app_with(move |c| c.http = format!("{ip}:0").parse().unwrap()).await;
    let ch = publish_channel(&app, &[4 * MIB, 2 * MIB], 10).await;
    let dir = TempDir::new("school-tbf");
    let from = format!("http://{}", app.http);
    let inner = pull_cmd(&dir.0, &from, &ch);
    let std = inner.as_std();
    let mut cmd = tokio::process::Command::new("ip");
    cmd.args(["netns", "exec", &link.ns])
        .arg(std.get_program())
        .args(std.get_args())
        .envs(std.get_envs().filter_map(|(k, v)| Some((k, v?))));
    if let Some(url) = crate::common::test_database_url(&dir.0) {
        cmd.env("CUNLINK_DATABASE_URL", socket_url(&url));
    }
    cmd.stdout(std::process::Stdio::piped()).kill_on_drop(true);
    let started = std::time::Instant::now();
    let child = cmd.spawn().unwrap();

    // Watermark: 2 MiB done. Then read the progress the page shows.
    let progress = || -> Option<(i64, i64, i64)> {
        // A fresh connection each time: a failed read on PostgreSQL must not
        // leave a broken one behind. Before the pull has migrated the
        // database, there is simply no row yet.
        let c = match crate::common::test_database_url(&dir.0) {
            Some(url) => cunlink_core::sql::Connection::connect_postgres(&url).ok()?,
            None => cunlink_core::sql::Connection::open(dir.0.join("cunlink.db")).ok()?,
        };
        c.query_row(
            "SELECT bytes_done, bytes_total, rate_bps FROM school_pulls ORDER BY id DESC LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .ok()
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let (done, total, rate) = loop {
        if let Some(p) = progress()
            && p.0 >= 2 * MIB as i64
        {
            break p;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no progress over the link"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let eta = (total - done) / rate.max(1);
    let ideal = (total - done) / RATE_BPS;
    eprintln!("tbf 8mbit: at {done}/{total} B rate={rate} B/s eta={eta}s (ideal {ideal}s)");
    assert!(
        rate > RATE_BPS / 2 && rate < RATE_BPS * 12 / 10,
        "measured rate {rate} B/s on a {RATE_BPS} B/s link"
    );
    assert!(
        eta >= ideal * 8 / 10 && eta <= ideal * 2 + 1,
        "eta {eta}s, ideal {ideal}s"
    );

    // A link cut of 3 s (an outage's length, not a wait for a result).
    link.set(false);
    tokio::time::sleep(Duration::from_secs(3)).await;
    link.set(true);

    let out = tokio::time::timeout(Duration::from_secs(120), child.wait_with_output())
        .await
        .expect("the pull finishes")
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    let last = stdout.lines().last().unwrap_or("");
    assert!(
        last.starts_with(&format!("files={} bytes={}", ch.files.len(), ch.payload)),
        "{last}"
    );
    assert_complete(&dir.0, &ch);
    eprintln!(
        "tbf 8mbit with a 3 s cut: {} B in {:?}",
        ch.payload,
        started.elapsed()
    );
}

/// The test database's URL through PostgreSQL's Unix socket: inside the
/// namespace, 127.0.0.1 is the namespace's own loopback, but the socket file
/// is on the shared filesystem.
fn socket_url(tcp_url: &str) -> String {
    let c = cunlink_core::sql::Connection::connect_postgres(tcp_url).unwrap();
    let show = |what: &str| -> String {
        c.query_row(&format!("SHOW {what}"), [], |r| r.get(0))
            .unwrap()
    };
    let dirs = show("unix_socket_directories");
    let sock = dirs.split(',').next().unwrap().trim().to_string();
    assert!(
        !sock.is_empty(),
        "the test PostgreSQL has no Unix socket (tests/pg.sh sets one)"
    );
    let port = show("port");
    let db = tcp_url.rsplit('/').next().unwrap();
    let user: String = c
        .query_row("SELECT current_user::text", [], |r| r.get(0))
        .unwrap();
    format!("postgresql:///{db}?user={user}&host={sock}&port={port}")
}
