//! Notices: an official posts to the whole village or a group; each
//! recipient gets it in the app feed, by Web Push and on their webhooks (SMS
//! gateways) through the `NotifyUsers` port, in the same transaction; read
//! receipts say who has read it and who has not. Urgent notices get a spoken
//! recording for the loudspeaker when espeak-ng is installed.

use cunlink_core::auth::{User, usernames};
use cunlink_core::notify::UserNotice;
use serde_json::{Value, json};

use crate::input::{self, Obj};
use crate::store::notices::{self as store, NewNotice, Notice};
use crate::{Affairs, AffairsError, access, files};

/// Stored categories and the Chinese words also accepted for them.
pub const CATEGORIES: [(&str, &str); 4] = [
    ("notice", "通知"),
    ("policy", "政策"),
    ("event", "活动"),
    ("urgent", "紧急"),
];
pub const MAX_TITLE: usize = 100;
pub const MAX_BODY: usize = 5000;
/// Most notices one list holds.
pub const MAX_LIST: i64 = 200;
/// Most recipients one receipts answer lists (the counts cover them all).
pub const MAX_RECEIPTS: i64 = 5000;
/// An expiry at most five years ahead.
const MAX_EXPIRY_MS: i64 = 5 * 366 * 86_400_000;

fn category(o: &Obj) -> Result<String, AffairsError> {
    let raw = input::text(o, "category", 20)?;
    CATEGORIES
        .iter()
        .find(|(en, zh)| raw == *en || raw == *zh)
        .map(|(en, _)| en.to_string())
        .ok_or_else(|| {
            AffairsError::invalid(
                "invalid_field",
                "category",
                "category must be one of notice (通知), policy (政策), event (活动), urgent (紧急)",
            )
        })
}

fn not_found(id: i64) -> AffairsError {
    AffairsError::not_found("unknown_notice", format!("no notice {id}"))
}

impl Affairs {
    /// `POST /api/affairs/notices`. Returns the new notice's id.
    pub async fn create_notice(&self, user: &User, o: Obj) -> Result<i64, AffairsError> {
        let village_id = self.acting_village(user, &o).await?;
        let title = input::text(&o, "title", MAX_TITLE)?;
        let body = input::text(&o, "body", MAX_BODY)?;
        let category = category(&o)?;
        let urgent = input::opt_bool(&o, "urgent")? || category == "urgent";
        let group = input::opt_text(&o, "group", 50)?;
        let now = self.clock.now();
        let expires_at = input::opt_int(&o, "expires_at", now + 60_000, now + MAX_EXPIRY_MS)?;
        let residents: Vec<i64> = self
            .residents(village_id)
            .await?
            .iter()
            .map(|u| u.id)
            .collect();
        // The loudspeaker's recording is made before the transaction: speech
        // takes a moment and needs no database.
        let audio = if urgent && self.speech {
            let text: String = format!("{title}。{body}").chars().take(400).collect();
            tokio::task::spawn_blocking(move || files::speak(&text))
                .await
                .ok()
                .flatten()
        } else {
            None
        };
        let notify = self.notify.clone();
        let by = user.id;
        let id = self
            .tx(move |c| {
                crate::sync::refuse_on_node(c, "posting a notice")?;
                let (group_id, recipients) = match &group {
                    None => (None, residents),
                    Some(g) => {
                        let gid = store::group_id(c, village_id, g)?.ok_or_else(|| {
                            AffairsError::invalid(
                                "unknown_group",
                                "group",
                                format!("no group '{g}' in this village"),
                            )
                        })?;
                        (Some(gid), store::group_members(c, gid)?)
                    }
                };
                let audio = match &audio {
                    Some(wav) => Some(files::put(c, village_id, "audio/wav", wav, now)?),
                    None => None,
                };
                let id = store::insert(
                    c,
                    &NewNotice {
                        village_id,
                        category: &category,
                        title: &title,
                        body: &body,
                        urgent,
                        group_id,
                        expires_at,
                        photos: &[],
                        audio: audio.as_deref(),
                        created_by: by,
                    },
                    now,
                )?;
                store::add_recipients(c, id, &recipients)?;
                notify.enqueue(
                    c,
                    &UserNotice {
                        user_ids: recipients,
                        source: "affairs",
                        title: if urgent {
                            format!("【紧急】{title}")
                        } else {
                            title.clone()
                        },
                        body: body.chars().take(200).collect(),
                        url: format!("/affairs/notices/{id}"),
                        urgent,
                    },
                )?;
                Ok(id)
            })
            .await?;
        self.notify.wake();
        Ok(id)
    }

    /// `GET /api/affairs/notices`: residents see what was sent to them and
    /// has not expired; officials their village's all; the county every
    /// village's (or `village`'s).
    pub async fn notices(
        &self,
        user: &User,
        village: Option<String>,
        limit: i64,
    ) -> Result<Vec<Notice>, AffairsError> {
        if !access::can_use(user) {
            return Err(AffairsError::forbidden("village notices are for residents"));
        }
        let now = self.clock.now();
        let (village_id, for_user, cutoff) = if user.role.is_county_wide() {
            let v = match village {
                Some(name) => Some(self.auth.village_id(name.clone()).await?.ok_or_else(|| {
                    AffairsError::invalid(
                        "unknown_village",
                        "village",
                        format!("no village '{name}'"),
                    )
                })?),
                None => None,
            };
            (v, None, None)
        } else {
            let Some(v) = user.village_id else {
                return Ok(Vec::new());
            };
            if access::manages(user, v) {
                (Some(v), None, None)
            } else {
                (Some(v), Some(user.id), Some(now))
            }
        };
        let caller = user.id;
        self.read(move |c| Ok(store::list(c, caller, village_id, for_user, cutoff, limit)?))
            .await
    }

    /// One notice the caller may see, or 404.
    pub async fn notice(&self, user: &User, id: i64) -> Result<Notice, AffairsError> {
        access::gate(user)?;
        let caller = user.id;
        let n = self
            .read(move |c| Ok(store::get(c, caller, id)?))
            .await?
            .ok_or_else(|| not_found(id))?;
        if !access::sees(user, n.village_id) {
            return Err(not_found(id));
        }
        Ok(n)
    }

    /// `POST /api/affairs/notices/{id}/read`: a receipt for the caller.
    pub async fn read_notice(&self, user: &User, id: i64) -> Result<(), AffairsError> {
        self.notice(user, id).await?;
        let (uid, now) = (user.id, self.clock.now());
        let mine = self
            .tx(move |c| Ok(store::mark_read(c, id, uid, now)?))
            .await?;
        if !mine {
            return Err(AffairsError::conflict(
                "not_a_recipient",
                "id",
                format!("notice {id} was not sent to you"),
            ));
        }
        Ok(())
    }

    /// `GET /api/affairs/notices/{id}/receipts` (officials): who has read it
    /// and who has not, so someone can knock on the doors of the others. At
    /// most `limit` recipients are listed (by user id); `recipients` and
    /// `read_count` count them all.
    pub async fn receipts(&self, user: &User, id: i64, limit: i64) -> Result<Value, AffairsError> {
        let n = self.notice(user, id).await?;
        if !access::manages(user, n.village_id) && !user.role.is_county_wide() {
            return Err(AffairsError::forbidden(
                "only the village's officials see read receipts",
            ));
        }
        self.read(move |c| {
            let rows = store::receipts(c, id, limit)?;
            let (recipients, read_count) = store::receipt_counts(c, id)?;
            let ids: Vec<i64> = rows.iter().map(|r| r.0).collect();
            let names = usernames(c, &ids)?;
            let name = |u: i64| names.get(&u).cloned().unwrap_or_else(|| format!("#{u}"));
            let read: Vec<Value> = rows
                .iter()
                .filter_map(|(u, at)| at.map(|at| json!({"user": name(*u), "read_at": at})))
                .collect();
            let unread: Vec<Value> = rows
                .iter()
                .filter(|(_, at)| at.is_none())
                .map(|(u, _)| json!({"user": name(*u)}))
                .collect();
            Ok(json!({
                "id": id,
                "recipients": recipients,
                "read_count": read_count,
                "truncated": (rows.len() as i64) < recipients,
                "read": read,
                "unread": unread,
            }))
        })
        .await
    }

    /// How many notices sent to `user` are unread (the tab's badge).
    pub async fn unread_count(&self, user: &User) -> Result<i64, AffairsError> {
        let (uid, now) = (user.id, self.clock.now());
        self.read(move |c| Ok(store::unread(c, uid, now)?)).await
    }

    /// Attach a photo (`kind` "image") or the loudspeaker recording ("audio").
    pub async fn attach(
        &self,
        user: &User,
        id: i64,
        kind: &'static str,
        bytes: Vec<u8>,
    ) -> Result<String, AffairsError> {
        let n = self.notice(user, id).await?;
        if !access::manages(user, n.village_id) {
            return Err(AffairsError::forbidden(
                "only the village's officials may change a notice",
            ));
        }
        let ct = files::check(&bytes, kind)?;
        let (v, now) = (n.village_id, self.clock.now());
        self.tx(move |c| {
            crate::sync::refuse_on_node(c, "changing a notice")?;
            let hash = files::put(c, v, ct, &bytes, now)?;
            if kind == "audio" {
                store::set_audio(c, id, &hash)?;
            } else {
                store::add_photo(c, id, &hash)?;
            }
            Ok(hash)
        })
        .await
    }

    /// A stored file the caller's village owns: (content type, bytes).
    pub async fn file(&self, user: &User, hash: String) -> Result<(String, Vec<u8>), AffairsError> {
        access::gate(user)?;
        // Look up the caller's own village's copy; only county-wide roles
        // may read any village's.
        let scope = if user.role.is_county_wide() {
            None
        } else {
            match user.village_id {
                Some(v) => Some(v),
                None => return Err(AffairsError::not_found("unknown_file", "no such file")),
            }
        };
        let f = self.read(move |c| Ok(files::get(c, &hash, scope)?)).await?;
        match f {
            Some((v, ct, bytes)) if access::sees(user, v) => Ok((ct, bytes)),
            _ => Err(AffairsError::not_found("unknown_file", "no such file")),
        }
    }

    /// `POST /api/affairs/groups {"name","members":[usernames]}`: create or
    /// replace a group of the village's residents.
    pub async fn put_group(&self, user: &User, o: Obj) -> Result<Value, AffairsError> {
        let village_id = self.acting_village(user, &o).await?;
        let name = input::text(&o, "name", 50)?;
        let members = match o.get("members") {
            Some(Value::Array(a)) if a.len() <= 5000 => a.clone(),
            _ => {
                return Err(AffairsError::invalid(
                    "invalid_field",
                    "members",
                    "members must be a list of at most 5000 usernames",
                ));
            }
        };
        let residents = self.residents(village_id).await?;
        let mut ids = Vec::new();
        for m in &members {
            let u = m
                .as_str()
                .and_then(|m| residents.iter().find(|r| r.username == m))
                .ok_or_else(|| {
                    AffairsError::invalid(
                        "unknown_member",
                        "members",
                        format!("{m} is not a resident of this village"),
                    )
                })?;
            ids.push(u.id);
        }
        let n = ids.len();
        let id = self
            .tx(move |c| {
                crate::sync::refuse_on_node(c, "changing a group")?;
                Ok(store::put_group(c, village_id, &name, &ids)?)
            })
            .await?;
        Ok(json!({"id": id, "members": n}))
    }

    pub async fn groups(&self, user: &User) -> Result<Vec<Value>, AffairsError> {
        access::gate(user)?;
        let Some(v) = user.village_id.filter(|v| access::sees(user, *v)) else {
            return Ok(Vec::new());
        };
        self.read(move |c| {
            Ok(store::groups(c, v)?
                .into_iter()
                .map(|(name, members)| json!({"name": name, "members": members}))
                .collect())
        })
        .await
    }
}
