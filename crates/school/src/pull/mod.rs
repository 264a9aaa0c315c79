//! Pulling a channel from an upstream cunlink (HTTP) or a folder (a USB disk,
//! see [`dir`]) into this node. The same code runs for `cunlink school pull`
//! and the scheduled pull inside `serve`.
//!
//! Order, and why:
//! 1. Metadata: the channel's published export, gzipped, downloaded into
//!    `school/partial/meta-…` with `Range` + `If-Range`, so a cut resumes it;
//!    once complete its SHA-256 must equal the ETag. A later pull sends
//!    `If-None-Match` and gets 304 when nothing changed.
//! 2. Files missing here, one by one. A file already in the content store
//!    (from any channel) is never fetched. A file over one chunk first gets its
//!    chunk manifest (`/api/school/content/{sha}/chunks`). Each 1 MiB chunk is
//!    fetched by Range, kept in memory across cuts (the rest is asked for, not
//!    the whole chunk again), checked against its hash, and only then appended
//!    to `school/partial/<sha>.part` and fsynced. A restart re-verifies that
//!    prefix chunk by chunk and continues after the last good chunk, so a
//!    `kill -9` costs at most the chunk in flight. A chunk whose hash is wrong
//!    is dropped and fetched again; it never reaches the disk.
//! 3. The whole file's hash is checked, the file renamed into the content
//!    store, and when every file is there the channel's rows are replaced in
//!    one transaction.
//!
//! Network errors retry with exponential backoff (reset on progress); an
//! upstream's 4xx stops the pull.

pub mod dir;
pub mod http;
pub mod schedule;

use std::fs::OpenOptions;
use std::io::{Read, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use axum::http::{StatusCode, header};
use cunlink_core::Db;

use crate::content::{self, CHUNK, Store};
use crate::export;
use crate::store::{self, Manifest, PullRow};

use dir::DirSource;
use http::HttpSource;

/// Largest metadata accepted, inflated (10,000 lessons take ~2 MB).
const MAX_META: u64 = 64 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum PullError {
    /// Worth retrying: a cut, a timeout, a 5xx, a corrupt chunk.
    #[error("network: {0}")]
    Net(String),
    /// Not worth retrying: a 4xx, a bad URL, bad metadata.
    #[error("{0}")]
    Fatal(String),
    #[error("local storage: {0}")]
    Io(#[from] std::io::Error),
    #[error("database: {0}")]
    Db(#[from] cunlink_core::DbError),
    #[error("gave up after {0} failed attempts in a row; the last: {1}")]
    GaveUp(u32, String),
    /// Outside the configured pull hours; progress is kept.
    #[error("paused outside the pull hours")]
    Paused,
}

impl From<cunlink_core::sql::Error> for PullError {
    fn from(e: cunlink_core::sql::Error) -> Self {
        PullError::Db(cunlink_core::DbError::Sql(e))
    }
}

/// Where a channel comes from.
pub enum Source {
    Http(HttpSource),
    Dir(DirSource),
}

impl Source {
    /// `from`: an `http://` or `https://` URL, or a folder written by
    /// `cunlink school export`.
    pub fn open(from: &str, token: &str) -> Result<Source, PullError> {
        if from.starts_with("http://") || from.starts_with("https://") {
            Ok(Source::Http(HttpSource::new(from, token)?))
        } else {
            Ok(Source::Dir(DirSource::new(Path::new(from))?))
        }
    }

    /// Bytes received over the network so far (0 for a folder).
    pub fn fetched(&self) -> u64 {
        match self {
            Source::Http(h) => h.fetched,
            Source::Dir(_) => 0,
        }
    }
}

/// Knobs of one pull.
#[derive(Clone)]
pub struct Options {
    /// Failed attempts in a row (no progress in between) before giving up.
    pub max_failures: u32,
    pub backoff_start: Duration,
    pub backoff_max: Duration,
    /// Whether pulling is allowed now (the configured hours); checked before
    /// every chunk.
    pub allowed: fn(&Options) -> bool,
    pub hours: Option<(u32, u32)>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            max_failures: 12,
            backoff_start: Duration::from_millis(200),
            backoff_max: Duration::from_secs(30),
            allowed: schedule::in_hours,
            hours: None,
        }
    }
}

/// What happened, for the command's lines and the tests.
pub enum Event<'a> {
    /// A file is in the store: fetched now (`fetched` bytes of it over the
    /// network) or already there (`had`).
    File {
        name: &'a str,
        size: u64,
        fetched: u64,
        had: bool,
    },
    /// A chunk's hash did not match; it was dropped and is fetched again.
    Corrupt { name: &'a str, chunk: usize },
    /// A retry after an error.
    Retry { error: &'a str, wait: Duration },
}

/// The result: the contract's last line is `files={files} bytes={bytes} fetched={fetched}`.
#[derive(Debug, Default, Clone)]
pub struct Summary {
    pub channel_id: i64,
    pub files: u64,
    pub bytes: u64,
    pub fetched: u64,
    pub corrupt_chunks: u64,
    pub retries: u64,
}

struct Run<'a> {
    db: &'a Db,
    store: &'a Store,
    src: &'a mut Source,
    opts: &'a Options,
    report: &'a mut (dyn FnMut(Event) + Send),
    row: PullRow,
    failures: u32,
    backoff: Duration,
    last_error: String,
    summary: Summary,
    rate: Rate,
}

/// Pull channel `channel` from `src` (whose address is `origin`) into this node.
pub async fn run(
    db: &Db,
    store: &Store,
    src: &mut Source,
    origin: &str,
    channel: i64,
    opts: &Options,
    report: &mut (dyn FnMut(Event) + Send),
) -> Result<Summary, PullError> {
    // "http://hub/" and "http://hub" are one origin: the local copy is found
    // again by its origin on the next pull.
    let origin = origin.trim_end_matches('/');
    // One pull at a time per data directory: two would append to the same
    // partial files. The lock goes with the process, even after kill -9.
    std::fs::create_dir_all(store.partial_dir())?;
    let lock = std::fs::File::create(store.partial_dir().join("pull.lock"))?;
    if lock.try_lock().is_err() {
        return Err(PullError::Fatal(
            "another pull is running in this data directory".into(),
        ));
    }
    let origin_s = origin.to_string();
    let id = db
        .call(move |c| {
            store::start_pull(c, &origin_s, channel).map_err(cunlink_core::DbError::from)
        })
        .await?;
    let mut r = Run {
        db,
        store,
        src,
        opts,
        report,
        row: PullRow {
            id,
            origin_url: origin.to_string(),
            origin_id: channel,
            state: "metadata".into(),
            ..PullRow::default()
        },
        failures: 0,
        backoff: opts.backoff_start,
        last_error: String::new(),
        summary: Summary::default(),
        rate: Rate::new(),
    };
    let out = r.pull(origin, channel).await;
    match &out {
        Ok(_) => {
            r.row.state = "done".into();
            r.row.message.clear();
        }
        Err(PullError::Paused) => r.row.state = "paused".into(),
        Err(e) => {
            r.row.state = "failed".into();
            r.row.message = e.to_string();
        }
    }
    r.row.fetched = r.src.fetched() as i64;
    r.save().await;
    drop(lock);
    out.map(|mut s| {
        s.fetched = r.src.fetched();
        s
    })
}

impl Run<'_> {
    async fn save(&mut self) {
        self.row.fetched = self.src.fetched() as i64;
        self.row.rate_bps = self.rate.bps(self.src.fetched()) as i64;
        let row = self.row.clone();
        let r: Result<(), cunlink_core::DbError> = self
            .db
            .call(move |c| store::update_pull(c, &row).map_err(Into::into))
            .await;
        if let Err(e) = r {
            tracing::warn!(error = %e, "school pull: progress not saved");
        }
    }

    /// After a retryable error: wait, or give up when too many in a row.
    async fn failed(&mut self, e: PullError) -> Result<(), PullError> {
        match e {
            PullError::Net(msg) => {
                self.failures += 1;
                self.summary.retries += 1;
                if self.failures > self.opts.max_failures {
                    return Err(PullError::GaveUp(self.failures - 1, msg));
                }
                let wait = self.backoff;
                (self.report)(Event::Retry { error: &msg, wait });
                self.row.message = msg.clone();
                self.last_error = msg;
                self.save().await;
                tokio::time::sleep(wait).await;
                self.backoff = (self.backoff * 2).min(self.opts.backoff_max);
                Ok(())
            }
            other => Err(other),
        }
    }

    fn progressed(&mut self) {
        self.failures = 0;
        self.backoff = self.opts.backoff_start;
    }

    async fn pull(&mut self, origin: &str, channel: i64) -> Result<Summary, PullError> {
        let manifest = loop {
            match self.metadata(origin, channel).await {
                Ok(m) => break m,
                Err(e) => self.failed(e).await?,
            }
        };
        self.progressed();
        let m = manifest;
        self.row.state = "files".into();
        let total = check_manifest(&m)?;
        self.row.files_total = m.files.len() as i64;
        self.row.bytes_total = total;
        self.summary.files = m.files.len() as u64;
        self.summary.bytes = total as u64;
        self.save().await;
        for f in &m.files {
            let before = self.src.fetched();
            let had = self.store.exists(&f.sha256);
            if had {
                self.ensure_blob(&f.sha256).await?;
                self.row.bytes_done = self.row.bytes_done.saturating_add(f.size);
            } else {
                self.fetch_file(&f.name, &f.sha256, f.size as u64).await?;
            }
            self.row.files_done += 1;
            self.save().await;
            (self.report)(Event::File {
                name: &f.name,
                size: f.size as u64,
                fetched: self.src.fetched() - before,
                had,
            });
        }
        // Every file is on disk: now the channel becomes visible, at once.
        let origin_s = origin.to_string();
        let m2 = m.clone();
        let local = self
            .db
            .call(move |c| -> Result<i64, cunlink_core::DbError> {
                let t = c.transaction()?;
                let id = store::apply_pulled(&t, &origin_s, &m2)?;
                t.commit()?;
                Ok(id)
            })
            .await?;
        self.row.channel_id = Some(local);
        self.row.bytes_done = self.row.bytes_total;
        self.summary.channel_id = local;
        Ok(self.summary.clone())
    }

    /// A file already in the store from another channel: make sure its row
    /// (with chunk hashes, so this node can serve it onwards) exists.
    async fn ensure_blob(&mut self, sha: &str) -> Result<(), PullError> {
        let sha = sha.to_string();
        let store = self.store.clone();
        self.db
            .call(move |c| -> Result<(), PullError> {
                if store::blob(c, &sha)?.is_none() {
                    let (h, size, chunks) = content::hash_file(&store.path(&sha))?;
                    if h != sha {
                        return Err(PullError::Fatal(format!("stored file {sha} is damaged")));
                    }
                    store::put_blob(c, &sha, size as i64, &chunks)?;
                }
                Ok(())
            })
            .await
    }

    // --- metadata ----------------------------------------------------------

    async fn metadata(&mut self, origin: &str, channel: i64) -> Result<Manifest, PullError> {
        let gz = match &mut self.src {
            Source::Dir(d) => d.metadata(channel)?,
            Source::Http(_) => self.http_metadata(origin, channel).await?,
        };
        let json = export::gunzip(&gz, MAX_META).map_err(|e| {
            PullError::Fatal(format!("the channel metadata is not valid gzip: {e}"))
        })?;
        let m: Manifest = serde_json::from_slice(&json)
            .map_err(|e| PullError::Fatal(format!("the channel metadata is not valid: {e}")))?;
        if m.id != channel {
            return Err(PullError::Fatal(format!(
                "asked for channel {channel}, the metadata describes channel {}",
                m.id
            )));
        }
        Ok(m)
    }

    /// Download the export into a partial file, resuming it by Range.
    async fn http_metadata(&mut self, origin: &str, channel: i64) -> Result<Vec<u8>, PullError> {
        let Source::Http(h) = &mut self.src else {
            unreachable!("called for HTTP sources only")
        };
        let dir = self.store.partial_dir();
        std::fs::create_dir_all(&dir)?;
        let key = &content::sha_of(origin.as_bytes())[..16];
        let data = dir.join(format!("meta-{key}-{channel}.gz"));
        let tag = dir.join(format!("meta-{key}-{channel}.etag"));
        let done = dir.join(format!("meta-{key}-{channel}.done"));
        let etag = std::fs::read_to_string(&tag)
            .ok()
            .filter(|_| data.is_file());
        let have = if etag.is_some() {
            std::fs::metadata(&data).map(|m| m.len()).unwrap_or(0)
        } else {
            0
        };
        let complete = done.is_file() && etag.is_some();
        let mut extra = Vec::new();
        if let Some(e) = &etag {
            if complete {
                extra.push((header::IF_NONE_MATCH, e.clone()));
            } else if have > 0 {
                extra.push((header::RANGE, format!("bytes={have}-")));
                extra.push((header::IF_RANGE, e.clone()));
            }
        }
        let path = format!("/api/school/channels/{channel}/export");
        let (head, body) = h.get(&path, &extra).await?;
        let new_tag = head
            .headers
            .get(header::ETAG)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let mut file = match head.status {
            StatusCode::NOT_MODIFIED => return Ok(std::fs::read(&data)?),
            StatusCode::OK => {
                let _ = std::fs::remove_file(&done);
                let Some(t) = &new_tag else {
                    return Err(PullError::Fatal(
                        "the upstream sent metadata without an ETag".into(),
                    ));
                };
                write_synced(&tag, t.as_bytes())?;
                let f = std::fs::File::create(&data)?;
                f.sync_all()?;
                f
            }
            StatusCode::PARTIAL_CONTENT => {
                let start = content_range_start(&head.headers);
                if start != Some(have) {
                    // Not the piece we asked for: start over.
                    let _ = std::fs::remove_file(&tag);
                    let _ = h.read_all(body, MAX_META).await;
                    return Err(PullError::Net("the upstream sent another range".into()));
                }
                OpenOptions::new().append(true).open(&data)?
            }
            StatusCode::RANGE_NOT_SATISFIABLE => {
                // What we hold is at least the whole file: check it below.
                let _ = h.read_all(body, 4096).await;
                return self.check_meta(&data, &tag, &done);
            }
            _ => return Err(h.refuse(&head, body).await),
        };
        let res = h
            .read(body, MAX_META, |d| file.write_all(d).map_err(PullError::Io))
            .await;
        // Keep what arrived, even after a cut: the next attempt resumes it.
        file.sync_data()?;
        res?;
        self.check_meta(&data, &tag, &done)
    }

    /// The downloaded metadata is whole when its SHA-256 is the ETag.
    fn check_meta(&self, data: &Path, tag: &Path, done: &Path) -> Result<Vec<u8>, PullError> {
        let bytes = std::fs::read(data)?;
        let etag = std::fs::read_to_string(tag).unwrap_or_default();
        if etag.trim_matches('"') != content::sha_of(&bytes) {
            let _ = std::fs::remove_file(tag);
            let _ = std::fs::remove_file(data);
            return Err(PullError::Net(
                "the channel metadata did not match its hash; fetching it again".into(),
            ));
        }
        write_synced(done, b"")?;
        Ok(bytes)
    }

    // --- files -------------------------------------------------------------

    async fn chunk_list(&mut self, sha: &str, size: u64) -> Result<Vec<String>, PullError> {
        let n = size.div_ceil(CHUNK) as usize;
        if n <= 1 {
            // One chunk: its hash is the file's.
            return Ok(if n == 0 {
                Vec::new()
            } else {
                vec![sha.to_string()]
            });
        }
        let list = loop {
            let got = match &mut self.src {
                Source::Dir(d) => d.chunks(sha),
                Source::Http(h) => http_chunks(h, sha).await,
            };
            match got {
                Ok(l) => break l,
                Err(e) => self.failed(e).await?,
            }
        };
        if list.len() != n || !list.iter().all(|c| content::is_sha(c)) {
            return Err(PullError::Fatal(format!(
                "the chunk list of {sha} does not fit its size"
            )));
        }
        Ok(list)
    }

    async fn fetch_file(&mut self, name: &str, sha: &str, size: u64) -> Result<(), PullError> {
        let chunks = self.chunk_list(sha, size).await?;
        let part = self.store.partial(sha);
        std::fs::create_dir_all(self.store.partial_dir())?;
        let good = verified_prefix(&part, &chunks, size)?;
        let mut file = OpenOptions::new().create(true).append(true).open(&part)?;
        self.row.bytes_done += (good as u64 * CHUNK).min(size) as i64;
        for (i, want) in chunks.iter().enumerate().skip(good) {
            let start = i as u64 * CHUNK;
            let len = CHUNK.min(size - start);
            let mut buf: Vec<u8> = Vec::with_capacity(len as usize);
            loop {
                if !(self.opts.allowed)(self.opts) {
                    return Err(PullError::Paused);
                }
                let before = buf.len();
                let got = match &mut self.src {
                    Source::Dir(d) => d.range(sha, start, len, &mut buf),
                    Source::Http(h) => http_range(h, sha, start, len, &mut buf).await,
                };
                let grew = buf.len() > before;
                match got {
                    Ok(()) if buf.len() as u64 == len => {
                        if content::sha_of(&buf) == *want {
                            self.progressed();
                            break;
                        }
                        // Not progress: a source that always sends a bad
                        // chunk must end in GaveUp, not loop.
                        self.summary.corrupt_chunks += 1;
                        (self.report)(Event::Corrupt { name, chunk: i });
                        tracing::warn!(
                            file = name,
                            chunk = i,
                            "school pull: chunk hash mismatch, fetching it again"
                        );
                        buf.clear();
                        self.failed(PullError::Net("a chunk did not match its hash".into()))
                            .await?;
                    }
                    Ok(()) => {
                        if grew {
                            self.progressed();
                        }
                        self.failed(PullError::Net("the answer ended early".into()))
                            .await?
                    }
                    Err(e) => {
                        if grew {
                            self.progressed();
                        }
                        self.failed(e).await?
                    }
                }
            }
            file.write_all(&buf)?;
            file.sync_data()?;
            self.row.bytes_done += len as i64;
            self.save().await;
        }
        drop(file);
        let store = self.store.clone();
        let sha_s = sha.to_string();
        let chunks2 = chunks.clone();
        let ok = tokio::task::spawn_blocking(move || -> Result<bool, PullError> {
            let (h, got_size, _) = content::hash_file(&part)?;
            if h != sha_s || got_size != size {
                let _ = std::fs::remove_file(&part);
                return Ok(false);
            }
            store.install(&part, &sha_s)?;
            Ok(true)
        })
        .await
        .map_err(|_| PullError::Fatal("hashing task failed".into()))??;
        if !ok {
            // Every chunk matched yet the whole does not: the upstream's
            // chunk list disagrees with its file. Retrying cannot help.
            return Err(PullError::Fatal(format!(
                "file '{name}' did not match its SHA-256 {sha}"
            )));
        }
        let sha_s = sha.to_string();
        self.db
            .call(move |c| -> Result<(), PullError> {
                store::put_blob(c, &sha_s, size as i64, &chunks2)?;
                Ok(())
            })
            .await?;
        Ok(())
    }
}

/// The number of leading chunks of `part` that match `chunks`; the file is
/// cut back to them (a half-written chunk after a crash is dropped).
fn verified_prefix(part: &Path, chunks: &[String], size: u64) -> Result<usize, PullError> {
    let Ok(mut f) = std::fs::File::open(part) else {
        return Ok(0);
    };
    let len = f.metadata()?.len();
    let mut good = 0usize;
    let mut buf = vec![0u8; CHUNK as usize];
    for (i, want) in chunks.iter().enumerate() {
        let start = i as u64 * CHUNK;
        let n = CHUNK.min(size - start);
        if start + n > len {
            break;
        }
        f.read_exact(&mut buf[..n as usize])?;
        if content::sha_of(&buf[..n as usize]) != *want {
            break;
        }
        good = i + 1;
    }
    let keep = (good as u64 * CHUNK).min(size);
    if keep != len {
        let f = OpenOptions::new().write(true).open(part)?;
        f.set_len(keep)?;
        f.sync_all()?;
    }
    Ok(good)
}

fn write_synced(path: &Path, data: &[u8]) -> std::io::Result<()> {
    let mut f = std::fs::File::create(path)?;
    f.write_all(data)?;
    f.sync_all()
}

fn content_range_start(h: &axum::http::HeaderMap) -> Option<u64> {
    let v = h.get(header::CONTENT_RANGE)?.to_str().ok()?;
    let r = v.strip_prefix("bytes ")?;
    r.split('-').next()?.trim().parse().ok()
}

async fn http_chunks(h: &mut HttpSource, sha: &str) -> Result<Vec<String>, PullError> {
    let (head, body) = h
        .get(&format!("/api/school/content/{sha}/chunks"), &[])
        .await?;
    if head.status != StatusCode::OK {
        return Err(h.refuse(&head, body).await);
    }
    let bytes = h.read_all(body, 16 * 1024 * 1024).await?;
    let v: serde_json::Value =
        serde_json::from_slice(&bytes).map_err(|e| PullError::Net(format!("chunk list: {e}")))?;
    if v["chunk_size"].as_u64() != Some(CHUNK) {
        return Err(PullError::Fatal(
            "the upstream uses another chunk size".into(),
        ));
    }
    Ok(v["chunks"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|c| c.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default())
}

/// Fetch bytes `start + buf.len() .. start + len` of `sha` into `buf`.
async fn http_range(
    h: &mut HttpSource,
    sha: &str,
    start: u64,
    len: u64,
    buf: &mut Vec<u8>,
) -> Result<(), PullError> {
    let from = start + buf.len() as u64;
    let to = start + len - 1;
    let (head, body) = h
        .get(
            &format!("/api/school/content/{sha}"),
            &[
                (header::RANGE, format!("bytes={from}-{to}")),
                (header::IF_RANGE, format!("\"{sha}\"")),
            ],
        )
        .await?;
    match head.status {
        StatusCode::PARTIAL_CONTENT if content_range_start(&head.headers) == Some(from) => {}
        StatusCode::PARTIAL_CONTENT | StatusCode::OK => {
            let _ = h.read_all(body, 0).await;
            return Err(PullError::Net("the upstream sent another range".into()));
        }
        _ => return Err(h.refuse(&head, body).await),
    }
    let want = to + 1 - from;
    h.read(body, want, |d| {
        buf.extend_from_slice(d);
        Ok(())
    })
    .await?;
    Ok(())
}

/// Receive rate, smoothed over a few seconds, for the ETA.
struct Rate {
    at: Instant,
    bytes: u64,
    bps: f64,
}

impl Rate {
    fn new() -> Rate {
        Rate {
            at: Instant::now(),
            bytes: 0,
            bps: 0.0,
        }
    }

    fn bps(&mut self, total: u64) -> u64 {
        let dt = self.at.elapsed().as_secs_f64();
        if dt >= 1.0 {
            let now = (total.saturating_sub(self.bytes)) as f64 / dt;
            // Weigh the last window against history: an ETA that does not jump.
            self.bps = if self.bps == 0.0 {
                now
            } else {
                0.6 * now + 0.4 * self.bps
            };
            self.at = Instant::now();
            self.bytes = total;
        }
        self.bps as u64
    }
}

/// Check every entry of an upstream's manifest before any of its numbers is
/// used: at most [`store::MAX_LIST`] files, each with a SHA-256 hash, a size
/// of `0..=MAX_FILE` and a plain file name. Returns the total size (checked:
/// a hostile upstream cannot overflow it).
fn check_manifest(m: &Manifest) -> Result<i64, PullError> {
    if m.files.len() > store::MAX_LIST as usize {
        return Err(PullError::Fatal(format!(
            "the metadata names {} files, more than {}",
            m.files.len(),
            store::MAX_LIST
        )));
    }
    let mut total: i64 = 0;
    for f in &m.files {
        let size_ok = u64::try_from(f.size).is_ok_and(|s| s <= crate::routes::MAX_FILE);
        if !content::is_sha(&f.sha256)
            || !size_ok
            || crate::input::file_name(Some(&f.name)).is_err()
        {
            return Err(PullError::Fatal(format!(
                "the metadata names file '{}' with a bad hash, size or name",
                f.name.chars().take(200).collect::<String>()
            )));
        }
        total = total
            .checked_add(f.size)
            .ok_or_else(|| PullError::Fatal("the metadata's sizes overflow".into()))?;
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::FileEntry;

    fn entry(name: &str, size: i64) -> FileEntry {
        FileEntry {
            name: name.into(),
            sha256: "a".repeat(64),
            size,
            topic: String::new(),
            kind: "file".into(),
        }
    }

    fn manifest(files: Vec<FileEntry>) -> Manifest {
        Manifest {
            id: 1,
            name: "c".into(),
            description: String::new(),
            version: 1,
            files,
        }
    }

    #[test]
    fn hostile_manifests_are_refused_before_any_sum() {
        let max = crate::routes::MAX_FILE as i64;
        assert_eq!(
            check_manifest(&manifest(vec![entry("a", max), entry("b", 5)])).ok(),
            Some(max + 5)
        );
        for bad in [
            vec![entry("a", i64::MAX), entry("b", i64::MAX)],
            vec![entry("a", max + 1)],
            vec![entry("a", -1)],
            vec![entry("../a", 1)],
            vec![entry("", 1)],
            vec![FileEntry {
                sha256: "xyz".into(),
                ..entry("a", 1)
            }],
            (0..=store::MAX_LIST).map(|_| entry("a", 1)).collect(),
        ] {
            assert!(check_manifest(&manifest(bad)).is_err());
        }
    }

    #[test]
    fn eta_does_not_overflow() {
        let row = PullRow {
            bytes_total: i64::MAX,
            rate_bps: i64::MAX,
            ..PullRow::default()
        };
        assert_eq!(row.eta_secs(), Some(1));
    }
}
