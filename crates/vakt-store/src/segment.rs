//! One segment's rows: an event as a row of the store's columns, rows as
//! Arrow record batches, and the Parquet writer properties (snappy, row
//! groups, bloom filters).

use std::sync::Arc;

use arrow_array::builder::{Int32Builder, Int64Builder, StringBuilder};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema};
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use parquet::schema::types::ColumnPath;
use vakt_core::field::*;
use vakt_core::pseudo::Pseudonymiser;
use vakt_core::{Event, SourceFamily, Value};

use crate::{COLUMNS, INDICATOR_COLUMNS, codec, domain_base};

pub(crate) fn schema() -> Arc<Schema> {
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

/// One event as a row.
#[derive(Debug, Default, Clone)]
pub(crate) struct Row {
    time: i64,
    text: [Option<String>; 17],
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
const T_COMMON: usize = 16;

fn s(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::Str(s) if !s.is_empty() => Some(s.to_string()),
        Value::Ip(ip) => Some(ip.to_string()),
        Value::Int(i) => Some(i.to_string()),
        _ => None,
    }
}

pub(crate) fn row(e: &Event, pseudo: &Pseudonymiser) -> Row {
    let mut r = Row {
        time: e.time.0,
        ..Default::default()
    };
    let t = &mut r.text;
    t[T_SOURCE] = Some(e.source.as_str().to_owned());
    t[T_HOST] = s(e.common(DEVICE_HOSTNAME)).or_else(|| s(e.get_named("Computer")));
    // An EHR access names its agent by reference (`Practitioner/<id>`): unique,
    // where the display name is not.
    let ehr_agent = if e.source.family() == SourceFamily::FhirAuditEvent
        || e.source.family() == SourceFamily::Fhir
    {
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
    // Native fields, typed; an EHR event's patient references stay out.
    let ehr = e.source.is_fhir_audit_event();
    t[T_NATIVE] = Some(codec::encode(&e.fields, |n| {
        ehr && (n.starts_with("entity") || n.starts_with("patient"))
    }));
    // Common fields, typed; the patient is in its own column, pseudonymised.
    t[T_COMMON] = Some(codec::encode(&e.common, |n| n == PATIENT_UID.name()));
    r
}

/// A partition's rows as they arrive, column by column: strings packed in
/// one buffer per column (a row costs its bytes and an offset per column,
/// not an allocation per value).
#[derive(Debug)]
pub(crate) struct Columns {
    time: Int64Builder,
    text: [StringBuilder; 17],
    src_port: Int32Builder,
    dst_port: Int32Builder,
    rows: usize,
    bytes: usize,
}

impl Default for Columns {
    fn default() -> Self {
        Columns {
            time: Int64Builder::new(),
            text: std::array::from_fn(|_| StringBuilder::new()),
            src_port: Int32Builder::new(),
            dst_port: Int32Builder::new(),
            rows: 0,
            bytes: 0,
        }
    }
}

/// Per row, besides its strings: time, ports, offsets, validity.
const ROW_OVERHEAD: usize = 8 + 2 * 4 + 17 * 4 + 3;

impl Columns {
    /// Appends a row.
    pub(crate) fn push(&mut self, r: &Row) {
        self.time.append_value(r.time);
        self.src_port.append_option(r.src_port);
        self.dst_port.append_option(r.dst_port);
        for (b, v) in self.text.iter_mut().zip(&r.text) {
            self.bytes += v.as_ref().map_or(0, String::len);
            b.append_option(v.as_deref());
        }
        self.bytes += ROW_OVERHEAD;
        self.rows += 1;
    }

    /// Rows held.
    pub(crate) fn rows(&self) -> usize {
        self.rows
    }

    /// Bytes held (about).
    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }

    /// The rows as one record batch, in the order they came.
    pub(crate) fn finish(mut self) -> RecordBatch {
        let mut cols: Vec<ArrayRef> = Vec::with_capacity(COLUMNS.len());
        cols.push(Arc::new(self.time.finish()));
        for i in [T_SOURCE, T_HOST, T_USER, T_SRC, T_DST] {
            cols.push(Arc::new(self.text[i].finish()));
        }
        cols.push(Arc::new(self.src_port.finish()));
        cols.push(Arc::new(self.dst_port.finish()));
        for i in T_DOMAIN..=T_COMMON {
            cols.push(Arc::new(self.text[i].finish()));
        }
        RecordBatch::try_new(schema(), cols).expect("columns match the schema")
    }
}

pub(crate) fn properties(rows_per_group: usize) -> WriterProperties {
    let mut b = WriterProperties::builder()
        .set_key_value_metadata(Some(vec![parquet::file::metadata::KeyValue::new(
            crate::FIELDS_KEY.to_owned(),
            crate::FIELDS_TYPED.to_owned(),
        )]))
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
