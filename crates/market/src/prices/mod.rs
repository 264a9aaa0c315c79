//! The price board: today's price of each commodity at each market, reported by
//! station operators and derived from orders; 7/30-day trends; search by Chinese
//! name, full pinyin or initials.
//!
//! Layout (chosen so a county's year — 2,000 commodities × 500 markets × 365
//! days — is cheap to hold and to search):
//! * names and their pinyin keys in memory ([`names`]): a search scans 2,000
//!   short strings, microseconds;
//! * today's quotes in memory and in `market_prices_today` (one row per
//!   commodity × market), so a search answers from memory;
//! * history packed per commodity, market and 365-day period ([`history`]),
//!   read only by trend queries.

pub mod history;
pub mod names;
pub mod synthetic;

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use cunlink_core::sql::Connection;
use serde::Serialize;
use serde_json::{Value, json};

use cunlink_core::time::now_ms;

use crate::error::MarketError;
use crate::store;

/// Days since 1970-01-01 in China time (UTC+8), the day a price belongs to.
pub fn day_of(ms: i64) -> i64 {
    cunlink_core::time::china_day(ms)
}

pub fn today() -> i64 {
    day_of(now_ms())
}

/// `YYYY-MM-DD` of a day number (proleptic Gregorian).
pub fn date_string(day: i64) -> String {
    let (y, m, d) = cunlink_core::time::civil_from_days(day);
    format!("{y:04}-{m:02}-{d:02}")
}

/// A price seen in an order, offered to the board after the order committed.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Observation {
    pub commodity: String,
    pub unit: String,
    pub price_fen: i64,
    pub village_id: i64,
}

#[derive(Debug, Clone, Copy)]
struct Quote {
    market: u32,
    price_fen: i64,
    unit: u32,
    day: i64,
}

struct Commodity {
    id: i64,
    name: Arc<str>,
    keys: Vec<(String, String)>,
}

#[derive(Default)]
struct Board {
    commodities: Vec<Commodity>,
    by_id: HashMap<i64, usize>,
    markets: HashMap<u32, Arc<str>>,
    units: Vec<Arc<str>>,
    unit_ids: HashMap<Arc<str>, u32>,
    today: HashMap<i64, Vec<Quote>>,
}

impl Board {
    fn unit_id(&mut self, unit: &str) -> u32 {
        if let Some(&u) = self.unit_ids.get(unit) {
            return u;
        }
        let a: Arc<str> = Arc::from(unit);
        self.units.push(a.clone());
        let id = (self.units.len() - 1) as u32;
        self.unit_ids.insert(a, id);
        id
    }
    fn add_commodity(&mut self, id: i64, name: &str) {
        if self.by_id.contains_key(&id) {
            return;
        }
        self.by_id.insert(id, self.commodities.len());
        self.commodities.push(Commodity {
            id,
            name: Arc::from(name),
            keys: names::keys(name),
        });
    }
    fn set_quote(&mut self, commodity: i64, market: u32, price_fen: i64, unit: &str, day: i64) {
        let unit = self.unit_id(unit);
        let list = self.today.entry(commodity).or_default();
        match list.iter_mut().find(|q| q.market == market) {
            Some(q) if q.day <= day => {
                *q = Quote {
                    market,
                    price_fen,
                    unit,
                    day,
                }
            }
            Some(_) => {}
            None => list.push(Quote {
                market,
                price_fen,
                unit,
                day,
            }),
        }
    }
}

#[derive(Serialize)]
pub struct PriceRow {
    pub commodity: Arc<str>,
    pub market: Arc<str>,
    pub price_fen: i64,
    pub unit: Arc<str>,
    pub date: String,
}

pub struct PriceBoard {
    board: RwLock<Board>,
}

impl PriceBoard {
    /// Load names and today's quotes into memory.
    pub fn load(conn: &Connection) -> Result<PriceBoard, MarketError> {
        let mut b = Board::default();
        for (id, name) in store::prices::commodities(conn)? {
            b.add_commodity(id, &name);
        }
        for (id, name) in store::prices::markets(conn)? {
            b.markets.insert(id as u32, Arc::from(name.as_str()));
        }
        for (commodity, market, day, price, unit) in store::prices::today(conn)? {
            b.set_quote(commodity, market as u32, price, &unit, day);
        }
        Ok(PriceBoard {
            board: RwLock::new(b),
        })
    }

    /// Reload from the database (after a bulk import).
    pub fn reload(&self, conn: &Connection) -> Result<(), MarketError> {
        let fresh = PriceBoard::load(conn)?;
        let b = fresh.board.into_inner().unwrap_or_else(|p| p.into_inner());
        *self.write() = b;
        Ok(())
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Board> {
        self.board.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Board> {
        self.board.write().unwrap_or_else(|p| p.into_inner())
    }

    /// Today's quotes of commodities matching `q` (Chinese name substring, or a
    /// prefix of a full-pinyin or initials spelling), best matches first.
    pub fn search(&self, q: &str, market: Option<&str>, limit: usize) -> Vec<PriceRow> {
        let q = names::normalize(q);
        let b = self.read();
        let ascii = q.is_ascii();
        let mut hits: Vec<(u8, usize, usize)> = Vec::new();
        for (i, c) in b.commodities.iter().enumerate() {
            let rank = if q.is_empty() {
                Some(2)
            } else if !ascii {
                if *c.name == *q {
                    Some(0)
                } else if c.name.contains(q.as_str()) {
                    Some(1)
                } else {
                    None
                }
            } else if c.keys.iter().any(|(f, ini)| *f == q || *ini == q) {
                Some(0)
            } else if c
                .keys
                .iter()
                .any(|(f, ini)| f.starts_with(q.as_str()) || ini.starts_with(q.as_str()))
            {
                Some(1)
            } else {
                None
            };
            if let Some(r) = rank {
                hits.push((r, c.name.chars().count(), i));
            }
        }
        hits.sort_unstable();
        let mut out = Vec::new();
        for (_, _, i) in hits {
            let c = &b.commodities[i];
            let Some(quotes) = b.today.get(&c.id) else {
                continue;
            };
            // Quotes are kept in the order markets first reported; no per-query sort.
            let rows = quotes.iter().filter(|qt| {
                market.is_none_or(|m| b.markets.get(&qt.market).is_some_and(|n| **n == *m))
            });
            for qt in rows {
                if out.len() >= limit {
                    return out;
                }
                out.push(PriceRow {
                    commodity: c.name.clone(),
                    market: b
                        .markets
                        .get(&qt.market)
                        .cloned()
                        .unwrap_or_else(|| Arc::from("")),
                    price_fen: qt.price_fen,
                    unit: b
                        .units
                        .get(qt.unit as usize)
                        .cloned()
                        .unwrap_or_else(|| Arc::from("")),
                    date: date_string(qt.day),
                });
            }
        }
        out
    }

    /// Up to `n` of today's quotes, one per commodity (its first market to
    /// report today), in the board's commodity order: what a display board shows.
    pub fn today_latest(&self, n: usize) -> Vec<PriceRow> {
        let b = self.read();
        let day = today();
        let mut out = Vec::new();
        for c in &b.commodities {
            if out.len() >= n {
                break;
            }
            let Some(q) = b
                .today
                .get(&c.id)
                .and_then(|qs| qs.iter().find(|q| q.day == day))
            else {
                continue;
            };
            out.push(PriceRow {
                commodity: c.name.clone(),
                market: b
                    .markets
                    .get(&q.market)
                    .cloned()
                    .unwrap_or_else(|| Arc::from("")),
                price_fen: q.price_fen,
                unit: b
                    .units
                    .get(q.unit as usize)
                    .cloned()
                    .unwrap_or_else(|| Arc::from("")),
                date: date_string(q.day),
            });
        }
        out
    }

    /// [`PriceBoard::search`] as the JSON answer body.
    pub fn search_json(&self, q: &str, market: Option<&str>, limit: usize) -> bytes::Bytes {
        let rows = self.search(q, market, limit);
        bytes::Bytes::from(serde_json::to_vec(&rows).unwrap_or_else(|_| b"[]".to_vec()))
    }

    /// Apply a committed report to memory.
    fn applied(
        &self,
        commodity: i64,
        name: &str,
        market: i64,
        market_name: &str,
        price: i64,
        unit: &str,
        day: i64,
    ) {
        let mut b = self.write();
        b.add_commodity(commodity, name);
        b.markets
            .entry(market as u32)
            .or_insert_with(|| Arc::from(market_name));
        b.set_quote(commodity, market as u32, price, unit, day);
    }

    /// Whether the board already shows this price today (so an order at the
    /// usual price need not write anything).
    pub fn shows(&self, commodity: &str, market: &str, price: i64) -> bool {
        let b = self.read();
        let today = today();
        b.commodities
            .iter()
            .find(|c| *c.name == *commodity)
            .is_some_and(|c| {
                b.today.get(&c.id).is_some_and(|qs| {
                    qs.iter().any(|q| {
                        q.day == today
                            && q.price_fen == price
                            && b.markets.get(&q.market).is_some_and(|m| **m == *market)
                    })
                })
            })
    }

    pub fn commodity_count(&self) -> usize {
        self.read().commodities.len()
    }
}

/// A price to record.
pub struct Report<'a> {
    pub commodity: &'a str,
    pub market: &'a str,
    pub price_fen: i64,
    pub unit: &'a str,
    pub day: i64,
    pub source: &'a str,
    pub reporter: Option<i64>,
}

/// Record a price: report row, today's quote (if not older) and history.
/// Returns what [`PriceBoard`] must learn once the transaction commits.
pub fn record(conn: &Connection, r: &Report<'_>) -> Result<Applied, MarketError> {
    let c = store::prices::ensure_commodity(conn, r.commodity, r.unit)?;
    let m = store::prices::ensure_market(conn, r.market)?;
    store::prices::insert_report(
        conn,
        &store::prices::ReportRow {
            commodity: c,
            market: m,
            day: r.day,
            price_fen: r.price_fen,
            unit: r.unit,
            source: r.source,
            reporter: r.reporter,
        },
    )?;
    store::prices::set_today_unless_newer(conn, c, m, r.day, r.price_fen, r.unit)?;
    let period = r.day.div_euclid(history::PERIOD_DAYS);
    let offset = r.day.rem_euclid(history::PERIOD_DAYS) as u16;
    // Read-modify-write of the period's blob: callers run this in a write
    // transaction, which on PostgreSQL holds the deployment-wide write lock
    // (core::sql), so two nodes recording the same period do not lose a day.
    let old = store::prices::history(conn, c, m, period)?;
    let data = history::set(old.as_deref().unwrap_or(&[]), offset, r.price_fen);
    store::prices::put_history(conn, c, m, period, &data)?;
    Ok(Applied {
        commodity: c,
        name: r.commodity.to_string(),
        market: m,
        market_name: r.market.to_string(),
        price: r.price_fen,
        unit: r.unit.to_string(),
        day: r.day,
    })
}

pub struct Applied {
    commodity: i64,
    name: String,
    market: i64,
    market_name: String,
    price: i64,
    unit: String,
    day: i64,
}

impl Applied {
    pub fn to_board(&self, board: &PriceBoard) {
        board.applied(
            self.commodity,
            &self.name,
            self.market,
            &self.market_name,
            self.price,
            &self.unit,
            self.day,
        );
    }
    pub fn json(&self) -> Value {
        json!({"commodity": self.name, "market": self.market_name, "price_fen": self.price, "unit": self.unit, "date": date_string(self.day)})
    }
}

/// Daily prices of `commodity` over the last `days` days: per day the average
/// over the markets (or the one `market`), with the change over the span.
pub fn trend(
    conn: &Connection,
    commodity: &str,
    market: Option<&str>,
    days: i64,
) -> Result<Value, MarketError> {
    let Some((c, unit)) = store::prices::commodity(conn, commodity)? else {
        return Err(MarketError::not_found(
            "unknown_commodity",
            format!("no prices recorded for '{commodity}'"),
        ));
    };
    let m: Option<i64> = match market {
        Some(name) => Some(store::prices::market(conn, name)?.ok_or_else(|| {
            MarketError::not_found("unknown_market", format!("no market named '{name}'"))
        })?),
        None => None,
    };
    let last = today();
    let first = last - days + 1;
    let mut sums: HashMap<i64, (i64, i64)> = HashMap::new();
    let rows = store::prices::history_range(
        conn,
        c,
        m,
        first.div_euclid(history::PERIOD_DAYS),
        last.div_euclid(history::PERIOD_DAYS),
    )?;
    for (period, data) in rows {
        for (off, price) in history::decode(&data) {
            let day = period * history::PERIOD_DAYS + off as i64;
            if day >= first && day <= last {
                let e = sums.entry(day).or_default();
                e.0 += price;
                e.1 += 1;
            }
        }
    }
    let mut points: Vec<(i64, i64)> = sums
        .into_iter()
        .map(|(d, (s, n))| (d, (s as f64 / n as f64).round() as i64))
        .collect();
    points.sort_unstable();
    let change = match (points.first(), points.last()) {
        (Some(a), Some(b)) if a.1 > 0 => {
            json!({"fen": b.1 - a.1, "percent": ((b.1 - a.1) as f64 * 1000.0 / a.1 as f64).round() / 10.0})
        }
        _ => Value::Null,
    };
    Ok(json!({
        "commodity": commodity, "market": market, "unit": unit, "days": days, "change": change,
        "points": points.iter().map(|(d, p)| json!({"date": date_string(*d), "price_fen": p})).collect::<Vec<_>>(),
    }))
}
