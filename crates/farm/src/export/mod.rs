//! `GET /api/export`: telemetry of one device, an asset's devices or a whole
//! village over a time range, raw or aggregated, as CSV or Parquet, streamed.
//!
//! ```text
//! GET /api/export?device=NAME|asset=NAME|village=NAME&start=MS&end=MS
//!                [&format=csv|parquet][&interval=MS&agg=avg|min|max|sum|count][&keys=a,b]
//! ```
//!
//! Exactly one of `device`, `asset`, `village`; `start` and `end` are required.
//! Only devices the caller may see are exported (a village user: their village;
//! county-wide roles: any). Rows are `device, key, ts, value`, by device name,
//! key name, then time. Parquet columns: `device` (string), `key` (string), `ts`
//! (timestamp ms, UTC), `value` (double; booleans as 0/1, text values left out).
//! CSV has the same columns with `ts` in ms and values as sent (text included).
//!
//! The body is produced on a blocking thread one series at a time and sent
//! through a small bounded channel: memory stays at about one Parquet row group
//! (or 64 KiB of CSV) plus one decoded chunk, however long the export.

pub mod parquet;

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use tokio_stream::wrappers::ReceiverStream;

use crate::FarmError;
use crate::model::Device;
use crate::params::{Bucketing, MAX_KEYS, Params, TimeRange};
use crate::routes::{FarmState, visible_device};
use crate::scope::{can_read_farm, can_see};
use crate::telemetry::{KeyId, TsStore, Value};
use cunlink_core::ApiError;
use cunlink_core::web::CurrentUser;

pub const CSV_FLUSH: usize = 64 << 10;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Format {
    Csv,
    Parquet,
}

pub(crate) async fn export(
    State(s): State<FarmState>,
    CurrentUser(user): CurrentUser,
    params: Params,
) -> Result<Response, ApiError> {
    if !can_read_farm(&user) {
        return Err(ApiError::forbidden("your role cannot read farm data"));
    }
    let format = match params.get("format")? {
        None | Some("csv") => Format::Csv,
        Some("parquet") => Format::Parquet,
        Some(_) => {
            return Err(
                ApiError::bad_request("bad_format", "format is csv or parquet")
                    .with_field("format"),
            );
        }
    };
    for f in ["start", "end"] {
        if params.get(f)?.is_none() {
            return Err(ApiError::bad_request(
                "missing_range",
                format!("'{f}' (ms since 1970) is required"),
            )
            .with_field(f));
        }
    }
    let range = TimeRange::parse(&params, 0, 0)?;
    let bucketing = Bucketing::parse(&params, range)?;
    let keys: Option<Vec<String>> = params.get("keys")?.map(|k| {
        k.split(',')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect()
    });
    if keys.as_ref().is_some_and(|k| k.len() > MAX_KEYS) {
        return Err(
            ApiError::bad_request("too_many_keys", format!("at most {MAX_KEYS} keys"))
                .with_field("keys"),
        );
    }
    let (label, devices) = devices(&s, &user, &params).await?;
    let store = s.0.telemetry.store().clone();
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(4);
    tokio::task::spawn_blocking(move || {
        let send = |b: Vec<u8>| tx.blocking_send(Ok(Bytes::from(b))).is_ok();
        let r = produce(
            &store,
            &devices,
            keys.as_deref(),
            range,
            bucketing,
            format,
            send,
        );
        if let Err(e) = r {
            tracing::warn!(error = %e, "export stopped by a storage error");
            // The status line is gone; an error in the body makes the download fail visibly.
            let _ = tx.blocking_send(Err(std::io::Error::other(e.to_string())));
        }
    });
    let (ctype, ext) = match format {
        Format::Csv => ("text/csv; charset=utf-8", "csv"),
        Format::Parquet => ("application/vnd.apache.parquet", "parquet"),
    };
    let mut resp = Body::from_stream(ReceiverStream::new(rx)).into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(ctype));
    // Only ASCII goes in the header's filename; the label may be Chinese.
    let safe: String = label
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{safe}.{ext}\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(resp)
}

/// The devices named by `device`, `asset` or `village`, that `user` may see, by name.
async fn devices(
    s: &FarmState,
    user: &cunlink_core::auth::User,
    p: &Params,
) -> Result<(String, Vec<Arc<Device>>), ApiError> {
    let given: Vec<&str> = ["device", "asset", "village"]
        .into_iter()
        .filter(|f| p.get(f).ok().flatten().is_some())
        .collect();
    if given.len() != 1 {
        return Err(ApiError::bad_request(
            "bad_scope",
            "name exactly one of device, asset or village",
        )
        .with_field("device"));
    }
    let farm = &s.0;
    let mut list: Vec<Arc<Device>> = match given[0] {
        "device" => {
            let name = p.get("device")?.unwrap_or_default();
            vec![visible_device(farm, user, name).await?]
        }
        "asset" => {
            let name = p.get("asset")?.unwrap_or_default();
            let l: Vec<_> = farm
                .registry
                .all()
                .into_iter()
                .filter(|d| d.asset.as_deref() == Some(name) && can_see(user, d.village_id))
                .collect();
            if l.is_empty() {
                return Err(ApiError::not_found(
                    "unknown_asset",
                    format!("no asset named '{name}' with devices you can see"),
                )
                .with_field("asset"));
            }
            l
        }
        _ => {
            let name = p.get("village")?.unwrap_or_default().to_string();
            let n = name.clone();
            let vid = farm.auth.village_id(n).await.map_err(FarmError::from)?;
            let not_found = || {
                ApiError::not_found("unknown_village", format!("no village named '{name}'"))
                    .with_field("village")
            };
            let vid = vid.ok_or_else(not_found)?;
            if !can_see(user, Some(vid)) {
                return Err(not_found());
            }
            farm.registry
                .all()
                .into_iter()
                .filter(|d| d.village_id == Some(vid))
                .collect()
        }
    };
    list.sort_by(|a, b| a.name.cmp(&b.name));
    let label = p.get(given[0])?.unwrap_or("export").to_string();
    Ok((label, list))
}

/// Where rows go: CSV text or a Parquet file, both ending in `send`.
enum Sink<F: FnMut(Vec<u8>) -> bool> {
    Csv { buf: Vec<u8>, send: F },
    Parquet(parquet::ParquetWriter<F>),
}

impl<F: FnMut(Vec<u8>) -> bool> Sink<F> {
    /// Hand one row over; false once the client has gone.
    fn row(&mut self, device: &str, key: &str, ts: i64, v: &Value) -> bool {
        match self {
            Sink::Parquet(w) => {
                if let Some(x) = v.as_f64() {
                    w.push(device, key, ts, x);
                }
                w.is_open()
            }
            Sink::Csv { buf, send } => {
                csv_row(buf, device, key, ts, v);
                if buf.len() >= CSV_FLUSH {
                    let full = std::mem::replace(buf, Vec::with_capacity(CSV_FLUSH + 256));
                    return send(full);
                }
                true
            }
        }
    }

    fn finish(self) {
        match self {
            Sink::Parquet(w) => w.finish(),
            Sink::Csv { buf, mut send } => {
                if !buf.is_empty() {
                    send(buf);
                }
            }
        }
    }
}

/// Write every row into `send`, series by series. Stops early (Ok) when the client left.
fn produce(
    store: &TsStore,
    devices: &[Arc<Device>],
    keys: Option<&[String]>,
    range: TimeRange,
    bucketing: Option<Bucketing>,
    format: Format,
    send: impl FnMut(Vec<u8>) -> bool,
) -> Result<(), crate::telemetry::TelemetryStoreError> {
    let mut sink = match format {
        Format::Parquet => Sink::Parquet(parquet::ParquetWriter::new(send)),
        Format::Csv => {
            let mut buf = Vec::with_capacity(CSV_FLUSH + 256);
            buf.extend_from_slice(b"device,key,ts,value\n");
            Sink::Csv { buf, send }
        }
    };
    for d in devices {
        let mut series: Vec<(Arc<str>, KeyId)> = match keys {
            Some(list) => list
                .iter()
                .filter_map(|k| Some((Arc::from(k.as_str()), store.keys.lookup(k)?)))
                .collect(),
            None => store
                .keys_of(d.id)
                .into_iter()
                .filter_map(|k| Some((store.keys.name(k)?, k)))
                .collect(),
        };
        series.sort_by(|a, b| a.0.cmp(&b.0));
        for (kname, kid) in series {
            let mut open = true;
            match bucketing {
                None => store.scan(d.id, kid, range.start, range.end, |ts, v| {
                    if open {
                        open = sink.row(&d.name, &kname, ts, &v);
                    }
                })?,
                Some(b) => {
                    let rows = store.range_aggregate(
                        d.id,
                        kid,
                        range.start,
                        range.end,
                        b.interval,
                        b.agg,
                    )?;
                    for (ts, v) in rows {
                        if open {
                            open = sink.row(&d.name, &kname, ts, &v);
                        }
                    }
                }
            }
            if !open {
                return Ok(());
            }
        }
    }
    sink.finish();
    Ok(())
}

fn csv_row(out: &mut Vec<u8>, device: &str, key: &str, ts: i64, v: &Value) {
    use std::io::Write;
    csv_field(out, device);
    out.push(b',');
    csv_field(out, key);
    let _ = write!(out, ",{ts},");
    match v {
        Value::Num(x) => {
            let _ = write!(out, "{x}");
        }
        Value::Bool(b) => {
            let _ = write!(out, "{b}");
        }
        Value::Text(t) => csv_field(out, t),
    }
    out.push(b'\n');
}

/// A CSV field, quoted when it holds a comma, quote or line break.
fn csv_field(out: &mut Vec<u8>, s: &str) {
    if s.contains([',', '"', '\n', '\r']) {
        out.push(b'"');
        out.extend_from_slice(s.replace('"', "\"\"").as_bytes());
        out.push(b'"');
    } else {
        out.extend_from_slice(s.as_bytes());
    }
}
