//! Who may do what in village affairs.
//!
//! * Everyone who lives or works in a village (villagers, farmers, station
//!   operators, doctors, teachers, officials) reads their own village's
//!   notices, ledger, votes, and their own feedback; buyers are customers
//!   from outside and see none of it.
//! * The village's officials (`village_official`) post notices, keep the
//!   ledger, handle feedback and hold votes for their village; admins may do
//!   so for any village (naming it). County staff read every village and are
//!   who feedback escalates to.
//! * Another village's object answers 404: its existence is not revealed.

use cunlink_core::auth::{Role, User};

/// Whether `user` sees the village-affairs tab and may open its pages.
pub fn can_use(user: &User) -> bool {
    user.role != Role::Buyer
}

/// Whether `user` may read `village_id`'s affairs.
pub fn sees(user: &User, village_id: i64) -> bool {
    can_use(user) && (user.role.is_county_wide() || user.village_id == Some(village_id))
}

/// Whether `user` runs `village_id`'s affairs (post, approve, answer, handle).
pub fn manages(user: &User, village_id: i64) -> bool {
    user.role == Role::Admin
        || (user.role == Role::VillageOfficial && user.village_id == Some(village_id))
}

/// Whether `user` is an official of some village or an admin: the roles that
/// can manage anything at all.
pub fn is_manager(user: &User) -> bool {
    matches!(user.role, Role::Admin | Role::VillageOfficial)
}

/// A resident of `village_id`: may vote, is sent the village's notices.
pub fn resident_of(user: &User, village_id: i64) -> bool {
    can_use(user) && !user.role.is_county_wide() && user.village_id == Some(village_id)
}

/// Buyers are refused (403) before any lookup, so they learn nothing.
pub fn gate(user: &User) -> Result<(), crate::AffairsError> {
    if can_use(user) {
        Ok(())
    } else {
        Err(crate::AffairsError::forbidden(
            "village affairs are for the people of the village",
        ))
    }
}
