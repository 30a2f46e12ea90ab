//! Events from JSON records: the shared driver of every JSON-based reader.

use std::collections::VecDeque;
use std::io::BufRead;
use std::sync::Arc;

use serde_json::Value as Json;
use vakt_core::{Event, Locator};

use crate::RecordError;
use crate::json_stream::JsonRecords;

/// Maps one JSON record to zero or more events (a FHIR Bundle holds many).
pub trait RecordMapper {
    /// The source kind to name in errors when the record gives none.
    fn source(&self) -> Arc<str>;
    /// Appends the record's events to `out`, or says what was wrong.
    fn map(&mut self, value: &Json, locator: Locator, out: &mut Vec<Event>) -> Result<(), String>;
}

/// Iterator of events over an input of JSON records.
pub struct JsonEvents<R, M> {
    records: JsonRecords<R>,
    mapper: M,
    pending: VecDeque<Event>,
    scratch: Vec<Event>,
    path: Arc<str>,
}

impl<R: BufRead, M: RecordMapper> JsonEvents<R, M> {
    /// Events of `reader`, mapped by `mapper`.
    pub fn new(reader: R, path: Arc<str>, mapper: M) -> Self {
        JsonEvents {
            records: JsonRecords::new(reader, path.clone(), mapper.source()),
            mapper,
            pending: VecDeque::new(),
            scratch: Vec::new(),
            path,
        }
    }
}

impl<R: BufRead, M: RecordMapper> Iterator for JsonEvents<R, M> {
    type Item = Result<Event, RecordError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(e) = self.pending.pop_front() {
                return Some(Ok(e));
            }
            let record = match self.records.next()? {
                Ok(r) => r,
                Err(e) => return Some(Err(e)),
            };
            self.scratch.clear();
            let mapped = self
                .mapper
                .map(&record.value, record.locator, &mut self.scratch);
            // Events mapped before a problem (the good entries of a Bundle) are kept.
            self.pending.extend(self.scratch.drain(..));
            match mapped {
                Ok(()) => {}
                Err(reason) => {
                    // The error comes first; the good events of the same record follow it.
                    return Some(Err(RecordError {
                        path: self.path.clone(),
                        locator: record.locator,
                        source: self.mapper.source(),
                        reason,
                        raw: record.raw(),
                    }));
                }
            }
        }
    }
}
