//! Clinic benchmark (issue 11's performance targets), over HTTP on loopback,
//! one keep-alive connection, sequential requests, 20 warm-up + 500 measured:
//!
//! * `GET /fhir/r4/Patient/{id}/$everything` for a patient with 100 consults
//!   (each: 3 vital-sign observations, a SOAP note with an ICD-10 diagnosis, a
//!   2-line prescription; every other one revised, every third dispensed) —
//!   target p99 ≤ 20 ms. Each request also commits its access-log row (fsync).
//! * The department queue page `/clinic/queue` with 10,000 patients in 10
//!   villages and 2,000 consults, 500 of them waiting in 内科 (the page lists
//!   the oldest 100) — target p99 ≤ 10 ms.
//!
//! `cargo run --release -p cunlink --example clinic_bench` (or bench/clinic.sh).

use std::time::{Duration, Instant};

use anyhow::Context;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use cunlink_clinic::store::{consults, people, records};
use cunlink_core::Config;
use cunlink_core::auth::{LoginOutcome, Role};

const PATIENTS: usize = 10_000;
const VILLAGES: usize = 10;
const BIG_RECORD: usize = 100;
const OTHER_CONSULTS: usize = 2_000;
const WAITING: usize = 500;
const WARMUP: usize = 20;
const ROUNDS: usize = 500;

fn main() -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(run())
}

async fn run() -> anyhow::Result<()> {
    let dir = std::env::temp_dir().join(format!("cunlink-clinic-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let mut config = Config {
        data_dir: dir.clone(),
        ..Config::default()
    };
    config.http = "127.0.0.1:0".parse()?;
    config.mqtt = "127.0.0.1:0".parse()?;
    let server = cunlink::app::start(config).await?;
    let auth = server.auth.clone();
    let (vdoc, cdoc) = tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
        for v in 0..VILLAGES {
            auth.create_user_blocking(
                &format!("vdoc-{v}"),
                "bench-password",
                Role::Doctor,
                Some(&format!("village-{v}")),
            )?;
        }
        let cdoc = auth.create_user_blocking("cdoc", "bench-password", Role::Doctor, None)?;
        let vdoc = auth.user_by_name_blocking("vdoc-0")?;
        Ok((vdoc, cdoc))
    })
    .await??;
    let token = server.auth.create_api_token_blocking(vdoc.id)?;

    // Setup straight into the clinic's store (not what is measured).
    let t = Instant::now();
    let (vdoc_id, cdoc_id) = (vdoc.id, cdoc.id);
    let big = server
        .clinic
        .db
        .call(move |c| -> Result<i64, cunlink_clinic::ClinicError> {
            let tx = c.transaction()?;
            let dep = people::link_county_doctor(&tx, cdoc_id, "内科")?;
            let mut villages = Vec::new();
            for v in 0..VILLAGES {
                villages.push(
                    cunlink_core::auth::village_id(&tx, &format!("village-{v}"))?.unwrap_or(0),
                );
            }
            let mut ids = Vec::with_capacity(PATIENTS);
            for i in 0..PATIENTS {
                let sex = ["female", "male"][i % 2];
                let birth = format!("{}-{:02}-{:02}", 1930 + i % 80, 1 + i % 12, 1 + i % 28);
                let name = format!("病人{i:05}");
                ids.push(people::insert_patient(
                    &tx,
                    &people::NewPatient {
                        name: &name,
                        sex,
                        birth_date: &birth,
                        village_id: villages[i % VILLAGES],
                        phone: None,
                        user_id: None,
                        created_by: vdoc_id,
                    },
                )?);
            }
            let big = ids[0];
            let line = |d: &str| records::Line {
                drug: d.into(),
                dose: "5 mg".into(),
                route: "口服".into(),
                frequency: "每日一次".into(),
                days: 14,
                quantity: 14,
            };
            for n in 0..BIG_RECORD {
                let k = consults::insert(&tx, big, dep, vdoc_id, "头晕复诊")?;
                consults::transition(
                    &tx,
                    k,
                    &[cunlink_clinic::ConsultStatus::Waiting],
                    cunlink_clinic::ConsultStatus::Accepted,
                    Some(cdoc_id),
                )?;
                for (key, v) in [
                    ("systolic", 140.0),
                    ("diastolic", 90.0),
                    ("heart_rate", 72.0),
                ] {
                    consults::insert_observation(&tx, k, key, v, None, 1_700_000_000_000)?;
                }
                records::insert_note(
                    &tx,
                    k,
                    cdoc_id,
                    &records::NewNote {
                        subjective: "头晕",
                        objective: "BP 140/90",
                        assessment: "高血压",
                        plan: "继续服药",
                        diagnosis: "原发性高血压",
                        icd10: Some("I10"),
                    },
                )?;
                let (rx, _) = records::insert_prescription(
                    &tx,
                    k,
                    cdoc_id,
                    None,
                    &[line("氨氯地平片"), line("阿司匹林")],
                )?;
                let mut last = rx;
                if n % 2 == 0 {
                    let prev = records::prescription(&tx, rx)?
                        .ok_or(cunlink_core::sql::Error::NoRows)?;
                    last = records::insert_prescription(
                        &tx,
                        k,
                        cdoc_id,
                        Some(&prev),
                        &[line("氨氯地平片")],
                    )?
                    .0;
                }
                if n % 3 == 0 {
                    records::dispense(&tx, last, vdoc_id)?;
                }
                consults::transition(
                    &tx,
                    k,
                    &[cunlink_clinic::ConsultStatus::Accepted],
                    cunlink_clinic::ConsultStatus::Closed,
                    None,
                )?;
            }
            for i in 0..OTHER_CONSULTS {
                let k =
                    consults::insert(&tx, ids[1 + (i * 7) % (PATIENTS - 1)], dep, vdoc_id, "咳嗽")?;
                if i >= WAITING {
                    consults::transition(
                        &tx,
                        k,
                        &[cunlink_clinic::ConsultStatus::Waiting],
                        cunlink_clinic::ConsultStatus::Closed,
                        None,
                    )?;
                }
            }
            tx.commit()?;
            Ok(big)
        })
        .await?;
    eprintln!(
        "{PATIENTS} patients, {} consults seeded in {:.1?}",
        BIG_RECORD + OTHER_CONSULTS,
        t.elapsed()
    );

    let cookie = match server.auth.login("cdoc", "bench-password", None).await? {
        LoginOutcome::SignedIn(_, s) => {
            format!("{}={}", cunlink_core::web::SESSION_COOKIE, s.token)
        }
        _ => anyhow::bail!("cdoc could not sign in"),
    };
    let addr = server.http_addr;
    let stream = TcpStream::connect(addr).await?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(conn);
    let cases = [
        (
            format!("/fhir/r4/Patient/{big}/$everything"),
            format!("Bearer {token}"),
            "authorization",
            20.0,
        ),
        // The same audited record read with a one-resource answer: the rest of $everything is JSON.
        (
            format!("/fhir/r4/Patient/{big}"),
            format!("Bearer {token}"),
            "authorization",
            20.0,
        ),
        ("/clinic/queue".to_string(), cookie.clone(), "cookie", 10.0),
        ("/clinic/queue/rows".to_string(), cookie, "cookie", 10.0),
    ];
    println!(
        "data set: {PATIENTS} patients in {VILLAGES} villages; a record of {BIG_RECORD} consults; {OTHER_CONSULTS} other consults, {WAITING} waiting in 内科"
    );
    println!(
        "{:<44} {:>8} {:>8} {:>8} {:>9} {:>7}",
        "request", "p50 ms", "p99 ms", "max ms", "bytes", "target"
    );
    let mut failed = false;
    for (path, value, header, target) in &cases {
        let mut times = Vec::with_capacity(ROUNDS);
        let mut size = 0;
        for i in 0..WARMUP + ROUNDS {
            let req = Request::get(path.as_str())
                .header("host", addr.to_string())
                .header(*header, value.as_str())
                .body(Full::new(Bytes::new()))?;
            sender.ready().await?;
            let t = Instant::now();
            let resp = sender
                .send_request(req)
                .await
                .with_context(|| format!("GET {path}"))?;
            let status = resp.status();
            let body = resp.into_body().collect().await?.to_bytes();
            let took = t.elapsed();
            anyhow::ensure!(status.is_success(), "{path}: {status}");
            if i >= WARMUP {
                times.push(took);
                size = body.len();
            }
        }
        times.sort();
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        let p = |q: f64| ms(times[((times.len() as f64 * q).ceil() as usize).saturating_sub(1)]);
        let (p50, p99, max) = (
            p(0.50),
            p(0.99),
            ms(*times.last().unwrap_or(&Duration::ZERO)),
        );
        failed |= p99 > *target;
        println!(
            "{path:<44} {p50:>8.2} {p99:>8.2} {max:>8.2} {size:>9} {:>6}{}",
            format!("{target}"),
            if p99 > *target { " MISS" } else { "" }
        );
    }
    server.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
    if failed {
        anyhow::bail!("a p99 target was missed");
    }
    Ok(())
}
