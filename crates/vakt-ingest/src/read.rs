//! Reading paths: walking folders, opening `.gz` and `.zip`, sniffing each
//! input, and driving its format's reader.

use std::fs::File;
use std::io::{BufRead, BufReader, Cursor, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use vakt_core::Event;

use crate::sniff::{Sniffed, sniff};
use crate::{Format, InputError, ReadContext, RecordError, eve, evtx, fhir, jsonl, syslog, zeek};

/// How far into an input the sniffer looks.
const HEAD: usize = 64 * 1024;
/// The most bytes one input may decompress to in memory (a zip entry, a JSON document, an EVTX file).
const MAX_IN_MEMORY: u64 = 4 << 30;
/// From this size on, an EVTX file's chunks are rendered in parallel.
const LARGE_EVTX: u64 = 16 << 20;
/// Archives inside archives are opened this deep.
const MAX_NESTING: u32 = 3;

/// What the readers are told.
#[derive(Debug, Clone)]
pub struct Options {
    /// A fixed input format, or `None` to sniff each input.
    pub format: Option<Format>,
    /// The tenant of all inputs.
    pub tenant: Arc<str>,
    /// For JSON Lines, the timestamp field.
    pub timestamp_field: Option<Arc<str>>,
    /// Threads that render the chunks of one large EVTX file at once.
    pub chunk_threads: usize,
    /// When the input arrived: the time of syslog messages without one and
    /// the year of RFC 3164 times (default: a file's modification time, or now).
    pub received: Option<vakt_core::Timestamp>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            format: None,
            tenant: Arc::from("default"),
            timestamp_field: None,
            chunk_threads: 1,
            received: None,
        }
    }
}

/// What reading a path produces, in input order.
#[derive(Debug)]
pub enum Visit {
    /// An input was recognised and is being read.
    Opened {
        /// Its display path.
        path: Arc<str>,
        /// Its format.
        format: Format,
    },
    /// An event.
    Event(Event),
    /// A record that could not be read.
    Rejected(RecordError),
    /// An input in no event format.
    Skipped {
        /// Its display path.
        path: Arc<str>,
        /// Why.
        reason: String,
    },
    /// An input that could not be read at all.
    Unreadable(InputError),
}

/// The files under `paths`: folders are walked recursively in name order;
/// paths that cannot be walked are returned as errors.
pub fn collect_files(paths: &[PathBuf]) -> (Vec<PathBuf>, Vec<InputError>) {
    let mut files = Vec::new();
    let mut errors = Vec::new();
    for p in paths {
        if p.is_dir() {
            for entry in walkdir::WalkDir::new(p).sort_by_file_name() {
                match entry {
                    Ok(e) if e.file_type().is_file() => files.push(e.into_path()),
                    Ok(_) => {}
                    Err(e) => errors.push(InputError {
                        path: Arc::from(e.path().unwrap_or(p.as_path()).display().to_string()),
                        reason: format!("cannot walk: {e}"),
                    }),
                }
            }
        } else if p.exists() {
            files.push(p.clone());
        } else {
            errors.push(InputError {
                path: Arc::from(p.display().to_string()),
                reason: "no such file or folder".into(),
            });
        }
    }
    (files, errors)
}

/// Reads one file (or every input inside it, for archives), telling `visit` what it finds.
pub fn read_path(path: &Path, opts: &Options, visit: &mut dyn FnMut(Visit)) {
    let display: Arc<str> = Arc::from(path.display().to_string());
    match File::open(path) {
        Ok(f) => read_stream(
            display,
            Some(path),
            Box::new(BufReader::with_capacity(256 * 1024, f)),
            opts,
            0,
            visit,
        ),
        Err(e) => visit(Visit::Unreadable(InputError::new(
            &display,
            format!("cannot open: {e}"),
        ))),
    }
}

/// Reads one input held in memory (an upload, a batch posted to the
/// service) as [`read_path`] reads a file: decompressed, sniffed unless
/// `opts.format` says, every record told to `visit`. `name` is its display
/// path in origins and errors.
pub fn read_bytes(name: &str, bytes: Vec<u8>, opts: &Options, visit: &mut dyn FnMut(Visit)) {
    read_stream(
        Arc::from(name),
        None,
        Box::new(Cursor::new(bytes)),
        opts,
        0,
        visit,
    )
}

type Stream = Box<dyn BufRead + Send>;

fn read_head(r: &mut Stream, limit: usize) -> std::io::Result<(Vec<u8>, bool)> {
    let mut head = Vec::with_capacity(limit.min(HEAD));
    let n = r.take(limit as u64).read_to_end(&mut head)?;
    Ok((head, n < limit))
}

fn read_rest(head: Vec<u8>, r: Stream, path: &Arc<str>) -> Result<Vec<u8>, InputError> {
    let mut all = head;
    r.take(MAX_IN_MEMORY + 1)
        .read_to_end(&mut all)
        .map_err(|e| InputError::new(path, format!("read failed: {e}")))?;
    if all.len() as u64 > MAX_IN_MEMORY {
        return Err(InputError::new(
            path,
            "larger than 4 GiB once decompressed; not read",
        ));
    }
    Ok(all)
}

/// `file` is the file on disk when `r` is that file's bytes as they are (not
/// decompressed, not an archive entry).
fn read_stream(
    path: Arc<str>,
    file: Option<&Path>,
    mut r: Stream,
    opts: &Options,
    depth: u32,
    visit: &mut dyn FnMut(Visit),
) {
    let (head, complete) = match read_head(&mut r, HEAD) {
        Ok(h) => h,
        Err(e) => {
            return visit(Visit::Unreadable(InputError::new(
                &path,
                format!("read failed: {e}"),
            )));
        }
    };
    if depth < MAX_NESTING && head.starts_with(&[0x1f, 0x8b]) {
        let joined: Stream = Box::new(Cursor::new(head).chain(r));
        let gz = flate2::bufread::MultiGzDecoder::new(joined);
        return read_stream(
            path,
            None,
            Box::new(BufReader::with_capacity(256 * 1024, gz)),
            opts,
            depth + 1,
            visit,
        );
    }
    if depth < MAX_NESTING && head.starts_with(b"PK\x03\x04") {
        return match read_rest(head, r, &path) {
            Ok(bytes) => read_zip(&path, bytes, opts, depth, visit),
            Err(e) => visit(Visit::Unreadable(e)),
        };
    }
    let name = path
        .rsplit(['/', '\\', '!'])
        .next()
        .unwrap_or(&path)
        .to_owned();
    let ts = opts.timestamp_field.as_deref();
    let mut format = match opts.format {
        Some(f) => Sniffed::Format(f),
        None => sniff(&head, complete, &name, ts),
    };
    let mut whole: Option<Vec<u8>> = None;
    if format == Sniffed::NeedWhole {
        match read_rest(head.clone(), r, &path) {
            Ok(bytes) => {
                format = sniff(&bytes, true, &name, ts);
                whole = Some(bytes);
            }
            Err(e) => return visit(Visit::Unreadable(e)),
        }
        r = Box::new(std::io::empty());
    }
    let format = match format {
        Sniffed::Format(f) => f,
        Sniffed::Skip(reason) => return visit(Visit::Skipped { path, reason }),
        Sniffed::NeedWhole => {
            return visit(Visit::Skipped {
                path,
                reason: "undecidable JSON".into(),
            });
        }
    };
    let ctx = ReadContext {
        path: path.clone(),
        tenant: opts.tenant.clone(),
        timestamp_field: opts.timestamp_field.clone(),
    };
    let stream: Stream = match whole {
        Some(bytes) => Box::new(Cursor::new(bytes)),
        None => Box::new(Cursor::new(head).chain(r)),
    };
    visit(Visit::Opened {
        path: path.clone(),
        format,
    });
    let events: Box<dyn Iterator<Item = Result<Event, RecordError>>> = match format {
        Format::Evtx => {
            // A plain file on disk is read chunk by chunk; anything decompressed is in memory.
            let (opened, size) = match file {
                Some(f) => (
                    evtx::read_file(f, ctx),
                    std::fs::metadata(f).map_or(0, |m| m.len()),
                ),
                None => match read_rest(Vec::new(), stream, &path) {
                    Ok(b) => {
                        let n = b.len() as u64;
                        (evtx::read(Arc::from(b), ctx), n)
                    }
                    Err(e) => return visit(Visit::Unreadable(e)),
                },
            };
            match opened {
                // A large file is rendered on several threads, chunk by chunk.
                Ok(it) if size >= LARGE_EVTX => Box::new(it.with_threads(opts.chunk_threads)),
                Ok(it) => Box::new(it),
                Err(e) => return visit(Visit::Unreadable(e)),
            }
        }
        Format::EvtxJson => Box::new(crate::json_events::JsonEvents::new(
            stream,
            path.clone(),
            crate::windows::WindowsJson::new(ctx),
        )),
        Format::Zeek => {
            let mut stream = stream;
            let tsv = match stream.fill_buf() {
                Ok(buf) => buf.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'#'),
                Err(_) => false,
            };
            if tsv {
                Box::new(zeek::read_tsv(stream, ctx))
            } else {
                Box::new(zeek::read_json(stream, ctx))
            }
        }
        Format::Eve => Box::new(eve::read(stream, ctx)),
        Format::Fhir => Box::new(fhir::read(stream, ctx)),
        Format::Jsonl => Box::new(jsonl::read(stream, ctx)),
        Format::Syslog => {
            let received = opts.received.unwrap_or_else(|| {
                let t = file
                    .and_then(|f| std::fs::metadata(f).ok()?.modified().ok())
                    .unwrap_or_else(std::time::SystemTime::now);
                vakt_core::Timestamp(
                    t.duration_since(std::time::UNIX_EPOCH)
                        .map_or(0, |d| d.as_nanos() as i64),
                )
            });
            Box::new(syslog::read(stream, ctx, received))
        }
    };
    for item in events {
        visit(match item {
            Ok(e) => Visit::Event(e),
            Err(e) => Visit::Rejected(e),
        });
    }
}

fn read_zip(
    path: &Arc<str>,
    bytes: Vec<u8>,
    opts: &Options,
    depth: u32,
    visit: &mut dyn FnMut(Visit),
) {
    let mut archive = match zip::ZipArchive::new(Cursor::new(&bytes[..])) {
        Ok(a) => a,
        // No central directory (a truncated download): salvage the entries from their local headers.
        Err(e) => return salvage_zip(path, &bytes, &e.to_string(), opts, depth, visit),
    };
    for i in 0..archive.len() {
        let mut entry = match archive.by_index(i) {
            Ok(e) => e,
            Err(e) => {
                visit(Visit::Unreadable(InputError::new(
                    path,
                    format!("zip entry {i} cannot be read: {e}"),
                )));
                continue;
            }
        };
        let name = match entry.name() {
            Ok(n) => n.into_owned(),
            Err(_) => String::from_utf8_lossy(entry.name_raw()).into_owned(),
        };
        let inner: Arc<str> = Arc::from(format!("{path}!{name}"));
        if entry.is_dir() {
            continue;
        }
        // macOS resource forks ride along in archives made on a Mac; they are not content.
        if name.starts_with("__MACOSX/")
            || name.rsplit('/').next().is_some_and(|n| n.starts_with("._"))
        {
            visit(Visit::Skipped {
                path: inner,
                reason: "macOS resource fork".into(),
            });
            continue;
        }
        let mut data = Vec::new();
        let read = (&mut entry).take(MAX_IN_MEMORY + 1).read_to_end(&mut data);
        match read {
            Ok(_) if data.len() as u64 > MAX_IN_MEMORY => visit(Visit::Unreadable(
                InputError::new(&inner, "larger than 4 GiB once decompressed; not read"),
            )),
            Ok(_) => read_stream(
                inner,
                None,
                Box::new(Cursor::new(data)),
                opts,
                depth + 1,
                visit,
            ),
            Err(e) => visit(Visit::Unreadable(InputError::new(
                &inner,
                format!("cannot decompress: {e}"),
            ))),
        }
    }
}

/// Reads the entries of an archive whose central directory is missing, in order,
/// from their local headers; reports where the salvage stopped.
fn salvage_zip(
    path: &Arc<str>,
    bytes: &[u8],
    why: &str,
    opts: &Options,
    depth: u32,
    visit: &mut dyn FnMut(Visit),
) {
    let mut reader = Cursor::new(bytes);
    let mut salvaged = 0usize;
    loop {
        let entry = match zip::read::read_zipfile_from_stream(&mut reader) {
            Ok(Some(e)) => e,
            Ok(None) => break,
            Err(e) => {
                visit(Visit::Unreadable(InputError::new(
                    path,
                    format!(
                        "damaged zip archive ({why}); {salvaged} entries salvaged, the rest is lost: {e}"
                    ),
                )));
                return;
            }
        };
        let name = entry
            .name()
            .map(|n| n.into_owned())
            .unwrap_or_else(|_| String::from_utf8_lossy(entry.name_raw()).into_owned());
        let inner: Arc<str> = Arc::from(format!("{path}!{name}"));
        let is_dir = entry.is_dir();
        let mut data = Vec::new();
        let read = entry.take(MAX_IN_MEMORY + 1).read_to_end(&mut data);
        if is_dir || name.starts_with("__MACOSX/") {
            continue;
        }
        salvaged += 1;
        if !data.is_empty() {
            read_stream(
                inner.clone(),
                None,
                Box::new(Cursor::new(data)),
                opts,
                depth + 1,
                visit,
            );
        }
        if let Err(e) = read {
            visit(Visit::Rejected(RecordError {
                path: inner,
                locator: vakt_core::Locator::Index(salvaged as u64),
                source: Arc::from("zip"),
                reason: format!(
                    "zip entry cut short ({e}) in a damaged archive ({why}); what could be decompressed was read, the rest is lost"
                ),
                raw: Vec::new(),
            }));
            return;
        }
    }
    if salvaged == 0 {
        visit(Visit::Unreadable(InputError::new(
            path,
            format!("not a readable zip archive: {why}"),
        )));
    }
}
