//! Device profile management: `GET/PUT /api/profiles/{name}` and what the
//! `cunlink profile set` command and the profiles page share.
//!
//! A profile says what a kind of device reports (keys, units), how often, and how
//! long its telemetry is kept (`retention_days` for raw readings,
//! `rollup_retention_days` for hourly and daily rollups; absent = forever).
//! Profiles are shared by every village, so only county-wide roles change them.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use cunlink_core::sql::{Connection, OptionalExtension, params};
use serde::{Deserialize, Deserializer};

use crate::FarmError;
use crate::FarmStoreError;
use crate::model::{MAX_NAME_CHARS, Profile, ProfileKey};
use crate::routes::FarmState;
use crate::scope::can_read_farm;
use cunlink_core::ApiError;
use cunlink_core::auth::User;
use cunlink_core::web::CurrentUser;

/// Longest retention accepted: a century.
pub const MAX_RETENTION_DAYS: u32 = 36_500;
/// Longest reporting interval: a week.
pub const MAX_INTERVAL_S: u32 = 7 * 86_400;
pub const MAX_KEYS: usize = 64;

/// A change to a profile; absent fields keep their value, `null` retention means forever.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfileUpdate {
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub keys: Option<Vec<ProfileKey>>,
    #[serde(default)]
    pub reporting_interval_s: Option<u32>,
    #[serde(default, deserialize_with = "present")]
    pub retention_days: Option<Option<u32>>,
    #[serde(default, deserialize_with = "present")]
    pub rollup_retention_days: Option<Option<u32>>,
}

/// A field that is present (possibly `null`) becomes `Some(..)`; 0 days
/// means forever, like `null` (and like `cunlink profile set --retention-days 0`).
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<u32>>, D::Error> {
    Option::<u32>::deserialize(d).map(|v| Some(v.filter(|&d| d > 0)))
}

/// A refused profile change: (field, message).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct Invalid {
    pub field: &'static str,
    pub message: String,
}

fn invalid(field: &'static str, message: impl Into<String>) -> Invalid {
    Invalid {
        field,
        message: message.into(),
    }
}

/// Check a profile name and change before anything is written.
pub fn validate(name: &str, u: &ProfileUpdate) -> Result<(), Invalid> {
    let n = name.chars().count();
    if n == 0 || n > MAX_NAME_CHARS || name.trim() != name {
        return Err(invalid(
            "name",
            format!("a profile name is 1-{MAX_NAME_CHARS} characters without surrounding spaces"),
        ));
    }
    if let Some(keys) = &u.keys {
        if keys.len() > MAX_KEYS {
            return Err(invalid("keys", format!("at most {MAX_KEYS} keys")));
        }
        let mut seen = std::collections::HashSet::new();
        for k in keys {
            let kn = k.key.chars().count();
            if kn == 0 || kn > 64 || k.key.trim() != k.key {
                return Err(invalid(
                    "keys",
                    "each key is 1-64 characters without surrounding spaces",
                ));
            }
            if k.unit.chars().count() > 16 || k.label.chars().count() > 64 {
                return Err(invalid(
                    "keys",
                    "a unit is at most 16 characters, a label at most 64",
                ));
            }
            if !seen.insert(k.key.as_str()) {
                return Err(invalid("keys", format!("key '{}' is listed twice", k.key)));
            }
        }
    }
    if let Some(d) = &u.description
        && d.chars().count() > 200
    {
        return Err(invalid("description", "at most 200 characters"));
    }
    if let Some(s) = u.reporting_interval_s
        && !(1..=MAX_INTERVAL_S).contains(&s)
    {
        return Err(invalid(
            "reporting_interval_s",
            format!("between 1 and {MAX_INTERVAL_S} seconds"),
        ));
    }
    for (field, v) in [
        ("retention_days", u.retention_days),
        ("rollup_retention_days", u.rollup_retention_days),
    ] {
        if let Some(Some(d)) = v
            && !(1..=MAX_RETENTION_DAYS).contains(&d)
        {
            return Err(invalid(
                field,
                format!("between 1 and {MAX_RETENTION_DAYS} days, or 0 or null for forever"),
            ));
        }
    }
    Ok(())
}

/// One profile by name.
pub fn profile(conn: &Connection, name: &str) -> Result<Option<Profile>, FarmStoreError> {
    crate::store::profile_by_name(conn, name)
}

/// Create the profile if it is new, then apply `u`; (profile, created). One transaction.
pub fn put_profile(
    conn: &mut Connection,
    name: &str,
    u: &ProfileUpdate,
) -> Result<(Profile, bool), FarmStoreError> {
    let tx = conn.transaction()?;
    let exists: Option<i64> = tx
        .query_row(
            "SELECT id FROM farm_device_profiles WHERE name = $1",
            [name],
            |r| r.get(0),
        )
        .optional()?;
    let created = exists.is_none();
    if created {
        tx.execute(
            "INSERT INTO farm_device_profiles (name) VALUES ($1)",
            [name],
        )?;
    }
    if let Some(d) = &u.description {
        tx.execute(
            "UPDATE farm_device_profiles SET description = $1 WHERE name = $2",
            params![d, name],
        )?;
    }
    if let Some(k) = &u.keys {
        let json = serde_json::to_string(k).unwrap_or_else(|_| "[]".into());
        tx.execute(
            "UPDATE farm_device_profiles SET keys = $1 WHERE name = $2",
            params![json, name],
        )?;
    }
    if let Some(s) = u.reporting_interval_s {
        tx.execute(
            "UPDATE farm_device_profiles SET reporting_interval_s = $1 WHERE name = $2",
            params![s, name],
        )?;
    }
    if let Some(d) = u.retention_days {
        tx.execute(
            "UPDATE farm_device_profiles SET retention_days = $1 WHERE name = $2",
            params![d, name],
        )?;
    }
    if let Some(d) = u.rollup_retention_days {
        tx.execute(
            "UPDATE farm_device_profiles SET rollup_retention_days = $1 WHERE name = $2",
            params![d, name],
        )?;
    }
    tx.commit()?;
    let p = profile(conn, name)?.ok_or_else(|| FarmStoreError::NoSuchProfile(name.to_string()))?;
    Ok((p, created))
}

fn may_change_profiles(user: &User) -> bool {
    user.role.is_county_wide()
}

pub(crate) async fn get_profile(
    State(s): State<FarmState>,
    CurrentUser(user): CurrentUser,
    Path(name): Path<String>,
) -> Result<Json<Profile>, ApiError> {
    if !can_read_farm(&user) {
        return Err(ApiError::forbidden("your role cannot read farm data"));
    }
    let n = name.clone();
    let p =
        s.0.db
            .call(move |c| profile(c, &n))
            .await
            .map_err(FarmError::from)?;
    p.map(Json).ok_or_else(|| {
        ApiError::not_found("unknown_profile", format!("no profile named '{name}'"))
            .with_field("name")
    })
}

pub(crate) async fn put_profile_route(
    State(s): State<FarmState>,
    CurrentUser(user): CurrentUser,
    Path(name): Path<String>,
    Json(body): Json<ProfileUpdate>,
) -> Result<Response, ApiError> {
    if !may_change_profiles(&user) {
        return Err(ApiError::forbidden(
            "profiles are shared by every village: only administrators and county staff change them",
        ));
    }
    validate(&name, &body)
        .map_err(|e| ApiError::bad_request("invalid_profile", e.message).with_field(e.field))?;
    let (p, created) =
        s.0.db
            .call(move |c| put_profile(c, &name, &body))
            .await
            .map_err(FarmError::from)?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(p)).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_names_the_field() {
        let ok = ProfileUpdate {
            retention_days: Some(Some(365)),
            ..ProfileUpdate::default()
        };
        assert_eq!(validate("soil-probe", &ok), Ok(()));
        assert_eq!(validate("", &ok).unwrap_err().field, "name");
        let bad = ProfileUpdate {
            retention_days: Some(Some(0)),
            ..ProfileUpdate::default()
        };
        assert_eq!(validate("x", &bad).unwrap_err().field, "retention_days");
        let forever = ProfileUpdate {
            rollup_retention_days: Some(None),
            ..ProfileUpdate::default()
        };
        assert_eq!(validate("x", &forever), Ok(()));
        let dup = ProfileUpdate {
            keys: Some(vec![
                ProfileKey {
                    key: "t".into(),
                    unit: String::new(),
                    label: String::new(),
                },
                ProfileKey {
                    key: "t".into(),
                    unit: String::new(),
                    label: String::new(),
                },
            ]),
            ..ProfileUpdate::default()
        };
        assert_eq!(validate("x", &dup).unwrap_err().field, "keys");
    }

    #[test]
    fn null_and_absent_retention_differ() {
        let zero: ProfileUpdate = serde_json::from_str(r#"{"retention_days":0}"#).unwrap();
        assert_eq!(zero.retention_days, Some(None), "0 is forever");
        let u: ProfileUpdate = serde_json::from_str(r#"{"retention_days":null}"#).unwrap();
        assert_eq!(u.retention_days, Some(None));
        assert_eq!(u.rollup_retention_days, None);
    }
}
