//! EVTX: Windows XML Event Log files, through the `evtx` crate.
//!
//! Each record is rendered by the crate to JSON and flattened by
//! [`crate::windows`] (System fields under their Sigma names, EventData and
//! UserData under their native names). A chunk the crate cannot read loses
//! only its own records: it is reported once, as an error naming the chunk,
//! and reading goes on with the next chunk. A partial chunk at the end of a
//! truncated file is reported the same way.

use std::collections::VecDeque;
use std::io::Cursor;
use std::sync::Arc;

use evtx::{EvtxChunkData, EvtxParser, ParserSettings};
use vakt_core::{Event, Locator, Timestamp};

use crate::windows::{self, SourceKinds};
use crate::{InputError, ReadContext, RecordError};

const FILE_HEADER: usize = 4096;
const CHUNK: usize = 65536;

/// Reads an EVTX file held in memory.
pub fn read(data: Arc<[u8]>, ctx: ReadContext) -> Result<EvtxEvents, InputError> {
    let settings = ParserSettings::default().num_threads(1);
    let parser = EvtxParser::from_read_seek(Cursor::new(data.clone()))
        .map_err(|e| InputError::new(&ctx.path, format!("not a readable EVTX file: {e}")))?
        .with_configuration(settings.clone());
    let trailing = data.len().saturating_sub(FILE_HEADER) % CHUNK;
    let full_chunks = data.len().saturating_sub(FILE_HEADER) / CHUNK;
    Ok(EvtxEvents {
        chunks: parser.into_chunks(),
        settings: Arc::new(settings),
        data,
        ctx,
        kinds: SourceKinds::default(),
        pending: VecDeque::new(),
        position: 0,
        trailing: (trailing > 0).then_some((full_chunks as u64, trailing)),
    })
}

/// The events of one EVTX file, chunk by chunk.
pub struct EvtxEvents {
    chunks: evtx::IntoIterChunks<Cursor<Arc<[u8]>>>,
    settings: Arc<ParserSettings>,
    data: Arc<[u8]>,
    ctx: ReadContext,
    kinds: SourceKinds,
    pending: VecDeque<Result<Event, RecordError>>,
    /// Records emitted or rejected so far: the 1-based record number of the next.
    position: u64,
    trailing: Option<(u64, usize)>,
}

impl EvtxEvents {
    fn error(&self, locator: Locator, reason: String, raw: Vec<u8>) -> RecordError {
        RecordError {
            path: self.ctx.path.clone(),
            locator,
            source: self.kinds_default(),
            reason,
            raw,
        }
    }

    fn kinds_default(&self) -> Arc<str> {
        Arc::from("evtx")
    }

    fn chunk_bytes(&self, n: u64) -> Vec<u8> {
        let start = FILE_HEADER.saturating_add((n as usize).saturating_mul(CHUNK));
        let end = start.saturating_add(CHUNK).min(self.data.len());
        self.data.get(start..end).unwrap_or_default().to_vec()
    }

    fn read_chunk(&mut self, mut chunk: EvtxChunkData) {
        let number = chunk.number.unwrap_or(0);
        let expected = chunk
            .header
            .last_event_record_id
            .saturating_sub(chunk.header.first_event_record_id)
            .saturating_add(1);
        let parsed = match chunk.parse(self.settings.clone()) {
            Ok(parsed) => parsed,
            Err(e) => {
                let raw = self.chunk_bytes(number);
                let err = self.error(
                    Locator::Chunk(number),
                    format!("EVTX chunk {number} cannot be parsed ({e}); its records (about {expected}) are lost"),
                    raw,
                );
                self.pending.push_back(Err(err));
                return;
            }
        };
        let mut parsed = parsed;
        let mut out = Vec::new();
        for record in parsed.iter() {
            self.position += 1;
            let item = match record.and_then(|r| r.into_json_bytes()) {
                Ok(rendered) => {
                    // The record's number in the file, as `evtx_dump` shows it.
                    let locator = Locator::Record(rendered.event_record_id);
                    let fallback = nanos(rendered.timestamp.as_nanosecond());
                    let mapped = windows::event_from_rendered(
                        &rendered.data,
                        &self.ctx,
                        &mut self.kinds,
                        locator,
                        fallback,
                    );
                    mapped.map_err(|reason| self.error(locator, reason, rendered.data))
                }
                Err(e) => {
                    let locator = match &e {
                        evtx::err::EvtxError::FailedToParseRecord { record_id, .. } => {
                            Locator::Record(*record_id)
                        }
                        _ => Locator::Chunk(number),
                    };
                    let raw = self.chunk_bytes(number);
                    Err(self.error(
                        locator,
                        format!("EVTX record in chunk {number} cannot be read: {e}"),
                        raw,
                    ))
                }
            };
            out.push(item);
        }
        self.pending.extend(out);
    }
}

fn nanos(n: i128) -> Option<Timestamp> {
    i64::try_from(n).ok().map(Timestamp)
}

impl Iterator for EvtxEvents {
    type Item = Result<Event, RecordError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(item) = self.pending.pop_front() {
                return Some(item);
            }
            match self.chunks.next() {
                Some(Ok(chunk)) => self.read_chunk(chunk),
                Some(Err(e)) => {
                    let number = match &e {
                        evtx::err::EvtxError::FailedToParseChunk { chunk_id, .. } => {
                            Some(*chunk_id)
                        }
                        _ => None,
                    };
                    let (locator, raw) = match number {
                        Some(n) => (Locator::Chunk(n), self.chunk_bytes(n)),
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
                    return Some(Err(self.error(locator, reason, raw)));
                }
                None => {
                    let (n, bytes) = self.trailing.take()?;
                    let start = FILE_HEADER + n as usize * CHUNK;
                    let raw = self.data.get(start..).unwrap_or_default().to_vec();
                    return Some(Err(self.error(
                        Locator::Chunk(n),
                        format!(
                            "file is truncated: chunk {n} has only {bytes} of {CHUNK} bytes; its records are lost"
                        ),
                        raw,
                    )));
                }
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
