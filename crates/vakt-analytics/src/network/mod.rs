//! Network behaviour over Zeek and Suricata events: beaconing (RITA's
//! scoring, with destinations most of the region talks to set aside),
//! strobes, long connections, DNS tunnels, large uploads, scans, hosts that
//! begin moving laterally, and rare destinations.
//!
//! The family reads each event once into a [`Flow`] (a connection, an open
//! connection, a DNS query, a named session), keeps what the detectors know
//! in common — how many internal hosts use a destination, how many hosts the
//! region has, the time range seen — in [`Facts`], and hands the flow to
//! every detector of [`REGISTRY`]: one file, one registration line each.
//!
//! Batch use: feed every event ([`NetworkAnalytics::observe`]), merge the
//! states of parallel workers ([`NetworkAnalytics::merge`]), then
//! [`NetworkAnalytics::alerts`]. State is per pair, per registered domain
//! and per source host, never per event, except the beacon tracker's capped
//! connection times (at most 86,400 per pair, as RITA keeps).

use std::net::IpAddr;
use std::sync::{Arc, OnceLock};

use rustc_hash::{FxHashMap, FxHashSet};
use vakt_core::detector::{Detector, Family, Make, downcast};
use vakt_core::field::{
    BYTES_OUT, DST_IP, DST_PORT, DURATION, METADATA_UID, PROTOCOL, QUERY_HOSTNAME, SRC_IP,
    SRC_PORT, TLS_SNI, URL_HOSTNAME,
};
use vakt_core::{
    Alert, AlertKey, Entity, Event, FieldId, Origin, Severity, SourceFamily, Timestamp, Value,
    ZeekLog,
};

pub use vakt_core::net::internal;
pub use vakt_core::site::{Direction, Site};

use crate::beacon::{BeaconTracker, PairState};

mod family;

pub use family::NetworkDetectors;

vakt_core::registry! {
    /// The network detectors, one file and one line each, in the order they
    /// raise findings (a detector may read the findings of those before it).
    pub const REGISTRY: &[Make<Network>] = [
        beacon::BeaconDetector::boxed,
        strobe::StrobeDetector::boxed,
        long_connection::LongConnectionDetector::boxed,
        dns_tunnel::DnsTunnelDetector::boxed,
        dga::DgaDetector::boxed,
        upload::UploadDetector::boxed,
        upload_hour::UploadHourDetector::boxed,
        scan::ScanDetector::boxed,
        inbound::InboundScanDetector::boxed,
        http::HttpAnomalyDetector::boxed,
        rare_agent::RareUserAgentDetector::boxed,
        tls::TlsAnomalyDetector::boxed,
        lateral::LateralMovementDetector::boxed,
        rare::RareDestinationDetector::boxed,
    ];
}

/// The names of the findings the network detectors raise, as in
/// [`Alert::detector`] (from the registry: one name per detector, some share one).
pub fn detectors() -> Vec<&'static str> {
    let mut names: Vec<&'static str> = REGISTRY.iter().map(|make| make().name()).collect();
    names.dedup();
    names
}

/// The network family: detectors that take [`Flow`]s and share [`Facts`].
#[derive(Debug)]
pub enum Network {}

impl Family for Network {
    type Input<'a> = Flow<'a>;
    type Context = Facts;
}

/// What kind of record a flow is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlowKind {
    /// A connection as it closed (Zeek conn, Suricata flow).
    Conn,
    /// A connection still open at log rotation (Zeek open_conn), stamped with its start.
    Open,
    /// A DNS query.
    Dns,
    /// A TLS or HTTP session naming its server (SNI, Host).
    Named,
}

/// One network event as the network detectors read it, worked out once.
#[derive(Debug, Clone, Copy)]
pub struct Flow<'a> {
    /// The event.
    pub event: &'a Event,
    /// What it is.
    pub kind: FlowKind,
    /// Its time, ns.
    pub time: i64,
    /// Source address.
    pub src: Option<IpAddr>,
    /// Destination address.
    pub dst: Option<IpAddr>,
    /// Destination port (0 when unknown).
    pub port: i64,
    /// Source port (0 when unknown).
    pub sport: i64,
    /// Whether both addresses are one host's (not multicast, broadcast…).
    pub unicast: bool,
    /// Whether the destination is a region server on an infrastructure
    /// port (DNS, NTP, DHCP, …): polled by design, never a beacon.
    pub infra: bool,
    /// Seconds the connection lasted (so far, for an open one).
    pub duration: f64,
    /// Bytes the source sent.
    pub bytes_out: u64,
    /// The sensor tells sizes and states (Zeek's `conn_state`, Suricata's
    /// flow counters): a missing size is none, not unknown.
    pub sized: bool,
    /// For DNS: the name asked for; for a named session: the server's name
    /// (no port, no trailing dot).
    pub name: Option<&'a str>,
    /// For DNS: the query type (`A`, `TXT`, …).
    pub qtype: &'a str,
    /// A connection attempt nobody accepted.
    pub unanswered: bool,
    /// An HTTP request (a named session's `name` is `None` when it had no Host header).
    pub http: bool,
    /// Which way it goes, as the tenant's site sees it ([`Transit`](Direction::Transit)
    /// when an address is unknown).
    pub dir: Direction,
    /// Inbound to a service the site offers to the Internet.
    pub public: bool,
    /// The site was described (a site file), not assumed.
    pub site_known: bool,
}

impl Flow<'_> {
    /// Where the event came from.
    pub fn origin(&self) -> &Origin {
        &self.event.origin
    }

    /// The source's own id for the connection (Zeek uid).
    pub fn uid(&self) -> Option<&str> {
        text(self.event.common(METADATA_UID))
    }
}

/// A pair whose unanswered attempts tried this many ports is one host
/// being port-scanned, whatever the timing of the probes.
pub const PROBE_PORTS: usize = 10;

/// One pair's unanswered attempts.
#[derive(Debug, Default, Clone, serde::Serialize, serde::Deserialize)]
pub struct Probes {
    /// Attempts.
    pub attempts: u32,
    /// Distinct ports tried (at most [`PROBE_PORTS`] kept).
    pub ports: Vec<u16>,
    last: i64,
}

impl Probes {
    fn add(&mut self, port: u16, t: i64) {
        self.attempts = self.attempts.saturating_add(1);
        if self.ports.len() < PROBE_PORTS && !self.ports.contains(&port) {
            self.ports.push(port);
        }
        self.last = self.last.max(t);
    }

    fn absorb(&mut self, o: Probes) {
        self.attempts = self.attempts.saturating_add(o.attempts);
        for p in o.ports {
            if self.ports.len() < PROBE_PORTS && !self.ports.contains(&p) {
                self.ports.push(p);
            }
        }
        self.last = self.last.max(o.last);
    }

    /// Whether these attempts are a port scan of the host.
    pub fn port_scan(&self) -> bool {
        self.ports.len() >= PROBE_PORTS
    }
}

/// Destinations at least this many internal hosts use are shared services
/// (update servers, certificate status, monitoring): not one host's implant.
/// A cluster counts them across the region ([`NetworkAnalytics::public_prevalence`]).
pub const COMMON_HOSTS: usize = 5;

/// What the network detectors know in common: who connected to whom and
/// when (each pair's connection times and sizes, kept as RITA keeps them),
/// the sessions to each server name, how many internal hosts use each
/// destination, and the time range seen. Beacons, strobes and rare
/// destinations are all read off the same pairs.
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct Facts {
    /// Connections per source→destination pair (not infrastructure polls).
    pairs: BeaconTracker,
    /// Sessions per source and server name (TLS SNI, HTTP Host). Sizes are
    /// HTTP request bodies, NaN where unknown (TLS).
    named: FxHashMap<(IpAddr, Box<str>), PairState>,
    /// Internal sources of each destination (prevalence).
    sources: FxHashMap<IpAddr, FxHashSet<IpAddr>>,
    min: Option<i64>,
    max: Option<i64>,
    /// The range scores are computed over, when not the range seen (ns).
    scoring: Option<(i64, i64)>,
    #[serde(skip)]
    request_body_len: Option<FieldId>,
    /// Unanswered attempts per pair: how many, and the ports tried (at
    /// most [`PROBE_PORTS`] kept), with the last attempt's time (ns).
    probes: FxHashMap<(IpAddr, IpAddr), Probes>,
    /// Addresses that served a named session (TLS SNI, HTTP Host) or came
    /// in a DNS answer, and the name (the last seen): someone looked them
    /// up by name.
    named_dsts: FxHashMap<IpAddr, Box<str>>,
    /// Connections neither of whose ends is the site's (see [`Facts::transit`]).
    transit: u64,
    /// Connections seen.
    conns: u64,
    /// The tenant whose network this is (configuration: not saved).
    #[serde(skip)]
    pub tenant: Arc<str>,
    /// The tenant's site: which addresses are its own, what it offers
    /// (configuration: not saved).
    #[serde(skip)]
    pub site: Arc<Site>,
}

impl Facts {
    fn new(tenant: Arc<str>, site: Arc<Site>) -> Facts {
        Facts {
            pairs: BeaconTracker::new(),
            request_body_len: FieldId::intern("request_body_len").ok(),
            tenant,
            site,
            ..Facts::default()
        }
    }

    /// Whether an address is the site's own.
    pub fn internal(&self, ip: IpAddr) -> bool {
        self.site.internal(ip)
    }

    /// A flow with its direction as this site sees it.
    pub fn classify<'a>(&self, f: &Flow<'a>) -> Flow<'a> {
        let mut f = *f;
        f.site_known = !self.site.is_assumed;
        f.dir = match (f.src, f.dst) {
            (Some(s), Some(d)) => self.site.direction(s, d),
            (Some(s), None) if self.site.internal(s) => Direction::Outbound,
            _ => Direction::Transit,
        };
        let dst_in = matches!(f.dir, Direction::Internal | Direction::Inbound);
        // ICMP errors come marked as infrastructure by `flow`.
        f.infra = f.infra
            || (dst_in && INFRA_PORTS.contains(&f.port))
            || WIDE_INFRA_PORTS.contains(&f.port);
        f.public = f.dir == Direction::Inbound
            && f.dst.is_some_and(|d| {
                self.site
                    .public_service(d, u16::try_from(f.port).unwrap_or(0))
            });
        f
    }

    /// How many connections had neither end inside the site, of how many:
    /// many of them say the site file does not name the sensor's networks.
    pub fn transit(&self) -> (u64, u64) {
        (self.transit, self.conns)
    }

    /// How many internal hosts connect to `dst`.
    pub fn prevalence(&self, dst: IpAddr) -> usize {
        self.sources.get(&dst).map_or(0, FxHashSet::len)
    }

    /// Destinations at least this many internal hosts talk to are shared
    /// services (update servers, monitoring), not one host's implant.
    pub fn common_threshold(&self) -> usize {
        COMMON_HOSTS
    }

    /// Destinations outside the networks (addresses, server names) and how
    /// many internal hosts used each (see [`vakt_core::Detector::prevalence`]).
    pub fn public_prevalence(&self, out: &mut Vec<(String, u64)>) {
        for (dst, srcs) in &self.sources {
            if !self.site.internal(*dst) {
                out.push((dst.to_string(), srcs.len() as u64));
            }
        }
        let mut users: FxHashMap<&str, u64> = FxHashMap::default();
        for (src, name) in self.named.keys() {
            if self.site.internal(*src) {
                *users.entry(name).or_default() += 1;
            }
        }
        out.extend(users.into_iter().map(|(n, c)| (n.to_owned(), c)));
    }

    /// How many internal hosts the region has (seen connecting).
    pub fn population(&self) -> usize {
        self.pairs
            .pairs()
            .map(|((s, _), _)| *s)
            .filter(|s| self.site.internal(*s))
            .collect::<FxHashSet<_>>()
            .len()
    }

    /// Whether someone looked the address up by name (a TLS server name,
    /// an HTTP Host, a DNS answer).
    pub fn named_address(&self, ip: IpAddr) -> bool {
        self.named_dsts.contains_key(&ip)
    }

    /// The name an address was looked up as (the last seen), if any.
    pub fn server_name(&self, ip: IpAddr) -> Option<&str> {
        self.named_dsts.get(&ip).map(|n| &**n)
    }

    /// A pair's unanswered attempts, if any.
    pub fn probes(&self, src: IpAddr, dst: IpAddr) -> Option<&Probes> {
        self.probes.get(&(src, dst))
    }

    /// The connections per source→destination pair.
    pub fn pairs(&self) -> &BeaconTracker {
        &self.pairs
    }

    /// The sessions per source and server name.
    pub fn named(&self) -> &FxHashMap<(IpAddr, Box<str>), PairState> {
        &self.named
    }

    /// The time range seen (ns).
    pub fn range(&self) -> Option<(i64, i64)> {
        self.min.zip(self.max)
    }

    /// The range beacons are scored over (ns): the one set, else the range seen.
    pub fn scoring_range(&self) -> Option<(i64, i64)> {
        self.scoring.or(self.range())
    }

    /// The range set for scoring (a stream's window), if any (ns).
    pub fn scoring_override(&self) -> Option<(i64, i64)> {
        self.scoring
    }

    /// The end of the first fifth of the range: what a host did before it
    /// is its baseline (ns).
    pub fn baseline_end(&self) -> Option<i64> {
        self.range().map(|(min, max)| min + (max - min) / 5)
    }

    fn see(&mut self, f: &Flow<'_>) {
        let t = f.time;
        if f.kind == FlowKind::Dns
            && let Some(answers) = ids().answers.and_then(|i| f.event.get(i))
        {
            let query = f.name.unwrap_or("").trim_end_matches('.');
            let mut add = |v: &Value| {
                if let Some(ip) = v
                    .as_ip()
                    .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
                    && !query.is_empty()
                {
                    self.named_dsts
                        .insert(ip, query.to_ascii_lowercase().into());
                }
            };
            match answers {
                Value::List(items) => items.iter().for_each(&mut add),
                other => add(other),
            }
        }
        if f.kind == FlowKind::Named {
            if let (Some(dst), Some(name)) = (f.dst, f.name) {
                self.named_dsts
                    .insert(dst, name.to_ascii_lowercase().into());
            }
            let (Some(src), Some(name)) = (f.src, f.name) else {
                return;
            };
            let Ok(secs) = u32::try_from(t.div_euclid(1_000_000_000)) else {
                return;
            };
            let size = num(self.request_body_len.and_then(|i| f.event.get(i))).unwrap_or(f64::NAN);
            let key = (src, Box::<str>::from(name.to_ascii_lowercase()));
            self.named
                .entry(key)
                .or_default()
                .record(secs, size, f.origin());
        }
        self.min = Some(self.min.map_or(t, |m| m.min(t)));
        self.max = Some(self.max.map_or(t, |m| m.max(t)));
        if f.kind != FlowKind::Conn || !f.unicast {
            return;
        }
        let (Some(src), Some(dst)) = (f.src, f.dst) else {
            return;
        };
        self.conns += 1;
        if f.dir == Direction::Transit {
            self.transit += 1;
        }
        if f.unanswered && !f.service_reply() {
            self.probes
                .entry((src, dst))
                .or_default()
                .add(u16::try_from(f.port).unwrap_or(0), f.time);
        }
        if !f.infra {
            self.pairs.observe(f.event);
        }
        if self.site.internal(src) {
            self.sources.entry(dst).or_default().insert(src);
        }
    }

    fn merge(&mut self, o: Facts) {
        self.pairs.merge(o.pairs);
        for (k, v) in o.named {
            self.named.entry(k).or_default().absorb(v);
        }
        for (k, v) in o.sources {
            self.sources.entry(k).or_default().extend(v);
        }
        self.transit += o.transit;
        self.named_dsts.extend(o.named_dsts);
        for (k, v) in o.probes {
            self.probes.entry(k).or_default().absorb(v);
        }
        self.conns += o.conns;
        self.min = match (self.min, o.min) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self.max = match (self.max, o.max) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
    }

    fn expire(&mut self, c: i64) {
        let secs = c.div_euclid(1_000_000_000);
        self.pairs.expire(secs);
        let c32 = u32::try_from(secs.max(0)).unwrap_or(u32::MAX);
        self.named.retain(|_, p| {
            crate::beacon::expire_pair(p, c32);
            !p.ts.is_empty()
        });
        // Prevalence is recounted from the pairs kept.
        let mut sources: FxHashMap<IpAddr, FxHashSet<IpAddr>> = FxHashMap::default();
        for ((src, dst), _) in self.pairs.pairs() {
            if self.site.internal(*src) {
                sources.entry(*dst).or_default().insert(*src);
            }
        }
        self.sources = sources;
        self.probes.retain(|_, p| p.last >= c);
        self.min = self.min.map(|m| m.max(c));
        if self.max.is_some_and(|m| m < c) {
            self.min = None;
            self.max = None;
        }
    }

    fn footprint(&self) -> String {
        let (pairs, kept) = self.pairs.footprint();
        format!(
            "state              beacon pairs {pairs} holding {kept} connection records \
             (max {} per pair); named pairs {}; destinations {}",
            crate::beacon::MAX_PER_PAIR,
            self.named.len(),
            self.sources.len()
        )
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

/// DNS and NTP: polled by design wherever the server is (a DigitalOcean
/// droplet's resolvers are outside it); a DNS tunnel is `dns-tunnel`'s.
const WIDE_INFRA_PORTS: &[i64] = &[53, 123];

impl Flow<'_> {
    /// A reply from a discovery or name service (SSDP, mDNS, LLMNR,
    /// NetBIOS, DNS, NTP, DHCP) to the asker's port: a sensor that missed
    /// the question logs it as a connection of its own, never answered —
    /// not a probe.
    pub fn service_reply(&self) -> bool {
        INFRA_PORTS.contains(&self.sport) && self.sport != self.port
    }
}

pub(crate) fn num(v: Option<&Value>) -> Option<f64> {
    match v? {
        Value::Int(i) => Some(*i as f64),
        Value::Float(f) => Some(*f),
        Value::Interval(ns) => Some(*ns as f64 / 1e9),
        _ => None,
    }
}

pub(crate) fn text(v: Option<&Value>) -> Option<&str> {
    match v? {
        Value::Str(s) => Some(s.as_str()),
        Value::List(items) => items.first().and_then(|i| i.as_str()),
        _ => None,
    }
}

/// Native field ids the flow reads, interned once.
struct Ids {
    qtype: Option<FieldId>,
    qtype_eve: Option<FieldId>,
    rrname_eve: Option<FieldId>,
    conn_state: Option<FieldId>,
    resp_pkts: Option<FieldId>,
    pkts_toclient_eve: Option<FieldId>,
    event_type: Option<FieldId>,
    answers: Option<FieldId>,
}

fn ids() -> &'static Ids {
    static IDS: OnceLock<Ids> = OnceLock::new();
    IDS.get_or_init(|| Ids {
        qtype: FieldId::intern("qtype_name").ok(),
        qtype_eve: FieldId::intern("dns.rrtype").ok(),
        rrname_eve: FieldId::intern("dns.rrname").ok(),
        conn_state: FieldId::intern("conn_state").ok(),
        resp_pkts: FieldId::intern("resp_pkts").ok(),
        pkts_toclient_eve: FieldId::intern("flow.pkts_toclient").ok(),
        event_type: FieldId::intern("event_type").ok(),
        answers: FieldId::intern("answers").ok(),
    })
}

/// The flow an event is, if the network detectors read it.
pub fn flow(e: &Event) -> Option<Flow<'_>> {
    let ids = ids();
    // One look at the EVE event type, not one per kind.
    let eve = match e.source.family() {
        SourceFamily::SuricataEve => ids
            .event_type
            .and_then(|f| e.get(f))
            .and_then(Value::as_str),
        _ => None,
    };
    let zeek = e.source.zeek_log();
    let kind = match (zeek, eve) {
        (Some(ZeekLog::Conn), _) | (_, Some("flow")) => FlowKind::Conn,
        (Some(ZeekLog::OpenConn), _) => FlowKind::Open,
        (Some(ZeekLog::Dns), _) | (_, Some("dns")) => FlowKind::Dns,
        (Some(ZeekLog::Ssl | ZeekLog::Http), _) | (_, Some("tls" | "http")) => FlowKind::Named,
        _ => return None,
    };
    let src = e.common(SRC_IP).and_then(Value::as_ip);
    let dst = e.common(DST_IP).and_then(Value::as_ip);
    let mut f = Flow {
        event: e,
        kind,
        time: e.time.0,
        src,
        dst,
        port: 0,
        sport: 0,
        unicast: src.is_some_and(unicast) && dst.is_some_and(unicast),
        infra: false,
        duration: 0.0,
        bytes_out: 0,
        sized: false,
        name: None,
        qtype: "",
        unanswered: false,
        http: false,
        dir: match (src, dst) {
            (Some(s), Some(d)) => Site::assumed().direction(s, d),
            _ => Direction::Transit,
        },
        public: false,
        site_known: false,
    };
    match kind {
        FlowKind::Named => {
            f.http = matches!(zeek, Some(ZeekLog::Http)) || eve == Some("http");
            let name = text(e.common(TLS_SNI)).or_else(|| text(e.common(URL_HOSTNAME)));
            // An HTTP request without a Host header, and a TLS session
            // without a server name (or naming an address), are flows of
            // their own (no name): RITA's missing-Host signal, and TLS to
            // an address nobody looked up.
            let name = match name {
                Some(n) if !n.trim().is_empty() && n != "-" => n,
                _ if src.is_some_and(unicast) => return Some(f),
                _ => return None,
            };
            if !f.http && name.parse::<IpAddr>().is_ok() {
                return src.is_some_and(unicast).then_some(f);
            }
            // Host headers may carry a port; literal addresses are the IP beacons' job.
            let name = name.rsplit_once(':').map_or(name, |(h, p)| {
                if p.bytes().all(|b| b.is_ascii_digit()) {
                    h
                } else {
                    name
                }
            });
            let name = name.trim_end_matches('.');
            if name.is_empty() || name.parse::<IpAddr>().is_ok() || !src.is_some_and(unicast) {
                return None;
            }
            f.name = Some(name);
        }
        FlowKind::Dns => {
            f.name = text(e.common(QUERY_HOSTNAME))
                .or_else(|| text(ids.rrname_eve.and_then(|i| e.get(i))));
            f.qtype = text(ids.qtype.and_then(|i| e.get(i)))
                .or_else(|| text(ids.qtype_eve.and_then(|i| e.get(i))))
                .unwrap_or("");
        }
        FlowKind::Conn | FlowKind::Open => {
            f.duration = num(e.common(DURATION)).unwrap_or(0.0);
            f.bytes_out = num(e.common(BYTES_OUT)).unwrap_or(0.0).max(0.0) as u64;
            f.port = num(e.common(DST_PORT)).map_or(0, |p| p as i64);
            f.sport = num(e.common(SRC_PORT)).map_or(0, |p| p as i64);
            // An ICMP error (destination unreachable, time exceeded: Zeek
            // logs the type as the source port) answers someone else's
            // packet: not a connection the sender chose to make.
            if text(e.common(PROTOCOL)).is_some_and(|p| p.eq_ignore_ascii_case("icmp"))
                && matches!(f.sport, 3 | 11)
            {
                f.infra = true;
                f.unanswered = false;
                return Some(f);
            }
            // Infrastructure polls are told apart by the site (see `Facts::classify`).
            // A connection attempt nobody accepted: Zeek's S0 (no answer),
            // REJ (refused) and RSTOS0 (SYN then the prober's reset, as a
            // SYN scan does); without Zeek's state, no packet back.
            // Mid-stream states (OTH, SH, SHR) are not attempts: a long TLS
            // session whose start the sensor missed is one.
            f.sized = e.common(BYTES_OUT).is_some()
                || ids.conn_state.and_then(|i| e.get(i)).is_some()
                || ids.pkts_toclient_eve.and_then(|i| e.get(i)).is_some();
            f.unanswered = match text(ids.conn_state.and_then(|i| e.get(i))) {
                Some(state) => matches!(state, "S0" | "REJ" | "RSTOS0"),
                None => {
                    let back = ids
                        .resp_pkts
                        .and_then(|i| e.get(i))
                        .or_else(|| ids.pkts_toclient_eve.and_then(|i| e.get(i)));
                    num(back) == Some(0.0)
                }
            };
        }
    }
    Some(f)
}

/// RITA's thresholds: 0.9 high, 0.7 medium, else low.
pub(crate) fn severity_of(score: f64) -> Severity {
    if score >= 0.9 {
        Severity::High
    } else if score >= 0.7 {
        Severity::Medium
    } else {
        Severity::Low
    }
}

/// A network finding, before it becomes an [`Alert`] of a tenant.
#[derive(Debug, Clone)]
pub(crate) struct Finding {
    /// The detector (`beacon`, `strobe`, …).
    pub detector: &'static str,
    /// What it looks for, in a line.
    pub about: &'static str,
    /// What makes it the same finding when seen again (its entities, its window).
    pub key: Vec<String>,
    pub title: String,
    pub first: Timestamp,
    pub last: Timestamp,
    pub score: f64,
    pub severity: Severity,
    pub techniques: &'static [&'static str],
    pub actors: Vec<Entity>,
    pub targets: Vec<Entity>,
    pub count: u64,
    pub evidence: Vec<(&'static str, String)>,
    pub origins: Vec<Origin>,
}

impl Finding {
    /// The alert of `tenant`.
    pub fn alert(self, tenant: &Arc<str>) -> Alert {
        let mut parts: Vec<&str> = vec![tenant, self.detector];
        parts.extend(self.key.iter().map(String::as_str));
        let key = AlertKey::of(&parts);
        Alert {
            title: self.title,
            severity: self.severity,
            score: self.score,
            actors: self.actors,
            targets: self.targets,
            first: self.first,
            last: self.last,
            count: self.count,
            ..crate::Analytic {
                family: "network",
                detector: self.detector,
                about: self.about,
                techniques: self.techniques,
                evidence: self.evidence,
                origins: &self.origins,
            }
            .alert(tenant, key)
        }
    }
}

/// The state of the network detectors over one tenant's events.
pub struct NetworkAnalytics {
    facts: Facts,
    detectors: Vec<Box<dyn Detector<Network>>>,
}

impl std::fmt::Debug for NetworkAnalytics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NetworkAnalytics")
            .field("facts", &self.facts)
            .field("detectors", &self.detectors.len())
            .finish()
    }
}

impl Default for NetworkAnalytics {
    fn default() -> Self {
        Self::new()
    }
}

impl NetworkAnalytics {
    /// Every registered detector, empty.
    pub fn new() -> Self {
        NetworkAnalytics::for_tenant(Arc::from("default"))
    }

    /// The same, for a tenant (its alerts name it).
    pub fn for_tenant(tenant: Arc<str>) -> Self {
        NetworkAnalytics::for_site(tenant, Arc::new(Site::assumed()))
    }

    /// The same, for a tenant with its site model.
    pub fn for_site(tenant: Arc<str>, site: Arc<Site>) -> Self {
        NetworkAnalytics {
            facts: Facts::new(tenant, site),
            detectors: REGISTRY.iter().map(|make| make()).collect(),
        }
    }

    /// Takes one event (anything that is not a connection, open connection,
    /// DNS query or named session is ignored).
    pub fn observe(&mut self, e: &Event) {
        let Some(f) = flow(e) else { return };
        self.observe_flow(&f);
    }

    /// Takes one flow (its direction is worked out for this tenant's site).
    pub fn observe_flow(&mut self, f: &Flow<'_>) {
        let f = self.facts.classify(f);
        self.facts.see(&f);
        let mut none = Vec::new();
        for d in &mut self.detectors {
            d.observe(&f, &mut none);
        }
    }

    /// The tenant's site.
    pub fn site(&self) -> &Arc<Site> {
        &self.facts.site
    }

    /// Connections with neither end inside the site, of all connections.
    pub fn transit(&self) -> (u64, u64) {
        self.facts.transit()
    }

    /// Destinations outside the networks and how many internal hosts used
    /// each (see [`Facts::public_prevalence`]).
    pub fn public_prevalence(&self, out: &mut Vec<(String, u64)>) {
        self.facts.public_prevalence(out);
    }

    /// Scores beacons over `[from, to]` instead of the range seen (a stream's
    /// window).
    pub fn set_scoring_range(&mut self, from: Timestamp, to: Timestamp) {
        self.facts.scoring = (from.0 < to.0).then_some((from.0, to.0));
    }

    /// Streaming: forgets everything before `cutoff`, so memory covers a
    /// window (say the last seven days) however long the stream runs.
    /// Connection times and sizes, hourly volumes and administrative uses
    /// are cut record by record; long-connection, upload, DNS and scan
    /// summaries go whole when their last record is before the cutoff; the
    /// prevalence of each destination counts the hosts seen within the
    /// window. Findings afterwards are the window's.
    pub fn expire(&mut self, cutoff: Timestamp) {
        self.facts.expire(cutoff.0);
        for d in &mut self.detectors {
            d.expire(cutoff);
        }
    }

    /// What the state holds, one line per detector: memory is bounded by
    /// these counts, not by the number of records seen.
    pub fn footprint(&self) -> String {
        let mut parts = vec![self.facts.footprint()];
        parts.extend(self.detectors.iter().filter_map(|d| d.footprint()));
        parts.join("; ")
    }

    /// Adds another state (another file or worker).
    pub fn merge(&mut self, other: NetworkAnalytics) {
        self.facts.merge(other.facts);
        for (mine, theirs) in self.detectors.iter_mut().zip(other.detectors) {
            mine.merge(theirs);
        }
    }

    /// A fresh state with the same tenant and site.
    pub fn fork(&self) -> NetworkAnalytics {
        NetworkAnalytics::for_site(self.facts.tenant.clone(), self.facts.site.clone())
    }

    /// The state of the facts and every detector (see
    /// [`vakt_core::Detector::save`]).
    pub fn save(&self) -> Result<Vec<u8>, String> {
        let facts = vakt_core::detector::save_state(&self.facts)?;
        let members = vakt_core::detector::save_all(&self.detectors)?;
        vakt_core::detector::save_state(&(vakt_core::detector::Blob(facts), members))
    }

    /// Takes state [`NetworkAnalytics::save`] gave, keeping this instance's
    /// tenant and site.
    pub fn load(&mut self, b: &[u8]) -> Result<(), String> {
        type Saved = (
            vakt_core::detector::Blob,
            Vec<(String, vakt_core::detector::Blob)>,
        );
        let (facts, members): Saved = vakt_core::detector::load_state(b)?;
        let mut f: Facts = vakt_core::detector::load_state(&facts.0)?;
        f.request_body_len = self.facts.request_body_len;
        f.tenant = self.facts.tenant.clone();
        f.site = self.facts.site.clone();
        let tracker = std::mem::take(&mut f.pairs);
        f.pairs = BeaconTracker::new();
        f.pairs.restore(tracker);
        vakt_core::detector::load_all(&mut self.detectors, &members)?;
        self.facts = f;
        Ok(())
    }

    /// Every finding, highest score first.
    pub fn alerts(&mut self) -> Vec<Alert> {
        let mut out = Vec::new();
        for d in &mut self.detectors {
            d.flush(&self.facts, &mut out);
        }
        out.sort_by(|a, b| {
            b.score
                .total_cmp(&a.score)
                .then_with(|| a.title.cmp(&b.title))
        });
        out
    }

    /// The tenant.
    pub fn tenant(&self) -> &Arc<str> {
        &self.facts.tenant
    }
}

/// Merges a forked detector of the network family back, if it is one of `D`.
pub(crate) fn merge_into<D: Detector<Network>>(
    mine: &mut D,
    other: Box<dyn Detector<Network>>,
    f: impl FnOnce(&mut D, D),
) {
    if let Some(o) = downcast::<Network, D>(other) {
        f(mine, *o);
    }
}
