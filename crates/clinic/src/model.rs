//! The clinic's nouns: consult states, patients' sex, who is in a consult.

use std::fmt;
use std::str::FromStr;

/// Where a consult is: waiting → accepted | scheduled → in_call → closed; or cancelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ConsultStatus {
    Waiting,
    Accepted,
    Scheduled,
    InCall,
    Closed,
    Cancelled,
}

impl ConsultStatus {
    pub const ALL: [ConsultStatus; 6] = [
        ConsultStatus::Waiting,
        ConsultStatus::Accepted,
        ConsultStatus::Scheduled,
        ConsultStatus::InCall,
        ConsultStatus::Closed,
        ConsultStatus::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ConsultStatus::Waiting => "waiting",
            ConsultStatus::Accepted => "accepted",
            ConsultStatus::Scheduled => "scheduled",
            ConsultStatus::InCall => "in_call",
            ConsultStatus::Closed => "closed",
            ConsultStatus::Cancelled => "cancelled",
        }
    }

    /// Closed and cancelled consults take no more notes, prescriptions or calls.
    pub fn is_open(self) -> bool {
        !matches!(self, ConsultStatus::Closed | ConsultStatus::Cancelled)
    }

    /// A county doctor has taken it (accepted, scheduled or in a call).
    pub fn is_taken(self) -> bool {
        matches!(
            self,
            ConsultStatus::Accepted | ConsultStatus::Scheduled | ConsultStatus::InCall
        )
    }
}

impl fmt::Display for ConsultStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ConsultStatus {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        ConsultStatus::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or(())
    }
}

impl cunlink_core::sql::FromSql for ConsultStatus {
    fn column_result(
        v: cunlink_core::sql::ValueRef<'_>,
    ) -> Result<Self, cunlink_core::sql::FromSqlError> {
        let cunlink_core::sql::ValueRef::Text(s) = v else {
            return Err(cunlink_core::sql::FromSqlError::wrong("text", v));
        };
        s.parse()
            .map_err(|_| cunlink_core::sql::FromSqlError(format!("bad consult status {s}")))
    }
}

/// The people of one consult's call, as user ids (the call crate admits only
/// them to the consult's room).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallMembers {
    pub village_doctor: i64,
    /// None while the consult waits in the queue.
    pub county_doctor: Option<i64>,
    /// The patient's own account, if linked.
    pub patient_user: Option<i64>,
    pub status: ConsultStatus,
}

impl CallMembers {
    /// Whether `user_id` is one of them.
    pub fn contains(&self, user_id: i64) -> bool {
        self.village_doctor == user_id
            || self.county_doctor == Some(user_id)
            || self.patient_user == Some(user_id)
    }
}

/// FHIR's administrative genders, which the contract uses as is.
pub const SEXES: [&str; 4] = ["male", "female", "other", "unknown"];
