//! The bytes of a sync batch.
//!
//! A batch is one zstd frame holding a small binary envelope: the magic
//! `CLN1`, the length of a JSON header (u32, big-endian), the header, then the
//! binary parts the header points into (the readings' compressed chunks). The
//! records and chunks of a batch are compressed together, so a batch of many
//! small records costs little more than its zstd-compressed payload.

use serde::{Deserialize, Serialize, de::DeserializeOwned};
use serde_json::Value;

const MAGIC: &[u8; 4] = b"CLN1";
/// zstd level: 3 (its default) compresses JSON records well at little CPU on a Pi.
const LEVEL: i32 = 3;
/// A decompressed batch larger than this is refused (a hostile or broken peer).
pub const MAX_BATCH_BYTES: usize = 64 << 20;

#[derive(Debug, thiserror::Error)]
pub enum WireError {
    #[error("the batch is not zstd: {0}")]
    Zstd(std::io::Error),
    #[error("the batch is larger than {MAX_BATCH_BYTES} bytes")]
    TooLarge,
    #[error("the batch is malformed: {0}")]
    Malformed(String),
}

/// The stream a batch belongs to: each has its own counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stream {
    /// Records of the domains (alarms, orders, …).
    Records,
    /// Readings, as per-series chunks.
    Readings,
}

impl Stream {
    pub fn as_str(self) -> &'static str {
        match self {
            Stream::Records => "records",
            Stream::Readings => "readings",
        }
    }
}

/// One record going up.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Record {
    pub kind: String,
    pub key: String,
    /// The node's outbox counter at the change: newer wins on the hub.
    pub version: i64,
    pub body: Value,
}

/// One series' readings going up: `len` bytes of chunk in the blob area.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Series {
    pub device: String,
    pub key: String,
    pub n: u32,
    pub len: u32,
}

/// The header of an upward batch.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UpHeader {
    pub node: String,
    pub stream: Stream,
    pub batch: i64,
    #[serde(default)]
    pub records: Vec<Record>,
    #[serde(default)]
    pub series: Vec<Series>,
}

/// What the hub answers to an upward batch.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UpAnswer {
    /// The stream's last batch the hub applied.
    pub acked: i64,
    /// Records of this batch the hub put in its dead letters.
    #[serde(default)]
    pub dead: Vec<DeadLetter>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DeadLetter {
    pub kind: String,
    pub key: String,
    pub reason: String,
}

/// The node asks for what changed: the digest it holds per down kind.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct DownAsk {
    pub have: std::collections::BTreeMap<String, String>,
}

/// One down kind whose digest differs from the node's.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DownKindRows {
    pub kind: String,
    pub digest: String,
    pub rows: Vec<Value>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct DownAnswer {
    pub kinds: Vec<DownKindRows>,
}

/// Pack a header and its blob area into one compressed batch.
pub fn pack<H: Serialize>(header: &H, blobs: &[u8]) -> Vec<u8> {
    let head = serde_json::to_vec(header).unwrap_or_default();
    let mut raw = Vec::with_capacity(8 + head.len() + blobs.len());
    raw.extend_from_slice(MAGIC);
    raw.extend_from_slice(&(head.len() as u32).to_be_bytes());
    raw.extend_from_slice(&head);
    raw.extend_from_slice(blobs);
    zstd::bulk::compress(&raw, LEVEL).unwrap_or_default()
}

/// The header and blob area of a compressed batch.
pub fn unpack<H: DeserializeOwned>(bytes: &[u8]) -> Result<(H, Vec<u8>), WireError> {
    // Streamed through a limit: a small batch that inflates to gigabytes stops
    // at the limit instead of taking the memory (and no buffer of the limit's
    // size is set aside for every batch).
    use std::io::Read;
    let mut raw = Vec::new();
    zstd::stream::read::Decoder::new(bytes)
        .map_err(WireError::Zstd)?
        .take(MAX_BATCH_BYTES as u64 + 1)
        .read_to_end(&mut raw)
        .map_err(WireError::Zstd)?;
    if raw.len() > MAX_BATCH_BYTES {
        return Err(WireError::TooLarge);
    }
    if raw.len() < 8 || &raw[..4] != MAGIC {
        return Err(WireError::Malformed("no CLN1 envelope".into()));
    }
    let n = u32::from_be_bytes([raw[4], raw[5], raw[6], raw[7]]) as usize;
    let end = 8usize
        .checked_add(n)
        .filter(|&e| e <= raw.len())
        .ok_or_else(|| WireError::Malformed("the header runs past the end".into()))?;
    let header = serde_json::from_slice(&raw[8..end])
        .map_err(|e| WireError::Malformed(format!("header: {e}")))?;
    Ok((header, raw[end..].to_vec()))
}

/// The digest of a down kind's rows: what the node holds, to skip what it has.
pub fn digest(rows: &[Value]) -> String {
    use sha2::{Digest, Sha256};
    let bytes = serde_json::to_vec(rows).unwrap_or_default();
    let d = Sha256::digest(&bytes);
    d.iter().take(16).map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pack_unpack_round_trip() {
        let h = UpHeader {
            node: "n".into(),
            stream: Stream::Readings,
            batch: 7,
            records: vec![],
            series: vec![Series {
                device: "d".into(),
                key: "t".into(),
                n: 2,
                len: 3,
            }],
        };
        let b = pack(&h, &[1, 2, 3]);
        let (back, blobs): (UpHeader, _) = unpack(&b).unwrap();
        assert_eq!(back.batch, 7);
        assert_eq!(blobs, vec![1, 2, 3]);
    }

    #[test]
    fn a_batch_that_inflates_past_the_limit_is_refused() {
        // 80 MB of zeros compress to a few kB: the limit, not the memory, stops it.
        let bomb = zstd::bulk::compress(&vec![0u8; 80 << 20], 3).unwrap();
        assert!(bomb.len() < 64 << 10);
        assert!(matches!(
            unpack::<UpHeader>(&bomb),
            Err(WireError::TooLarge)
        ));
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(unpack::<UpHeader>(b"not zstd at all").is_err());
        let raw = zstd::bulk::compress(b"CLN1\xff\xff\xff\xff{}", 3).unwrap();
        assert!(matches!(
            unpack::<UpHeader>(&raw),
            Err(WireError::Malformed(_))
        ));
    }
}
