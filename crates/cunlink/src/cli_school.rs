//! `cunlink school …`: pull a channel from an upstream or a folder, and export
//! a channel to a folder (a USB disk) for a school without a link.
//!
//! ```text
//! cunlink school pull --data-dir DIR --from URL|FOLDER --channel ID [--token TOKEN]
//!     (a line per file; last line: files=N bytes=B fetched=F)
//! cunlink school export --data-dir DIR --channel ID --to FOLDER
//! ```

use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::Subcommand;

use cunlink_core::Db;
use cunlink_school::content::Store;
use cunlink_school::pull::{self, Event, Options, Source};
use cunlink_school::store;

use crate::cli::DataDir;

#[derive(Subcommand)]
pub enum SchoolCommand {
    /// Pull a channel into DIR, resuming what an interrupted pull left.
    /// Prints a line per file, and last `files=N bytes=B fetched=F`.
    Pull {
        #[command(flatten)]
        data: DataDir,
        /// The upstream cunlink (`http://host:port`) or a folder written by
        /// `cunlink school export`.
        #[arg(long)]
        from: String,
        /// The channel's id at the source.
        #[arg(long)]
        channel: i64,
        /// A bearer API token of a user of the upstream (not needed for a folder).
        #[arg(long, env = "CUNLINK_SCHOOL_TOKEN", default_value = "")]
        token: String,
        /// Failed attempts in a row before giving up.
        #[arg(long, default_value_t = 12)]
        max_failures: u32,
    },
    /// Write a channel's latest published version into a folder (a USB disk).
    Export {
        #[command(flatten)]
        data: DataDir,
        #[arg(long)]
        channel: i64,
        #[arg(long)]
        to: PathBuf,
    },
}

fn open(data: &DataDir) -> anyhow::Result<(Db, Store)> {
    let config = data.config();
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("creating {}", config.data_dir.display()))?;
    let db = Db::from_config(&config)?;
    db.migrate("school", store::MIGRATIONS)?;
    Ok((db, Store::new(&config.data_dir)))
}

pub fn run(cmd: SchoolCommand) -> anyhow::Result<()> {
    match cmd {
        SchoolCommand::Pull {
            data,
            from,
            channel,
            token,
            max_failures,
        } => pull_cmd(&data, &from, channel, &token, max_failures),
        SchoolCommand::Export { data, channel, to } => export_cmd(&data, channel, &to),
    }
}

fn pull_cmd(
    data: &DataDir,
    from: &str,
    channel: i64,
    token: &str,
    max_failures: u32,
) -> anyhow::Result<()> {
    let (db, store) = open(&data)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let summary = rt.block_on(async {
        let mut src = Source::open(from, token)?;
        let opts = Options {
            max_failures,
            ..Options::default()
        };
        let mut report = |e: Event| match e {
            Event::File {
                name,
                size,
                fetched,
                had,
            } => {
                if had {
                    println!("had {name} size={size}");
                } else {
                    println!("got {name} size={size} fetched={fetched}");
                }
            }
            Event::Corrupt { name, chunk } => {
                println!("corrupt {name} chunk={chunk}: dropped, fetching it again");
            }
            Event::Retry { error, wait } => {
                eprintln!("retry in {wait:?}: {error}");
            }
        };
        pull::run(&db, &store, &mut src, from, channel, &opts, &mut report).await
    });
    match summary {
        Ok(s) => {
            println!("files={} bytes={} fetched={}", s.files, s.bytes, s.fetched);
            Ok(())
        }
        Err(e) => bail!("pull failed: {e}"),
    }
}

fn export_cmd(data: &DataDir, channel: i64, to: &std::path::Path) -> anyhow::Result<()> {
    let (db, store) = open(&data)?;
    let (manifest, chunks) = db.call_blocking(|c| -> anyhow::Result<_> {
        let Some((_, json)) = store::latest_manifest(c, channel)? else {
            bail!("channel {channel} has no published version here");
        };
        let m: store::Manifest = serde_json::from_str(&json)?;
        let mut chunks = std::collections::HashMap::new();
        for f in &m.files {
            if let Some((_, list)) = store::blob(c, &f.sha256)? {
                chunks.insert(f.sha256.clone(), list);
            }
        }
        Ok((m, chunks))
    })?;
    let json = serde_json::to_vec(&manifest)?;
    let gz = cunlink_school::export::gzip(&json)?;
    let copied = pull::dir::write(to, &store, &manifest, &gz, |sha| chunks.get(sha).cloned())?;
    println!(
        "exported channel {channel} version {} ({} files, {copied} bytes copied) to {}",
        manifest.version,
        manifest.files.len(),
        to.display()
    );
    Ok(())
}
