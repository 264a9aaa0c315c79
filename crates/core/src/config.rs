//! Configuration: defaults that need no file, then a TOML file, then `CUNLINK_*`
//! environment variables, then command-line flags (the binary applies the last two
//! through clap, which reads each flag's environment variable too).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {path} is not valid: {source}")]
    Parse {
        path: PathBuf,
        source: toml::de::Error,
    },
}

/// Everything `cunlink serve` needs to run.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Holds `cunlink.db` (accounts, devices, …) and `telemetry.db`.
    pub data_dir: PathBuf,
    /// PostgreSQL instead of the SQLite files in `data_dir`, e.g.
    /// `postgres://cunlink@127.0.0.1:5432/cunlink` (`CUNLINK_DATABASE_URL`,
    /// `--database-url`). Several `cunlink serve` with the same URL are one
    /// deployment. Absent: SQLite, as before.
    pub database_url: Option<String>,
    /// Most PostgreSQL connections this process opens for the application
    /// database (the telemetry writer and listener have their own).
    pub database_pool: usize,
    /// HTTP listener: pages, JSON API, ThingsBoard HTTP device API, ChirpStack integration.
    pub http: SocketAddr,
    /// MQTT listener for devices and gateways.
    pub mqtt: SocketAddr,
    /// Feed a demo village with simulated sensors.
    pub demo: bool,
    /// The address people reach the site at, e.g. `https://cunlink.example.gov.cn`
    /// (set when a reverse proxy terminates TLS). When it is https, cookies are
    /// marked `Secure` so a browser never sends them over plain http.
    pub public_url: Option<String>,
    /// Most MQTT connections open at once (authenticated or not); one more is
    /// accepted and closed at once. Keep the process's open-file limit above it.
    pub mqtt_max_connections: usize,
    pub ingest: IngestConfig,
    /// Where notifications (webhooks, Web Push) may be sent.
    pub notify: NotifyConfig,
    pub market: MarketSettings,
    /// coturn's `static-auth-secret` (`use-auth-secret`), shared so that calls get
    /// TURN REST credentials (`CUNLINK_TURN_SECRET`). Without it calls offer no relay.
    pub turn_secret: Option<String>,
    /// ICE server URLs handed to call pages (`CUNLINK_TURN_URLS`, comma-separated):
    /// `turn:host:3478?transport=udp`, `turn:host:443?transport=tcp`, `stun:host:3478`.
    pub turn_urls: Vec<String>,
    pub school: SchoolSettings,
}

/// Settings of the school domain: where its lesson channels are pulled from.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SchoolSettings {
    /// The upstream cunlink (the county hub), e.g. `http://hub.example:8080`.
    /// When set with `upstream_token` and `channels`, `serve` pulls those
    /// channels on a schedule and sends learning statements there.
    pub upstream: Option<String>,
    /// A bearer API token of a user of the upstream.
    pub upstream_token: Option<String>,
    /// Channel ids (on the upstream) to pull.
    pub channels: Vec<i64>,
    /// Seconds between scheduled pulls.
    pub pull_every_secs: u64,
    /// Pull only between these China-time hours, e.g. `"22-6"` (school nights);
    /// unset: at any hour.
    pub pull_hours: Option<String>,
    /// The live class's SFU: the UDP address bound and announced to browsers
    /// (the school server's LAN or public address; port 0: any free port).
    pub live_udp: std::net::SocketAddr,
}

impl Default for SchoolSettings {
    fn default() -> Self {
        SchoolSettings {
            upstream: None,
            upstream_token: None,
            channels: Vec::new(),
            pull_every_secs: 3600,
            pull_hours: None,
            live_udp: std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
        }
    }
}

/// Settings of the market domain.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MarketSettings {
    /// Parcels waiting at a station longer than this many days raise a pickup
    /// reminder (`CUNLINK_PARCEL_REMINDER_DAYS`); the market clamps it to what a
    /// client may ask for.
    pub parcel_reminder_days: i64,
}

impl Default for MarketSettings {
    fn default() -> Self {
        MarketSettings {
            parcel_reminder_days: 3,
        }
    }
}

/// Outgoing notification targets. Users name webhook and push URLs; without
/// these checks a user could make the server call (and probe) hosts on its own
/// network, so private, loopback, link-local and similar addresses are refused
/// unless the operator allows them here.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NotifyConfig {
    /// Allow every address, private ranges and loopback included (a closed
    /// village network whose SMS gateway sits on the LAN; tests).
    pub allow_private: bool,
    /// Networks allowed even though they are private, as CIDRs
    /// (`"192.168.1.20/32"`, `"fd00:1::/64"`).
    pub allow_networks: Vec<String>,
    /// Contact of this server's operator sent to Web Push services with every
    /// push (`CUNLINK_VAPID_SUBJECT`): a `mailto:` or `https:` URL.
    pub vapid_subject: String,
}

impl Default for NotifyConfig {
    fn default() -> Self {
        NotifyConfig {
            allow_private: false,
            allow_networks: Vec::new(),
            vapid_subject: "mailto:cunlink@localhost".into(),
        }
    }
}

/// Knobs of the telemetry write path.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IngestConfig {
    /// Values waiting for the group-commit writer. When full, HTTP answers
    /// 503 + Retry-After and MQTT connections stop being read.
    pub queue_values: usize,
    /// Most values committed in one transaction.
    pub max_batch_values: usize,
    /// Seconds between checkpoints, which seal or carry open buffers and drop old
    /// log rows (also done whenever 64 MiB of log accumulate).
    pub checkpoint_secs: u64,
    /// Seconds of commits failing without a success after which the writer stops
    /// and the process exits with an error, for the service manager to restart it.
    pub writer_give_up_secs: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            data_dir: PathBuf::from("./cunlink-data"),
            database_url: None,
            database_pool: 16,
            http: SocketAddr::from(([127, 0, 0, 1], 8080)),
            mqtt: SocketAddr::from(([127, 0, 0, 1], 1883)),
            demo: false,
            public_url: None,
            mqtt_max_connections: 10_000,
            ingest: IngestConfig::default(),
            notify: NotifyConfig::default(),
            market: MarketSettings::default(),
            turn_secret: None,
            turn_urls: Vec::new(),
            school: SchoolSettings::default(),
        }
    }
}

impl Default for IngestConfig {
    fn default() -> Self {
        IngestConfig {
            queue_values: 1_000_000,
            max_batch_values: 200_000,
            checkpoint_secs: 60,
            writer_give_up_secs: 60,
        }
    }
}

impl Config {
    /// Defaults overlaid with `file` when given.
    pub fn load(file: Option<&Path>) -> Result<Config, ConfigError> {
        let Some(path) = file else {
            return Ok(Config::default());
        };
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        toml::from_str(&text).map_err(|source| ConfigError::Parse {
            path: path.to_path_buf(),
            source,
        })
    }

    /// Whether the site is served over https (see [`Config::public_url`]).
    pub fn secure_cookies(&self) -> bool {
        self.public_url
            .as_deref()
            .is_some_and(|u| u.trim().to_ascii_lowercase().starts_with("https://"))
    }

    pub fn app_db_path(&self) -> PathBuf {
        self.data_dir.join("cunlink.db")
    }

    pub fn telemetry_db_path(&self) -> PathBuf {
        self.data_dir.join("telemetry.db")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_overrides_only_what_it_names() {
        let dir = std::env::temp_dir().join(format!("cunlink-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("c.toml");
        std::fs::write(
            &path,
            "http = \"0.0.0.0:9000\"\n[ingest]\nqueue_values = 7\n",
        )
        .unwrap();
        let c = Config::load(Some(&path)).unwrap();
        assert_eq!(c.http.port(), 9000);
        assert_eq!(c.mqtt.port(), 1883);
        assert_eq!(c.ingest.queue_values, 7);
        assert_eq!(
            c.ingest.max_batch_values,
            IngestConfig::default().max_batch_values
        );
    }

    #[test]
    fn notify_targets_are_public_only_unless_configured() {
        assert!(!Config::default().notify.allow_private);
        let dir = std::env::temp_dir().join(format!("cunlink-cfg3-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("c.toml");
        std::fs::write(&path, "[notify]\nallow_networks = [\"192.168.1.20/32\"]\n").unwrap();
        let c = Config::load(Some(&path)).unwrap();
        assert_eq!(c.notify.allow_networks, vec!["192.168.1.20/32".to_string()]);
        assert!(!c.notify.allow_private);
        assert_eq!(c.notify.vapid_subject, "mailto:cunlink@localhost");
    }

    #[test]
    fn market_and_push_settings_come_from_the_file() {
        assert_eq!(Config::default().market.parcel_reminder_days, 3);
        let dir = std::env::temp_dir().join(format!("cunlink-cfg4-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("c.toml");
        std::fs::write(
            &path,
            "[market]\nparcel_reminder_days = 5\n[notify]\nvapid_subject = \"mailto:ops@example.cn\"\n",
        )
        .unwrap();
        let c = Config::load(Some(&path)).unwrap();
        assert_eq!(c.market.parcel_reminder_days, 5);
        assert_eq!(c.notify.vapid_subject, "mailto:ops@example.cn");
    }

    #[test]
    fn turn_settings_come_from_the_file() {
        assert!(Config::default().turn_secret.is_none());
        let dir = std::env::temp_dir().join(format!("cunlink-cfg5-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("c.toml");
        std::fs::write(
            &path,
            "turn_secret = \"s3cret\"\nturn_urls = [\"turn:turn.example.cn:3478\"]\n",
        )
        .unwrap();
        let c = Config::load(Some(&path)).unwrap();
        assert_eq!(c.turn_secret.as_deref(), Some("s3cret"));
        assert_eq!(c.turn_urls, vec!["turn:turn.example.cn:3478".to_string()]);
    }

    #[test]
    fn unknown_keys_are_refused() {
        let dir = std::env::temp_dir().join(format!("cunlink-cfg2-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("c.toml");
        std::fs::write(&path, "htp = \"0.0.0.0:9000\"\n").unwrap();
        assert!(Config::load(Some(&path)).is_err());
    }
}
