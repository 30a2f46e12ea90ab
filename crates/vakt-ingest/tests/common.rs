//! Helpers shared by the integration tests of the readers.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

use vakt_core::Event;
use vakt_ingest::{Options, RecordError, Visit, read_path};

/// `../shared/data`, or `$VAKT_SHARED_DATA`.
pub fn shared() -> PathBuf {
    if let Some(p) = std::env::var_os("VAKT_SHARED_DATA") {
        return PathBuf::from(p);
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data")
}

/// Everything reading `path` produced.
#[derive(Debug, Default)]
pub struct Read {
    pub events: Vec<Event>,
    pub rejected: Vec<RecordError>,
    pub skipped: Vec<String>,
    pub unreadable: Vec<String>,
}

pub fn read(path: &Path) -> Read {
    read_with(path, &Options::default())
}

pub fn read_with(path: &Path, opts: &Options) -> Read {
    let mut r = Read::default();
    read_path(path, opts, &mut |v| match v {
        Visit::Event(e) => r.events.push(e),
        Visit::Rejected(e) => r.rejected.push(e),
        Visit::Skipped { reason, .. } => r.skipped.push(reason),
        Visit::Unreadable(e) => r.unreadable.push(e.to_string()),
        Visit::Opened { .. } => {}
    });
    r
}

/// Writes `bytes` to a file called `name` in a fresh folder and reads it.
pub fn read_bytes(name: &str, bytes: &[u8]) -> (tempfile::TempDir, PathBuf, Read) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join(name);
    std::fs::write(&path, bytes).expect("write");
    let r = read(&path);
    (dir, path, r)
}
