//! Votes: a question with options, open until `closes_at`; one ballot per
//! resident account of the village (a second is 409); results only after it
//! closes; nobody, officials included, can see who chose what (the store
//! keeps no link between a voter and a choice).

use cunlink_core::auth::User;
use cunlink_core::time::DAY_MS;
use serde_json::{Value, json};

use crate::input::{self, Obj};
use crate::store::votes::{self as store, Vote};
use crate::{Affairs, AffairsError, access};

pub const MAX_OPTIONS: usize = 20;
pub const MAX_LIST: i64 = 100;

fn not_found(id: i64) -> AffairsError {
    AffairsError::not_found("unknown_vote", format!("no vote {id}"))
}

fn options(o: &Obj) -> Result<Vec<String>, AffairsError> {
    let bad = |m: &str| AffairsError::invalid("invalid_options", "options", m);
    let Some(serde_json::Value::Array(a)) = o.get("options") else {
        return Err(bad("options must be a list of 2 to 20 texts"));
    };
    if a.len() < 2 || a.len() > MAX_OPTIONS {
        return Err(bad("a vote needs 2 to 20 options"));
    }
    let mut out: Vec<String> = Vec::with_capacity(a.len());
    for v in a {
        let s = v.as_str().map(str::trim).unwrap_or("");
        if s.is_empty() || s.chars().count() > 100 {
            return Err(bad("each option is a text of 1 to 100 characters"));
        }
        if out.iter().any(|x| x == s) {
            return Err(bad("options must differ"));
        }
        out.push(s.to_string());
    }
    Ok(out)
}

impl Affairs {
    /// `POST /api/affairs/votes`.
    pub async fn create_vote(&self, user: &User, o: Obj) -> Result<i64, AffairsError> {
        let village_id = self.acting_village(user, &o).await?;
        let question = input::text(&o, "question", 300)?;
        let opts = options(&o)?;
        let now = self.clock.now();
        let closes_at = input::int(&o, "closes_at", now + 60_000, now + 366 * DAY_MS)?;
        let by = user.id;
        self.tx(move |c| {
            Ok(store::insert(
                c, village_id, &question, &opts, closes_at, by, now,
            )?)
        })
        .await
    }

    fn vote_view(&self, v: &Vote, voted: bool, tallies: Option<Vec<i64>>) -> Value {
        let closed = self.clock.now() >= v.closes_at;
        let results = tallies.filter(|_| closed).map(|t| {
            v.options
                .iter()
                .zip(t)
                .map(|(o, n)| json!({"option": o, "votes": n}))
                .collect::<Vec<_>>()
        });
        json!({
            "id": v.id,
            "question": v.question,
            "options": v.options,
            "closes_at": v.closes_at,
            "closed": closed,
            "voters": v.voters,
            "voted": voted,
            "results": results,
        })
    }

    async fn visible_vote(&self, user: &User, id: i64) -> Result<Vote, AffairsError> {
        access::gate(user)?;
        let v = self
            .read(move |c| Ok(store::get(c, id)?))
            .await?
            .ok_or_else(|| not_found(id))?;
        if !access::sees(user, v.village_id) {
            return Err(not_found(id));
        }
        Ok(v)
    }

    /// `GET /api/affairs/votes/{id}`.
    pub async fn vote(&self, user: &User, id: i64) -> Result<Value, AffairsError> {
        let v = self.visible_vote(user, id).await?;
        let uid = user.id;
        let (voted, tallies) = self
            .read(move |c| Ok((store::has_voted(c, id, uid)?, store::tallies(c, id)?)))
            .await?;
        Ok(self.vote_view(&v, voted, Some(tallies)))
    }

    /// `GET /api/affairs/votes`: the village's (the county's: all), newest first.
    pub async fn votes(&self, user: &User) -> Result<Vec<Value>, AffairsError> {
        if !access::can_use(user) {
            return Err(AffairsError::forbidden("village votes are for residents"));
        }
        let village = if user.role.is_county_wide() {
            None
        } else {
            match user.village_id {
                Some(v) => Some(v),
                None => return Ok(Vec::new()),
            }
        };
        let uid = user.id;
        let rows = self
            .read(move |c| {
                let mut out = Vec::new();
                for v in store::list(c, village, MAX_LIST)? {
                    let voted = store::has_voted(c, v.id, uid)?;
                    let t = store::tallies(c, v.id)?;
                    out.push((v, voted, t));
                }
                Ok(out)
            })
            .await?;
        Ok(rows
            .into_iter()
            .map(|(v, voted, t)| self.vote_view(&v, voted, Some(t)))
            .collect())
    }

    /// `POST /api/affairs/votes/{id}/ballot {"option": INDEX}`.
    pub async fn ballot(&self, user: &User, id: i64, o: Obj) -> Result<Value, AffairsError> {
        let v = self.visible_vote(user, id).await?;
        if !access::resident_of(user, v.village_id) {
            return Err(AffairsError::forbidden("only the village's residents vote"));
        }
        let option = input::int(&o, "option", 0, v.options.len() as i64 - 1)?;
        if self.clock.now() >= v.closes_at {
            return Err(AffairsError::conflict(
                "vote_closed",
                "id",
                "this vote has closed",
            ));
        }
        let uid = user.id;
        let new = self
            .tx(move |c| Ok(store::cast(c, id, uid, option)?))
            .await?;
        if !new {
            return Err(AffairsError::conflict(
                "already_voted",
                "id",
                "you have already voted",
            ));
        }
        Ok(json!({"id": id, "voted": true}))
    }
}
