//! Reading stored events back whole: what `vakt hunt --store` runs every
//! detector over.
//!
//! An event reads back with its time, tenant, source kind, native and common
//! fields (typed, see [`crate::codec`]) and origin; the patient of an EHR
//! event comes back as its pseudonym (the store never holds it in clear).
//! Day partitions outside the time range and other tenants' partitions are
//! not opened, row groups outside the range not read; only the columns that
//! make up the event are read.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::{Array, StringArray};
use vakt_core::field::{
    DEVICE_HOSTNAME, DST_IP, DST_PORT, PATIENT_UID, QUERY_HOSTNAME, SRC_IP, SRC_PORT,
};
use vakt_core::{Event, FieldId, Locator, Origin, SourceKind, Timestamp, Value};

use crate::{DAY_NS, Store, StoreError, codec, day_start, partition, unescape};

/// Which stored events to read.
#[derive(Debug, Clone, Default)]
pub struct EventQuery {
    /// Only this tenant's.
    pub tenant: Option<String>,
    /// From this time (ns, inclusive).
    pub from: Option<i64>,
    /// Before this time (ns).
    pub to: Option<i64>,
}

/// What reading read.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct ReadStats {
    /// Segments opened.
    pub segments: usize,
    /// Row groups read, and skipped by their time statistics.
    pub row_groups: (usize, usize),
    /// Events read back.
    pub events: u64,
    /// Rows that could not be read back (fields not JSON, say): skipped.
    pub bad_rows: u64,
    /// Segments written before the store kept whole events (`common`
    /// missing): their events carry only the common fields the look-up
    /// columns hold.
    pub partial_segments: usize,
}

impl ReadStats {
    /// Adds another's counts.
    pub fn add(&mut self, o: &ReadStats) {
        self.segments += o.segments;
        self.row_groups.0 += o.row_groups.0;
        self.row_groups.1 += o.row_groups.1;
        self.events += o.events;
        self.bad_rows += o.bad_rows;
        self.partial_segments += o.partial_segments;
    }
}

/// The columns an event is made of.
const EVENT_COLUMNS: [&str; 13] = [
    "time",
    "source",
    "host",
    "src_ip",
    "dst_ip",
    "src_port",
    "dst_port",
    "domain",
    "patient",
    "origin_path",
    "origin_at",
    "native",
    "common",
];

impl Store {
    /// The segments holding events `q` asks for (by partition: tenant and
    /// day), in path order — tenant, then day, then source kind.
    pub fn event_segments(&self, q: &EventQuery) -> Vec<PathBuf> {
        let (from, to) = (q.from.unwrap_or(i64::MIN), q.to.unwrap_or(i64::MAX));
        self.segments()
            .into_iter()
            .filter(|seg| {
                let tenant_ok = q
                    .tenant
                    .as_deref()
                    .is_none_or(|t| partition(seg, "tenant=").map(unescape).as_deref() == Some(t));
                let day_ok = partition(seg, "day=")
                    .and_then(day_start)
                    .is_none_or(|start| start < to && start.saturating_add(DAY_NS) > from);
                tenant_ok && day_ok
            })
            .collect()
    }

    /// Calls `f` with every event of `q` the store holds, segment by segment.
    pub fn events(
        &self,
        q: &EventQuery,
        mut f: impl FnMut(Event),
    ) -> Result<ReadStats, StoreError> {
        let mut st = ReadStats::default();
        for seg in self.event_segments(q) {
            st.add(&read_segment(&seg, q, &mut f)?);
        }
        Ok(st)
    }
}

impl Store {
    /// The stored event a piece of evidence refers to: its tenant, and the
    /// reference's time, source kind and place (only the partition of that
    /// tenant, day and source kind is opened, and only the row groups of that
    /// moment read). `None` when the store does not hold it, or the reference
    /// lacks its time.
    pub fn find(&self, tenant: &str, r: &vakt_core::EventRef) -> Result<Option<Event>, StoreError> {
        let Some(t) = r.time else {
            return Ok(None);
        };
        let q = EventQuery {
            tenant: Some(tenant.to_owned()),
            from: Some(t.0),
            to: Some(t.0.saturating_add(1)),
        };
        let mut found = None;
        for seg in self.event_segments(&q) {
            let kind = partition(&seg, "source=").map(unescape);
            if r.source
                .as_ref()
                .is_some_and(|s| kind.as_deref() != Some(s.as_str()))
            {
                continue;
            }
            read_segment(&seg, &q, &mut |e| {
                if found.is_none() && *e.origin.path == *r.path && e.origin.locator == r.locator {
                    found = Some(e);
                }
            })?;
            if found.is_some() {
                break;
            }
        }
        Ok(found)
    }
}

/// Calls `f` with every event of one segment that `q` asks for.
pub fn read_segment(
    seg: &Path,
    q: &EventQuery,
    f: &mut dyn FnMut(Event),
) -> Result<ReadStats, StoreError> {
    let (from, to) = (q.from.unwrap_or(i64::MIN), q.to.unwrap_or(i64::MAX));
    let mut st = ReadStats {
        segments: 1,
        ..ReadStats::default()
    };
    let tenant: Arc<str> = Arc::from(partition(seg, "tenant=").map(unescape).unwrap_or_default());
    let w = crate::window::open(seg, (from, to), &EVENT_COLUMNS, 8_192)?;
    st.row_groups.0 += w.read;
    st.row_groups.1 += w.skipped;
    let typed = w.typed;
    let Some(batches) = w.batches else {
        return Ok(st);
    };
    let mut kinds: Vec<SourceKind> = Vec::new();
    let mut paths: Vec<Arc<str>> = Vec::new();
    let mut partial_seen = false;
    for b in batches {
        let b = crate::window::batch(seg, b)?;
        let Some(time) = crate::window::times(&b) else {
            continue;
        };
        let text = |name: &str| crate::window::text(&b, name);
        let int = |name: &str| {
            b.column_by_name(name)
                .and_then(|c| c.as_any().downcast_ref::<arrow_array::Int32Array>())
        };
        let (source, patient, path, at, native, common) = (
            text("source"),
            text("patient"),
            text("origin_path"),
            text("origin_at"),
            text("native"),
            text("common"),
        );
        if common.is_none() && !partial_seen {
            partial_seen = true;
            st.partial_segments += 1;
        }
        for i in 0..b.num_rows() {
            let t = time.value(i);
            if t < from || t >= to {
                continue;
            }
            let kind = get(source, i).unwrap_or("");
            let source = match kinds.iter().find(|k| k.as_str() == kind) {
                Some(k) => k.clone(),
                None => {
                    let k = SourceKind::new(kind);
                    kinds.push(k.clone());
                    k
                }
            };
            let fields = match get(native, i).map(|n| codec::decode(n, typed)) {
                Some(Ok(f)) => f,
                None => Vec::new(),
                Some(Err(_)) => {
                    st.bad_rows += 1;
                    continue;
                }
            };
            let mut common_fields = match get(common, i).map(|c| codec::decode(c, typed)) {
                Some(Ok(c)) => c,
                Some(Err(_)) => {
                    st.bad_rows += 1;
                    continue;
                }
                None => legacy_common(
                    get(text("host"), i),
                    get(text("src_ip"), i),
                    get(text("dst_ip"), i),
                    int("src_port").and_then(|c| (!c.is_null(i)).then(|| c.value(i))),
                    int("dst_port").and_then(|c| (!c.is_null(i)).then(|| c.value(i))),
                    get(text("domain"), i),
                ),
            };
            if let Some(p) = get(patient, i) {
                let mut ps: Vec<Value> = p.split(' ').map(Value::str).collect();
                common_fields.push((
                    PATIENT_UID,
                    if ps.len() == 1 {
                        ps.remove(0)
                    } else {
                        Value::List(ps)
                    },
                ));
            }
            let path_text = get(path, i).unwrap_or("");
            let path = match paths.iter().find(|p| &***p == path_text) {
                Some(p) => p.clone(),
                None => {
                    let p: Arc<str> = Arc::from(path_text);
                    if paths.len() > 64 {
                        paths.clear();
                    }
                    paths.push(p.clone());
                    p
                }
            };
            let locator = get(at, i)
                .and_then(|a| a.parse::<Locator>().ok())
                .unwrap_or(Locator::Index(0));
            st.events += 1;
            f(Event {
                time: Timestamp(t),
                tenant: tenant.clone(),
                source,
                fields,
                common: common_fields,
                origin: Origin { path, locator },
            });
        }
    }
    Ok(st)
}

fn get(c: Option<&StringArray>, i: usize) -> Option<&str> {
    c.and_then(|c| (!c.is_null(i)).then(|| c.value(i)))
}

/// The common fields the look-up columns hold, for segments written before
/// the store kept them whole.
fn legacy_common(
    host: Option<&str>,
    src: Option<&str>,
    dst: Option<&str>,
    src_port: Option<i32>,
    dst_port: Option<i32>,
    domain: Option<&str>,
) -> Vec<(FieldId, Value)> {
    let mut out = Vec::new();
    if let Some(h) = host {
        out.push((DEVICE_HOSTNAME, Value::str(h)));
    }
    for (f, v) in [(SRC_IP, src), (DST_IP, dst)] {
        if let Some(ip) = v.and_then(|v| v.parse().ok()) {
            out.push((f, Value::Ip(ip)));
        }
    }
    for (f, v) in [(SRC_PORT, src_port), (DST_PORT, dst_port)] {
        if let Some(p) = v {
            out.push((f, Value::Int(i64::from(p))));
        }
    }
    if let Some(d) = domain {
        out.push((QUERY_HOSTNAME, Value::str(d)));
    }
    out
}
