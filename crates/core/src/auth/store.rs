//! Accounts SQL and the [`AuthService`] every route uses to know who is calling.

use std::net::IpAddr;
use std::sync::{Arc, OnceLock};

use crate::sql::{Connection, OptionalExtension, params};
use serde::Serialize;
use tokio::sync::Semaphore;

use super::epoch::Epoch;
use super::limit::{Limited, LoginLimiter, LoginLimits};
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
    #[error("no user named '{0}'")]
    UnknownUser(String),
}

impl From<crate::sql::Error> for AuthError {
    fn from(e: crate::sql::Error) -> Self {
        AuthError::Db(DbError::Sql(e))
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

/// What a sign-in attempt came to.
#[derive(Debug)]
pub enum LoginOutcome {
    SignedIn(User, Session),
    /// Wrong username or password (the two are not told apart).
    Refused,
    /// Too many attempts for this account or from this address; nothing was checked.
    Limited(Limited),
}

/// Accounts and credentials over the application database. Cheap to clone.
#[derive(Clone)]
pub struct AuthService {
    db: Db,
    cache: Arc<super::cache::AuthCache>,
    epoch: Arc<Epoch>,
    limiter: Arc<LoginLimiter>,
    /// argon2 runs at most this many at once (each takes ~19 MiB and a core for tens of ms).
    hashes: Arc<Semaphore>,
    secure_cookies: bool,
}

pub(super) const USER_COLUMNS: &str = "u.id, u.username, u.role, u.village_id, v.name, u.locale";

pub(super) fn user_from_row(r: &crate::sql::Row<'_>) -> crate::sql::Result<User> {
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
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        AuthService {
            epoch: Arc::new(Epoch::new(db.sqlite_path().map(|p| p.to_path_buf()))),
            db,
            cache: Default::default(),
            limiter: Arc::new(LoginLimiter::new(LoginLimits::default())),
            hashes: Arc::new(Semaphore::new(cores)),
            secure_cookies: false,
        }
    }

    /// Replace the sign-in limits (tests, configuration).
    pub fn with_login_limits(mut self, limits: LoginLimits) -> Self {
        self.limiter = Arc::new(LoginLimiter::new(limits));
        self
    }

    /// Mark cookies `Secure` (the site is served over https).
    pub fn with_secure_cookies(mut self, secure: bool) -> Self {
        self.secure_cookies = secure;
        self
    }

    /// `; Secure` when cookies must only travel over https, else nothing.
    pub fn cookie_secure_attr(&self) -> &'static str {
        if self.secure_cookies { "; Secure" } else { "" }
    }

    /// The `Set-Cookie` value of a session cookie (`value` empty and `max_age_s` 0 end it).
    pub fn session_cookie(&self, value: &str, max_age_s: i64) -> String {
        format!(
            "{}={value}; HttpOnly; SameSite=Lax; Path=/; Max-Age={max_age_s}{}",
            crate::web::SESSION_COOKIE,
            self.cookie_secure_attr()
        )
    }

    /// The sign-in limiter (for its metrics and tests).
    pub fn login_limiter(&self) -> &LoginLimiter {
        &self.limiter
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
        // Another node may create the same village meanwhile: the unique name
        // makes the loser's insert a no-op, and both read the one row.
        conn.execute(
            "INSERT OR IGNORE INTO villages (county_id, name) VALUES ($1, $2)",
            params![county, name],
        )?;
        Ok(
            conn.query_row("SELECT id FROM villages WHERE name = $1", [name], |r| {
                r.get(0)
            })?,
        )
    }

    /// Create a user. The password is hashed before the database is touched.
    pub fn create_user_blocking(
        &self,
        username: &str,
        password: &str,
        role: Role,
        village: Option<&str>,
    ) -> Result<User, AuthError> {
        self.create_user_with_blocking(username, password, role, village, |_, _| Ok(()))
    }

    /// [`Self::create_user_blocking`], running `also` (e.g. another domain's
    /// row for the new user) in the same transaction: if it fails, no user is
    /// created either.
    pub fn create_user_with_blocking(
        &self,
        username: &str,
        password: &str,
        role: Role,
        village: Option<&str>,
        also: impl FnOnce(&crate::sql::Connection, &User) -> crate::sql::Result<()>,
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
            // The write lock serialises this with the check above; the unique
            // username still answers a racing creator by name, not with a 500.
            tx.execute(
                "INSERT INTO users (username, password_hash, role, village_id, created_at) VALUES ($1, $2, $3, $4, $5)",
                params![username, hash, role.as_str(), village_id, now_ms()],
            )
            .map_err(|e| {
                if e.is_unique_violation() {
                    AuthError::UsernameTaken(username.to_string())
                } else {
                    e.into()
                }
            })?;
            let id = tx.last_insert_rowid()?;
            tx.execute(
                "INSERT INTO audit_log (at, user_id, action, detail) VALUES ($1, NULL, 'user.create', $2)",
                params![now_ms(), format!("{username} ({role})")],
            )?;
            let user = tx.query_row(
                &format!("SELECT {USER_COLUMNS} FROM users u LEFT JOIN villages v ON v.id = u.village_id WHERE u.id = $1"),
                [id],
                user_from_row,
            )?;
            also(&tx, &user)?;
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
        // Read before the lookup: a change racing it leaves an entry that is never used.
        let epoch = self.epoch.current();
        if let Some(u) = epoch.and_then(|e| self.cache.tokens.get(&hash, e)) {
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
        if let (Some(u), Some(e)) = (&found, epoch) {
            self.cache.tokens.put(key, u.clone(), u.id, e);
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
    ///
    /// `client` is the caller's address for the per-address limit. The attempt
    /// is counted before anything is hashed; the hash runs under a semaphore of
    /// one permit per core, and costs the same whether or not the user exists.
    pub async fn login(
        &self,
        username: &str,
        password: &str,
        client: Option<IpAddr>,
    ) -> Result<LoginOutcome, DbError> {
        if let Err(limited) = self.limiter.try_take(username, client) {
            return Ok(LoginOutcome::Limited(limited));
        }
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
        // Unknown and disabled users are checked against a dummy hash of the same
        // cost, so timing does not reveal who exists.
        let phc = found.as_ref().map(|(_, phc)| phc.clone());
        let pw = password.to_string();
        let permit = self
            .hashes
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| DbError::Join)?;
        // Off the runtime and off the database lock: argon2id takes tens of
        // milliseconds by design. The permit moves into the task, so a client that
        // hangs up does not free a slot while its hash is still running.
        let ok = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            // Made on the first sign-in, whichever path it takes, so that one is not told apart either.
            let dummy = dummy_hash();
            let matched = verify_password(&pw, phc.as_deref().unwrap_or(dummy));
            matched && phc.is_some()
        })
        .await
        .map_err(|_| DbError::Join)?;
        let Some((user, _)) = found.filter(|_| ok) else {
            return Ok(LoginOutcome::Refused);
        };
        self.limiter.succeeded(username, client);
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
        Ok(LoginOutcome::SignedIn(user, session))
    }

    /// The user and CSRF token of a live session cookie.
    /// Answers from a short-lived cache (see [`super::cache`]) when it can.
    pub async fn user_by_session(&self, cookie: &str) -> Result<Option<(User, String)>, DbError> {
        let hash = secret_hash(cookie);
        let epoch = self.epoch.current();
        if let Some(found) = epoch.and_then(|e| self.cache.sessions.get(&hash, e)) {
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
        if let (Some(f), Some(e)) = (&found, epoch) {
            self.cache.sessions.put(key, f.clone(), f.0.id, e);
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

    /// Every user with whether the account is disabled, by username (the administration page).
    pub async fn list_accounts(&self) -> Result<Vec<(User, bool)>, DbError> {
        self.db
            .call(|c| {
                let mut st = c.prepare(&format!(
                    "SELECT {USER_COLUMNS}, u.disabled FROM users u LEFT JOIN villages v ON v.id = u.village_id ORDER BY u.username"
                ))?;
                let rows = st.query_map([], |r| Ok((user_from_row(r)?, r.get::<_, i64>(6)? != 0)))?;
                rows.collect::<Result<Vec<_>, _>>().map_err(DbError::from)
            })
            .await
    }

    /// The user called `username`, disabled or not.
    pub fn user_by_name_blocking(&self, username: &str) -> Result<User, AuthError> {
        let name = username.trim();
        self.db.call_blocking(|c| {
            c.query_row(
                &format!("SELECT {USER_COLUMNS} FROM users u LEFT JOIN villages v ON v.id = u.village_id WHERE u.username = $1"),
                [name],
                user_from_row,
            )
            .optional()?
            .ok_or_else(|| AuthError::UnknownUser(name.to_string()))
        })
    }

    /// Disable (or enable again) `username`. Disabling ends every session of the
    /// user and makes their API tokens answer 401 (they work again if the account
    /// is enabled; `revoke_tokens` ends them for good). `by` is the acting user
    /// (`None`: the command line), for the audit log.
    pub fn set_disabled_blocking(
        &self,
        username: &str,
        disabled: bool,
        by: Option<i64>,
    ) -> Result<User, AuthError> {
        let user = self.user_by_name_blocking(username)?;
        self.db.call_blocking(|c| {
            let tx = c.transaction()?;
            tx.execute(
                "UPDATE users SET disabled = $1 WHERE id = $2",
                params![disabled as i64, user.id],
            )?;
            if disabled {
                tx.execute("DELETE FROM sessions WHERE user_id = $1", [user.id])?;
            }
            tx.execute(
                "INSERT INTO audit_log (at, user_id, action, detail) VALUES ($1, $2, $3, $4)",
                params![
                    now_ms(),
                    by,
                    if disabled {
                        "user.disable"
                    } else {
                        "user.enable"
                    },
                    user.username
                ],
            )?;
            tx.commit()?;
            Ok::<_, AuthError>(())
        })?;
        // After the commit, so a lookup racing it cannot re-cache the old row.
        self.cache.forget_user(user.id);
        Ok(user)
    }

    /// Revoke every API token of `username` and end every session:
    /// (tokens revoked, sessions ended).
    pub fn revoke_tokens_blocking(
        &self,
        username: &str,
        by: Option<i64>,
    ) -> Result<(usize, usize), AuthError> {
        let user = self.user_by_name_blocking(username)?;
        let counts = self.db.call_blocking(|c| {
            let tx = c.transaction()?;
            let tokens = tx.execute(
                "UPDATE api_tokens SET revoked = 1 WHERE user_id = $1 AND revoked = 0",
                [user.id],
            )?;
            let sessions = tx.execute("DELETE FROM sessions WHERE user_id = $1", [user.id])?;
            tx.execute(
                "INSERT INTO audit_log (at, user_id, action, detail) VALUES ($1, $2, 'user.revoke_tokens', $3)",
                params![now_ms(), by, format!("{} ({tokens} tokens, {sessions} sessions)", user.username)],
            )?;
            tx.commit()?;
            Ok::<_, AuthError>((tokens, sessions))
        })?;
        self.cache.forget_user(user.id);
        Ok(counts)
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

/// An argon2id hash of a random string made with the same parameters as real
/// passwords (once per process), verified against when the username is unknown
/// so that both paths cost the same.
fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| hash_password(&crate::random::token(24)))
}
