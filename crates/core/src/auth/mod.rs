//! Accounts and authentication: villages under a county, users with one role,
//! argon2id passwords, bearer API tokens for scripts and session cookies for pages.
//!
//! Secrets (API tokens, session cookies) are random and only their SHA-256 is
//! stored, so a stolen database file does not hand out working credentials.
//!
//! Other domains never read these tables themselves: they call the service
//! (routes, `users_for_village`, `users_by_names`, …) or, inside their own
//! transaction, the connection-level contract re-exported here: [`village_name`],
//! [`village_names`], [`village_id`], [`village_list`], [`usernames`],
//! [`user_exists`], [`user_count`] and [`AuthService::ensure_village`]. List
//! pages fetch their own rows with ids, then resolve names in one batched call.

mod cache;
mod directory;
mod epoch;
pub mod limit;
mod lookup;
mod password;
mod role;
mod store;
pub mod sync;

pub use lookup::{
    county_wide_user_ids, user_count, user_exists, usernames, village_id, village_ids, village_list, village_name, village_names,
};
pub use password::{hash_password, verify_password};
pub use role::{Role, UnknownRole};
pub use store::{AuthError, AuthService, LoginOutcome, Session, User};

use sha2::{Digest, Sha256};

/// Hex SHA-256 of a secret, the form in which tokens are stored and looked up.
pub fn secret_hash(secret: &str) -> String {
    let digest = Sha256::digest(secret.as_bytes());
    let mut out = String::with_capacity(64);
    for b in digest.iter() {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

/// Whether two secrets (CSRF tokens) are equal, in time that depends only on
/// their lengths, so a client cannot find a token byte by byte from how long a
/// refusal takes.
pub fn same_secret(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    // Keep the optimiser from turning the fold into an early-exit comparison.
    std::hint::black_box(diff) == 0
}

/// The core schema (accounts), applied by the binary at start.
pub const MIGRATIONS: &[crate::Migration] = &[
    crate::Migration {
        version: 1,
        name: "accounts",
        sql: include_str!("../../migrations/sqlite/0001_accounts.sql"),
    },
    crate::Migration {
        version: 2,
        name: "auth_epoch",
        sql: include_str!("../../migrations/sqlite/0002_auth_epoch.sql"),
    },
];

#[cfg(test)]
mod tests {
    #[test]
    fn same_secret_compares_whole_values() {
        assert!(super::same_secret("abc", "abc"));
        assert!(!super::same_secret("abc", "abd"));
        assert!(!super::same_secret("abc", "ab"));
        assert!(!super::same_secret("", "a"));
    }
}
