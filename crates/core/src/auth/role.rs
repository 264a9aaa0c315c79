//! The roles of a digital village. A user has exactly one.

use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Admin,
    CountyStaff,
    StationOperator,
    Farmer,
    Buyer,
    Doctor,
    Teacher,
    Villager,
    /// 村干部: a member of the village committee (posts notices, keeps the
    /// open accounts, handles residents' feedback, holds votes).
    VillageOfficial,
}

impl Role {
    pub const ALL: [Role; 9] = [
        Role::Admin,
        Role::CountyStaff,
        Role::StationOperator,
        Role::Farmer,
        Role::Buyer,
        Role::Doctor,
        Role::Teacher,
        Role::Villager,
        Role::VillageOfficial,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::CountyStaff => "county_staff",
            Role::StationOperator => "station_operator",
            Role::Farmer => "farmer",
            Role::Buyer => "buyer",
            Role::Doctor => "doctor",
            Role::Teacher => "teacher",
            Role::Villager => "villager",
            Role::VillageOfficial => "village_official",
        }
    }

    /// Roles that see every village of the county, not only their own.
    pub fn is_county_wide(self) -> bool {
        matches!(self, Role::Admin | Role::CountyStaff)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, thiserror::Error)]
#[error(
    "unknown role '{0}'; expected one of admin, county_staff, station_operator, farmer, buyer, doctor, teacher, villager, village_official"
)]
pub struct UnknownRole(pub String);

impl FromStr for Role {
    type Err = UnknownRole;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let norm = s.trim().to_ascii_lowercase().replace('-', "_");
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == norm)
            .ok_or_else(|| UnknownRole(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_round_trip_and_accept_dashes() {
        for r in Role::ALL {
            assert_eq!(r.as_str().parse::<Role>().unwrap(), r);
        }
        assert_eq!(
            "station-operator".parse::<Role>().unwrap(),
            Role::StationOperator
        );
        assert!("king".parse::<Role>().is_err());
    }
}
