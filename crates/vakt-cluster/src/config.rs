//! The cluster's settings (`vakt serve --cluster CONFIG`, YAML).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

/// What a node does; a node may have several roles.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Takes input over HTTP (as `vakt serve`), answers 2xx once JetStream
    /// has acknowledged every part of the batch.
    Ingest,
    /// Takes partitions and runs the detectors over them.
    Worker,
    /// Serves the API and the web UI over PostgreSQL and the shared stores.
    Api,
}

/// The settings of one node.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClusterConfig {
    /// The node's name (unique in the cluster; leases are held by it).
    pub node: String,
    /// Its roles.
    pub roles: Vec<Role>,
    /// NATS servers (several: the client fails over).
    pub nats: Vec<String>,
    /// PostgreSQL, as a libpq connection string (`host=… user=… dbname=…`).
    pub postgres: String,
    /// Where an ingest node's HTTP listens (also `/healthz`, `/metrics`).
    pub listen: SocketAddr,
    /// A folder every node reaches (NFS, a cluster file system): the event
    /// store, one sub-folder per partition, written by its owner only.
    pub shared_dir: PathBuf,
    /// Partitions per tenant (by the partition key of each event).
    pub shards: u32,
    /// Copies of the event stream (1, or 3 on a three-node JetStream cluster).
    pub replicas: usize,
    /// How long a worker's lease on a partition lasts without renewal (ms).
    pub lease_ms: u64,
    /// How often a worker commits a partition: store segments, alerts,
    /// checkpoint, then the acknowledgement to JetStream (ms).
    pub checkpoint_ms: u64,
    /// How long the stream keeps events (hours): at least the detectors'
    /// window, since a new owner re-reads one window to rebuild state.
    pub retention_hours: u64,
    /// How often a worker saves a partition's detector state beside its
    /// checkpoint (ms; 0: never): a new owner loads the newest snapshot
    /// and reads the stream only from there (see [`crate::snapshot`]).
    pub snapshot_ms: u64,
    /// Without a snapshot that loads: how far back (hours) a new owner of a
    /// partition re-reads its stream to rebuild the detectors' state; 0
    /// (the default): everything the stream retains. Some state spans all
    /// history — the EHR care communities (departments a user and peers
    /// treat), the hosts administered before — and is rebuilt exactly only
    /// from all of it; set this to the window for faster take-overs where
    /// only windowed state matters.
    pub rebuild_hours: u64,
    /// The network detectors' window (hours) and step (minutes), as `vakt serve`.
    pub stream_window_hours: u64,
    /// See [`ClusterConfig::stream_window_hours`].
    pub stream_step_minutes: u64,
    /// The largest request body an ingest node takes (bytes).
    pub max_body_bytes: usize,
    /// Syslog listeners of an ingest node (as `vakt serve`'s `syslog:`).
    pub syslog: Vec<vakt_server::config::SyslogListener>,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        ClusterConfig {
            node: format!(
                "{}-{}",
                std::env::var("HOSTNAME").unwrap_or_else(|_| "node".into()),
                std::process::id()
            ),
            roles: vec![Role::Ingest, Role::Worker],
            nats: vec!["nats://127.0.0.1:4222".into()],
            postgres: "host=127.0.0.1 user=vakt dbname=vakt".into(),
            listen: SocketAddr::from(([127, 0, 0, 1], 9200)),
            shared_dir: PathBuf::from("vakt-shared"),
            shards: 1,
            replicas: 1,
            lease_ms: 6_000,
            checkpoint_ms: 1_000,
            retention_hours: 7 * 24,
            snapshot_ms: 30_000,
            rebuild_hours: 0,
            stream_window_hours: 24,
            stream_step_minutes: 5,
            max_body_bytes: 64 << 20,
            syslog: Vec::new(),
        }
    }
}

impl ClusterConfig {
    /// Settings from a YAML file (unknown keys are refused, missing ones default).
    pub fn load(path: &Path) -> Result<ClusterConfig, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let c: ClusterConfig =
            serde_saphyr::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        c.check().map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(c)
    }

    /// Refuses settings that cannot work.
    pub fn check(&self) -> Result<(), String> {
        if self.node.is_empty() || !self.node.chars().all(token_char) {
            return Err(format!(
                "node {:?}: letters, digits, '-' and '_' only",
                self.node
            ));
        }
        if self.shards == 0 || self.shards > 4096 {
            return Err("shards: 1 to 4096".into());
        }
        if !(1..=5).contains(&self.replicas) {
            return Err("replicas: 1 to 5".into());
        }
        if self.nats.is_empty() {
            return Err("nats: at least one server".into());
        }
        if self.retention_hours < self.stream_window_hours {
            return Err(
                "retention_hours: at least stream_window_hours (a new owner re-reads one window)"
                    .into(),
            );
        }
        Ok(())
    }

    /// Whether the node has a role.
    pub fn has(&self, r: Role) -> bool {
        self.roles.contains(&r)
    }

    /// The lease.
    pub fn lease(&self) -> Duration {
        Duration::from_millis(self.lease_ms.max(500))
    }

    /// The commit interval.
    pub fn checkpoint_every(&self) -> Duration {
        Duration::from_millis(self.checkpoint_ms.max(10))
    }

    /// How often detector state is saved (`None`: never).
    pub fn snapshot_every(&self) -> Option<Duration> {
        (self.snapshot_ms > 0).then(|| Duration::from_millis(self.snapshot_ms.max(100)))
    }

    /// The network detectors' step (ns).
    pub fn step_ns(&self) -> i64 {
        i64::try_from(self.stream_step_minutes.max(1) * 60).unwrap_or(i64::MAX / 2) * 1_000_000_000
    }

    /// How far back a new owner re-reads (ns; `None`: all the stream holds).
    pub fn rebuild_ns(&self) -> Option<i64> {
        (self.rebuild_hours > 0).then(|| {
            i64::try_from(self.rebuild_hours.max(self.stream_window_hours.max(1)) * 3_600)
                .unwrap_or(i64::MAX / 2)
                * 1_000_000_000
        })
    }

    /// The network detectors' window (ns).
    pub fn window_ns(&self) -> i64 {
        i64::try_from(self.stream_window_hours.max(1) * 3_600).unwrap_or(i64::MAX / 2)
            * 1_000_000_000
    }
}

/// Characters allowed in node and tenant names (they become NATS subject
/// tokens and folder names).
pub fn token_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '-' || c == '_'
}
