//! Wiring: open storage, merge the domains' routes, run the HTTP and MQTT
//! listeners, and shut down in the order that keeps every ack honest:
//! stop accepting → let in-flight requests and MQTT acks finish → commit what is
//! queued → stop the telemetry writer.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use cunlink_affairs::{Affairs, AffairsDeps};
use cunlink_alert::{AlertDeps, Alerts};
use cunlink_board::{BoardDeps, Boards};
use cunlink_clinic::{Clinic, ClinicDeps};
use cunlink_core::auth::{self, AuthService};
use cunlink_core::routes::Routes;
use cunlink_core::{ApiError, Config, Db};
use cunlink_farm::{Farm, FarmDeps};
use cunlink_market::{Market, MarketDeps};
use cunlink_school::{School, SchoolDeps};
use cunlink_web::{Domain, KitBuilder, WebKit};

/// How long shutdown waits for in-flight work before giving up on it.
const DRAIN: Duration = Duration::from_secs(10);

/// A running server.
pub struct Server {
    pub http_addr: SocketAddr,
    pub mqtt_addr: SocketAddr,
    pub farm: Arc<Farm>,
    pub alerts: Arc<Alerts>,
    pub market: Arc<Market>,
    pub auth: AuthService,
    pub boards: Arc<Boards>,
    /// Village affairs (tests move its clock: see `cunlink_affairs::clock`).
    pub affairs: Arc<Affairs>,
    pub clinic: Arc<Clinic>,
    /// Every path the HTTP router registers (see `cunlink_core::routes`); the
    /// access-matrix test walks them all.
    pub route_paths: Vec<String>,
    domains: Vec<Arc<dyn Domain>>,
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

/// Open the data directory and start serving.
pub async fn start(config: Config) -> anyhow::Result<Server> {
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("creating data directory {}", config.data_dir.display()))?;
    let db = Db::from_config(&config)?;
    db.migrate("core", auth::MIGRATIONS)?;
    db.migrate("cluster", cunlink_core::cluster::MIGRATIONS)?;
    // Before the domains: their migrations' sync triggers and the farm's
    // uplink read who this installation is (cunlink_core::sync).
    db.migrate("sync", cunlink_core::sync::MIGRATIONS)?;
    let cluster = cunlink_core::cluster::Cluster::start(db.clone());
    let auth = AuthService::new(db.clone()).with_secure_cookies(config.secure_cookies());
    let http = TcpListener::bind(config.http)
        .await
        .with_context(|| format!("binding HTTP to {}", config.http))?;
    let mqtt = TcpListener::bind(config.mqtt)
        .await
        .with_context(|| format!("binding MQTT to {}", config.mqtt))?;
    let (http_addr, mqtt_addr) = (http.local_addr()?, mqtt.local_addr()?);

    // Each domain is opened from the configuration and the narrow handles it
    // needs; after that the binary sees them only as `Domain`s.
    let farm = Farm::open(
        &config,
        FarmDeps {
            db: db.clone(),
            auth: auth.clone(),
            mqtt_port: mqtt_addr.port(),
            cluster: cluster.clone(),
        },
    )?;
    let alerts = Alerts::open(
        &config,
        AlertDeps {
            db: db.clone(),
            auth: auth.clone(),
            farm: farm.clone(),
        },
    )?;
    // Clinic and affairs notify people through alert's outbox, via the port.
    let notify = alerts.notify_users();
    let market = Market::open(
        &config,
        MarketDeps {
            db: db.clone(),
            auth: auth.clone(),
            farm: farm.clone(),
        },
    )?;
    let boards = Boards::open(
        &config,
        BoardDeps {
            db: db.clone(),
            farm: farm.clone(),
        },
    )?;
    let clinic = Clinic::open(
        &config,
        ClinicDeps {
            db: db.clone(),
            auth: auth.clone(),
            farm: farm.clone(),
            notify: notify.clone(),
        },
    )?;
    let school = School::open(
        &config,
        SchoolDeps {
            db: db.clone(),
            auth: auth.clone(),
        },
    )?;
    let affairs = Affairs::open(
        &config,
        AffairsDeps {
            db: db.clone(),
            auth: auth.clone(),
            notify: notify.clone(),
        },
    )?;
    // Registration order is the order of page and board sections.
    let domains: Vec<Arc<dyn Domain>> = vec![
        farm.clone(),
        alerts.clone(),
        boards.clone(),
        market.clone(),
        clinic.clone(),
        school.clone(),
        affairs.clone(),
    ];

    let kit = web_kit(&auth, &domains);
    let (router, route_paths) = router(&domains, farm.clone(), db.clone(), auth.clone(), kit);
    // Background work runs before the listeners serve: the alert engine is
    // evaluating when the first reading arrives.
    let (shutdown, shutdown_rx) = watch::channel(false);
    let mut tasks = Vec::new();
    tasks.extend(cluster.spawn_heartbeat(shutdown_rx.clone()));
    for d in &domains {
        d.clone().spawn_background(shutdown_rx.clone());
    }
    let mut rx = shutdown_rx.clone();
    tasks.push(tokio::spawn(async move {
        let stop = async move {
            let _ = rx.changed().await;
        };
        // Connect info: the sign-in limits are per client address.
        let app = router.into_make_service_with_connect_info::<SocketAddr>();
        if let Err(e) = axum::serve(http, app).with_graceful_shutdown(stop).await {
            tracing::error!(error = %e, "http server failed");
        }
    }));
    tasks.push(tokio::spawn(cunlink_farm::ingest::mqtt::serve(
        mqtt,
        farm.ingest.clone(),
        shutdown_rx.clone(),
        DRAIN,
        config.mqtt_max_connections,
    )));
    crate::memory::spawn_janitor(shutdown_rx.clone());
    if config.demo {
        crate::demo::start(
            farm.clone(),
            auth.clone(),
            boards.clone(),
            shutdown_rx.clone(),
        )
        .await?;
        crate::demo_market::seed(&market).await?;
        crate::demo_alert::seed(&alerts).await?;
        crate::demo_affairs::seed(&affairs).await?;
        crate::demo_clinic::seed(&clinic, &farm).await?;
        crate::demo_school::seed(&school).await?;
    }
    tracing::info!(%http_addr, %mqtt_addr, data_dir = %config.data_dir.display(), demo = config.demo, "cunlink is serving");
    Ok(Server {
        http_addr,
        mqtt_addr,
        farm,
        alerts,
        market,
        auth,
        boards,
        affairs,
        clinic,
        route_paths,
        domains,
        shutdown,
        tasks,
    })
}

impl Server {
    /// Resolves with the reason when the server can no longer do its job (the
    /// telemetry writer stopped); the binary then shuts down and exits non-zero.
    pub async fn failed(&self) -> String {
        self.farm.telemetry.health.wait_down().await
    }

    /// Graceful shutdown: every acknowledged write is committed before this returns.
    pub async fn shutdown(self) {
        tracing::info!("shutting down: finishing in-flight requests and MQTT acks");
        let _ = self.shutdown.send(true);
        for t in self.tasks {
            let abort = t.abort_handle();
            if tokio::time::timeout(DRAIN, t).await.is_err() {
                // Long-lived streams (SSE) do not end by themselves.
                abort.abort();
            }
        }
        // Later domains depend on earlier ones (the market on the farm): stop
        // them first.
        for d in self.domains.iter().rev() {
            let d = d.clone();
            let _ = tokio::task::spawn_blocking(move || d.shutdown()).await;
        }
        tracing::info!("stopped");
    }
}

/// The web kit with every domain's strings, navigation, page and board sections.
fn web_kit(auth: &AuthService, domains: &[Arc<dyn Domain>]) -> WebKit {
    let mut kit = KitBuilder::new(auth.clone());
    for d in domains {
        d.clone().register(&mut kit);
    }
    kit.build()
}

/// Health and metrics, sign-in and the shell's own pages, then every domain's
/// API and pages.
fn router(
    domains: &[Arc<dyn Domain>],
    farm: Arc<Farm>,
    db: Db,
    auth: AuthService,
    kit: WebKit,
) -> (Router, Vec<String>) {
    let metrics_domains = domains.to_vec();
    let metrics_db = db.clone();
    let mut routes = Routes::new()
        .route("/healthz", get(move || health(farm.clone(), db.clone())))
        .route(
            "/metrics",
            get(move || metrics(metrics_domains.clone(), metrics_db.clone())),
        )
        .merge(cunlink_core::web::routes(auth))
        .merge(cunlink_web::routes::routes(kit.clone()));
    for d in domains {
        routes = routes
            .merge(d.clone().api_routes())
            .merge(d.clone().page_routes(&kit));
    }
    let (router, paths) = routes.into_parts();
    let router = router
        .fallback(|| async { ApiError::not_found("not_found", "no such page or API route") })
        .layer(axum::middleware::from_fn_with_state(
            kit,
            cunlink_web::home::landing,
        ))
        .layer(axum::middleware::from_fn(json_errors))
        .layer(axum::middleware::from_fn(cunlink_web::compress::layer));
    (router, paths)
}

/// Rejections produced by axum's own extractors (malformed JSON body, wrong
/// Content-Type, bad query string, wrong method) are plain text; turn them into
/// the JSON error shape every cunlink route promises.
async fn json_errors(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let resp = next.run(req).await;
    let status = resp.status();
    // Pages answer their own HTML errors.
    let is_json = resp.headers().get(header::CONTENT_TYPE).is_some_and(|v| {
        v.as_bytes().starts_with(b"application/json") || v.as_bytes().starts_with(b"text/html")
    });
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return resp;
    }
    let (parts, body) = resp.into_parts();
    let text = axum::body::to_bytes(body, 64 * 1024)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_string())
        .unwrap_or_default();
    let code = match status {
        StatusCode::BAD_REQUEST => "bad_request",
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::PAYLOAD_TOO_LARGE => "body_too_large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        StatusCode::UNPROCESSABLE_ENTITY => "invalid_body",
        _ => "error",
    };
    let message = if text.is_empty() {
        status.canonical_reason().unwrap_or("error").to_string()
    } else {
        text
    };
    let mut out = ApiError::new(status, code, message).into_response();
    for name in [header::ALLOW, header::RETRY_AFTER] {
        if let Some(v) = parts.headers.get(&name) {
            out.headers_mut().insert(name, v.clone());
        }
    }
    out
}

/// How long `/healthz` waits for the database to answer `SELECT 1`.
const HEALTH_DB_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// The application database answers, and how fast: `(backend, Ok(ms) | Err(why))`.
async fn database_health(db: &Db) -> (&'static str, Result<f64, String>) {
    let backend = match db.backend() {
        cunlink_core::sql::Backend::Sqlite => "sqlite",
        cunlink_core::sql::Backend::Postgres => "postgres",
    };
    let started = std::time::Instant::now();
    let probe = db.call(|c| {
        c.query_row("SELECT 1", [], |r| r.get::<_, i64>(0))
            .map_err(cunlink_core::DbError::from)
    });
    let answer = match tokio::time::timeout(HEALTH_DB_WAIT, probe).await {
        Ok(Ok(_)) => Ok(started.elapsed().as_secs_f64() * 1000.0),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!("no answer within {} s", HEALTH_DB_WAIT.as_secs())),
    };
    (backend, answer)
}

/// 200 while readings can be stored and the database answers; 503 with the
/// reason while the database is unreachable, telemetry commits fail, or after
/// the writer stopped (the process is then exiting).
async fn health(farm: Arc<Farm>, db: Db) -> Response {
    use cunlink_farm::telemetry::WriterState;
    let (backend, answer) = database_health(&db).await;
    let ms = match answer {
        Ok(ms) => ms,
        Err(why) => {
            return ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "database_unreachable",
                format!("the {backend} database does not answer: {why}"),
            )
            .into_response();
        }
    };
    match farm.telemetry.health.state() {
        WriterState::Ok => axum::Json(serde_json::json!({
            "status": "ok",
            // Which node answered (several nodes: docs/scale.md).
            "node": cunlink_core::cluster::node_id(),
            "database": {
                "backend": backend,
                "latency_ms": (ms * 100.0).round() / 100.0,
                "pool": db.pool_stats(),
            },
        }))
        .into_response(),
        WriterState::Failing { since_ms, error } => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "telemetry_commits_failing",
            format!("telemetry commits have failed since {since_ms} (ms since the epoch): {error}"),
        )
        .into_response(),
        WriterState::Down { reason } => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "telemetry_writer_down",
            format!("the telemetry writer stopped ({reason}); cunlink is exiting"),
        )
        .into_response(),
    }
}

async fn metrics(domains: Vec<Arc<dyn Domain>>, db: Db) -> Response {
    let mut out = String::with_capacity(8192);
    for d in &domains {
        d.render_metrics(&mut out);
    }
    render_pool_metrics(&db, &mut out);
    if let Some(rss) = rss_bytes() {
        out.push_str(&format!("# HELP process_resident_memory_bytes Resident memory.\n# TYPE process_resident_memory_bytes gauge\nprocess_resident_memory_bytes {rss}\n"));
    }
    let mut resp = (StatusCode::OK, out).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    resp
}

/// The application database's connection pool (SQLite: one connection).
fn render_pool_metrics(db: &Db, out: &mut String) {
    use std::fmt::Write;
    let p = db.pool_stats();
    let backend = match db.backend() {
        cunlink_core::sql::Backend::Sqlite => "sqlite",
        cunlink_core::sql::Backend::Postgres => "postgres",
    };
    let _ = write!(
        out,
        "# HELP cunlink_db_info The application database's backend.\n# TYPE cunlink_db_info gauge\ncunlink_db_info{{backend=\"{backend}\"}} 1\n\
         # HELP cunlink_db_pool_size Most connections the pool opens.\n# TYPE cunlink_db_pool_size gauge\ncunlink_db_pool_size {}\n\
         # HELP cunlink_db_pool_in_use Connections lent out now.\n# TYPE cunlink_db_pool_in_use gauge\ncunlink_db_pool_in_use {}\n\
         # HELP cunlink_db_pool_idle Open connections waiting in the pool.\n# TYPE cunlink_db_pool_idle gauge\ncunlink_db_pool_idle {}\n\
         # HELP cunlink_db_pool_waiting Callers waiting for a connection.\n# TYPE cunlink_db_pool_waiting gauge\ncunlink_db_pool_waiting {}\n\
         # HELP cunlink_db_connections_opened_total Connections opened.\n# TYPE cunlink_db_connections_opened_total counter\ncunlink_db_connections_opened_total {}\n\
         # HELP cunlink_db_connect_failures_total Connection attempts that failed.\n# TYPE cunlink_db_connect_failures_total counter\ncunlink_db_connect_failures_total {}\n",
        p.size, p.in_use, p.idle, p.waiting, p.opened_total, p.failed_total
    );
}

fn rss_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

/// Resolve when the process is asked to stop (SIGINT or SIGTERM).
pub async fn stop_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
}
