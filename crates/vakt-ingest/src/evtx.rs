//! EVTX: Windows XML Event Log files, through the `evtx` crate.
//!
//! Each record is rendered by the crate to JSON and flattened by
//! [`crate::windows`] (System fields under their Sigma names, EventData and
//! UserData under their native names). A chunk the crate cannot read loses
//! only its own records: it is reported once, as an error naming the chunk,
//! and reading goes on with the next chunk. A partial chunk at the end of a
//! truncated file is reported the same way.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{Cursor, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use evtx::{EvtxChunkData, EvtxParser, ParserSettings};
use vakt_core::{Event, Locator, Timestamp};

use crate::windows::{self, SourceKinds};
use crate::{InputError, ReadContext, RecordError};

const FILE_HEADER: usize = 4096;
const CHUNK: usize = 65536;

/// A seekable byte source the parser can own.
trait Source: Read + Seek + Send {}
impl<T: Read + Seek + Send> Source for T {}

/// Where the file's bytes are, to quote a damaged chunk's raw bytes.
enum Bytes {
    Memory(Arc<[u8]>),
    File(PathBuf),
}

/// Reads an EVTX file held in memory (from an archive or a decompressed stream).
pub fn read(data: Arc<[u8]>, ctx: ReadContext) -> Result<EvtxEvents, InputError> {
    let len = data.len() as u64;
    open(
        Box::new(Cursor::new(data.clone())),
        len,
        Bytes::Memory(data),
        ctx,
    )
}

/// Reads an EVTX file from disk, chunk by chunk, without loading it whole.
pub fn read_file(path: &Path, ctx: ReadContext) -> Result<EvtxEvents, InputError> {
    let f =
        File::open(path).map_err(|e| InputError::new(&ctx.path, format!("cannot open: {e}")))?;
    let len = f
        .metadata()
        .map_err(|e| InputError::new(&ctx.path, format!("cannot read: {e}")))?
        .len();
    open(Box::new(f), len, Bytes::File(path.to_owned()), ctx)
}

fn open(
    source: Box<dyn Source>,
    len: u64,
    bytes: Bytes,
    ctx: ReadContext,
) -> Result<EvtxEvents, InputError> {
    let settings = ParserSettings::default().num_threads(1);
    let parser = EvtxParser::from_read_seek(source)
        .map_err(|e| InputError::new(&ctx.path, format!("not a readable EVTX file: {e}")))?
        .with_configuration(settings.clone());
    let body = len.saturating_sub(FILE_HEADER as u64);
    let trailing = (body % CHUNK as u64) as usize;
    let full_chunks = body / CHUNK as u64;
    Ok(EvtxEvents {
        chunks: parser.into_chunks(),
        shared: Shared {
            settings: Arc::new(settings),
            bytes,
            ctx,
        },
        kinds: SourceKinds::default(),
        pending: VecDeque::new(),
        position: 0,
        trailing: (trailing > 0).then_some((full_chunks, trailing)),
        threads: 1,
    })
}

/// The events of one EVTX file, chunk by chunk.
pub struct EvtxEvents {
    chunks: evtx::IntoIterChunks<Box<dyn Source>>,
    shared: Shared,
    kinds: SourceKinds,
    pending: VecDeque<Result<Event, RecordError>>,
    /// Records read so far, to place an error that names no record.
    position: u64,
    trailing: Option<(u64, usize)>,
    /// Chunks rendered at once on this many threads (1: in this thread).
    threads: usize,
}

/// What rendering a chunk needs, shared by the threads that render chunks.
struct Shared {
    settings: Arc<ParserSettings>,
    bytes: Bytes,
    ctx: ReadContext,
}

impl Shared {
    fn error(&self, locator: Locator, reason: String, raw: Vec<u8>) -> RecordError {
        RecordError {
            path: self.ctx.path.clone(),
            locator,
            source: Arc::from("evtx"),
            reason,
            raw,
        }
    }

    /// The raw bytes from chunk `n` on, at most `max` of them (for quarantine).
    fn bytes_at(&self, n: u64, max: usize) -> Vec<u8> {
        let start = (FILE_HEADER as u64).saturating_add(n.saturating_mul(CHUNK as u64));
        match &self.bytes {
            Bytes::Memory(data) => {
                let start = usize::try_from(start).unwrap_or(usize::MAX);
                let end = start.saturating_add(max).min(data.len());
                data.get(start..end).unwrap_or_default().to_vec()
            }
            Bytes::File(path) => {
                let mut out = Vec::new();
                if let Ok(mut f) = File::open(path)
                    && f.seek(SeekFrom::Start(start)).is_ok()
                {
                    let _ = f.take(max as u64).read_to_end(&mut out);
                }
                out
            }
        }
    }

    fn chunk_bytes(&self, n: u64) -> Vec<u8> {
        self.bytes_at(n, CHUNK)
    }

    /// The events (and errors) of one chunk, in record order.
    fn read_chunk(
        &self,
        mut chunk: EvtxChunkData,
        kinds: &mut SourceKinds,
    ) -> Vec<Result<Event, RecordError>> {
        let number = chunk.number.unwrap_or(0);
        let expected = chunk
            .header
            .last_event_record_id
            .saturating_sub(chunk.header.first_event_record_id)
            .saturating_add(1);
        let mut parsed = match chunk.parse(self.settings.clone()) {
            Ok(parsed) => parsed,
            Err(e) => {
                return vec![Err(self.error(
                    Locator::Chunk(number),
                    format!("EVTX chunk {number} cannot be parsed ({e}); its records (about {expected}) are lost"),
                    self.chunk_bytes(number),
                ))];
            }
        };
        let mut out = Vec::new();
        for record in parsed.iter() {
            let item = match record.and_then(|r| r.into_json_bytes()) {
                Ok(rendered) => {
                    // The record's number in the file, as `evtx_dump` shows it.
                    let locator = Locator::Record(rendered.event_record_id);
                    let fallback = nanos(rendered.timestamp.as_nanosecond());
                    windows::event_from_rendered(
                        &rendered.data,
                        &self.ctx,
                        kinds,
                        locator,
                        fallback,
                    )
                    .map_err(|reason| self.error(locator, reason, rendered.data))
                }
                Err(e) => {
                    let locator = match &e {
                        evtx::err::EvtxError::FailedToParseRecord { record_id, .. } => {
                            Locator::Record(*record_id)
                        }
                        _ => Locator::Chunk(number),
                    };
                    Err(self.error(
                        locator,
                        format!("EVTX record in chunk {number} cannot be read: {e}"),
                        self.chunk_bytes(number),
                    ))
                }
            };
            out.push(item);
        }
        out
    }
}

/// One chunk's events, or why the chunk could not be read.
type ChunkResult = Result<Vec<Result<Event, RecordError>>, evtx::err::EvtxError>;

fn nanos(n: i128) -> Option<Timestamp> {
    i64::try_from(n).ok().map(Timestamp)
}

impl EvtxEvents {
    /// Renders the chunks of this file on `threads` threads at a time (for large files).
    pub fn with_threads(mut self, threads: usize) -> Self {
        self.threads = threads.max(1);
        self
    }

    fn chunk_error(&mut self, e: evtx::err::EvtxError) -> RecordError {
        let number = match &e {
            evtx::err::EvtxError::FailedToParseChunk { chunk_id, .. } => Some(*chunk_id),
            _ => None,
        };
        let (locator, raw) = match number {
            Some(n) => (Locator::Chunk(n), self.shared.chunk_bytes(n)),
            None => (Locator::Record(self.position + 1), Vec::new()),
        };
        let mut why = format!("{e}");
        if let Some(src) = std::error::Error::source(&e) {
            why.push_str(&format!(": {src}"));
        }
        let reason = match number {
            Some(n) => format!(
                "EVTX chunk {n} cannot be read ({why}); its records are lost, reading goes on with the next chunk"
            ),
            None => format!("EVTX record cannot be read ({why}); reading goes on"),
        };
        self.shared.error(locator, reason, raw)
    }

    /// Reads the next chunks into `pending`; false when the file is done.
    fn fill(&mut self) -> bool {
        let want = if self.threads > 1 {
            self.threads * 2
        } else {
            1
        };
        let mut batch = Vec::with_capacity(want);
        while batch.len() < want {
            match self.chunks.next() {
                Some(c) => batch.push(c),
                None => break,
            }
        }
        if batch.is_empty() {
            return false;
        }
        if batch.len() == 1 || self.threads == 1 {
            for c in batch {
                match c {
                    Ok(chunk) => {
                        let items = self.shared.read_chunk(chunk, &mut self.kinds);
                        self.position += items.len() as u64;
                        self.pending.extend(items);
                    }
                    Err(e) => {
                        let err = self.chunk_error(e);
                        self.pending.push_back(Err(err));
                    }
                }
            }
            return true;
        }
        // Render the batch on several threads, each a contiguous run of chunks, and keep the order.
        let per = batch.len().div_ceil(self.threads);
        let mut groups: Vec<Vec<Result<EvtxChunkData, evtx::err::EvtxError>>> = Vec::new();
        let mut it = batch.into_iter();
        loop {
            let g: Vec<_> = it.by_ref().take(per).collect();
            if g.is_empty() {
                break;
            }
            groups.push(g);
        }
        let shared = &self.shared;
        let rendered: Vec<Vec<ChunkResult>> = std::thread::scope(|scope| {
            let handles: Vec<_> = groups
                .into_iter()
                .map(|g| {
                    scope.spawn(move || {
                        let mut kinds = SourceKinds::default();
                        g.into_iter()
                            .map(|c| c.map(|chunk| shared.read_chunk(chunk, &mut kinds)))
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_default())
                .collect()
        });
        for r in rendered.into_iter().flatten() {
            match r {
                Ok(items) => {
                    self.position += items.len() as u64;
                    self.pending.extend(items);
                }
                Err(e) => {
                    let err = self.chunk_error(e);
                    self.pending.push_back(Err(err));
                }
            }
        }
        true
    }
}

impl Iterator for EvtxEvents {
    type Item = Result<Event, RecordError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(item) = self.pending.pop_front() {
                return Some(item);
            }
            if !self.fill() {
                let (n, bytes) = self.trailing.take()?;
                let raw = self.shared.bytes_at(n, CHUNK);
                return Some(Err(self.shared.error(
                    Locator::Chunk(n),
                    format!("file is truncated: chunk {n} has only {bytes} of {CHUNK} bytes; its records are lost"),
                    raw,
                )));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use super::*;

    fn evtx_files(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let p = entry.path();
            if p.is_dir() {
                evtx_files(&p, out);
            } else if p.extension().is_some_and(|x| x == "evtx") {
                out.push(p);
            }
        }
    }

    /// The streaming path (rendered bytes straight to fields) and the JSON-value
    /// path (the evtx-json reader's) give the same event for every record of
    /// every EVTX file in the shared data.
    #[test]
    fn streaming_and_value_paths_agree_on_all_shared_evtx() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data");
        let mut files = Vec::new();
        evtx_files(&root.join("evtx"), &mut files);
        evtx_files(&root.join("sigma/regression_data"), &mut files);
        assert!(files.len() > 500, "{} files", files.len());
        let ctx = ReadContext::new("t.evtx", "test");
        let mut records = 0;
        for f in files {
            let mut parser = EvtxParser::from_path(&f)
                .expect("evtx")
                .with_configuration(ParserSettings::default().num_threads(1));
            let mut kinds = SourceKinds::default();
            for r in parser.records_json_bytes().flatten() {
                let loc = Locator::Record(r.event_record_id);
                let fallback = nanos(r.timestamp.as_nanosecond());
                let a = windows::event_from_rendered(&r.data, &ctx, &mut kinds, loc, fallback);
                let json: serde_json::Value = serde_json::from_slice(&r.data).expect("json");
                let b = windows::event_from_json(&json, &ctx, &mut kinds, loc, fallback);
                assert_eq!(a, b, "{} record {}", f.display(), r.event_record_id);
                records += 1;
            }
        }
        assert!(records > 13_000);
    }
}
