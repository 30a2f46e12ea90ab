//! Look-ups: the stored events that may hold given values, reading only the
//! row groups whose bloom filters say a value may be there — what a
//! retro-hunt of new indicators over the whole history needs
//! (`vakt_intel::retro`).

use std::fs::File;

use arrow_array::{Array, StringArray};
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::file::properties::ReaderProperties;
use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::file::serialized_reader::ReadOptionsBuilder;

use crate::{COLUMNS, Store, StoreError};

/// The columns a look-up reads and hands over, besides `time`.
pub const LOOKUP_COLUMNS: [&str; 12] = [
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
];

/// One stored event a look-up read: `time`, and the [`LOOKUP_COLUMNS`] in
/// their order (`None` where the event has no value).
#[derive(Debug, Clone, Copy)]
pub struct LookupRow<'a> {
    /// ns since the epoch.
    pub time: i64,
    /// The values of [`LOOKUP_COLUMNS`], in order.
    pub values: [Option<&'a str>; 12],
}

impl<'a> LookupRow<'a> {
    /// A column's value by name (one of [`LOOKUP_COLUMNS`]).
    pub fn get(&self, column: &str) -> Option<&'a str> {
        LOOKUP_COLUMNS
            .iter()
            .position(|c| *c == column)
            .and_then(|i| self.values[i])
    }
}

/// What a look-up had to read.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct LookupStats {
    /// Segments in the store, and those opened for data.
    pub segments: (usize, usize),
    /// Row groups in the store, and those read.
    pub row_groups: (usize, usize),
    /// Rows read.
    pub rows: u64,
}

impl Store {
    /// Calls `f` for every stored event of a row group whose bloom filters
    /// say one of `probes` (column, value) may be there — every row group
    /// when `read_all` (values no filter can answer for, such as address
    /// ranges). Columns without a filter are always read.
    pub fn lookup(
        &self,
        probes: &[(&str, String)],
        read_all: bool,
        mut f: impl FnMut(&LookupRow<'_>),
    ) -> Result<LookupStats, StoreError> {
        let mut st = LookupStats::default();
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
            st.segments.0 += 1;
            st.row_groups.0 += groups;
            let mut wanted = Vec::new();
            for g in 0..groups {
                let rg = reader.get_row_group(g).map_err(pq)?;
                let maybe = read_all
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
            st.segments.1 += 1;
            st.row_groups.1 += wanted.len();
            let file = File::open(&seg).map_err(crate::io(&seg))?;
            let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(pq)?;
            let want_cols: Vec<usize> = std::iter::once("time")
                .chain(LOOKUP_COLUMNS)
                .filter_map(|c| COLUMNS.iter().position(|x| *x == c))
                .collect();
            let mask = ProjectionMask::roots(builder.parquet_schema(), want_cols);
            let batches = builder
                .with_row_groups(wanted)
                .with_projection(mask)
                .build()
                .map_err(pq)?;
            for b in batches {
                let b = crate::window::batch(&seg, b)?;
                let n = b.num_rows();
                st.rows += n as u64;
                let time = crate::window::times(&b);
                let cols: Vec<Option<&StringArray>> = LOOKUP_COLUMNS
                    .iter()
                    .map(|c| crate::window::text(&b, c))
                    .collect();
                for r in 0..n {
                    let mut values = [None; 12];
                    for (slot, c) in values.iter_mut().zip(&cols) {
                        *slot = c.filter(|a| !a.is_null(r)).map(|a| a.value(r));
                    }
                    f(&LookupRow {
                        time: time.map_or(0, |a| a.value(r)),
                        values,
                    });
                }
            }
        }
        Ok(st)
    }
}
