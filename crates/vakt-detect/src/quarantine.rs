//! Keeping rejected records: their raw bytes, and an index saying where each came from.

use std::fs::{self, File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use vakt_ingest::RecordError;

/// A quarantine folder: `index.jsonl` plus one `.rejected` file of raw bytes per input.
pub struct Quarantine {
    dir: PathBuf,
    index: BufWriter<File>,
}

fn safe_name(path: &str) -> String {
    let mut s: String = path
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if s.len() > 180 {
        s = s.split_off(s.len() - 180);
    }
    format!("{s}.rejected")
}

impl Quarantine {
    /// Creates (or reuses) the folder.
    pub fn create(dir: &Path) -> std::io::Result<Self> {
        let said = |what: String| {
            move |e: std::io::Error| std::io::Error::new(e.kind(), format!("{what}: {e}"))
        };
        fs::create_dir_all(dir).map_err(said(format!(
            "cannot create quarantine folder {}",
            dir.display()
        )))?;
        let index_path = dir.join("index.jsonl");
        let index = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&index_path)
            .map_err(said(format!("cannot write {}", index_path.display())))?;
        Ok(Quarantine {
            dir: dir.to_owned(),
            index: BufWriter::new(index),
        })
    }

    /// Appends the raw bytes of `rejected` and their index lines.
    pub fn write(&mut self, rejected: &[RecordError]) -> std::io::Result<()> {
        for e in rejected {
            let name = safe_name(&e.path);
            let raw_path = self.dir.join(&name);
            let mut f = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&raw_path)
                .map_err(|e| {
                    std::io::Error::new(
                        e.kind(),
                        format!("cannot write {}: {e}", raw_path.display()),
                    )
                })?;
            let offset = f.metadata().map(|m| m.len()).unwrap_or(0);
            f.write_all(&e.raw)?;
            f.write_all(b"\n")?;
            let line = serde_json::json!({
                "path": &*e.path,
                "where": e.locator.to_string(),
                "source": &*e.source,
                "reason": e.reason,
                "raw_file": name,
                "raw_offset": offset,
                "raw_len": e.raw.len(),
            });
            serde_json::to_writer(&mut self.index, &line)?;
            self.index.write_all(b"\n")?;
        }
        Ok(())
    }

    /// Writes the index out now (a service keeps the quarantine open).
    pub fn flush(&mut self) -> std::io::Result<()> {
        self.index.flush()
    }

    /// Flushes the index.
    pub fn finish(mut self) -> std::io::Result<()> {
        self.index.flush()
    }
}
