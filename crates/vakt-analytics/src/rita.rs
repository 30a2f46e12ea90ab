//! RITA-compatible beacon listing: the beacons RITA v5 would list for the
//! same Zeek logs, with its import rules, so that an analyst can compare vakt
//! with RITA line by line (and so that RITA's own known answers can be tested).
//!
//! What RITA does on import, and what this module reproduces:
//! - **Filtering** (`filterConnPair`): a connection is kept only between an
//!   internal and an external address (internal = the configured subnets,
//!   RFC 1918 and fc00::/7 by default), from internal to external unless
//!   `filter_external_to_internal` is off, and never to or from loopback,
//!   link-local, multicast, broadcast or unspecified addresses.
//! - **IP beacons** per source→destination from `conn` records: connection
//!   times in whole seconds, the source's IP bytes (`orig_ip_bytes`) as sizes.
//! - **SNI beacons** per source→name from `ssl` (`server_name`) and `http`
//!   (`host`, as written, port included for proxy requests) records: times
//!   from those records, sizes from the `conn` record of the same Zeek uid.
//!   Only the first HTTP request of a connection counts (RITA drops the
//!   others as multi-request). An HTTP `CONNECT` through an internal proxy is
//!   kept when its source is internal (the proxy leg is internal→internal).
//!   An IP pair whose connections also carried a listed SNI beacon is not
//!   listed as an IP beacon.
//! - **The window**: the dataset range is the first and last kept connection
//!   (conn records and proxy requests), cut to the last 24 hours; connections
//!   from the hour of its start on are scored.
//! - **Thresholds**: at least 4 distinct connection times, fewer than 86,400
//!   connections (more is a strobe), scored with [`crate::beacon::score`].
//!
//! Not reproduced: RITA's missing-Host-header bookkeeping (conn entries it
//! flags and leaves out of the timestamp list), rolling re-imports and its
//! database-side caps beyond 86,400 entries per list. This module keeps one
//! small record per connection until [`RitaBeacons::finish`]: it is a batch
//! comparison tool, not the streaming path ([`crate::network`] is).

use std::net::IpAddr;

use rustc_hash::{FxHashMap, FxHashSet};
use vakt_core::field::{DST_IP, METADATA_UID, SRC_IP, TLS_SNI, URL_HOSTNAME};
use vakt_core::{Event, FieldId, Value, ZeekLog};

use crate::beacon::{BeaconConfig, BeaconScore, STROBE_CONNECTIONS, score};
use vakt_core::net::Cidr;

/// RITA's import filter.
#[derive(Debug, Clone)]
pub struct RitaFilter {
    internal: Vec<Cidr>,
    filter_external_to_internal: bool,
}

impl Default for RitaFilter {
    fn default() -> Self {
        RitaFilter {
            internal: ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7"]
                .iter()
                .filter_map(|s| Cidr::parse(s))
                .collect(),
            filter_external_to_internal: true,
        }
    }
}

impl RitaFilter {
    /// Keeps connections from an external to an internal address too (RITA's
    /// `filter_external_to_internal: false`; by default they are dropped).
    pub fn keep_external_to_internal(mut self) -> Self {
        self.filter_external_to_internal = false;
        self
    }

    /// Adds an internal subnet (`a.b.c.d/len`, an address, or IPv6); `None` if it does not parse.
    pub fn add_internal(&mut self, subnet: &str) -> Option<()> {
        self.internal.push(Cidr::parse(subnet)?);
        Some(())
    }

    fn is_internal(&self, ip: IpAddr) -> bool {
        self.internal.iter().any(|n| n.contains(ip))
    }

    /// RITA's mandatory never-included ranges.
    fn never(ip: IpAddr) -> bool {
        match ip {
            IpAddr::V4(a) => {
                a.is_unspecified()
                    || a.is_loopback()
                    || a.is_link_local()
                    || a.is_multicast()
                    || a.is_broadcast()
            }
            IpAddr::V6(a) => {
                a.is_unspecified()
                    || a.is_loopback()
                    || a.is_multicast()
                    || (a.segments()[0] & 0xffc0) == 0xfe80
            }
        }
    }

    /// Whether RITA keeps a connection from `src` to `dst`.
    pub fn keeps(&self, src: IpAddr, dst: IpAddr) -> bool {
        if Self::never(src) || Self::never(dst) {
            return false;
        }
        let (si, di) = (self.is_internal(src), self.is_internal(dst));
        if si == di {
            return false;
        }
        !(self.filter_external_to_internal && !si && di)
    }

    /// Whether RITA keeps a proxied request (`CONNECT`) from `src`.
    fn keeps_proxied(&self, src: IpAddr) -> bool {
        !Self::never(src) && self.is_internal(src)
    }
}

/// What a listed beacon goes to.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RitaTarget {
    /// An IP beacon's destination.
    Ip(IpAddr),
    /// An SNI beacon's name (TLS server name or HTTP host).
    Name(String),
}

impl std::fmt::Display for RitaTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RitaTarget::Ip(ip) => write!(f, "{ip}"),
            RitaTarget::Name(n) => f.write_str(n),
        }
    }
}

/// One beacon as RITA lists it.
#[derive(Debug, Clone)]
pub struct RitaBeacon {
    /// Source.
    pub src: IpAddr,
    /// Destination address or name.
    pub target: RitaTarget,
    /// Connections counted.
    pub count: usize,
    /// Whether the connections went through a proxy (`CONNECT`).
    pub proxied: bool,
    /// RITA's score and its four parts.
    pub score: BeaconScore,
}

#[derive(Debug, Default)]
struct Series {
    ts: Vec<u32>,
    uids: Vec<u32>,
    proxied: bool,
}

/// Collects Zeek conn, ssl and http events and lists beacons as RITA does.
#[derive(Debug)]
pub struct RitaBeacons {
    filter: RitaFilter,
    uid_ids: FxHashMap<Box<str>, u32>,
    /// Source IP bytes per uid (from conn records, kept or not).
    sizes: FxHashMap<u32, f64>,
    ip: FxHashMap<(IpAddr, IpAddr), Series>,
    sni: FxHashMap<(IpAddr, String), Series>,
    /// Uids whose first HTTP request was already taken.
    http_seen: FxHashSet<u32>,
    range: Option<(i64, i64)>,
    fixed_range: Option<(i64, i64)>,
    method: Option<FieldId>,
    orig_ip_bytes: Option<FieldId>,
}

impl RitaBeacons {
    /// An empty collector with RITA's filter.
    pub fn new(filter: RitaFilter) -> Self {
        RitaBeacons {
            filter,
            uid_ids: FxHashMap::default(),
            sizes: FxHashMap::default(),
            ip: FxHashMap::default(),
            sni: FxHashMap::default(),
            http_seen: FxHashSet::default(),
            range: None,
            fixed_range: None,
            method: FieldId::intern("method").ok(),
            orig_ip_bytes: FieldId::intern("orig_ip_bytes").ok(),
        }
    }

    /// Uses this dataset range (seconds) instead of the one seen, e.g. when
    /// only part of a capture's logs is at hand.
    pub fn with_range(mut self, min: i64, max: i64) -> Self {
        self.fixed_range = Some((min, max));
        self
    }

    fn uid(&mut self, e: &Event) -> Option<u32> {
        let s = e.common(METADATA_UID)?.as_str()?;
        if let Some(id) = self.uid_ids.get(s) {
            return Some(*id);
        }
        let id = u32::try_from(self.uid_ids.len()).ok()?;
        self.uid_ids.insert(s.into(), id);
        Some(id)
    }

    fn widen(&mut self, secs: i64) {
        self.range = Some(match self.range {
            Some((a, b)) => (a.min(secs), b.max(secs)),
            None => (secs, secs),
        });
    }

    /// Takes one event; anything but Zeek conn, ssl and http is ignored.
    pub fn observe(&mut self, e: &Event) {
        let kind = match e.source.zeek_log() {
            Some(ZeekLog::Conn) => 0,
            Some(ZeekLog::Ssl) => 1,
            Some(ZeekLog::Http) => 2,
            _ => return,
        };
        let (Some(Value::Ip(src)), Some(Value::Ip(dst))) = (e.common(SRC_IP), e.common(DST_IP))
        else {
            return;
        };
        let (src, dst) = (*src, *dst);
        let secs = e.time.0.div_euclid(1_000_000_000);
        let Ok(t) = u32::try_from(secs) else { return };
        let Some(uid) = self.uid(e) else { return };
        match kind {
            0 => {
                let bytes = self
                    .orig_ip_bytes
                    .and_then(|f| e.get(f))
                    .and_then(Value::as_i64)
                    .unwrap_or(0) as f64;
                self.sizes.insert(uid, bytes);
                if self.filter.keeps(src, dst) {
                    self.widen(secs);
                    let s = self.ip.entry((src, dst)).or_default();
                    s.ts.push(t);
                    s.uids.push(uid);
                }
            }
            1 => {
                let Some(name) = e.common(TLS_SNI).and_then(Value::as_str) else {
                    return;
                };
                if name.is_empty() || !self.filter.keeps(src, dst) {
                    return;
                }
                let s = self.sni.entry((src, name.to_string())).or_default();
                s.ts.push(t);
                s.uids.push(uid);
            }
            _ => {
                let Some(host) = e.common(URL_HOSTNAME).and_then(Value::as_str) else {
                    return;
                };
                if host.is_empty() || !self.http_seen.insert(uid) {
                    return;
                }
                let connect =
                    self.method.and_then(|f| e.get(f)).and_then(Value::as_str) == Some("CONNECT");
                let kept = if connect {
                    self.filter.keeps_proxied(src)
                } else {
                    self.filter.keeps(src, dst)
                };
                if !kept {
                    return;
                }
                if connect {
                    self.widen(secs);
                }
                let s = self.sni.entry((src, host.to_string())).or_default();
                s.ts.push(t);
                s.uids.push(uid);
                s.proxied |= connect;
            }
        }
    }

    /// The dataset range used for scoring: the range seen (or given), its
    /// start moved up to 24 hours before its end.
    pub fn dataset_range(&self) -> Option<(i64, i64)> {
        let (min, max) = self.fixed_range.or(self.range)?;
        Some((min.max(max - 86_400), max))
    }

    /// Scores and lists the beacons, highest score first (ties by source and target).
    pub fn finish(&self, cfg: &BeaconConfig) -> Vec<RitaBeacon> {
        let Some((min, max)) = self.dataset_range() else {
            return Vec::new();
        };
        let from = u32::try_from(min - min.rem_euclid(3600)).unwrap_or(0);
        let mut out = Vec::new();
        let mut sni_uids: FxHashSet<u32> = FxHashSet::default();
        let list = |src: IpAddr, target: RitaTarget, s: &Series, out: &mut Vec<RitaBeacon>| {
            let idx: Vec<usize> = (0..s.ts.len()).filter(|i| s.ts[*i] >= from).collect();
            let mut ts: Vec<u32> = idx.iter().map(|i| s.ts[*i]).collect();
            let mut unique = ts.clone();
            unique.sort_unstable();
            unique.dedup();
            if unique.len() < 4 || ts.len() as u64 >= STROBE_CONNECTIONS {
                return false;
            }
            let bytes: Vec<f64> = idx
                .iter()
                .map(|i| self.sizes.get(&s.uids[*i]).copied().unwrap_or(0.0))
                .collect();
            ts.sort_unstable();
            let Ok(score) = score(cfg, &ts, &bytes, min, max) else {
                return true;
            };
            out.push(RitaBeacon {
                src,
                target,
                count: ts.len(),
                proxied: s.proxied,
                score,
            });
            true
        };
        for ((src, name), s) in &self.sni {
            if list(*src, RitaTarget::Name(name.clone()), s, &mut out) {
                sni_uids.extend(s.uids.iter().copied());
            }
        }
        for ((src, dst), s) in &self.ip {
            if s.uids.iter().any(|u| sni_uids.contains(u)) {
                continue;
            }
            list(*src, RitaTarget::Ip(*dst), s, &mut out);
        }
        out.sort_by(|a, b| {
            b.score
                .score
                .total_cmp(&a.score.score)
                .then(a.src.cmp(&b.src))
                .then(a.target.cmp(&b.target))
        });
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_filter_keeps_internal_to_external_only() {
        let f = RitaFilter::default();
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert!(f.keeps(ip("10.0.0.5"), ip("8.8.8.8")));
        assert!(!f.keeps(ip("8.8.8.8"), ip("10.0.0.5")));
        assert!(!f.keeps(ip("10.0.0.5"), ip("10.0.0.6")));
        assert!(!f.keeps(ip("1.1.1.1"), ip("8.8.8.8")));
        assert!(!f.keeps(ip("10.0.0.5"), ip("239.255.255.250")));
        assert!(!f.keeps(ip("fe80::1"), ip("2001:db8::1")));
        let mut g = RitaFilter::default().keep_external_to_internal();
        assert!(g.keeps(ip("8.8.8.8"), ip("10.0.0.5")));
        g.add_internal("64.225.56.201/32").unwrap();
        assert!(g.keeps(ip("73.54.23.243"), ip("64.225.56.201")));
        assert!(g.add_internal("not a net").is_none());
    }
}
