//! `exfiltration` (T1048, T1041): an internal host sending an outside
//! destination that no other host uses far more than it, and its peers,
//! send anywhere: at least 10 MB, and ten times the host's usual upload to
//! one destination (the 90th percentile of its others) and its peers' (the
//! median of the largest upload of each host in its /24). A host that
//! syncs hundreds of megabytes to its cloud every day is not exfiltrating
//! when it sends one more; a ward PC that sends a RAT's server 30 MB is.
//! Judges outbound pairs, not from a proxy or NAT gateway (site model).

use std::net::IpAddr;

use rustc_hash::FxHashMap;
use vakt_core::detector::Detector;
use vakt_core::{Alert, Entity, Origin, Severity, Timestamp};

use super::{Direction, Facts, Finding, Flow, FlowKind, Network, merge_into};

/// What the detector looks for, in a line (the rule of its alerts; shared
/// with [`super::upload_hour`], which raises the same finding).
pub(super) const ABOUT: &str = "large uploads to a destination no other host uses, or an unusual hour";

/// Bytes out to one destination below which an upload is never reported.
const UPLOAD_MIN: u64 = 10_000_000;

/// How many times the host's and its peers' usual upload an upload must be.
const OVER_USUAL: u64 = 10;

/// The usual upload is taken as at least this much (bytes): small
/// baselines (a host that sends only requests) do not make every
/// download's acknowledgements unusual.
const USUAL_FLOOR: u64 = 1_000_000;

fn peer_group(ip: IpAddr) -> (bool, u128) {
    match ip {
        IpAddr::V4(v) => (false, u128::from(u32::from(v) >> 8)),
        IpAddr::V6(v) => (true, u128::from(v) >> 64),
    }
}

/// The value at the `q` quantile (0..=1) of sorted `v`, the lower of two
/// (0 when empty): one heavy peer of two does not make heavy uploads usual.
fn quantile(v: &[u64], q: f64) -> u64 {
    if v.is_empty() {
        return 0;
    }
    v[((v.len() - 1) as f64 * q).floor() as usize]
}

#[derive(Debug, Default, Clone, serde::Serialize, serde::Deserialize)]
struct Upload {
    bytes_out: u64,
    first: i64,
    last: i64,
    /// The pair's first record (kept inline: most pairs never upload much,
    /// and a vector per pair of a large network costs more than its counts).
    origin: Option<Origin>,
    /// The first records carrying over a megabyte out.
    big: Vec<Origin>,
}

/// What each internal host sends to each outside destination.
#[derive(Debug, Default)]
pub struct UploadDetector {
    pairs: FxHashMap<(IpAddr, IpAddr), Upload>,
}

impl UploadDetector {
    /// An empty detector, boxed for the registry.
    pub fn boxed() -> Box<dyn Detector<Network>> {
        Box::new(UploadDetector::default())
    }
}

impl Detector<Network> for UploadDetector {
    fn name(&self) -> &'static str {
        "exfiltration"
    }

    fn save(&self) -> Option<Result<Vec<u8>, String>> {
        Some(vakt_core::detector::save_state(&self.pairs))
    }

    fn load(&mut self, state: &[u8]) -> Result<(), String> {
        self.pairs = vakt_core::detector::load_state(state)?;
        Ok(())
    }

    fn observe(&mut self, f: &Flow<'_>, _: &mut Vec<Alert>) {
        let (FlowKind::Conn, true, Some(src), Some(dst)) = (f.kind, f.unicast, f.src, f.dst)
        else {
            return;
        };
        if f.dir != Direction::Outbound {
            return;
        }
        let t = f.time;
        let u = self.pairs.entry((src, dst)).or_insert_with(|| Upload {
            first: t,
            last: t,
            ..Upload::default()
        });
        u.bytes_out += f.bytes_out;
        u.first = u.first.min(t);
        u.last = u.last.max(t);
        if u.origin.is_none() {
            u.origin = Some(f.origin().clone());
        }
        if f.bytes_out > 1_000_000 && u.big.len() < 3 {
            u.big.push(f.origin().clone());
        }
    }

    fn flush(&mut self, facts: &Facts, out: &mut Vec<Alert>) {
        // Each host's uploads per destination, sorted; each peer group's
        // largest uploads per host.
        let mut by_host: FxHashMap<IpAddr, Vec<u64>> = FxHashMap::default();
        for ((src, _), u) in &self.pairs {
            by_host.entry(*src).or_default().push(u.bytes_out);
        }
        let mut peers: FxHashMap<(bool, u128), Vec<u64>> = FxHashMap::default();
        for (h, v) in &mut by_host {
            v.sort_unstable();
            // A proxy is nobody's peer: its uploads are many hosts'.
            if facts.site.proxy(*h) {
                continue;
            }
            peers
                .entry(peer_group(*h))
                .or_default()
                .push(v.last().copied().unwrap_or(0));
        }
        for v in peers.values_mut() {
            v.sort_unstable();
        }
        for ((src, dst), u) in &self.pairs {
            if u.bytes_out < UPLOAD_MIN || facts.prevalence(*dst) > 1 || facts.site.proxy(*src) {
                continue;
            }
            // The host's usual upload to one destination: its others' 90th
            // percentile (this one taken out once).
            let mine = &by_host[src];
            let mut others = mine.clone();
            if let Some(i) = others.iter().position(|b| *b == u.bytes_out) {
                others.remove(i);
            }
            let usual_host = quantile(&others, 0.9);
            // The peers' usual: the median of their hosts' largest uploads,
            // without this host (a group of one has no peers).
            let Some(group) = peers.get(&peer_group(*src)) else {
                continue;
            };
            let mut theirs = group.clone();
            if let Some(i) = theirs.iter().position(|b| Some(b) == mine.last()) {
                theirs.remove(i);
            }
            let usual_peers = quantile(&theirs, 0.5);
            let usual = usual_host.max(usual_peers).max(USUAL_FLOOR);
            if u.bytes_out < usual.saturating_mul(OVER_USUAL) {
                continue;
            }
            let mb = u.bytes_out as f64 / 1e6;
            let f = Finding {
                detector: "exfiltration",
                about: ABOUT,
                key: vec![src.to_string(), dst.to_string()],
                title: format!("{src} uploaded {mb:.0} MB to {dst}, which no other host uses"),
                first: Timestamp(u.first),
                last: Timestamp(u.last),
                score: (mb / 500.0).clamp(0.5, 1.0),
                severity: if mb >= 500.0 {
                    Severity::High
                } else {
                    Severity::Medium
                },
                techniques: &["T1048", "T1041"],
                actors: vec![Entity::Ip(*src)],
                targets: vec![Entity::Ip(*dst)],
                count: 1,
                evidence: vec![
                    ("bytes_out", u.bytes_out.to_string()),
                    ("host_usual_bytes", usual_host.to_string()),
                    ("peers_usual_bytes", usual_peers.to_string()),
                    ("peer_hosts", theirs.len().to_string()),
                ]
                .into_iter()
                .chain(facts.server_name(*dst).map(|n| ("server_name", n.to_owned())))
                .collect(),
                origins: if u.big.is_empty() {
                    u.origin.iter().cloned().collect()
                } else {
                    u.big.clone()
                },
            };
            out.push(f.alert(&facts.tenant));
        }
    }

    fn fork(&self) -> Option<Box<dyn Detector<Network>>> {
        Some(UploadDetector::boxed())
    }

    fn merge(&mut self, other: Box<dyn Detector<Network>>) {
        merge_into(self, other, |me, o| {
            for (k, v) in o.pairs {
                let u = me.pairs.entry(k).or_insert_with(|| Upload {
                    first: v.first,
                    last: v.last,
                    ..Upload::default()
                });
                u.bytes_out += v.bytes_out;
                u.first = u.first.min(v.first);
                u.last = u.last.max(v.last);
                if u.origin.is_none() {
                    u.origin = v.origin;
                }
                u.big
                    .extend(v.big.into_iter().take(3usize.saturating_sub(u.big.len())));
            }
        });
    }

    fn expire(&mut self, cutoff: Timestamp) {
        self.pairs.retain(|_, u| u.last >= cutoff.0);
    }

    fn footprint(&self) -> Option<String> {
        Some(format!("upload pairs {}", self.pairs.len()))
    }
}
