//! A small in-memory cache of credential hash → user, in front of the app
//! database.
//!
//! Why: every API request and page names its caller by a bearer token or a
//! session cookie, and looking either up is a query under the one app-database
//! mutex. Under order bursts (thousands of requests a second) that lookup, not
//! the order itself, queued requests behind each other.
//!
//! What keeps it honest: every entry carries the value the database's
//! `auth_epoch` counter had before the entry was read (see [`super::epoch`]), and
//! is used only while the counter still has that value. Triggers bump the counter
//! on every change that takes a credential away (user disabled, token revoked,
//! session ended), whichever process makes it, so the CLI's `user disable` in
//! another process is seen by the very next request. Entries also live [`TTL`]
//! at most (changes the counter does not cover, such as another process
//! changing a user's language, are seen within that time), and changes made
//! through [`super::AuthService`] evict at once. Only found credentials are
//! cached: an unknown token always asks the database, so a new token works
//! immediately.

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
    epoch: i64,
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

    /// The cached value, if it was read at `epoch` and is younger than [`TTL`].
    pub fn get(&self, hash: &str, epoch: i64) -> Option<T> {
        let mut map = self.lock();
        match map.get(hash) {
            Some(e) if e.at.elapsed() < TTL && e.epoch == epoch => Some(e.value.clone()),
            Some(_) => {
                map.remove(hash);
                None
            }
            None => None,
        }
    }

    /// Remember `value`, read from the database when the counter was `epoch`.
    pub fn put(&self, hash: String, value: T, user_id: i64, epoch: i64) {
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
                epoch,
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
        c.put("a".into(), user(1), 1, 0);
        c.put("b".into(), user(2), 2, 0);
        assert_eq!(c.get("a", 0).map(|u| u.id), Some(1));
        c.remove("a");
        assert!(c.get("a", 0).is_none());
        c.remove_user(2);
        assert!(c.get("b", 0).is_none());
    }

    #[test]
    fn an_entry_read_before_the_counter_moved_is_not_used() {
        let c = CredCache::default();
        c.put("a".into(), user(1), 1, 7);
        assert!(c.get("a", 7).is_some());
        assert!(c.get("a", 8).is_none());
    }

    #[test]
    fn stays_bounded() {
        let c = CredCache::default();
        for i in 0..(MAX_ENTRIES as i64 + 10) {
            c.put(format!("h{i}"), user(i), i, 0);
        }
        assert!(c.lock().len() <= MAX_ENTRIES);
    }
}
