//! vakt-store: the embedded event store, a directory of Apache Parquet
//! segments.
//!
//! Layout: `DIR/events/tenant=<t>/day=<YYYY-MM-DD>/source=<kind>/seg-<id>.parquet`
//! (Hive-style partitions, so `SELECT … FROM read_parquet('DIR/events/**/*.parquet',
//! hive_partitioning = true)` in DuckDB, or Spark/ClickHouse, read it as it
//! is). One row per event; the columns (all nullable UTF-8 unless said):
//!
//! | column | what |
//! |---|---|
//! | `time` | Int64, ns since the epoch, UTC |
//! | `source` | source kind (`zeek:conn`, `evtx:Security`, `fhir:AuditEvent`, …) |
//! | `host` | device host name |
//! | `user` | account (actor user name, else user name; for FHIR AuditEvents the agent's reference, `Practitioner/<id>`) |
//! | `src_ip`, `dst_ip` | addresses, canonical text |
//! | `src_port`, `dst_port` | Int32 |
//! | `domain` | the name the event is about: DNS query, TLS SNI, HTTP host, destination host name (lower case) |
//! | `domain_base` | its last two labels (for bloom-filter look-ups of parent domains) |
//! | `url` | `scheme://host/path` when the event has an HTTP host and path |
//! | `md5`, `sha1`, `sha256` | file hashes (lower case; Sysmon `Hashes` split) |
//! | `patient` | the patient, pseudonymised (never in clear) |
//! | `action` | activity name or API operation |
//! | `origin_path`, `origin_at` | where the event was read (file; line/record/index) |
//! | `native` | the native fields as one JSON object (patient references of EHR events left out) |
//!
//! Row-group statistics are written for every column and split-block bloom
//! filters for the indicator columns (`src_ip`, `dst_ip`, `domain_base`,
//! `url`, `md5`, `sha1`, `sha256`), so that a look-up skips row groups and
//! segments that cannot hold a value.
//!
//! Crash safety: a segment is written to `seg-<id>.parquet.tmp`, synced,
//! then renamed into place (and the directory synced); readers see only
//! complete `.parquet` files, and [`Store::open`] deletes `.tmp` leftovers of
//! an interrupted write. An event is acknowledged (counted in
//! [`StoreWriter::written`]) only when its segment has been renamed.
//! Retention: [`Store::retain`] deletes whole day partitions older than an
//! age, and the oldest days while the store is over a size.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::{ArrayRef, Int32Array, Int64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use parquet::schema::types::ColumnPath;
use rustc_hash::FxHashMap;
use vakt_core::field::*;
use vakt_core::pseudo::Pseudonymiser;
use vakt_core::{Event, Value};

mod hunt;
mod scan;

pub use hunt::{Sighting, Sightings};
pub use scan::{SCAN_COLUMNS, ScanRow, ScanStats};

/// A store error.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A segment could not be encoded or decoded.
    #[error("{path}: {source}")]
    Parquet {
        /// The segment.
        path: PathBuf,
        /// Why.
        source: parquet::errors::ParquetError,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.to_owned(),
        source,
    }
}

fn pq(path: &Path) -> impl Fn(parquet::errors::ParquetError) -> StoreError + Copy + '_ {
    move |source| StoreError::Parquet {
        path: path.to_owned(),
        source,
    }
}

/// The columns, in order.
pub const COLUMNS: [&str; 19] = [
    "time",
    "source",
    "host",
    "user",
    "src_ip",
    "dst_ip",
    "src_port",
    "dst_port",
    "domain",
    "domain_base",
    "url",
    "md5",
    "sha1",
    "sha256",
    "patient",
    "action",
    "origin_path",
    "origin_at",
    "native",
];

/// Columns with bloom filters (`domain` is looked up through `domain_base`).
pub const INDICATOR_COLUMNS: [&str; 8] = [
    "src_ip",
    "dst_ip",
    "domain",
    "domain_base",
    "url",
    "md5",
    "sha1",
    "sha256",
];

fn schema() -> Arc<Schema> {
    Arc::new(Schema::new(
        COLUMNS
            .iter()
            .map(|c| match *c {
                "time" => Field::new(*c, DataType::Int64, false),
                "src_port" | "dst_port" => Field::new(*c, DataType::Int32, true),
                _ => Field::new(*c, DataType::Utf8, true),
            })
            .collect::<Vec<_>>(),
    ))
}

/// The last two labels of a name.
pub fn domain_base(name: &str) -> &str {
    let mut dots = name.rmatch_indices('.');
    match (dots.next(), dots.next()) {
        (Some(_), Some((i, _))) => &name[i + 1..],
        _ => name,
    }
}

/// One event as a row.
#[derive(Debug, Default, Clone)]
struct Row {
    time: i64,
    text: [Option<String>; 16],
    src_port: Option<i32>,
    dst_port: Option<i32>,
}

// Indices into Row::text, in COLUMNS order without time and ports.
const T_SOURCE: usize = 0;
const T_HOST: usize = 1;
const T_USER: usize = 2;
const T_SRC: usize = 3;
const T_DST: usize = 4;
const T_DOMAIN: usize = 5;
const T_BASE: usize = 6;
const T_URL: usize = 7;
const T_MD5: usize = 8;
const T_SHA1: usize = 9;
const T_SHA256: usize = 10;
const T_PATIENT: usize = 11;
const T_ACTION: usize = 12;
const T_PATH: usize = 13;
const T_AT: usize = 14;
const T_NATIVE: usize = 15;

fn s(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::Str(s) if !s.is_empty() => Some(s.to_string()),
        Value::Ip(ip) => Some(ip.to_string()),
        Value::Int(i) => Some(i.to_string()),
        _ => None,
    }
}

fn row(e: &Event, pseudo: &Pseudonymiser) -> Row {
    let mut r = Row {
        time: e.time.0,
        ..Default::default()
    };
    let t = &mut r.text;
    t[T_SOURCE] = Some(e.source.to_string());
    t[T_HOST] = s(e.common(DEVICE_HOSTNAME)).or_else(|| s(e.get_named("Computer")));
    // An EHR access names its agent by reference (`Practitioner/<id>`): unique,
    // where the display name is not.
    let ehr_agent = if e.source.starts_with("fhir:") {
        s(e.common(ACTOR_USER_UID))
    } else {
        None
    };
    t[T_USER] = ehr_agent
        .or_else(|| s(e.common(ACTOR_USER_NAME)))
        .or_else(|| s(e.common(USER_NAME)));
    t[T_SRC] = s(e.common(SRC_IP));
    t[T_DST] = s(e.common(DST_IP));
    r.src_port = e.common(SRC_PORT).and_then(Value::as_i64).map(|p| p as i32);
    r.dst_port = e.common(DST_PORT).and_then(Value::as_i64).map(|p| p as i32);
    let name = [QUERY_HOSTNAME, TLS_SNI, URL_HOSTNAME, DST_HOSTNAME]
        .iter()
        .find_map(|f| e.common(*f).and_then(Value::as_str))
        .map(|n| n.trim_end_matches('.').to_ascii_lowercase());
    if let Some(n) = &name {
        t[T_BASE] = Some(domain_base(n).to_owned());
    }
    if let (Some(host), Some(path)) = (
        e.common(URL_HOSTNAME).and_then(Value::as_str),
        e.common(URL_PATH).and_then(Value::as_str),
    ) {
        t[T_URL] = Some(format!("http://{}{path}", host.to_ascii_lowercase()));
    }
    t[T_DOMAIN] = name;
    t[T_MD5] = s(e.common(FILE_MD5)).map(|h| h.to_ascii_lowercase());
    t[T_SHA1] = s(e.common(FILE_SHA1)).map(|h| h.to_ascii_lowercase());
    t[T_SHA256] = s(e.common(FILE_SHA256)).map(|h| h.to_ascii_lowercase());
    if let Some(all) = e.get_named("Hashes").and_then(Value::as_str) {
        for part in all.split(',') {
            if let Some((algo, h)) = part.split_once('=') {
                let slot = match algo.trim().to_ascii_uppercase().as_str() {
                    "MD5" => T_MD5,
                    "SHA1" => T_SHA1,
                    "SHA256" => T_SHA256,
                    _ => continue,
                };
                t[slot].get_or_insert_with(|| h.trim().to_ascii_lowercase());
            }
        }
    }
    let patients: Vec<String> = match e.common(PATIENT_UID) {
        Some(Value::Str(p)) => vec![p.to_string()],
        Some(Value::List(items)) => items
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        _ => Vec::new(),
    };
    if !patients.is_empty() {
        let ps: Vec<String> = patients
            .iter()
            .map(|p| pseudo.pseudonym(&e.tenant, p.rsplit('/').next().unwrap_or(p)))
            .collect();
        t[T_PATIENT] = Some(ps.join(" "));
    }
    t[T_ACTION] = s(e.common(ACTIVITY_NAME)).or_else(|| s(e.common(API_OPERATION)));
    t[T_PATH] = Some(e.origin.path.to_string());
    t[T_AT] = Some(e.origin.locator.to_string());
    // Native fields; an EHR event's patient references stay out.
    let ehr = &*e.source == "fhir:AuditEvent";
    let mut native = serde_json::Map::new();
    for (f, v) in &e.fields {
        let n = f.name();
        if ehr && (n.starts_with("entity") || n.starts_with("patient")) {
            continue;
        }
        if let Ok(j) = serde_json::to_value(v) {
            native.insert(n.to_owned(), j);
        }
    }
    t[T_NATIVE] = Some(serde_json::Value::Object(native).to_string());
    r
}

fn batch(rows: &[Row]) -> RecordBatch {
    let mut cols: Vec<ArrayRef> = Vec::with_capacity(COLUMNS.len());
    cols.push(Arc::new(Int64Array::from_iter_values(
        rows.iter().map(|r| r.time),
    )));
    let text = |i: usize| -> ArrayRef {
        Arc::new(StringArray::from_iter(
            rows.iter().map(|r| r.text[i].as_deref()),
        ))
    };
    for i in [T_SOURCE, T_HOST, T_USER, T_SRC, T_DST] {
        cols.push(text(i));
    }
    cols.push(Arc::new(Int32Array::from_iter(
        rows.iter().map(|r| r.src_port),
    )));
    cols.push(Arc::new(Int32Array::from_iter(
        rows.iter().map(|r| r.dst_port),
    )));
    for i in T_DOMAIN..=T_NATIVE {
        cols.push(text(i));
    }
    RecordBatch::try_new(schema(), cols).expect("columns match the schema")
}

fn properties(rows_per_group: usize) -> WriterProperties {
    let mut b = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_max_row_group_row_count(Some(rows_per_group));
    // Filters are sized up front (the default assumes a million distinct
    // values per row group, far larger than the data): addresses and base
    // domains for every row at a 1-in-100,000 false positive rate, so that a
    // thousand indicators at once still skip nearly every row group that
    // holds none of them; URLs and hashes, present on few events, for an
    // eighth of the rows at 1 in 10,000.
    for c in INDICATOR_COLUMNS {
        let (ndv, fpp) = match c {
            "src_ip" | "dst_ip" | "domain_base" => (rows_per_group as u64, 0.00001),
            "domain" => continue,
            _ => ((rows_per_group / 8).max(64) as u64, 0.0001),
        };
        b = b
            .set_column_bloom_filter_enabled(ColumnPath::from(c), true)
            .set_column_bloom_filter_fpp(ColumnPath::from(c), fpp)
            .set_column_bloom_filter_max_ndv(ColumnPath::from(c), ndv);
    }
    b.build()
}

/// The store.
#[derive(Debug, Clone)]
pub struct Store {
    dir: PathBuf,
}

/// What the store holds.
#[derive(Debug, Default, Clone, PartialEq, serde::Serialize)]
pub struct StoreStats {
    /// Segments.
    pub segments: usize,
    /// Events.
    pub events: u64,
    /// Bytes on disk.
    pub bytes: u64,
    /// First and last event time (ns).
    pub first: Option<i64>,
    /// Last event time (ns).
    pub last: Option<i64>,
    /// Events per tenant.
    pub by_tenant: std::collections::BTreeMap<String, u64>,
    /// Events per source kind.
    pub by_source: std::collections::BTreeMap<String, u64>,
    /// Interrupted writes removed when the store was opened.
    pub removed_partial: usize,
}

impl Store {
    /// Opens (creating) a store; removes the `.tmp` files an interrupted write left.
    pub fn open(dir: &Path) -> Result<(Store, usize), StoreError> {
        std::fs::create_dir_all(dir.join("events")).map_err(io(dir))?;
        let mut removed = 0;
        for f in files(&dir.join("events"), ".tmp") {
            if std::fs::remove_file(&f).is_ok() {
                removed += 1;
            }
        }
        Ok((
            Store {
                dir: dir.to_owned(),
            },
            removed,
        ))
    }

    /// The store's folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Every complete segment, in path order.
    pub fn segments(&self) -> Vec<PathBuf> {
        files(&self.dir.join("events"), ".parquet")
    }

    /// A writer appending to the store.
    pub fn writer(&self, pseudo: Arc<Pseudonymiser>) -> StoreWriter {
        StoreWriter {
            dir: self.dir.join("events"),
            pseudo,
            buffers: FxHashMap::default(),
            buffered: 0,
            max_buffered: 262_144,
            segment_rows: 65_536,
            group_rows: 16_384,
            written: 0,
            segments: Vec::new(),
            seq: 0,
        }
    }

    /// Counts, bytes and time range, from the segments' footers.
    pub fn stats(&self) -> Result<StoreStats, StoreError> {
        use parquet::file::reader::FileReader;
        use parquet::file::statistics::Statistics;
        let mut st = StoreStats::default();
        for seg in self.segments() {
            let file = File::open(&seg).map_err(io(&seg))?;
            st.bytes += file.metadata().map_err(io(&seg))?.len();
            let reader =
                parquet::file::reader::SerializedFileReader::new(file).map_err(pq(&seg))?;
            let meta = reader.metadata();
            let rows = meta.file_metadata().num_rows() as u64;
            st.segments += 1;
            st.events += rows;
            for rg in meta.row_groups() {
                if let Some(Statistics::Int64(s)) = rg.column(0).statistics() {
                    if let Some(min) = s.min_opt() {
                        st.first = Some(st.first.map_or(*min, |f| f.min(*min)));
                    }
                    if let Some(max) = s.max_opt() {
                        st.last = Some(st.last.map_or(*max, |l| l.max(*max)));
                    }
                }
            }
            let part = |key: &str| {
                seg.ancestors()
                    .filter_map(|a| a.file_name()?.to_str())
                    .find_map(|n| n.strip_prefix(key).map(unescape))
                    .unwrap_or_default()
            };
            *st.by_tenant.entry(part("tenant=")).or_default() += rows;
            *st.by_source.entry(part("source=")).or_default() += rows;
        }
        Ok(st)
    }

    /// Retention: deletes day partitions whose day ended before `oldest`
    /// (ns), then the oldest days while the store is over `max_bytes`.
    /// Returns the partitions deleted.
    pub fn retain(&self, oldest: Option<i64>, max_bytes: Option<u64>) -> Result<usize, StoreError> {
        let mut days: Vec<(String, PathBuf, u64)> = Vec::new();
        let events = self.dir.join("events");
        for t in dirs(&events) {
            for d in dirs(&t) {
                let Some(day) = d
                    .file_name()
                    .and_then(|n| n.to_str())
                    .and_then(|n| n.strip_prefix("day="))
                    .map(str::to_owned)
                else {
                    continue;
                };
                let bytes = files(&d, ".parquet")
                    .iter()
                    .filter_map(|f| f.metadata().ok())
                    .map(|m| m.len())
                    .sum();
                days.push((day, d, bytes));
            }
        }
        days.sort();
        let mut total: u64 = days.iter().map(|d| d.2).sum();
        let mut deleted = 0;
        for (day, dir, bytes) in days {
            let ends = vakt_core::Timestamp::parse(&format!("{day}T00:00:00Z"))
                .map(|t| t.0 + 86_400 * 1_000_000_000)
                .unwrap_or(i64::MAX);
            let too_old = oldest.is_some_and(|o| ends <= o);
            let too_big = max_bytes.is_some_and(|m| total > m);
            if too_old || too_big {
                std::fs::remove_dir_all(&dir).map_err(io(&dir))?;
                total -= bytes;
                deleted += 1;
            }
        }
        Ok(deleted)
    }
}

/// A partition value as a folder name: ASCII letters, digits and `-_.:` as
/// they are, every other byte of the UTF-8 as `%XX`.
fn escape(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for b in v.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The inverse of [`escape`] (a malformed `%` is kept as it is).
fn unescape(v: &str) -> String {
    let b = v.as_bytes();
    let mut bytes = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && let Some(x) = v
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            bytes.push(x);
            i += 3;
        } else {
            bytes.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

fn dirs(p: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(p)
        .map(|r| {
            r.flatten()
                .map(|e| e.path())
                .filter(|p| p.is_dir())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

fn files(p: &Path, suffix: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![p.to_owned()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let path = e.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.to_string_lossy().ends_with(suffix) {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

const DAY_NS: i64 = 86_400 * 1_000_000_000;

/// A partition: tenant, day number (since the epoch, UTC), source kind.
type Partition = (Arc<str>, i64, Arc<str>);

/// Appends events to the store in segments.
#[derive(Debug)]
pub struct StoreWriter {
    dir: PathBuf,
    pseudo: Arc<Pseudonymiser>,
    buffers: FxHashMap<Partition, Vec<Row>>,
    /// Rows held in all buffers, and the most that may be: input that
    /// spreads over many days and sources must not be held whole.
    buffered: usize,
    max_buffered: usize,
    segment_rows: usize,
    group_rows: usize,
    written: u64,
    segments: Vec<PathBuf>,
    seq: u64,
}

impl StoreWriter {
    /// Rows per segment (default 65,536) and per row group (default 16,384).
    pub fn with_sizes(mut self, segment_rows: usize, group_rows: usize) -> Self {
        self.segment_rows = segment_rows.max(1);
        self.group_rows = group_rows.max(1);
        self
    }

    /// At most this many rows held over all partitions (default 262,144):
    /// beyond it, the fullest partition is written as a (smaller) segment.
    pub fn with_max_buffered(mut self, rows: usize) -> Self {
        self.max_buffered = rows.max(1);
        self
    }

    /// Takes one event; a partition's buffer that is full is written as a
    /// segment, and so is the fullest when all buffers together hold too much.
    pub fn append(&mut self, e: &Event) -> Result<(), StoreError> {
        // The partition: tenant, UTC day (as a day number until written), source kind.
        let day = e.time.0.div_euclid(DAY_NS);
        let key = (e.tenant.clone(), day, e.source.clone());
        let r = row(e, &self.pseudo);
        let full = {
            let buf = self.buffers.entry(key.clone()).or_default();
            buf.push(r);
            buf.len() >= self.segment_rows
        };
        self.buffered += 1;
        if full && let Some(rows) = self.buffers.remove(&key) {
            self.buffered -= rows.len();
            self.write(&key, rows)?;
        }
        if self.buffered > self.max_buffered
            && let Some(k) = self
                .buffers
                .iter()
                .max_by_key(|(_, b)| b.len())
                .map(|(k, _)| k.clone())
            && let Some(rows) = self.buffers.remove(&k)
        {
            self.buffered -= rows.len();
            self.write(&k, rows)?;
        }
        Ok(())
    }

    /// Writes every buffered event; after it returns, all appended events are stored.
    pub fn flush(&mut self) -> Result<(), StoreError> {
        let mut keys: Vec<_> = self.buffers.keys().cloned().collect();
        keys.sort();
        for k in keys {
            if let Some(rows) = self.buffers.remove(&k) {
                self.buffered -= rows.len();
                self.write(&k, rows)?;
            }
        }
        Ok(())
    }

    /// Events stored (in complete segments).
    pub fn written(&self) -> u64 {
        self.written
    }

    /// Segments written, in order.
    pub fn segments(&self) -> &[PathBuf] {
        &self.segments
    }

    fn write(&mut self, key: &Partition, rows: Vec<Row>) -> Result<(), StoreError> {
        if rows.is_empty() {
            return Ok(());
        }
        let dir = self
            .dir
            .join(format!("tenant={}", escape(&key.0)))
            .join(format!(
                "day={}",
                vakt_core::Timestamp(key.1 * DAY_NS)
                    .to_rfc3339()
                    .get(..10)
                    .unwrap_or("0000-00-00")
            ))
            .join(format!("source={}", escape(&key.2)));
        std::fs::create_dir_all(&dir).map_err(io(&dir))?;
        self.seq += 1;
        let id = format!(
            "{}-{}-{}",
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos()),
            std::process::id(),
            self.seq
        );
        let done = dir.join(format!("seg-{id}.parquet"));
        let tmp = dir.join(format!("seg-{id}.parquet.tmp"));
        let file = File::create(&tmp).map_err(io(&tmp))?;
        let pq = pq(&tmp);
        let mut w =
            ArrowWriter::try_new(file, schema(), Some(properties(self.group_rows))).map_err(pq)?;
        for chunk in rows.chunks(self.group_rows) {
            w.write(&batch(chunk)).map_err(pq)?;
            w.flush().map_err(pq)?;
        }
        let file = w.into_inner().map_err(pq)?;
        file.sync_all().map_err(io(&tmp))?;
        drop(file);
        std::fs::rename(&tmp, &done).map_err(io(&done))?;
        if let Ok(d) = File::open(&dir) {
            let _ = d.sync_all();
        }
        self.written += rows.len() as u64;
        self.segments.push(done);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_names_round_trip() {
        for v in [
            "ous",
            "zeek:conn",
            "evtx:Microsoft-Windows-Sysmon/Operational",
            "Helse Sør-Øst",
            "50%",
        ] {
            let e = escape(v);
            assert!(
                e.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.:%".contains(&b)),
                "{e}"
            );
            assert_eq!(unescape(&e), v);
        }
        assert_ne!(escape("Sør"), escape("S\u{1f8}r"));
    }
}
