//! Matching events against indicators.
//!
//! Addresses in a hash set; IPv4 networks of /16 or longer listed under
//! their /16 (one probe, then a short list), shorter ones and IPv6 networks
//! in one hash map per prefix length (the address masked to it);
//! domains by name, an event's name probed with each of its parent domains;
//! URLs normalised (lower-case scheme and host, default port and fragment
//! dropped); hashes and e-mail addresses by value.

use std::net::IpAddr;

use rustc_hash::FxHashMap;
use vakt_core::field::{
    DST_HOSTNAME, DST_IP, FILE_MD5, FILE_SHA1, FILE_SHA256, QUERY_HOSTNAME, SRC_IP, TLS_SNI,
    URL_HOSTNAME, URL_PATH,
};
use vakt_core::{Event, FieldId, Value};

use crate::{Indicator, Kind};

/// The address with all but the first `len` bits cleared.
pub(crate) fn mask(ip: IpAddr, len: u8) -> IpAddr {
    match ip {
        IpAddr::V4(v) => {
            let bits = u32::from(v);
            let m = if len == 0 {
                0
            } else {
                u32::MAX << (32 - u32::from(len.min(32)))
            };
            IpAddr::V4((bits & m).into())
        }
        IpAddr::V6(v) => {
            let bits = u128::from(v);
            let m = if len == 0 {
                0
            } else {
                u128::MAX << (128 - u32::from(len.min(128)))
            };
            IpAddr::V6((bits & m).into())
        }
    }
}

/// A URL normalised for comparison, or `None` when it is not one.
pub(crate) fn normalise_url(raw: &str) -> Option<String> {
    let raw = raw.trim();
    let (scheme, rest) = raw.split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    if scheme.is_empty()
        || !scheme
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'-' || b == b'.')
    {
        return None;
    }
    let rest = rest.split('#').next().unwrap_or(rest);
    let (authority, path) = match rest.find(['/', '?']) {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let host_port = authority
        .rsplit('@')
        .next()
        .unwrap_or(authority)
        .to_ascii_lowercase();
    if host_port.is_empty() {
        return None;
    }
    let host_port = match (scheme.as_str(), host_port.rsplit_once(':')) {
        ("http", Some((h, "80"))) | ("https", Some((h, "443"))) => h.to_owned(),
        _ => host_port,
    };
    let path = if path.starts_with('?') {
        format!("/{path}")
    } else {
        path.to_owned()
    };
    Some(format!("{scheme}://{host_port}{path}"))
}

/// The host of a URL.
pub(crate) fn url_host(url: &str) -> Option<String> {
    let rest = url.split_once("://")?.1;
    let authority = rest.split(['/', '?', '#']).next()?;
    let host = authority.rsplit('@').next()?;
    let host = host.rsplit_once(':').map_or(host, |(h, p)| {
        if p.bytes().all(|b| b.is_ascii_digit()) {
            h
        } else {
            host
        }
    });
    Some(host.trim_matches(['[', ']']).to_ascii_lowercase())
}

/// One indicator matched by one field of an event.
#[derive(Debug, Clone, PartialEq)]
pub struct Hit {
    /// Index of the indicator in [`Matcher::indicators`].
    pub indicator: u32,
    /// The field that matched.
    pub field: FieldId,
    /// The event's value that matched (the name, address or hash).
    pub value: String,
}

/// A bitset over hashed keys (2^21 bits, 256 KiB): a look-up whose bit is
/// clear cannot be in the map, and the bitset stays in cache where a big
/// map does not — most events match nothing, so most look-ups end here.
#[derive(Debug, Default)]
struct Prefilter(Vec<u64>);

const PREFILTER_BITS: u64 = 1 << 21;

impl Prefilter {
    fn bit<K: std::hash::Hash + ?Sized>(k: &K) -> u64 {
        use std::hash::BuildHasher;
        // Fx's low bits are weak: take the high ones.
        (rustc_hash::FxBuildHasher.hash_one(k) >> 20) % PREFILTER_BITS
    }

    fn insert<K: std::hash::Hash + ?Sized>(&mut self, k: &K) {
        if self.0.is_empty() {
            self.0 = vec![0; (PREFILTER_BITS / 64) as usize];
        }
        let b = Self::bit(k);
        self.0[(b / 64) as usize] |= 1 << (b % 64);
    }

    fn may<K: std::hash::Hash + ?Sized>(&self, k: &K) -> bool {
        if self.0.is_empty() {
            return false;
        }
        let b = Self::bit(k);
        self.0[(b / 64) as usize] & (1 << (b % 64)) != 0
    }
}

/// All indicators, ready to match.
#[derive(Debug, Default)]
pub struct Matcher {
    indicators: Vec<Indicator>,
    ips: FxHashMap<IpAddr, Vec<u32>>,
    ip_filter: Prefilter,
    name_filter: Prefilter,
    /// IPv4 networks of /16 or longer, for the look-up: where each /16's entries start
    /// in `v4_entries` (65,537 offsets, 256 KiB, mostly cached), and the
    /// entries as (network, mask, indicator) in one array.
    v4_start: Vec<u32>,
    v4_entries: Vec<(u32, u32, u32)>,
    /// IPv4 networks shorter than /16 and IPv6 networks, by length.
    nets: Vec<(u8, bool, FxHashMap<IpAddr, Vec<u32>>)>,
    names: FxHashMap<Box<str>, Vec<u32>>,
    urls: FxHashMap<Box<str>, Vec<u32>>,
    hashes: FxHashMap<Box<str>, Vec<u32>>,
    emails: FxHashMap<Box<str>, Vec<u32>>,
    hashes_field: Option<FieldId>,
}

impl Matcher {
    /// Builds the look-up structures.
    pub fn new(indicators: Vec<Indicator>) -> Matcher {
        let mut m = Matcher {
            hashes_field: FieldId::intern("Hashes").ok(),
            ..Default::default()
        };
        let mut nets: FxHashMap<(u8, bool), FxHashMap<IpAddr, Vec<u32>>> = FxHashMap::default();
        // IPv4 networks of /16 or longer under their /16, flattened below.
        let mut v4_long: Vec<Vec<(u32, u8, u32)>> = Vec::new();
        for (i, ind) in indicators.iter().enumerate() {
            let i = i as u32;
            match ind.kind {
                Kind::Ip => {
                    if let Ok(ip) = ind.value.parse::<IpAddr>() {
                        m.ip_filter.insert(&ip);
                        m.ips.entry(ip).or_default().push(i);
                    }
                }
                Kind::Cidr => {
                    let Some((a, l)) = ind.value.split_once('/') else {
                        continue;
                    };
                    let (Ok(ip), Ok(len)) = (a.parse::<IpAddr>(), l.parse::<u8>()) else {
                        continue;
                    };
                    if let IpAddr::V4(v) = ip
                        && len >= 16
                    {
                        let bits = u32::from(v);
                        if v4_long.is_empty() {
                            v4_long = vec![Vec::new(); 1 << 16];
                        }
                        v4_long[(bits >> 16) as usize].push((bits, len, i));
                        continue;
                    }
                    nets.entry((len, ip.is_ipv6()))
                        .or_default()
                        .entry(ip)
                        .or_default()
                        .push(i);
                }
                Kind::Domain => {
                    m.name_filter.insert(ind.value.as_str());
                    m.names
                        .entry(ind.value.as_str().into())
                        .or_default()
                        .push(i)
                }
                Kind::Url => m.urls.entry(ind.value.as_str().into()).or_default().push(i),
                Kind::Md5 | Kind::Sha1 | Kind::Sha256 => m
                    .hashes
                    .entry(ind.value.as_str().into())
                    .or_default()
                    .push(i),
                Kind::Email => m
                    .emails
                    .entry(ind.value.as_str().into())
                    .or_default()
                    .push(i),
            }
        }
        if !v4_long.is_empty() {
            m.v4_start.reserve(1 << 16 | 1);
            for slot in &v4_long {
                m.v4_start.push(m.v4_entries.len() as u32);
                for (net, len, i) in slot {
                    m.v4_entries
                        .push((*net, u32::MAX << (32 - u32::from(*len)), *i));
                }
            }
            m.v4_start.push(m.v4_entries.len() as u32);
        }
        m.nets = nets
            .into_iter()
            .map(|((l, v6), map)| (l, v6, map))
            .collect();
        m.nets.sort_by_key(|n| n.0);
        m.indicators = indicators;
        m
    }

    /// The indicators.
    pub fn indicators(&self) -> &[Indicator] {
        &self.indicators
    }

    /// Indicators held.
    pub fn len(&self) -> usize {
        self.indicators.len()
    }

    /// No indicators.
    pub fn is_empty(&self) -> bool {
        self.indicators.is_empty()
    }

    /// The indicators an address matches (exact, and every network holding it).
    pub fn ip(&self, ip: IpAddr, mut f: impl FnMut(u32)) {
        if self.ip_filter.may(&ip)
            && let Some(v) = self.ips.get(&ip)
        {
            v.iter().for_each(|i| f(*i));
        }
        if let IpAddr::V4(v) = ip
            && !self.v4_start.is_empty()
        {
            let bits = u32::from(v);
            let slot = (bits >> 16) as usize;
            let (from, to) = (
                self.v4_start[slot] as usize,
                self.v4_start[slot + 1] as usize,
            );
            for (net, mask, i) in &self.v4_entries[from..to] {
                if bits & mask == *net {
                    f(*i);
                }
            }
        }
        for (len, v6, map) in &self.nets {
            if *v6 != ip.is_ipv6() {
                continue;
            }
            if let Some(v) = map.get(&mask(ip, *len)) {
                v.iter().for_each(|i| f(*i));
            }
        }
    }

    /// The indicators a name matches (itself or a parent domain).
    pub fn name(&self, name: &str, mut f: impl FnMut(u32)) {
        if self.names.is_empty() {
            return;
        }
        let trimmed = name.trim_end_matches('.');
        let lowered;
        let n = if trimmed.bytes().any(|b| b.is_ascii_uppercase()) {
            lowered = trimmed.to_ascii_lowercase();
            lowered.as_str()
        } else {
            trimmed
        };
        let mut rest = n;
        loop {
            if self.name_filter.may(rest)
                && let Some(v) = self.names.get(rest)
            {
                v.iter().for_each(|i| f(*i));
            }
            match rest.find('.') {
                Some(i) if rest[i + 1..].contains('.') => rest = &rest[i + 1..],
                _ => break,
            }
        }
    }

    /// The indicators a hash matches.
    pub fn hash(&self, h: &str, mut f: impl FnMut(u32)) {
        if self.hashes.is_empty() {
            return;
        }
        let v = if h.bytes().any(|b| b.is_ascii_uppercase()) {
            self.hashes.get(h.to_ascii_lowercase().as_str())
        } else {
            self.hashes.get(h)
        };
        if let Some(v) = v {
            v.iter().for_each(|i| f(*i));
        }
    }

    /// The indicators a URL matches.
    pub fn url(&self, url: &str, mut f: impl FnMut(u32)) {
        if self.urls.is_empty() {
            return;
        }
        if let Some(n) = normalise_url(url)
            && let Some(v) = self.urls.get(n.as_str())
        {
            v.iter().for_each(|i| f(*i));
        }
    }

    /// Every indicator the event matches, through its addresses, names,
    /// URL and file hashes (common fields, and Sysmon's `Hashes`).
    pub fn event(&self, e: &Event, out: &mut Vec<Hit>) {
        for field in [SRC_IP, DST_IP] {
            if let Some(Value::Ip(ip)) = e.common(field) {
                self.ip(*ip, |i| {
                    out.push(Hit {
                        indicator: i,
                        field,
                        value: ip.to_string(),
                    })
                });
            }
        }
        for field in [QUERY_HOSTNAME, URL_HOSTNAME, TLS_SNI, DST_HOSTNAME] {
            if let Some(name) = e.common(field).and_then(Value::as_str) {
                self.name(name, |i| {
                    out.push(Hit {
                        indicator: i,
                        field,
                        value: name.to_owned(),
                    })
                });
            }
        }
        if !self.urls.is_empty()
            && let Some(host) = e.common(URL_HOSTNAME).and_then(Value::as_str)
        {
            let path = e.common(URL_PATH).and_then(Value::as_str).unwrap_or("/");
            for scheme in ["http", "https"] {
                let url = format!("{scheme}://{host}{path}");
                self.url(&url, |i| {
                    out.push(Hit {
                        indicator: i,
                        field: URL_PATH,
                        value: url.clone(),
                    })
                });
            }
        }
        if !self.hashes.is_empty() {
            for field in [FILE_MD5, FILE_SHA1, FILE_SHA256] {
                if let Some(h) = e.common(field).and_then(Value::as_str) {
                    self.hash(h, |i| {
                        out.push(Hit {
                            indicator: i,
                            field,
                            value: h.to_owned(),
                        })
                    });
                }
            }
            // Sysmon: `SHA256=…,MD5=…,IMPHASH=…`.
            if let Some(f) = self.hashes_field
                && let Some(all) = e.get(f).and_then(Value::as_str)
            {
                for part in all.split(',') {
                    if let Some((algo, h)) = part.split_once('=')
                        && !algo.eq_ignore_ascii_case("IMPHASH")
                    {
                        self.hash(h, |i| {
                            out.push(Hit {
                                indicator: i,
                                field: f,
                                value: h.to_owned(),
                            })
                        });
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::normalise;
    use std::sync::Arc;

    fn ind(kind: Kind, v: &str) -> Indicator {
        Indicator {
            kind,
            value: normalise(kind, v).unwrap(),
            source: Arc::from("test"),
            id: v.into(),
            name: String::new(),
            confidence: None,
            valid: (None, None),
            tlp: None,
            kill_chain: Vec::new(),
            to_ids: true,
            warning: None,
            sightings: 0,
        }
    }

    #[test]
    fn addresses_networks_names_urls_hashes() {
        let m = Matcher::new(vec![
            ind(Kind::Ip, "192.0.2.1"),
            ind(Kind::Cidr, "198.51.100.0/24"),
            ind(Kind::Cidr, "10.0.0.0/8"),
            ind(Kind::Cidr, "2001:db8::/32"),
            ind(Kind::Domain, "evil.example"),
            ind(Kind::Url, "HTTP://Bad.Example:80/x?y=1#frag"),
            ind(
                Kind::Sha256,
                "EF537F25C895BFA782526529A9B63D97AA631564D5D789C2B765448C8635FB6C",
            ),
        ]);
        let got = |ip: &str| {
            let mut v = Vec::new();
            m.ip(ip.parse().unwrap(), |i| v.push(i));
            v
        };
        assert_eq!(got("192.0.2.1"), vec![0]);
        assert_eq!(got("198.51.100.77"), vec![1]);
        assert_eq!(got("10.200.3.4"), vec![2]);
        assert_eq!(got("2001:db8:1::5"), vec![3]);
        assert!(got("198.51.101.1").is_empty() && got("192.0.2.2").is_empty());
        let names = |n: &str| {
            let mut v = Vec::new();
            m.name(n, |i| v.push(i));
            v
        };
        assert_eq!(names("a.b.Evil.Example."), vec![4]);
        assert_eq!(names("evil.example"), vec![4]);
        assert!(names("notevil.example").is_empty() && names("example").is_empty());
        let mut v = Vec::new();
        m.url("http://bad.example/x?y=1", |i| v.push(i));
        assert_eq!(v, vec![5]);
        let mut v = Vec::new();
        m.hash(
            "ef537f25c895bfa782526529a9b63d97aa631564d5d789c2b765448c8635fb6c",
            |i| v.push(i),
        );
        assert_eq!(v, vec![6]);
    }
}
