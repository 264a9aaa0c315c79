use clap::Parser;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::prelude::*;

use cunlink::cli::{
    BoardCommand, Cli, Command, DeviceCommand, IntegrationCommand, MarketCommand, ProfileCommand,
    StationCommand, UserCommand, NodeCommand,
};

fn main() -> anyhow::Result<()> {
    // Before any thread exists: the allocator reads the cap when it makes an arena.
    let arenas = cunlink::memory::limit_arenas();
    let filter: Targets = std::env::var("RUST_LOG")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| "info".parse().unwrap_or_default());
    tracing_subscriber::registry()
        .with(tracing_subscriber::fmt::layer().with_writer(std::io::stderr))
        .with(filter)
        .init();

    tracing::debug!(?arenas, "malloc arenas capped at the number of cores");
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => {
            let config = args.config()?;
            let rt = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?;
            rt.block_on(async move {
                let server = cunlink::app::start(config).await?;
                let failed = tokio::select! {
                    _ = cunlink::app::stop_signal() => None,
                    reason = server.failed() => Some(reason),
                };
                if let Some(reason) = &failed {
                    tracing::error!(%reason, "telemetry writer is down; shutting down to exit with an error so the service manager restarts cunlink");
                }
                server.shutdown().await;
                match failed {
                    // Exit status 1.
                    Some(reason) => Err(anyhow::anyhow!("telemetry writer stopped: {reason}")),
                    None => anyhow::Ok(()),
                }
            })
        }
        Command::User(UserCommand::Create {
            data,
            username,
            role,
            village,
            department,
        }) => cunlink::cli::user_create(
            &data,
            &username,
            &role,
            village.as_deref(),
            department.as_deref(),
        ),
        Command::User(UserCommand::Disable { data, username }) => {
            cunlink::cli::user_set_disabled(&data, &username, true)
        }
        Command::User(UserCommand::Enable { data, username }) => {
            cunlink::cli::user_set_disabled(&data, &username, false)
        }
        Command::User(UserCommand::RevokeTokens { data, username }) => {
            cunlink::cli::user_revoke_tokens(&data, &username)
        }
        Command::School(cmd) => cunlink::cli_school::run(cmd),
        Command::Node(NodeCommand::Join {
            data,
            hub,
            token,
            village,
        }) => cunlink::cli::node_join(&data, &hub, &token, &village),
        Command::Import { data, device, csv } => cunlink::cli::import(&data, &device, &csv),
        Command::Backup { data, to } => cunlink::cli::backup(&data, &to),
        Command::Restore {
            from,
            data_dir,
            database_url,
        } => {
            if database_url.is_some() {
                anyhow::bail!(
                    "restore writes SQLite files; a PostgreSQL deployment is restored with pg_restore (docs/scale.md)"
                );
            }
            cunlink::cli::restore(&from, &data_dir)
        }
        Command::Migrate { data } => cunlink::cli::migrate(&data),
        Command::Board(BoardCommand::Create {
            data,
            name,
            assets,
            keys,
            rotate_secs,
            line_width,
            line_count,
        }) => cunlink::cli::board_create(
            &data,
            cunlink_board::NewBoard {
                name,
                assets,
                keys,
                rotate_secs,
                line_width,
                line_count,
            },
        ),
        Command::Station(StationCommand::Create {
            data,
            village,
            name,
        }) => cunlink::cli::station_create(&data, &village, &name),
        Command::Market(MarketCommand::SeedPrices {
            data,
            commodities,
            markets,
            days,
        }) => cunlink::cli::seed_prices(&data, commodities, markets, days),
        Command::Device(DeviceCommand::Create {
            data,
            name,
            profile,
            asset,
            asset_kind,
            village,
            county_level,
            gateway,
            dev_eui,
        }) => cunlink::cli::device_create(
            &data,
            &name,
            profile,
            asset,
            &asset_kind,
            village,
            county_level,
            gateway,
            dev_eui,
        ),
        Command::Profile(ProfileCommand::Set {
            data,
            name,
            retention_days,
            rollup_retention_days,
            reporting_interval_s,
        }) => cunlink::cli::profile_set(
            &data,
            &name,
            retention_days,
            rollup_retention_days,
            reporting_interval_s,
        ),
        Command::Integration(IntegrationCommand::Create { data, name }) => {
            cunlink::cli::integration_create(&data, &name)
        }
    }
}
