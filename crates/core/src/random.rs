//! Unguessable tokens from the operating system's CSPRNG.

/// Alphabet without look-alikes (0/O, 1/l/I) so tokens survive being read aloud
/// over the phone or typed from a printed label on a device.
const ALPHABET: &[u8] = b"23456789abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ";

/// A random token of `len` characters from [`ALPHABET`] (≈5.8 bits each).
pub fn token(len: usize) -> String {
    let mut raw = vec![0u8; len];
    fill(&mut raw);
    // 256 is not a multiple of 57, so reject the top bytes to keep the choice uniform.
    let limit = 256 - (256 % ALPHABET.len());
    let mut out = String::with_capacity(len);
    let mut extra = [0u8; 1];
    for b in raw {
        let mut b = b as usize;
        while b >= limit {
            fill(&mut extra);
            b = extra[0] as usize;
        }
        out.push(ALPHABET[b % ALPHABET.len()] as char);
    }
    out
}

/// Bytes from the OS generator fetched in bulk, for a hot path that makes a
/// token per request: one `getrandom` call per 4 KiB instead of one per token.
/// The bytes are the OS generator's own, each handed out once, so tokens are
/// as unguessable as [`token`]'s. Owned by one thread (no locking).
pub struct Pool {
    buf: Box<[u8; 4096]>,
    at: usize,
}

impl Default for Pool {
    fn default() -> Self {
        Pool {
            buf: Box::new([0; 4096]),
            at: 4096,
        }
    }
}

impl Pool {
    fn byte(&mut self) -> u8 {
        if self.at == self.buf.len() {
            fill(&mut self.buf[..]);
            self.at = 0;
        }
        let b = self.buf[self.at];
        // Handed out once: a later copy of the pool's memory reveals nothing used.
        self.buf[self.at] = 0;
        self.at += 1;
        b
    }

    /// Like [`token`], from the pool.
    pub fn token(&mut self, len: usize) -> String {
        let limit = 256 - (256 % ALPHABET.len());
        let mut out = String::with_capacity(len);
        while out.len() < len {
            let b = self.byte() as usize;
            if b < limit {
                out.push(ALPHABET[b % ALPHABET.len()] as char);
            }
        }
        out
    }
}

/// Fill `buf` with random bytes. The OS generator failing means the machine cannot
/// make secrets at all; there is no safe fallback, so this aborts loudly.
pub fn fill(buf: &mut [u8]) {
    if let Err(e) = getrandom::fill(buf) {
        panic!("the operating system's random generator failed: {e}");
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn tokens_have_requested_length_and_alphabet() {
        let t = super::token(32);
        assert_eq!(t.len(), 32);
        assert!(t.bytes().all(|b| super::ALPHABET.contains(&b)));
        assert_ne!(super::token(32), t);
    }

    #[test]
    fn pool_tokens_have_requested_length_and_alphabet_and_differ() {
        let mut p = super::Pool::default();
        let mut seen = std::collections::HashSet::new();
        // More than one 4 KiB refill.
        for _ in 0..500 {
            let t = p.token(20);
            assert_eq!(t.len(), 20);
            assert!(t.bytes().all(|b| super::ALPHABET.contains(&b)));
            assert!(seen.insert(t));
        }
    }
}
