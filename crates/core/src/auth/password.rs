//! argon2id password hashing (PHC strings, random 16-byte salt per password).

use argon2::Argon2;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};

/// Hash `password` with argon2id and the library's default cost.
pub fn hash_password(password: &str) -> String {
    let mut salt = [0u8; 16];
    crate::random::fill(&mut salt);
    match Argon2::default().hash_password_with_salt(password.as_bytes(), &salt) {
        Ok(h) => h.to_string(),
        // Only reachable with invalid parameters, which the defaults are not.
        Err(e) => panic!("argon2 with default parameters failed: {e}"),
    }
}

/// Whether `password` matches the stored PHC string. A malformed hash never matches.
pub fn verify_password(password: &str, phc: &str) -> bool {
    PasswordVerifier::<str>::verify_password(&Argon2::default(), password.as_bytes(), phc).is_ok()
}

#[cfg(test)]
mod tests {
    #[test]
    fn hashes_verify_and_differ() {
        let a = super::hash_password("茶园2026");
        let b = super::hash_password("茶园2026");
        assert!(a.starts_with("$argon2id$"));
        assert_ne!(a, b);
        assert!(super::verify_password("茶园2026", &a));
        assert!(!super::verify_password("wrong", &a));
        assert!(!super::verify_password("x", "not a hash"));
    }
}
