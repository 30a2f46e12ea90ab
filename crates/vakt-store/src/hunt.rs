//! Retro-hunt: every stored event matched against new indicators, reading
//! only the row groups whose bloom filters say a value may be there.

use std::collections::BTreeSet;
use std::fs::File;

use arrow_array::{Array, Int64Array, StringArray};
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::file::properties::ReaderProperties;
use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::file::serialized_reader::ReadOptionsBuilder;
use vakt_intel::{Indicator, Kind, Matcher};

use crate::{COLUMNS, Store, StoreError, domain_base};

/// Where and when one indicator was seen in the stored history.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Sighting {
    /// The indicator's kind.
    pub kind: &'static str,
    /// Its value.
    pub value: String,
    /// Where it came from (file or feed) and its id there.
    pub source: String,
    /// Its id in the source.
    pub id: String,
    /// Events that matched.
    pub count: u64,
    /// First and last matching event (ns).
    pub first: i64,
    /// Last matching event (ns).
    pub last: i64,
    /// Hosts (names, else source addresses) involved.
    pub hosts: BTreeSet<String>,
    /// Accounts involved.
    pub users: BTreeSet<String>,
    /// Source kinds of the matching events.
    pub sources: BTreeSet<String>,
    /// The first few matching events' origins (`file:line`).
    pub origins: Vec<String>,
}

/// A retro-hunt's result.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct Sightings {
    /// Per indicator that was seen, in the indicators' order.
    pub sightings: Vec<Sighting>,
    /// Segments in the store, and those the look-up had to open for data.
    pub segments: (usize, usize),
    /// Row groups in the store, and those read.
    pub row_groups: (usize, usize),
    /// Events read and compared.
    pub events_read: u64,
    /// Indicators whose kind the store cannot look up (e-mail addresses).
    pub not_searchable: usize,
}

fn strings(b: &arrow_array::RecordBatch, name: &str) -> Option<StringArray> {
    let i = b.schema().index_of(name).ok()?;
    b.column(i).as_any().downcast_ref::<StringArray>().cloned()
}

impl Store {
    /// Searches the whole stored history for these indicators.
    pub fn retro_hunt(&self, indicators: &[Indicator]) -> Result<Sightings, StoreError> {
        let mut out = Sightings::default();
        let matcher = Matcher::new(indicators.to_vec());
        // What to ask each bloom filter: (column, value).
        let mut probes: Vec<(&str, String)> = Vec::new();
        let mut must_read_ips = false;
        for i in indicators {
            match i.kind {
                Kind::Ip => {
                    probes.push(("src_ip", i.value.clone()));
                    probes.push(("dst_ip", i.value.clone()));
                }
                Kind::Cidr => must_read_ips = true,
                Kind::Domain => probes.push(("domain_base", domain_base(&i.value).to_owned())),
                Kind::Url => probes.push(("url", i.value.replacen("https://", "http://", 1))),
                Kind::Md5 => probes.push(("md5", i.value.clone())),
                Kind::Sha1 => probes.push(("sha1", i.value.clone())),
                Kind::Sha256 => probes.push(("sha256", i.value.clone())),
                Kind::Email => out.not_searchable += 1,
            }
        }
        let mut found: Vec<Option<Sighting>> = vec![None; indicators.len()];
        for seg in self.segments() {
            let pq = crate::pq(&seg);
            let file = File::open(&seg).map_err(crate::io(&seg))?;
            let reader = SerializedFileReader::new_with_options(
                file,
                ReadOptionsBuilder::new()
                    .with_reader_properties(
                        ReaderProperties::builder()
                            .set_read_bloom_filter(true)
                            .build(),
                    )
                    .build(),
            )
            .map_err(pq)?;
            let meta = reader.metadata();
            let col_index = |name: &str| {
                meta.file_metadata()
                    .schema_descr()
                    .columns()
                    .iter()
                    .position(|c| c.path().string() == name)
            };
            let groups = meta.num_row_groups();
            out.segments.0 += 1;
            out.row_groups.0 += groups;
            let mut wanted = Vec::new();
            for g in 0..groups {
                let rg = reader.get_row_group(g).map_err(pq)?;
                let maybe = must_read_ips
                    || probes.iter().any(|(col, v)| match col_index(col) {
                        // Without a filter for the column, the row group must be read.
                        Some(ci) => rg
                            .get_column_bloom_filter(ci)
                            .is_none_or(|f| f.check(&v.as_str())),
                        None => true,
                    });
                if maybe {
                    wanted.push(g);
                }
            }
            if wanted.is_empty() {
                continue;
            }
            out.segments.1 += 1;
            out.row_groups.1 += wanted.len();
            let file = File::open(&seg).map_err(crate::io(&seg))?;
            let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(pq)?;
            let want_cols: Vec<usize> = [
                "time",
                "source",
                "host",
                "user",
                "src_ip",
                "dst_ip",
                "domain",
                "url",
                "md5",
                "sha1",
                "sha256",
                "origin_path",
                "origin_at",
            ]
            .iter()
            .filter_map(|c| COLUMNS.iter().position(|x| x == c))
            .collect();
            let mask = ProjectionMask::roots(builder.parquet_schema(), want_cols);
            let batches = builder
                .with_row_groups(wanted)
                .with_projection(mask)
                .build()
                .map_err(pq)?;
            for b in batches {
                let b = b.map_err(|e| pq(parquet::errors::ParquetError::External(Box::new(e))))?;
                let n = b.num_rows();
                out.events_read += n as u64;
                let time = b
                    .column(b.schema().index_of("time").unwrap_or(0))
                    .as_any()
                    .downcast_ref::<Int64Array>()
                    .cloned();
                let get = |name| strings(&b, name);
                let (src, dst, dom, url) =
                    (get("src_ip"), get("dst_ip"), get("domain"), get("url"));
                let (md5, sha1, sha256) = (get("md5"), get("sha1"), get("sha256"));
                let (host, user, source, path, at) = (
                    get("host"),
                    get("user"),
                    get("source"),
                    get("origin_path"),
                    get("origin_at"),
                );
                let val = |a: &Option<StringArray>, r: usize| -> Option<String> {
                    a.as_ref()
                        .filter(|a| !a.is_null(r))
                        .map(|a| a.value(r).to_owned())
                };
                for r in 0..n {
                    let mut hits: Vec<u32> = Vec::new();
                    for a in [&src, &dst] {
                        if let Some(ip) = val(a, r).and_then(|s| s.parse().ok()) {
                            matcher.ip(ip, |i| hits.push(i));
                        }
                    }
                    if let Some(d) = val(&dom, r) {
                        matcher.name(&d, |i| hits.push(i));
                    }
                    if let Some(u) = val(&url, r) {
                        matcher.url(&u, |i| hits.push(i));
                        matcher.url(&u.replacen("http://", "https://", 1), |i| hits.push(i));
                    }
                    for a in [&md5, &sha1, &sha256] {
                        if let Some(h) = val(a, r) {
                            matcher.hash(&h, |i| hits.push(i));
                        }
                    }
                    if hits.is_empty() {
                        continue;
                    }
                    hits.sort_unstable();
                    hits.dedup();
                    let t = time.as_ref().map_or(0, |a| a.value(r));
                    for i in hits {
                        let ind = &indicators[i as usize];
                        let s = found[i as usize].get_or_insert_with(|| Sighting {
                            kind: ind.kind.name(),
                            value: ind.value.clone(),
                            source: ind.source.to_string(),
                            id: ind.id.clone(),
                            count: 0,
                            first: t,
                            last: t,
                            hosts: BTreeSet::new(),
                            users: BTreeSet::new(),
                            sources: BTreeSet::new(),
                            origins: Vec::new(),
                        });
                        s.count += 1;
                        s.first = s.first.min(t);
                        s.last = s.last.max(t);
                        if let Some(h) = val(&host, r).or_else(|| val(&src, r))
                            && s.hosts.len() < 100
                        {
                            s.hosts.insert(h);
                        }
                        if let Some(u) = val(&user, r)
                            && s.users.len() < 100
                        {
                            s.users.insert(u);
                        }
                        if let Some(k) = val(&source, r) {
                            s.sources.insert(k);
                        }
                        if s.origins.len() < 5 {
                            s.origins.push(format!(
                                "{}:{}",
                                val(&path, r).unwrap_or_default(),
                                val(&at, r).unwrap_or_default()
                            ));
                        }
                    }
                }
            }
        }
        out.sightings = found.into_iter().flatten().collect();
        Ok(out)
    }
}
