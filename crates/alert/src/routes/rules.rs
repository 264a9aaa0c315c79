//! `/api/rules`: list, read, create, update and delete alarm rules, each
//! checked against the farm (target exists, keys are reported).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::AlertStoreError;
use crate::rule::{Condition, RuleInput, Target};
use crate::store;
use crate::{AlertError, Alerts};
use cunlink_core::ApiError;
use cunlink_core::auth::User;
use cunlink_core::time::now_ms;
use cunlink_core::web::CurrentUser;

use super::{AlertState, can_manage_rules, can_see_alarms, forbid};

pub(super) async fn list_rules(
    State(s): State<AlertState>,
    CurrentUser(user): CurrentUser,
) -> Result<Response, ApiError> {
    if !can_see_alarms(&user) {
        return Err(forbid("see alarm rules"));
    }
    let rules =
        s.0.db
            .call(|c| store::rules(c))
            .await
            .map_err(AlertError::from)?;
    let visible: Vec<_> = rules
        .into_iter()
        .filter(|r| user.can_see_village(r.village_id))
        .collect();
    Ok(Json(visible).into_response())
}

async fn visible_rule(s: &Alerts, user: &User, id: i64) -> Result<crate::rule::Rule, ApiError> {
    let rule =
        s.db.call(move |c| store::rule(c, id))
            .await
            .map_err(AlertError::from)?;
    if !user.can_see_village(rule.village_id) {
        return Err(ApiError::from(AlertError::Store(
            AlertStoreError::NoSuchRule(id),
        )));
    }
    Ok(rule)
}

pub(super) async fn get_rule(
    State(s): State<AlertState>,
    CurrentUser(user): CurrentUser,
    Path(id): Path<i64>,
) -> Result<Response, ApiError> {
    if !can_see_alarms(&user) {
        return Err(forbid("see alarm rules"));
    }
    Ok(Json(visible_rule(&s.0, &user, id).await?).into_response())
}

/// Parse and check a rule body against the farm; the village it belongs to.
async fn checked_input(
    s: &Alerts,
    user: &User,
    body: &[u8],
) -> Result<(RuleInput, Option<i64>), ApiError> {
    let invalid = |e: serde_json::Error| {
        ApiError::bad_request("invalid_rule", format!("the rule is not valid: {e}"))
    };
    let raw: serde_json::Value = serde_json::from_slice(body).map_err(invalid)?;
    crate::rule::check_numbers(&raw).map_err(AlertError::from)?;
    let input: RuleInput = serde_json::from_value(raw).map_err(invalid)?;
    let name = input.name.trim();
    if name.is_empty() || name.chars().count() > 128 {
        return Err(ApiError::bad_request(
            "invalid_rule",
            "a rule needs a name of 1 to 128 characters",
        )
        .with_field("name"));
    }
    input.condition.check().map_err(AlertError::from)?;
    let village_id = if user.role.is_county_wide() {
        match &input.village {
            Some(v) => Some(s.auth.village_id(v.clone()).await?.ok_or_else(|| {
                ApiError::bad_request("unknown_village", format!("no village named '{v}'"))
                    .with_field("village")
            })?),
            None => None,
        }
    } else {
        // Farmers write rules for their own village only.
        if user.village_id.is_none() {
            return Err(forbid("write rules without belonging to a village"));
        }
        user.village_id
    };
    if let Some(esc) = &input.escalate {
        if esc.to.is_empty() || esc.after_s == 0 {
            return Err(ApiError::bad_request(
                "invalid_rule",
                "escalate needs after_s > 0 and at least one user in 'to'",
            )
            .with_field("escalate"));
        }
        let found = s.auth.users_by_names(esc.to.clone()).await?;
        if let Some(missing) = esc
            .to
            .iter()
            .find(|n| !found.iter().any(|u| &u.username == *n))
        {
            return Err(ApiError::bad_request(
                "unknown_user",
                format!("escalate.to names '{missing}', who is not a user"),
            )
            .with_field("escalate.to"));
        }
    }
    if let Some(a) = &input.action {
        if a.rpc.method.trim().is_empty() || a.rpc.method.len() > 128 {
            return Err(ApiError::bad_request(
                "invalid_rule",
                "action.rpc.method must be 1 to 128 bytes",
            )
            .with_field("action.rpc.method"));
        }
    }
    check_target(s, &input.target, &input.condition, village_id).await?;
    Ok((input, village_id))
}

/// The target must exist and every key the condition reads must be one its
/// devices report (or their profiles declare).
async fn check_target(
    s: &Alerts,
    target: &Target,
    condition: &Condition,
    village_id: Option<i64>,
) -> Result<(), ApiError> {
    let found = s
        .target_keys(
            target,
            // A rule without a village is county-wide (only county roles write those).
            village_id.map_or(crate::Scope::County, |v| crate::Scope::Village(Some(v))),
        )
        .await
        .map_err(ApiError::internal)?;
    if !found.exists {
        let (what, name) = match target {
            Target::Device(n) => ("device", n),
            Target::Asset(n) => ("asset", n),
            Target::Profile(n) => ("device profile", n),
            Target::AssetKind(n) => ("asset kind", n),
        };
        return Err(ApiError::bad_request(
            "unknown_target",
            format!("the target names {what} '{name}', which does not exist here"),
        )
        .with_field("target"));
    }
    let keys = condition.keys();
    for (i, key) in keys.iter().enumerate() {
        if !found.keys.contains(*key) {
            let field = match condition {
                Condition::Threshold { .. } => format!("condition.conditions[{i}].key"),
                Condition::HerdFever(_) if i == 1 => "condition.activity_key".to_string(),
                _ => "condition.key".to_string(),
            };
            let known: Vec<&str> = found.keys.iter().map(String::as_str).collect();
            return Err(ApiError::bad_request(
                "unknown_key",
                format!(
                    "no device of this target reports '{key}'; known keys: {}",
                    if known.is_empty() {
                        "none yet".to_string()
                    } else {
                        known.join(", ")
                    }
                ),
            )
            .with_field(field));
        }
    }
    Ok(())
}

pub(super) async fn create_rule(
    State(s): State<AlertState>,
    CurrentUser(user): CurrentUser,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    if !can_manage_rules(&user) {
        return Err(forbid("write alarm rules"));
    }
    let (input, village_id) = checked_input(&s.0, &user, &body).await?;
    let uid = user.id;
    let rule =
        s.0.db
            .call(move |c| store::insert_rule(c, &row(&input, village_id), uid, now_ms()))
            .await
            .map_err(AlertError::from)?;
    s.0.engine.reload();
    Ok((StatusCode::CREATED, Json(rule)).into_response())
}

fn row(input: &RuleInput, village_id: Option<i64>) -> store::RuleRow<'_> {
    store::RuleRow {
        name: input.name.trim(),
        village_id,
        severity: input.severity,
        target: &input.target,
        condition: &input.condition,
        action: input.action.as_ref(),
        escalate: input.escalate.as_ref(),
        auto_clear: input.auto_clear,
        enabled: input.enabled,
    }
}

pub(super) async fn update_rule(
    State(s): State<AlertState>,
    CurrentUser(user): CurrentUser,
    Path(id): Path<i64>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    if !can_manage_rules(&user) {
        return Err(forbid("write alarm rules"));
    }
    let existing = visible_rule(&s.0, &user, id).await?;
    if existing.village_id.is_none() && !user.role.is_county_wide() {
        return Err(forbid("change county-wide rules"));
    }
    let (input, village_id) = checked_input(&s.0, &user, &body).await?;
    let rule =
        s.0.db
            .call(move |c| store::update_rule(c, id, &row(&input, village_id), now_ms()))
            .await
            .map_err(AlertError::from)?;
    s.0.engine.reload();
    Ok(Json(rule).into_response())
}

pub(super) async fn delete_rule(
    State(s): State<AlertState>,
    CurrentUser(user): CurrentUser,
    Path(id): Path<i64>,
) -> Result<Response, ApiError> {
    if !can_manage_rules(&user) {
        return Err(forbid("delete alarm rules"));
    }
    let existing = visible_rule(&s.0, &user, id).await?;
    if existing.builtin {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "builtin_rule",
            "the built-in herd-fever rule cannot be deleted; disable it with \"enabled\": false",
        )
        .with_field("id"));
    }
    if existing.village_id.is_none() && !user.role.is_county_wide() {
        return Err(forbid("delete county-wide rules"));
    }
    s.0.db
        .call(move |c| store::delete_rule(c, id, now_ms()))
        .await
        .map_err(AlertError::from)?;
    s.0.engine.reload();
    Ok(StatusCode::NO_CONTENT.into_response())
}
