//! Content files on disk, named by their SHA-256: `school/content/ab/<sha256>`.
//!
//! A file is written to `school/tmp/`, fsynced, checked against its hash and
//! only then renamed into place (and the directory fsynced), so a name in
//! `content/` always holds exactly the bytes its hash says, even after a power
//! cut. The same file in two channels is stored once.

use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// Chunk size of the pull protocol: small enough that a cut wastes little on a
/// 2 Mbit/s link (~4 s), large enough that request headers are noise (< 0.05 %).
pub const CHUNK: u64 = 1024 * 1024;

/// The content store under a data directory.
#[derive(Clone, Debug)]
pub struct Store {
    root: PathBuf,
}

impl Store {
    pub fn new(data_dir: &Path) -> Store {
        Store {
            root: data_dir.join("school"),
        }
    }

    /// Where the file with `sha` lives (whether or not it exists yet).
    pub fn path(&self, sha: &str) -> PathBuf {
        self.root.join("content").join(&sha[..2]).join(sha)
    }

    /// Where a pull keeps the verified prefix of a file it is fetching.
    pub fn partial(&self, sha: &str) -> PathBuf {
        self.root.join("partial").join(format!("{sha}.part"))
    }

    /// A directory for pull state that is not content (metadata downloads).
    pub fn partial_dir(&self) -> PathBuf {
        self.root.join("partial")
    }

    pub fn exists(&self, sha: &str) -> bool {
        self.path(sha).is_file()
    }

    /// A new temporary file in `school/tmp/` (same filesystem as `content/`,
    /// so the final rename is atomic).
    pub fn temp(&self) -> std::io::Result<(PathBuf, File)> {
        let dir = self.root.join("tmp");
        std::fs::create_dir_all(&dir)?;
        let path = dir.join(format!("up-{}", cunlink_core::random::token(16)));
        let f = File::create(&path)?;
        Ok((path, f))
    }

    /// Move a complete, fsynced file whose content hashes to `sha` into place.
    /// The caller has verified the hash.
    pub fn install(&self, from: &Path, sha: &str) -> std::io::Result<PathBuf> {
        let to = self.path(sha);
        let dir = to.parent().unwrap_or(&self.root).to_path_buf();
        std::fs::create_dir_all(&dir)?;
        std::fs::rename(from, &to)?;
        // The rename is durable only once the directory entry is on disk.
        File::open(&dir)?.sync_all()?;
        Ok(to)
    }
}

/// SHA-256 as lower-case hex.
pub fn hex(d: &[u8]) -> String {
    let mut s = String::with_capacity(d.len() * 2);
    for b in d {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

/// Whether `s` looks like a SHA-256 in lower-case hex.
pub fn is_sha(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Hashes of a whole file and of each [`CHUNK`] of it, computed in one pass.
#[derive(Default)]
pub struct Hasher {
    whole: Sha256,
    chunk: Sha256,
    in_chunk: u64,
    size: u64,
    chunks: Vec<String>,
}

impl Hasher {
    pub fn update(&mut self, mut data: &[u8]) {
        self.whole.update(data);
        self.size += data.len() as u64;
        while !data.is_empty() {
            let room = (CHUNK - self.in_chunk) as usize;
            let take = room.min(data.len());
            self.chunk.update(&data[..take]);
            self.in_chunk += take as u64;
            data = &data[take..];
            if self.in_chunk == CHUNK {
                let h = std::mem::take(&mut self.chunk).finalize();
                self.chunks.push(hex(&h));
                self.in_chunk = 0;
            }
        }
    }

    /// (sha256, size, chunk hashes).
    pub fn finish(mut self) -> (String, u64, Vec<String>) {
        if self.in_chunk > 0 {
            let h = std::mem::take(&mut self.chunk).finalize();
            self.chunks.push(hex(&h));
        }
        (hex(&self.whole.finalize()), self.size, self.chunks)
    }
}

/// Hash a whole file on disk (chunk hashes too).
pub fn hash_file(path: &Path) -> std::io::Result<(String, u64, Vec<String>)> {
    let mut f = File::open(path)?;
    let mut h = Hasher::default();
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(h.finish())
}

/// SHA-256 of one buffer, hex.
pub fn sha_of(data: &[u8]) -> String {
    hex(&Sha256::digest(data))
}

/// Write `data` as a content file (used by imports and the demo); returns
/// (sha256, size, chunk hashes).
pub fn put_bytes(store: &Store, data: &[u8]) -> std::io::Result<(String, u64, Vec<String>)> {
    let mut h = Hasher::default();
    h.update(data);
    let (sha, size, chunks) = h.finish();
    if !store.exists(&sha) {
        let (tmp, mut f) = store.temp()?;
        f.write_all(data)?;
        f.sync_all()?;
        drop(f);
        store.install(&tmp, &sha)?;
    }
    Ok((sha, size, chunks))
}
