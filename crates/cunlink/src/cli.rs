//! The command line. Forms used by scripts (the contract):
//!
//! ```text
//! cunlink serve [--data-dir DIR] [--http ADDR] [--mqtt ADDR] [--demo]
//! cunlink user create --data-dir DIR --username NAME --role ROLE [--village NAME | --department NAME]   (password on stdin; prints an API token last)
//! cunlink station create --data-dir DIR --village NAME --name NAME   (prints the station id last)
//! cunlink device create --data-dir DIR --name NAME [--type PROFILE] [--asset NAME] [--village NAME | --county-level] [--gateway] [--dev-eui HEX]   (prints the access token last)
//! cunlink integration create --data-dir DIR --name NAME   (prints the integration token last)
//! cunlink board create --data-dir DIR --name NAME --asset NAME [--asset NAME ...] [--keys a,b]   (prints /board/{slug} last)
//! cunlink user disable --data-dir DIR --username NAME
//! cunlink user revoke-tokens --data-dir DIR --username NAME
//! cunlink school pull --data-dir DIR --from URL --channel ID --token TOKEN   (last line: files=N bytes=B fetched=F)
//! cunlink profile set --data-dir DIR --name PROFILE [--retention-days N] [--rollup-retention-days N] [--reporting-interval-s N]   (0 days = forever; creates the profile if new)
//! cunlink import --data-dir DIR --device NAME --csv FILE   (server stopped; all or nothing; prints imported=N last)
//! cunlink backup --data-dir DIR --to FILE       (while the server runs)
//! cunlink restore --from FILE --data-dir NEWDIR (NEWDIR missing or empty)
//! cunlink migrate --data-dir DIR [--database-url URL]   (prints migrated backend=… last)
//! ```
//!
//! Every command that takes `--data-dir` also takes `--database-url URL`
//! (`CUNLINK_DATABASE_URL`): PostgreSQL instead of the SQLite files.

use std::io::BufRead;
use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand};

use cunlink_core::auth::{AuthService, Role};
use cunlink_core::{Config, Db};
use cunlink_farm::model::AssetKind;
use cunlink_farm::store::{self as farm_store, NewDevice};

#[derive(Parser)]
#[command(
    name = "cunlink",
    version,
    about = "cunlink — the digital village platform"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Run the server: HTTP (pages, API, device API) and MQTT.
    Serve(ServeArgs),
    /// Manage user accounts.
    #[command(subcommand)]
    User(UserCommand),
    /// Manage devices.
    #[command(subcommand)]
    Device(DeviceCommand),
    /// Manage device profiles (what a kind of device reports, how long it is kept).
    #[command(subcommand)]
    Profile(ProfileCommand),
    /// Manage integrations (ChirpStack's HTTP integration authenticates with their tokens).
    #[command(subcommand)]
    Integration(IntegrationCommand),
    /// Manage display boards (TV pages and LED text feeds).
    #[command(subcommand)]
    Board(BoardCommand),
    /// Manage village e-commerce service stations.
    #[command(subcommand)]
    Station(StationCommand),
    /// Market upkeep and benchmark data.
    #[command(subcommand)]
    Market(MarketCommand),
    /// The school's lesson channels: pull from an upstream or a folder, export to a folder.
    #[command(subcommand)]
    School(crate::cli_school::SchoolCommand),
    /// Import telemetry history of one device from a CSV file (`ts,key,value`, or
    /// ThingsBoard's `Timestamp,<key>…` export). All or nothing; stop the server first.
    Import {
        #[command(flatten)]
        data: DataDir,
        /// The device the readings belong to.
        #[arg(long)]
        device: String,
        /// The CSV file.
        #[arg(long)]
        csv: PathBuf,
    },
    /// Write a consistent backup of a data directory to one file (safe while the server runs).
    Backup {
        #[command(flatten)]
        data: DataDir,
        /// The backup file to create (must not exist).
        #[arg(long)]
        to: PathBuf,
    },
    /// Restore a backup into a new, empty data directory.
    Restore {
        /// A file written by `cunlink backup`.
        #[arg(long)]
        from: PathBuf,
        /// Where to restore (must be missing or empty).
        #[arg(long)]
        data_dir: PathBuf,
        /// Refused: a PostgreSQL deployment is restored with pg_restore (docs/scale.md).
        #[arg(long, env = "CUNLINK_DATABASE_URL", hide_env_values = true)]
        database_url: Option<String>,
    },
    /// Apply every domain's schema migrations and stop.
    Migrate {
        #[command(flatten)]
        data: DataDir,
    },
}

#[derive(Subcommand)]
pub enum ProfileCommand {
    /// Create or change a device profile; prints the profile as JSON last.
    Set {
        #[command(flatten)]
        data: DataDir,
        #[arg(long)]
        name: String,
        /// Days raw readings are kept (0 = forever).
        #[arg(long)]
        retention_days: Option<u32>,
        /// Days hourly and daily rollups are kept (0 = forever).
        #[arg(long)]
        rollup_retention_days: Option<u32>,
        /// Seconds between a device's reports.
        #[arg(long)]
        reporting_interval_s: Option<u32>,
    },
}

/// Counts the bytes read through it, for the progress line.
struct Counting<R> {
    inner: R,
    read: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl<R: std::io::Read> std::io::Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read
            .fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed);
        Ok(n)
    }
}

/// `cunlink import`: parse the whole file (a bad line is named and nothing is
/// written), then commit every reading in one transaction of the telemetry writer.
pub fn import(data: &DataDir, device: &str, csv: &std::path::Path) -> anyhow::Result<()> {
    use std::sync::atomic::Ordering::Relaxed;
    let db = open_db(data)?;
    let d = db
        .call_blocking(|c| farm_store::device_where(c, "name", device))?
        .with_context(|| format!("no device named '{device}'"))?;
    let config = data.config();
    let file = std::fs::File::open(csv).with_context(|| format!("opening {}", csv.display()))?;
    let total = file.metadata().map(|m| m.len()).unwrap_or(0).max(1);
    let t = cunlink_farm::telemetry::Telemetry::open_for(&db, &config)?;
    let read = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let reader = std::io::BufReader::new(Counting {
        inner: file,
        read: read.clone(),
    });
    let parsed = cunlink_farm::import::parse_csv(reader, d.id, &t.store().keys, |lines| {
        eprint!(
            "\rreading {}: {lines} lines, {:>3} %",
            csv.display(),
            read.load(Relaxed) * 100 / total
        );
    });
    let readings = match parsed {
        Ok(r) => r,
        Err(e) => {
            t.shutdown();
            eprintln!();
            bail!("{}: {e}; nothing was imported", csv.display());
        }
    };
    let n = readings.len();
    eprintln!("\rread {}: {n} readings, 100 %; writing", csv.display());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let written = rt.block_on(t.write(
        readings,
        Vec::new(),
        cunlink_farm::telemetry::Admission::Wait,
    ));
    t.shutdown();
    written.with_context(|| format!("{}: nothing was imported", csv.display()))?;
    println!("imported={n}");
    Ok(())
}

/// `cunlink profile set`: the same validation and transaction as `PUT /api/profiles/{name}`.
pub fn profile_set(
    data: &DataDir,
    name: &str,
    retention_days: Option<u32>,
    rollup_retention_days: Option<u32>,
    reporting_interval_s: Option<u32>,
) -> anyhow::Result<()> {
    let days = |d: Option<u32>| d.map(|d| (d > 0).then_some(d));
    let update = cunlink_farm::profiles::ProfileUpdate {
        retention_days: days(retention_days),
        rollup_retention_days: days(rollup_retention_days),
        reporting_interval_s,
        ..Default::default()
    };
    cunlink_farm::profiles::validate(name, &update)
        .map_err(|e| anyhow::anyhow!("--{}: {}", e.field.replace('_', "-"), e.message))?;
    let db = open_db(data)?;
    let (p, created) =
        db.call_blocking(|c| cunlink_farm::profiles::put_profile(c, name, &update))?;
    eprintln!(
        "{} profile '{}'",
        if created { "created" } else { "updated" },
        p.name
    );
    println!("{}", serde_json::to_string(&p)?);
    Ok(())
}

#[derive(Subcommand)]
pub enum BoardCommand {
    /// Create a board; prints its path (`/board/{slug}`) as the last line.
    Create {
        #[command(flatten)]
        data: DataDir,
        #[arg(long)]
        name: String,
        /// Asset shown (repeat for several; they rotate).
        #[arg(long = "asset", required = true)]
        assets: Vec<String>,
        /// Telemetry keys shown, comma-separated (default: all but battery).
        #[arg(long, value_delimiter = ',')]
        keys: Vec<String>,
        /// Seconds each asset stays on screen.
        #[arg(long, default_value_t = 10)]
        rotate_secs: u32,
        /// Columns of the text feed (a CJK character takes two).
        #[arg(long, default_value_t = 32)]
        line_width: usize,
        /// Lines of the text feed, the board's name included.
        #[arg(long, default_value_t = 4)]
        line_count: usize,
    },
}

#[derive(Subcommand)]
pub enum StationCommand {
    /// Create a station in a village (created if new); prints its id as the last line.
    Create {
        #[command(flatten)]
        data: DataDir,
        #[arg(long)]
        village: String,
        #[arg(long)]
        name: String,
    },
}

#[derive(Subcommand)]
pub enum MarketCommand {
    /// Fill the price board with a synthetic history (benchmarks, demos).
    SeedPrices {
        #[command(flatten)]
        data: DataDir,
        #[arg(long, default_value_t = 2000)]
        commodities: usize,
        #[arg(long, default_value_t = 500)]
        markets: usize,
        #[arg(long, default_value_t = 365)]
        days: i64,
    },
}

#[derive(Args)]
pub struct DataDir {
    /// Data directory (holds cunlink.db and telemetry.db, or with PostgreSQL the
    /// files kept beside the database: photos, lesson content).
    #[arg(long, env = "CUNLINK_DATA_DIR", default_value = "./cunlink-data")]
    pub data_dir: PathBuf,
    /// PostgreSQL instead of the SQLite files in the data directory
    /// (postgres://user@host:port/db).
    #[arg(long, env = "CUNLINK_DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
}

impl DataDir {
    /// The configuration these flags name (defaults for everything else).
    pub fn config(&self) -> Config {
        Config {
            data_dir: self.data_dir.clone(),
            database_url: self.database_url.clone(),
            ..Config::default()
        }
    }
}

#[derive(Args)]
pub struct ServeArgs {
    /// TOML configuration file; flags and CUNLINK_* variables override it.
    #[arg(long, env = "CUNLINK_CONFIG")]
    pub config: Option<PathBuf>,
    /// Data directory [default: ./cunlink-data]
    #[arg(long, env = "CUNLINK_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// PostgreSQL instead of SQLite: postgres://user@host:port/db [default: none, SQLite]
    #[arg(long, env = "CUNLINK_DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
    /// HTTP listen address [default: 127.0.0.1:8080]
    #[arg(long, env = "CUNLINK_HTTP")]
    pub http: Option<SocketAddr>,
    /// MQTT listen address [default: 127.0.0.1:1883]
    #[arg(long, env = "CUNLINK_MQTT")]
    pub mqtt: Option<SocketAddr>,
    /// Seed and feed a living demo village.
    #[arg(long, env = "CUNLINK_DEMO")]
    pub demo: bool,
    /// Address people reach the site at (https:// marks cookies Secure).
    #[arg(long, env = "CUNLINK_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Most MQTT connections open at once [default: 10000]
    #[arg(long, env = "CUNLINK_MQTT_MAX_CONNECTIONS")]
    pub mqtt_max_connections: Option<usize>,
    /// Operator contact sent to Web Push services [default: mailto:cunlink@localhost]
    #[arg(long, env = "CUNLINK_VAPID_SUBJECT")]
    pub vapid_subject: Option<String>,
    /// Days a parcel waits at a station before a pickup reminder [default: 3]
    #[arg(long, env = "CUNLINK_PARCEL_REMINDER_DAYS")]
    pub parcel_reminder_days: Option<i64>,
    /// coturn's static-auth-secret, for TURN credentials of calls [default: none, no relay]
    #[arg(long, env = "CUNLINK_TURN_SECRET", hide_env_values = true)]
    pub turn_secret: Option<String>,
    /// ICE server URLs for calls, comma-separated (turn:host:3478,stun:host:3478)
    #[arg(long, env = "CUNLINK_TURN_URLS", value_delimiter = ',')]
    pub turn_urls: Option<Vec<String>>,
}

impl ServeArgs {
    pub fn config(&self) -> anyhow::Result<Config> {
        let mut c = Config::load(self.config.as_deref())?;
        if let Some(d) = &self.data_dir {
            c.data_dir = d.clone();
        }
        if let Some(u) = &self.database_url {
            c.database_url = Some(u.clone());
        }
        if let Some(a) = self.http {
            c.http = a;
        }
        if let Some(a) = self.mqtt {
            c.mqtt = a;
        }
        c.demo |= self.demo;
        if let Some(u) = &self.public_url {
            c.public_url = Some(u.clone());
        }
        if let Some(n) = self.mqtt_max_connections {
            c.mqtt_max_connections = n;
        }
        if let Some(s) = &self.vapid_subject {
            c.notify.vapid_subject = s.clone();
        }
        if let Some(d) = self.parcel_reminder_days {
            c.market.parcel_reminder_days = d;
        }
        if let Some(s) = &self.turn_secret {
            c.turn_secret = Some(s.clone());
        }
        if let Some(u) = &self.turn_urls {
            c.turn_urls = u.clone();
        }
        Ok(c)
    }
}

#[derive(Subcommand)]
pub enum UserCommand {
    /// Create a user; reads the password from stdin and prints a new API token as the last line.
    Create {
        #[command(flatten)]
        data: DataDir,
        #[arg(long)]
        username: String,
        /// admin, county_staff, station_operator, farmer, buyer, doctor, teacher, villager or
        /// village_official.
        #[arg(long)]
        role: String,
        /// The user's village (created if new). A doctor with a village is a village doctor.
        #[arg(long)]
        village: Option<String>,
        /// A county doctor's department (created if new); only with `--role doctor`
        /// and without `--village`.
        #[arg(long, conflicts_with = "village")]
        department: Option<String>,
    },
    /// Disable an account: its sessions end and its API tokens stop working at once.
    Disable {
        #[command(flatten)]
        data: DataDir,
        #[arg(long)]
        username: String,
    },
    /// Enable a disabled account again (its API tokens work again, unless revoked).
    Enable {
        #[command(flatten)]
        data: DataDir,
        #[arg(long)]
        username: String,
    },
    /// Revoke every API token of an account and end all its sessions.
    RevokeTokens {
        #[command(flatten)]
        data: DataDir,
        #[arg(long)]
        username: String,
    },
}

#[derive(Subcommand)]
pub enum DeviceCommand {
    /// Register a device; prints its access token as the last line.
    Create {
        #[command(flatten)]
        data: DataDir,
        #[arg(long)]
        name: String,
        /// Device profile, e.g. air-probe, soil-probe, ear-tag (created if new).
        #[arg(long = "type")]
        profile: Option<String>,
        /// Asset the device belongs to (created if new).
        #[arg(long)]
        asset: Option<String>,
        /// Kind of a newly created asset: field, greenhouse, barn, pen, animal, other.
        #[arg(long, default_value = "field")]
        asset_kind: String,
        /// The device's village (created if new). Default: the village of an existing
        /// --asset, else the only village there is, else (no village yet) county-level.
        #[arg(long, conflicts_with = "county_level")]
        village: Option<String>,
        /// Make the device county-level on purpose: it belongs to no village and only
        /// admins and county staff see or manage it.
        #[arg(long)]
        county_level: bool,
        /// The device is a gateway that forwards other devices.
        #[arg(long)]
        gateway: bool,
        /// LoRaWAN DevEUI (16 hex digits), for the ChirpStack integration.
        #[arg(long)]
        dev_eui: Option<String>,
    },
}

#[derive(Subcommand)]
pub enum IntegrationCommand {
    /// Create an integration; prints its token as the last line (shown only once).
    Create {
        #[command(flatten)]
        data: DataDir,
        #[arg(long)]
        name: String,
    },
}

/// Open the application database `data` names with every domain's schema applied.
pub fn open_db(data: &DataDir) -> anyhow::Result<Db> {
    let config = data.config();
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("creating {}", config.data_dir.display()))?;
    let db = Db::from_config(&config)?;
    db.migrate("core", cunlink_core::auth::MIGRATIONS)?;
    db.migrate("cluster", cunlink_core::cluster::MIGRATIONS)?;
    db.migrate("sync", cunlink_core::sync::MIGRATIONS)?;
    db.migrate("farm", farm_store::MIGRATIONS)?;
    db.migrate("board", cunlink_board::MIGRATIONS)?;
    db.migrate("market", cunlink_market::MIGRATIONS)?;
    db.migrate("clinic", cunlink_clinic::store::MIGRATIONS)?;
    db.migrate("alert", cunlink_alert::store::MIGRATIONS)?;
    db.migrate("affairs", cunlink_affairs::store::MIGRATIONS)?;
    db.migrate("school", cunlink_school::store::MIGRATIONS)?;
    Ok(db)
}

/// `cunlink migrate`: bring every domain's schema up to date, then stop (run it
/// once before starting several nodes of a new version).
pub fn migrate(data: &DataDir) -> anyhow::Result<()> {
    let db = open_db(data)?;
    let backend = match db.backend() {
        cunlink_core::sql::Backend::Sqlite => "sqlite",
        cunlink_core::sql::Backend::Postgres => "postgres",
    };
    println!("migrated backend={backend}");
    Ok(())
}

pub fn user_create(
    data: &DataDir,
    username: &str,
    role: &str,
    village: Option<&str>,
    department: Option<&str>,
) -> anyhow::Result<()> {
    let role: Role = role.parse()?;
    let department = department.map(str::trim);
    if let Some(d) = department {
        if role != Role::Doctor {
            bail!("--department is for county doctors: use it with --role doctor");
        }
        if d.is_empty() || d.chars().count() > 64 {
            bail!("a department name must be 1-64 characters");
        }
    }
    // An official acts for one village; without one there is nothing to act on.
    if role == Role::VillageOfficial && village.is_none() {
        bail!("a village_official needs --village NAME");
    }
    let mut password = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut password)
        .context("reading the password from stdin")?;
    let password = password.trim_end_matches(['\n', '\r']);
    if password.is_empty() {
        bail!(
            "no password on stdin; pipe it in, e.g. `echo 'secret123' | cunlink user create ...`"
        );
    }
    let auth = AuthService::new(open_db(data)?);
    // The department link is made in the user's own transaction, so a failed
    // link leaves no doctor without a department behind.
    let user = auth
        .create_user_with_blocking(username, password, role, village, |c, u| match department {
            Some(d) => cunlink_clinic::store::people::link_county_doctor(c, u.id, d).map(|_| ()),
            None => Ok(()),
        })
        .with_context(|| format!("creating {username}"))?;
    if let Some(d) = department {
        eprintln!("{username} is a county doctor of {d}");
    }
    let token = auth.create_api_token_blocking(user.id)?;
    eprintln!(
        "created user '{}' ({}){}",
        user.username,
        user.role,
        user.village
            .as_deref()
            .map(|v| format!(" in {v}"))
            .unwrap_or_default()
    );
    println!("{token}");
    Ok(())
}

#[allow(clippy::too_many_arguments)]
pub fn device_create(
    data: &DataDir,
    name: &str,
    profile: Option<String>,
    asset: Option<String>,
    asset_kind: &str,
    village: Option<String>,
    county_level: bool,
    gateway: bool,
    dev_eui: Option<String>,
) -> anyhow::Result<()> {
    let asset_kind: AssetKind = asset_kind.parse()?;
    let db = open_db(data)?;
    let (village, county_level) = if village.is_some() || county_level {
        (village, county_level)
    } else {
        let asset = asset.clone();
        db.call_blocking(move |c| default_home(c, asset.as_deref()))?
    };
    let new = NewDevice {
        name: name.to_string(),
        profile,
        asset,
        asset_kind: Some(asset_kind),
        village,
        county_level,
        is_gateway: gateway,
        dev_eui,
        ..NewDevice::default()
    };
    let d = db.call_blocking(|c| farm_store::create_device(c, &new))?;
    eprintln!(
        "created {} '{}' (type {}){}{}",
        if d.is_gateway { "gateway" } else { "device" },
        d.name,
        d.profile,
        d.asset
            .as_deref()
            .map(|a| format!(" on asset {a}"))
            .unwrap_or_default(),
        match &new.village {
            Some(v) => format!(" in {v}"),
            None if d.village_id.is_none() => {
                " (county-level: only admins and county staff see it)".to_string()
            }
            None => String::new(),
        }
    );
    println!("{}", d.token);
    Ok(())
}

/// Where `device create` puts a device when the operator names neither a village
/// nor `--county-level`: an existing asset's village; else the only village; else,
/// on a fresh install without villages, county-level (nobody but admins and county
/// staff exist to see it). With several villages the operator must choose.
fn default_home(
    c: &cunlink_core::sql::Connection,
    asset: Option<&str>,
) -> anyhow::Result<(Option<String>, bool)> {
    if let Some(a) = asset
        && let Some((_, Some(_))) = farm_store::asset_by_name(c, a.trim())?
    {
        return Ok((None, false));
    }
    let villages = cunlink_core::auth::village_list(c)?;
    match villages.as_slice() {
        [] => Ok((None, true)),
        [only] => Ok((Some(only.clone()), false)),
        many => bail!(
            "there are several villages ({}): give --village NAME, or --county-level",
            many.join(", ")
        ),
    }
}

/// `cunlink integration create`: a new integration token, printed last.
pub fn integration_create(data: &DataDir, name: &str) -> anyhow::Result<()> {
    let db = open_db(data)?;
    let n = name.to_string();
    let token = db.call_blocking(move |c| cunlink_farm::integrations::create(c, &n))?;
    eprintln!(
        "created integration '{name}'; send its token as 'Authorization: Bearer TOKEN' (shown only now)"
    );
    println!("{token}");
    Ok(())
}

pub fn board_create(data: &DataDir, new: cunlink_board::NewBoard) -> anyhow::Result<()> {
    let db = open_db(data)?;
    let b = db.call_blocking(|c| cunlink_board::store::create(c, &new))?;
    eprintln!(
        "created board '{}' ({} assets); text feed at /board/{}.txt",
        b.name,
        b.assets.len(),
        b.slug
    );
    println!("/board/{}", b.slug);
    Ok(())
}

pub fn station_create(data: &DataDir, village: &str, name: &str) -> anyhow::Result<()> {
    let db = open_db(data)?;
    let id = db
        .call_blocking(|c| cunlink_market::access::create_station(c, village, name))
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    eprintln!("created station '{name}' in {village}");
    println!("{id}");
    Ok(())
}

pub fn seed_prices(
    data: &DataDir,
    commodities: usize,
    markets: usize,
    days: i64,
) -> anyhow::Result<()> {
    let db = open_db(data)?;
    let names = cunlink_market::prices::synthetic::commodity_names(commodities);
    let markets: Vec<String> = (1..=markets).map(|i| format!("市场{i:03}")).collect();
    let started = std::time::Instant::now();
    let n = db
        .call_blocking(|c| cunlink_market::prices::synthetic::generate(c, &names, &markets, days))
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    eprintln!(
        "wrote {n} daily prices in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    println!("{n}");
    Ok(())
}

/// `cunlink user disable` / `enable`. The running server sees the change on
/// the next request (see core's credential cache).
pub fn user_set_disabled(data: &DataDir, username: &str, disabled: bool) -> anyhow::Result<()> {
    let auth = AuthService::new(open_existing_db(data)?);
    let user = auth.set_disabled_blocking(username, disabled, None)?;
    eprintln!(
        "{} user '{}'",
        if disabled { "disabled" } else { "enabled" },
        user.username
    );
    Ok(())
}

/// `cunlink user revoke-tokens`.
pub fn user_revoke_tokens(data: &DataDir, username: &str) -> anyhow::Result<()> {
    let auth = AuthService::new(open_existing_db(data)?);
    let (tokens, sessions) = auth.revoke_tokens_blocking(username, None)?;
    eprintln!("revoked {tokens} API tokens and ended {sessions} sessions of '{username}'");
    Ok(())
}

/// The application database of an existing data directory (a typo in
/// `--data-dir` should not create an empty one and report "no such user").
fn open_existing_db(data: &DataDir) -> anyhow::Result<Db> {
    if data.database_url.is_none() && !data.data_dir.join("cunlink.db").is_file() {
        bail!(
            "{} holds no cunlink.db; is it the server's --data-dir?",
            data.data_dir.display()
        );
    }
    open_db(data)
}

/// `cunlink backup`.
pub fn backup(data: &DataDir, to: &std::path::Path) -> anyhow::Result<()> {
    if data.database_url.is_some() {
        bail!(
            "with PostgreSQL, back up the database with pg_dump (or a streaming replica) and the data directory's files with any file copy; see docs/scale.md"
        );
    }
    let started = std::time::Instant::now();
    let s = crate::backup::backup(&data.data_dir, to)?;
    eprintln!(
        "backed up {} and {} other files ({} bytes) in {:.1} s",
        s.databases.join(", "),
        s.files,
        s.bytes,
        started.elapsed().as_secs_f64()
    );
    println!("{}", to.display());
    Ok(())
}

/// `cunlink restore`.
pub fn restore(from: &std::path::Path, data_dir: &std::path::Path) -> anyhow::Result<()> {
    let s = crate::backup::restore(from, data_dir)?;
    eprintln!(
        "restored {} and {} other files ({} bytes) into {}",
        s.databases.join(", "),
        s.files,
        s.bytes,
        data_dir.display()
    );
    Ok(())
}
