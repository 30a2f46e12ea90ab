//! Reading a segment's rows of a time window: only the row groups whose
//! time statistics overlap it, only the columns asked for.

use std::fs::File;
use std::path::Path;

use arrow_array::{Array, Int64Array, RecordBatch, StringArray};
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::{ParquetRecordBatchReader, ParquetRecordBatchReaderBuilder};
use parquet::file::statistics::Statistics;

use crate::{FIELDS_KEY, FIELDS_TYPED, StoreError};

/// A segment opened for a window.
pub(crate) struct Window {
    /// The batches of the row groups that may hold rows of the window
    /// (`None`: no row group does).
    pub batches: Option<ParquetRecordBatchReader>,
    /// Row groups read, and skipped by their time statistics.
    pub read: usize,
    pub skipped: usize,
    /// The native and common fields are typed JSON (see the codec).
    pub typed: bool,
}

/// Opens `seg` for the rows with `from <= time < to`, reading `columns`
/// (those the segment has) in batches of `batch` rows.
pub(crate) fn open(
    seg: &Path,
    (from, to): (i64, i64),
    columns: &[&str],
    batch: usize,
) -> Result<Window, StoreError> {
    let pq = crate::pq(seg);
    let file = File::open(seg).map_err(crate::io(seg))?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(pq)?;
    let meta = builder.metadata().clone();
    let typed = meta.file_metadata().key_value_metadata().is_some_and(|kv| {
        kv.iter()
            .any(|e| e.key == FIELDS_KEY && e.value.as_deref() == Some(FIELDS_TYPED))
    });
    let groups: Vec<usize> = (0..meta.num_row_groups())
        .filter(|g| match meta.row_group(*g).column(0).statistics() {
            Some(Statistics::Int64(s)) => match (s.min_opt(), s.max_opt()) {
                (Some(min), Some(max)) => *min < to && *max >= from,
                _ => true,
            },
            _ => true,
        })
        .collect();
    let mut w = Window {
        batches: None,
        read: groups.len(),
        skipped: meta.num_row_groups() - groups.len(),
        typed,
    };
    if groups.is_empty() {
        return Ok(w);
    }
    let schema = builder.parquet_schema();
    let wanted: Vec<usize> = columns
        .iter()
        .filter_map(|c| {
            schema
                .columns()
                .iter()
                .position(|d| d.path().string() == *c)
        })
        .collect();
    let mask = ProjectionMask::leaves(schema, wanted);
    w.batches = Some(
        builder
            .with_projection(mask)
            .with_row_groups(groups)
            .with_batch_size(batch)
            .build()
            .map_err(pq)?,
    );
    Ok(w)
}

/// A batch of `seg`, or what went wrong reading it.
pub(crate) fn batch(
    seg: &Path,
    b: Result<RecordBatch, arrow_schema::ArrowError>,
) -> Result<RecordBatch, StoreError> {
    b.map_err(|e| StoreError::Parquet {
        path: seg.to_owned(),
        source: e.into(),
    })
}

/// A batch's times.
pub(crate) fn times(b: &RecordBatch) -> Option<&Int64Array> {
    b.column_by_name("time")
        .and_then(|c| c.as_any().downcast_ref::<Int64Array>())
}

/// A batch's text column.
pub(crate) fn text<'b>(b: &'b RecordBatch, name: &str) -> Option<&'b StringArray> {
    b.column_by_name(name)
        .and_then(|c| c.as_any().downcast_ref::<StringArray>())
}
