//! `long-connection` (T1071): a connection across the site's edge held for
//! an hour or more (closed, or still open: Zeek `open_conn`, counted once by
//! uid), reported with the pair's summed duration. Many short connections
//! that add up to hours are not one (a beacon's, judged by `beacon`).
//! Judges outbound, inbound and transit pairs, never internal ones.
//!
//! Judged against the host's own baseline and its peers: a destination
//! five or more of the site's hosts use is a shared service; a host that
//! holds hour-long sessions with three or more outside services that have
//! names (a TLS server name, an HTTP Host, a DNS answer) — chat, cloud
//! sync, push services — has such sessions as its normal, so its long
//! sessions to named services are not findings. A long session to an
//! address nobody looked up is always judged.

use std::net::IpAddr;

use rustc_hash::{FxHashMap, FxHashSet};
use vakt_core::detector::Detector;
use vakt_core::{Alert, Entity, Origin, Severity, Timestamp};

use super::{Direction, Facts, Finding, Flow, FlowKind, Network, merge_into};

/// What the detector looks for, in a line (the rule of its alerts).
const ABOUT: &str = "connections across the region's edge held for an hour or more";

/// Connections shorter than this are summed but not tracked one by one.
const LONG_TRACKED: f64 = 600.0;

/// A connection held this long (s) is a long connection.
const LONG: f64 = 3600.0;

/// A host with hour-long sessions to this many named outside services has
/// them as its normal.
const HOST_NORMAL: usize = 3;

#[derive(Debug, Default, Clone, serde::Serialize, serde::Deserialize)]
struct Edge {
    /// Summed duration of closed connections.
    seconds: f64,
    /// The longest closed connection.
    longest: f64,
    count: u64,
    /// The pair's long connections, if it has any (few pairs do: kept apart
    /// so that the many pairs of a large network stay small).
    long: Option<Box<Long>>,
    first: i64,
    last: i64,
    /// The pair's first record.
    origin: Option<Origin>,
}

/// A pair's connections over [`LONG_TRACKED`] seconds.
#[derive(Debug, Default, Clone, serde::Serialize, serde::Deserialize)]
struct Long {
    /// Connections still open when last logged (Zeek `open_conn`), by uid:
    /// the longest duration seen.
    open: FxHashMap<Box<str>, f64>,
    /// Uids of closed ones, so an open record of a connection that later
    /// closed is not counted twice.
    closed: FxHashSet<Box<str>>,
    /// Where the first of them were recorded.
    origins: Vec<Origin>,
}

impl Long {
    fn see(&mut self, origin: &Origin) {
        if self.origins.len() < 2 {
            self.origins.push(origin.clone());
        }
    }
}

impl Edge {
    fn starting(t: i64) -> Edge {
        Edge {
            first: t,
            last: t,
            ..Edge::default()
        }
    }

    fn see(&mut self, t: i64, origin: &Origin) {
        self.first = self.first.min(t);
        self.last = self.last.max(t);
        if self.origin.is_none() {
            self.origin = Some(origin.clone());
        }
    }

    fn long(&mut self) -> &mut Long {
        self.long.get_or_insert_with(Box::default)
    }

    /// The evidence: the first record, then the first long connections.
    fn origins(&self) -> Vec<Origin> {
        let mut out: Vec<Origin> = self.origin.iter().cloned().collect();
        for o in self.long.iter().flat_map(|l| &l.origins) {
            if !out.contains(o) {
                out.push(o.clone());
            }
        }
        out
    }
}

/// Long connections to and from the outside.
#[derive(Debug, Default)]
pub struct LongConnectionDetector {
    pairs: FxHashMap<(IpAddr, IpAddr), Edge>,
}

impl LongConnectionDetector {
    /// An empty detector, boxed for the registry.
    pub fn boxed() -> Box<dyn Detector<Network>> {
        Box::new(LongConnectionDetector::default())
    }
}

impl Detector<Network> for LongConnectionDetector {
    fn name(&self) -> &'static str {
        "long-connection"
    }

    fn save(&self) -> Option<Result<Vec<u8>, String>> {
        Some(vakt_core::detector::save_state(&self.pairs))
    }

    fn load(&mut self, state: &[u8]) -> Result<(), String> {
        self.pairs = vakt_core::detector::load_state(state)?;
        Ok(())
    }

    fn observe(&mut self, f: &Flow<'_>, _: &mut Vec<Alert>) {
        let (Some(src), Some(dst)) = (f.src, f.dst) else {
            return;
        };
        if f.dir == Direction::Internal {
            return;
        }
        let t = f.time;
        match f.kind {
            // A connection still open at log rotation: what it has lasted so far.
            FlowKind::Open if f.duration >= LONG_TRACKED => {
                let l = self
                    .pairs
                    .entry((src, dst))
                    .or_insert_with(|| Edge::starting(t));
                let key: Box<str> = f.uid().map_or_else(|| format!("{t}").into(), Into::into);
                l.see(t, f.origin());
                let long = l.long();
                let d = long.open.entry(key).or_insert(0.0);
                *d = d.max(f.duration);
                long.see(f.origin());
            }
            FlowKind::Conn if f.unicast => {
                let l = self
                    .pairs
                    .entry((src, dst))
                    .or_insert_with(|| Edge::starting(t));
                l.seconds += f.duration;
                l.longest = l.longest.max(f.duration);
                l.count += 1;
                l.see(t, f.origin());
                if f.duration >= LONG_TRACKED {
                    let long = l.long();
                    if let Some(u) = f.uid() {
                        long.closed.insert(u.into());
                    }
                    long.see(f.origin());
                }
            }
            _ => {}
        }
    }

    fn flush(&mut self, facts: &Facts, out: &mut Vec<Alert>) {
        let open_of = |l: &Edge| -> Vec<f64> {
            l.long
                .iter()
                .flat_map(|long| {
                    long.open
                        .iter()
                        .filter(|(u, _)| !long.closed.contains(*u))
                        .map(|(_, d)| *d)
                })
                .collect()
        };
        let longest = |l: &Edge| open_of(l).into_iter().fold(l.longest, f64::max);
        // Each site host's hour-long sessions with named outside services.
        let mut named_long: FxHashMap<IpAddr, usize> = FxHashMap::default();
        for ((src, dst), l) in &self.pairs {
            if longest(l) < LONG {
                continue;
            }
            let (host, other) = if facts.internal(*src) { (*src, *dst) } else { (*dst, *src) };
            if facts.named_address(other) {
                *named_long.entry(host).or_default() += 1;
            }
        }
        for ((src, dst), l) in &self.pairs {
            let still_open = open_of(l);
            let single = longest(l);
            let hours = (l.seconds + still_open.iter().sum::<f64>()) / 3600.0;
            if single < LONG || facts.prevalence(*dst) >= facts.common_threshold() {
                continue;
            }
            let (host, other) = if facts.internal(*src) { (*src, *dst) } else { (*dst, *src) };
            let named = facts.named_address(other);
            let normal = named_long.get(&host).copied().unwrap_or(0);
            if named && normal >= HOST_NORMAL {
                continue;
            }
            let severity = match hours {
                h if h >= 12.0 => Severity::High,
                h if h >= 4.0 => Severity::Medium,
                _ => Severity::Low,
            };
            let f = Finding {
                detector: "long-connection",
                about: ABOUT,
                key: vec![src.to_string(), dst.to_string()],
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
                techniques: &["T1071"],
                actors: vec![Entity::Ip(*src)],
                targets: vec![Entity::Ip(*dst)],
                count: l.count + still_open.len() as u64,
                evidence: vec![
                    ("seconds", format!("{:.0}", hours * 3600.0)),
                    ("longest_s", format!("{single:.0}")),
                    ("connections", l.count.to_string()),
                    ("still_open", still_open.len().to_string()),
                    ("named", named.to_string()),
                    ("host_long_named_sessions", normal.to_string()),
                    ("direction", facts.site.direction(*src, *dst).name().to_owned()),
                ]
                .into_iter()
                .chain(facts.server_name(other).map(|n| ("server_name", n.to_owned())))
                .collect(),
                origins: l.origins(),
            };
            out.push(f.alert(&facts.tenant));
        }
    }

    fn fork(&self) -> Option<Box<dyn Detector<Network>>> {
        Some(LongConnectionDetector::boxed())
    }

    fn merge(&mut self, other: Box<dyn Detector<Network>>) {
        merge_into(self, other, |me, o| {
            for (k, v) in o.pairs {
                let l = me.pairs.entry(k).or_insert_with(|| Edge::starting(v.first));
                l.seconds += v.seconds;
                l.longest = l.longest.max(v.longest);
                l.count += v.count;
                if let Some(vl) = v.long {
                    let long = l.long();
                    for (u, d) in vl.open {
                        let e = long.open.entry(u).or_insert(0.0);
                        *e = e.max(d);
                    }
                    long.closed.extend(vl.closed);
                    for o in vl.origins {
                        long.see(&o);
                    }
                }
                l.first = l.first.min(v.first);
                l.last = l.last.max(v.last);
                if l.origin.is_none() {
                    l.origin = v.origin;
                }
            }
        });
    }

    fn expire(&mut self, cutoff: Timestamp) {
        self.pairs.retain(|_, l| l.last >= cutoff.0);
    }

    fn footprint(&self) -> Option<String> {
        Some(format!("pairs across the region's edge {}", self.pairs.len()))
    }
}
