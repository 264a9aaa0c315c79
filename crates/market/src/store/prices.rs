//! The price board's tables: `market_commodities`, `market_markets`,
//! `market_prices_today`, `market_price_history` (run-length, delta-coded
//! blobs, see `prices/history.rs`) and `market_price_reports`.

use cunlink_core::sql::{Connection, OptionalExtension, Statement, params};

use cunlink_core::time::now_ms;

use crate::error::MarketError;

/// A quote of today's board: (commodity, market, day, price_fen, unit).
pub type Quote = (i64, i64, i64, i64, String);

/// Every commodity: (id, name).
pub fn commodities(conn: &Connection) -> Result<Vec<(i64, String)>, MarketError> {
    let mut st = conn.prepare("SELECT id, name FROM market_commodities")?;
    let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Every market: (id, name).
pub fn markets(conn: &Connection) -> Result<Vec<(i64, String)>, MarketError> {
    let mut st = conn.prepare("SELECT id, name FROM market_markets")?;
    let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Every row of today's board.
pub fn today(conn: &Connection) -> Result<Vec<Quote>, MarketError> {
    let mut st = conn
        .prepare("SELECT commodity_id, market_id, day, price_fen, unit FROM market_prices_today")?;
    let rows = st.query_map([], |r| {
        Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// The id of commodity `name`, created with `unit` if new. Insert-or-nothing
/// then read, so two nodes adding the same name at once both get its one id.
pub fn ensure_commodity(conn: &Connection, name: &str, unit: &str) -> Result<i64, MarketError> {
    if let Some((id, _)) = commodity(conn, name)? {
        return Ok(id);
    }
    conn.execute(
        "INSERT INTO market_commodities (name, unit) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        params![name, unit],
    )?;
    commodity(conn, name)?
        .map(|(id, _)| id)
        .ok_or_else(|| MarketError::Storage(format!("commodity {name} vanished")))
}

/// The id of market `name`, created if new (as [`ensure_commodity`]).
pub fn ensure_market(conn: &Connection, name: &str) -> Result<i64, MarketError> {
    if let Some(id) = market(conn, name)? {
        return Ok(id);
    }
    conn.execute(
        "INSERT INTO market_markets (name) VALUES ($1) ON CONFLICT DO NOTHING",
        [name],
    )?;
    market(conn, name)?.ok_or_else(|| MarketError::Storage(format!("market {name} vanished")))
}

/// (id, unit) of commodity `name`.
pub fn commodity(conn: &Connection, name: &str) -> Result<Option<(i64, String)>, MarketError> {
    Ok(conn
        .prepare_cached("SELECT id, unit FROM market_commodities WHERE name = $1")?
        .query_row([name], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?)
}

pub fn market(conn: &Connection, name: &str) -> Result<Option<i64>, MarketError> {
    Ok(conn
        .prepare_cached("SELECT id FROM market_markets WHERE name = $1")?
        .query_row([name], |r| r.get(0))
        .optional()?)
}

/// Who reported what price (a station's report, or an order's price).
pub struct ReportRow<'a> {
    pub commodity: i64,
    pub market: i64,
    pub day: i64,
    pub price_fen: i64,
    pub unit: &'a str,
    pub source: &'a str,
    pub reporter: Option<i64>,
}

pub fn insert_report(conn: &Connection, r: &ReportRow<'_>) -> Result<(), MarketError> {
    conn.execute(
        "INSERT INTO market_price_reports (commodity_id, market_id, day, price_fen, unit, source, reporter_id, at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        params![r.commodity, r.market, r.day, r.price_fen, r.unit, r.source, r.reporter, now_ms()],
    )?;
    Ok(())
}

/// Today's quote of (commodity, market), unless the stored one is of a later day.
pub fn set_today_unless_newer(
    conn: &Connection,
    commodity: i64,
    market: i64,
    day: i64,
    price_fen: i64,
    unit: &str,
) -> Result<(), MarketError> {
    conn.execute(
        "INSERT INTO market_prices_today (commodity_id, market_id, day, price_fen, unit) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (commodity_id, market_id) DO UPDATE SET day = excluded.day, price_fen = excluded.price_fen, unit = excluded.unit
         WHERE excluded.day >= market_prices_today.day",
        params![commodity, market, day, price_fen, unit],
    )?;
    Ok(())
}

/// The history blob of one (commodity, market, period).
pub fn history(
    conn: &Connection,
    commodity: i64,
    market: i64,
    period: i64,
) -> Result<Option<Vec<u8>>, MarketError> {
    Ok(conn
        .query_row(
            "SELECT data FROM market_price_history WHERE commodity_id = $1 AND market_id = $2 AND period = $3",
            params![commodity, market, period],
            |row| row.get(0),
        )
        .optional()?)
}

pub fn put_history(
    conn: &Connection,
    commodity: i64,
    market: i64,
    period: i64,
    data: &[u8],
) -> Result<(), MarketError> {
    conn.execute(
        "INSERT INTO market_price_history (commodity_id, market_id, period, data) VALUES ($1, $2, $3, $4)
         ON CONFLICT (commodity_id, market_id, period) DO UPDATE SET data = excluded.data",
        params![commodity, market, period, data],
    )?;
    Ok(())
}

/// (period, blob) of a commodity's history in periods `from..=to`, of one
/// market or all.
pub fn history_range(
    conn: &Connection,
    commodity: i64,
    market: Option<i64>,
    from: i64,
    to: i64,
) -> Result<Vec<(i64, Vec<u8>)>, MarketError> {
    let mut st = conn.prepare_cached(
        "SELECT period, data FROM market_price_history WHERE commodity_id = $1 AND (CAST($2 AS BIGINT) IS NULL OR market_id = $2) AND period BETWEEN $3 AND $4",
    )?;
    let rows = st.query_map(params![commodity, market, from, to], |r| {
        Ok((r.get(0)?, r.get(1)?))
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Bulk writes of generated series (demo and `cunlink prices generate`): two
/// statements prepared once for the whole import.
pub struct Bulk<'c> {
    today: Statement<'c>,
    history: Statement<'c>,
}

impl<'c> Bulk<'c> {
    pub fn new(conn: &'c Connection) -> Result<Bulk<'c>, MarketError> {
        Ok(Bulk {
            today: conn.prepare(
                "INSERT INTO market_prices_today (commodity_id, market_id, day, price_fen, unit) VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (commodity_id, market_id) DO UPDATE SET day = excluded.day, price_fen = excluded.price_fen, unit = excluded.unit",
            )?,
            history: conn.prepare("INSERT INTO market_price_history (commodity_id, market_id, period, data) VALUES ($1, $2, $3, $4)
         ON CONFLICT (commodity_id, market_id, period) DO UPDATE SET data = excluded.data")?,
        })
    }

    pub fn today(
        &mut self,
        commodity: i64,
        market: i64,
        day: i64,
        price_fen: i64,
        unit: &str,
    ) -> Result<(), MarketError> {
        self.today
            .execute(params![commodity, market, day, price_fen, unit])?;
        Ok(())
    }

    pub fn history(
        &mut self,
        commodity: i64,
        market: i64,
        period: i64,
        data: &[u8],
    ) -> Result<(), MarketError> {
        self.history
            .execute(params![commodity, market, period, data])?;
        Ok(())
    }
}
