//! Accounts SQL and the [`AuthService`] every route uses to know who is calling.

use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

use super::{Role, hash_password, secret_hash, verify_password};
use crate::db::{Db, DbError};
use crate::time::{DAY_MS, now_ms};

/// How long a browser session lives without signing in again.
const SESSION_TTL_MS: i64 = 30 * DAY_MS;
/// Villages created without naming a county go under this one.
const DEFAULT_COUNTY: &str = "本县";

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("username '{0}' is already taken")]
    UsernameTaken(String),
    #[error("username must be 1-64 characters without spaces or control characters")]
    InvalidUsername,
    #[error("password must be at least 8 characters")]
    WeakPassword,
    #[error("a village name must be 1-64 characters")]
    InvalidVillage,
}

impl From<rusqlite::Error> for AuthError {
    fn from(e: rusqlite::Error) -> Self {
        AuthError::Db(DbError::Sqlite(e))
    }
}

/// A signed-in person.
#[derive(Debug, Clone, Serialize)]
pub struct User {
    pub id: i64,
    pub username: String,
    pub role: Role,
    pub village_id: Option<i64>,
    pub village: Option<String>,
    pub locale: String,
}

impl User {
    /// Whether this user may see data of `village_id` (`None`: county-level data).
    pub fn can_see_village(&self, village_id: Option<i64>) -> bool {
        self.role.is_county_wide() || village_id.is_none() || village_id == self.village_id
    }
}

/// A new browser session: the cookie value and the CSRF token forms must echo.
#[derive(Debug, Clone)]
pub struct Session {
    pub token: String,
    pub csrf: String,
    pub expires_at: i64,
}

/// Accounts and credentials over the application database. Cheap to clone.
#[derive(Clone)]
pub struct AuthService {
    db: Db,
    cache: std::sync::Arc<super::cache::AuthCache>,
}

pub(super) const USER_COLUMNS: &str = "u.id, u.username, u.role, u.village_id, v.name, u.locale";

pub(super) fn user_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<User> {
    let role: String = r.get(2)?;
    Ok(User {
        id: r.get(0)?,
        username: r.get(1)?,
        // Roles are written only through `Role::as_str`, so a stored role always parses;
        // an edited database falls back to the least privileged role.
        role: role.parse().unwrap_or(Role::Villager),
        village_id: r.get(3)?,
        village: r.get(4)?,
        locale: r.get(5)?,
    })
}

impl AuthService {
    pub fn new(db: Db) -> Self {
        AuthService {
            db,
            cache: Default::default(),
        }
    }

    pub fn db(&self) -> &Db {
        &self.db
    }

    /// The id of village `name`, creating it (under the default county) if new.
    pub fn ensure_village(conn: &Connection, name: &str) -> Result<i64, AuthError> {
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 64 {
            return Err(AuthError::InvalidVillage);
        }
        if let Some(id) = conn
            .query_row("SELECT id FROM villages WHERE name = $1", [name], |r| {
                r.get(0)
            })
            .optional()?
        {
            return Ok(id);
        }
        conn.execute(
            "INSERT OR IGNORE INTO counties (name) VALUES ($1)",
            [DEFAULT_COUNTY],
        )?;
        let county: i64 = conn.query_row(
            "SELECT id FROM counties WHERE name = $1",
            [DEFAULT_COUNTY],
            |r| r.get(0),
        )?;
        conn.execute(
            "INSERT INTO villages (county_id, name) VALUES ($1, $2)",
            params![county, name],
        )?;
        Ok(conn.last_insert_rowid())
    }

    /// Create a user. The password is hashed before the database is touched.
    pub fn create_user_blocking(
        &self,
        username: &str,
        password: &str,
        role: Role,
        village: Option<&str>,
    ) -> Result<User, AuthError> {
        let username = username.trim();
        if username.is_empty()
            || username.chars().count() > 64
            || username
                .chars()
                .any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(AuthError::InvalidUsername);
        }
        if password.chars().count() < 8 {
            return Err(AuthError::WeakPassword);
        }
        let hash = hash_password(password);
        self.db.call_blocking(|c| {
            let tx = c.transaction()?;
            let taken: bool = tx.query_row("SELECT EXISTS(SELECT 1 FROM users WHERE username = $1)", [username], |r| r.get(0))?;
            if taken {
                return Err(AuthError::UsernameTaken(username.to_string()));
            }
            let village_id = village.map(|v| Self::ensure_village(&tx, v)).transpose()?;
            tx.execute(
                "INSERT INTO users (username, password_hash, role, village_id, created_at) VALUES ($1, $2, $3, $4, $5)",
                params![username, hash, role.as_str(), village_id, now_ms()],
            )?;
            let id = tx.last_insert_rowid();
            tx.execute(
                "INSERT INTO audit_log (at, user_id, action, detail) VALUES ($1, NULL, 'user.create', $2)",
                params![now_ms(), format!("{username} ({role})")],
            )?;
            let user = tx.query_row(
                &format!("SELECT {USER_COLUMNS} FROM users u LEFT JOIN villages v ON v.id = u.village_id WHERE u.id = $1"),
                [id],
                user_from_row,
            )?;
            tx.commit()?;
            Ok(user)
        })
    }

    /// Issue a new bearer token for `user_id`; only its hash is kept.
    pub fn create_api_token_blocking(&self, user_id: i64) -> Result<String, AuthError> {
        let token = format!("cl_{}", crate::random::token(40));
        let hash = secret_hash(&token);
        self.db.call_blocking(|c| {
            c.execute(
                "INSERT INTO api_tokens (user_id, token_hash, created_at) VALUES ($1, $2, $3)",
                params![user_id, hash, now_ms()],
            )?;
            Ok::<_, AuthError>(())
        })?;
        Ok(token)
    }

    /// The user a bearer token belongs to, if the token is valid and not revoked.
    /// Answers from a short-lived cache (see [`super::cache`]) when it can.
    pub async fn user_by_api_token(&self, token: &str) -> Result<Option<User>, DbError> {
        let hash = secret_hash(token);
        if let Some(u) = self.cache.tokens.get(&hash) {
            return Ok(Some(u));
        }
        let key = hash.clone();
        let found = self
            .db
            .call(move |c| {
                c.query_row(
                    &format!(
                        "SELECT {USER_COLUMNS} FROM api_tokens t JOIN users u ON u.id = t.user_id
                         LEFT JOIN villages v ON v.id = u.village_id
                         WHERE t.token_hash = $1 AND t.revoked = 0 AND u.disabled = 0"
                    ),
                    [hash],
                    user_from_row,
                )
                .optional()
                .map_err(DbError::from)
            })
            .await?;
        if let Some(u) = &found {
            self.cache.tokens.put(key, u.clone(), u.id);
        }
        Ok(found)
    }

    /// Revoke a bearer token; it stops working at once in this process.
    pub async fn revoke_api_token(&self, token: &str) -> Result<bool, DbError> {
        let hash = secret_hash(token);
        let key = hash.clone();
        let revoked = self
            .db
            .call(move |c| {
                c.execute(
                    "UPDATE api_tokens SET revoked = 1 WHERE token_hash = $1 AND revoked = 0",
                    [hash],
                )
                .map(|n| n > 0)
                .map_err(DbError::from)
            })
            .await?;
        self.cache.tokens.remove(&key);
        Ok(revoked)
    }

    /// Check a username and password; on success open a session.
    pub async fn login(
        &self,
        username: &str,
        password: &str,
    ) -> Result<Option<(User, Session)>, DbError> {
        let name = username.trim().to_string();
        let found: Option<(User, String)> = self
            .db
            .call(move |c| {
                c.query_row(
                    &format!(
                        "SELECT {USER_COLUMNS}, u.password_hash FROM users u LEFT JOIN villages v ON v.id = u.village_id
                         WHERE u.username = $1 AND u.disabled = 0"
                    ),
                    [name],
                    |r| Ok((user_from_row(r)?, r.get(6)?)),
                )
                .optional()
                .map_err(DbError::from)
            })
            .await?;
        // Verify off the database lock: argon2id takes tens of milliseconds by design.
        let pw = password.to_string();
        let ok = match &found {
            Some((_, phc)) => {
                let phc = phc.clone();
                tokio::task::spawn_blocking(move || verify_password(&pw, &phc))
                    .await
                    .map_err(|_| DbError::Join)?
            }
            None => {
                // Spend the same time for unknown users so timing does not reveal who exists.
                tokio::task::spawn_blocking(move || verify_password(&pw, DUMMY_HASH))
                    .await
                    .map_err(|_| DbError::Join)?;
                false
            }
        };
        let Some((user, _)) = found.filter(|_| ok) else {
            return Ok(None);
        };
        let session = Session {
            token: crate::random::token(43),
            csrf: crate::random::token(32),
            expires_at: now_ms() + SESSION_TTL_MS,
        };
        let (hash, csrf, exp, uid) = (
            secret_hash(&session.token),
            session.csrf.clone(),
            session.expires_at,
            user.id,
        );
        self.db
            .call(move |c| {
                c.execute(
                    "INSERT INTO sessions (token_hash, user_id, csrf, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)",
                    params![hash, uid, csrf, now_ms(), exp],
                )
                .map_err(DbError::from)
            })
            .await?;
        Ok(Some((user, session)))
    }

    /// The user and CSRF token of a live session cookie.
    /// Answers from a short-lived cache (see [`super::cache`]) when it can.
    pub async fn user_by_session(&self, cookie: &str) -> Result<Option<(User, String)>, DbError> {
        let hash = secret_hash(cookie);
        if let Some(found) = self.cache.sessions.get(&hash) {
            return Ok(Some(found));
        }
        let key = hash.clone();
        let found = self.db
            .call(move |c| {
                c.query_row(
                    &format!(
                        "SELECT {USER_COLUMNS}, s.csrf FROM sessions s JOIN users u ON u.id = s.user_id
                         LEFT JOIN villages v ON v.id = u.village_id
                         WHERE s.token_hash = $1 AND s.expires_at > $2 AND u.disabled = 0"
                    ),
                    params![hash, now_ms()],
                    |r| Ok((user_from_row(r)?, r.get(6)?)),
                )
                .optional()
                .map_err(DbError::from)
            })
            .await?;
        // Sessions live 30 days; the cache's seconds cannot outlive one meaningfully.
        if let Some(f) = &found {
            self.cache.sessions.put(key, f.clone(), f.0.id);
        }
        Ok(found)
    }

    /// Remember the user's page language (a locale code such as `zh-CN` or `en`).
    pub async fn set_locale(&self, user_id: i64, locale: &str) -> Result<(), DbError> {
        let locale = locale.to_string();
        self.db
            .call(move |c| {
                c.execute(
                    "UPDATE users SET locale = $1 WHERE id = $2",
                    params![locale, user_id],
                )
                .map(|_| ())
                .map_err(DbError::from)
            })
            .await?;
        // After the write, so a lookup racing it cannot re-cache the old row.
        self.cache.forget_user(user_id);
        Ok(())
    }

    /// Every user, by username (the administration page).
    pub async fn list_users(&self) -> Result<Vec<User>, DbError> {
        self.db
            .call(|c| {
                let mut st = c.prepare(&format!(
                    "SELECT {USER_COLUMNS} FROM users u LEFT JOIN villages v ON v.id = u.village_id ORDER BY u.username"
                ))?;
                let rows = st.query_map([], user_from_row)?;
                rows.collect::<Result<Vec<_>, _>>().map_err(DbError::from)
            })
            .await
    }

    /// Every village with its county: (id, village, county).
    pub async fn list_villages(&self) -> Result<Vec<(i64, String, String)>, DbError> {
        self.db
            .call(|c| {
                let mut st = c.prepare(
                    "SELECT v.id, v.name, COALESCE(c.name, '') FROM villages v LEFT JOIN counties c ON c.id = v.county_id ORDER BY v.name",
                )?;
                let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
                rows.collect::<Result<Vec<_>, _>>().map_err(DbError::from)
            })
            .await
    }

    /// Create village `name` if new (administration page).
    pub async fn create_village(&self, name: &str) -> Result<i64, AuthError> {
        let name = name.to_string();
        self.db.call(move |c| Self::ensure_village(c, &name)).await
    }

    pub async fn logout(&self, cookie: &str) -> Result<(), DbError> {
        let hash = secret_hash(cookie);
        let key = hash.clone();
        self.db
            .call(move |c| {
                c.execute("DELETE FROM sessions WHERE token_hash = $1", [hash])
                    .map(|_| ())
                    .map_err(DbError::from)
            })
            .await?;
        self.cache.sessions.remove(&key);
        Ok(())
    }
}

/// A valid argon2id hash of a random string, verified against when the username is
/// unknown so that both paths cost the same.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$Gq2PpS4dkbRa8w1xeYXlLDvTr1nPtF2q0sQW5WyNR3Y";
