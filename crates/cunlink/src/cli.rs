//! The command line. Forms used by scripts (the contract):
//!
//! ```text
//! cunlink serve [--data-dir DIR] [--http ADDR] [--mqtt ADDR] [--demo]
//! cunlink user create --data-dir DIR --username NAME --role ROLE [--village NAME]   (password on stdin; prints an API token last)
//! cunlink station create --data-dir DIR --village NAME --name NAME   (prints the station id last)
//! cunlink device create --data-dir DIR --name NAME [--type PROFILE] [--asset NAME] [--gateway] [--dev-eui HEX]   (prints the access token last)
//! cunlink board create --data-dir DIR --name NAME --asset NAME [--asset NAME ...] [--keys a,b]   (prints /board/{slug} last)
//! ```

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
    /// Manage display boards (TV pages and LED text feeds).
    #[command(subcommand)]
    Board(BoardCommand),
    /// Manage village e-commerce service stations.
    #[command(subcommand)]
    Station(StationCommand),
    /// Market upkeep and benchmark data.
    #[command(subcommand)]
    Market(MarketCommand),
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
    /// Data directory (holds cunlink.db and telemetry.db).
    #[arg(long, env = "CUNLINK_DATA_DIR", default_value = "./cunlink-data")]
    pub data_dir: PathBuf,
}

#[derive(Args)]
pub struct ServeArgs {
    /// TOML configuration file; flags and CUNLINK_* variables override it.
    #[arg(long, env = "CUNLINK_CONFIG")]
    pub config: Option<PathBuf>,
    /// Data directory [default: ./cunlink-data]
    #[arg(long, env = "CUNLINK_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// HTTP listen address [default: 127.0.0.1:8080]
    #[arg(long, env = "CUNLINK_HTTP")]
    pub http: Option<SocketAddr>,
    /// MQTT listen address [default: 127.0.0.1:1883]
    #[arg(long, env = "CUNLINK_MQTT")]
    pub mqtt: Option<SocketAddr>,
    /// Seed and feed a living demo village.
    #[arg(long, env = "CUNLINK_DEMO")]
    pub demo: bool,
    /// Most MQTT connections open at once [default: 10000]
    #[arg(long, env = "CUNLINK_MQTT_MAX_CONNECTIONS")]
    pub mqtt_max_connections: Option<usize>,
}

impl ServeArgs {
    pub fn config(&self) -> anyhow::Result<Config> {
        let mut c = Config::load(self.config.as_deref())?;
        if let Some(d) = &self.data_dir {
            c.data_dir = d.clone();
        }
        if let Some(a) = self.http {
            c.http = a;
        }
        if let Some(a) = self.mqtt {
            c.mqtt = a;
        }
        c.demo |= self.demo;
        if let Some(n) = self.mqtt_max_connections {
            c.mqtt_max_connections = n;
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
        /// admin, county_staff, station_operator, farmer, buyer, doctor, teacher or villager.
        #[arg(long)]
        role: String,
        /// The user's village (created if new).
        #[arg(long)]
        village: Option<String>,
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
        /// Village of a newly created asset (created if new).
        #[arg(long)]
        village: Option<String>,
        /// The device is a gateway that forwards other devices.
        #[arg(long)]
        gateway: bool,
        /// LoRaWAN DevEUI (16 hex digits), for the ChirpStack integration.
        #[arg(long)]
        dev_eui: Option<String>,
    },
}

/// Open the application database of `data_dir` with every domain's schema applied.
fn open_db(data_dir: &std::path::Path) -> anyhow::Result<Db> {
    let config = Config {
        data_dir: data_dir.to_path_buf(),
        ..Config::default()
    };
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("creating {}", data_dir.display()))?;
    let db = Db::open(&config.app_db_path())?;
    db.migrate("core", cunlink_core::auth::MIGRATIONS)?;
    db.migrate("farm", farm_store::MIGRATIONS)?;
    db.migrate("board", cunlink_board::MIGRATIONS)?;
    db.migrate("market", cunlink_market::MIGRATIONS)?;
    Ok(db)
}

pub fn user_create(
    data: &DataDir,
    username: &str,
    role: &str,
    village: Option<&str>,
) -> anyhow::Result<()> {
    let role: Role = role.parse()?;
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
    let auth = AuthService::new(open_db(&data.data_dir)?);
    let user = auth.create_user_blocking(username, password, role, village)?;
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
    gateway: bool,
    dev_eui: Option<String>,
) -> anyhow::Result<()> {
    let asset_kind: AssetKind = asset_kind.parse()?;
    let db = open_db(&data.data_dir)?;
    let new = NewDevice {
        name: name.to_string(),
        profile,
        asset,
        asset_kind: Some(asset_kind),
        village,
        is_gateway: gateway,
        dev_eui,
        ..NewDevice::default()
    };
    let d = db.call_blocking(|c| farm_store::create_device(c, &new))?;
    eprintln!(
        "created {} '{}' (type {}){}",
        if d.is_gateway { "gateway" } else { "device" },
        d.name,
        d.profile,
        d.asset
            .as_deref()
            .map(|a| format!(" on asset {a}"))
            .unwrap_or_default()
    );
    println!("{}", d.token);
    Ok(())
}

pub fn board_create(data: &DataDir, new: cunlink_board::NewBoard) -> anyhow::Result<()> {
    let db = open_db(&data.data_dir)?;
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
    let db = open_db(&data.data_dir)?;
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
    let db = open_db(&data.data_dir)?;
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
