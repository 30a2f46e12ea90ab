//! Appending events to the store, segment by segment, crash-safe.

use std::fs::File;
use std::path::PathBuf;
use std::sync::Arc;

use parquet::arrow::ArrowWriter;
use rustc_hash::FxHashMap;
use vakt_core::Event;
use vakt_core::pseudo::Pseudonymiser;

use crate::segment::{Columns, properties, row, schema};
use crate::{DAY_NS, StoreError, escape, io, pq};

/// A partition: tenant, day number (since the epoch, UTC), source kind.
type Partition = (Arc<str>, i64, Arc<str>);

/// Appends events to the store in segments.
#[derive(Debug)]
pub struct StoreWriter {
    dir: PathBuf,
    pseudo: Arc<Pseudonymiser>,
    buffers: FxHashMap<Partition, Columns>,
    /// Rows and bytes held in all buffers, and the most that may be: input
    /// that spreads over many days and sources must not be held whole.
    buffered: usize,
    buffered_bytes: usize,
    max_buffered: usize,
    max_buffered_bytes: usize,
    segment_rows: usize,
    group_rows: usize,
    written: u64,
    segments: Vec<PathBuf>,
    seq: u64,
    /// The commit epoch written into segment names (see [`StoreWriter::set_epoch`]).
    epoch: Option<u64>,
    /// The store's writer lock, held while the writer lives.
    _lock: Option<File>,
}

impl StoreWriter {
    /// A writer into `dir` (the store's `events` folder).
    pub(crate) fn new(dir: PathBuf, pseudo: Arc<Pseudonymiser>, lock: Option<File>) -> StoreWriter {
        StoreWriter {
            dir,
            pseudo,
            buffers: FxHashMap::default(),
            buffered: 0,
            buffered_bytes: 0,
            max_buffered: 262_144,
            max_buffered_bytes: 64 << 20,
            segment_rows: 65_536,
            group_rows: 16_384,
            written: 0,
            segments: Vec::new(),
            seq: 0,
            epoch: None,
            _lock: lock,
        }
    }

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

    /// At most about this many bytes of rows held over all partitions
    /// (default 64 MiB): beyond it, the largest partition is written as a
    /// (smaller) segment. Wide events (a Windows event's native fields) fill
    /// memory long before the row count does.
    pub fn with_max_buffered_bytes(mut self, bytes: usize) -> Self {
        self.max_buffered_bytes = bytes.max(1);
        self
    }

    /// Names the segments written from now on as of commit epoch `epoch`
    /// (`seg-<id>-e<epoch>.parquet`). A service that acknowledges input
    /// from its own write-ahead log commits an epoch by recording, after
    /// [`StoreWriter::flush`], that the epoch's log records are stored; after
    /// a crash it removes the segments of epochs it never committed
    /// ([`crate::Store::discard_uncommitted`]) and replays the log from the
    /// last commit, so every acknowledged event is stored exactly once.
    pub fn set_epoch(&mut self, epoch: u64) {
        self.epoch = Some(epoch);
    }

    /// Rows held in memory, not yet in a segment.
    pub fn buffered(&self) -> usize {
        self.buffered
    }

    /// Takes one event; a partition's buffer that is full is written as a
    /// segment, and so is the fullest when all buffers together hold too much.
    pub fn append(&mut self, e: &Event) -> Result<(), StoreError> {
        // The partition: tenant, UTC day (as a day number until written), source kind.
        let day = e.time.0.div_euclid(DAY_NS);
        let key = (e.tenant.clone(), day, e.source.as_arc().clone());
        let r = row(e, &self.pseudo);
        let (full, bytes) = {
            let buf = self.buffers.entry(key.clone()).or_default();
            let before = buf.bytes();
            buf.push(&r);
            (buf.rows() >= self.segment_rows, buf.bytes() - before)
        };
        self.buffered += 1;
        self.buffered_bytes += bytes;
        if full && let Some(cols) = self.buffers.remove(&key) {
            self.take(&cols);
            self.write(&key, cols)?;
        }
        if (self.buffered > self.max_buffered || self.buffered_bytes > self.max_buffered_bytes)
            && let Some(k) = self
                .buffers
                .iter()
                .max_by_key(|(_, b)| b.bytes())
                .map(|(k, _)| k.clone())
            && let Some(cols) = self.buffers.remove(&k)
        {
            self.take(&cols);
            self.write(&k, cols)?;
        }
        Ok(())
    }

    /// A partition's buffer leaves the count of what is held.
    fn take(&mut self, cols: &Columns) {
        self.buffered -= cols.rows();
        self.buffered_bytes -= cols.bytes();
    }

    /// Writes every buffered event; after it returns, all appended events are stored.
    pub fn flush(&mut self) -> Result<(), StoreError> {
        let mut keys: Vec<_> = self.buffers.keys().cloned().collect();
        keys.sort();
        for k in keys {
            if let Some(cols) = self.buffers.remove(&k) {
                self.take(&cols);
                self.write(&k, cols)?;
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

    fn write(&mut self, key: &Partition, cols: Columns) -> Result<(), StoreError> {
        if cols.rows() == 0 {
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
        let id = match self.epoch {
            Some(e) => format!("{id}-e{e}"),
            None => id,
        };
        let done = dir.join(format!("seg-{id}.parquet"));
        let tmp = dir.join(format!("seg-{id}.parquet.tmp"));
        let file = File::create(&tmp).map_err(io(&tmp))?;
        let pq = pq(&tmp);
        let mut w =
            ArrowWriter::try_new(file, schema(), Some(properties(self.group_rows))).map_err(pq)?;
        let rows = cols.finish();
        let mut at = 0;
        while at < rows.num_rows() {
            let n = self.group_rows.min(rows.num_rows() - at);
            w.write(&rows.slice(at, n)).map_err(pq)?;
            w.flush().map_err(pq)?;
            at += n;
        }
        let file = w.into_inner().map_err(pq)?;
        file.sync_all().map_err(io(&tmp))?;
        drop(file);
        std::fs::rename(&tmp, &done).map_err(io(&done))?;
        if let Ok(d) = File::open(&dir) {
            let _ = d.sync_all();
        }
        self.written += rows.num_rows() as u64;
        self.segments.push(done);
        Ok(())
    }
}
