//! Recorded attacks replayed into the region (`vakt sim --replay DIR`).
//!
//! A recording (Windows events as JSON lines — OTRF/Mordor's flat exports,
//! `evtx_dump` output — or EVTX files, each alone or in a `.zip`) is
//! re-timed and re-hosted onto the attacked trust: its domain controller
//! becomes the trust's DC, its first other host the phished clinician's
//! workstation and the rest the EHR servers; its people become the phished
//! clinician (the first) and the stolen administrator (the others); its
//! private addresses those hosts' addresses; its domain `HELSE`. Every
//! string of every record is rewritten the same way (paths under
//! `C:\Users\<name>`, command lines and messages included), the records are
//! written in `evtx_dump`'s shape, and the recording's own time span is
//! moved to start during the intrusion.
//!
//! The recordings carry no per-event labels, so their truth is their own
//! scope: every record of a recording is the attacker's, its hosts and
//! accounts are the attacker's, and its stage is the tactic of the folder it
//! was filed under (`credential_access` → `credential-access`; a recording
//! filed elsewhere counts as `execution`). The lab's background noise in a
//! recording is therefore counted as the attacker's too.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value as Json};

use crate::format::windows;
use crate::output::{Rec, Stream, Tag};
use crate::region::{HostKind, Region};
use crate::{SimError, World};

/// One recording, loaded and rewritten.
#[derive(Debug, Clone)]
pub struct Recording {
    /// The file it came from.
    pub path: PathBuf,
    /// The stage its folder names.
    pub stage: &'static str,
    /// Its name in the truth ledger (`<folder>/<file>`).
    pub label: std::sync::Arc<str>,
    /// Its hosts, as mapped: (recorded name, region host index).
    pub hosts: Vec<(String, usize)>,
    /// Its accounts, as mapped: (recorded name, region account).
    pub accounts: Vec<(String, String)>,
    /// Records: (time, host index, event JSON in `evtx_dump`'s shape).
    records: Vec<(i64, usize, Json)>,
    /// Records that could not be used (no time, not an event).
    pub skipped: u64,
}

/// The recordings to replay, in time order once placed.
#[derive(Debug, Default)]
pub struct Replay {
    /// The recordings.
    pub recordings: Vec<Recording>,
    queue: Vec<(i64, usize, usize)>,
    next: usize,
}

fn stage_of(path: &Path) -> &'static str {
    let s = path.to_string_lossy().to_lowercase();
    for (k, v) in [
        ("credential_access", "credential-access"),
        ("lateral_movement", "lateral-movement"),
        ("defense_evasion", "defense-evasion"),
        ("privilege_escalation", "privilege-escalation"),
        ("discovery", "discovery"),
        ("persistence", "persistence"),
        ("collection", "collection"),
        ("exfiltration", "exfiltration"),
        ("command_and_control", "command-and-control"),
        ("initial_access", "initial-access"),
        ("impact", "impact"),
    ] {
        if s.contains(k) || s.contains(v) {
            return v;
        }
    }
    "execution"
}

/// Every recording file under `paths` (sorted, for the same bytes each run).
pub fn files(paths: &[PathBuf]) -> Vec<PathBuf> {
    fn walk(p: &Path, out: &mut Vec<PathBuf>) {
        if p.is_dir() {
            let mut v: Vec<PathBuf> = std::fs::read_dir(p)
                .into_iter()
                .flatten()
                .filter_map(|e| e.ok().map(|e| e.path()))
                .collect();
            v.sort();
            for q in v {
                walk(&q, out);
            }
        } else if p.extension().is_some_and(|x| {
            ["zip", "json", "jsonl", "ndjson", "evtx"]
                .contains(&x.to_string_lossy().to_lowercase().as_str())
        }) {
            out.push(p.to_owned());
        }
    }
    let mut out = Vec::new();
    for p in paths {
        walk(p, &mut out);
    }
    out
}

fn io(path: &Path, e: impl std::fmt::Display) -> SimError {
    SimError::Io(format!("{}: {e}", path.display()))
}

/// The events of one file: JSON objects (flat or `evtx_dump` shape).
fn events(path: &Path) -> Result<(Vec<Json>, u64), SimError> {
    let ext = path
        .extension()
        .map(|x| x.to_string_lossy().to_lowercase())
        .unwrap_or_default();
    let mut bad = 0u64;
    let mut out = Vec::new();
    fn lines(text: &str, out: &mut Vec<Json>, bad: &mut u64) {
        for l in text.lines().filter(|l| !l.trim().is_empty()) {
            match serde_json::from_str::<Json>(l) {
                Ok(v) if v.is_object() => out.push(v),
                _ => *bad += 1,
            }
        }
    }
    match ext.as_str() {
        "evtx" => evtx_events(
            path,
            &std::fs::read(path).map_err(|e| io(path, e))?,
            &mut out,
            &mut bad,
        ),
        "zip" => {
            let f = std::fs::File::open(path).map_err(|e| io(path, e))?;
            let mut z = zip::ZipArchive::new(f).map_err(|e| io(path, e))?;
            for i in 0..z.len() {
                let mut entry = z.by_index(i).map_err(|e| io(path, e))?;
                let name = entry.name().map_err(|e| io(path, e))?.into_owned();
                if entry.is_dir() || name.starts_with("__MACOSX") || name.contains("/._") {
                    continue;
                }
                let mut bytes = Vec::new();
                entry.read_to_end(&mut bytes).map_err(|e| io(path, e))?;
                if name.to_lowercase().ends_with(".evtx") {
                    evtx_events(path, &bytes, &mut out, &mut bad);
                } else {
                    lines(&String::from_utf8_lossy(&bytes), &mut out, &mut bad);
                }
            }
        }
        _ => lines(
            &String::from_utf8_lossy(&std::fs::read(path).map_err(|e| io(path, e))?),
            &mut out,
            &mut bad,
        ),
    }
    Ok((out, bad))
}

fn evtx_events(path: &Path, bytes: &[u8], out: &mut Vec<Json>, bad: &mut u64) {
    let Ok(mut p) = evtx::EvtxParser::from_read_seek(std::io::Cursor::new(bytes.to_vec())) else {
        *bad += 1;
        let _ = path;
        return;
    };
    for r in p.records_json_value() {
        match r {
            Ok(r) => out.push(r.data),
            Err(_) => *bad += 1,
        }
    }
}

/// System fields of an event, whatever its shape: (time ns, host, channel,
/// provider, event id, data).
struct Parts {
    time: Option<i64>,
    host: String,
    channel: String,
    provider: String,
    id: u32,
    data: Vec<(String, String)>,
}

fn text(v: &Json) -> String {
    match v {
        Json::String(s) => s.clone(),
        Json::Null => String::new(),
        other => other.to_string(),
    }
}

fn parse_time(s: &str) -> Option<i64> {
    let s = s.trim();
    if let Ok(t) = vakt_core::Timestamp::parse(s) {
        return Some(t.0);
    }
    // `2020-10-18 07:50:06.220` (NXLog): UTC.
    let iso = format!("{}Z", s.replacen(' ', "T", 1));
    vakt_core::Timestamp::parse(&iso).ok().map(|t| t.0)
}

/// Metadata a log shipper adds: not the event's.
const SHIPPER: &[&str] = &[
    "@version",
    "@timestamp",
    "host",
    "port",
    "tags",
    "type",
    "Keywords",
    "Severity",
    "SeverityValue",
    "EventType",
    "Opcode",
    "OpcodeValue",
    "RecordNumber",
    "ExecutionProcessID",
    "ExecutionThreadID",
    "Category",
    "EventReceivedTime",
    "SourceModuleName",
    "SourceModuleType",
    "Version",
    "Task",
    "Level",
    "ThreadID",
    "ProcessID",
    "EventTime",
    "TimeCreated",
    "Hostname",
    "Computer",
    "Channel",
    "SourceName",
    "ProviderGuid",
    "ProviderName",
    "EventID",
    "Domain",
    "AccountName",
    "UserID",
    "AccountType",
    "ActivityID",
    "log_name",
    "source_name",
    "event_id",
    "computer_name",
    "record_number",
    "beat",
    "agent",
    "ecs",
    "winlog",
    "log",
    "event",
];

fn parts(v: &Json) -> Parts {
    if let Some(e) = v.get("Event") {
        let sys = &e["System"];
        let id = match &sys["EventID"] {
            Json::Object(o) => o.get("#text").map(text).unwrap_or_default(),
            other => text(other),
        };
        let mut data = Vec::new();
        for sect in ["EventData", "UserData"] {
            if let Some(Json::Object(m)) = e.get(sect) {
                flatten("", m, &mut data);
            }
        }
        return Parts {
            time: sys["TimeCreated"]["#attributes"]["SystemTime"]
                .as_str()
                .and_then(parse_time),
            host: text(&sys["Computer"]),
            channel: text(&sys["Channel"]),
            provider: text(&sys["Provider"]["#attributes"]["Name"]),
            id: id.trim().parse().unwrap_or(0),
            data,
        };
    }
    let get = |k: &str| v.get(k).map(text).unwrap_or_default();
    let time = ["@timestamp", "TimeCreated", "EventTime", "UtcTime"]
        .iter()
        .find_map(|k| v.get(*k).and_then(Json::as_str).and_then(parse_time));
    let mut data = Vec::new();
    if let Json::Object(m) = v {
        for (k, x) in m {
            if SHIPPER.contains(&k.as_str()) || k == "Message" {
                continue;
            }
            data.push((k.clone(), text(x)));
        }
    }
    Parts {
        time,
        host: if v.get("Hostname").is_some() {
            get("Hostname")
        } else {
            get("Computer")
        },
        channel: get("Channel"),
        provider: if v.get("SourceName").is_some() {
            get("SourceName")
        } else {
            get("ProviderName")
        },
        id: get("EventID").trim().parse().unwrap_or(0),
        data,
    }
}

fn flatten(prefix: &str, m: &Map<String, Json>, out: &mut Vec<(String, String)>) {
    for (k, v) in m {
        if k == "#attributes" {
            continue;
        }
        let key = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        match v {
            Json::Object(o) => flatten(&key, o, out),
            other => out.push((key, text(other))),
        }
    }
}

/// Names that are not people.
fn is_person(user: &str) -> bool {
    let u = user.to_lowercase();
    !(u.is_empty()
        || u == "-"
        || u.ends_with('$')
        || u.starts_with("dwm-")
        || u.starts_with("umfd-")
        || matches!(
            u.as_str(),
            "system"
                | "local service"
                | "network service"
                | "anonymous logon"
                | "localsystem"
                | "administrator"
                | "guest"
                | "defaultaccount"
                | "n/a"
        ))
}

fn private(ip: Ipv4Addr) -> bool {
    ip.is_private() && !ip.is_loopback()
}

/// Replaces whole-word, case-insensitive occurrences.
struct Rewriter {
    words: Vec<(regex::Regex, String)>,
}

impl Rewriter {
    fn apply(&self, s: &str) -> String {
        let mut out = s.to_owned();
        for (re, to) in &self.words {
            if re.is_match(&out) {
                out = re.replace_all(&out, to.as_str()).into_owned();
            }
        }
        out
    }
}

fn word(from: &str) -> Option<regex::Regex> {
    regex::Regex::new(&format!(
        r"(?i)(^|[^A-Za-z0-9_.\-]){}($|[^A-Za-z0-9_\-])",
        regex::escape(from)
    ))
    .ok()
}

impl Recording {
    /// Loads one recording and maps it onto `trust`: `workstation` (the
    /// phished clinician's), the DC and the EHR servers; `people` (the
    /// phished clinician's and the administrator's user names).
    pub fn load(
        path: &Path,
        region: &Region,
        trust: usize,
        workstation: usize,
        people: [&str; 2],
    ) -> Result<Recording, SimError> {
        let (raw, mut skipped) = events(path)?;
        let parsed: Vec<Parts> = raw.iter().map(parts).collect();
        // Hosts: by how often they log; a DC by its name.
        // A host by its short name (exports mix `ws5` and `ws5.lab.local`).
        let short = |h: &str| h.split('.').next().unwrap_or(h).to_lowercase();
        let mut seen: BTreeMap<String, usize> = BTreeMap::new();
        let mut fqdns: BTreeSet<String> = BTreeSet::new();
        for p in &parsed {
            if !p.host.is_empty() {
                *seen.entry(short(&p.host)).or_default() += 1;
                if p.host.contains('.') {
                    fqdns.insert(p.host.to_lowercase());
                }
            }
        }
        let mut hosts: Vec<(String, usize)> = seen.into_iter().collect();
        hosts.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        let dc = region.server(trust, HostKind::DomainController);
        let mut others = vec![workstation];
        others.extend(region.servers(trust, HostKind::Ehr));
        others.extend(region.servers(trust, HostKind::FileServer));
        let mut host_map: Vec<(String, usize)> = Vec::new();
        let mut k = 0;
        for (h, _) in &hosts {
            let target = if h.contains("dc") {
                dc
            } else {
                let t = others[k.min(others.len() - 1)];
                k += 1;
                t
            };
            host_map.push((h.clone(), target));
        }
        // Domains: the FQDNs' suffixes and the domain fields.
        let mut domains: BTreeSet<String> = BTreeSet::new();
        for h in &fqdns {
            if let Some((_, d)) = h.split_once('.') {
                domains.insert(d.to_owned());
                if let Some(first) = d.split('.').next() {
                    domains.insert(first.to_owned());
                }
            }
        }
        let mut users: BTreeMap<String, usize> = BTreeMap::new();
        let mut ip_host: BTreeMap<Ipv4Addr, String> = BTreeMap::new();
        let mut ips: BTreeSet<Ipv4Addr> = BTreeSet::new();
        for p in &parsed {
            for (key, val) in &p.data {
                match key.as_str() {
                    "TargetDomainName" | "SubjectDomainName" => {
                        let d = val.to_lowercase();
                        if !d.is_empty()
                            && d != "-"
                            && !d.contains("nt authority")
                            && !d.contains("font driver")
                            && !d.contains("window manager")
                            && d != "builtin"
                            && !seen_host(&hosts, &d)
                        {
                            domains.insert(d);
                        }
                    }
                    "TargetUserName" | "SubjectUserName" | "User" | "SourceUser" | "TargetUser"
                    | "AccountName" => {
                        let (dom, u) = val.rsplit_once('\\').unwrap_or(("", val.as_str()));
                        let u = u.split('@').next().unwrap_or(u);
                        let dom = dom.to_lowercase();
                        if is_person(u) && !dom.contains("nt authority") {
                            *users.entry(u.to_lowercase()).or_default() += 1;
                        }
                    }
                    "IpAddress" | "SourceIp" | "DestinationIp" | "SourceAddress"
                    | "DestAddress" | "ClientAddress" => {
                        if let Ok(ip) = val.trim_start_matches("::ffff:").parse::<Ipv4Addr>()
                            && private(ip)
                        {
                            ips.insert(ip);
                            if key == "SourceIp" && p.id == 3 {
                                ip_host.entry(ip).or_insert(short(&p.host));
                            }
                        }
                    }
                    _ => {}
                }
            }
        }
        let host_of = |h: &str| host_map.iter().find(|(n, _)| n == h).map(|(_, i)| *i);
        // Addresses: a host's own to its new host's, others to other hosts of the trust.
        let spare: Vec<usize> = region
            .hosts
            .iter()
            .enumerate()
            .filter(|(i, h)| {
                h.trust == trust && h.kind == HostKind::Workstation && *i != workstation
            })
            .map(|(i, _)| i)
            .take(64)
            .collect();
        let mut rewrite: Vec<(String, String)> = Vec::new();
        let mut n_spare = 0;
        for ip in &ips {
            let to = match ip_host.get(ip).and_then(|h| host_of(h)) {
                Some(h) => region.hosts[h].ip,
                None => {
                    let h = spare
                        .get(n_spare % spare.len().max(1))
                        .copied()
                        .unwrap_or(workstation);
                    n_spare += 1;
                    region.hosts[h].ip
                }
            };
            rewrite.push((ip.to_string(), to.to_string()));
        }
        // People by how often they act: the first is the phished clinician.
        let mut ranked: Vec<(String, usize)> = users.into_iter().collect();
        ranked.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        let accounts: Vec<(String, String)> = ranked
            .iter()
            .enumerate()
            .map(|(i, (u, _))| (u.clone(), people[usize::from(i > 0)].to_owned()))
            .collect();
        // Longest names first, so that a FQDN goes before its short name.
        for (h, i) in &host_map {
            let name = region.hosts[*i].name.clone();
            for f in fqdns.iter().filter(|f| short(f) == *h) {
                rewrite.push((f.clone(), format!("{name}.helse.local")));
            }
            rewrite.push((h.clone(), name));
        }
        for d in &domains {
            let to = if d.contains('.') {
                "helse.local"
            } else {
                "HELSE"
            };
            rewrite.push((d.clone(), to.to_owned()));
        }
        for (u, to) in &accounts {
            rewrite.push((u.clone(), to.clone()));
        }
        rewrite.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then(a.0.cmp(&b.0)));
        rewrite.dedup_by(|a, b| a.0.eq_ignore_ascii_case(&b.0));
        let rw = Rewriter {
            words: rewrite
                .iter()
                .filter_map(|(f, t)| word(f).map(|re| (re, format!("${{1}}{t}${{2}}"))))
                .collect(),
        };
        let mut records = Vec::new();
        for p in parsed {
            let Some(t) = p.time else {
                skipped += 1;
                continue;
            };
            let Some(h) = host_of(&short(&p.host)) else {
                skipped += 1;
                continue;
            };
            let data: Map<String, Json> = p
                .data
                .iter()
                .map(|(k, v)| (k.clone(), Json::String(rw.apply(v))))
                .collect();
            let ev = serde_json::json!({"channel": p.channel, "provider": p.provider, "id": p.id, "data": data});
            records.push((t, h, ev));
        }
        records.sort_by_key(|r| r.0);
        let label: String = path
            .iter()
            .rev()
            .take(2)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .map(|c| c.to_string_lossy())
            .collect::<Vec<_>>()
            .join("/");
        Ok(Recording {
            label: label.into(),
            path: path.to_owned(),
            stage: stage_of(path),
            hosts: host_map,
            accounts,
            records,
            skipped,
        })
    }

    /// The recording's span (first, last), ns.
    pub fn span(&self) -> (i64, i64) {
        (
            self.records.first().map_or(0, |r| r.0),
            self.records.last().map_or(0, |r| r.0),
        )
    }

    /// Records loaded.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// No records.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }
}

fn seen_host(hosts: &[(String, usize)], d: &str) -> bool {
    hosts.iter().any(|(h, _)| h.split('.').next() == Some(d))
}

impl Replay {
    /// Places each recording to start at `start + k × gap` (its own
    /// timing kept within it).
    pub fn place(mut recordings: Vec<Recording>, start: i64, gap: i64) -> Replay {
        let mut queue = Vec::new();
        for (k, r) in recordings.iter_mut().enumerate() {
            let (first, _) = r.span();
            let shift = start + k as i64 * gap - first;
            for (i, rec) in r.records.iter_mut().enumerate() {
                rec.0 += shift;
                queue.push((rec.0, k, i));
            }
        }
        queue.sort();
        Replay {
            recordings,
            queue,
            next: 0,
        }
    }

    /// The replayed records of the hour starting at `t0`.
    pub fn hour(&mut self, world: &mut World, trust: usize, t0: i64, recs: &mut Vec<Rec>) {
        let r = world.region;
        while self.next < self.queue.len() && self.queue[self.next].0 < t0 + crate::HOUR {
            let (t, k, i) = self.queue[self.next];
            self.next += 1;
            let rec = &self.recordings[k];
            let (_, host, ev) = &rec.records[i];
            world.records[*host] += 1;
            let data: Vec<(&str, String)> = ev["data"]
                .as_object()
                .into_iter()
                .flatten()
                .map(|(k, v)| (k.as_str(), v.as_str().unwrap_or("").to_owned()))
                .collect();
            let text = windows(
                t,
                &r.hosts[*host].name,
                ev["channel"].as_str().unwrap_or(""),
                ev["provider"].as_str().unwrap_or(""),
                ev["id"].as_u64().unwrap_or(0) as u32,
                world.records[*host],
                &data,
            );
            let account = rec.accounts.first().map_or("", |a| a.1.as_str());
            recs.push(Rec {
                t,
                trust,
                stream: Stream::Windows,
                text,
                tag: Some(Tag {
                    stage: rec.stage,
                    technique: "replay",
                    host: r.hosts[*host].name.clone(),
                    account: account.to_owned(),
                    recording: Some(rec.label.clone()),
                }),
            });
        }
    }

    /// What the truth says of the replayed recordings.
    pub fn truth(&self, r: &Region) -> Json {
        Json::Array(
            self.recordings
                .iter()
                .map(|rec| {
                    let (a, b) = rec.span();
                    serde_json::json!({
                        "recording": &*rec.label,
                        "file": rec.path.display().to_string(),
                        "stage": rec.stage,
                        "records": rec.len(),
                        "skipped": rec.skipped,
                        "from": vakt_core::Timestamp(a).to_rfc3339(),
                        "to": vakt_core::Timestamp(b).to_rfc3339(),
                        "hosts": rec.hosts.iter().map(|(h, i)| serde_json::json!({"recorded": h, "host": r.hosts[*i].name, "ip": r.hosts[*i].ip.to_string()})).collect::<Vec<_>>(),
                        "accounts": rec.accounts.iter().map(|(u, to)| serde_json::json!({"recorded": u, "user": to})).collect::<Vec<_>>(),
                    })
                })
                .collect(),
        )
    }
}
