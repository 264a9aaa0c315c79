//! Village boundaries of farm data: who sees a device or an asset, and where a
//! new device goes.
//!
//! Every device and asset belongs to one village, except "county-level" ones
//! (`village_id` NULL) that an admin or county staff member made so on purpose.
//! Village-bound users see and manage their own village only; county-level things
//! are for admins and county staff alone. (The core's `User::can_see_village`
//! also lets everyone see village-less data, which suits rules and alarms but not
//! devices: a county-level device's token writes readings that trigger actions.)

use cunlink_core::auth::{Role, User};

/// Farm data is for people of the county and its villages, not for city buyers.
pub(crate) fn can_read_farm(user: &User) -> bool {
    user.role != Role::Buyer
}

/// Who may add, rename and re-key devices (within [`can_see`]'s villages).
pub(crate) fn can_manage_devices(user: &User) -> bool {
    matches!(user.role, Role::Admin | Role::CountyStaff | Role::Farmer)
}

/// Whether `user` may see (and, with a managing role, manage) a device or asset of `village_id`.
pub fn can_see(user: &User, village_id: Option<i64>) -> bool {
    user.role.is_county_wide() || (village_id.is_some() && village_id == user.village_id)
}

/// Where a new device goes, as asked by a user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    /// Village by name; `None` with `county_level` false: the village of an existing asset.
    pub village: Option<String>,
    pub county_level: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlacementError {
    #[error("only administrators and county staff make county-level devices")]
    CountyLevelForbidden,
    #[error("your account belongs to no village, so it cannot add devices")]
    NoVillage,
}

/// Placement of a device `user` creates, asking for `village` and `county_level`.
/// Admins and county staff place devices anywhere (the store refuses a device
/// with neither a village nor an asset nor the county-level flag); everyone else
/// adds devices to their own village, whatever `village` they name.
pub fn placement(
    user: &User,
    village: Option<String>,
    county_level: bool,
) -> Result<Placement, PlacementError> {
    if user.role.is_county_wide() {
        return Ok(Placement {
            village: village.filter(|v| !v.trim().is_empty()),
            county_level,
        });
    }
    if county_level {
        return Err(PlacementError::CountyLevelForbidden);
    }
    match &user.village {
        Some(v) => Ok(Placement {
            village: Some(v.clone()),
            county_level: false,
        }),
        None => Err(PlacementError::NoVillage),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cunlink_core::auth::Role;

    fn user(role: Role, village: Option<i64>) -> User {
        User {
            id: 1,
            username: "u".into(),
            role,
            village_id: village,
            village: village.map(|v| format!("v{v}")),
            locale: "en".into(),
        }
    }

    #[test]
    fn county_level_is_for_county_wide_roles_only() {
        let farmer = user(Role::Farmer, Some(1));
        assert!(can_see(&farmer, Some(1)));
        assert!(!can_see(&farmer, Some(2)));
        assert!(!can_see(&farmer, None));
        assert!(!can_see(&user(Role::Villager, None), None));
        assert!(can_see(&user(Role::Admin, None), None));
        assert!(can_see(&user(Role::CountyStaff, Some(1)), Some(2)));
    }

    #[test]
    fn farmers_place_devices_in_their_own_village() {
        let farmer = user(Role::Farmer, Some(1));
        assert_eq!(
            placement(&farmer, Some("v2".into()), false),
            Ok(Placement {
                village: Some("v1".into()),
                county_level: false
            })
        );
        assert_eq!(
            placement(&farmer, None, true),
            Err(PlacementError::CountyLevelForbidden)
        );
        assert_eq!(
            placement(&user(Role::Farmer, None), None, false),
            Err(PlacementError::NoVillage)
        );
        assert_eq!(
            placement(&user(Role::Admin, None), None, true),
            Ok(Placement {
                village: None,
                county_level: true
            })
        );
    }
}
