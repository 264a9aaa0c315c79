//! Looking people up for other domains: who should hear about a village's
//! alarms, who a rule escalates to. Read-only, through the service, so that no
//! domain reads the accounts tables itself.

use crate::sql::params_from_iter;

use super::store::{USER_COLUMNS, user_from_row};
use super::{AuthService, User};
use crate::db::DbError;

impl AuthService {
    /// Enabled users of `village_id` plus every enabled county-wide user
    /// (admins, county staff). Disabled accounts are left out: they are sent
    /// no notices or alarms, vote in nothing and are offered as no handler.
    pub async fn users_for_village(&self, village_id: Option<i64>) -> Result<Vec<User>, DbError> {
        self.db()
            .call(move |c| {
                let mut st = c.prepare_cached(&format!(
                    "SELECT {USER_COLUMNS} FROM users u LEFT JOIN villages v ON v.id = u.village_id
                     WHERE u.disabled = 0
                       AND (u.village_id = $1 OR (u.village_id IS NULL AND CAST($1 AS BIGINT) IS NULL)
                            OR u.role IN ('admin', 'county_staff'))
                     ORDER BY u.id"
                ))?;
                let rows = st.query_map([village_id], user_from_row)?;
                Ok(rows.collect::<Result<Vec<_>, _>>()?)
            })
            .await
    }

    /// Users by name; unknown names are left out.
    pub async fn users_by_names(&self, names: Vec<String>) -> Result<Vec<User>, DbError> {
        if names.is_empty() {
            return Ok(Vec::new());
        }
        self.db()
            .call(move |c| {
                let marks: Vec<String> = (1..=names.len()).map(|i| format!("${i}")).collect();
                let mut st = c.prepare(&format!(
                    "SELECT {USER_COLUMNS} FROM users u LEFT JOIN villages v ON v.id = u.village_id
                     WHERE u.username IN ({}) ORDER BY u.id",
                    marks.join(", ")
                ))?;
                let rows = st.query_map(params_from_iter(names.iter()), user_from_row)?;
                Ok(rows.collect::<Result<Vec<_>, _>>()?)
            })
            .await
    }

    /// The village id of `name`, if it exists.
    pub async fn village_id(&self, name: String) -> Result<Option<i64>, DbError> {
        self.db()
            .call(move |c| {
                use crate::sql::OptionalExtension;
                Ok(
                    c.query_row("SELECT id FROM villages WHERE name = $1", [name], |r| {
                        r.get(0)
                    })
                    .optional()?,
                )
            })
            .await
    }
}
