//! A minimal streaming Parquet writer for the export's one fixed schema:
//! `device` (string), `key` (string), `ts` (timestamp, ms, UTC), `value` (double),
//! all required. Rows are buffered into row groups of [`ROWS_PER_GROUP`]; each
//! group is written as one uncompressed PLAIN data page per column and handed to
//! the sink, so memory stays at one row group whatever the export's size. The
//! footer (file metadata, Thrift compact protocol) is written at the end.
//!
//! Written from the Apache Parquet format specification (parquet.thrift); read back
//! by pyarrow in `crates/cunlink/tests/api/telemetry_history.rs`. The `parquet` crate would
//! bring a Thrift runtime and many modules for the 300 lines this needs.

/// Rows per row group: a few MB of buffers.
pub const ROWS_PER_GROUP: usize = 65_536;

// parquet.thrift enum values.
const TYPE_INT64: i32 = 2;
const TYPE_DOUBLE: i32 = 5;
const TYPE_BYTE_ARRAY: i32 = 6;
const REQUIRED: i32 = 0;
const CONVERTED_UTF8: i32 = 0;
const CONVERTED_TIMESTAMP_MILLIS: i32 = 9;
const ENCODING_PLAIN: i32 = 0;
const ENCODING_RLE: i32 = 3;
const CODEC_UNCOMPRESSED: i32 = 0;
const PAGE_DATA: i32 = 0;

/// Thrift compact protocol, the subset the footer and page headers need.
struct Thrift {
    out: Vec<u8>,
    last: Vec<i16>,
}

// Compact protocol type ids.
const CT_TRUE: u8 = 1;
const CT_FALSE: u8 = 2;
const CT_I32: u8 = 5;
const CT_I64: u8 = 6;
const CT_BINARY: u8 = 8;
const CT_LIST: u8 = 9;
const CT_STRUCT: u8 = 12;

impl Thrift {
    fn new() -> Thrift {
        Thrift {
            out: Vec::new(),
            last: vec![0],
        }
    }

    fn varint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.out.push((v as u8) | 0x80);
            v >>= 7;
        }
        self.out.push(v as u8);
    }

    fn zigzag(&mut self, v: i64) {
        self.varint(((v << 1) ^ (v >> 63)) as u64);
    }

    fn field(&mut self, id: i16, ty: u8) {
        let last = self.last.last().copied().unwrap_or(0);
        let delta = id - last;
        if (1..=15).contains(&delta) {
            self.out.push(((delta as u8) << 4) | ty);
        } else {
            self.out.push(ty);
            self.zigzag(i64::from(id));
        }
        if let Some(l) = self.last.last_mut() {
            *l = id;
        }
    }

    fn i32(&mut self, id: i16, v: i32) {
        self.field(id, CT_I32);
        self.zigzag(i64::from(v));
    }

    fn i64(&mut self, id: i16, v: i64) {
        self.field(id, CT_I64);
        self.zigzag(v);
    }

    fn bool(&mut self, id: i16, v: bool) {
        self.field(id, if v { CT_TRUE } else { CT_FALSE });
    }

    fn string(&mut self, id: i16, s: &str) {
        self.field(id, CT_BINARY);
        self.bytes(s.as_bytes());
    }

    fn bytes(&mut self, b: &[u8]) {
        self.varint(b.len() as u64);
        self.out.extend_from_slice(b);
    }

    fn list(&mut self, id: i16, elem: u8, n: usize) {
        self.field(id, CT_LIST);
        if n < 15 {
            self.out.push(((n as u8) << 4) | elem);
        } else {
            self.out.push(0xf0 | elem);
            self.varint(n as u64);
        }
    }

    /// Open a struct (as field `id`, or as a list element with `None`).
    fn begin(&mut self, id: Option<i16>) {
        if let Some(id) = id {
            self.field(id, CT_STRUCT);
        }
        self.last.push(0);
    }

    fn end(&mut self) {
        self.out.push(0);
        self.last.pop();
    }
}

/// Where one written column chunk sits, for the footer.
struct ColumnChunkMeta {
    ty: i32,
    name: &'static str,
    offset: i64,
    size: i64,
}

struct RowGroupMeta {
    rows: i64,
    columns: Vec<ColumnChunkMeta>,
}

/// The writer; `sink` receives the file's bytes in order.
pub struct ParquetWriter<F: FnMut(Vec<u8>) -> bool> {
    sink: F,
    written: i64,
    device: Vec<u8>,
    key: Vec<u8>,
    ts: Vec<u8>,
    value: Vec<u8>,
    rows: usize,
    groups: Vec<RowGroupMeta>,
    /// False once the sink refused bytes (the client went away).
    open: bool,
}

impl<F: FnMut(Vec<u8>) -> bool> ParquetWriter<F> {
    /// Start a file; `sink` returns false when nobody wants more bytes.
    pub fn new(mut sink: F) -> Self {
        let open = sink(b"PAR1".to_vec());
        ParquetWriter {
            sink,
            written: 4,
            device: Vec::new(),
            key: Vec::new(),
            ts: Vec::new(),
            value: Vec::new(),
            rows: 0,
            groups: Vec::new(),
            open,
        }
    }

    /// False once the sink refused bytes: stop producing rows.
    pub fn is_open(&self) -> bool {
        self.open
    }

    pub fn push(&mut self, device: &str, key: &str, ts: i64, value: f64) {
        for (col, s) in [(&mut self.device, device), (&mut self.key, key)] {
            col.extend_from_slice(&(s.len() as u32).to_le_bytes());
            col.extend_from_slice(s.as_bytes());
        }
        self.ts.extend_from_slice(&ts.to_le_bytes());
        self.value.extend_from_slice(&value.to_le_bytes());
        self.rows += 1;
        if self.rows >= ROWS_PER_GROUP {
            self.flush_group();
        }
    }

    fn emit(&mut self, bytes: Vec<u8>) {
        self.written += bytes.len() as i64;
        if self.open {
            self.open = (self.sink)(bytes);
        }
    }

    fn flush_group(&mut self) {
        if self.rows == 0 {
            return;
        }
        let rows = self.rows;
        let cols = [
            (TYPE_BYTE_ARRAY, "device", std::mem::take(&mut self.device)),
            (TYPE_BYTE_ARRAY, "key", std::mem::take(&mut self.key)),
            (TYPE_INT64, "ts", std::mem::take(&mut self.ts)),
            (TYPE_DOUBLE, "value", std::mem::take(&mut self.value)),
        ];
        let mut metas = Vec::with_capacity(4);
        for (ty, name, data) in cols {
            let mut h = Thrift::new();
            h.i32(1, PAGE_DATA);
            h.i32(2, data.len() as i32);
            h.i32(3, data.len() as i32);
            h.begin(Some(5));
            h.i32(1, rows as i32);
            h.i32(2, ENCODING_PLAIN);
            h.i32(3, ENCODING_RLE);
            h.i32(4, ENCODING_RLE);
            h.end();
            h.out.push(0);
            let offset = self.written;
            let size = (h.out.len() + data.len()) as i64;
            self.emit(h.out);
            self.emit(data);
            metas.push(ColumnChunkMeta {
                ty,
                name,
                offset,
                size,
            });
        }
        self.groups.push(RowGroupMeta {
            rows: rows as i64,
            columns: metas,
        });
        self.rows = 0;
    }

    /// Write the last row group and the footer.
    pub fn finish(mut self) {
        self.flush_group();
        let total_rows: i64 = self.groups.iter().map(|g| g.rows).sum();
        let mut t = Thrift::new();
        t.i32(1, 1);
        // Schema: the root, then the four columns.
        t.list(2, CT_STRUCT, 5);
        t.begin(None);
        t.string(4, "schema");
        t.i32(5, 4);
        t.end();
        for (ty, name) in [
            (TYPE_BYTE_ARRAY, "device"),
            (TYPE_BYTE_ARRAY, "key"),
            (TYPE_INT64, "ts"),
            (TYPE_DOUBLE, "value"),
        ] {
            t.begin(None);
            t.i32(1, ty);
            t.i32(3, REQUIRED);
            t.string(4, name);
            match name {
                "device" | "key" => {
                    t.i32(6, CONVERTED_UTF8);
                    // logicalType: STRING
                    t.begin(Some(10));
                    t.begin(Some(1));
                    t.end();
                    t.end();
                }
                "ts" => {
                    t.i32(6, CONVERTED_TIMESTAMP_MILLIS);
                    // logicalType: TIMESTAMP(isAdjustedToUTC = true, unit = MILLIS)
                    t.begin(Some(10));
                    t.begin(Some(8));
                    t.bool(1, true);
                    t.begin(Some(2));
                    t.begin(Some(1));
                    t.end();
                    t.end();
                    t.end();
                    t.end();
                }
                _ => {}
            }
            t.end();
        }
        t.i64(3, total_rows);
        t.list(4, CT_STRUCT, self.groups.len());
        for g in &self.groups {
            t.begin(None);
            t.list(1, CT_STRUCT, g.columns.len());
            for c in &g.columns {
                t.begin(None);
                t.i64(2, c.offset);
                t.begin(Some(3));
                t.i32(1, c.ty);
                t.list(2, CT_I32, 2);
                t.zigzag(i64::from(ENCODING_PLAIN));
                t.zigzag(i64::from(ENCODING_RLE));
                t.list(3, CT_BINARY, 1);
                t.bytes(c.name.as_bytes());
                t.i32(4, CODEC_UNCOMPRESSED);
                t.i64(5, g.rows);
                t.i64(6, c.size);
                t.i64(7, c.size);
                t.i64(9, c.offset);
                t.end();
                t.end();
            }
            t.i64(2, g.columns.iter().map(|c| c.size).sum());
            t.i64(3, g.rows);
            t.end();
        }
        t.string(6, "cunlink");
        t.out.push(0);
        let len = t.out.len() as u32;
        let mut tail = t.out;
        tail.extend_from_slice(&len.to_le_bytes());
        tail.extend_from_slice(b"PAR1");
        self.emit(tail);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_is_framed_and_footer_length_is_right() {
        let mut bytes = Vec::new();
        let mut w = ParquetWriter::new(|b| {
            bytes.extend(b);
            true
        });
        for i in 0..10 {
            w.push("dev", "temperature", 1_700_000_000_000 + i, i as f64 / 10.0);
        }
        w.finish();
        assert_eq!(&bytes[..4], b"PAR1");
        assert_eq!(&bytes[bytes.len() - 4..], b"PAR1");
        let n = bytes.len();
        let len = u32::from_le_bytes(bytes[n - 8..n - 4].try_into().unwrap()) as usize;
        assert!(len > 50 && len < n - 12);
        // The footer ends with the file metadata struct's stop byte.
        assert_eq!(bytes[n - 9], 0);
    }
}
