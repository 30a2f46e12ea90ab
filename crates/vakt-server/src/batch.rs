//! A batch: what one write-ahead log record holds — the tenant (from the
//! token, never from the input), where it came from, and the accepted input
//! in parts of one format each — and how it becomes events. Live and on
//! replay a batch is parsed by the same code, so a replay makes the same
//! events.

use std::sync::Arc;

use vakt_core::Event;
use vakt_ingest::{Format, Options, RecordError, Visit};

/// Input of one format (or sniffed, `None`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    /// The format, or `None` to sniff.
    pub format: Option<Format>,
    /// The bytes as accepted (NDJSON documents, a file, a Bundle).
    pub body: Vec<u8>,
}

/// One acknowledged batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batch {
    /// The tenant, from the token.
    pub tenant: Arc<str>,
    /// Where it came from (`_bulk winlogbeat-8 @1733030000123456789`): the
    /// origin of its events.
    pub origin: String,
    /// When it was received (syslog messages without a time take it).
    pub received: vakt_core::Timestamp,
    /// For lines read from a watched folder: the file and how far it is
    /// read once this batch is in the log (so the position is durable with
    /// the lines, and a restart resumes exactly).
    pub tail: Option<TailMark>,
    /// The input.
    pub parts: Vec<Part>,
}

/// A file's place in a watched folder, kept with the lines read from it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TailPos {
    /// The file as last seen (display only: files are known by device,
    /// inode and fingerprint).
    pub path: String,
    /// Device.
    pub dev: u64,
    /// Inode.
    pub ino: u64,
    /// How many of its first bytes the fingerprint covers.
    pub fp_len: u64,
    /// A hash of those bytes (an inode reused by a new file differs).
    pub fp: u64,
    /// Bytes read (of the decompressed content, for `.gz`).
    pub offset: u64,
    /// Lines read.
    pub lines: u64,
    /// A `.gz` read to its end (it does not grow).
    #[serde(default)]
    pub complete: bool,
}

/// A batch's tail position and how its lines map to the file's.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TailMark {
    /// The watch and file (`watch|dev:ino`).
    pub key: String,
    /// Where the file is read to, with this batch.
    pub pos: TailPos,
    /// Lines put before the file's own (a Zeek TSV header read again).
    pub prefix_lines: u64,
    /// The file's line number of the batch's first own line.
    pub first_line: u64,
}

/// A log record that is not a batch (damage the checksum did not catch, or
/// a newer layout).
#[derive(Debug, thiserror::Error)]
#[error("not a batch: {0}")]
pub struct BadBatch(&'static str);

/// Layout 1: tenant, origin, parts. Layout 2 adds the time received and the tail mark.
const LAYOUT: u8 = 2;

fn format_code(f: Option<Format>) -> u8 {
    match f {
        None => 0,
        Some(f) => 1 + Format::ALL.iter().position(|x| *x == f).unwrap_or(0) as u8,
    }
}

fn format_of(code: u8) -> Result<Option<Format>, BadBatch> {
    match code {
        0 => Ok(None),
        c => Format::ALL
            .get(usize::from(c) - 1)
            .copied()
            .map(Some)
            .ok_or(BadBatch("unknown format")),
    }
}

impl Batch {
    /// The input bytes of the batch.
    pub fn bytes(&self) -> usize {
        self.parts.iter().map(|p| p.body.len()).sum()
    }

    /// The record's payload.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.bytes() + 64);
        out.push(LAYOUT);
        let tail = self
            .tail
            .as_ref()
            .and_then(|t| serde_json::to_string(t).ok())
            .unwrap_or_default();
        for s in [&*self.tenant, self.origin.as_str(), tail.as_str()] {
            out.extend_from_slice(&(s.len() as u32).to_le_bytes());
            out.extend_from_slice(s.as_bytes());
        }
        out.extend_from_slice(&self.received.0.to_le_bytes());
        out.extend_from_slice(&(self.parts.len() as u32).to_le_bytes());
        for p in &self.parts {
            out.push(format_code(p.format));
            out.extend_from_slice(&(p.body.len() as u64).to_le_bytes());
            out.extend_from_slice(&p.body);
        }
        out
    }

    /// A batch from a record's payload.
    pub fn decode(b: &[u8]) -> Result<Batch, BadBatch> {
        let mut r = Reader { b, at: 0 };
        let layout = r.take(1)?[0];
        if layout != 1 && layout != LAYOUT {
            return Err(BadBatch("unknown layout"));
        }
        let tenant = r.text()?;
        let origin = r.text()?;
        let (mut tail, mut received) = (None, vakt_core::Timestamp(0));
        if layout >= 2 {
            let t = r.text()?;
            if !t.is_empty() {
                tail = Some(serde_json::from_str(&t).map_err(|_| BadBatch("tail mark"))?);
            }
            received = vakt_core::Timestamp(i64::from_le_bytes(
                r.take(8)?.try_into().map_err(|_| BadBatch("length"))?,
            ));
        }
        let n = r.u32()?;
        let mut parts = Vec::new();
        for _ in 0..n {
            let format = format_of(r.take(1)?[0])?;
            let len = u64::from_le_bytes(r.take(8)?.try_into().map_err(|_| BadBatch("length"))?);
            let body = r
                .take(usize::try_from(len).map_err(|_| BadBatch("length"))?)?
                .to_vec();
            parts.push(Part { format, body });
        }
        Ok(Batch {
            tenant: Arc::from(tenant),
            origin,
            received,
            tail,
            parts,
        })
    }
}

struct Reader<'a> {
    b: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], BadBatch> {
        let end = self.at.checked_add(n).ok_or(BadBatch("length"))?;
        let s = self.b.get(self.at..end).ok_or(BadBatch("cut short"))?;
        self.at = end;
        Ok(s)
    }

    fn u32(&mut self) -> Result<u32, BadBatch> {
        Ok(u32::from_le_bytes(
            self.take(4)?.try_into().map_err(|_| BadBatch("length"))?,
        ))
    }

    fn text(&mut self) -> Result<String, BadBatch> {
        let n = self.u32()? as usize;
        String::from_utf8(self.take(n)?.to_vec()).map_err(|_| BadBatch("not UTF-8"))
    }
}

/// What parsing a batch gave.
#[derive(Debug, Default)]
pub struct Parsed {
    /// The events, in input order.
    pub events: Vec<Event>,
    /// Records that could not be read (per part, the part's number first).
    pub rejected: Vec<(usize, RecordError)>,
    /// Parts (or inputs inside them) that are in no event format.
    pub skipped: Vec<(usize, String)>,
}

/// Parses every part of `batch` into events of its tenant.
pub fn parse(batch: &Batch) -> Parsed {
    let mut out = Parsed::default();
    for (i, p) in batch.parts.iter().enumerate() {
        let opts = Options {
            format: p.format,
            tenant: batch.tenant.clone(),
            timestamp_field: None,
            chunk_threads: 1,
            received: Some(batch.received),
        };
        let name = if batch.parts.len() == 1 {
            batch.origin.clone()
        } else {
            format!("{} part {}", batch.origin, i + 1)
        };
        // Lines of a watched file keep the file's line numbers.
        let line = |l: &mut vakt_core::Locator| {
            if let (Some(t), vakt_core::Locator::Line(n)) = (&batch.tail, &*l)
                && *n > t.prefix_lines
            {
                *l = vakt_core::Locator::Line(*n - t.prefix_lines + t.first_line - 1);
            }
        };
        let mut visit = |v| match v {
            Visit::Event(mut e) => {
                line(&mut e.origin.locator);
                out.events.push(e)
            }
            Visit::Rejected(mut e) => {
                line(&mut e.locator);
                out.rejected.push((i, e))
            }
            Visit::Skipped { reason, .. } => out.skipped.push((i, reason)),
            Visit::Unreadable(e) => out.skipped.push((i, e.reason)),
            Visit::Opened { .. } => {}
        };
        if p.format == Some(Format::Syslog) {
            // What the syslog listeners received: octet-counted frames.
            let ctx = vakt_ingest::ReadContext::new(&name, &batch.tenant);
            let frames = std::io::Cursor::new(&p.body[..]);
            for item in vakt_ingest::syslog::read_framed(frames, ctx, batch.received) {
                visit(match item {
                    Ok(e) => Visit::Event(e),
                    Err(e) => Visit::Rejected(e),
                });
            }
        } else {
            vakt_ingest::read_bytes(&name, p.body.clone(), &opts, &mut visit);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_reads_back_as_written_and_damage_is_refused() {
        let b = Batch {
            tenant: Arc::from("ahus"),
            origin: "_bulk x @1".into(),
            received: vakt_core::Timestamp(42),
            tail: Some(TailMark {
                key: "w|1:2".into(),
                pos: TailPos {
                    path: "/x/conn.log".into(),
                    dev: 1,
                    ino: 2,
                    fp_len: 10,
                    fp: 7,
                    offset: 100,
                    lines: 3,
                    complete: false,
                },
                prefix_lines: 8,
                first_line: 12,
            }),
            parts: vec![
                Part {
                    format: Some(Format::EvtxJson),
                    body: b"{\"a\":1}\n".to_vec(),
                },
                Part {
                    format: None,
                    body: Vec::new(),
                },
            ],
        };
        let enc = b.encode();
        assert_eq!(Batch::decode(&enc).unwrap(), b);
        assert!(Batch::decode(&enc[..enc.len() - 3]).is_err());
        assert!(Batch::decode(&[]).is_err());
        assert!(Batch::decode(&[2, 0, 0]).is_err());
    }
}
