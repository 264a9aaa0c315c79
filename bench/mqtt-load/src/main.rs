//! MQTT QoS 1 load generator.
//!
//! Opens `--conns` connections (each its own device when `--tokens-file` lists
//! access tokens, one per line), keeps `--inflight` unacknowledged PUBLISHes per
//! connection, and counts PUBACKs for `--seconds`. Prints one line:
//!
//! `RESULT conns=.. acked=.. seconds=.. msgs_per_s=.. p50_ms=.. p99_ms=.. max_ms=.. errors=..`
//!
//! The MQTT encoding here is written independently of cunlink's server code, so a
//! bug there cannot hide in the measurement. Every loop is bounded by time.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

struct Args {
    host: String,
    port: u16,
    conns: usize,
    inflight: usize,
    seconds: f64,
    tokens: Vec<String>,
    topic: String,
    payload: String,
    /// Total PUBLISHes per second across connections (0: as fast as acks allow).
    rate: f64,
}

fn parse_args() -> Args {
    let mut a = Args {
        host: "127.0.0.1".into(),
        port: 1883,
        conns: 1000,
        inflight: 10,
        seconds: 10.0,
        tokens: Vec::new(),
        topic: "v1/devices/me/telemetry".into(),
        payload: r#"{"temperature":23.5,"humidity":61.2}"#.into(),
        rate: 0.0,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut val = || {
            it.next()
                .unwrap_or_else(|| die(&format!("{flag} needs a value")))
        };
        match flag.as_str() {
            "--host" => a.host = val(),
            "--port" => a.port = val().parse().unwrap_or_else(|_| die("bad --port")),
            "--conns" => a.conns = val().parse().unwrap_or_else(|_| die("bad --conns")),
            "--inflight" => a.inflight = val().parse().unwrap_or_else(|_| die("bad --inflight")),
            "--seconds" => a.seconds = val().parse().unwrap_or_else(|_| die("bad --seconds")),
            "--token" => a.tokens = vec![val()],
            "--tokens-file" => {
                let text = std::fs::read_to_string(val())
                    .unwrap_or_else(|e| die(&format!("tokens file: {e}")));
                a.tokens = text
                    .lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty())
                    .map(String::from)
                    .collect();
            }
            "--topic" => a.topic = val(),
            "--payload" => a.payload = val(),
            "--rate" => a.rate = val().parse().unwrap_or_else(|_| die("bad --rate")),
            "-h" | "--help" => {
                println!(
                    "cunlink-mqtt-load [--host H] [--port P] [--conns N] [--inflight N] [--seconds S] [--token T | --tokens-file F] [--topic T] [--payload JSON] [--rate MSGS_PER_S]"
                );
                std::process::exit(0);
            }
            other => die(&format!("unknown flag {other}")),
        }
    }
    a
}

fn die(msg: &str) -> ! {
    eprintln!("cunlink-mqtt-load: {msg}");
    std::process::exit(2);
}

fn put_len(out: &mut Vec<u8>, mut n: usize) {
    loop {
        let mut b = (n % 128) as u8;
        n /= 128;
        if n > 0 {
            b |= 0x80;
        }
        out.push(b);
        if n == 0 {
            return;
        }
    }
}

fn put_str(out: &mut Vec<u8>, s: &[u8]) {
    out.extend_from_slice(&(s.len() as u16).to_be_bytes());
    out.extend_from_slice(s);
}

fn connect_packet(client_id: &str, username: Option<&str>) -> Vec<u8> {
    let mut body = Vec::new();
    put_str(&mut body, b"MQTT");
    body.push(4);
    body.push(0x02 | if username.is_some() { 0x80 } else { 0 });
    body.extend_from_slice(&60u16.to_be_bytes());
    put_str(&mut body, client_id.as_bytes());
    if let Some(u) = username {
        put_str(&mut body, u.as_bytes());
    }
    let mut out = vec![0x10];
    put_len(&mut out, body.len());
    out.extend(body);
    out
}

fn publish_packet(out: &mut Vec<u8>, topic: &[u8], payload: &[u8], pkid: u16) {
    out.push(0x32);
    put_len(out, 2 + topic.len() + 2 + payload.len());
    put_str(out, topic);
    out.extend_from_slice(&pkid.to_be_bytes());
    out.extend_from_slice(payload);
}

#[derive(Default)]
struct ConnResult {
    acked: u64,
    /// Acks received before the stop time: the throughput figure.
    in_window: u64,
    errors: u64,
    latencies_us: Vec<u32>,
}

async fn run_conn(i: usize, a: &Args, start_at: Instant, stop_at: Instant) -> ConnResult {
    let mut r = ConnResult::default();
    let token = if a.tokens.is_empty() {
        None
    } else {
        Some(a.tokens[i % a.tokens.len()].as_str())
    };
    let Ok(Ok(mut s)) = tokio::time::timeout(
        Duration::from_secs(30),
        TcpStream::connect((a.host.as_str(), a.port)),
    )
    .await
    else {
        r.errors += 1;
        return r;
    };
    let _ = s.set_nodelay(true);
    if s.write_all(&connect_packet(&format!("load-{i}"), token))
        .await
        .is_err()
    {
        r.errors += 1;
        return r;
    }
    let mut buf = vec![0u8; 64 * 1024];
    let mut have = 0usize;
    // CONNACK
    while have < 4 {
        match tokio::time::timeout(Duration::from_secs(30), s.read(&mut buf[have..])).await {
            Ok(Ok(n)) if n > 0 => have += n,
            _ => {
                r.errors += 1;
                return r;
            }
        }
    }
    if buf[0] != 0x20 || buf[3] != 0 {
        eprintln!("connection {i}: CONNACK refused (code {})", buf[3]);
        r.errors += 1;
        return r;
    }
    have -= 4;
    buf.copy_within(4..4 + have, 0);
    tokio::time::sleep_until(start_at.into()).await;

    let (topic, payload) = (a.topic.as_bytes(), a.payload.as_bytes());
    let mut sent_at: VecDeque<Instant> = VecDeque::with_capacity(a.inflight);
    let mut next_id: u16 = 1;
    let mut out = Vec::with_capacity(a.inflight * 64);
    let (mut rd, mut wr) = s.into_split();
    // With --rate, this connection's share of it, spread evenly.
    let gap = (a.rate > 0.0).then(|| Duration::from_secs_f64(a.conns as f64 / a.rate));
    let mut next_send =
        start_at + gap.map_or(Duration::ZERO, |g| g.mul_f64(i as f64 / a.conns as f64));
    loop {
        let now = Instant::now();
        if now < stop_at {
            while sent_at.len() < a.inflight && (gap.is_none() || now >= next_send) {
                if let Some(g) = gap {
                    next_send += g;
                }
                publish_packet(&mut out, topic, payload, next_id);
                next_id = if next_id == u16::MAX { 1 } else { next_id + 1 };
                sent_at.push_back(now);
            }
            if !out.is_empty() {
                if wr.write_all(&out).await.is_err() {
                    r.errors += 1;
                    break;
                }
                out.clear();
            }
        } else if sent_at.is_empty() {
            break;
        }
        // Wait for acks, bounded: after the stop time, give stragglers 10 s at most.
        let deadline = if now < stop_at {
            stop_at + Duration::from_secs(10)
        } else {
            now + Duration::from_secs(10)
        };
        // Paced: wake for the next send even when no ack comes.
        let wake = match gap {
            Some(_) if now < stop_at && sent_at.len() < a.inflight => deadline.min(next_send),
            _ => deadline,
        };
        let n = match tokio::time::timeout_at(wake.into(), rd.read(&mut buf[have..])).await {
            Ok(Ok(n)) if n > 0 => n,
            Err(_) if wake < deadline => continue,
            _ => {
                r.errors += 1;
                break;
            }
        };
        have += n;
        let mut pos = 0;
        while have - pos >= 4 {
            if buf[pos] != 0x40 {
                eprintln!("connection {i}: unexpected packet type {:#x}", buf[pos]);
                r.errors += 1;
                return r;
            }
            let len = buf[pos + 1] as usize;
            if have - pos < 2 + len {
                break;
            }
            if let Some(t) = sent_at.pop_front() {
                r.acked += 1;
                if Instant::now() <= stop_at {
                    r.in_window += 1;
                }
                r.latencies_us
                    .push(t.elapsed().as_micros().min(u32::MAX as u128) as u32);
            }
            pos += 2 + len;
        }
        buf.copy_within(pos..have, 0);
        have -= pos;
    }
    r
}

fn main() {
    let a: &'static Args = Box::leak(Box::new(parse_args()));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| die(&e.to_string()));
    rt.block_on(async move {
        // Connect everyone first, then start publishing together.
        let start_at = Instant::now() + Duration::from_secs(2) + Duration::from_micros(a.conns as u64 * 500);
        let stop_at = start_at + Duration::from_secs_f64(a.seconds);
        let tasks: Vec<_> = (0..a.conns).map(|i| tokio::spawn(run_conn(i, a, start_at, stop_at))).collect();
        let mut total = ConnResult::default();
        for t in tasks {
            if let Ok(r) = t.await {
                total.acked += r.acked;
                total.in_window += r.in_window;
                total.errors += r.errors;
                total.latencies_us.extend(r.latencies_us);
            }
        }
        let secs = a.seconds;
        total.latencies_us.sort_unstable();
        let pct = |p: f64| -> f64 {
            if total.latencies_us.is_empty() {
                return 0.0;
            }
            let idx = ((total.latencies_us.len() as f64 * p) as usize).min(total.latencies_us.len() - 1);
            total.latencies_us[idx] as f64 / 1000.0
        };
        println!(
            "RESULT conns={} inflight={} acked={} seconds={:.1} msgs_per_s={:.0} p50_ms={:.2} p99_ms={:.2} max_ms={:.2} errors={}",
            a.conns,
            a.inflight,
            total.acked,
            secs,
            total.in_window as f64 / secs,
            pct(0.50),
            pct(0.99),
            total.latencies_us.last().map_or(0.0, |m| *m as f64 / 1000.0),
            total.errors
        );
    });
}
