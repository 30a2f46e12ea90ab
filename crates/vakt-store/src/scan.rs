//! Scans: the stored events of some source kinds in a time range, a few
//! columns at a time — what breach scoping reads (who accessed which patient
//! from where, who logged on from where).

use arrow_array::{Array, StringArray};

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
            let columns: Vec<&str> = std::iter::once("time")
                .chain(SCAN_COLUMNS.into_iter().filter(|c| columns.contains(c)))
                .collect();
            let w = crate::window::open(&seg, (from, to), &columns, 16_384)?;
            st.row_groups_skipped += w.skipped;
            st.row_groups_read += w.read;
            let Some(batches) = w.batches else {
                continue;
            };
            for b in batches {
                let b = crate::window::batch(&seg, b)?;
                let Some(time) = crate::window::times(&b) else {
                    continue;
                };
                let col = |name: &str| crate::window::text(&b, name);
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
