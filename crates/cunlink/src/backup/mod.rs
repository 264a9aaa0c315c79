//! `cunlink backup` and `cunlink restore`: one file holding a consistent copy of
//! a data directory, taken while the server runs.
//!
//! The file is a tar (see [`tar`]) of:
//! * `cunlink-backup.json`, the manifest: format, time, and every file below;
//! * every SQLite database of the data directory (`cunlink.db`, `telemetry.db`,
//!   and any other file that starts with the SQLite header), each a snapshot made
//!   with `VACUUM INTO`, which reads one transaction: everything committed before
//!   it started, nothing half-written. The telemetry store's unsealed points live
//!   in the `log` table of `telemetry.db` (replayed into memory on start), so the
//!   snapshot carries them; `-wal` and `-shm` files are not copied (their committed
//!   content is in the snapshot);
//! * every other file (photos), copied after the databases, so every photo a
//!   snapshot refers to is already on disk when the files are walked.
//!
//! Order: `telemetry.db` first and `cunlink.db` last. Each snapshot is taken
//! after the backup started, so everything acknowledged before then is in it;
//! taking the devices' database last means every device the telemetry snapshot
//! holds readings for is in the backup too (a device created in between has no
//! readings in it, which is harmless; the reverse would leave readings whose
//! device id a new device could later take).

pub mod tar;

use std::fs::File;
use std::io::{BufReader, BufWriter, Write};
use std::path::{Component, Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};

const MANIFEST: &str = "cunlink-backup.json";
const FORMAT: u32 = 1;

/// What a backup or a restore wrote.
#[derive(Debug, Default)]
pub struct Summary {
    pub databases: Vec<String>,
    pub files: usize,
    pub bytes: u64,
}

fn is_sqlite(path: &Path) -> bool {
    use std::io::Read;
    let mut head = [0u8; 16];
    File::open(path)
        .and_then(|mut f| f.read_exact(&mut head))
        .is_ok_and(|_| &head == b"SQLite format 3\0")
}

/// Files SQLite or cunlink keep beside the data that a backup must not carry.
fn is_transient(name: &str) -> bool {
    name.ends_with("-wal")
        || name.ends_with("-shm")
        || name.ends_with("-journal")
        // Photos are written to a dot-file and renamed when complete.
        || (name.starts_with('.') && name.ends_with(".tmp"))
}

/// Every regular file under `dir`, as paths relative to it, sorted.
fn walk(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        let entries = match std::fs::read_dir(dir.join(&rel)) {
            Ok(e) => e,
            // A directory removed while we walk is simply not there any more.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => {
                return Err(e).with_context(|| format!("listing {}", dir.join(&rel).display()));
            }
        };
        for entry in entries {
            let entry = entry?;
            let name = entry.file_name();
            let child = rel.join(&name);
            let kind = entry.file_type()?;
            if kind.is_dir() {
                stack.push(child);
            } else if kind.is_file() && !is_transient(&name.to_string_lossy()) {
                out.push(child);
            }
        }
    }
    out.sort();
    Ok(out)
}

/// A relative path as it goes into the tar (`/`-separated, UTF-8).
fn tar_path(rel: &Path) -> anyhow::Result<String> {
    let parts: Vec<&str> = rel
        .components()
        .map(|c| match c {
            Component::Normal(s) => s
                .to_str()
                .context("a file name in the data directory is not UTF-8"),
            _ => bail!("unexpected path {}", rel.display()),
        })
        .collect::<anyhow::Result<_>>()?;
    Ok(parts.join("/"))
}

fn now_s() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn create_private(path: &Path) -> std::io::Result<File> {
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        // Password hashes and token hashes are inside: owner only.
        o.mode(0o600);
    }
    o.open(path)
}

/// Snapshot database `src` into the new file `dst` (one read transaction).
fn snapshot(src: &Path, dst: &Path) -> anyhow::Result<()> {
    let c = rusqlite::Connection::open_with_flags(src, rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE)
        .with_context(|| format!("opening {}", src.display()))?;
    c.execute_batch("PRAGMA busy_timeout=10000;")?;
    let dst_s = dst.to_str().context("backup path is not UTF-8")?;
    c.execute("VACUUM INTO $1", [dst_s])
        .with_context(|| format!("snapshotting {}", src.display()))?;
    let check = rusqlite::Connection::open(dst)?;
    let ok: String = check.query_row("PRAGMA quick_check", [], |r| r.get(0))?;
    if ok != "ok" {
        bail!("the snapshot of {} failed its check: {ok}", src.display());
    }
    Ok(())
}

/// Database snapshot order: telemetry first, the application database last.
fn db_rank(rel: &str) -> u8 {
    match rel {
        "telemetry.db" => 0,
        "cunlink.db" => 2,
        _ => 1,
    }
}

/// Write a backup of `data_dir` to `to` (which must not exist).
pub fn backup(data_dir: &Path, to: &Path) -> anyhow::Result<Summary> {
    if !data_dir.join("cunlink.db").is_file() {
        bail!(
            "{} holds no cunlink.db; is it a cunlink data directory?",
            data_dir.display()
        );
    }
    if to.exists() {
        bail!("{} exists already; choose a new file name", to.display());
    }
    let parent = to
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    // Staging files inside the data directory would be backed up themselves.
    if let (Ok(p), Ok(d)) = (parent.canonicalize(), data_dir.canonicalize())
        && p.starts_with(&d)
    {
        bail!(
            "--to {} is inside the data directory; write the backup elsewhere",
            to.display()
        );
    }
    let file_name = to
        .file_name()
        .context("--to must name a file")?
        .to_string_lossy();
    let stage = parent.join(format!(".{file_name}.{}.stage", std::process::id()));
    let partial = parent.join(format!(".{file_name}.{}.partial", std::process::id()));
    std::fs::create_dir(&stage).with_context(|| format!("creating {}", stage.display()))?;
    let result = write_backup(data_dir, &stage, &partial, to);
    let _ = std::fs::remove_dir_all(&stage);
    if result.is_err() {
        let _ = std::fs::remove_file(&partial);
    }
    result
}

fn write_backup(
    data_dir: &Path,
    stage: &Path,
    partial: &Path,
    to: &Path,
) -> anyhow::Result<Summary> {
    let started = now_s();
    // 1. Databases, in dependency order.
    let mut dbs: Vec<String> = Vec::new();
    for rel in walk(data_dir)? {
        if is_sqlite(&data_dir.join(&rel)) {
            dbs.push(tar_path(&rel)?);
        }
    }
    dbs.sort_by_key(|p| (db_rank(p), p.clone()));
    let mut snaps = Vec::new();
    for (i, rel) in dbs.iter().enumerate() {
        let dst = stage.join(format!("{i}.db"));
        snapshot(&data_dir.join(rel), &dst)?;
        snaps.push((rel.clone(), dst));
    }
    // 2. Everything else, walked after the snapshots.
    let mut plain = Vec::new();
    for rel in walk(data_dir)? {
        let p = tar_path(&rel)?;
        if !dbs.contains(&p) && !is_sqlite(&data_dir.join(&rel)) {
            plain.push(p);
        }
    }
    let manifest = serde_json::json!({
        "format": FORMAT,
        "created_at_s": started,
        "databases": dbs,
        "files": plain,
    })
    .to_string();

    let out = create_private(partial).with_context(|| format!("creating {}", partial.display()))?;
    let mut w = tar::Writer::new(BufWriter::with_capacity(1 << 20, out));
    w.append(
        MANIFEST,
        manifest.len() as u64,
        started,
        &mut manifest.as_bytes(),
    )?;
    let mut summary = Summary::default();
    for (rel, dst) in &snaps {
        let f = File::open(dst)?;
        let size = f.metadata()?.len();
        w.append(rel, size, started, &mut BufReader::new(f))?;
        summary.databases.push(rel.clone());
        summary.bytes += size;
    }
    for rel in &plain {
        let path = data_dir.join(rel);
        let f = match File::open(&path) {
            Ok(f) => f,
            // Removed since the walk (nothing cunlink refers to is ever removed).
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
        };
        let meta = f.metadata()?;
        let mtime = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map_or(started, |d| d.as_secs());
        w.append(rel, meta.len(), mtime, &mut BufReader::new(f))?;
        summary.files += 1;
        summary.bytes += meta.len();
    }
    let out = w.finish()?;
    let f = out.into_inner().map_err(|e| e.into_error())?;
    f.sync_all()?;
    drop(f);
    std::fs::rename(partial, to)
        .with_context(|| format!("moving the backup to {}", to.display()))?;
    if let Ok(d) = File::open(
        to.parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new(".")),
    ) {
        let _ = d.sync_all();
    }
    Ok(summary)
}

/// Only plain relative paths may come out of a backup (no `..`, no absolute path).
fn safe_relative(path: &str) -> anyhow::Result<PathBuf> {
    let p = Path::new(path);
    if path.is_empty() || !p.components().all(|c| matches!(c, Component::Normal(_))) {
        bail!("the backup holds a path that would leave the data directory: '{path}'");
    }
    Ok(p.to_path_buf())
}

/// Restore the backup `from` into `data_dir`, which must be missing or empty.
pub fn restore(from: &Path, data_dir: &Path) -> anyhow::Result<Summary> {
    if data_dir.exists() {
        let mut entries = std::fs::read_dir(data_dir)
            .with_context(|| format!("reading {}", data_dir.display()))?;
        if entries.next().is_some() {
            bail!(
                "{} is not empty; restore into a new or empty directory",
                data_dir.display()
            );
        }
    }
    let input = File::open(from).with_context(|| format!("opening {}", from.display()))?;
    let mut r = tar::Reader::new(BufReader::with_capacity(1 << 20, input));
    let first = r.next_entry()?.context("the backup is empty")?;
    if first.path != MANIFEST || first.size > 16 << 20 {
        bail!(
            "{} is not a cunlink backup (it does not start with {MANIFEST})",
            from.display()
        );
    }
    let mut raw = Vec::new();
    r.data(&first.path, &mut raw)?;
    let manifest: serde_json::Value =
        serde_json::from_slice(&raw).context("the backup's manifest is not valid JSON")?;
    if manifest["format"].as_u64() != Some(FORMAT as u64) {
        bail!(
            "backup format {} is not one this version reads ({FORMAT})",
            manifest["format"]
        );
    }
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("creating {}", data_dir.display()))?;
    let mut summary = Summary::default();
    let mut seen = std::collections::HashSet::new();
    while let Some(e) = r.next_entry()? {
        if !e.is_file {
            continue;
        }
        let rel = safe_relative(&e.path)?;
        if !seen.insert(e.path.clone()) {
            bail!("the backup holds '{}' twice", e.path);
        }
        let dst = data_dir.join(&rel);
        if let Some(dir) = dst.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let f = create_private(&dst).with_context(|| format!("creating {}", dst.display()))?;
        let mut w = BufWriter::new(f);
        r.data(&e.path, &mut w)?;
        w.flush()?;
        w.into_inner().map_err(|e| e.into_error())?.sync_all()?;
        summary.bytes += e.size;
        if manifest["databases"]
            .as_array()
            .is_some_and(|a| a.iter().any(|d| d == &e.path))
        {
            summary.databases.push(e.path);
        } else {
            summary.files += 1;
        }
    }
    // Plain files may have been removed between the walk and the copy; databases may not.
    for p in manifest["databases"].as_array().into_iter().flatten() {
        let p = p.as_str().unwrap_or_default();
        if !seen.contains(p) {
            bail!("the backup is incomplete: '{p}' is missing");
        }
    }
    Ok(summary)
}
