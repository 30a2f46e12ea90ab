//! `exfiltration` (T1048, T1041) by the hour: an hour in which an internal
//! host sends out ten times more than in any earlier hour (after a day of
//! its own history) and ten times its peers' (same /24 or /64) usual
//! largest hour, and at least 20 MB.

use std::collections::BTreeMap;
use std::net::IpAddr;

use rustc_hash::FxHashMap;
use vakt_core::detector::Detector;
use vakt_core::{Alert, Entity, Origin, Severity, Timestamp};

use super::upload::ABOUT;
use super::{Direction, Facts, Finding, Flow, FlowKind, Network, merge_into};

/// An hour of nanoseconds.
const HOUR_NS: i64 = 3_600_000_000_000;
/// Hourly upload volumes below this are never unusual.
const UNUSUAL_UPLOAD_MIN: u64 = 20_000_000;
/// How many times a host's largest earlier hour, and its peers' usual
/// largest hour, an hour must exceed to be unusual.
const UNUSUAL_UPLOAD_FACTOR: u64 = 10;

/// One internal host's bytes out of the region, per hour since the epoch.
#[derive(Debug, Default, Clone, serde::Serialize, serde::Deserialize)]
struct HourlyOut {
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

/// Every internal host's hourly volume out of the region.
#[derive(Debug, Default)]
pub struct UploadHourDetector {
    hosts: FxHashMap<IpAddr, HourlyOut>,
}

impl UploadHourDetector {
    /// An empty detector, boxed for the registry.
    pub fn boxed() -> Box<dyn Detector<Network>> {
        Box::new(UploadHourDetector::default())
    }
}

impl Detector<Network> for UploadHourDetector {
    fn name(&self) -> &'static str {
        "exfiltration"
    }

    fn save(&self) -> Option<Result<Vec<u8>, String>> {
        Some(vakt_core::detector::save_state(&self.hosts))
    }

    fn load(&mut self, state: &[u8]) -> Result<(), String> {
        self.hosts = vakt_core::detector::load_state(state)?;
        Ok(())
    }

    fn observe(&mut self, f: &Flow<'_>, _: &mut Vec<Alert>) {
        let (FlowKind::Conn, true, Some(src), Some(_)) = (f.kind, f.unicast, f.src, f.dst)
        else {
            return;
        };
        if !matches!(f.dir, Direction::Outbound | Direction::Internal) {
            return;
        }
        // Every internal host is a peer, even one that sends nothing out.
        let out = self.hosts.entry(src).or_default();
        if f.dir == Direction::Outbound {
            out.add(f.time, f.bytes_out, f.origin());
        }
    }

    fn flush(&mut self, facts: &Facts, out: &mut Vec<Alert>) {
        let mut peers: FxHashMap<(bool, u128), Vec<u64>> = FxHashMap::default();
        for (ip, h) in &self.hosts {
            peers.entry(peer_group(*ip)).or_default().push(h.max());
        }
        for v in peers.values_mut() {
            v.sort_unstable();
        }
        for (ip, h) in &self.hosts {
            let Some(first) = h.hours.first().map(|e| e.0) else {
                continue;
            };
            // A proxy's or NAT gateway's hours are everyone's (site model).
            if facts.site.proxy(*ip) {
                continue;
            }
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
            let f = Finding {
                detector: "exfiltration",
                about: ABOUT,
                key: vec![ip.to_string(), format!("hour {hour}")],
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
                techniques: &["T1048", "T1041"],
                actors: vec![Entity::Ip(*ip)],
                targets: Vec::new(),
                count: 1,
                evidence: vec![
                    ("bytes_out_in_hour", bytes.to_string()),
                    ("largest_earlier_hour", before.to_string()),
                    ("peers_usual_largest_hour", peer_usual.to_string()),
                    ("peers", others.len().to_string()),
                    ("history_hours", (hour - first).to_string()),
                ],
                origins: h.big.get(&hour).map(|(_, o)| vec![o.clone()]).unwrap_or_default(),
            };
            out.push(f.alert(&facts.tenant));
        }
    }

    fn fork(&self) -> Option<Box<dyn Detector<Network>>> {
        Some(UploadHourDetector::boxed())
    }

    fn merge(&mut self, other: Box<dyn Detector<Network>>) {
        merge_into(self, other, |me, o| {
            for (k, v) in o.hosts {
                me.hosts.entry(k).or_default().merge(v);
            }
        });
    }

    fn expire(&mut self, cutoff: Timestamp) {
        let hour = cutoff.0.div_euclid(HOUR_NS);
        self.hosts.retain(|_, h| {
            h.hours.retain(|e| e.0 >= hour);
            h.big.retain(|k, _| *k >= hour);
            !h.hours.is_empty()
        });
    }

    fn footprint(&self) -> Option<String> {
        Some(format!("internal hosts {}", self.hosts.len()))
    }
}
