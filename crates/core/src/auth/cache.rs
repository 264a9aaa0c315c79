//! A small in-memory cache of credential hash → user, in front of the app
//! database.
//!
//! Why: every API request and page names its caller by a bearer token or a
//! session cookie, and looking either up is a query under the one app-database
//! mutex. Under order bursts (thousands of requests a second) that lookup, not
//! the order itself, queued requests behind each other.
//!
//! What keeps it honest: entries live [`TTL`] at most, so a change made by
//! another process (the CLI editing the same database) is seen within that time;
//! changes made through [`super::AuthService`] (logout, token revocation, a
//! user's language) evict at once. Only found credentials are cached: an unknown
//! token always asks the database, so a new token works immediately.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::User;

/// How long a cached answer is trusted.
pub const TTL: Duration = Duration::from_secs(5);
/// Beyond this many entries the cache starts over (bounded memory whatever the traffic).
const MAX_ENTRIES: usize = 10_000;

struct Entry<T> {
    value: T,
    at: Instant,
    user_id: i64,
}

/// Credential hash → `T` (a user, or a user with a session's CSRF token).
pub(crate) struct CredCache<T> {
    map: Mutex<HashMap<String, Entry<T>>>,
}

impl<T: Clone> Default for CredCache<T> {
    fn default() -> Self {
        CredCache {
            map: Mutex::new(HashMap::new()),
        }
    }
}

impl<T: Clone> CredCache<T> {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry<T>>> {
        self.map.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn get(&self, hash: &str) -> Option<T> {
        let mut map = self.lock();
        match map.get(hash) {
            Some(e) if e.at.elapsed() < TTL => Some(e.value.clone()),
            Some(_) => {
                map.remove(hash);
                None
            }
            None => None,
        }
    }

    pub fn put(&self, hash: String, value: T, user_id: i64) {
        let mut map = self.lock();
        if map.len() >= MAX_ENTRIES {
            map.retain(|_, e| e.at.elapsed() < TTL);
            if map.len() >= MAX_ENTRIES {
                map.clear();
            }
        }
        map.insert(
            hash,
            Entry {
                value,
                at: Instant::now(),
                user_id,
            },
        );
    }

    pub fn remove(&self, hash: &str) {
        self.lock().remove(hash);
    }

    pub fn remove_user(&self, user_id: i64) {
        self.lock().retain(|_, e| e.user_id != user_id);
    }
}

/// The two caches an [`super::AuthService`] keeps.
#[derive(Default)]
pub(crate) struct AuthCache {
    pub tokens: CredCache<User>,
    pub sessions: CredCache<(User, String)>,
}

impl AuthCache {
    /// Forget everything cached about `user_id` (their data changed).
    pub fn forget_user(&self, user_id: i64) {
        self.tokens.remove_user(user_id);
        self.sessions.remove_user(user_id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::Role;

    fn user(id: i64) -> User {
        User {
            id,
            username: format!("u{id}"),
            role: Role::Buyer,
            village_id: None,
            village: None,
            locale: "zh-CN".into(),
        }
    }

    #[test]
    fn evicts_by_hash_and_by_user() {
        let c = CredCache::default();
        c.put("a".into(), user(1), 1);
        c.put("b".into(), user(2), 2);
        assert_eq!(c.get("a").map(|u| u.id), Some(1));
        c.remove("a");
        assert!(c.get("a").is_none());
        c.remove_user(2);
        assert!(c.get("b").is_none());
    }

    #[test]
    fn stays_bounded() {
        let c = CredCache::default();
        for i in 0..(MAX_ENTRIES as i64 + 10) {
            c.put(format!("h{i}"), user(i), i);
        }
        assert!(c.lock().len() <= MAX_ENTRIES);
    }
}
