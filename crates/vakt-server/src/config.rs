//! The service's settings: defaults for one machine, a YAML file
//! (`vakt serve --config FILE`) for the rest. Every limit here is what keeps
//! memory bounded whatever the shippers send.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

/// How the service runs.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServeConfig {
    /// The data folder: store, write-ahead log, SQLite, quarantine.
    pub dir: PathBuf,
    /// Where HTTP listens.
    pub listen: SocketAddr,
    /// TLS: the certificate chain (PEM); with `tls_key`, the listener speaks HTTPS only.
    pub tls_cert: Option<PathBuf>,
    /// TLS: the private key (PEM).
    pub tls_key: Option<PathBuf>,
    /// The largest request body accepted, as sent (bytes).
    pub max_body_bytes: usize,
    /// The largest body once decompressed (bytes).
    pub max_decompressed_bytes: usize,
    /// Bytes of input accepted but not yet through the store and the
    /// detectors; beyond it requests are answered 429 with `Retry-After`.
    pub max_inflight_bytes: usize,
    /// The longest line (NDJSON document) accepted (bytes).
    pub max_line_bytes: usize,
    /// Batches waiting for the write-ahead log; beyond it 503.
    pub wal_queue: usize,
    /// A log file is closed and a new one begun past this size (bytes).
    pub wal_file_bytes: u64,
    /// How often the store commits what it holds (ms).
    pub checkpoint_ms: u64,
    /// The network detectors' window (hours) and step (minutes).
    pub stream_window_hours: u64,
    /// See [`ServeConfig::stream_window_hours`].
    pub stream_step_minutes: u64,
    /// Test setting: the store thread sleeps this long per batch (ms), to
    /// show back-pressure with a slow disk.
    pub test_store_delay_ms: u64,
}

impl Default for ServeConfig {
    fn default() -> Self {
        ServeConfig {
            dir: PathBuf::from("vakt-data"),
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            tls_cert: None,
            tls_key: None,
            max_body_bytes: 64 << 20,
            max_decompressed_bytes: 256 << 20,
            max_inflight_bytes: 256 << 20,
            max_line_bytes: 4 << 20,
            wal_queue: 1024,
            wal_file_bytes: 64 << 20,
            checkpoint_ms: 2_000,
            stream_window_hours: 24,
            stream_step_minutes: 60,
            test_store_delay_ms: 0,
        }
    }
}

impl ServeConfig {
    /// Settings from a YAML file (unknown keys are refused, missing ones default).
    pub fn load(path: &Path) -> Result<ServeConfig, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        serde_saphyr::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// The checkpoint interval.
    pub fn checkpoint_every(&self) -> Duration {
        Duration::from_millis(self.checkpoint_ms.max(10))
    }

    /// The network detectors' step, in seconds (as the stream counts).
    pub fn stream_step_secs(&self) -> i64 {
        i64::try_from(self.stream_step_minutes.max(1).saturating_mul(60)).unwrap_or(i64::MAX)
    }

    /// The network detectors' window, in seconds.
    pub fn stream_window_secs(&self) -> i64 {
        i64::try_from(self.stream_window_hours.max(1).saturating_mul(3_600)).unwrap_or(i64::MAX)
    }

    /// The write-ahead log's folder.
    pub fn wal_dir(&self) -> PathBuf {
        self.dir.join("wal")
    }

    /// The event store's folder.
    pub fn store_dir(&self) -> PathBuf {
        self.dir.join("store")
    }

    /// The SQLite database.
    pub fn db_path(&self) -> PathBuf {
        self.dir.join("vakt.db")
    }

    /// Where rejected records are kept.
    pub fn quarantine_dir(&self) -> PathBuf {
        self.dir.join("quarantine")
    }
}
