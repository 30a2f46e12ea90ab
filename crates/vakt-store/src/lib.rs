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
//! | `native` | the native fields as one JSON object (patient references of EHR events left out), typed as [`codec`] says |
//! | `common` | the common (OCSF-named) fields as one JSON object, typed likewise (the patient only in `patient`) |
//!
//! With `native` and `common` a stored event reads back whole
//! ([`Store::events`]), so every detector can run over the stored history
//! (`vakt hunt --store`); the other columns are for look-ups and scans that
//! read a few columns only ([`Store::scan`], [`Store::lookup`]).
//!
//! Row-group statistics are written for every column and split-block bloom
//! filters for the indicator columns (`src_ip`, `dst_ip`, `domain_base`,
//! `url`, `md5`, `sha1`, `sha256`), so that a look-up skips row groups and
//! segments that cannot hold a value.
//!
//! Crash safety: a segment is written to `seg-<id>.parquet.tmp`, synced,
//! then renamed into place (and the directory synced); readers see only
//! complete `.parquet` files, and [`Store::open`] deletes `.tmp` leftovers of
//! an interrupted write — unless a writer is at work: a writer holds
//! `events/.writer.lock` (an advisory lock) while it lives, so that a
//! reader beside a running service or ingest never takes a segment in the
//! making for a leftover. An event is acknowledged (counted in
//! [`StoreWriter::written`]) only when its segment has been renamed.
//! Retention: [`Store::retain`] deletes whole day partitions older than an
//! age, and the oldest days while the store is over a size.
//!
//! Not here: what to look for (indicators and their retro-hunt are
//! `vakt-intel`'s, detectors `vakt-detect`'s); the store answers for values
//! and time ranges only.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use vakt_core::pseudo::Pseudonymiser;

pub mod codec;
mod lookup;
mod read;
mod scan;
mod segment;
mod window;
pub mod wire;
mod writer;

pub use read::{EventQuery, ReadStats, read_segment};
pub use writer::StoreWriter;

pub use lookup::{LOOKUP_COLUMNS, LookupRow, LookupStats};
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

pub(crate) fn io(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.to_owned(),
        source,
    }
}

pub(crate) fn pq(path: &Path) -> impl Fn(parquet::errors::ParquetError) -> StoreError + Copy + '_ {
    move |source| StoreError::Parquet {
        path: path.to_owned(),
        source,
    }
}

/// The store's writer lock file (`events/.writer.lock`).
fn writer_lock(dir: &Path) -> Result<File, StoreError> {
    let p = dir.join("events").join(".writer.lock");
    std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&p)
        .map_err(io(&p))
}

/// A segment's source kind (its `source=` partition).
pub fn segment_source(seg: &Path) -> Option<String> {
    partition(seg, "source=").map(unescape)
}

/// The start of a segment's day (its `day=` partition; ns).
pub fn segment_day(seg: &Path) -> Option<i64> {
    partition(seg, "day=").and_then(day_start)
}

/// The commit epoch in a segment's name (`seg-<id>-e<epoch>.parquet`), if any.
pub fn segment_epoch(seg: &Path) -> Option<u64> {
    let stem = seg.file_name()?.to_str()?.strip_suffix(".parquet")?;
    let (_, e) = stem.rsplit_once("-e")?;
    e.parse().ok()
}

/// The columns, in order.
pub const COLUMNS: [&str; 20] = [
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
    "common",
];

/// The segment metadata key saying how `native` and `common` are written.
pub(crate) const FIELDS_KEY: &str = "vakt.fields";
/// Its value for fields written with type tags ([`codec`]).
pub(crate) const FIELDS_TYPED: &str = "typed";

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

/// The last two labels of a name.
pub fn domain_base(name: &str) -> &str {
    let mut dots = name.rmatch_indices('.');
    match (dots.next(), dots.next()) {
        (Some(_), Some((i, _))) => &name[i + 1..],
        _ => name,
    }
}

/// The store.
#[derive(Debug, Clone)]
pub struct Store {
    dir: PathBuf,
    /// A union: `dir` holds stores (one per writer), read as one.
    union: bool,
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
    /// Opens (creating) a store; removes the `.tmp` files an interrupted
    /// write left — unless a writer is at work (it holds the store's writer
    /// lock): then they are its segments in the making, and left alone.
    pub fn open(dir: &Path) -> Result<(Store, usize), StoreError> {
        std::fs::create_dir_all(dir.join("events")).map_err(io(dir))?;
        let mut removed = 0;
        let lock = writer_lock(dir)?;
        if lock.try_lock().is_ok() {
            for f in files(&dir.join("events"), ".tmp") {
                if std::fs::remove_file(&f).is_ok() {
                    removed += 1;
                }
            }
            let _ = lock.unlock();
        }
        Ok((
            Store {
                dir: dir.to_owned(),
                union: false,
            },
            removed,
        ))
    }

    /// Removes the segments written under a commit epoch later than
    /// `committed` (see [`StoreWriter::set_epoch`]): what a crash left of an
    /// epoch whose log records will be replayed. Returns how many.
    pub fn discard_uncommitted(&self, committed: u64) -> Result<usize, StoreError> {
        let mut removed = 0;
        for seg in self.segments() {
            if segment_epoch(&seg).is_some_and(|e| e > committed) {
                std::fs::remove_file(&seg).map_err(io(&seg))?;
                removed += 1;
            }
        }
        Ok(removed)
    }

    /// A store to read beside a writer that is running (another thread or
    /// process): unlike [`Store::open`], nothing is cleaned up, so a
    /// segment being written is left alone (readers never see `.tmp` files).
    pub fn beside_writer(dir: &Path) -> Store {
        Store {
            dir: dir.to_owned(),
            union: false,
        }
    }

    /// The stores in the folders of `dir` read as one (a cluster's shared
    /// folder: each partition's writer has its own store there), beside
    /// their writers. The folders are listed again at each read, so a
    /// store made later is read too. Not to be written through.
    pub fn union_of(dir: &Path) -> Store {
        Store {
            dir: dir.to_owned(),
            union: true,
        }
    }

    fn event_dirs(&self) -> Vec<PathBuf> {
        if self.union {
            dirs(&self.dir)
                .into_iter()
                .map(|d| d.join("events"))
                .collect()
        } else {
            vec![self.dir.join("events")]
        }
    }

    /// The store's folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Every complete segment, in path order.
    pub fn segments(&self) -> Vec<PathBuf> {
        let mut all = Vec::new();
        for d in self.event_dirs() {
            all.extend(files(&d, ".parquet"));
        }
        all
    }

    /// A writer appending to the store.
    pub fn writer(&self, pseudo: Arc<Pseudonymiser>) -> StoreWriter {
        // While it writes, the writer holds the store's writer lock, so that
        // a reader opening the store does not take its segments in the
        // making for an interrupted write's leftovers. A second writer of
        // the store waits a little for it, then writes without it.
        let lock = writer_lock(&self.dir).ok().filter(|f| {
            (0..100).any(|_| {
                f.try_lock().is_ok() || {
                    std::thread::sleep(std::time::Duration::from_millis(20));
                    false
                }
            })
        });
        StoreWriter::new(self.dir.join("events"), pseudo, lock)
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
pub(crate) fn escape(v: &str) -> String {
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
pub(crate) fn unescape(v: &str) -> String {
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

/// A partition value of a segment (`tenant=`, `day=`, `source=`), as written.
pub(crate) fn partition<'a>(seg: &'a Path, key: &str) -> Option<&'a str> {
    seg.ancestors()
        .filter_map(|a| a.file_name()?.to_str())
        .find_map(|n| n.strip_prefix(key))
}

/// The start of a `day=` partition (ns).
pub(crate) fn day_start(day: &str) -> Option<i64> {
    let d = chrono::NaiveDate::parse_from_str(day, "%Y-%m-%d").ok()?;
    Some(d.and_hms_opt(0, 0, 0)?.and_utc().timestamp() * 1_000_000_000)
}

pub(crate) const DAY_NS: i64 = 86_400 * 1_000_000_000;

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
