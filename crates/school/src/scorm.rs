//! SCORM 1.2 import: a zip with `imsmanifest.xml` at its root, unpacked into
//! `school/scorm/{item}/`, played in the browser by the vendored `scorm-again`
//! runtime, whose LMS calls the page posts back to the server.
//!
//! The zip reader is ours and small (central directory, stored and deflate
//! entries, CRC-32 checked; no ZIP64, no encryption): a package is refused
//! before anything is written when it has no manifest, a path that would
//! leave its folder (zip slip: `..`, absolute, backslashes, drive letters), or
//! more than [`MAX_ENTRIES`] files or [`MAX_UNPACKED`] bytes.

use std::io::Read;
use std::path::{Path, PathBuf};

/// Largest package accepted (compressed).
pub const MAX_ZIP: usize = 256 * 1024 * 1024;
pub const MAX_ENTRIES: usize = 10_000;
pub const MAX_UNPACKED: u64 = 1024 * 1024 * 1024;

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ScormError {
    #[error("the package is not a zip file ({0})")]
    NotZip(&'static str),
    #[error("the package has no imsmanifest.xml at its root")]
    NoManifest,
    #[error("the package's entry '{0}' would be written outside its folder")]
    ZipSlip(String),
    #[error(
        "the package is too large: at most {MAX_ENTRIES} files and {MAX_UNPACKED} bytes unpacked"
    )]
    TooLarge,
    #[error("entry '{0}' is damaged ({1})")]
    Damaged(String, &'static str),
    #[error("entry '{0}' uses a compression other than stored or deflate")]
    Method(String),
    #[error("imsmanifest.xml names no launchable resource (a resource with an href)")]
    NoLaunch,
}

/// One file of a zip, read into memory.
pub struct Entry {
    pub name: String,
    pub data: Vec<u8>,
}

fn u16_at(b: &[u8], i: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(i..i + 2)?.try_into().ok()?))
}
fn u32_at(b: &[u8], i: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(i..i + 4)?.try_into().ok()?))
}

/// Whether a zip entry name stays inside its folder.
pub fn safe_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('/')
        && !name.contains('\\')
        && !name.contains('\0')
        && !(name.len() >= 2 && name.as_bytes()[1] == b':')
        && name.split('/').all(|seg| seg != ".." && seg != ".")
}

/// Read every file entry (directories skipped), checking names, sizes and CRCs.
pub fn read_zip(z: &[u8]) -> Result<Vec<Entry>, ScormError> {
    // End of central directory: the last 22..=65,557 bytes.
    let from = z.len().saturating_sub(22 + 65_535);
    let eocd = (from..z.len().saturating_sub(21))
        .rev()
        .find(|&i| u32_at(z, i) == Some(0x0605_4b50))
        .ok_or(ScormError::NotZip("no end of central directory"))?;
    let count = u16_at(z, eocd + 10).ok_or(ScormError::NotZip("short"))? as usize;
    let cd = u32_at(z, eocd + 16).ok_or(ScormError::NotZip("short"))? as usize;
    if count == 0xffff || cd == 0xffff_ffff {
        return Err(ScormError::NotZip("ZIP64 is not supported"));
    }
    if count > MAX_ENTRIES {
        return Err(ScormError::TooLarge);
    }
    let mut out = Vec::with_capacity(count);
    let mut total: u64 = 0;
    let mut p = cd;
    for _ in 0..count {
        if u32_at(z, p) != Some(0x0201_4b50) {
            return Err(ScormError::NotZip("bad central directory"));
        }
        let short = ScormError::NotZip("short central directory");
        let flags = u16_at(z, p + 8).ok_or(ScormError::NotZip("short"))?;
        let method = u16_at(z, p + 10).ok_or(ScormError::NotZip("short"))?;
        let crc = u32_at(z, p + 16).ok_or(ScormError::NotZip("short"))?;
        let csize = u32_at(z, p + 20).ok_or(ScormError::NotZip("short"))? as usize;
        let usize_ = u32_at(z, p + 24).ok_or(ScormError::NotZip("short"))? as u64;
        let nlen = u16_at(z, p + 28).ok_or(ScormError::NotZip("short"))? as usize;
        let elen = u16_at(z, p + 30).ok_or(ScormError::NotZip("short"))? as usize;
        let clen = u16_at(z, p + 32).ok_or(ScormError::NotZip("short"))? as usize;
        let local = u32_at(z, p + 42).ok_or(ScormError::NotZip("short"))? as usize;
        let name_bytes = z.get(p + 46..p + 46 + nlen).ok_or(short)?;
        let name = String::from_utf8_lossy(name_bytes).into_owned();
        p += 46 + nlen + elen + clen;
        if !safe_name(&name) {
            return Err(ScormError::ZipSlip(name));
        }
        if name.ends_with('/') {
            continue;
        }
        if flags & 1 != 0 {
            return Err(ScormError::Damaged(name, "encrypted"));
        }
        total = total.saturating_add(usize_);
        if total > MAX_UNPACKED {
            return Err(ScormError::TooLarge);
        }
        if u32_at(z, local) != Some(0x0403_4b50) {
            return Err(ScormError::Damaged(name, "no local header"));
        }
        let lnlen = u16_at(z, local + 26).unwrap_or(0) as usize;
        let lelen = u16_at(z, local + 28).unwrap_or(0) as usize;
        let start = local + 30 + lnlen + lelen;
        let raw = z
            .get(start..start.saturating_add(csize))
            .ok_or(ScormError::Damaged(name.clone(), "truncated"))?;
        let data = match method {
            0 => raw.to_vec(),
            8 => {
                let mut d = Vec::with_capacity(usize_.min(64 << 20) as usize);
                flate2::read::DeflateDecoder::new(raw)
                    .take(usize_ + 1)
                    .read_to_end(&mut d)
                    .map_err(|_| ScormError::Damaged(name.clone(), "bad deflate data"))?;
                d
            }
            _ => return Err(ScormError::Method(name)),
        };
        if data.len() as u64 != usize_ {
            return Err(ScormError::Damaged(name, "wrong size"));
        }
        let mut h = flate2::Crc::new();
        h.update(&data);
        if h.sum() != crc {
            return Err(ScormError::Damaged(name, "CRC mismatch"));
        }
        out.push(Entry { name, data });
    }
    Ok(out)
}

/// The launch file of a SCORM 1.2 manifest: the href of its first SCO
/// resource (or of its first resource with an href).
pub fn launch_href(manifest: &str) -> Option<String> {
    let mut first = None;
    for part in manifest.split("<resource").skip(1) {
        let tag = part.split('>').next().unwrap_or("");
        let href = attr(tag, "href");
        let sco = tag.to_ascii_lowercase().contains("scormtype=\"sco\"");
        if let Some(h) = href {
            if sco {
                return Some(h);
            }
            first.get_or_insert(h);
        }
    }
    first
}

fn attr(tag: &str, name: &str) -> Option<String> {
    let i = tag.find(&format!("{name}=\""))? + name.len() + 2;
    let rest = &tag[i..];
    Some(rest[..rest.find('"')?].to_string())
}

/// A checked package: its files and launch path.
pub struct Package {
    pub entries: Vec<Entry>,
    pub launch: String,
    pub title: Option<String>,
}

/// Check a zip as a SCORM 1.2 package without writing anything.
pub fn check(z: &[u8]) -> Result<Package, ScormError> {
    let entries = read_zip(z)?;
    let manifest = entries
        .iter()
        .find(|e| e.name == "imsmanifest.xml")
        .ok_or(ScormError::NoManifest)?;
    let text = String::from_utf8_lossy(&manifest.data);
    let launch = launch_href(&text).ok_or(ScormError::NoLaunch)?;
    let launch_path = launch.split(['?', '#']).next().unwrap_or("").to_string();
    if !safe_name(&launch_path) {
        return Err(ScormError::ZipSlip(launch));
    }
    let title = text
        .split("<title>")
        .nth(1)
        .and_then(|t| t.split("</title>").next())
        // A course item's title is at most 200 characters, as when typed in.
        .map(|t| t.trim().chars().take(200).collect::<String>())
        .filter(|t| !t.is_empty());
    Ok(Package {
        entries,
        launch,
        title,
    })
}

/// Write a checked package into `dir` (temp folder, fsync, rename).
pub fn unpack(pkg: &Package, dir: &Path) -> std::io::Result<()> {
    let tmp = dir.with_extension("tmp");
    let _ = std::fs::remove_dir_all(&tmp);
    for e in &pkg.entries {
        let to: PathBuf = tmp.join(&e.name);
        if let Some(parent) = to.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&to, &e.data)?;
        std::fs::File::open(&to)?.sync_all()?;
    }
    std::fs::create_dir_all(&tmp)?;
    std::fs::rename(&tmp, dir)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(safe_name("a/b.html"));
        assert!(!safe_name("../x"));
        assert!(!safe_name("a/../../x"));
        assert!(!safe_name("/etc/passwd"));
        assert!(!safe_name("C:evil"));
        assert!(!safe_name("a\\..\\x"));
    }

    #[test]
    fn launch() {
        let m = r#"<manifest><resources><resource identifier="r0" type="webcontent" href="x.css"/>
<resource identifier="r1" type="webcontent" adlcp:scormtype="sco" href="index.html"></resource></resources></manifest>"#;
        assert_eq!(launch_href(m).as_deref(), Some("index.html"));
    }
}
