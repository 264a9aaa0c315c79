//! A folder as a pull source: a USB disk or a share written by
//! `cunlink school export` ([`write`]). Layout:
//!
//! ```text
//! DIR/channels/{id}.json.gz          the channel's export (as served over HTTP)
//! DIR/content/ab/<sha256>            each file
//! DIR/content/ab/<sha256>.chunks     its chunk hashes, one per line (files over 1 MiB)
//! ```
//!
//! The pull reads it with the same code as the network: chunks are checked,
//! so a bad sector on the stick is found and nothing damaged is stored.

use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use super::PullError;
use crate::content::{CHUNK, Store};
use crate::store::Manifest;

pub struct DirSource {
    root: PathBuf,
}

impl DirSource {
    pub fn new(root: &Path) -> Result<DirSource, PullError> {
        if !root.join("channels").is_dir() {
            return Err(PullError::Fatal(format!(
                "{} is not a folder written by `cunlink school export` (no channels/ in it)",
                root.display()
            )));
        }
        Ok(DirSource {
            root: root.to_path_buf(),
        })
    }

    fn content(&self, sha: &str) -> PathBuf {
        self.root.join("content").join(&sha[..2]).join(sha)
    }

    pub fn metadata(&mut self, channel: i64) -> Result<Vec<u8>, PullError> {
        let p = self
            .root
            .join("channels")
            .join(format!("{channel}.json.gz"));
        std::fs::read(&p)
            .map_err(|e| PullError::Fatal(format!("channel {channel} is not in this folder: {e}")))
    }

    pub fn chunks(&mut self, sha: &str) -> Result<Vec<String>, PullError> {
        let mut p = self.content(sha).into_os_string();
        p.push(".chunks");
        let text = std::fs::read_to_string(PathBuf::from(p))?;
        Ok(text
            .lines()
            .map(|l| l.trim().to_string())
            .filter(|l| !l.is_empty())
            .collect())
    }

    /// Append bytes `start + buf.len() .. start + len` of `sha` to `buf`.
    pub fn range(
        &mut self,
        sha: &str,
        start: u64,
        len: u64,
        buf: &mut Vec<u8>,
    ) -> Result<(), PullError> {
        let mut f = std::fs::File::open(self.content(sha))?;
        let from = start + buf.len() as u64;
        f.seek(SeekFrom::Start(from))?;
        let want = (start + len - from) as usize;
        let old = buf.len();
        buf.resize(old + want, 0);
        f.read_exact(&mut buf[old..])?;
        Ok(())
    }
}

/// Write channel `m` (its export `gz` and files from `store`) into `dir`.
pub fn write(
    dir: &Path,
    store: &Store,
    m: &Manifest,
    gz: &[u8],
    chunks_of: impl Fn(&str) -> Option<Vec<String>>,
) -> std::io::Result<u64> {
    std::fs::create_dir_all(dir.join("channels"))?;
    let mut copied = 0u64;
    for f in &m.files {
        let to = dir.join("content").join(&f.sha256[..2]).join(&f.sha256);
        if !to.is_file() {
            std::fs::create_dir_all(to.parent().unwrap_or(dir))?;
            let tmp = to.with_extension("tmp");
            std::fs::copy(store.path(&f.sha256), &tmp)?;
            std::fs::File::open(&tmp)?.sync_all()?;
            std::fs::rename(&tmp, &to)?;
            copied += f.size.max(0) as u64;
        }
        if f.size as u64 > CHUNK
            && let Some(list) = chunks_of(&f.sha256)
        {
            let mut p = to.into_os_string();
            p.push(".chunks");
            let mut out = std::fs::File::create(PathBuf::from(p))?;
            out.write_all(list.join("\n").as_bytes())?;
            out.sync_all()?;
        }
    }
    let meta = dir.join("channels").join(format!("{}.json.gz", m.id));
    let mut f = std::fs::File::create(&meta)?;
    f.write_all(gz)?;
    f.sync_all()?;
    Ok(copied)
}
