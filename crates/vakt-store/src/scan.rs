//! Scans: the stored events of some source kinds in a time range, a few
//! columns at a time — what breach scoping reads (who accessed which patient
//! from where, who logged on from where).

use std::fs::File;

use arrow_array::{Array, Int64Array, StringArray};
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::file::statistics::Statistics;

use vakt_core::SourceKind;

use crate::{Store, StoreError, day_start, partition, unescape};

/// One stored event as a scan sees it (columns not asked for are `None`).
#[derive(Debug, Clone, Copy)]
pub struct ScanRow<'a> {
    /// ns since the epoch.
    pub time: i64,
    /// Tenant (partition).
    pub tenant: &'a str,
    /// Source kind (partition).
    pub source: &'a str,
    /// Account.
    pub user: Option<&'a str>,
    /// Source address.
    pub src_ip: Option<&'a str>,
    /// Destination address.
    pub dst_ip: Option<&'a str>,
    /// Patients (pseudonyms, space-separated).
    pub patient: Option<&'a str>,
    /// Activity.
    pub action: Option<&'a str>,
    /// Where the event was read.
    pub origin_path: Option<&'a str>,
    /// Line/record in that file.
    pub origin_at: Option<&'a str>,
}

/// What a scan read.
#[derive(Debug, Default, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ScanStats {
    /// Segments of the wanted source kinds and days, and row groups read.
    pub segments: usize,
    /// Row groups read (others skipped by their time statistics).
    pub row_groups_read: usize,
    /// Row groups skipped.
    pub row_groups_skipped: usize,
    /// Rows read.
    pub rows: u64,
}

/// The columns a scan can read besides `time` (ask for as few as needed).
pub const SCAN_COLUMNS: [&str; 7] = [
    "user",
    "src_ip",
    "dst_ip",
    "patient",
    "action",
    "origin_path",
    "origin_at",
];

impl Store {
    /// Calls `f` for every stored event whose source kind `sources` accepts
    /// with `from <= time < to`, with the `columns` asked for (of
    /// [`SCAN_COLUMNS`]; the others are `None`). Day partitions outside the
    /// range are not opened; row groups whose time statistics lie outside it
    /// are not read.
    pub fn scan(
        &self,
        sources: &dyn Fn(&SourceKind) -> bool,
        from: i64,
        to: i64,
        columns: &[&str],
        mut f: impl FnMut(&ScanRow<'_>),
    ) -> Result<ScanStats, StoreError> {
        const DAY: i64 = 86_400_000_000_000;
        let mut st = ScanStats::default();
        for seg in self.segments() {
            let source = partition(&seg, "source=").map(unescape).unwrap_or_default();
            if !sources(&SourceKind::new(&source)) {
                continue;
            }
            if let Some(start) = partition(&seg, "day=").and_then(day_start)
                && (start >= to || start + DAY <= from)
            {
                continue;
            }
            let tenant = partition(&seg, "tenant=").map(unescape).unwrap_or_default();
            st.segments += 1;
            let pq = crate::pq(&seg);
            let file = File::open(&seg).map_err(crate::io(&seg))?;
            let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(pq)?;
            let meta = builder.metadata().clone();
            let groups: Vec<usize> = (0..meta.num_row_groups())
                .filter(|g| {
                    let keep = match meta.row_group(*g).column(0).statistics() {
                        Some(Statistics::Int64(s)) => match (s.min_opt(), s.max_opt()) {
                            (Some(min), Some(max)) => *min < to && *max >= from,
                            _ => true,
                        },
                        _ => true,
                    };
                    if !keep {
                        st.row_groups_skipped += 1;
                    }
                    keep
                })
                .collect();
            if groups.is_empty() {
                continue;
            }
            st.row_groups_read += groups.len();
            let schema = builder.parquet_schema();
            let wanted: Vec<usize> = std::iter::once("time")
                .chain(SCAN_COLUMNS.into_iter().filter(|c| columns.contains(c)))
                .filter_map(|c| schema.columns().iter().position(|d| d.path().string() == c))
                .collect();
            let mask = ProjectionMask::leaves(schema, wanted);
            let reader = builder
                .with_projection(mask)
                .with_row_groups(groups)
                .with_batch_size(16_384)
                .build()
                .map_err(pq)?;
            for batch in reader {
                let b = batch.map_err(|e| StoreError::Parquet {
                    path: seg.clone(),
                    source: e.into(),
                })?;
                let Some(time) = b
                    .column_by_name("time")
                    .and_then(|c| c.as_any().downcast_ref::<Int64Array>())
                else {
                    continue;
                };
                let col = |name: &str| {
                    b.column_by_name(name)
                        .and_then(|c| c.as_any().downcast_ref::<StringArray>())
                };
                let cols: Vec<Option<&StringArray>> = SCAN_COLUMNS.iter().map(|c| col(c)).collect();
                let get = |k: usize, i: usize| -> Option<&str> {
                    let c = cols[k]?;
                    (!c.is_null(i)).then(|| c.value(i))
                };
                for i in 0..b.num_rows() {
                    let t = time.value(i);
                    if t < from || t >= to {
                        continue;
                    }
                    st.rows += 1;
                    f(&ScanRow {
                        time: t,
                        tenant: &tenant,
                        source: &source,
                        user: get(0, i),
                        src_ip: get(1, i),
                        dst_ip: get(2, i),
                        patient: get(3, i),
                        action: get(4, i),
                        origin_path: get(5, i),
                        origin_at: get(6, i),
                    });
                }
            }
        }
        Ok(st)
    }
}
