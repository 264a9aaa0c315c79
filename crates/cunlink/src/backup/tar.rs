//! Just enough of the POSIX ustar format to write and read cunlink backups:
//! regular files only, paths up to 255 bytes (ustar prefix + name), sizes of any
//! length (octal up to 8 GiB, the GNU base-256 form above; GNU tar and
//! bsdtar read both). About 150 lines instead of a dependency; `tar -tvf` lists
//! the result.

use std::io::{self, Read, Write};

const BLOCK: usize = 512;

#[derive(Debug, thiserror::Error)]
pub enum TarError {
    #[error(transparent)]
    Io(#[from] io::Error),
    #[error(
        "path '{0}' is too long for a tar header (at most 100 bytes after the last '/' that keeps the rest within 155)"
    )]
    PathTooLong(String),
    #[error("not a cunlink backup (tar header {0} is damaged)")]
    BadHeader(u64),
    #[error("the backup ends in the middle of '{0}'")]
    Truncated(String),
}

/// Writes entries one after another, then the end-of-archive marker.
pub struct Writer<W: Write> {
    out: W,
    entries: u64,
}

impl<W: Write> Writer<W> {
    pub fn new(out: W) -> Self {
        Writer { out, entries: 0 }
    }

    /// Append a regular file of `size` bytes read from `data` (exactly `size`
    /// bytes are written; a source that runs short is an error).
    pub fn append(
        &mut self,
        path: &str,
        size: u64,
        mtime_s: u64,
        data: &mut impl Read,
    ) -> Result<(), TarError> {
        self.out.write_all(&header(path, size, mtime_s)?)?;
        let copied = io::copy(&mut data.take(size), &mut self.out)?;
        if copied != size {
            return Err(TarError::Truncated(path.to_string()));
        }
        self.pad(size)?;
        self.entries += 1;
        Ok(())
    }

    fn pad(&mut self, size: u64) -> io::Result<()> {
        let rem = (size % BLOCK as u64) as usize;
        if rem != 0 {
            self.out.write_all(&[0u8; BLOCK][..BLOCK - rem])?;
        }
        Ok(())
    }

    /// Write the two zero blocks that end an archive; returns the inner writer.
    pub fn finish(mut self) -> io::Result<W> {
        self.out.write_all(&[0u8; 2 * BLOCK])?;
        self.out.flush()?;
        Ok(self.out)
    }
}

fn put_octal(field: &mut [u8], value: u64) {
    // Width-1 octal digits then NUL.
    let digits = field.len() - 1;
    let s = format!("{value:0digits$o}");
    field[..digits].copy_from_slice(s.as_bytes());
    field[digits] = 0;
}

fn header(path: &str, size: u64, mtime_s: u64) -> Result<[u8; BLOCK], TarError> {
    let mut h = [0u8; BLOCK];
    let (prefix, name) = split_path(path)?;
    h[..name.len()].copy_from_slice(name.as_bytes());
    h[345..345 + prefix.len()].copy_from_slice(prefix.as_bytes());
    put_octal(&mut h[100..108], 0o600);
    put_octal(&mut h[108..116], 0);
    put_octal(&mut h[116..124], 0);
    if size < 8u64.pow(11) {
        put_octal(&mut h[124..136], size);
    } else {
        // GNU base-256: high bit set, big-endian in the remaining bytes.
        h[124] = 0x80;
        h[128..136].copy_from_slice(&size.to_be_bytes());
    }
    put_octal(&mut h[136..148], mtime_s.min(8u64.pow(11) - 1));
    h[156] = b'0';
    h[257..263].copy_from_slice(b"ustar\0");
    h[263..265].copy_from_slice(b"00");
    h[148..156].copy_from_slice(b"        ");
    let sum: u32 = h.iter().map(|&b| b as u32).sum();
    let s = format!("{sum:06o}\0 ");
    h[148..156].copy_from_slice(s.as_bytes());
    Ok(h)
}

fn split_path(path: &str) -> Result<(&str, &str), TarError> {
    if path.len() <= 100 {
        return Ok(("", path));
    }
    let too_long = || TarError::PathTooLong(path.to_string());
    // The name part is what follows some '/', at most 100 bytes; the prefix before it at most 155.
    for (i, _) in path.match_indices('/') {
        let (prefix, name) = (&path[..i], &path[i + 1..]);
        if prefix.len() <= 155 && name.len() <= 100 && !name.is_empty() {
            return Ok((prefix, name));
        }
    }
    Err(too_long())
}

fn parse_octal(field: &[u8]) -> Option<u64> {
    if field.first().is_some_and(|b| b & 0x80 != 0) {
        let mut v: u64 = 0;
        for (i, &b) in field.iter().enumerate() {
            let b = if i == 0 { b & 0x7f } else { b };
            v = v.checked_mul(256)?.checked_add(b as u64)?;
        }
        return Some(v);
    }
    let s = std::str::from_utf8(field).ok()?;
    let s = s.trim_matches(|c: char| c == '\0' || c == ' ');
    if s.is_empty() {
        return Some(0);
    }
    u64::from_str_radix(s, 8).ok()
}

fn cstr(field: &[u8]) -> &[u8] {
    let end = field.iter().position(|&b| b == 0).unwrap_or(field.len());
    &field[..end]
}

/// One entry's header as read back.
pub struct Entry {
    pub path: String,
    pub size: u64,
    /// Regular file (`0` or NUL type); other types are skipped by callers.
    pub is_file: bool,
}

/// Reads entries in order. After [`Reader::next_entry`], read exactly the
/// entry's `size` bytes through [`Reader::data`] (or let `skip` do it).
pub struct Reader<R: Read> {
    input: R,
    offset: u64,
    pending: u64,
}

impl<R: Read> Reader<R> {
    pub fn new(input: R) -> Self {
        Reader {
            input,
            offset: 0,
            pending: 0,
        }
    }

    /// The next entry, or `None` at the end-of-archive marker.
    pub fn next_entry(&mut self) -> Result<Option<Entry>, TarError> {
        if self.pending > 0 {
            io::copy(&mut (&mut self.input).take(self.pending), &mut io::sink())?;
            self.offset += self.pending;
            self.pending = 0;
        }
        let pad = (BLOCK as u64 - self.offset % BLOCK as u64) % BLOCK as u64;
        if pad > 0 {
            io::copy(&mut (&mut self.input).take(pad), &mut io::sink())?;
            self.offset += pad;
        }
        let at = self.offset;
        let mut h = [0u8; BLOCK];
        if let Err(e) = self.input.read_exact(&mut h) {
            return match e.kind() {
                io::ErrorKind::UnexpectedEof => {
                    Err(TarError::Truncated("(archive end marker)".into()))
                }
                _ => Err(e.into()),
            };
        }
        self.offset += BLOCK as u64;
        if h.iter().all(|&b| b == 0) {
            return Ok(None);
        }
        let stored = parse_octal(&h[148..156]).ok_or(TarError::BadHeader(at))?;
        let mut copy = h;
        copy[148..156].copy_from_slice(b"        ");
        let sum: u64 = copy.iter().map(|&b| b as u64).sum();
        if sum != stored {
            return Err(TarError::BadHeader(at));
        }
        let name = cstr(&h[..100]);
        let prefix = cstr(&h[345..500]);
        let mut path = Vec::with_capacity(prefix.len() + 1 + name.len());
        if !prefix.is_empty() {
            path.extend_from_slice(prefix);
            path.push(b'/');
        }
        path.extend_from_slice(name);
        let path = String::from_utf8(path).map_err(|_| TarError::BadHeader(at))?;
        let size = parse_octal(&h[124..136]).ok_or(TarError::BadHeader(at))?;
        self.pending = size;
        Ok(Some(Entry {
            path,
            size,
            is_file: matches!(h[156], b'0' | 0),
        }))
    }

    /// Copy the current entry's bytes into `out`.
    pub fn data(&mut self, path: &str, out: &mut impl Write) -> Result<(), TarError> {
        let want = self.pending;
        let got = io::copy(&mut (&mut self.input).take(want), out)?;
        self.offset += got;
        self.pending = 0;
        if got != want {
            return Err(TarError::Truncated(path.to_string()));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_files_long_paths_and_empty_files() {
        let long = format!("photos/{}/{}.jpg", "ab".repeat(60), "c".repeat(90));
        let files: Vec<(String, Vec<u8>)> = vec![
            ("cunlink.db".into(), vec![7u8; 1000]),
            ("empty".into(), vec![]),
            (long, (0..=255u8).cycle().take(1536).collect()),
        ];
        let mut w = Writer::new(Vec::new());
        for (p, d) in &files {
            w.append(p, d.len() as u64, 1_700_000_000, &mut d.as_slice())
                .unwrap();
        }
        let bytes = w.finish().unwrap();
        assert_eq!(bytes.len() % BLOCK, 0);
        let mut r = Reader::new(bytes.as_slice());
        for (p, d) in &files {
            let e = r.next_entry().unwrap().unwrap();
            assert_eq!(&e.path, p);
            assert!(e.is_file);
            let mut got = Vec::new();
            r.data(&e.path, &mut got).unwrap();
            assert_eq!(&got, d);
        }
        assert!(r.next_entry().unwrap().is_none());
    }

    #[test]
    fn huge_sizes_use_base_256_and_damage_is_detected() {
        let h = header("big", 9 << 30, 0).unwrap();
        assert_eq!(parse_octal(&h[124..136]), Some(9 << 30));
        let mut bytes = Writer::new(Vec::new());
        bytes.append("a", 3, 0, &mut &b"abc"[..]).unwrap();
        let mut bytes = bytes.finish().unwrap();
        bytes[10] ^= 1;
        assert!(matches!(
            Reader::new(bytes.as_slice()).next_entry(),
            Err(TarError::BadHeader(0))
        ));
        assert!(matches!(
            header(&"x".repeat(300), 1, 0),
            Err(TarError::PathTooLong(_))
        ));
    }
}
