//! Network behaviour over Zeek and Suricata events: beaconing (RITA's
//! scoring, with destinations most of the region talks to set aside), long
//! connections, DNS tunnels, large uploads to rare destinations, and hosts
//! that begin moving laterally over administrative protocols.
//!
//! Batch use: feed every event (`observe`), merge the states of parallel
//! workers (`merge`), then `alerts`. State is per pair, per registered
//! domain and per source host, never per event, except the beacon tracker's
//! capped connection times (at most 86,400 per pair, as RITA keeps).

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use rustc_hash::{FxHashMap, FxHashSet};
use vakt_core::field::{
    BYTES_OUT, DST_IP, DST_PORT, DURATION, METADATA_UID, QUERY_HOSTNAME, SRC_IP, TLS_SNI,
    URL_HOSTNAME,
};
use vakt_core::{Alert, Entity, FieldId, Origin, Severity, Timestamp, Value};

use crate::beacon::{BeaconConfig, BeaconTracker, PairState};

/// Private, loopback and link-local addresses: the region's own.
pub fn internal(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v) => v.is_private() || v.is_loopback() || v.is_link_local(),
        IpAddr::V6(v) => {
            v.is_loopback()
                || (v.segments()[0] & 0xfe00) == 0xfc00
                || (v.segments()[0] & 0xffc0) == 0xfe80
        }
    }
}

/// The detectors' names, as in [`Alert::detector`].
pub const DETECTORS: &[&str] = &[
    "beacon",
    "strobe",
    "long-connection",
    "dns-tunnel",
    "exfiltration",
    "scan",
    "lateral-movement",
    "rare-destination",
];

/// Internal hosts a region needs before a destination can be called rare.
const RARE_POPULATION: usize = 20;
/// At most this many internal hosts use a rare destination.
const RARE_USERS: usize = 2;
/// Connections, over at least an hour, that make a rare destination worth
/// a look (a single visit to an odd website is not).
const RARE_MIN_CONNECTIONS: u64 = 20;

/// Connections shorter than this are summed but not tracked one by one.
const LONG_TRACKED: f64 = 600.0;

/// Inside the region a beacon must keep time: internal pairs whose intervals
/// do not fit a period (see [`crate::beacon::period_fit`]; random arrivals
/// fit about 0.3) are not reported, however high their RITA score — that can
/// come from the histogram, duration and size parts alone, as with an
/// administrator's sessions all day. (RITA does not score internal pairs at
/// all; across the edge its score stands as it is: irregular inbound probing
/// is worth seeing.)
const MIN_PERIOD_FIT: f64 = 0.6;

/// An outbound beacon (internal source, outside destination) must fit a
/// period at least this well: busy all-day traffic at random times scores
/// medium under RITA (flat histogram, full duration, symmetric sizes; period
/// fit about 0.3) without being periodic at all.
const MIN_OUTBOUND_FIT: f64 = 0.45;

/// An hour of nanoseconds.
const HOUR_NS: i64 = 3_600_000_000_000;
/// Hourly upload volumes below this are never unusual.
const UNUSUAL_UPLOAD_MIN: u64 = 20_000_000;
/// How many times a host's largest earlier hour, and its peers' usual
/// largest hour, an hour must exceed to be unusual.
const UNUSUAL_UPLOAD_FACTOR: u64 = 10;

/// One internal host's bytes out of the region, per hour since the epoch.
#[derive(Debug, Default, Clone)]
pub(crate) struct HourlyOut {
    /// (hour, bytes), sorted by hour: a few dozen entries per day, so a
    /// binary search in one allocation beats a tree.
    hours: Vec<(i64, u64)>,
    /// Where the largest record of each hour over a megabyte came from.
    big: BTreeMap<i64, (u64, Origin)>,
}

impl HourlyOut {
    fn add(&mut self, t: i64, bytes: u64, origin: &Origin) {
        let h = t.div_euclid(HOUR_NS);
        self.add_hour(h, bytes);
        if bytes > 1_000_000 {
            let slot = self.big.entry(h).or_insert((0, origin.clone()));
            if bytes > slot.0 {
                *slot = (bytes, origin.clone());
            }
        }
    }

    fn add_hour(&mut self, h: i64, bytes: u64) {
        match self.hours.last_mut() {
            Some(last) if last.0 == h => last.1 += bytes,
            Some(last) if last.0 < h => self.hours.push((h, bytes)),
            None => self.hours.push((h, bytes)),
            _ => match self.hours.binary_search_by_key(&h, |e| e.0) {
                Ok(i) => self.hours[i].1 += bytes,
                Err(i) => self.hours.insert(i, (h, bytes)),
            },
        }
    }

    fn merge(&mut self, o: HourlyOut) {
        for (h, b) in o.hours {
            self.add_hour(h, b);
        }
        for (h, (b, origin)) in o.big {
            let slot = self.big.entry(h).or_insert((0, origin.clone()));
            if b > slot.0 {
                *slot = (b, origin);
            }
        }
    }

    fn max(&self) -> u64 {
        self.hours.iter().map(|e| e.1).max().unwrap_or(0)
    }
}

/// Peers: the same IPv4 /24 or IPv6 /64.
fn peer_group(ip: IpAddr) -> (bool, u128) {
    match ip {
        IpAddr::V4(v) => (false, u128::from(u32::from(v) >> 8)),
        IpAddr::V6(v) => (true, u128::from(v) >> 64),
    }
}

/// Whether an address is one host's: not multicast, broadcast, unspecified
/// or link-local (neighbour discovery, mDNS, SSDP and the like are not
/// conversations between two hosts).
pub fn unicast(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v) => {
            !(v.is_multicast() || v.is_broadcast() || v.is_unspecified() || v.is_link_local())
        }
        IpAddr::V6(v) => {
            !(v.is_multicast() || v.is_unspecified() || (v.segments()[0] & 0xffc0) == 0xfe80)
        }
    }
}

/// The region's own infrastructure services (DNS, NTP, DHCP, NetBIOS, mDNS,
/// LLMNR, SSDP): clients poll them on a schedule by design, so an internal
/// server on these ports is not a beacon destination.
const INFRA_PORTS: &[i64] = &[53, 67, 68, 123, 137, 138, 1900, 5353, 5355];

/// Ports of remote administration: SMB, RPC, RDP, WinRM, SSH.
const ADMIN_PORTS: &[i64] = &[22, 135, 445, 3389, 5985, 5986];

#[derive(Debug, Default, Clone)]
struct Edge {
    /// Summed duration of closed connections.
    seconds: f64,
    count: u64,
    /// Connections still open when last logged (Zeek `open_conn`), by uid:
    /// the longest duration seen. Only those over [`LONG_TRACKED`] seconds.
    open: FxHashMap<Box<str>, f64>,
    /// Uids of closed connections over [`LONG_TRACKED`] seconds, so an open
    /// record of a connection that later closed is not counted twice.
    closed: FxHashSet<Box<str>>,
    first: i64,
    last: i64,
    origins: Vec<Origin>,
    /// Bytes the source sent (internal source, external destination only).
    bytes_out: u64,
    /// The first records carrying over a megabyte out.
    upload_origins: Vec<Origin>,
}

#[derive(Debug, Default, Clone)]
struct DnsDomain {
    queries: u64,
    txt_null: u64,
    subdomains: FxHashSet<String>,
    entropy_sum: f64,
    label_len_sum: f64,
    clients: FxHashSet<IpAddr>,
    first: i64,
    last: i64,
    origins: Vec<Origin>,
}

#[derive(Debug, Clone)]
struct AdminUse {
    t: i64,
    dst: IpAddr,
    port: i64,
    origin: Origin,
}

/// The state of the network detectors.
#[derive(Debug, Default)]
pub struct NetworkAnalytics {
    beacons: BeaconTracker,
    /// Per source and server name (TLS SNI, HTTP Host): beacons to a name,
    /// however many addresses stand behind it. Sizes are HTTP request bodies,
    /// NaN where unknown (TLS).
    named: FxHashMap<(IpAddr, Box<str>), PairState>,
    request_body_len: Option<FieldId>,
    /// Pairs across the region's edge (long connections, uploads).
    long: FxHashMap<(IpAddr, IpAddr), Edge>,
    dns: FxHashMap<String, DnsDomain>,
    /// Internal sources of each destination (prevalence).
    sources: FxHashMap<IpAddr, FxHashSet<IpAddr>>,
    /// Per internal source: its administrative connections to internal hosts.
    admin: FxHashMap<IpAddr, Vec<AdminUse>>,
    /// Per internal host: bytes sent out of the region, per hour.
    internal_hosts: FxHashMap<IpAddr, HourlyOut>,
    min: Option<i64>,
    max: Option<i64>,
    /// The range beacons are scored over, when not the range seen (ns).
    scoring: Option<(i64, i64)>,
    /// Per source: its unanswered connections (scans).
    scans: FxHashMap<IpAddr, Scan>,
    qtype: Option<FieldId>,
    qtype_eve: Option<FieldId>,
    rrname_eve: Option<FieldId>,
    conn_state: Option<FieldId>,
    resp_pkts: Option<FieldId>,
    pkts_toclient_eve: Option<FieldId>,
}

/// The most distinct targets kept per port or per destination of one scanner.
const SCAN_CAP: usize = 4096;
/// Distinct hosts probed on one port that make a horizontal scan.
const HORIZONTAL: usize = 50;
/// Distinct ports probed on one host that make a vertical scan.
const VERTICAL: usize = 100;

/// One source's unanswered connections: hosts per port and ports per host.
#[derive(Debug, Default, Clone)]
struct Scan {
    failed: u64,
    by_port: FxHashMap<u16, FxHashSet<IpAddr>>,
    by_dst: FxHashMap<IpAddr, FxHashSet<u16>>,
    first: i64,
    last: i64,
    origins: Vec<Origin>,
}

impl Scan {
    fn add(&mut self, t: i64, dst: IpAddr, port: u16, origin: &Origin) {
        if self.failed == 0 {
            self.first = t;
        }
        self.failed += 1;
        self.first = self.first.min(t);
        self.last = self.last.max(t);
        let hosts = self.by_port.entry(port).or_default();
        if hosts.len() < SCAN_CAP {
            hosts.insert(dst);
        }
        let ports = self.by_dst.entry(dst).or_default();
        if ports.len() < SCAN_CAP {
            ports.insert(port);
        }
        if self.origins.len() < 3 {
            self.origins.push(origin.clone());
        }
    }

    fn merge(&mut self, o: Scan) {
        if self.failed == 0 {
            self.first = o.first;
        }
        self.failed += o.failed;
        self.first = self.first.min(o.first);
        self.last = self.last.max(o.last);
        for (p, h) in o.by_port {
            let hosts = self.by_port.entry(p).or_default();
            hosts.extend(h.into_iter().take(SCAN_CAP.saturating_sub(hosts.len())));
        }
        for (d, p) in o.by_dst {
            let ports = self.by_dst.entry(d).or_default();
            ports.extend(p.into_iter().take(SCAN_CAP.saturating_sub(ports.len())));
        }
        self.origins.extend(
            o.origins
                .into_iter()
                .take(3usize.saturating_sub(self.origins.len())),
        );
    }
}

/// RITA's thresholds: 0.9 high, 0.7 medium, else low.
/// The evidence a hidden beacon adds: how it was found and what the whole pair scored.
fn hidden_evidence(h: &crate::hidden::Hidden, plain: f64) -> [(&'static str, String); 4] {
    [
        ("hidden_beats", h.beats.to_string()),
        ("hidden_among", h.others.to_string()),
        ("hidden_z", format!("{:.1}", h.z)),
        ("whole_pair_score", plain.to_string()),
    ]
}

fn severity_of(score: f64) -> Severity {
    if score >= 0.9 {
        Severity::High
    } else if score >= 0.7 {
        Severity::Medium
    } else {
        Severity::Low
    }
}

fn shannon(s: &str) -> f64 {
    let mut counts = [0u32; 256];
    for b in s.bytes() {
        counts[b as usize] += 1;
    }
    let n = s.len() as f64;
    counts
        .iter()
        .filter(|c| **c > 0)
        .map(|c| {
            let p = f64::from(*c) / n;
            -p * p.log2()
        })
        .sum()
}

fn num(v: Option<&Value>) -> Option<f64> {
    match v? {
        Value::Int(i) => Some(*i as f64),
        Value::Float(f) => Some(*f),
        Value::Interval(ns) => Some(*ns as f64 / 1e9),
        _ => None,
    }
}

fn text(v: Option<&Value>) -> Option<&str> {
    match v? {
        Value::Str(s) => Some(s.as_str()),
        Value::List(items) => items.first().and_then(|i| i.as_str()),
        _ => None,
    }
}

impl NetworkAnalytics {
    /// An empty state.
    pub fn new() -> Self {
        NetworkAnalytics {
            beacons: BeaconTracker::new(),
            qtype: FieldId::intern("qtype_name").ok(),
            qtype_eve: FieldId::intern("dns.rrtype").ok(),
            rrname_eve: FieldId::intern("dns.rrname").ok(),
            conn_state: FieldId::intern("conn_state").ok(),
            request_body_len: FieldId::intern("request_body_len").ok(),
            resp_pkts: FieldId::intern("resp_pkts").ok(),
            pkts_toclient_eve: FieldId::intern("flow.pkts_toclient").ok(),
            ..Default::default()
        }
    }

    /// Takes one event (anything that is not a connection or DNS query is ignored).
    pub fn observe(&mut self, e: &vakt_core::Event) {
        let t = e.time.0;
        let source = &*e.source;
        // One look at the EVE event type, not one per kind.
        let eve = if source == "suricata:eve" {
            e.get_named("event_type").and_then(|v| v.as_str())
        } else {
            None
        };
        let is_open = source == "zeek:open_conn";
        let is_conn = source == "zeek:conn" || eve == Some("flow");
        let is_dns = source == "zeek:dns" || eve == Some("dns");
        let is_named =
            matches!(source, "zeek:ssl" | "zeek:http") || matches!(eve, Some("tls" | "http"));
        if is_named {
            self.named_connection(e);
            return;
        }
        if !is_conn && !is_dns && !is_open {
            return;
        }
        self.min = Some(self.min.map_or(t, |m| m.min(t)));
        self.max = Some(self.max.map_or(t, |m| m.max(t)));
        let src = e.common(SRC_IP).and_then(Value::as_ip);
        if is_dns {
            let query = text(e.common(QUERY_HOSTNAME))
                .or_else(|| text(self.rrname_eve.and_then(|f| e.get(f))));
            let qtype = text(self.qtype.and_then(|f| e.get(f)))
                .or_else(|| text(self.qtype_eve.and_then(|f| e.get(f))));
            if let (Some(q), Some(client)) = (query, src) {
                self.dns_query(t, client, q, qtype.unwrap_or(""), &e.origin);
            }
            return;
        }
        let (Some(src), Some(dst)) = (src, e.common(DST_IP).and_then(Value::as_ip)) else {
            return;
        };
        let uid = || text(e.common(METADATA_UID)).map(Box::<str>::from);
        if is_open {
            // A connection still open at log rotation: what it has lasted so far.
            let secs = num(e.common(DURATION)).unwrap_or(0.0);
            if secs >= LONG_TRACKED && !(internal(src) && internal(dst)) {
                let l = self.long.entry((src, dst)).or_insert_with(|| Edge {
                    first: t,
                    ..Default::default()
                });
                let key = uid().unwrap_or_else(|| format!("{t}").into());
                let d = l.open.entry(key).or_insert(0.0);
                *d = d.max(secs);
                l.first = l.first.min(t);
                l.last = l.last.max(t);
                if l.origins.len() < 3 {
                    l.origins.push(e.origin.clone());
                }
            }
            return;
        }
        if !unicast(src) || !unicast(dst) {
            return;
        }
        let port = num(e.common(DST_PORT)).map_or(0, |p| p as i64);
        if !(internal(dst) && INFRA_PORTS.contains(&port)) {
            self.beacons.observe(e);
        }
        if self.unanswered(e) {
            self.scans.entry(src).or_default().add(
                t,
                dst,
                u16::try_from(port).unwrap_or(0),
                &e.origin,
            );
        }
        if internal(src) {
            let out = self.internal_hosts.entry(src).or_default();
            if !internal(dst) {
                let bytes = num(e.common(BYTES_OUT)).unwrap_or(0.0).max(0.0) as u64;
                out.add(t, bytes, &e.origin);
            }
            self.sources.entry(dst).or_default().insert(src);
        }
        if !(internal(src) && internal(dst)) {
            // Long connections: anything that crosses the region's edge.
            let secs = num(e.common(DURATION)).unwrap_or(0.0);
            let l = self.long.entry((src, dst)).or_insert_with(|| Edge {
                first: t,
                ..Default::default()
            });
            l.seconds += secs;
            l.count += 1;
            l.first = l.first.min(t);
            l.last = l.last.max(t);
            if secs >= LONG_TRACKED
                && let Some(u) = uid()
            {
                l.closed.insert(u);
            }
            if l.origins.len() < 3 {
                l.origins.push(e.origin.clone());
            }
            if internal(src) {
                // Uploads: what an internal host sends out.
                let bytes = num(e.common(BYTES_OUT)).unwrap_or(0.0).max(0.0) as u64;
                l.bytes_out += bytes;
                if bytes > 1_000_000 && l.upload_origins.len() < 3 {
                    l.upload_origins.push(e.origin.clone());
                }
            }
        }
        if internal(src) && internal(dst) && ADMIN_PORTS.contains(&port) {
            let uses = self.admin.entry(src).or_default();
            if uses.len() < 10_000 {
                uses.push(AdminUse {
                    t,
                    dst,
                    port,
                    origin: e.origin.clone(),
                });
            }
        }
    }

    /// A TLS or HTTP session: its server name, for beacons to a name.
    fn named_connection(&mut self, e: &vakt_core::Event) {
        let (Some(src), Some(name)) = (
            e.common(SRC_IP).and_then(Value::as_ip),
            text(e.common(TLS_SNI)).or_else(|| text(e.common(URL_HOSTNAME))),
        ) else {
            return;
        };
        // Host headers may carry a port; literal addresses are the IP beacons' job.
        let name = name.rsplit_once(':').map_or(name, |(h, p)| {
            if p.bytes().all(|b| b.is_ascii_digit()) {
                h
            } else {
                name
            }
        });
        let name = name.trim_end_matches('.');
        if name.is_empty() || name.parse::<IpAddr>().is_ok() || !unicast(src) {
            return;
        }
        let t = e.time.0;
        let Ok(secs) = u32::try_from(t.div_euclid(1_000_000_000)) else {
            return;
        };
        self.min = Some(self.min.map_or(t, |m| m.min(t)));
        self.max = Some(self.max.map_or(t, |m| m.max(t)));
        let size = num(self.request_body_len.and_then(|f| e.get(f))).unwrap_or(f64::NAN);
        let key = (src, Box::<str>::from(name.to_ascii_lowercase()));
        self.named
            .entry(key)
            .or_default()
            .record(secs, size, &e.origin);
    }

    /// A connection attempt nobody accepted: Zeek's S0 (no answer), REJ
    /// (refused) and RSTOS0 (SYN then the prober's reset, as a SYN scan
    /// does); without Zeek's state, no packet back. Mid-stream states (OTH,
    /// SH, SHR) are not attempts: a long TLS session whose start the sensor
    /// missed is one.
    fn unanswered(&self, e: &vakt_core::Event) -> bool {
        if let Some(state) = text(self.conn_state.and_then(|f| e.get(f))) {
            return matches!(state, "S0" | "REJ" | "RSTOS0");
        }
        let back = self
            .resp_pkts
            .and_then(|f| e.get(f))
            .or_else(|| self.pkts_toclient_eve.and_then(|f| e.get(f)));
        num(back) == Some(0.0)
    }

    fn dns_query(&mut self, t: i64, client: IpAddr, q: &str, qtype: &str, origin: &Origin) {
        let q = q.trim_end_matches('.').to_ascii_lowercase();
        let Some(registered) = psl::domain_str(&q) else {
            return;
        };
        let d = self
            .dns
            .entry(registered.to_owned())
            .or_insert_with(|| DnsDomain {
                first: t,
                ..Default::default()
            });
        d.queries += 1;
        d.first = d.first.min(t);
        d.last = d.last.max(t);
        if matches!(qtype, "TXT" | "NULL" | "txt" | "null") {
            d.txt_null += 1;
        }
        if d.clients.len() < 1000 {
            d.clients.insert(client);
        }
        let sub = q
            .strip_suffix(registered)
            .unwrap_or("")
            .trim_end_matches('.');
        if !sub.is_empty() {
            let label = sub.split('.').next().unwrap_or(sub);
            d.entropy_sum += shannon(label);
            d.label_len_sum += label.len() as f64;
            if d.subdomains.len() < 10_000 {
                d.subdomains.insert(sub.to_owned());
            }
        }
        if d.origins.len() < 3 {
            d.origins.push(origin.clone());
        }
    }

    /// Scores beacons over `[from, to]` instead of the range seen (a stream's
    /// window; see [`BeaconTracker::set_scoring_range`]).
    pub fn set_scoring_range(&mut self, from: Timestamp, to: Timestamp) {
        let ok = from.0 < to.0;
        self.scoring = ok.then_some((from.0, to.0));
        self.beacons.set_scoring_range(ok.then_some((
            from.0.div_euclid(1_000_000_000),
            to.0.div_euclid(1_000_000_000),
        )));
    }

    /// Streaming: forgets everything before `cutoff`, so memory covers a
    /// window (say the last seven days) however long the stream runs.
    /// Connection times and sizes, hourly volumes and administrative uses
    /// are cut record by record; long-connection, upload, DNS and scan
    /// summaries go whole when their last record is before the cutoff; the
    /// prevalence of each destination is recounted from the pairs kept.
    /// Findings afterwards are the window's.
    pub fn expire(&mut self, cutoff: Timestamp) {
        let c = cutoff.0;
        let secs = c.div_euclid(1_000_000_000);
        self.beacons.expire(secs);
        let c32 = u32::try_from(secs.max(0)).unwrap_or(u32::MAX);
        self.named.retain(|_, p| {
            crate::beacon::expire_pair(p, c32);
            !p.ts.is_empty()
        });
        self.long.retain(|_, l| l.last >= c);
        self.dns.retain(|_, d| d.last >= c);
        self.scans.retain(|_, sc| sc.last >= c);
        self.admin.retain(|_, uses| {
            uses.retain(|u| u.t >= c);
            !uses.is_empty()
        });
        let hour = c.div_euclid(HOUR_NS);
        self.internal_hosts.retain(|_, h| {
            h.hours.retain(|e| e.0 >= hour);
            h.big.retain(|k, _| *k >= hour);
            !h.hours.is_empty()
        });
        let mut sources: FxHashMap<IpAddr, FxHashSet<IpAddr>> = FxHashMap::default();
        for ((src, dst), _) in self.beacons.pairs() {
            if internal(*src) {
                sources.entry(*dst).or_default().insert(*src);
            }
        }
        self.sources = sources;
        self.min = self.min.map(|m| m.max(c));
        if self.max.is_some_and(|m| m < c) {
            self.min = None;
            self.max = None;
        }
    }

    /// What the state holds, one line per detector: memory is bounded by
    /// these counts, not by the number of records seen.
    pub fn footprint(&self) -> String {
        let (pairs, kept) = self.beacons.footprint();
        let admin: usize = self.admin.values().map(Vec::len).sum();
        format!(
            "state              beacon pairs {pairs} holding {kept} connection records \
             (max {} per pair); pairs across the region's edge {}; \
             DNS domains {}; admin uses {admin} (max 10000 per host); internal hosts {}; \
             scanning sources {} (max {SCAN_CAP} targets per port or host)",
            crate::beacon::MAX_PER_PAIR,
            self.long.len(),
            self.dns.len(),
            self.internal_hosts.len(),
            self.scans.len()
        )
    }

    /// Adds another state (another file or worker).
    pub fn merge(&mut self, other: NetworkAnalytics) {
        self.beacons.merge(other.beacons);
        for (k, v) in other.long {
            let l = self.long.entry(k).or_insert_with(|| Edge {
                first: v.first,
                ..Default::default()
            });
            l.seconds += v.seconds;
            l.count += v.count;
            for (u, d) in v.open {
                let e = l.open.entry(u).or_insert(0.0);
                *e = e.max(d);
            }
            l.closed.extend(v.closed);
            l.first = l.first.min(v.first);
            l.last = l.last.max(v.last);
            l.origins.extend(
                v.origins
                    .into_iter()
                    .take(3usize.saturating_sub(l.origins.len())),
            );
            l.bytes_out += v.bytes_out;
            l.upload_origins.extend(
                v.upload_origins
                    .into_iter()
                    .take(3usize.saturating_sub(l.upload_origins.len())),
            );
        }
        for (k, v) in other.dns {
            let d = self.dns.entry(k).or_insert_with(|| DnsDomain {
                first: v.first,
                ..Default::default()
            });
            d.queries += v.queries;
            d.txt_null += v.txt_null;
            d.entropy_sum += v.entropy_sum;
            d.label_len_sum += v.label_len_sum;
            d.first = d.first.min(v.first);
            d.last = d.last.max(v.last);
            d.subdomains.extend(v.subdomains);
            d.clients.extend(v.clients);
            d.origins.extend(
                v.origins
                    .into_iter()
                    .take(3usize.saturating_sub(d.origins.len())),
            );
        }
        for (k, v) in other.named {
            self.named.entry(k).or_default().absorb(v);
        }
        for (k, v) in other.scans {
            self.scans.entry(k).or_default().merge(v);
        }
        for (k, v) in other.sources {
            self.sources.entry(k).or_default().extend(v);
        }
        for (k, v) in other.admin {
            self.admin.entry(k).or_default().extend(v);
        }
        for (k, v) in other.internal_hosts {
            self.internal_hosts.entry(k).or_default().merge(v);
        }
        self.min = match (self.min, other.min) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self.max = match (self.max, other.max) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
    }

    fn prevalence(&self, dst: IpAddr) -> usize {
        self.sources.get(&dst).map_or(0, FxHashSet::len)
    }

    /// Destinations at least this many internal hosts talk to are shared
    /// services (update servers, monitoring), not one host's implant.
    fn common_threshold(&self) -> usize {
        5
    }

    /// Every finding, highest score first.
    pub fn alerts(&self) -> Vec<Alert> {
        let mut out = Vec::new();
        let common = self.common_threshold();
        // Beacons.
        let cfg = BeaconConfig::default();
        let range = self.beacons.range();
        for f in self.beacons.findings(&cfg) {
            if self.prevalence(f.dst) >= common {
                continue;
            }
            // A beacon hidden in the pair's other traffic scores by its periodic part.
            let hidden = match (range, self.beacons.pair(f.src, f.dst)) {
                (Some((min, max)), Some(p)) if f.score.score < 0.9 => {
                    crate::hidden::hidden_beacon(&cfg, &p.ts, &p.bytes, min, max)
                        .filter(|h| h.score.score > f.score.score)
                }
                _ => None,
            };
            let (sc, period, fit) = match &hidden {
                Some(h) => (h.score, h.period, h.coverage),
                None => (f.score, f.period, f.fit),
            };
            if sc.score < 0.5
                || (internal(f.src) && internal(f.dst) && fit < MIN_PERIOD_FIT)
                || (internal(f.src) && !internal(f.dst) && fit < MIN_OUTBOUND_FIT)
            {
                continue;
            }
            let severity = severity_of(sc.score);
            let mut evidence = vec![
                ("connections", f.connections.to_string()),
                ("period_s", format!("{period:.0}")),
                ("period_fit", format!("{fit:.2}")),
                ("ts_score", sc.ts.to_string()),
                ("ds_score", sc.ds.to_string()),
                ("hist_score", sc.hist.to_string()),
                ("dur_score", sc.dur.to_string()),
                ("prevalence", self.prevalence(f.dst).to_string()),
            ];
            if let Some(h) = &hidden {
                evidence.extend(hidden_evidence(h, f.score.score));
            }
            out.push(Alert {
                detector: "beacon",
                title: match &hidden {
                    Some(h) => format!(
                        "Beaconing from {} to {} about every {:.0} s, hidden among {} other connections",
                        f.src, f.dst, period, h.others
                    ),
                    None => format!(
                        "Beaconing from {} to {} about every {:.0} s",
                        f.src, f.dst, period
                    ),
                },
                first: Timestamp::from_parts(i64::from(f.span.0), 0),
                last: Timestamp::from_parts(i64::from(f.span.1), 0),
                score: sc.score,
                severity,
                techniques: vec!["T1071"],
                entities: vec![Entity::Ip(f.src), Entity::Ip(f.dst)],
                evidence,
                origins: f.origins.clone(),
            });
        }
        // Beacons to a server name (TLS SNI, HTTP Host), across its addresses.
        if let Some((min, max)) = self.scoring.or(self.min.zip(self.max)) {
            let (min, max) = (min.div_euclid(1_000_000_000), max.div_euclid(1_000_000_000));
            let mut users: FxHashMap<&str, usize> = FxHashMap::default();
            for (src, name) in self.named.keys() {
                if internal(*src) {
                    *users.entry(name).or_default() += 1;
                }
            }
            let cfg = BeaconConfig::default();
            for ((src, name), p) in &self.named {
                let used_by = users.get(&**name).copied().unwrap_or(0);
                if used_by >= common || p.count >= crate::beacon::STROBE_CONNECTIONS {
                    continue;
                }
                // Sizes known (HTTP bodies): RITA's four parts. Unknown (TLS):
                // the three others, a third each.
                let sized = p.bytes.iter().all(|b| b.is_finite());
                let zeros;
                let (bytes, weights) = if sized {
                    (&p.bytes[..], cfg.weights)
                } else {
                    zeros = vec![0.0; p.ts.len()];
                    (&zeros[..], [1.0 / 3.0, 0.0, 1.0 / 3.0, 1.0 / 3.0])
                };
                let Ok(mut sc) = crate::beacon::score(&cfg, &p.ts, bytes, min, max) else {
                    continue;
                };
                sc.score = crate::beacon::weighted(weights, [sc.ts, sc.ds, sc.dur, sc.hist]);
                let hidden = if sc.score < 0.9 {
                    crate::hidden::hidden_beacon(&cfg, &p.ts, bytes, min, max)
                        .map(|mut h| {
                            h.score.score = crate::beacon::weighted(
                                weights,
                                [h.score.ts, h.score.ds, h.score.dur, h.score.hist],
                            );
                            h
                        })
                        .filter(|h| h.score.score > sc.score)
                } else {
                    None
                };
                let plain = sc.score;
                let (ts, gaps) = crate::beacon::sorted_gaps(&p.ts);
                let (mut period, mut fit) = crate::beacon::period_fit(&gaps);
                if let Some(h) = &hidden {
                    (sc, period, fit) = (h.score, h.period, h.coverage);
                }
                if sc.score < 0.5 {
                    continue;
                }
                let mut evidence = vec![
                    ("connections", p.count.to_string()),
                    ("period_s", format!("{period:.0}")),
                    ("period_fit", format!("{fit:.2}")),
                    ("ts_score", sc.ts.to_string()),
                    (
                        "ds_score",
                        if sized {
                            sc.ds.to_string()
                        } else {
                            "unknown".into()
                        },
                    ),
                    ("hist_score", sc.hist.to_string()),
                    ("dur_score", sc.dur.to_string()),
                    ("prevalence", used_by.to_string()),
                ];
                if let Some(h) = &hidden {
                    evidence.extend(hidden_evidence(h, plain));
                }
                out.push(Alert {
                    detector: "beacon",
                    title: match &hidden {
                        Some(h) => format!(
                            "Beaconing from {src} to {name} about every {period:.0} s, hidden among {} other connections",
                            h.others
                        ),
                        None => format!("Beaconing from {src} to {name} about every {period:.0} s"),
                    },
                    first: Timestamp::from_parts(i64::from(ts[0]), 0),
                    last: Timestamp::from_parts(i64::from(ts[ts.len() - 1]), 0),
                    score: sc.score,
                    severity: severity_of(sc.score),
                    techniques: vec!["T1071"],
                    entities: vec![Entity::Ip(*src), Entity::Domain(name.to_string())],
                    evidence,
                    origins: p.origins.clone(),
                });
            }
        }
        // Rare destinations: outside addresses and server names that one or
        // two of a sizeable region's hosts use, first seen after the first
        // fifth of the window, used repeatedly; those already reported as
        // beacons of medium or high severity are left to that finding.
        let population = self
            .beacons
            .pairs()
            .map(|((s, _), _)| *s)
            .filter(|s| internal(*s))
            .collect::<FxHashSet<_>>()
            .len();
        if population >= RARE_POPULATION
            && let (Some(min), Some(max)) = (self.min, self.max)
        {
            let baseline_end = (min + (max - min) / 5).div_euclid(1_000_000_000);
            let beaconed: FxHashSet<Entity> = out
                .iter()
                .filter(|a| a.detector == "beacon" && a.severity >= Severity::Medium)
                .filter_map(|a| a.entities.get(1).cloned())
                .collect();
            // destination -> (users, connections, first, last, origins)
            type Use<'a> = (FxHashSet<IpAddr>, u64, u32, u32, &'a [Origin]);
            let mut rare: BTreeMap<Entity, Use> = BTreeMap::new();
            let ip_pairs = self
                .beacons
                .pairs()
                .filter(|((s, d), _)| internal(*s) && !internal(*d))
                .map(|((s, d), p)| (*s, Entity::Ip(*d), p));
            let name_pairs = self
                .named
                .iter()
                .filter(|((s, _), _)| internal(*s))
                .map(|((s, n), p)| (*s, Entity::Domain(n.to_string()), p));
            for (src, key, p) in ip_pairs.chain(name_pairs) {
                let (Some(lo), Some(hi)) = (p.ts.iter().min(), p.ts.iter().max()) else {
                    continue;
                };
                let r = rare
                    .entry(key)
                    .or_insert_with(|| (FxHashSet::default(), 0, u32::MAX, 0, &p.origins[..]));
                r.0.insert(src);
                r.1 += p.count;
                r.2 = r.2.min(*lo);
                r.3 = r.3.max(*hi);
            }
            for (dst, (users, conns, first, last, origins)) in rare {
                if users.len() > RARE_USERS
                    || conns < RARE_MIN_CONNECTIONS
                    || i64::from(first) < baseline_end
                    || last - first < 3600
                    || beaconed.contains(&dst)
                {
                    continue;
                }
                let mut who: Vec<IpAddr> = users.into_iter().collect();
                who.sort();
                let label = match &dst {
                    Entity::Ip(ip) => ip.to_string(),
                    Entity::Domain(d) => d.clone(),
                    _ => continue,
                };
                out.push(Alert {
                    detector: "rare-destination",
                    title: format!(
                        "{label}: new, and used only by {}",
                        who.iter()
                            .map(ToString::to_string)
                            .collect::<Vec<_>>()
                            .join(" and ")
                    ),
                    first: Timestamp::from_parts(i64::from(first), 0),
                    last: Timestamp::from_parts(i64::from(last), 0),
                    score: 0.3,
                    severity: Severity::Low,
                    techniques: vec!["T1071"],
                    entities: std::iter::once(dst)
                        .chain(who.iter().map(|h| Entity::Ip(*h)))
                        .collect(),
                    evidence: vec![
                        ("connections", conns.to_string()),
                        ("hosts", who.len().to_string()),
                        ("region_hosts", population.to_string()),
                    ],
                    origins: origins.to_vec(),
                });
            }
        }
        // Strobes: too many connections to be scored as beacons.
        for st in self.beacons.strobes() {
            if self.prevalence(st.dst) >= common {
                continue;
            }
            out.push(Alert {
                detector: "strobe",
                title: format!(
                    "Strobe from {} to {}: {} connections",
                    st.src, st.dst, st.connections
                ),
                first: Timestamp::from_parts(i64::from(st.span.0), 0),
                last: Timestamp::from_parts(i64::from(st.span.1), 0),
                score: 1.0,
                severity: Severity::Medium,
                techniques: vec!["T1071"],
                entities: vec![Entity::Ip(st.src), Entity::Ip(st.dst)],
                evidence: vec![("connections", st.connections.to_string())],
                origins: st.origins,
            });
        }
        // Long connections to the outside.
        for ((src, dst), l) in &self.long {
            let still_open: Vec<f64> = l
                .open
                .iter()
                .filter(|(u, _)| !l.closed.contains(*u))
                .map(|(_, d)| *d)
                .collect();
            let hours = (l.seconds + still_open.iter().sum::<f64>()) / 3600.0;
            if hours < 1.0 || self.prevalence(*dst) >= common {
                continue;
            }
            let severity = match hours {
                h if h >= 12.0 => Severity::High,
                h if h >= 4.0 => Severity::Medium,
                _ => Severity::Low,
            };
            out.push(Alert {
                detector: "long-connection",
                title: if still_open.is_empty() {
                    format!("{src} held connections to {dst} for {hours:.1} h")
                } else {
                    format!(
                        "{src} held connections to {dst} for {hours:.1} h, {} still open",
                        still_open.len()
                    )
                },
                first: Timestamp(l.first),
                last: Timestamp(l.last),
                score: (hours / 12.0).min(1.0),
                severity,
                techniques: vec!["T1071"],
                entities: vec![Entity::Ip(*src), Entity::Ip(*dst)],
                evidence: vec![
                    ("seconds", format!("{:.0}", hours * 3600.0)),
                    ("connections", l.count.to_string()),
                    ("still_open", still_open.len().to_string()),
                ],
                origins: l.origins.clone(),
            });
        }
        // DNS tunnels: many distinct, random-looking subdomains, or TXT/NULL traffic.
        for (domain, d) in &self.dns {
            let subs = d.subdomains.len();
            if subs < 30 {
                continue;
            }
            let entropy = d.entropy_sum / d.queries as f64;
            let length = d.label_len_sum / d.queries as f64;
            let txt = d.txt_null as f64 / d.queries as f64;
            let score =
                ((subs as f64 / 200.0).min(1.0) * 0.4 + (entropy / 4.5).min(1.0) * 0.3 + txt * 0.3)
                    .min(1.0);
            if txt < 0.5 && (entropy < 3.0 || length < 12.0) {
                continue;
            }
            out.push(Alert {
                detector: "dns-tunnel",
                title: format!("DNS tunnel suspected under {domain}: {subs} distinct subdomains"),
                first: Timestamp(d.first),
                last: Timestamp(d.last),
                score,
                severity: if score >= 0.7 {
                    Severity::High
                } else {
                    Severity::Medium
                },
                techniques: vec!["T1071.004", "T1048.003"],
                entities: std::iter::once(Entity::Domain(domain.clone()))
                    .chain(d.clients.iter().take(5).map(|c| Entity::Ip(*c)))
                    .collect(),
                evidence: vec![
                    ("queries", d.queries.to_string()),
                    ("subdomains", subs.to_string()),
                    ("label_entropy", format!("{entropy:.2}")),
                    ("label_length", format!("{length:.1}")),
                    ("txt_null_share", format!("{txt:.2}")),
                    ("clients", d.clients.len().to_string()),
                ],
                origins: d.origins.clone(),
            });
        }
        // Large uploads to destinations only this host uses.
        for ((src, dst), u) in &self.long {
            if u.bytes_out < 50_000_000 || !internal(*src) || self.prevalence(*dst) > 1 {
                continue;
            }
            let mb = u.bytes_out as f64 / 1e6;
            out.push(Alert {
                detector: "exfiltration",
                title: format!("{src} uploaded {mb:.0} MB to {dst}, which no other host uses"),
                first: Timestamp(u.first),
                last: Timestamp(u.last),
                score: (mb / 500.0).clamp(0.5, 1.0),
                severity: if mb >= 500.0 {
                    Severity::High
                } else {
                    Severity::Medium
                },
                techniques: vec!["T1048", "T1041"],
                entities: vec![Entity::Ip(*src), Entity::Ip(*dst)],
                evidence: vec![("bytes_out", u.bytes_out.to_string())],
                origins: if u.upload_origins.is_empty() {
                    u.origins.clone()
                } else {
                    u.upload_origins.clone()
                },
            });
        }
        // Scans: many hosts probed on one port, or many ports on one host,
        // without answer.
        for (src, sc) in &self.scans {
            let (h_port, h_hosts) = sc
                .by_port
                .iter()
                .map(|(p, h)| (*p, h.len()))
                .max_by_key(|(p, n)| (*n, std::cmp::Reverse(*p)))
                .unwrap_or((0, 0));
            let (v_dst, v_ports) = sc
                .by_dst
                .iter()
                .map(|(d, p)| (*d, p.len()))
                .max_by_key(|(d, n)| (*n, std::cmp::Reverse(*d)))
                .unwrap_or((*src, 0));
            let horizontal = h_hosts >= HORIZONTAL;
            let vertical = v_ports >= VERTICAL;
            if !horizontal && !vertical {
                continue;
            }
            let hosts = sc.by_dst.len();
            let ports = sc.by_port.len();
            let kind = match (horizontal, vertical) {
                (true, true) => "horizontal and vertical scan",
                (true, false) => "horizontal scan",
                _ => "vertical scan",
            };
            let internal_targets = sc.by_dst.keys().filter(|d| internal(**d)).count();
            let mut entities = vec![Entity::Ip(*src)];
            if vertical {
                entities.push(Entity::Ip(v_dst));
            }
            out.push(Alert {
                detector: "scan",
                title: format!(
                    "{src}: {kind}, {} unanswered connections to {hosts} hosts on {ports} ports",
                    sc.failed
                ),
                first: Timestamp(sc.first),
                last: Timestamp(sc.last),
                score: ((h_hosts.max(v_ports)) as f64 / 500.0).clamp(0.5, 1.0),
                severity: if internal(*src) && internal_targets * 2 >= hosts {
                    Severity::High
                } else {
                    Severity::Medium
                },
                techniques: vec!["T1046"],
                entities,
                evidence: vec![
                    ("unanswered", sc.failed.to_string()),
                    ("hosts", hosts.to_string()),
                    ("internal_hosts", internal_targets.to_string()),
                    ("ports", ports.to_string()),
                    ("most_hosts_on_one_port", format!("{h_hosts} on {h_port}")),
                    ("most_ports_on_one_host", format!("{v_ports} on {v_dst}")),
                ],
                origins: sc.origins.clone(),
            });
        }
        // Unusual upload volume: an hour in which an internal host sends out
        // ten times more than in any earlier hour (after a day of its own
        // history) and ten times its peer group's usual largest hour.
        let mut peers: FxHashMap<(bool, u128), Vec<u64>> = FxHashMap::default();
        for (ip, h) in &self.internal_hosts {
            peers.entry(peer_group(*ip)).or_default().push(h.max());
        }
        for v in peers.values_mut() {
            v.sort_unstable();
        }
        for (ip, h) in &self.internal_hosts {
            let Some(first) = h.hours.first().map(|e| e.0) else {
                continue;
            };
            let group = &peers[&peer_group(*ip)];
            // The peers' usual largest hour: the median over the others of the
            // group (none: no peer condition).
            let own = h.max();
            let mut others = group.clone();
            if let Some(i) = others.iter().position(|b| *b == own) {
                others.remove(i);
            }
            let peer_usual = others.get(others.len() / 2).copied().unwrap_or(0);
            let mut earlier_max = 0u64;
            let mut worst: Option<(i64, u64, u64)> = None;
            for &(hour, bytes) in &h.hours {
                if hour - first >= 24
                    && bytes >= UNUSUAL_UPLOAD_MIN
                    && bytes > UNUSUAL_UPLOAD_FACTOR * earlier_max.max(1)
                    && bytes > UNUSUAL_UPLOAD_FACTOR * peer_usual.max(1)
                    && worst.is_none_or(|(_, b, _)| bytes > b)
                {
                    worst = Some((hour, bytes, earlier_max));
                }
                earlier_max = earlier_max.max(bytes);
            }
            let Some((hour, bytes, before)) = worst else {
                continue;
            };
            let mb = bytes as f64 / 1e6;
            out.push(Alert {
                detector: "exfiltration",
                title: format!(
                    "{ip} sent {mb:.0} MB out of the region in one hour, over ten times its own and its peers' largest"
                ),
                first: Timestamp(hour * HOUR_NS),
                last: Timestamp((hour + 1) * HOUR_NS - 1),
                score: (mb / 500.0).clamp(0.5, 1.0),
                severity: if mb >= 100.0 {
                    Severity::High
                } else {
                    Severity::Medium
                },
                techniques: vec!["T1048", "T1041"],
                entities: vec![Entity::Ip(*ip)],
                evidence: vec![
                    ("bytes_out_in_hour", bytes.to_string()),
                    ("largest_earlier_hour", before.to_string()),
                    ("peers_usual_largest_hour", peer_usual.to_string()),
                    ("peers", others.len().to_string()),
                    ("history_hours", (hour - first).to_string()),
                ],
                origins: h.big.get(&hour).map(|(_, o)| vec![o.clone()]).unwrap_or_default(),
            });
        }
        // Lateral movement: a host that begins using administrative protocols
        // to other internal hosts after the first fifth of the data, where it
        // did not before; or an established administrator's workstation that
        // reaches many hosts it never administered before, within an hour.
        if let (Some(min), Some(max)) = (self.min, self.max) {
            let baseline_end = min + (max - min) / 5;
            for (src, uses) in &self.admin {
                let known: BTreeSet<IpAddr> = uses
                    .iter()
                    .filter(|u| u.t < baseline_end)
                    .map(|u| u.dst)
                    .collect();
                let newcomer = known.is_empty();
                let fresh: Vec<&AdminUse> = uses
                    .iter()
                    .filter(|u| u.t >= baseline_end && !known.contains(&u.dst))
                    .collect();
                if fresh.is_empty() {
                    continue;
                }
                let targets: BTreeSet<(String, i64)> =
                    fresh.iter().map(|u| (u.dst.to_string(), u.port)).collect();
                let hosts: BTreeSet<IpAddr> = fresh.iter().map(|u| u.dst).collect();
                let fan_out = hosts.len();
                // Administrators reach one server at a time, hour after hour; an
                // intruder reaches several within the hour.
                let mut by_time = fresh.clone();
                by_time.sort_by_key(|u| u.t);
                let mut burst = 0;
                for (i, u) in by_time.iter().enumerate() {
                    let within: BTreeSet<IpAddr> = by_time[i..]
                        .iter()
                        .take_while(|v| v.t - u.t <= 3_600_000_000_000)
                        .map(|v| v.dst)
                        .collect();
                    burst = burst.max(within.len());
                }
                // A known administrator needs one more new host to stand out.
                let needed = if newcomer { 2 } else { 3 };
                if burst < needed {
                    continue;
                }
                let score = (0.5 + 0.15 * (burst + 1 - needed) as f64).min(1.0);
                let title = if newcomer {
                    format!(
                        "{src} began remote administration of {fan_out} internal hosts, {burst} within an hour"
                    )
                } else {
                    format!(
                        "{src} reached {fan_out} internal hosts it never administered before, {burst} within an hour"
                    )
                };
                out.push(Alert {
                    detector: "lateral-movement",
                    title,
                    first: Timestamp(fresh.iter().map(|u| u.t).min().unwrap_or(0)),
                    last: Timestamp(fresh.iter().map(|u| u.t).max().unwrap_or(0)),
                    score,
                    severity: if burst > needed {
                        Severity::High
                    } else {
                        Severity::Medium
                    },
                    techniques: vec!["T1021"],
                    entities: std::iter::once(Entity::Ip(*src))
                        .chain(hosts.iter().map(|h| Entity::Ip(*h)))
                        .collect(),
                    evidence: vec![
                        ("hosts", fan_out.to_string()),
                        ("hosts_within_an_hour", burst.to_string()),
                        ("hosts_administered_before", known.len().to_string()),
                        (
                            "paths",
                            targets
                                .iter()
                                .map(|(h, p)| format!("{h}:{p}"))
                                .collect::<Vec<_>>()
                                .join(" "),
                        ),
                    ],
                    origins: fresh.iter().take(3).map(|u| u.origin.clone()).collect(),
                });
            }
        }
        out.sort_by(|a, b| {
            b.score
                .total_cmp(&a.score)
                .then_with(|| a.title.cmp(&b.title))
        });
        out
    }
}
