//! Market load generator against a running cunlink (see bench/market.sh):
//!
//!   cunlink-market-load ADDR orders   TOKEN PRODUCT STATION SECONDS CONNS
//!   cunlink-market-load ADDR flash    TOKENS_FILE SESSION ITEM STATION BUYERS CONNS
//!   cunlink-market-load ADDR search   REQUESTS CONNS
//!
//! Every connection is HTTP/1.1 keep-alive on 127.0.0.1; every loop is bounded.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;

async fn connect(addr: SocketAddr) -> SendRequest<Full<Bytes>> {
    let s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    s.set_nodelay(true).ok();
    let (send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(s))
        .await
        .expect("handshake");
    tokio::spawn(conn);
    send
}

async fn call(
    send: &mut SendRequest<Full<Bytes>>,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<String>,
) -> (u16, Bytes) {
    let mut b = Request::builder()
        .method(method)
        .uri(path)
        .header("host", "bench");
    if let Some(t) = token {
        b = b.header("authorization", format!("Bearer {t}"));
    }
    if body.is_some() {
        b = b.header("content-type", "application/json");
    }
    let req = b
        .body(Full::new(Bytes::from(body.unwrap_or_default())))
        .expect("request");
    send.ready().await.expect("ready");
    let resp = send.send_request(req).await.expect("send");
    let status = resp.status().as_u16();
    let body = resp
        .into_body()
        .collect()
        .await
        .map(|c| c.to_bytes())
        .unwrap_or_default();
    (status, body)
}

fn pct(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i].as_secs_f64() * 1000.0
}

fn report(name: &str, mut lat: Vec<Duration>, took: Duration, extra: &str) {
    lat.sort_unstable();
    println!(
        "{name}: {} requests in {:.1} s = {:.0}/s; latency ms p50 {:.2} p99 {:.2} max {:.2}{extra}",
        lat.len(),
        took.as_secs_f64(),
        lat.len() as f64 / took.as_secs_f64(),
        pct(&lat, 0.5),
        pct(&lat, 0.99),
        pct(&lat, 1.0)
    );
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let addr: SocketAddr = args[1].parse().expect("ADDR");
    match args[2].as_str() {
        "orders" => {
            let (token, product, station) = (args[3].clone(), args[4].clone(), args[5].clone());
            let secs: u64 = args[6].parse().expect("SECONDS");
            let conns: usize = args[7].parse().expect("CONNS");
            let deadline = Instant::now() + Duration::from_secs(secs);
            let started = Instant::now();
            let refused = Arc::new(AtomicUsize::new(0));
            let mut tasks = Vec::new();
            for c in 0..conns {
                let (token, product, station, refused) = (
                    token.clone(),
                    product.clone(),
                    station.clone(),
                    refused.clone(),
                );
                tasks.push(tokio::spawn(async move {
                    let mut send = connect(addr).await;
                    let mut lat = Vec::new();
                    let mut n = 0u64;
                    while Instant::now() < deadline {
                        let body = format!(r#"{{"items":[{{"product_id":{product},"quantity":1}}],"pickup_station_id":{station}}}"#);
                        let t = Instant::now();
                        let b = Request::builder().method("POST").uri("/api/market/orders").header("host", "bench")
                            .header("authorization", format!("Bearer {token}")).header("content-type", "application/json")
                            .header("idempotency-key", format!("bench-{c}-{n}"));
                        send.ready().await.expect("ready");
                        let resp = send.send_request(b.body(Full::new(Bytes::from(body))).expect("req")).await.expect("send");
                        let status = resp.status().as_u16();
                        let _ = resp.into_body().collect().await;
                        lat.push(t.elapsed());
                        if status != 201 {
                            refused.fetch_add(1, Ordering::Relaxed);
                        }
                        n += 1;
                    }
                    lat
                }));
            }
            let mut all = Vec::new();
            for t in tasks {
                all.extend(t.await.expect("task"));
            }
            let r = refused.load(Ordering::Relaxed);
            report(
                "order placement",
                all,
                started.elapsed(),
                &format!("; non-201 answers: {r}"),
            );
        }
        "flash" => {
            let tokens: Vec<String> = std::fs::read_to_string(&args[3])
                .expect("tokens")
                .lines()
                .map(str::to_string)
                .collect();
            let (session, item, station) = (args[4].clone(), args[5].clone(), args[6].clone());
            let buyers: usize = args[7].parse().expect("BUYERS");
            let conns: usize = args[8].parse().expect("CONNS");
            let next = Arc::new(AtomicUsize::new(0));
            let ok = Arc::new(AtomicUsize::new(0));
            let sold_out = Arc::new(AtomicUsize::new(0));
            let tokens = Arc::new(tokens);
            let started = Instant::now();
            let mut tasks = Vec::new();
            for _ in 0..conns {
                let (next, ok, sold_out, tokens) =
                    (next.clone(), ok.clone(), sold_out.clone(), tokens.clone());
                let (session, item, station) = (session.clone(), item.clone(), station.clone());
                tasks.push(tokio::spawn(async move {
                    let mut send = connect(addr).await;
                    let mut lat = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if i >= buyers {
                            break;
                        }
                        let body = format!(
                            r#"{{"item_id":{item},"quantity":1,"pickup_station_id":{station}}}"#
                        );
                        let t = Instant::now();
                        let (s, _) = call(
                            &mut send,
                            "POST",
                            &format!("/api/market/live/{session}/orders"),
                            Some(&tokens[i % tokens.len()]),
                            Some(body),
                        )
                        .await;
                        lat.push(t.elapsed());
                        match s {
                            201 => ok.fetch_add(1, Ordering::Relaxed),
                            409 => sold_out.fetch_add(1, Ordering::Relaxed),
                            other => panic!("flash sale answer {other}"),
                        };
                    }
                    lat
                }));
            }
            let mut all = Vec::new();
            for t in tasks {
                all.extend(t.await.expect("task"));
            }
            let extra = format!(
                "; orders {} sold out {}",
                ok.load(Ordering::Relaxed),
                sold_out.load(Ordering::Relaxed)
            );
            report("flash sale", all, started.elapsed(), &extra);
        }
        "search" => {
            // Latency is measured per request from a stated number of sequential
            // clients (CONNS). The client does no JSON parsing (rows are counted
            // by their key) so it takes as little of the shared 2 cores as it can;
            // the server's own time for the search and the JSON is read from its
            // `Server-Timing` header and reported beside the round trip.
            let requests: usize = args[3].parse().expect("REQUESTS");
            let conns: usize = args[4].parse().expect("CONNS");
            let queries = [
                "%E8%8B%B9%E6%9E%9C",
                "pingguo",
                "pg",
                "ping%20guo",
                "ljc",
                "longjingcha",
                "%E5%A4%A7%E7%B1%B3",
                "dami",
                "td",
                "tudou",
                "bc",
                "xg",
                "jidan",
                "zr",
                "yumi",
                "gj",
            ];
            let next = Arc::new(AtomicUsize::new(0));
            let rows = Arc::new(AtomicUsize::new(0));
            // Warm-up: the first request per query pays page faults and allocator growth.
            {
                let mut send = connect(addr).await;
                for q in queries {
                    let _ = call(
                        &mut send,
                        "GET",
                        &format!("/api/market/prices?q={q}"),
                        None,
                        None,
                    )
                    .await;
                }
            }
            let started = Instant::now();
            let mut tasks = Vec::new();
            for _ in 0..conns {
                let (next, rows) = (next.clone(), rows.clone());
                tasks.push(tokio::spawn(async move {
                    let mut send = connect(addr).await;
                    let mut lat = Vec::new();
                    let mut server = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if i >= requests {
                            break;
                        }
                        let req = Request::builder()
                            .method("GET")
                            .uri(format!(
                                "/api/market/prices?q={}",
                                queries[i % queries.len()]
                            ))
                            .header("host", "bench")
                            .body(Full::new(Bytes::new()))
                            .expect("request");
                        let t = Instant::now();
                        send.ready().await.expect("ready");
                        let resp = send.send_request(req).await.expect("send");
                        let status = resp.status().as_u16();
                        let timing = resp
                            .headers()
                            .get("server-timing")
                            .and_then(|v| v.to_str().ok())
                            .and_then(|v| v.split("dur=").nth(1))
                            .and_then(|d| d.parse::<f64>().ok());
                        let body = resp
                            .into_body()
                            .collect()
                            .await
                            .map(|c| c.to_bytes())
                            .unwrap_or_default();
                        lat.push(t.elapsed());
                        assert_eq!(status, 200);
                        if let Some(ms) = timing {
                            server.push(Duration::from_secs_f64(ms / 1000.0));
                        }
                        rows.fetch_add(
                            body.windows(12).filter(|w| w == b"\"commodity\":").count(),
                            Ordering::Relaxed,
                        );
                    }
                    (lat, server)
                }));
            }
            let mut all = Vec::new();
            let mut server = Vec::new();
            for t in tasks {
                let (l, s) = t.await.expect("task");
                all.extend(l);
                server.extend(s);
            }
            let n = all.len().max(1);
            server.sort_unstable();
            let extra = format!(
                "; {conns} client(s); {:.0} rows per answer; server search+JSON ms p50 {:.3} p99 {:.3}",
                rows.load(Ordering::Relaxed) as f64 / n as f64,
                pct(&server, 0.5),
                pct(&server, 0.99)
            );
            report("price search", all, started.elapsed(), &extra);
        }
        other => panic!("unknown mode {other}"),
    }
}
