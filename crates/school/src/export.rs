//! A channel's published metadata as one gzipped JSON file
//! (`school/exports/{id}-v{version}.json.gz`), written once per version and
//! served like a content file (Range, ETag), so a pull on a flaky link resumes
//! the metadata too — Kolibri's gzipped channel databases cannot (DESIGN §9).
//! A USB export (`cunlink school export`) copies the same file.

use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Mutex;

use crate::content::{self, Store};

/// One written export: its path, size and ETag (quoted SHA-256 of the gzip).
#[derive(Clone, Debug)]
pub struct ExportFile {
    pub path: PathBuf,
    pub size: u64,
    pub etag: String,
}

/// Exports written by this process, remembered so a request does not rehash.
pub struct Exports {
    store: Store,
    known: Mutex<HashMap<(i64, i64), ExportFile>>,
}

impl Exports {
    pub fn new(store: Store) -> Exports {
        Exports {
            store,
            known: Mutex::new(HashMap::new()),
        }
    }

    fn dir(&self) -> PathBuf {
        self.store.partial_dir().with_file_name("exports")
    }

    /// The export of `(channel, version)`, writing it from `manifest_json`
    /// the first time. Blocking (disk).
    pub fn get(
        &self,
        channel: i64,
        version: i64,
        manifest_json: &str,
    ) -> std::io::Result<ExportFile> {
        if let Some(f) = self
            .known
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&(channel, version))
        {
            return Ok(f.clone());
        }
        let dir = self.dir();
        std::fs::create_dir_all(&dir)?;
        let path = dir.join(format!("{channel}-v{version}.json.gz"));
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(_) => {
                let gz = gzip(manifest_json.as_bytes())?;
                let tmp = dir.join(format!(".{channel}-v{version}.tmp"));
                let mut f = std::fs::File::create(&tmp)?;
                f.write_all(&gz)?;
                f.sync_all()?;
                std::fs::rename(&tmp, &path)?;
                gz
            }
        };
        let file = ExportFile {
            path,
            size: bytes.len() as u64,
            etag: format!("\"{}\"", content::sha_of(&bytes)),
        };
        self.known
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert((channel, version), file.clone());
        Ok(file)
    }
}

pub fn gzip(data: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(6));
    enc.write_all(data)?;
    enc.finish()
}

/// Inflate at most `max` bytes (a hostile upstream cannot fill memory).
pub fn gunzip(data: &[u8], max: u64) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(data)
        .take(max + 1)
        .read_to_end(&mut out)?;
    if out.len() as u64 > max {
        return Err(std::io::Error::other("metadata larger than allowed"));
    }
    Ok(out)
}
