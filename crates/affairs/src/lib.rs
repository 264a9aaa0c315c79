//! The village-affairs domain (村务): notices that reach every household, the
//! open village accounts, residents' feedback and votes (issue 16).
//!
//! * [`Affairs`]: the handle, opened by [`Affairs::open`] and wired by the binary
//!   as a [`cunlink_web::Domain`] (`domain.rs`: its tab, strings, board section,
//!   routes and the escalation task).
//! * [`notices`], [`ledger`], [`feedback`], [`votes`]: the rules of each, as
//!   methods of [`Affairs`] that the JSON API (`routes/`) and the pages
//!   (`pages/`) both call; their SQL is in [`store`].
//! * [`files`]: photos and loudspeaker recordings (espeak-ng when installed).
//! * [`clock`]: the time escalation and vote closing are judged by.
//! * [`access`]: who may do what; [`input`]: body limits and field checks.
//! * [`sync`]: what a village node and its hub exchange (notices down,
//!   feedback up).
//! * [`error`]: village affairs' errors and their one mapping to HTTP answers.
//!
//! People are told through the `NotifyUsers` port (alert's outbox: in-app
//! feed, Web Push, webhooks for SMS gateways), written in the same
//! transaction as the notice or escalation that causes it.

pub mod access;
mod board;
pub mod clock;
mod domain;
pub mod error;
pub mod feedback;
pub mod files;
pub mod input;
pub mod ledger;
pub mod notices;
mod pages;
mod routes;
pub mod store;
pub mod sync;
pub mod votes;

use std::sync::Arc;

use cunlink_core::auth::{AuthService, User};
use cunlink_core::notify::NotifyUsers;
use cunlink_core::{Config, Db, DbError};

pub use domain::AffairsDeps;
pub use error::AffairsError;

/// The village-affairs domain, opened.
pub struct Affairs {
    pub db: Db,
    pub auth: AuthService,
    pub notify: Arc<dyn NotifyUsers>,
    pub clock: clock::Clock,
    /// Whether urgent notices get a spoken recording (espeak-ng found at start).
    pub speech: bool,
}

impl Affairs {
    /// Apply the affairs schema and look for espeak-ng.
    pub fn open(_config: &Config, deps: AffairsDeps) -> Result<Arc<Affairs>, AffairsError> {
        let AffairsDeps { db, auth, notify } = deps;
        db.migrate("affairs", store::MIGRATIONS)?;
        let speech = files::can_speak();
        if !speech {
            tracing::info!(
                "espeak-ng not found: urgent notices get no spoken recording unless one is uploaded"
            );
        }
        Ok(Arc::new(Affairs {
            db,
            auth,
            notify,
            clock: clock::Clock::default(),
            speech,
        }))
    }

    /// Run `f` in one transaction on the application database.
    pub(crate) async fn tx<T, F>(&self, f: F) -> Result<T, AffairsError>
    where
        T: Send + 'static,
        F: FnOnce(&cunlink_core::sql::Transaction<'_>) -> Result<T, AffairsError> + Send + 'static,
    {
        self.db
            .call(move |c| {
                let tx = c.transaction().map_err(DbError::from)?;
                let out = f(&tx)?;
                tx.commit().map_err(DbError::from)?;
                Ok(out)
            })
            .await
    }

    /// Read-only work on the application database.
    pub(crate) async fn read<T, F>(&self, f: F) -> Result<T, AffairsError>
    where
        T: Send + 'static,
        F: FnOnce(&cunlink_core::sql::Connection) -> Result<T, AffairsError> + Send + 'static,
    {
        self.db.call(move |c| f(c)).await
    }

    /// The village `user` acts for when creating something: an official's own;
    /// an admin names one with `"village"`. Others may not create.
    pub(crate) async fn acting_village(
        &self,
        user: &User,
        o: &input::Obj,
    ) -> Result<i64, AffairsError> {
        if !access::is_manager(user) {
            return Err(AffairsError::forbidden(
                "only the village's officials may do this",
            ));
        }
        if let Some(v) = user.village_id.filter(|_| !user.role.is_county_wide()) {
            return Ok(v);
        }
        let name = input::text(o, "village", 100)?;
        self.auth.village_id(name.clone()).await?.ok_or_else(|| {
            AffairsError::invalid("unknown_village", "village", format!("no village '{name}'"))
        })
    }

    /// Residents of `village_id` (everyone of it but buyers): who a notice
    /// to the whole village reaches and who may vote.
    pub(crate) async fn residents(&self, village_id: i64) -> Result<Vec<User>, AffairsError> {
        Ok(self
            .auth
            .users_for_village(Some(village_id))
            .await?
            .into_iter()
            .filter(|u| access::resident_of(u, village_id))
            .collect())
    }

    /// Admins and county staff: the township that feedback escalates to.
    pub(crate) async fn township(&self) -> Result<Vec<i64>, AffairsError> {
        Ok(self
            .auth
            .users_for_village(None)
            .await?
            .into_iter()
            .filter(|u| u.role.is_county_wide())
            .map(|u| u.id)
            .collect())
    }

    /// Run the feedback escalation pass at the domain clock's `now` (what the
    /// background task does once a minute). Returns how many were escalated.
    pub async fn escalate_now(&self) -> Result<usize, AffairsError> {
        self.escalate(self.clock.now()).await
    }
}

#[cfg(test)]
mod tests {
    use cunlink_web::Locale;
    use cunlink_web::i18n::Catalog;

    #[test]
    fn english_has_every_affairs_string() {
        let mut c = Catalog::default();
        c.add(Locale::ZhCn, include_str!("../locales/zh-CN.yml"))
            .unwrap();
        c.add(Locale::En, include_str!("../locales/en.yml"))
            .unwrap();
        assert_eq!(c.missing(Locale::En), Vec::<String>::new());
    }
}
