//! Who may use the school pages and API: teachers, villagers (courses for
//! digital skills; the lesson library), and those who oversee it (admins,
//! county staff). Lesson libraries are shared county-wide, so any of them may
//! read any channel; only teachers and county staff publish, and a teacher
//! only changes a channel of their own village (ids are not secret: another
//! village's channel answers 403).

use cunlink_core::auth::{Role, User};

use crate::error::SchoolError;
use crate::store::Channel;

/// Whether `user` sees the school tab and may open its pages.
pub fn can_use(user: &User) -> bool {
    matches!(
        user.role,
        Role::Teacher | Role::Admin | Role::CountyStaff | Role::Villager
    )
}

/// Refuse a caller who may not use the school at all.
pub fn require_use(user: &User) -> Result<(), SchoolError> {
    if can_use(user) {
        Ok(())
    } else {
        Err(SchoolError::forbidden(
            "the school is for teachers, villagers and county staff",
        ))
    }
}

/// Whether `user` may create channels and courses.
pub fn can_teach(user: &User) -> bool {
    matches!(user.role, Role::Teacher | Role::Admin | Role::CountyStaff)
}

pub fn require_teach(user: &User, what: &str) -> Result<(), SchoolError> {
    if can_teach(user) {
        Ok(())
    } else {
        Err(SchoolError::forbidden(format!(
            "only teachers and county staff may do this: {what}"
        )))
    }
}

/// Refuse changing `ch` unless the caller may: county-wide roles, or a teacher
/// of the channel's village. A pulled copy changes only at its origin.
pub fn require_edit(user: &User, ch: &Channel) -> Result<(), SchoolError> {
    require_teach(user, "changing a channel")?;
    if ch.origin_url.is_some() {
        return Err(SchoolError::forbidden(
            "this channel was pulled from an upstream; change it there",
        ));
    }
    if user.role.is_county_wide() || ch.village_id == user.village_id {
        Ok(())
    } else {
        Err(SchoolError::forbidden(
            "this channel belongs to another village's school",
        ))
    }
}
