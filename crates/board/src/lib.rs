//! Display boards for TVs and LED screens in the field or the village square.
//!
//! * `/board/{slug}` — a full-screen page in very large type that rotates through
//!   the board's assets and updates live over SSE (`/board/{slug}/live`);
//! * `/board/{slug}.txt` — the same content as fixed-width text lines for LED
//!   controllers that fetch text (CJK characters count two columns).
//!
//! No sign-in: the slug (≈140 random bits) is the key, as for a shared link.
//! Open alarms and today's prices belong to other domains; they reach a board
//! through [`BoardSection`]s the binary wires in [`Sections`], and render nothing
//! until wired.

pub mod error;
mod routes;
pub mod store;
pub mod text;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use cunlink_core::{Db, Migration};
use cunlink_farm::Farm;
use cunlink_web::{KitBuilder, Locale};

pub use error::BoardError;
pub use store::{Board, NewBoard};

pub const MIGRATIONS: &[Migration] = &[Migration {
    version: 1,
    name: "boards",
    sql: include_str!("../migrations/sqlite/0001_boards.sql"),
}];

/// Lines another domain adds to a board (open alarms of its assets, today's prices).
pub trait BoardSection: Send + Sync {
    fn lines<'a>(
        &'a self,
        board: &'a Board,
        locale: Locale,
    ) -> Pin<Box<dyn Future<Output = Vec<String>> + Send + 'a>>;
}

/// The optional sections a board shows below its readings.
#[derive(Default, Clone)]
pub struct Sections {
    pub alarms: Option<Arc<dyn BoardSection>>,
    pub prices: Option<Arc<dyn BoardSection>>,
}

pub struct Boards {
    pub db: Db,
    pub farm: Arc<Farm>,
    pub sections: Sections,
}

impl Boards {
    /// Apply the boards schema and open the domain.
    pub fn open(db: Db, farm: Arc<Farm>, sections: Sections) -> Result<Arc<Boards>, BoardError> {
        db.migrate("board", MIGRATIONS)?;
        Ok(Arc::new(Boards { db, farm, sections }))
    }

    pub fn routes(self: &Arc<Self>, kit: cunlink_web::WebKit) -> cunlink_core::routes::Routes {
        routes::routes(self.clone(), kit)
    }

    pub async fn create(&self, new: NewBoard) -> Result<Board, BoardError> {
        self.db.call(move |c| store::create(c, &new)).await
    }

    pub async fn with_name(&self, name: &str) -> Result<Option<Board>, BoardError> {
        let name = name.to_string();
        self.db.call(move |c| store::with_name(c, &name)).await
    }
}

/// Add the boards' strings to the kit.
pub fn register(kit: &mut KitBuilder) {
    let _ = kit.locale(Locale::ZhCn, include_str!("../locales/zh-CN.yml"));
    let _ = kit.locale(Locale::En, include_str!("../locales/en.yml"));
}
