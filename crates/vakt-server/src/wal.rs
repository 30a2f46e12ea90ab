//! The write-ahead log: every batch the service acknowledges, on disk before
//! the answer goes out.
//!
//! Files `wal-<first seq>.log` in one folder; a record is
//! `[payload length u32][crc32 u32][seq u64][payload]` (little-endian; the
//! checksum covers seq and payload). [`Wal::append`] writes a group of
//! records and fsyncs once (group commit). On open, a torn record at the end
//! of the newest file (a crash mid-write: never acknowledged) is cut off;
//! [`replay`] hands back the records after a checkpoint, and
//! [`remove_through`] deletes the files the store has fully taken.

use std::fs::{File, OpenOptions};
use std::io::{BufReader, Read, Write};
use std::path::{Path, PathBuf};

/// Bytes before a record's payload.
const HEADER: usize = 16;
/// No record is larger (a batch is bounded far below this).
const MAX_RECORD: usize = 1 << 30;

/// A log error.
#[derive(Debug, thiserror::Error)]
#[error("write-ahead log {path}: {source}")]
pub struct WalError {
    /// The file.
    pub path: PathBuf,
    /// Why.
    pub source: std::io::Error,
}

fn err(path: &Path) -> impl FnOnce(std::io::Error) -> WalError + '_ {
    move |source| WalError {
        path: path.to_owned(),
        source,
    }
}

/// The log, open for appending.
#[derive(Debug)]
pub struct Wal {
    dir: PathBuf,
    file: File,
    path: PathBuf,
    size: u64,
    next: u64,
    max_file: u64,
}

/// The log's files, by first sequence number.
fn files(dir: &Path) -> Vec<(u64, PathBuf)> {
    let mut v: Vec<(u64, PathBuf)> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let p = e.path();
            let n = p.file_name()?.to_str()?;
            let seq = n.strip_prefix("wal-")?.strip_suffix(".log")?.parse().ok()?;
            Some((seq, p))
        })
        .collect();
    v.sort();
    v
}

fn name(dir: &Path, first: u64) -> PathBuf {
    dir.join(format!("wal-{first:020}.log"))
}

fn sync_dir(dir: &Path) {
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

/// Reads a file's records, calling `f` for each; returns the length of its
/// whole records (a torn or damaged tail is not counted).
fn scan(path: &Path, mut f: impl FnMut(u64, Vec<u8>)) -> Result<u64, WalError> {
    let file = File::open(path).map_err(err(path))?;
    let mut r = BufReader::with_capacity(1 << 20, file);
    let mut good = 0u64;
    let mut head = [0u8; HEADER];
    loop {
        if r.read_exact(&mut head).is_err() {
            return Ok(good);
        }
        let len = u32::from_le_bytes([head[0], head[1], head[2], head[3]]) as usize;
        let crc = u32::from_le_bytes([head[4], head[5], head[6], head[7]]);
        let mut seq_bytes = [0u8; 8];
        seq_bytes.copy_from_slice(&head[8..16]);
        if len > MAX_RECORD {
            return Ok(good);
        }
        let mut payload = vec![0u8; len];
        if r.read_exact(&mut payload).is_err() {
            return Ok(good);
        }
        let mut h = crc32fast::Hasher::new();
        h.update(&seq_bytes);
        h.update(&payload);
        if h.finalize() != crc {
            return Ok(good);
        }
        good += (HEADER + len) as u64;
        f(u64::from_le_bytes(seq_bytes), payload);
    }
}

/// Calls `f` with every record after sequence number `after`, in order.
/// Returns the sequence number the log continues with.
pub fn replay(dir: &Path, after: u64, mut f: impl FnMut(u64, Vec<u8>)) -> Result<u64, WalError> {
    let mut last = after;
    for (first, path) in files(dir) {
        let _ = first;
        scan(&path, |seq, payload| {
            last = last.max(seq);
            if seq > after {
                f(seq, payload);
            }
        })?;
    }
    Ok(last + 1)
}

/// Deletes the log files whose records are all at or before `seq` (the
/// newest file is kept: it is being appended to).
pub fn remove_through(dir: &Path, seq: u64) -> usize {
    let fs = files(dir);
    let mut removed = 0;
    for w in fs.windows(2) {
        // Every record of w[0] comes before w[1]'s first.
        if w[1].0 <= seq + 1 && std::fs::remove_file(&w[0].1).is_ok() {
            removed += 1;
        }
    }
    if removed > 0 {
        sync_dir(dir);
    }
    removed
}

impl Wal {
    /// Opens the log in `dir` for appending from sequence number `next`
    /// (what [`replay`] returned), cutting a torn tail off the newest file.
    pub fn open(dir: &Path, next: u64, max_file: u64) -> Result<Wal, WalError> {
        std::fs::create_dir_all(dir).map_err(err(dir))?;
        let (path, size) = match files(dir).pop() {
            Some((_, p)) => {
                let good = scan(&p, |_, _| {})?;
                let f = OpenOptions::new().write(true).open(&p).map_err(err(&p))?;
                if f.metadata().map_err(err(&p))?.len() > good {
                    f.set_len(good).map_err(err(&p))?;
                    f.sync_all().map_err(err(&p))?;
                }
                (p, good)
            }
            None => (name(dir, next), 0),
        };
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(err(&path))?;
        sync_dir(dir);
        Ok(Wal {
            dir: dir.to_owned(),
            file,
            path,
            size,
            next,
            max_file: max_file.max(1),
        })
    }

    /// The sequence number the next record gets.
    pub fn next_seq(&self) -> u64 {
        self.next
    }

    /// Writes `payloads` as consecutive records and fsyncs once; returns
    /// the first record's sequence number. When this returns, the records
    /// survive a crash.
    pub fn append(&mut self, payloads: &[&[u8]]) -> Result<u64, WalError> {
        if self.size >= self.max_file {
            self.rotate()?;
        }
        let first = self.next;
        let mut buf = Vec::with_capacity(payloads.iter().map(|p| p.len() + HEADER).sum());
        for p in payloads {
            let seq = self.next.to_le_bytes();
            let mut h = crc32fast::Hasher::new();
            h.update(&seq);
            h.update(p);
            buf.extend_from_slice(&(p.len() as u32).to_le_bytes());
            buf.extend_from_slice(&h.finalize().to_le_bytes());
            buf.extend_from_slice(&seq);
            buf.extend_from_slice(p);
            self.next += 1;
        }
        self.file.write_all(&buf).map_err(err(&self.path))?;
        self.file.sync_data().map_err(err(&self.path))?;
        self.size += buf.len() as u64;
        Ok(first)
    }

    fn rotate(&mut self) -> Result<(), WalError> {
        let path = name(&self.dir, self.next);
        self.file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(err(&path))?;
        sync_dir(&self.dir);
        self.path = path;
        self.size = 0;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_come_back_in_order_and_a_torn_tail_is_cut() {
        let d = tempfile::tempdir().unwrap();
        let mut w = Wal::open(d.path(), 1, 64).unwrap();
        assert_eq!(w.append(&[b"one", b"two"]).unwrap(), 1);
        // Past 64 bytes: the next append opens a second file.
        w.append(&[&[7u8; 80]]).unwrap();
        w.append(&[b"four"]).unwrap();
        drop(w);
        assert_eq!(files(d.path()).len(), 2);
        // A crash in the middle of a record.
        let last = files(d.path()).pop().unwrap().1;
        let mut f = OpenOptions::new().append(true).open(&last).unwrap();
        f.write_all(&[9, 0, 0, 0, 1, 2]).unwrap();
        drop(f);
        let mut got = Vec::new();
        let next = replay(d.path(), 1, |s, p| got.push((s, p))).unwrap();
        assert_eq!(next, 5);
        assert_eq!(got.len(), 3);
        assert_eq!(got[0], (2, b"two".to_vec()));
        assert_eq!(got[2], (4, b"four".to_vec()));
        let mut w = Wal::open(d.path(), next, 64).unwrap();
        assert_eq!(w.append(&[b"five"]).unwrap(), 5);
        drop(w);
        let mut seqs = Vec::new();
        replay(d.path(), 0, |s, _| seqs.push(s)).unwrap();
        assert_eq!(seqs, vec![1, 2, 3, 4, 5]);
        // The first file holds 1..=3; once 3 is stored it goes.
        assert_eq!(remove_through(d.path(), 2), 0);
        assert_eq!(remove_through(d.path(), 3), 1);
        let mut seqs = Vec::new();
        replay(d.path(), 0, |s, _| seqs.push(s)).unwrap();
        assert_eq!(seqs, vec![4, 5]);
    }

    #[test]
    fn a_damaged_record_ends_the_file_there() {
        let d = tempfile::tempdir().unwrap();
        let mut w = Wal::open(d.path(), 1, 1 << 20).unwrap();
        w.append(&[b"aaaa", b"bbbb", b"cccc"]).unwrap();
        drop(w);
        let p = files(d.path()).pop().unwrap().1;
        let mut bytes = std::fs::read(&p).unwrap();
        // Flip a byte of the second payload.
        bytes[HEADER + 4 + HEADER + 1] ^= 0xff;
        std::fs::write(&p, bytes).unwrap();
        let mut got = Vec::new();
        replay(d.path(), 0, |s, _| got.push(s)).unwrap();
        assert_eq!(got, vec![1]);
    }
}
