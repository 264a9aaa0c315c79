//! Residents' feedback: a problem or a suggestion, acknowledged, assigned to
//! an official, resolved with a reply and rated by the reporter.
//!
//! Escalation to the township: anything not acknowledged within
//! [`ACK_WITHIN_MS`] (2 days) or not resolved within [`RESOLVE_WITHIN_MS`]
//! (15 days) is sent to the county's staff and admins through the
//! `NotifyUsers` port, once for each reason. The pass
//! ([`Affairs::escalate`]) is a function of `now`: the background task runs
//! it every minute with the domain clock (see [`crate::clock`]).

use cunlink_core::auth::{Role, User, usernames};
use cunlink_core::notify::UserNotice;
use cunlink_core::time::DAY_MS;
use serde_json::{Value, json};

use crate::input::{self, Obj};
use crate::store::feedback::{self as store, Feedback, NewFeedback};
use crate::{Affairs, AffairsError, access, files};

pub const ACK_WITHIN_MS: i64 = 2 * DAY_MS;
pub const RESOLVE_WITHIN_MS: i64 = 15 * DAY_MS;
pub const CATEGORIES: [&str; 7] = [
    "problem",
    "suggestion",
    "road",
    "water",
    "environment",
    "safety",
    "other",
];
pub const MAX_LIST: i64 = 200;

fn not_found(id: i64) -> AffairsError {
    AffairsError::not_found("unknown_feedback", format!("no feedback {id}"))
}

/// Feedback as its reader may see it: officials never see who sent an
/// anonymous report.
pub fn view(f: &Feedback, reader: &User, names: &std::collections::HashMap<i64, String>) -> Value {
    let reporter = if f.anonymous && reader.id != f.reporter_id {
        None
    } else {
        names.get(&f.reporter_id).cloned()
    };
    json!({
        "id": f.id,
        "category": f.category,
        "text": f.text,
        "place": f.place,
        "photo": f.photo,
        "anonymous": f.anonymous,
        "reporter": reporter,
        "mine": reader.id == f.reporter_id,
        "status": f.status,
        "assignee": f.assignee_id.and_then(|a| names.get(&a).cloned()),
        "reply": f.reply,
        "rating": f.rating,
        "created_at": f.created_at,
        "acked_at": f.acked_at,
        "resolved_at": f.resolved_at,
        "escalated": if f.escalated_resolve_at.is_some() {
            Some("unresolved")
        } else if f.escalated_ack_at.is_some() {
            Some("unacknowledged")
        } else {
            None
        },
    })
}

impl Affairs {
    /// `POST /api/affairs/feedback`: a resident reports.
    pub async fn report(&self, user: &User, o: Obj) -> Result<Value, AffairsError> {
        let village_id = user
            .village_id
            .filter(|v| access::resident_of(user, *v))
            .ok_or_else(|| {
                AffairsError::forbidden("feedback comes from the residents of a village")
            })?;
        let category = input::choice(&o, "category", &CATEGORIES)?;
        let text = input::text(&o, "text", 2000)?;
        let place = input::opt_text(&o, "place", 200)?;
        let anonymous = input::opt_bool(&o, "anonymous")?;
        let (by, now) = (user.id, self.clock.now());
        let id = self
            .tx(move |c| {
                Ok(store::insert(
                    c,
                    &NewFeedback {
                        village_id,
                        reporter_id: by,
                        anonymous,
                        category: &category,
                        text: &text,
                        place: place.as_deref(),
                    },
                    now,
                )?)
            })
            .await?;
        Ok(json!({"id": id, "status": "received"}))
    }

    /// Feedback the caller may see: the reporter's own, or any of a village
    /// they manage or oversee. Others, and other villages', are 404.
    async fn visible_feedback(&self, user: &User, id: i64) -> Result<Feedback, AffairsError> {
        access::gate(user)?;
        let f = self
            .read(move |c| Ok(store::get(c, id)?))
            .await?
            .ok_or_else(|| not_found(id))?;
        let ok = f.reporter_id == user.id
            || access::manages(user, f.village_id)
            || (user.role.is_county_wide() && access::can_use(user));
        if ok { Ok(f) } else { Err(not_found(id)) }
    }

    async fn names_for(
        &self,
        f: &[Feedback],
    ) -> Result<std::collections::HashMap<i64, String>, AffairsError> {
        let ids: Vec<i64> = f
            .iter()
            .flat_map(|f| [Some(f.reporter_id), f.assignee_id])
            .flatten()
            .collect();
        self.read(move |c| Ok(usernames(c, &ids)?)).await
    }

    pub async fn feedback(&self, user: &User, id: i64) -> Result<Value, AffairsError> {
        let f = self.visible_feedback(user, id).await?;
        let names = self.names_for(std::slice::from_ref(&f)).await?;
        Ok(view(&f, user, &names))
    }

    /// `GET /api/affairs/feedback`: officials their village's, the county all,
    /// everyone else their own.
    pub async fn feedback_list(&self, user: &User, limit: i64) -> Result<Vec<Value>, AffairsError> {
        if !access::can_use(user) {
            return Err(AffairsError::forbidden("feedback is for residents"));
        }
        let (village, reporter) = if user.role.is_county_wide() {
            (None, None)
        } else {
            match user.village_id {
                Some(v) if access::manages(user, v) => (Some(v), None),
                Some(v) => (Some(v), Some(user.id)),
                None => return Ok(Vec::new()),
            }
        };
        let list = self
            .read(move |c| Ok(store::list(c, village, reporter, limit)?))
            .await?;
        let names = self.names_for(&list).await?;
        Ok(list.iter().map(|f| view(f, user, &names)).collect())
    }

    /// Feedback the caller may see and this installation owns: on the hub,
    /// feedback reported at a village node is read-only (409 `node_feedback`).
    async fn owned_feedback(&self, user: &User, id: i64) -> Result<Feedback, AffairsError> {
        let f = self.visible_feedback(user, id).await?;
        self.read(move |c| crate::sync::refuse_node_feedback(c, id))
            .await?;
        Ok(f)
    }

    /// Feedback of a village the caller manages.
    async fn managed_feedback(&self, user: &User, id: i64) -> Result<Feedback, AffairsError> {
        let f = self.owned_feedback(user, id).await?;
        if !access::manages(user, f.village_id) {
            return Err(AffairsError::forbidden(
                "only the village's officials handle feedback",
            ));
        }
        Ok(f)
    }

    pub async fn ack_feedback(&self, user: &User, id: i64) -> Result<Value, AffairsError> {
        self.managed_feedback(user, id).await?;
        let now = self.clock.now();
        self.tx(move |c| Ok(store::ack(c, id, now)?)).await?;
        self.feedback(user, id).await
    }

    /// `{"user": USERNAME}`: an official of the same village.
    pub async fn assign_feedback(
        &self,
        user: &User,
        id: i64,
        o: Obj,
    ) -> Result<Value, AffairsError> {
        let f = self.managed_feedback(user, id).await?;
        let name = input::text(&o, "user", 100)?;
        let to = self
            .auth
            .users_by_names(vec![name.clone()])
            .await?
            .into_iter()
            .find(|u| u.role == Role::VillageOfficial && u.village_id == Some(f.village_id))
            .ok_or_else(|| {
                AffairsError::invalid(
                    "unknown_official",
                    "user",
                    format!("{name} is not an official of this village"),
                )
            })?;
        let now = self.clock.now();
        self.tx(move |c| {
            store::ack(c, id, now)?;
            store::assign(c, id, to.id)?;
            Ok(())
        })
        .await?;
        self.feedback(user, id).await
    }

    pub async fn resolve_feedback(
        &self,
        user: &User,
        id: i64,
        o: Obj,
    ) -> Result<Value, AffairsError> {
        let f = self.managed_feedback(user, id).await?;
        if f.status == "resolved" {
            return Err(AffairsError::conflict(
                "already_resolved",
                "id",
                "this feedback is resolved",
            ));
        }
        let reply = input::text(&o, "reply", 2000)?;
        let now = self.clock.now();
        let notify = self.notify.clone();
        let reporter = f.reporter_id;
        self.tx(move |c| {
            store::resolve(c, id, &reply, now)?;
            notify.enqueue(
                c,
                &UserNotice {
                    user_ids: vec![reporter],
                    source: "affairs",
                    title: "您反映的问题已处理 / Your feedback was resolved".into(),
                    body: reply.chars().take(200).collect(),
                    url: format!("/affairs/feedback#f{id}"),
                    urgent: false,
                },
            )?;
            Ok(())
        })
        .await?;
        self.notify.wake();
        self.feedback(user, id).await
    }

    /// `{"rating": 1..5}`: the reporter, once, after it is resolved.
    pub async fn rate_feedback(&self, user: &User, id: i64, o: Obj) -> Result<Value, AffairsError> {
        let f = self.owned_feedback(user, id).await?;
        if f.reporter_id != user.id {
            return Err(AffairsError::forbidden(
                "only the reporter rates the answer",
            ));
        }
        let rating = input::int(&o, "rating", 1, 5)?;
        if f.status != "resolved" {
            return Err(AffairsError::conflict(
                "not_resolved",
                "id",
                "feedback is rated once it is resolved",
            ));
        }
        if f.rating.is_some() {
            return Err(AffairsError::conflict(
                "already_rated",
                "rating",
                "you already rated this",
            ));
        }
        self.tx(move |c| Ok(store::rate(c, id, rating)?)).await?;
        self.feedback(user, id).await
    }

    /// The reporter's photo of the problem.
    pub async fn feedback_photo(
        &self,
        user: &User,
        id: i64,
        bytes: Vec<u8>,
    ) -> Result<String, AffairsError> {
        let f = self.owned_feedback(user, id).await?;
        if f.reporter_id != user.id {
            return Err(AffairsError::forbidden("only the reporter adds a photo"));
        }
        let ct = files::check(&bytes, "image")?;
        let now = self.clock.now();
        self.tx(move |c| {
            let hash = files::put(c, f.village_id, ct, &bytes, now)?;
            store::set_photo(c, id, &hash)?;
            Ok(hash)
        })
        .await
    }

    /// Per-category counts of the feedback made in `month` (China time).
    pub async fn feedback_stats(
        &self,
        village_id: i64,
        month: &str,
    ) -> Result<Vec<Value>, AffairsError> {
        let (y, m) = month
            .split_once('-')
            .and_then(|(y, m)| Some((y.parse::<i64>().ok()?, m.parse::<i64>().ok()?)))
            .ok_or_else(|| {
                AffairsError::invalid("invalid_month", "month", "month must look like 2026-11")
            })?;
        let tz = cunlink_core::time::TZ_OFFSET_MS;
        let from = cunlink_core::time::days_from_civil(y, m, 1) * DAY_MS - tz;
        let (ny, nm) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
        let to = cunlink_core::time::days_from_civil(ny, nm, 1) * DAY_MS - tz;
        let rows = self
            .read(move |c| Ok(store::stats(c, village_id, from, to)?))
            .await?;
        Ok(rows
            .into_iter()
            .map(|(cat, n, done)| json!({"category": cat, "received": n, "resolved": done}))
            .collect())
    }

    /// The escalation pass at `now`: feedback unacknowledged for 2 days or
    /// unresolved for 15 goes to the township (admins and county staff),
    /// once per reason. Returns how many escalations were made.
    ///
    /// Escalation runs where the feedback lives: the hub skips what village
    /// nodes own (ids in a node's range), a node marks its own and tells no
    /// one itself — the township is on the hub, which tells them when the
    /// marked record comes up (`sync::feedback`).
    pub async fn escalate(&self, now: i64) -> Result<usize, AffairsError> {
        let on_node = self.read(|c| Ok(cunlink_core::sync::is_node(c)?)).await?;
        let township = if on_node {
            Vec::new()
        } else {
            self.township().await?
        };
        let owned_below = if on_node {
            i64::MAX
        } else {
            cunlink_core::sync::ID_SPAN
        };
        let notify = self.notify.clone();
        let n = self
            .tx(move |c| {
                let mut n = 0;
                let due = [
                    (
                        false,
                        store::due_unacknowledged(c, now - ACK_WITHIN_MS, owned_below)?,
                    ),
                    (
                        true,
                        store::due_unresolved(c, now - RESOLVE_WITHIN_MS, owned_below)?,
                    ),
                ];
                for (unresolved, list) in due {
                    for f in list {
                        if !store::mark_escalated(c, f.id, unresolved, now)? {
                            continue;
                        }
                        n += 1;
                        if township.is_empty() {
                            continue;
                        }
                        let (zh, en) = if unresolved {
                            ("15天未解决", "unresolved for 15 days")
                        } else {
                            ("2天未受理", "unacknowledged for 2 days")
                        };
                        notify.enqueue(
                            c,
                            &UserNotice {
                                user_ids: township.clone(),
                                source: "affairs",
                                title: format!("村民反馈{zh} / feedback {en}"),
                                body: f.text.chars().take(200).collect(),
                                url: format!("/affairs/feedback#f{}", f.id),
                                urgent: false,
                            },
                        )?;
                    }
                }
                Ok(n)
            })
            .await?;
        if n > 0 {
            self.notify.wake();
            tracing::info!(escalated = n, "village feedback escalated to the township");
        }
        Ok(n)
    }
}
