//! Who may use the clinic: the doctor who keeps it, the villagers it serves, and
//! those who oversee it (admins, county staff). Farmers, buyers, station
//! operators and teachers reach it as villagers once they hold that role.

use cunlink_core::auth::{Role, User};

/// Whether `user` sees the clinic tab and may open its pages.
pub fn can_use(user: &User) -> bool {
    matches!(
        user.role,
        Role::Doctor | Role::Admin | Role::CountyStaff | Role::Villager
    )
}
