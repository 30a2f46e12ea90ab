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
    /// The input.
    pub parts: Vec<Part>,
}

/// A log record that is not a batch (damage the checksum did not catch, or
/// a newer layout).
#[derive(Debug, thiserror::Error)]
#[error("not a batch: {0}")]
pub struct BadBatch(&'static str);

const LAYOUT: u8 = 1;

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
        for s in [&*self.tenant, self.origin.as_str()] {
            out.extend_from_slice(&(s.len() as u32).to_le_bytes());
            out.extend_from_slice(s.as_bytes());
        }
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
        if r.take(1)?[0] != LAYOUT {
            return Err(BadBatch("unknown layout"));
        }
        let tenant = r.text()?;
        let origin = r.text()?;
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
        };
        let name = if batch.parts.len() == 1 {
            batch.origin.clone()
        } else {
            format!("{} part {}", batch.origin, i + 1)
        };
        vakt_ingest::read_bytes(&name, p.body.clone(), &opts, &mut |v| match v {
            Visit::Event(e) => out.events.push(e),
            Visit::Rejected(e) => out.rejected.push((i, e)),
            Visit::Skipped { reason, .. } => out.skipped.push((i, reason)),
            Visit::Unreadable(e) => out.skipped.push((i, e.reason)),
            Visit::Opened { .. } => {}
        });
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
