//! The open village accounts (村务公开): a monthly ledger of the collective's
//! income and spending, in fen.
//!
//! * An entry needs two distinct officials' approvals; a month is published
//!   only when every entry in it has them.
//! * A published month never changes: adding to it, approving in it or
//!   deleting from it answers 409. A mistake is corrected by a new entry (in
//!   an open month) that names the old one with `corrects`; both are shown.
//! * Amounts are positive whole fen up to [`MAX_AMOUNT_FEN`]; totals are
//!   summed with checked arithmetic.
//! * Residents see published months and may ask a question on any entry;
//!   answers are public.

use std::collections::BTreeMap;

use cunlink_core::auth::User;
use serde::Serialize;
use serde_json::{Value, json};

use crate::input::{self, Obj};
use crate::store::ledger::{self as store, Entry, NewEntry, Question};
use crate::{Affairs, AffairsError, access, files};

/// One hundred million yuan: more than any village's single entry.
pub const MAX_AMOUNT_FEN: i64 = 10_000_000_000;
/// Entries one month may hold.
pub const MAX_PER_MONTH: i64 = 2000;
/// Approvals an entry needs, from distinct officials.
pub const APPROVALS: i64 = 2;
pub const KINDS: [&str; 2] = ["income", "spending"];

#[derive(Debug, Serialize)]
pub struct EntryView {
    #[serde(flatten)]
    pub entry: Entry,
    pub approved: bool,
    pub corrected_by: Vec<i64>,
    pub questions: Vec<Question>,
}

#[derive(Debug, Default, Serialize, Clone)]
pub struct CategoryTotal {
    pub category: String,
    pub income_fen: i64,
    pub spending_fen: i64,
}

#[derive(Debug, Default, Serialize)]
pub struct Totals {
    pub income_fen: i64,
    pub spending_fen: i64,
    pub balance_fen: i64,
    pub by_category: Vec<CategoryTotal>,
}

#[derive(Debug, Serialize)]
pub struct Month {
    pub month: String,
    pub published: bool,
    pub published_at: Option<i64>,
    pub entries: Vec<EntryView>,
    pub totals: Totals,
}

fn overflow() -> AffairsError {
    AffairsError::conflict(
        "total_overflow",
        "amount_fen",
        "the month's totals would overflow",
    )
}

/// Totals per category and overall, with checked sums.
pub fn totals(entries: &[Entry]) -> Result<Totals, AffairsError> {
    let mut by: BTreeMap<&str, CategoryTotal> = BTreeMap::new();
    let mut t = Totals::default();
    for e in entries {
        let c = by.entry(&e.category).or_insert_with(|| CategoryTotal {
            category: e.category.clone(),
            ..Default::default()
        });
        if e.kind == "income" {
            c.income_fen = c
                .income_fen
                .checked_add(e.amount_fen)
                .ok_or_else(overflow)?;
            t.income_fen = t
                .income_fen
                .checked_add(e.amount_fen)
                .ok_or_else(overflow)?;
        } else {
            c.spending_fen = c
                .spending_fen
                .checked_add(e.amount_fen)
                .ok_or_else(overflow)?;
            t.spending_fen = t
                .spending_fen
                .checked_add(e.amount_fen)
                .ok_or_else(overflow)?;
        }
    }
    t.balance_fen = t
        .income_fen
        .checked_sub(t.spending_fen)
        .ok_or_else(overflow)?;
    t.by_category = by.into_values().collect();
    Ok(t)
}

fn not_found(id: i64) -> AffairsError {
    AffairsError::not_found("unknown_entry", format!("no ledger entry {id}"))
}

fn published_conflict(month: &str, field: &str) -> AffairsError {
    AffairsError::conflict(
        "month_published",
        field,
        format!("{month} is published and cannot change; add a correction in an open month"),
    )
}

impl Affairs {
    /// `POST /api/affairs/ledger`: a new (unapproved) entry.
    pub async fn add_entry(&self, user: &User, o: Obj) -> Result<Value, AffairsError> {
        let village_id = self.acting_village(user, &o).await?;
        let (y, m, d) = input::date(&o, "date")?;
        let date = format!("{y:04}-{m:02}-{d:02}");
        let month = format!("{y:04}-{m:02}");
        let item = input::text(&o, "item", 200)?;
        let kind = input::choice(&o, "kind", &KINDS)?;
        let amount_fen = input::int(&o, "amount_fen", 1, MAX_AMOUNT_FEN)?;
        let category = input::text(&o, "category", 30)?;
        let corrects = input::opt_int(&o, "corrects", 1, i64::MAX)?;
        let (by, now) = (user.id, self.clock.now());
        self.tx(move |c| {
            if store::published(c, village_id, &month)?.is_some() {
                return Err(published_conflict(&month, "date"));
            }
            if store::count_in_month(c, village_id, &month)? >= MAX_PER_MONTH {
                return Err(AffairsError::conflict(
                    "month_full",
                    "date",
                    format!("{month} already has {MAX_PER_MONTH} entries"),
                ));
            }
            if let Some(old) = corrects {
                let e = store::get(c, old)?.filter(|e| e.village_id == village_id);
                if e.is_none() {
                    return Err(AffairsError::invalid(
                        "unknown_entry",
                        "corrects",
                        format!("no ledger entry {old} in this village to correct"),
                    ));
                }
            }
            let id = store::insert(
                c,
                &NewEntry {
                    village_id,
                    month: &month,
                    date: &date,
                    item: &item,
                    kind: &kind,
                    amount_fen,
                    category: &category,
                    corrects,
                    created_by: by,
                },
                now,
            )?;
            Ok(json!({"id": id, "month": month, "approvals": 0, "approved": false}))
        })
        .await
    }

    /// An entry of a village the caller manages, or 404/403.
    async fn managed_entry(&self, user: &User, id: i64) -> Result<Entry, AffairsError> {
        access::gate(user)?;
        let e = self
            .read(move |c| Ok(store::get(c, id)?))
            .await?
            .ok_or_else(|| not_found(id))?;
        if !access::sees(user, e.village_id) {
            return Err(not_found(id));
        }
        if !access::manages(user, e.village_id) {
            return Err(AffairsError::forbidden(
                "only the village's officials keep the ledger",
            ));
        }
        Ok(e)
    }

    /// `POST /api/affairs/ledger/{id}/approve`: one official's approval; the
    /// same official twice is 409.
    pub async fn approve_entry(&self, user: &User, id: i64) -> Result<Value, AffairsError> {
        let e = self.managed_entry(user, id).await?;
        let (by, now) = (user.id, self.clock.now());
        self.tx(move |c| {
            if store::published(c, e.village_id, &e.month)?.is_some() {
                return Err(published_conflict(&e.month, "id"));
            }
            if !store::approve(c, id, by, now)? {
                return Err(AffairsError::conflict(
                    "already_approved",
                    "id",
                    "you already approved this entry; a second official must approve it",
                ));
            }
            let n = store::get(c, id)?.map_or(0, |e| e.approvals);
            Ok(json!({"id": id, "approvals": n, "approved": n >= APPROVALS}))
        })
        .await
    }

    /// `DELETE /api/affairs/ledger/{id}`: only while its month is open.
    pub async fn delete_entry(&self, user: &User, id: i64) -> Result<(), AffairsError> {
        let e = self.managed_entry(user, id).await?;
        self.tx(move |c| {
            if store::published(c, e.village_id, &e.month)?.is_some() {
                return Err(published_conflict(&e.month, "id"));
            }
            if !store::corrected_by(c, id)?.is_empty() {
                return Err(AffairsError::conflict(
                    "entry_corrected",
                    "id",
                    "a correction refers to this entry",
                ));
            }
            store::delete(c, id)?;
            Ok(())
        })
        .await
    }

    /// `POST /api/affairs/ledger/{id}/voucher`: the voucher's photo.
    pub async fn set_voucher(
        &self,
        user: &User,
        id: i64,
        bytes: Vec<u8>,
    ) -> Result<String, AffairsError> {
        let e = self.managed_entry(user, id).await?;
        let ct = files::check(&bytes, "image")?;
        let now = self.clock.now();
        self.tx(move |c| {
            if store::published(c, e.village_id, &e.month)?.is_some() {
                return Err(published_conflict(&e.month, "id"));
            }
            let hash = files::put(c, e.village_id, ct, &bytes, now)?;
            store::set_voucher(c, id, &hash)?;
            Ok(hash)
        })
        .await
    }

    /// `POST /api/affairs/ledger/months/{month}/publish`.
    pub async fn publish_month(
        &self,
        user: &User,
        month: String,
        o: Obj,
    ) -> Result<Value, AffairsError> {
        let village_id = self.acting_village(user, &o).await?;
        let month = input::month_str(&month).ok_or_else(|| {
            AffairsError::invalid("invalid_month", "month", "month must look like 2026-11")
        })?;
        let (by, now) = (user.id, self.clock.now());
        self.tx(move |c| {
            if store::published(c, village_id, &month)?.is_some() {
                return Err(published_conflict(&month, "month"));
            }
            let entries = store::month(c, village_id, &month)?;
            if entries.is_empty() {
                return Err(AffairsError::conflict(
                    "empty_month",
                    "month",
                    format!("{month} has no entries to publish"),
                ));
            }
            let waiting: Vec<i64> = entries
                .iter()
                .filter(|e| e.approvals < APPROVALS)
                .map(|e| e.id)
                .collect();
            if !waiting.is_empty() {
                return Err(AffairsError::conflict(
                    "unapproved_entries",
                    "month",
                    format!("entries {waiting:?} still need two officials' approval"),
                ));
            }
            let totals = totals(&entries)?;
            store::publish(c, village_id, &month, by, now)?;
            Ok(json!({"month": month, "published": true, "totals": totals}))
        })
        .await
    }

    /// The village whose ledger `user` reads: their own; the county names one.
    pub(crate) async fn reading_village_pub(
        &self,
        user: &User,
        village: Option<String>,
    ) -> Result<i64, AffairsError> {
        if !access::can_use(user) {
            return Err(AffairsError::forbidden(
                "the village accounts are for residents",
            ));
        }
        if let Some(v) = user.village_id.filter(|_| !user.role.is_county_wide()) {
            return Ok(v);
        }
        let Some(name) = village else {
            return Err(AffairsError::invalid(
                "missing_field",
                "village",
                "name the village with ?village=",
            ));
        };
        self.auth.village_id(name.clone()).await?.ok_or_else(|| {
            AffairsError::invalid("unknown_village", "village", format!("no village '{name}'"))
        })
    }

    /// `GET /api/affairs/ledger?month=`: a month's entries with their
    /// corrections, questions and totals. Residents see published months only.
    pub async fn ledger_month(
        &self,
        user: &User,
        village: Option<String>,
        month: Option<String>,
    ) -> Result<Month, AffairsError> {
        let village_id = self.reading_village_pub(user, village).await?;
        let officer = access::manages(user, village_id) || user.role.is_county_wide();
        let month = match month {
            Some(m) => input::month_str(&m).ok_or_else(|| {
                AffairsError::invalid("invalid_month", "month", "month must look like 2026-11")
            })?,
            None => {
                let months = self
                    .read(move |c| Ok(store::months(c, village_id)?))
                    .await?;
                match months.iter().find(|(_, p)| *p || officer) {
                    Some((m, _)) => m.clone(),
                    None => input::china_month(self.clock.now()),
                }
            }
        };
        self.read(move |c| {
            let published_at = store::published(c, village_id, &month)?;
            let raw = if published_at.is_some() || officer {
                store::month(c, village_id, &month)?
            } else {
                Vec::new()
            };
            let totals = totals(&raw)?;
            let mut entries = Vec::with_capacity(raw.len());
            for e in raw {
                entries.push(EntryView {
                    approved: e.approvals >= APPROVALS,
                    corrected_by: store::corrected_by(c, e.id)?,
                    questions: store::questions(c, e.id)?,
                    entry: e,
                });
            }
            Ok(Month {
                month,
                published: published_at.is_some(),
                published_at,
                entries,
                totals,
            })
        })
        .await
    }

    /// `GET /api/affairs/ledger/months`: months with entries, newest first.
    pub async fn ledger_months(
        &self,
        user: &User,
        village: Option<String>,
    ) -> Result<Vec<Value>, AffairsError> {
        let village_id = self.reading_village_pub(user, village).await?;
        let officer = access::manages(user, village_id) || user.role.is_county_wide();
        self.read(move |c| {
            Ok(store::months(c, village_id)?
                .into_iter()
                .filter(|(_, p)| *p || officer)
                .map(|(m, p)| json!({"month": m, "published": p}))
                .collect())
        })
        .await
    }

    /// `POST /api/affairs/ledger/{id}/questions {"text"}`: a resident asks
    /// about a published entry.
    pub async fn ask(&self, user: &User, id: i64, o: Obj) -> Result<i64, AffairsError> {
        access::gate(user)?;
        let text = input::text(&o, "text", 500)?;
        let e = self
            .read(move |c| {
                let e = store::get(c, id)?;
                Ok(match e {
                    Some(e) => {
                        let p = store::published(c, e.village_id, &e.month)?.is_some();
                        Some((e, p))
                    }
                    None => None,
                })
            })
            .await?;
        let Some((e, published)) = e else {
            return Err(not_found(id));
        };
        let officer = access::manages(user, e.village_id);
        if !access::sees(user, e.village_id) || !(published || officer) {
            return Err(not_found(id));
        }
        if !access::resident_of(user, e.village_id) {
            return Err(AffairsError::forbidden(
                "only the village's residents ask about its accounts",
            ));
        }
        let (by, now) = (user.id, self.clock.now());
        self.tx(move |c| Ok(store::ask(c, id, by, &text, now)?))
            .await
    }

    /// `POST /api/affairs/ledger/questions/{id}/answer {"answer"}`: public.
    pub async fn answer(&self, user: &User, id: i64, o: Obj) -> Result<(), AffairsError> {
        access::gate(user)?;
        let text = input::text(&o, "answer", 1000)?;
        let q = self.read(move |c| Ok(store::question(c, id)?)).await?;
        let Some((_, village_id)) = q.filter(|(_, v)| access::sees(user, *v)) else {
            return Err(AffairsError::not_found(
                "unknown_question",
                format!("no question {id}"),
            ));
        };
        if !access::manages(user, village_id) {
            return Err(AffairsError::forbidden(
                "only the village's officials answer questions",
            ));
        }
        let (by, now) = (user.id, self.clock.now());
        self.tx(move |c| Ok(store::answer(c, id, by, &text, now)?))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(kind: &str, cat: &str, amount: i64) -> Entry {
        Entry {
            id: 1,
            village_id: 1,
            month: "2026-11".into(),
            date: "2026-11-01".into(),
            item: "x".into(),
            kind: kind.into(),
            amount_fen: amount,
            category: cat.into(),
            voucher: None,
            corrects: None,
            created_at: 0,
            approvals: 2,
        }
    }

    #[test]
    fn totals_per_category_and_overall() {
        let t = totals(&[
            entry("income", "租金", 100_00),
            entry("spending", "道路", 30_00),
            entry("spending", "道路", 20_00),
        ])
        .unwrap();
        assert_eq!(
            (t.income_fen, t.spending_fen, t.balance_fen),
            (10000, 5000, 5000)
        );
        assert_eq!(t.by_category.len(), 2);
    }

    #[test]
    fn overflowing_totals_are_refused_not_wrapped() {
        let e = totals(&[entry("income", "a", i64::MAX), entry("income", "a", 1)]);
        assert!(matches!(
            e,
            Err(AffairsError::Conflict {
                code: "total_overflow",
                ..
            })
        ));
    }
}
