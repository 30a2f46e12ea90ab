//! The files the simulation writes: one set per trust and day, each record
//! in the format a real sensor or system writes, and the truth ledger that
//! says which records are the attacker's.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::SimError;

/// A kind of output stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Stream {
    /// Windows events (EVTX rendered as JSON, one per line).
    Windows,
    /// Zeek conn.log.
    Conn,
    /// Zeek dns.log.
    Dns,
    /// Zeek http.log.
    Http,
    /// Zeek ssl.log.
    Ssl,
    /// FHIR AuditEvent NDJSON.
    Audit,
}

impl Stream {
    fn file(self) -> &'static str {
        match self {
            Stream::Windows => "windows/events.jsonl",
            Stream::Conn => "zeek/conn.log",
            Stream::Dns => "zeek/dns.log",
            Stream::Http => "zeek/http.log",
            Stream::Ssl => "zeek/ssl.log",
            Stream::Audit => "ehr/auditevent.ndjson",
        }
    }

    fn zeek_header(self) -> Option<(&'static str, &'static str, &'static str)> {
        Some(match self {
            Stream::Conn => (
                "conn",
                "ts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\tservice\tduration\torig_bytes\tresp_bytes\tconn_state\tlocal_orig\tlocal_resp\tmissed_bytes\thistory\torig_pkts\torig_ip_bytes\tresp_pkts\tresp_ip_bytes",
                "time\tstring\taddr\tport\taddr\tport\tenum\tstring\tinterval\tcount\tcount\tstring\tbool\tbool\tcount\tstring\tcount\tcount\tcount\tcount",
            ),
            Stream::Dns => (
                "dns",
                "ts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\ttrans_id\trtt\tquery\tqclass\tqclass_name\tqtype\tqtype_name\trcode\trcode_name\tAA\tTC\tRD\tRA\tZ\tanswers\tTTLs\trejected",
                "time\tstring\taddr\tport\taddr\tport\tenum\tcount\tinterval\tstring\tcount\tstring\tcount\tstring\tcount\tstring\tbool\tbool\tbool\tbool\tcount\tvector[string]\tvector[interval]\tbool",
            ),
            Stream::Http => (
                "http",
                "ts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tmethod\thost\turi\tuser_agent\trequest_body_len\tresponse_body_len\tstatus_code",
                "time\tstring\taddr\tport\taddr\tport\tstring\tstring\tstring\tstring\tcount\tcount\tcount",
            ),
            Stream::Ssl => (
                "ssl",
                "ts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tversion\tcipher\tserver_name\testablished",
                "time\tstring\taddr\tport\taddr\tport\tstring\tstring\tstring\tbool",
            ),
            _ => return None,
        })
    }
}

/// What the truth ledger records of an attacker's record.
#[derive(Debug, Clone)]
pub struct Tag {
    /// Kill-chain stage.
    pub stage: &'static str,
    /// ATT&CK technique.
    pub technique: &'static str,
    /// Host.
    pub host: String,
    /// Account, if one acts.
    pub account: String,
    /// The replayed recording it came from.
    pub recording: Option<std::sync::Arc<str>>,
}

/// One record waiting to be written in time order.
#[derive(Debug)]
pub struct Rec {
    /// Nanoseconds since the epoch.
    pub t: i64,
    /// Trust index.
    pub trust: usize,
    /// Stream.
    pub stream: Stream,
    /// The line (without the line end).
    pub text: String,
    /// Set for the attacker's records.
    pub tag: Option<Tag>,
}

struct Open {
    w: BufWriter<File>,
    lines: u64,
    zeek: bool,
}

/// The open files of one day, the truth ledger, and what has been written.
pub struct Output {
    root: PathBuf,
    day_dir: String,
    open: BTreeMap<(usize, Stream), Open>,
    truth: BufWriter<File>,
    /// Files written, relative to the root.
    pub files: Vec<PathBuf>,
    /// Records written.
    pub records: u64,
}

fn io(path: &Path, e: std::io::Error) -> SimError {
    SimError::Io(format!("{}: {e}", path.display()))
}

impl Output {
    /// Starts writing under `root`.
    pub fn new(root: &Path) -> Result<Output, SimError> {
        fs::create_dir_all(root.join("truth")).map_err(|e| io(root, e))?;
        let tp = root.join("truth/events.jsonl");
        let truth = BufWriter::new(File::create(&tp).map_err(|e| io(&tp, e))?);
        Ok(Output {
            root: root.to_owned(),
            day_dir: String::new(),
            open: BTreeMap::new(),
            truth,
            files: vec![PathBuf::from("truth/events.jsonl")],
            records: 0,
        })
    }

    /// Closes the previous day's files and starts day `day` (0-based).
    pub fn start_day(&mut self, day: u32) -> Result<(), SimError> {
        self.close_day()?;
        self.day_dir = format!("day-{:03}", day + 1);
        Ok(())
    }

    fn close_day(&mut self) -> Result<(), SimError> {
        for (_, mut o) in std::mem::take(&mut self.open) {
            if o.zeek {
                o.w.write_all(b"#close\t-\n")
                    .map_err(|e| io(&self.root, e))?;
            }
            o.w.flush().map_err(|e| io(&self.root, e))?;
        }
        Ok(())
    }

    /// Writes records in time order (stable for equal times), and their truth.
    pub fn write(&mut self, trusts: &[&str], mut recs: Vec<Rec>) -> Result<(), SimError> {
        recs.sort_by_key(|r| r.t);
        for r in recs {
            let key = (r.trust, r.stream);
            if !self.open.contains_key(&key) {
                let rel = PathBuf::from(format!(
                    "tenants/{}/{}/{}",
                    trusts[r.trust],
                    self.day_dir,
                    r.stream.file()
                ));
                let path = self.root.join(&rel);
                if let Some(parent) = path.parent() {
                    fs::create_dir_all(parent).map_err(|e| io(parent, e))?;
                }
                let mut w = BufWriter::with_capacity(
                    1 << 16,
                    File::create(&path).map_err(|e| io(&path, e))?,
                );
                let mut lines = 0;
                let zeek = if let Some((log, fields, types)) = r.stream.zeek_header() {
                    let header = format!(
                        "#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n#unset_field\t-\n#path\t{log}\n#open\t{}\n#fields\t{fields}\n#types\t{types}\n",
                        self.day_dir
                    );
                    w.write_all(header.as_bytes()).map_err(|e| io(&path, e))?;
                    lines = 8;
                    true
                } else {
                    false
                };
                self.files.push(rel);
                self.open.insert(key, Open { w, lines, zeek });
            }
            let Some(o) = self.open.get_mut(&key) else {
                continue;
            };
            o.w.write_all(r.text.as_bytes())
                .map_err(|e| io(&self.root, e))?;
            o.w.write_all(b"\n").map_err(|e| io(&self.root, e))?;
            o.lines += 1;
            self.records += 1;
            if let Some(tag) = r.tag {
                let file = format!(
                    "tenants/{}/{}/{}",
                    trusts[r.trust],
                    self.day_dir,
                    r.stream.file()
                );
                let mut line = serde_json::json!({
                    "file": file,
                    "line": o.lines,
                    "time": vakt_core::Timestamp(r.t).to_rfc3339(),
                    "stage": tag.stage,
                    "technique": tag.technique,
                    "host": tag.host,
                    "account": tag.account,
                });
                if let Some(rec) = &tag.recording {
                    line["recording"] = serde_json::Value::String(rec.to_string());
                }
                writeln!(self.truth, "{line}").map_err(|e| io(&self.root, e))?;
            }
        }
        Ok(())
    }

    /// Writes a whole file (context resources, registers, truth summaries).
    pub fn write_file(&mut self, rel: &str, text: &str) -> Result<(), SimError> {
        let path = self.root.join(rel);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).map_err(|e| io(parent, e))?;
        }
        fs::write(&path, text).map_err(|e| io(&path, e))?;
        self.files.push(PathBuf::from(rel));
        Ok(())
    }

    /// An appending writer for a file that grows over the days (Encounter NDJSON).
    pub fn appender(&mut self, rel: &str) -> Result<BufWriter<File>, SimError> {
        let path = self.root.join(rel);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).map_err(|e| io(parent, e))?;
        }
        self.files.push(PathBuf::from(rel));
        Ok(BufWriter::new(
            File::create(&path).map_err(|e| io(&path, e))?,
        ))
    }

    /// Closes everything.
    pub fn finish(mut self) -> Result<(Vec<PathBuf>, u64), SimError> {
        self.close_day()?;
        self.truth.flush().map_err(|e| io(&self.root, e))?;
        Ok((self.files, self.records))
    }
}
