//! Who may use the school pages: teachers, the villagers whose children go there,
//! and those who oversee it (admins, county staff).

use cunlink_core::auth::{Role, User};

/// Whether `user` sees the school tab and may open its pages.
pub fn can_use(user: &User) -> bool {
    matches!(
        user.role,
        Role::Teacher | Role::Admin | Role::CountyStaff | Role::Villager
    )
}
