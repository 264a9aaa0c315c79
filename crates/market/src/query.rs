//! Query strings read parameter by parameter, like JSON bodies in [`crate::input`]:
//! a number that does not parse or is out of range is a 400 naming the parameter
//! (axum's typed `Query` answers such input with a plain-text 400 that names nothing).

use std::collections::HashMap;
use std::ops::RangeInclusive;

use axum::extract::Query;
use axum::extract::rejection::QueryRejection;

use crate::error::MarketError;

/// The parameters of a request (the last value of a repeated name wins).
pub struct Params(HashMap<String, String>);

impl Params {
    pub fn from(
        q: Result<Query<HashMap<String, String>>, QueryRejection>,
    ) -> Result<Params, MarketError> {
        match q {
            Ok(Query(m)) => Ok(Params(m)),
            Err(e) => Err(MarketError::Invalid {
                code: "bad_query",
                field: None,
                message: format!("the query string is malformed: {e}"),
            }),
        }
    }

    pub fn str(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    /// An integer parameter within `range`; `None` when absent or empty.
    pub fn int(&self, name: &str, range: RangeInclusive<i64>) -> Result<Option<i64>, MarketError> {
        let Some(raw) = self.str(name).map(str::trim).filter(|s| !s.is_empty()) else {
            return Ok(None);
        };
        let out_of_range = || {
            MarketError::invalid(
                "bad_parameter",
                name,
                format!(
                    "{name} must be a whole number {}-{}, got '{}'",
                    range.start(),
                    range.end(),
                    raw.chars().take(32).collect::<String>()
                ),
            )
        };
        // Too long to be an i64 is out of range too, not a different error.
        let v: i64 = raw.parse().map_err(|_| out_of_range())?;
        if range.contains(&v) {
            Ok(Some(v))
        } else {
            Err(out_of_range())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(pairs: &[(&str, &str)]) -> Params {
        Params(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    #[test]
    fn integers_out_of_range_name_the_parameter() {
        let q = p(&[
            ("limit", "-1"),
            ("big", "99999999999999999999999"),
            ("ok", "7"),
            ("empty", ""),
        ]);
        for name in ["limit", "big"] {
            match q.int(name, 1..=1000) {
                Err(MarketError::Invalid { field, .. }) => assert_eq!(field.as_deref(), Some(name)),
                other => panic!("{name}: {other:?}"),
            }
        }
        assert_eq!(q.int("ok", 1..=10).unwrap(), Some(7));
        assert_eq!(q.int("empty", 1..=10).unwrap(), None);
        assert_eq!(q.int("absent", 1..=10).unwrap(), None);
    }
}
