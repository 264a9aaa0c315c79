//! The PostgreSQL side of [`super::Connection`]: a tokio-postgres client driven
//! synchronously.
//!
//! Domain code runs its SQL in closures on the blocking pool (see [`crate::Db`]),
//! the shape SQLite needs; PostgreSQL gets the same shape so that one closure
//! serves both. Each client's socket is driven by a task on a small runtime of
//! its own ([`io_runtime`]); a query future only talks to that task through
//! channels, so the calling thread can wait on it by parking — even a thread of
//! another tokio runtime, where `Runtime::block_on` would refuse.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll, Wake, Waker};

use tokio_postgres::types::{IsNull, Type, to_sql_checked};
use tokio_postgres::{Client, Statement};

use super::{Error, ValueRef};

/// Run `fut` to completion on this thread, parking between polls.
pub fn block_on<F: Future>(fut: F) -> F::Output {
    struct Unpark(std::thread::Thread);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut fut = std::pin::pin!(fut);
    loop {
        if let Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
            return v;
        }
        std::thread::park();
    }
}

/// The runtime that drives every PostgreSQL socket of this process.
pub fn io_runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("cunlink-pg-io")
            .enable_all()
            .build()
            .expect("the PostgreSQL I/O runtime starts")
    })
}

/// Open one client; its connection task runs on [`io_runtime`].
pub fn connect(url: &str) -> Result<Client, Error> {
    let url = url.to_string();
    let handle = io_runtime().spawn(async move {
        let (client, conn) = tokio::time::timeout(
            std::time::Duration::from_secs(5),
            tokio_postgres::connect(&url, tokio_postgres::NoTls),
        )
        .await
        .map_err(|_| Error::Unavailable("connecting to PostgreSQL timed out".into()))??;
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::warn!(error = %e, "PostgreSQL connection closed");
            }
        });
        Ok::<_, Error>(client)
    });
    block_on(handle).map_err(|_| Error::Unavailable("connect task failed".into()))?
}

/// One client with its prepared statements.
pub struct PgConn {
    pub client: Client,
    stmts: HashMap<String, Statement>,
    pub changes: u64,
}

/// Statements kept per connection; past this the cache starts over (dynamic SQL
/// such as `IN (…)` lists of many lengths must not grow it without bound).
const STATEMENT_CACHE: usize = 512;

impl PgConn {
    pub fn new(client: Client) -> PgConn {
        PgConn {
            client,
            stmts: HashMap::new(),
            changes: 0,
        }
    }

    pub fn statement(&mut self, sql: &str) -> Result<Statement, Error> {
        if let Some(s) = self.stmts.get(sql) {
            return Ok(s.clone());
        }
        let pg_sql = super::translate::to_postgres(sql);
        let s = block_on(self.client.prepare(&pg_sql)).map_err(|e| Error::pg_in(e, &pg_sql))?;
        if self.stmts.len() >= STATEMENT_CACHE {
            self.stmts.clear();
        }
        self.stmts.insert(sql.to_string(), s.clone());
        Ok(s)
    }

    pub fn query(
        &mut self,
        sql: &str,
        params: &[ValueRef<'_>],
    ) -> Result<Vec<tokio_postgres::Row>, Error> {
        let stmt = self.statement(sql)?;
        let refs: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> = params
            .iter()
            .map(|p| p as &(dyn tokio_postgres::types::ToSql + Sync))
            .collect();
        block_on(self.client.query(&stmt, &refs)).map_err(|e| Error::pg_in(e, sql))
    }

    pub fn execute(&mut self, sql: &str, params: &[ValueRef<'_>]) -> Result<u64, Error> {
        let stmt = self.statement(sql)?;
        let refs: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> = params
            .iter()
            .map(|p| p as &(dyn tokio_postgres::types::ToSql + Sync))
            .collect();
        let n = block_on(self.client.execute(&stmt, &refs)).map_err(|e| Error::pg_in(e, sql))?;
        self.changes = n;
        Ok(n)
    }

    pub fn batch(&mut self, sql: &str) -> Result<(), Error> {
        let pg_sql = super::translate::to_postgres(sql);
        block_on(self.client.batch_execute(&pg_sql)).map_err(|e| Error::pg_in(e, &pg_sql))
    }
}

fn conversion(v: &ValueRef<'_>, ty: &Type) -> Box<dyn std::error::Error + Sync + Send> {
    format!("cannot bind {v:?} to a {ty} parameter").into()
}

impl tokio_postgres::types::ToSql for ValueRef<'_> {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut bytes::BytesMut,
    ) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        use bytes::BufMut;
        let bad = || conversion(self, ty);
        match *self {
            ValueRef::Null => return Ok(IsNull::Yes),
            ValueRef::Integer(i) => match *ty {
                Type::INT8 => out.put_i64(i),
                Type::INT4 => out.put_i32(i32::try_from(i).map_err(|_| bad())?),
                Type::INT2 => out.put_i16(i16::try_from(i).map_err(|_| bad())?),
                Type::BOOL => out.put_u8(u8::from(i != 0)),
                Type::FLOAT8 => out.put_f64(i as f64),
                Type::FLOAT4 => out.put_f32(i as f32),
                Type::OID => out.put_u32(u32::try_from(i).map_err(|_| bad())?),
                Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::UNKNOWN => {
                    out.put_slice(i.to_string().as_bytes())
                }
                _ => return Err(bad()),
            },
            ValueRef::Real(f) => match *ty {
                Type::FLOAT8 => out.put_f64(f),
                Type::FLOAT4 => out.put_f32(f as f32),
                Type::INT8 if f.fract() == 0.0 && f.abs() < 9.0e18 => out.put_i64(f as i64),
                Type::TEXT | Type::VARCHAR | Type::UNKNOWN => out.put_slice(f.to_string().as_bytes()),
                _ => return Err(bad()),
            },
            ValueRef::Text(s) => match *ty {
                Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::UNKNOWN | Type::JSON => {
                    out.put_slice(s.as_bytes())
                }
                Type::JSONB => {
                    out.put_u8(1);
                    out.put_slice(s.as_bytes());
                }
                Type::INT8 => out.put_i64(s.trim().parse().map_err(|_| bad())?),
                Type::INT4 => out.put_i32(s.trim().parse().map_err(|_| bad())?),
                Type::FLOAT8 => out.put_f64(s.trim().parse().map_err(|_| bad())?),
                Type::BYTEA => out.put_slice(s.as_bytes()),
                _ => return Err(bad()),
            },
            ValueRef::Blob(b) => match *ty {
                Type::BYTEA | Type::UNKNOWN => out.put_slice(b),
                _ => return Err(bad()),
            },
        }
        Ok(IsNull::No)
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

/// A column read without knowing its type in advance.
struct Raw<'a> {
    ty: Type,
    bytes: Option<&'a [u8]>,
}

impl<'a> tokio_postgres::types::FromSql<'a> for Raw<'a> {
    fn from_sql(
        ty: &Type,
        raw: &'a [u8],
    ) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Ok(Raw {
            ty: ty.clone(),
            bytes: Some(raw),
        })
    }

    fn from_sql_null(ty: &Type) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Ok(Raw {
            ty: ty.clone(),
            bytes: None,
        })
    }

    fn accepts(_: &Type) -> bool {
        true
    }
}

/// Holds decoded text/integers whose bytes are not in the row as-is.
pub enum Cell<'a> {
    Borrowed(ValueRef<'a>),
    Owned(super::Value),
}

impl Cell<'_> {
    pub fn value(&self) -> ValueRef<'_> {
        match self {
            Cell::Borrowed(v) => *v,
            Cell::Owned(v) => v.as_ref(),
        }
    }
}

fn be<const N: usize>(b: &[u8]) -> Result<[u8; N], String> {
    b.try_into().map_err(|_| format!("expected {N} bytes, found {}", b.len()))
}

/// Column `idx` of `row` in the common value model.
pub fn cell(row: &tokio_postgres::Row, idx: usize) -> Result<Cell<'_>, String> {
    let raw: Raw<'_> = row.try_get(idx).map_err(|e| e.to_string())?;
    let Some(b) = raw.bytes else {
        return Ok(Cell::Borrowed(ValueRef::Null));
    };
    let v = match raw.ty {
        Type::INT8 => ValueRef::Integer(i64::from_be_bytes(be(b)?)),
        Type::INT4 => ValueRef::Integer(i64::from(i32::from_be_bytes(be(b)?))),
        Type::INT2 => ValueRef::Integer(i64::from(i16::from_be_bytes(be(b)?))),
        Type::OID => ValueRef::Integer(i64::from(u32::from_be_bytes(be(b)?))),
        Type::BOOL => ValueRef::Integer(i64::from(b.first().copied().unwrap_or(0) != 0)),
        Type::FLOAT8 => ValueRef::Real(f64::from_be_bytes(be(b)?)),
        Type::FLOAT4 => ValueRef::Real(f64::from(f32::from_be_bytes(be(b)?))),
        Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::JSON | Type::UNKNOWN => {
            ValueRef::Text(std::str::from_utf8(b).map_err(|e| e.to_string())?)
        }
        Type::JSONB => ValueRef::Text(std::str::from_utf8(b.get(1..).unwrap_or(&[])).map_err(|e| e.to_string())?),
        Type::BYTEA => ValueRef::Blob(b),
        Type::NUMERIC => return numeric(b).map(Cell::Owned),
        ref other => return Err(format!("unsupported column type {other}")),
    };
    Ok(Cell::Borrowed(v))
}

/// PostgreSQL's binary NUMERIC (what SUM over BIGINT returns) as an integer when
/// it is whole and fits, else as a float.
fn numeric(b: &[u8]) -> Result<super::Value, String> {
    let word = |i: usize| -> Result<i16, String> {
        Ok(i16::from_be_bytes(be(b.get(i..i + 2).ok_or("short NUMERIC")?)?))
    };
    let ndigits = word(0)? as usize;
    let weight = i32::from(word(2)?);
    let sign = word(4)? as u16;
    if sign == 0xC000 {
        return Ok(super::Value::Real(f64::NAN));
    }
    let mut whole: i128 = 0;
    let mut frac = 0.0f64;
    let mut exact = true;
    for k in 0..ndigits {
        let d = i128::from(word(8 + 2 * k)?);
        let power = weight - k as i32;
        if power >= 0 {
            whole = whole
                .checked_mul(10_000)
                .and_then(|w| w.checked_add(d))
                .ok_or("NUMERIC out of range")?;
        } else {
            exact &= d == 0;
            frac += d as f64 * 10_000f64.powi(power);
        }
    }
    // Digits that stop above the units place leave zeros to fill in.
    let last_power = weight - ndigits as i32 + 1;
    for _ in 0..last_power.max(0) {
        whole = whole.checked_mul(10_000).ok_or("NUMERIC out of range")?;
    }
    let negative = sign == 0x4000;
    if exact {
        if let Ok(i) = i64::try_from(if negative { -whole } else { whole }) {
            return Ok(super::Value::Integer(i));
        }
    }
    let f = whole as f64 + frac;
    Ok(super::Value::Real(if negative { -f } else { f }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(ndigits: i16, weight: i16, sign: u16, digits: &[i16]) -> Vec<u8> {
        let mut v = Vec::new();
        v.extend_from_slice(&ndigits.to_be_bytes());
        v.extend_from_slice(&weight.to_be_bytes());
        v.extend_from_slice(&sign.to_be_bytes());
        v.extend_from_slice(&0i16.to_be_bytes());
        for d in digits {
            v.extend_from_slice(&d.to_be_bytes());
        }
        v
    }

    #[test]
    fn numeric_whole_and_fraction() {
        // 1234567 = 123 4567 (weight 1)
        assert_eq!(numeric(&enc(2, 1, 0, &[123, 4567])).unwrap(), super::super::Value::Integer(1_234_567));
        // 50000 = 5 0000 stored as one digit 5 with weight 1
        assert_eq!(numeric(&enc(1, 1, 0, &[5])).unwrap(), super::super::Value::Integer(50_000));
        assert_eq!(numeric(&enc(1, 0, 0x4000, &[7])).unwrap(), super::super::Value::Integer(-7));
        assert_eq!(numeric(&enc(0, 0, 0, &[])).unwrap(), super::super::Value::Integer(0));
        assert_eq!(numeric(&enc(2, 0, 0, &[1, 5000])).unwrap(), super::super::Value::Real(1.5));
    }
}
