//! Display boards for TVs and LED screens in the field or the village square.
//!
//! * `/board/{slug}` — a full-screen page in very large type that rotates through
//!   the board's assets and updates live over SSE (`/board/{slug}/live`);
//! * `/board/{slug}.txt` — the same content as fixed-width text lines for LED
//!   controllers that fetch text (CJK characters count two columns).
//!
//! No sign-in: the slug (≈140 random bits) is the key, as for a shared link.
//! Open alarms and today's prices belong to other domains; each registers a
//! [`cunlink_web::BoardSection`] in its own `register`, and the board shows what
//! the kit holds.

pub mod error;
mod routes;
pub mod store;
pub mod sync;
pub mod text;

use std::sync::Arc;

use cunlink_core::routes::Routes;
use cunlink_core::{Config, Db, Migration};
use cunlink_farm::Farm;
use cunlink_web::{Domain, KitBuilder, Locale, WebKit};

pub use error::BoardError;
pub use store::{Board, NewBoard};

pub const MIGRATIONS: &[Migration] = &[Migration {
    version: 1,
    name: "boards",
    sql: include_str!("../migrations/sqlite/0001_boards.sql"),
}];

pub struct Boards {
    pub db: Db,
    pub farm: Arc<Farm>,
}

/// What the boards need from outside: the application database and the farm
/// (the readings they show).
pub struct BoardDeps {
    pub db: Db,
    pub farm: Arc<Farm>,
}

impl Boards {
    /// Apply the boards schema and open the domain.
    /// Boards have no settings yet; `_config` keeps the shape of every domain.
    pub fn open(_config: &Config, deps: BoardDeps) -> Result<Arc<Boards>, BoardError> {
        let BoardDeps { db, farm } = deps;
        db.migrate("board", MIGRATIONS)?;
        Ok(Arc::new(Boards { db, farm }))
    }

    pub async fn create(&self, new: NewBoard) -> Result<Board, BoardError> {
        self.db.call(move |c| store::create(c, &new)).await
    }

    pub async fn with_name(&self, name: &str) -> Result<Option<Board>, BoardError> {
        let name = name.to_string();
        self.db.call(move |c| store::with_name(c, &name)).await
    }
}

impl Domain for Boards {
    fn name(&self) -> &'static str {
        "board"
    }

    /// The boards' strings (they have no tab: boards are for screens, not people
    /// signed in).
    fn register(self: Arc<Self>, kit: &mut KitBuilder) {
        let _ = kit.locale(Locale::ZhCn, include_str!("../locales/zh-CN.yml"));
        let _ = kit.locale(Locale::En, include_str!("../locales/en.yml"));
    }

    fn page_routes(self: Arc<Self>, kit: &WebKit) -> Routes {
        routes::routes(self, kit.clone())
    }

    fn sync_kinds(self: Arc<Self>, kinds: &mut cunlink_core::sync::SyncKinds) {
        sync::register(kinds);
    }
}

#[cfg(test)]
mod tests {
    use cunlink_web::Locale;
    use cunlink_web::i18n::Catalog;

    #[test]
    fn english_has_every_board_string() {
        let mut c = Catalog::default();
        c.add(Locale::ZhCn, include_str!("../locales/zh-CN.yml"))
            .unwrap();
        c.add(Locale::En, include_str!("../locales/en.yml"))
            .unwrap();
        assert_eq!(c.missing(Locale::En), Vec::<String>::new());
    }
}
