//! JSON records from a byte stream: one object per line (JSON Lines, NDJSON),
//! or — when the first line is not a complete value — a whole document holding
//! one value, an array of values, or several concatenated (pretty-printed) values.
//!
//! Line mode streams and recovers after a bad line; document mode reads the
//! document whole and stops at the first syntax error, reporting its line.

use std::io::BufRead;
use std::sync::Arc;

use serde_json::Value as Json;
use vakt_core::Locator;

use crate::RecordError;

/// One JSON record and where it was.
pub(crate) struct JsonRecord {
    pub locator: Locator,
    pub value: Json,
    /// The record's bytes (line mode) — documents keep none, see [`JsonRecord::raw`].
    pub line: Vec<u8>,
}

impl JsonRecord {
    /// The record's raw bytes, for quarantine.
    pub fn raw(&self) -> Vec<u8> {
        if self.line.is_empty() {
            serde_json::to_vec(&self.value).unwrap_or_default()
        } else {
            self.line.clone()
        }
    }
}

enum Mode {
    Start,
    Lines,
    Document(std::vec::IntoIter<Result<JsonRecord, RecordError>>),
    Done,
}

/// Iterator over the JSON records of one input.
pub(crate) struct JsonRecords<R> {
    reader: R,
    path: Arc<str>,
    source: Arc<str>,
    line_no: u64,
    buf: Vec<u8>,
    mode: Mode,
    queued: Option<Result<JsonRecord, RecordError>>,
}

impl<R: BufRead> JsonRecords<R> {
    pub fn new(reader: R, path: Arc<str>, source: Arc<str>) -> Self {
        JsonRecords {
            reader,
            path,
            source,
            line_no: 0,
            buf: Vec::with_capacity(4096),
            mode: Mode::Start,
            queued: None,
        }
    }

    fn error(&self, locator: Locator, reason: String, raw: Vec<u8>) -> RecordError {
        RecordError {
            path: self.path.clone(),
            locator,
            source: self.source.clone(),
            reason,
            raw,
        }
    }

    /// Reads the next non-blank line into `self.buf`; false at end of input.
    fn next_line(&mut self) -> Result<bool, RecordError> {
        loop {
            self.buf.clear();
            match self.reader.read_until(b'\n', &mut self.buf) {
                Ok(0) => return Ok(false),
                Ok(_) => {
                    self.line_no += 1;
                    if self.buf.iter().any(|b| !b.is_ascii_whitespace()) {
                        while self.buf.last().is_some_and(|b| b.is_ascii_whitespace()) {
                            self.buf.pop();
                        }
                        return Ok(true);
                    }
                }
                Err(e) => {
                    return Err(self.error(
                        Locator::Line(self.line_no + 1),
                        format!("read failed: {e}; the rest of the input is lost"),
                        Vec::new(),
                    ));
                }
            }
        }
    }

    fn parse_line(&self) -> Result<JsonRecord, RecordError> {
        let text = trim_start(&self.buf);
        match serde_json::from_slice::<Json>(text) {
            Ok(value) if value.is_object() => Ok(JsonRecord {
                locator: Locator::Line(self.line_no),
                value,
                line: self.buf.clone(),
            }),
            Ok(_) => Err(self.error(
                Locator::Line(self.line_no),
                "not a JSON object".into(),
                self.buf.clone(),
            )),
            Err(e) => Err(self.error(
                Locator::Line(self.line_no),
                format!("malformed JSON: {e}"),
                self.buf.clone(),
            )),
        }
    }

    fn read_document(&mut self, first_line: u64) -> Vec<Result<JsonRecord, RecordError>> {
        let mut doc = std::mem::take(&mut self.buf);
        doc.push(b'\n');
        let mut out = Vec::new();
        if let Err(e) = self.reader.read_to_end(&mut doc) {
            out.push(Err(self.error(
                Locator::Line(first_line),
                format!("read failed: {e}; the rest of the input is lost"),
                Vec::new(),
            )));
            return out;
        }
        let mut index = 0u64;
        let mut stream = serde_json::Deserializer::from_slice(&doc).into_iter::<Json>();
        loop {
            let start = stream.byte_offset();
            match stream.next() {
                None => break,
                Some(Ok(Json::Array(items))) => {
                    for value in items {
                        index += 1;
                        out.push(self.document_item(index, value));
                    }
                }
                Some(Ok(value)) => {
                    index += 1;
                    out.push(self.document_item(index, value));
                }
                Some(Err(e)) => {
                    // Line numbers in serde's error count from the document's first line.
                    let line = first_line + e.line().saturating_sub(1) as u64;
                    out.push(Err(self.error(
                        Locator::Line(line),
                        format!(
                            "malformed JSON: {e} (document line {line}); the rest of this document cannot be read"
                        ),
                        doc.get(start..).unwrap_or_default().to_vec(),
                    )));
                    break;
                }
            }
        }
        out
    }

    fn document_item(&self, index: u64, value: Json) -> Result<JsonRecord, RecordError> {
        if value.is_object() {
            Ok(JsonRecord {
                locator: Locator::Index(index),
                value,
                line: Vec::new(),
            })
        } else {
            Err(self.error(
                Locator::Index(index),
                "not a JSON object".into(),
                serde_json::to_vec(&value).unwrap_or_default(),
            ))
        }
    }
}

fn trim_start(b: &[u8]) -> &[u8] {
    let n = b.iter().take_while(|c| c.is_ascii_whitespace()).count();
    // A UTF-8 byte order mark is allowed before the first record.
    let rest = &b[n..];
    rest.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(rest)
}

impl<R: BufRead> Iterator for JsonRecords<R> {
    type Item = Result<JsonRecord, RecordError>;

    fn next(&mut self) -> Option<Self::Item> {
        if let Some(item) = self.queued.take() {
            return Some(item);
        }
        loop {
            match &mut self.mode {
                Mode::Done => return None,
                Mode::Document(items) => match items.next() {
                    Some(item) => return Some(item),
                    None => self.mode = Mode::Done,
                },
                Mode::Start => match self.next_line() {
                    Err(e) => {
                        self.mode = Mode::Done;
                        return Some(Err(e));
                    }
                    Ok(false) => self.mode = Mode::Done,
                    Ok(true) => {
                        if let Ok(v) = serde_json::from_slice::<Json>(trim_start(&self.buf))
                            && v.is_object()
                        {
                            self.mode = Mode::Lines;
                            return Some(Ok(JsonRecord {
                                locator: Locator::Line(self.line_no),
                                value: v,
                                line: self.buf.clone(),
                            }));
                        }
                        // Either a document (pretty-printed, an array, a Bundle) or JSON
                        // Lines whose first line is damaged: the second line tells.
                        let first = std::mem::take(&mut self.buf);
                        let first_no = self.line_no;
                        let second = self.next_line();
                        let second_is_record = matches!(second, Ok(true))
                            && serde_json::from_slice::<Json>(trim_start(&self.buf))
                                .is_ok_and(|v| v.is_object());
                        if second_is_record {
                            let bad = self.error(
                                Locator::Line(first_no),
                                match serde_json::from_slice::<Json>(trim_start(&first)) {
                                    Err(e) => format!("malformed JSON: {e}"),
                                    Ok(_) => "not a JSON object".into(),
                                },
                                first,
                            );
                            let good = self.parse_line();
                            self.mode = Mode::Lines;
                            self.queued = Some(good);
                            return Some(Err(bad));
                        }
                        let mut doc = first;
                        if matches!(second, Ok(true)) {
                            doc.push(b'\n');
                            doc.extend_from_slice(&self.buf);
                        }
                        self.buf = doc;
                        let items = self.read_document(first_no);
                        self.mode = Mode::Document(items.into_iter());
                    }
                },
                Mode::Lines => {
                    return match self.next_line() {
                        Err(e) => {
                            self.mode = Mode::Done;
                            Some(Err(e))
                        }
                        Ok(false) => {
                            self.mode = Mode::Done;
                            None
                        }
                        Ok(true) => Some(self.parse_line()),
                    };
                }
            }
        }
    }
}
