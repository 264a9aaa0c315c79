//! Who may use village affairs: everyone who lives or works in a village
//! (villagers, farmers, station operators, doctors, teachers) and those who
//! oversee it (admins, county staff). Buyers are customers of the market from
//! outside the village, so village notices and accounts are not theirs.

use cunlink_core::auth::{Role, User};

/// Whether `user` sees the village-affairs tab and may open its pages.
pub fn can_use(user: &User) -> bool {
    user.role != Role::Buyer
}
