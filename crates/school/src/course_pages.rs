//! Course pages.

use cunlink_core::routes::Routes;

use crate::pages::St;

pub(crate) fn routes() -> Routes<St> {
    Routes::new()
}
