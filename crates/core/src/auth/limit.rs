//! Sign-in throttling: token buckets per account and per client address, in
//! memory, with a bounded number of tracked keys.
//!
//! Every attempt takes a token from both buckets before any password is hashed
//! (so a flood costs no argon2 work once a bucket is empty); a successful sign-in
//! gives its tokens back, so people who type their password right are never
//! slowed down by others sharing their address (a village behind one mobile NAT).
//! A bucket refills at a steady rate; an empty one answers "retry in N s".

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Shape of one family of buckets.
#[derive(Debug, Clone, Copy)]
pub struct Bucket {
    /// Attempts allowed in a burst.
    pub burst: u32,
    /// One attempt comes back every this long.
    pub refill: Duration,
}

/// Limits applied to sign-in attempts.
#[derive(Debug, Clone, Copy)]
pub struct LoginLimits {
    pub per_account: Bucket,
    pub per_address: Bucket,
    /// Most keys each family tracks (memory bound whatever the traffic).
    pub max_keys: usize,
}

impl Default for LoginLimits {
    fn default() -> Self {
        LoginLimits {
            // 5 wrong passwords in a row, then one try every 20 s (180 an hour).
            per_account: Bucket {
                burst: 5,
                refill: Duration::from_secs(20),
            },
            // An address (or IPv6 /64) may fail 20 times, then once every 3 s.
            per_address: Bucket {
                burst: 20,
                refill: Duration::from_secs(3),
            },
            max_keys: 10_000,
        }
    }
}

/// Which limit refused an attempt, and when to try again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limited {
    pub by_account: bool,
    pub retry_after_s: u32,
}

struct State {
    /// Tokens left (fractional while refilling).
    tokens: f64,
    at: Instant,
}

/// Buckets of one family (accounts or addresses), at most `max_keys` of them.
struct Buckets<K> {
    shape: Bucket,
    max_keys: usize,
    map: HashMap<K, State>,
}

impl<K: std::hash::Hash + Eq + Clone> Buckets<K> {
    fn new(shape: Bucket, max_keys: usize) -> Self {
        Buckets {
            shape,
            max_keys: max_keys.max(1),
            map: HashMap::new(),
        }
    }

    fn level(&self, s: &State, now: Instant) -> f64 {
        let per_s = 1.0 / self.shape.refill.as_secs_f64().max(0.001);
        (s.tokens + now.saturating_duration_since(s.at).as_secs_f64() * per_s)
            .min(self.shape.burst as f64)
    }

    /// Seconds until `key` has a whole token (0: it has one now).
    fn wait_s(&self, key: &K, now: Instant) -> u32 {
        let Some(s) = self.map.get(key) else { return 0 };
        let level = self.level(s, now);
        if level >= 1.0 {
            return 0;
        }
        let secs = (1.0 - level) * self.shape.refill.as_secs_f64();
        // At least 1: "Retry-After: 0" invites an immediate retry that would fail.
        (secs.ceil() as u32).max(1)
    }

    fn take(&mut self, key: &K, now: Instant) {
        if !self.map.contains_key(key) {
            self.make_room(now);
        }
        let burst = self.shape.burst as f64;
        let level = match self.map.get(key) {
            Some(s) => self.level(s, now),
            None => burst,
        };
        self.map.insert(
            key.clone(),
            State {
                tokens: (level - 1.0).max(0.0),
                at: now,
            },
        );
    }

    fn give_back(&mut self, key: &K, now: Instant) {
        let burst = self.shape.burst as f64;
        let level = match self.map.get(key) {
            Some(s) => self.level(s, now),
            None => return,
        };
        if level + 1.0 >= burst {
            // A full bucket carries no information: forget it.
            self.map.remove(key);
        } else if let Some(s) = self.map.get_mut(key) {
            s.tokens = level + 1.0;
            s.at = now;
        }
    }

    /// Keep the map under `max_keys`: drop buckets that have refilled, and if
    /// every tracked key is still limited, drop the one closest to full (the
    /// least restricted), so the keys being hammered stay tracked.
    fn make_room(&mut self, now: Instant) {
        if self.map.len() < self.max_keys {
            return;
        }
        let burst = self.shape.burst as f64;
        let shape = self.shape;
        let per_s = 1.0 / shape.refill.as_secs_f64().max(0.001);
        self.map.retain(|_, s| {
            s.tokens + now.saturating_duration_since(s.at).as_secs_f64() * per_s < burst
        });
        while self.map.len() >= self.max_keys {
            let fullest = self
                .map
                .iter()
                .max_by(|a, b| {
                    let (la, lb) = (self.level(a.1, now), self.level(b.1, now));
                    la.total_cmp(&lb)
                })
                .map(|(k, _)| k.clone());
            match fullest {
                Some(k) => {
                    self.map.remove(&k);
                }
                None => break,
            }
        }
    }
}

/// The per-account and per-address buckets behind one lock (an attempt touches both).
pub struct LoginLimiter {
    inner: Mutex<(Buckets<String>, Buckets<IpKey>)>,
}

/// An IPv4 address, or the /64 network of an IPv6 one (one host usually owns a
/// whole /64, so per-address limits would be free to dodge otherwise).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IpKey(u128);

impl From<IpAddr> for IpKey {
    fn from(ip: IpAddr) -> Self {
        match ip {
            IpAddr::V4(v4) => IpKey(u32::from(v4) as u128),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => IpKey(u32::from(v4) as u128),
                None => IpKey((u128::from(v6) >> 64) << 64 | 1 << 63),
            },
        }
    }
}

/// Accounts are compared as typed at sign-in, trimmed and lower-cased, so
/// `Admin` and `admin ` share a bucket.
fn account_key(username: &str) -> String {
    username.trim().to_lowercase().chars().take(64).collect()
}

impl LoginLimiter {
    pub fn new(limits: LoginLimits) -> Self {
        LoginLimiter {
            inner: Mutex::new((
                Buckets::new(limits.per_account, limits.max_keys),
                Buckets::new(limits.per_address, limits.max_keys),
            )),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, (Buckets<String>, Buckets<IpKey>)> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Take one attempt for `username` from `client`, or say how long to wait.
    pub fn try_take(&self, username: &str, client: Option<IpAddr>) -> Result<(), Limited> {
        self.try_take_at(username, client, Instant::now())
    }

    fn try_take_at(
        &self,
        username: &str,
        client: Option<IpAddr>,
        now: Instant,
    ) -> Result<(), Limited> {
        let account = account_key(username);
        let ip = client.map(IpKey::from);
        let mut g = self.lock();
        let (accounts, addresses) = &mut *g;
        let wait_account = accounts.wait_s(&account, now);
        let wait_address = ip.map_or(0, |k| addresses.wait_s(&k, now));
        if wait_account > 0 || wait_address > 0 {
            return Err(Limited {
                by_account: wait_account >= wait_address,
                retry_after_s: wait_account.max(wait_address),
            });
        }
        accounts.take(&account, now);
        if let Some(k) = ip {
            addresses.take(&k, now);
        }
        Ok(())
    }

    /// A successful sign-in: its attempt does not count.
    pub fn succeeded(&self, username: &str, client: Option<IpAddr>) {
        let now = Instant::now();
        let mut g = self.lock();
        let (accounts, addresses) = &mut *g;
        accounts.give_back(&account_key(username), now);
        if let Some(ip) = client {
            addresses.give_back(&IpKey::from(ip), now);
        }
    }

    /// Keys tracked (accounts, addresses).
    pub fn tracked(&self) -> (usize, usize) {
        let g = self.lock();
        (g.0.map.len(), g.1.map.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(max_keys: usize) -> LoginLimits {
        LoginLimits {
            per_account: Bucket {
                burst: 3,
                refill: Duration::from_secs(10),
            },
            per_address: Bucket {
                burst: 5,
                refill: Duration::from_secs(2),
            },
            max_keys,
        }
    }

    #[test]
    fn an_account_runs_dry_then_refills_and_others_are_untouched() {
        let l = LoginLimiter::new(limits(100));
        let t0 = Instant::now();
        for _ in 0..3 {
            l.try_take_at("Ann", None, t0).unwrap();
        }
        let e = l.try_take_at(" ann", None, t0).unwrap_err();
        assert!(e.by_account);
        assert_eq!(e.retry_after_s, 10);
        assert!(l.try_take_at("bob", None, t0).is_ok());
        assert!(
            l.try_take_at("ann", None, t0 + Duration::from_secs(10))
                .is_ok()
        );
    }

    #[test]
    fn an_address_runs_dry_across_accounts() {
        let l = LoginLimiter::new(limits(100));
        let ip: IpAddr = "10.1.2.3".parse().unwrap();
        let t0 = Instant::now();
        for i in 0..5 {
            l.try_take_at(&format!("u{i}"), Some(ip), t0).unwrap();
        }
        let e = l.try_take_at("u9", Some(ip), t0).unwrap_err();
        assert!(!e.by_account);
        assert_eq!(e.retry_after_s, 2);
        // Another host of the same IPv6 /64 shares a bucket; another network does not.
        let a: IpAddr = "2001:db8::1".parse().unwrap();
        let b: IpAddr = "2001:db8::2".parse().unwrap();
        let c: IpAddr = "2001:db9::1".parse().unwrap();
        assert_eq!(IpKey::from(a), IpKey::from(b));
        assert_ne!(IpKey::from(a), IpKey::from(c));
    }

    #[test]
    fn success_gives_the_attempt_back() {
        let l = LoginLimiter::new(limits(100));
        for _ in 0..10 {
            l.try_take("ann", None).unwrap();
            l.succeeded("ann", None);
        }
        assert_eq!(l.tracked(), (0, 0));
    }

    #[test]
    fn tracked_keys_stay_bounded_and_hammered_keys_stay_limited() {
        let l = LoginLimiter::new(limits(50));
        let t0 = Instant::now();
        for _ in 0..3 {
            l.try_take_at("victim", None, t0).unwrap();
        }
        for i in 0..10_000 {
            let ip = IpAddr::from([10, 0, (i / 256) as u8, (i % 256) as u8]);
            let _ = l.try_take_at(&format!("spray{i}"), Some(ip), t0);
        }
        let (accounts, addresses) = l.tracked();
        assert!(accounts <= 50 && addresses <= 50, "{accounts} {addresses}");
        assert!(
            l.try_take_at("victim", None, t0).is_err(),
            "the drained account is still limited"
        );
    }
}
