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
    /// Syslog listeners.
    pub syslog: Vec<SyslogListener>,
    /// The longest syslog message accepted (bytes); longer ones are
    /// quarantined (their first bytes) and counted.
    pub max_message_bytes: usize,
    /// Folders whose Zeek and Suricata logs are followed.
    pub watch: Vec<Watch>,
    /// How often watched folders are looked at (ms).
    pub watch_poll_ms: u64,
    /// How long an API session lasts after signing in (hours).
    pub session_hours: u32,
    /// OpenID Connect sign-in, if any.
    pub oidc: Option<crate::oidc::OidcConfig>,
    /// Cases, clocks, notifications, containment, TAXII.
    pub respond: crate::respond::RespondConfig,
}

/// How a syslog listener takes messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SyslogProtocol {
    /// TCP, octet-counted or LF-framed (RFC 6587); no acknowledgement.
    Tcp,
    /// UDP (RFC 5426); no acknowledgement, drops counted.
    Udp,
    /// TLS on TCP (RFC 5425).
    Tls,
    /// RELP: each message acknowledged once in the write-ahead log.
    Relp,
}

impl SyslogProtocol {
    /// Its name.
    pub fn name(self) -> &'static str {
        match self {
            SyslogProtocol::Tcp => "tcp",
            SyslogProtocol::Udp => "udp",
            SyslogProtocol::Tls => "tls",
            SyslogProtocol::Relp => "relp",
        }
    }
}

/// A syslog listener: where, how, and whose events it takes.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyslogListener {
    /// The protocol.
    pub protocol: SyslogProtocol,
    /// Where it listens (port 0: any free port, written to DIR/listening).
    pub listen: SocketAddr,
    /// The tenant of messages no rule places.
    #[serde(default)]
    pub tenant: Option<String>,
    /// Rules that place messages in tenants, first match wins.
    #[serde(default)]
    pub rules: Vec<TenantRule>,
    /// TLS certificate chain (PEM); default: the service's `tls_cert`.
    #[serde(default)]
    pub tls_cert: Option<PathBuf>,
    /// TLS private key (PEM); default: the service's `tls_key`.
    #[serde(default)]
    pub tls_key: Option<PathBuf>,
}

impl SyslogListener {
    /// `PROTO://ADDR[/TENANT]` (`relp://0.0.0.0:2514/ahus`).
    pub fn parse(spec: &str) -> Result<SyslogListener, String> {
        let (proto, rest) = spec
            .split_once("://")
            .ok_or_else(|| format!("`{spec}`: expected PROTO://ADDR[/TENANT]"))?;
        let protocol = match proto {
            "tcp" => SyslogProtocol::Tcp,
            "udp" => SyslogProtocol::Udp,
            "tls" => SyslogProtocol::Tls,
            "relp" => SyslogProtocol::Relp,
            p => return Err(format!("`{p}`: the protocol is tcp, udp, tls or relp")),
        };
        let (addr, tenant) = match rest.split_once('/') {
            Some((a, t)) if !t.is_empty() => (a, Some(t.to_owned())),
            Some((a, _)) => (a, None),
            None => (rest, None),
        };
        let listen = addr
            .parse()
            .map_err(|e| format!("`{addr}`: not an address:port ({e})"))?;
        Ok(SyslogListener {
            protocol,
            listen,
            tenant,
            rules: Vec::new(),
            tls_cert: None,
            tls_key: None,
        })
    }

    /// Its name in metrics and origins (`relp 127.0.0.1:2514`).
    pub fn name(&self) -> String {
        format!("{} {}", self.protocol.name(), self.listen)
    }
}

/// Places messages of a listener in a tenant: every condition given must hold.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantRule {
    /// The tenant.
    pub tenant: String,
    /// The sender's address is in this network (`10.20.0.0/16`).
    #[serde(default)]
    pub network: Option<String>,
    /// The message has this structured-data element (`origin`, `vakt@32473`) …
    #[serde(default)]
    pub sd_id: Option<String>,
    /// … with this parameter …
    #[serde(default)]
    pub sd_param: Option<String>,
    /// … of this value (without it: any value).
    #[serde(default)]
    pub sd_value: Option<String>,
}

/// A watched folder.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Watch {
    /// The folder (followed recursively: Zeek's dated archive folders too).
    pub dir: PathBuf,
    /// The tenant of its events.
    pub tenant: String,
    /// `zeek` (TSV or JSON `*.log`, `*.log.gz`) or `eve` (`eve*.json*`).
    pub format: WatchFormat,
}

/// What a watched folder holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WatchFormat {
    /// Zeek logs.
    Zeek,
    /// Suricata EVE.
    Eve,
}

impl Watch {
    /// `FORMAT:TENANT:DIR` (`zeek:ahus:/nsm/zeek/logs`).
    pub fn parse(spec: &str) -> Result<Watch, String> {
        let mut it = spec.splitn(3, ':');
        let (Some(f), Some(t), Some(d)) = (it.next(), it.next(), it.next()) else {
            return Err(format!("`{spec}`: expected FORMAT:TENANT:DIR"));
        };
        let format = match f {
            "zeek" => WatchFormat::Zeek,
            "eve" => WatchFormat::Eve,
            f => return Err(format!("`{f}`: a watched folder holds zeek or eve logs")),
        };
        if t.is_empty() || d.is_empty() {
            return Err(format!("`{spec}`: expected FORMAT:TENANT:DIR"));
        }
        Ok(Watch {
            dir: PathBuf::from(d),
            tenant: t.to_owned(),
            format,
        })
    }

    /// Its name in metrics, origins and positions (`zeek:ahus:/nsm/zeek/logs`).
    pub fn name(&self) -> String {
        let f = match self.format {
            WatchFormat::Zeek => "zeek",
            WatchFormat::Eve => "eve",
        };
        format!("{f}:{}:{}", self.tenant, self.dir.display())
    }
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
            syslog: Vec::new(),
            max_message_bytes: 256 << 10,
            watch: Vec::new(),
            watch_poll_ms: 250,
            session_hours: 8,
            oidc: None,
            respond: crate::respond::RespondConfig::default(),
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
