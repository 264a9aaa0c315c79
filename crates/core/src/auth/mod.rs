//! Accounts and authentication: villages under a county, users with one role,
//! argon2id passwords, bearer API tokens for scripts and session cookies for pages.
//!
//! Secrets (API tokens, session cookies) are random and only their SHA-256 is
//! stored, so a stolen database file does not hand out working credentials.

mod cache;
mod directory;
mod password;
mod role;
mod store;

pub use password::{hash_password, verify_password};
pub use role::{Role, UnknownRole};
pub use store::{AuthError, AuthService, Session, User};

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

/// The core schema (accounts), applied by the binary at start.
pub const MIGRATIONS: &[crate::Migration] = &[crate::Migration {
    version: 1,
    name: "accounts",
    sql: include_str!("../../migrations/sqlite/0001_accounts.sql"),
}];
