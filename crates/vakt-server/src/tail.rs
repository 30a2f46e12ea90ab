//! Following watched folders: Zeek logs (TSV or JSON, rotated per hour
//! into dated folders and compressed) and Suricata `eve.json` (rotated by
//! renaming or by logrotate), read as they grow.
//!
//! A file is known by its device and inode and a fingerprint of its first
//! bytes (an inode reused by a new file has another fingerprint). What has
//! been read of a file travels in the write-ahead log record of the lines
//! read ([`crate::batch::TailMark`]), so the position is durable exactly
//! when the lines are; the store's checkpoint keeps the positions of what
//! it has committed, and a restart takes them from there and from the log
//! records after it. No line is lost, none read twice:
//!
//! - **rename** (`eve.json` → `eve.json.1`, Zeek's spool file into its
//!   archive name): same inode, read on to its end;
//! - **compression** (`conn.…log.gz` replacing the file read): a `.gz`
//!   whose content starts as a known file ended takes that file's place and
//!   is read on from where it was (also when vakt was down meanwhile); a
//!   `.gz` made while the original is still on disk waits for it to go;
//! - **truncation** (logrotate's `copytruncate`): read again from the
//!   start; the copy, if it appears, is read on from where the original was;
//! - only whole lines are read from a file that may grow; a `.gz` is
//!   complete, its last line too.
//!
//! A Zeek TSV file read from the middle gets its header (`#fields`,
//! `#types`) put before the lines, and its events keep the file's own line
//! numbers.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::File;
use std::hash::Hasher;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::time::{Duration, Instant};

use vakt_ingest::Format;

use crate::batch::{Batch, Part, TailMark, TailPos};
use crate::config::{Watch, WatchFormat};
use crate::http::State;
use crate::live::{Append, Forget, Reservation};
use crate::metrics;

/// The fingerprint covers at most this many first bytes.
const FP_MAX: u64 = 1024;
/// Lines per batch, at most …
const CHUNK_LINES: usize = 20_000;
/// … and bytes.
const CHUNK_BYTES: usize = 4 << 20;
/// A position whose file is gone is kept this long (a compressed copy may
/// still come), then dropped.
const ORPHAN_TTL: Duration = Duration::from_secs(24 * 3600);
/// Folders are followed this deep.
const MAX_DEPTH: usize = 4;

/// A file in the folder.
#[derive(Debug, Clone)]
struct Found {
    path: PathBuf,
    dev: u64,
    ino: u64,
    len: u64,
    mtime: (i64, i64),
    gz: bool,
}

impl Found {
    /// Its content from the start (decompressed for `.gz`).
    fn open(&self) -> std::io::Result<Box<dyn BufRead>> {
        let f = self.file()?;
        Ok(if self.gz {
            Box::new(BufReader::with_capacity(
                256 << 10,
                flate2::read::MultiGzDecoder::new(BufReader::new(f)),
            ))
        } else {
            Box::new(BufReader::with_capacity(256 << 10, f))
        })
    }

    /// The file itself: the path may name another file by now (renamed
    /// away and made anew), which is then not this one.
    fn file(&self) -> std::io::Result<File> {
        let f = File::open(&self.path)?;
        let md = f.metadata()?;
        if md.dev() != self.dev || md.ino() != self.ino {
            return Err(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "the file was replaced since it was listed",
            ));
        }
        Ok(f)
    }

    /// Its first `n` bytes at most (fewer if it is shorter, or a `.gz` cut short).
    fn head(&self, n: u64) -> Vec<u8> {
        let mut head = Vec::with_capacity(n as usize);
        if let Ok(r) = self.open() {
            let _ = r.take(n).read_to_end(&mut head);
        }
        head
    }

    /// Does a `.gz` decompress to its end (gzip has finished writing it)?
    fn whole(&self) -> bool {
        self.open()
            .and_then(|mut r| std::io::copy(&mut r, &mut std::io::sink()))
            .is_ok()
    }

    /// A hash of its first `n` bytes; `None` if it has fewer.
    fn fingerprint(&self, n: u64) -> Option<u64> {
        let mut head = Vec::with_capacity(n as usize);
        self.open().ok()?.take(n).read_to_end(&mut head).ok()?;
        (head.len() as u64 == n).then(|| hash(&head))
    }
}

fn hash(b: &[u8]) -> u64 {
    let mut h = rustc_hash::FxHasher::default();
    h.write(b);
    h.write_usize(b.len());
    h.finish()
}

/// Does `f` hold what `pos` was read from?
fn same(f: &Found, pos: &TailPos) -> bool {
    pos.fp_len > 0 && f.fingerprint(pos.fp_len) == Some(pos.fp)
}

/// One watched folder, followed on its own thread.
pub struct Tailer {
    watch: Watch,
    name: String,
    tenant: Arc<str>,
    known: BTreeMap<String, TailPos>,
    orphaned: HashMap<String, Instant>,
    /// Files in no format of the watch (not looked at again while unchanged).
    skipped: HashSet<(u64, u64, u64)>,
    /// Files read to their end, as they were then (size, modification
    /// time): not looked at again while unchanged.
    quiet: HashMap<String, (u64, (i64, i64))>,
    /// New `.gz` files as last seen (size, modification time, whether it
    /// decompresses to its end, since when so): one is taken only once
    /// gzip has finished it — unchanged since the last look and whole (a
    /// damaged one is taken once it has not changed for a minute).
    settling: HashMap<(u64, u64), Settling>,
    state: Arc<State>,
    forget: Forget,
    closing: Arc<AtomicBool>,
    poll: Duration,
    last_seq: u64,
    born: u64,
}

/// A new `.gz` as last seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Settling {
    len: u64,
    mtime: (i64, i64),
    whole: bool,
    since: Instant,
}

/// A `.gz` that does not decompress to its end is taken after this long unchanged.
const DAMAGED_GZ: Duration = Duration::from_secs(60);

/// Why a read stopped early.
enum Stop {
    /// vakt is stopping.
    Closing,
    /// The log refused (the error is logged); tried again next round.
    Failed,
}

impl Tailer {
    /// A tailer for `watch`, going on from `known` (the positions of this
    /// watch from the checkpoint and the log).
    pub fn new(
        watch: Watch,
        known: BTreeMap<String, TailPos>,
        state: Arc<State>,
        forget: Forget,
        closing: Arc<AtomicBool>,
    ) -> Tailer {
        let name = watch.name();
        let prefix = format!("{name}|");
        let known = known
            .into_iter()
            .filter(|(k, _)| k.starts_with(&prefix))
            .collect();
        Tailer {
            tenant: Arc::from(watch.tenant.as_str()),
            poll: Duration::from_millis(state.cfg.watch_poll_ms.max(10)),
            watch,
            name,
            known,
            orphaned: HashMap::new(),
            skipped: HashSet::new(),
            quiet: HashMap::new(),
            settling: HashMap::new(),
            state,
            forget,
            closing,
            last_seq: 0,
            born: 0,
        }
    }

    /// Follows the folder until vakt stops.
    pub fn run(mut self) {
        tracing::info!(target: "vakt::serve", "watching {} ({} positions kept)", self.name, self.known.len());
        while !self.closing.load(Relaxed) {
            self.round();
            let until = Instant::now() + self.poll;
            while Instant::now() < until && !self.closing.load(Relaxed) {
                std::thread::sleep(Duration::from_millis(20).min(self.poll));
            }
        }
    }

    fn wanted(&self, name: &str) -> Option<bool> {
        let gz = name.ends_with(".gz");
        let ok = match self.watch.format {
            WatchFormat::Zeek => {
                (name.ends_with(".log") || name.ends_with(".log.gz"))
                    && !matches!(name, "stderr.log" | "stdout.log")
            }
            WatchFormat::Eve => name.starts_with("eve") && name.contains(".json"),
        };
        ok.then_some(gz)
    }

    fn list(&self) -> Vec<Found> {
        let mut out = Vec::new();
        let mut seen = HashSet::new();
        let mut dirs = vec![(self.watch.dir.clone(), 0usize)];
        while let Some((dir, depth)) = dirs.pop() {
            let Ok(rd) = std::fs::read_dir(&dir) else {
                continue;
            };
            let mut entries: Vec<PathBuf> = rd.flatten().map(|e| e.path()).collect();
            entries.sort();
            for p in entries {
                // Symbolic links are followed (zeekctl's `current`).
                let Ok(md) = std::fs::metadata(&p) else {
                    continue;
                };
                if md.is_dir() {
                    if depth < MAX_DEPTH {
                        dirs.push((p, depth + 1));
                    }
                    continue;
                }
                let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
                let Some(gz) = self.wanted(name) else {
                    continue;
                };
                if md.is_file() && seen.insert((md.dev(), md.ino())) {
                    out.push(Found {
                        path: p,
                        dev: md.dev(),
                        ino: md.ino(),
                        len: md.len(),
                        mtime: (md.mtime(), md.mtime_nsec()),
                        gz,
                    });
                }
            }
        }
        out
    }

    fn key(&mut self, f: &Found) -> String {
        // Unique per file lifetime: an inode used again is another key.
        self.born = self.born.max(crate::now().0 as u64).max(self.born + 1);
        format!("{}|{}:{}@{}", self.name, f.dev, f.ino, self.born)
    }

    fn round(&mut self) {
        let files = self.list();
        let mut by_ino: HashMap<(u64, u64), Vec<String>> = HashMap::new();
        for (k, p) in &self.known {
            by_ino.entry((p.dev, p.ino)).or_default().push(k.clone());
        }
        let mut matched: HashSet<String> = HashSet::new();
        let mut plan: Vec<(Found, String, TailPos, Option<String>)> = Vec::new();
        let mut unknown = Vec::new();
        for f in files {
            // Unchanged since read to its end: nothing to do.
            if let Some(ks) = by_ino.get(&(f.dev, f.ino))
                && let Some(k) = ks
                    .iter()
                    .find(|k| self.quiet.get(*k) == Some(&(f.len, f.mtime)))
            {
                matched.insert(k.clone());
                continue;
            }
            let hit = by_ino
                .get(&(f.dev, f.ino))
                .and_then(|ks| ks.iter().find(|k| same(&f, &self.known[*k])))
                .cloned();
            match hit {
                Some(k) => {
                    matched.insert(k.clone());
                    let pos = self.known[&k].clone();
                    plan.push((f, k, pos, None));
                }
                None => unknown.push(f),
            }
        }
        let mut settling = HashMap::new();
        for f in unknown {
            if self.skipped.contains(&(f.dev, f.ino, f.len)) {
                continue;
            }
            if f.gz {
                let before = self
                    .settling
                    .get(&(f.dev, f.ino))
                    .copied()
                    .filter(|b| b.len == f.len && b.mtime == f.mtime);
                let now = match before {
                    Some(b) => b,
                    None => Settling {
                        len: f.len,
                        mtime: f.mtime,
                        whole: false,
                        since: Instant::now(),
                    },
                };
                let now = Settling {
                    whole: now.whole || (before.is_some() && f.whole()),
                    ..now
                };
                settling.insert((f.dev, f.ino), now);
                let settled = before.is_some() && (now.whole || now.since.elapsed() >= DAMAGED_GZ);
                if !settled {
                    continue;
                }
            }
            // Its first bytes, read once, against every known fingerprint.
            let head = f.head(FP_MAX);
            let fits = |p: &TailPos| {
                p.fp_len > 0
                    && head.len() as u64 >= p.fp_len
                    && hash(&head[..p.fp_len as usize]) == p.fp
            };
            // A compressed copy of a file still on disk: wait until it goes.
            if f.gz
                && self
                    .known
                    .iter()
                    .any(|(k, p)| matched.contains(k) && fits(p))
            {
                continue;
            }
            let orphan = self
                .known
                .iter()
                .find(|(k, p)| !matched.contains(*k) && (f.gz || f.len >= p.offset) && fits(p))
                .map(|(k, _)| k.clone());
            let key = self.key(&f);
            let pos = match &orphan {
                Some(old) => {
                    let p = self.known.remove(old).unwrap_or_else(|| fresh(&f));
                    self.orphaned.remove(old);
                    tracing::info!(target: "vakt::serve", "{}: {} goes on from {} (byte {})", self.name, f.path.display(), p.path, p.offset);
                    TailPos {
                        path: f.path.display().to_string(),
                        dev: f.dev,
                        ino: f.ino,
                        ..p
                    }
                }
                None => fresh(&f),
            };
            if orphan.is_some() {
                // Kept at once: the old position is gone from the known ones.
                self.known.insert(key.clone(), pos.clone());
                matched.insert(key.clone());
            }
            // A new file becomes known once something of it is read (a
            // position without a fingerprint would match any file that
            // gets its inode next).
            plan.push((f, key, pos, orphan));
        }
        self.settling = settling;
        // Positions whose file is gone.
        let now = Instant::now();
        let gone: Vec<String> = self
            .known
            .keys()
            .filter(|k| !matched.contains(*k))
            .cloned()
            .collect();
        for k in gone {
            let since = *self.orphaned.entry(k.clone()).or_insert(now);
            if now.duration_since(since) >= ORPHAN_TTL {
                self.known.remove(&k);
                self.orphaned.remove(&k);
                self.forget_later(k);
            }
        }
        for k in &matched {
            self.orphaned.remove(k);
        }
        self.state
            .metrics
            .tail_files
            .store(matched.len() as i64, Relaxed);
        for (f, key, pos, inherited) in plan {
            if self.closing.load(Relaxed) {
                return;
            }
            match self.read(&f, &key, pos, inherited.is_some()) {
                Ok(()) => {
                    if let Some(old) = inherited {
                        self.forget_later(old);
                    }
                }
                Err(Stop::Closing) => return,
                Err(Stop::Failed) => {}
            }
        }
    }

    fn forget_later(&self, key: String) {
        self.forget
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((key, self.last_seq));
    }

    /// Reads what `f` has beyond its position; `record`: write the
    /// position even if there is nothing to read (a file taking another's
    /// place).
    fn read(
        &mut self,
        f: &Found,
        key: &str,
        mut pos: TailPos,
        mut record: bool,
    ) -> Result<(), Stop> {
        self.quiet.remove(key);
        if !f.gz && f.len < pos.offset {
            // Truncated in place: what it held may come back as a copy.
            tracing::info!(target: "vakt::serve", "{}: {} was truncated; read again from the start", self.name, f.path.display());
            let ghost = format!("{key}#truncated@{}", crate::now().0);
            self.known.insert(ghost, pos.clone());
            pos = fresh(f);
            self.known.remove(key);
        }
        if !record && ((!f.gz && f.len == pos.offset) || (f.gz && pos.complete)) {
            self.quiet.insert(key.to_owned(), (f.len, f.mtime));
            return Ok(());
        }
        // The first bytes, for the fingerprint, from this very file.
        let head = if pos.fp_len < FP_MAX {
            let h = f.head(FP_MAX);
            if h.is_empty() && (f.len > 0 || f.gz) {
                return Err(Stop::Failed);
            }
            Some(h)
        } else {
            None
        };
        let mut r = match f.open() {
            Ok(r) => r,
            Err(e) => {
                tracing::debug!(target: "vakt::serve", "{}: {}: {e}", self.name, f.path.display());
                return Err(Stop::Failed);
            }
        };
        // A Zeek TSV file read from the middle needs its header again.
        let mut header = Vec::new();
        let mut header_lines = 0u64;
        if self.watch.format == WatchFormat::Zeek && pos.offset > 0 {
            let mut line = Vec::new();
            let mut at = 0u64;
            while at < pos.offset {
                line.clear();
                match r.read_until(b'\n', &mut line) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => at += n as u64,
                }
                if line.first() != Some(&b'#') {
                    break;
                }
                header.extend_from_slice(&line);
                header_lines += 1;
                if line.starts_with(b"#types") {
                    break;
                }
            }
            // Back to the position.
            r = match f.open() {
                Ok(r) => r,
                Err(_) => return Err(Stop::Failed),
            };
        }
        if pos.offset > 0 {
            if !f.gz
                && let Ok(mut file) = f.file()
            {
                if file.seek(SeekFrom::Start(pos.offset)).is_err() {
                    return Err(Stop::Failed);
                }
                r = Box::new(BufReader::with_capacity(256 << 10, file));
            } else {
                let skipped = std::io::copy(&mut (&mut r).take(pos.offset), &mut std::io::sink());
                if skipped.ok() != Some(pos.offset) {
                    return Err(Stop::Failed);
                }
            }
        }
        // A file that may grow is read to its size now, whole lines only.
        let mut left = if f.gz { u64::MAX } else { f.len - pos.offset };
        let mut first = true;
        loop {
            let mut body = header.clone();
            let mut lines = 0u64;
            let mut bytes = 0u64;
            let mut line = Vec::new();
            let mut ended = false;
            let mut damaged = false;
            let mut too_long = Vec::new();
            let max_line = self.state.cfg.max_line_bytes.max(1) as u64;
            while lines < CHUNK_LINES as u64 && (bytes as usize) < CHUNK_BYTES && left > 0 {
                line.clear();
                match (&mut r)
                    .take(left.min(max_line + 1))
                    .read_until(b'\n', &mut line)
                {
                    Ok(0) => {
                        ended = true;
                        break;
                    }
                    Ok(n) if n as u64 > max_line && line.last() != Some(&b'\n') => {
                        // Too long: its first bytes quarantined, an empty line
                        // in its place; what follows up to its end is read
                        // (and refused) as lines of its own.
                        left = left.saturating_sub(n as u64);
                        bytes += n as u64;
                        lines += 1;
                        too_long.push(vakt_ingest::RecordError {
                            path: Arc::from(f.path.display().to_string()),
                            locator: vakt_core::Locator::Line(pos.lines + lines),
                            source: Arc::from(self.source()),
                            reason: format!(
                                "line longer than {max_line} bytes (max_line_bytes); its first 4096 bytes are kept"
                            ),
                            raw: line[..4096.min(line.len())].to_vec(),
                        });
                        body.push(b'\n');
                    }
                    Ok(n) => {
                        if line.last() != Some(&b'\n') && !f.gz {
                            // A line still being written.
                            ended = true;
                            break;
                        }
                        left = left.saturating_sub(n as u64);
                        bytes += n as u64;
                        lines += 1;
                        body.extend_from_slice(&line);
                        if line.last() != Some(&b'\n') {
                            body.push(b'\n');
                        }
                    }
                    Err(e) => {
                        // A `.gz` still being written, or damaged: what came before is read.
                        tracing::debug!(target: "vakt::serve", "{}: {}: {e}", self.name, f.path.display());
                        damaged = true;
                        ended = true;
                        break;
                    }
                }
            }
            if left == 0 {
                ended = true;
            }
            if first && pos.offset == 0 && lines > 0 {
                if !self.looks_right(&body) {
                    self.skipped.insert((f.dev, f.ino, f.len));
                    self.known.remove(key);
                    return Ok(());
                }
                tracing::info!(target: "vakt::serve", "{}: following {} from its start", self.name, f.path.display());
            }
            first = false;
            let complete = f.gz && ended && !damaged;
            let newly_complete = complete && !pos.complete;
            if lines == 0 && !record && !newly_complete {
                if damaged {
                    return Err(Stop::Failed);
                }
                if !f.gz {
                    self.quiet.insert(key.to_owned(), (f.len, f.mtime));
                }
                return Ok(());
            }
            let mark = TailMark {
                key: key.to_owned(),
                pos: TailPos {
                    path: f.path.display().to_string(),
                    offset: pos.offset + bytes,
                    lines: pos.lines + lines,
                    complete,
                    ..pos.clone()
                },
                prefix_lines: header_lines,
                first_line: pos.lines + 1,
            };
            let mut mark = mark;
            // The fingerprint grows with the file until FP_MAX bytes.
            if let Some(h) = &head {
                let n = FP_MAX.min(mark.pos.offset).min(h.len() as u64);
                if n > mark.pos.fp_len {
                    mark.pos.fp_len = n;
                    mark.pos.fp = hash(&h[..n as usize]);
                }
            }
            let body = if lines == 0 { Vec::new() } else { body };
            self.state.reject(&self.tenant, &too_long);
            self.submit(f, body, mark.clone(), lines)?;
            pos = mark.pos;
            self.known.insert(key.to_owned(), pos.clone());
            record = false;
            if ended {
                if complete || (!f.gz && pos.offset == f.len) {
                    self.quiet.insert(key.to_owned(), (f.len, f.mtime));
                }
                return Ok(());
            }
        }
    }

    fn source(&self) -> &'static str {
        match self.watch.format {
            WatchFormat::Zeek => "zeek",
            WatchFormat::Eve => "suricata:eve",
        }
    }

    fn looks_right(&self, body: &[u8]) -> bool {
        let first = body.iter().find(|b| !b.is_ascii_whitespace());
        match self.watch.format {
            WatchFormat::Zeek => matches!(first, Some(b'#' | b'{')),
            WatchFormat::Eve => first == Some(&b'{'),
        }
    }

    /// Writes the lines and the position to the log; returns once durable.
    fn submit(&mut self, f: &Found, body: Vec<u8>, mark: TailMark, lines: u64) -> Result<(), Stop> {
        let format = match self.watch.format {
            WatchFormat::Zeek => Format::Zeek,
            WatchFormat::Eve => Format::Eve,
        };
        let batch = Batch {
            tenant: self.tenant.clone(),
            origin: f.path.display().to_string(),
            received: crate::now(),
            tail: Some(mark),
            parts: if body.is_empty() {
                Vec::new()
            } else {
                vec![Part {
                    format: Some(format),
                    body,
                }]
            },
        };
        let hold = loop {
            if self.closing.load(Relaxed) {
                return Err(Stop::Closing);
            }
            match Reservation::take(
                &self.state.metrics,
                batch.bytes(),
                self.state.cfg.max_inflight_bytes,
            ) {
                Some(h) => break h,
                None => std::thread::sleep(Duration::from_millis(20)),
            }
        };
        let parsed = crate::batch::parse(&batch);
        let rejected: Vec<_> = parsed.rejected.into_iter().map(|(_, e)| e).collect();
        self.state.reject(&self.tenant, &rejected);
        let n = parsed.events.len() as u64;
        let (reply, answer) = tokio::sync::oneshot::channel();
        let append = Append {
            payload: batch.encode(),
            events: parsed.events,
            hold,
            tail: batch.tail.clone(),
            reply,
        };
        if self.state.to_log.send(append).is_err() {
            return Err(Stop::Closing);
        }
        match answer.blocking_recv() {
            Ok(Ok(seq)) => {
                self.last_seq = seq;
                self.state.metrics.accept(&self.tenant, n);
                metrics::add(&self.state.metrics.tail_lines, self.name.clone(), lines);
                Ok(())
            }
            Ok(Err(e)) => {
                tracing::error!(target: "vakt::serve", "{}: {}: not stored: {e}", self.name, f.path.display());
                Err(Stop::Failed)
            }
            Err(_) => Err(Stop::Closing),
        }
    }
}

fn fresh(f: &Found) -> TailPos {
    TailPos {
        path: f.path.display().to_string(),
        dev: f.dev,
        ino: f.ino,
        fp_len: 0,
        fp: 0,
        offset: 0,
        lines: 0,
        complete: false,
    }
}

/// The positions a restart goes on from: the checkpoint's, then those of
/// the log records after it, in order.
pub fn positions_after(
    checkpoint: &BTreeMap<String, TailPos>,
    from_log: Vec<TailMark>,
) -> BTreeMap<String, TailPos> {
    let mut out = checkpoint.clone();
    for m in from_log {
        out.insert(m.key, m.pos);
    }
    out
}

/// Is `dir` a folder that can be watched?
pub fn check(dir: &Path) -> Result<(), String> {
    if dir.is_dir() {
        Ok(())
    } else {
        Err(format!("{}: not a folder", dir.display()))
    }
}
