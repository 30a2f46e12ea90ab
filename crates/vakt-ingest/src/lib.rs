//! vakt-ingest: a reader for every input a health CERT has.
//!
//! Every format is a module with the same interface: a reader (or, for EVTX,
//! the file's bytes) and a [`ReadContext`] in, an iterator of
//! `Result<Event, RecordError>` out. A bad record is an `Err` naming the
//! input, the record or line, and what was wrong; the iterator goes on with
//! the next record. [`read_path`] finds the format by sniffing the content
//! (not the file name), opens `.gz` and `.zip` transparently, and reports
//! files in no event format as skipped.
//!
//! This crate does not detect, store or correlate anything.
//!
//! # Formats
//!
//! | format (`--input-format`) | recognised by | source kind | native fields | common fields |
//! |---|---|---|---|---|
//! | EVTX (`evtx`) | `ElfFile\0` magic | `evtx:<Channel>` | System: `EventID`, `Channel`, `Provider_Name`, `Provider_Guid`, `Computer`, `TimeCreated`, `EventRecordID`, `Level`, `Task`, `Opcode`, `Keywords`, `Version`, `ActivityID`, `Execution_ProcessID`, `Execution_ThreadID`, `Security_UserID`; every `EventData`/`UserData` child under its own name | `device.hostname` ← Computer; `metadata.uid` ← EventRecordID; `metadata.event_code` ← EventID; `actor.user.name` ← SubjectUserName/User; `actor.user.domain`, `actor.user.uid` ← Subject*; `user.name` ← TargetUserName; `src_endpoint.ip/port` ← IpAddress/IpPort/SourceIp/SourcePort; `dst_endpoint.ip/port/hostname` ← Destination*; `process.file.path` ← Image/NewProcessName; `actor.process.file.path` ← ParentImage/ParentProcessName; `process.cmd_line` ← CommandLine; `process.pid` ← ProcessId/NewProcessId; `file.path` ← TargetFilename; `file.hashes.*` ← Hashes; `query.hostname` ← QueryName |
//! | EVTX as JSON (`evtx-json`) | `{"Event":{"System":…}}` (evtx_dump, also with `--separate-json-attributes`), flat objects with `EventID` and `Channel`/`SourceName` (Logstash/NXLog exports), or Winlogbeat documents (`winlog.event_id`) | `evtx:<Channel>` | as EVTX; flat exports keep their names, plus `Computer` ← Hostname, `Provider_Name` ← SourceName, `EventRecordID` ← RecordNumber; Winlogbeat's `winlog.event_data.*` under native names and `winlog.*` under the System names | as EVTX |
//! | Zeek TSV (`zeek`) | `#separator` (or `#fields`) header | `zeek:<#path>` | every column, typed by `#types` | `src_endpoint.ip/port` ← id.orig_h/p; `dst_endpoint.ip/port` ← id.resp_h/p; `connection_info.protocol_name` ← proto; `metadata.uid` ← uid; `traffic.bytes_out/in` ← orig/resp_bytes; `duration`; dns `query` → `query.hostname`; http `host`, `uri`, `user_agent` → `http_request.*`; ssl `server_name` → `tls.sni`; files hashes → `file.hashes.*`; notice `src`/`dst`/`note` |
//! | Zeek JSON (`zeek`) | objects with a numeric `ts` and `uid`/`_path`/`@stream`/`id.orig_h`/`id_orig_h` | `zeek:<_path or @stream or file name>` | every key (`id.orig_h` or `id_orig_h` as written) | as Zeek TSV |
//! | Suricata EVE (`eve`) | objects with `event_type` and `timestamp` | `suricata:eve` | JSON paths joined by `.` (`alert.signature`, `dns.rrname`) | `src_endpoint.*` ← src_ip/src_port; `dst_endpoint.*` ← dest_ip/dest_port; proto; `metadata.uid` ← flow_id; `finding_info.title`, `severity` ← alert.*; `query.hostname` ← dns.rrname; `http_request.*` ← http.*; `tls.sni`; `file.hashes.*` ← fileinfo.*; `traffic.*` ← flow.bytes_* |
//! | FHIR AuditEvent (`fhir`) | `resourceType` `AuditEvent`, or a `Bundle` holding one; R4 and R5 | `fhir:AuditEvent` | JSON paths joined by `.` (`agent.who.reference`, `entity.what.reference`) | see [`fhir`]: `actor.user.uid/name`, `src_endpoint.ip/hostname`, `patient.uid`, `activity_name`, `status`, `metadata.event_code`, `api.operation`, `purpose_of_use`, `device.hostname` |
//! | Syslog (`syslog`) | `<PRI>` at the start (RFC 5424, RFC 3164, octet-counted frames) or a traditional `Mmm dd hh:mm:ss` line | `syslog`; a JSON text of a known shape (EVE, Windows JSON, Zeek JSON, FHIR) becomes that format's event with `syslog.*` beside it | see [`syslog`]: `facility`, `severity`, `pri`, `hostname`, `app_name`, `procid`, `msgid`, `message`, `<SD-ID>.<name>` | `device.hostname`, `severity`, `process.pid` |
//! | JSON Lines (`jsonl`) | any other object with a timestamp field (`@timestamp`, `timestamp`, `time`, `ts`, or `--timestamp-field`) | `jsonl` | JSON paths joined by `.` | none |
//!
//! Everything else (Sigma rules, indicator feeds, FHIR resources other than
//! AuditEvent, documents) is *skipped* with a reason, never *rejected*.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod error;
pub mod eve;
pub mod evtx;
pub mod fhir;
mod flatten;
mod json_events;
mod json_stream;
pub mod jsonl;
mod read;
mod sniff;
pub mod syslog;
pub mod windows;
pub mod zeek;

use std::sync::Arc;

pub use error::{InputError, RecordError};
pub use json_events::{JsonEvents, RecordMapper};
pub use read::{Options, Visit, collect_files, read_bytes, read_path};
pub use sniff::{Sniffed, sniff};

/// The mapper of Windows events rendered as JSON, for [`JsonEvents`].
pub fn windows_json(ctx: ReadContext) -> windows::WindowsJson {
    windows::WindowsJson::new(ctx)
}

/// The context a reader needs besides the bytes: which input, which tenant.
#[derive(Debug, Clone)]
pub struct ReadContext {
    /// The input's display path (`dir/a.zip!inner.json` inside archives).
    pub path: Arc<str>,
    /// The tenant the input belongs to.
    pub tenant: Arc<str>,
    /// For JSON Lines: the timestamp field (default: the first of [`jsonl::DEFAULT_TIME_FIELDS`]).
    pub timestamp_field: Option<Arc<str>>,
}

impl ReadContext {
    /// An event of this input: its tenant and path, with the rest given.
    pub fn event(
        &self,
        time: vakt_core::Timestamp,
        source: vakt_core::SourceKind,
        fields: Vec<(vakt_core::FieldId, vakt_core::Value)>,
        common: Vec<(vakt_core::FieldId, vakt_core::Value)>,
        locator: vakt_core::Locator,
    ) -> vakt_core::Event {
        vakt_core::Event {
            time,
            tenant: self.tenant.clone(),
            source,
            fields,
            common,
            origin: vakt_core::Origin {
                path: self.path.clone(),
                locator,
            },
        }
    }

    /// A context for `path` and `tenant`.
    pub fn new(path: &str, tenant: &str) -> Self {
        ReadContext {
            path: Arc::from(path),
            tenant: Arc::from(tenant),
            timestamp_field: None,
        }
    }
}

/// An input format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Format {
    /// Windows EVTX.
    Evtx,
    /// Windows events rendered as JSON.
    EvtxJson,
    /// Zeek logs, TSV or JSON.
    Zeek,
    /// Suricata EVE JSON.
    Eve,
    /// FHIR AuditEvent.
    Fhir,
    /// Generic JSON Lines.
    Jsonl,
    /// Syslog (RFC 5424, RFC 3164), one message per line or octet-counted.
    Syslog,
}

impl Format {
    /// Every format.
    pub const ALL: [Format; 7] = [
        Format::Evtx,
        Format::EvtxJson,
        Format::Zeek,
        Format::Eve,
        Format::Fhir,
        Format::Jsonl,
        Format::Syslog,
    ];

    /// The name used by `--input-format`.
    pub fn name(self) -> &'static str {
        match self {
            Format::Evtx => "evtx",
            Format::EvtxJson => "evtx-json",
            Format::Zeek => "zeek",
            Format::Eve => "eve",
            Format::Fhir => "fhir",
            Format::Jsonl => "jsonl",
            Format::Syslog => "syslog",
        }
    }
}

impl std::str::FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Format::ALL
            .into_iter()
            .find(|f| f.name() == s)
            .ok_or_else(|| format!("unknown input format `{s}`"))
    }
}

impl std::fmt::Display for Format {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}
