//! Connections per source→destination pair, kept as RITA keeps them (at
//! most 86,400 times and sizes per pair), scored as beacons, or reported as
//! strobes when there are too many to score.

use rustc_hash::FxHashMap;
use vakt_core::field::{BYTES_OUT, DST_IP, DURATION, SRC_IP};
use vakt_core::{Event, FieldId, Value};

use crate::beacon::{BeaconConfig, BeaconScore, period_fit, score};

/// Drops a pair's connections before `cutoff` (seconds); its count follows.
pub fn expire_pair(p: &mut PairState, cutoff: u32) {
    if p.ts.iter().all(|t| *t >= cutoff) {
        return;
    }
    let before = p.ts.len();
    let mut i = 0;
    p.bytes.retain(|_| {
        let keep = p.ts[i] >= cutoff;
        i += 1;
        keep
    });
    if p.dur.len() == before {
        let mut i = 0;
        p.dur.retain(|_| {
            let keep = p.ts[i] >= cutoff;
            i += 1;
            keep
        });
    } else {
        p.dur.clear();
    }
    p.ts.retain(|t| *t >= cutoff);
    p.count = p.count.saturating_sub((before - p.ts.len()) as u64);
}

/// A pair's connection times and sizes, kept as RITA keeps them (at most 86,400 of each).
#[derive(Debug, Default, Clone, serde::Serialize, serde::Deserialize)]
pub struct PairState {
    /// Connection times, seconds.
    pub ts: Vec<u32>,
    /// Bytes sent by the source per connection.
    pub bytes: Vec<f64>,
    /// How long each connection lasted, seconds (empty where the records
    /// do not say: TLS and HTTP sessions by server name).
    pub dur: Vec<u32>,
    /// Where the first connections were recorded.
    pub origins: Vec<vakt_core::Origin>,
    /// All connections seen, kept or not.
    pub count: u64,
}

impl PairState {
    /// One connection: counted always, kept while under [`MAX_PER_PAIR`];
    /// the first three origins are kept as evidence.
    pub fn record(&mut self, t: u32, bytes: f64, origin: &vakt_core::Origin) {
        self.count += 1;
        if self.ts.len() < MAX_PER_PAIR {
            self.ts.push(t);
            self.bytes.push(bytes);
        }
        if self.origins.len() < 3 {
            self.origins.push(origin.clone());
        }
    }

    /// [`PairState::record`] with the connection's duration (seconds).
    pub fn record_timed(&mut self, t: u32, bytes: f64, dur: u32, origin: &vakt_core::Origin) {
        self.count += 1;
        if self.ts.len() < MAX_PER_PAIR {
            // Durations are kept one for one with the times, or not at all.
            if self.dur.len() == self.ts.len() {
                self.dur.push(dur);
            }
            self.ts.push(t);
            self.bytes.push(bytes);
        }
        if self.origins.len() < 3 {
            self.origins.push(origin.clone());
        }
    }

    /// The median connection's duration as a share of `period` (seconds):
    /// near 1 when each connection lasts until the next begins (a session
    /// renewed, not a check-in); `None` when durations are not known.
    pub fn busy_share(&self, period: f64) -> Option<f64> {
        if self.dur.is_empty() || self.dur.len() != self.ts.len() || period <= 0.0 {
            return None;
        }
        let mut d = self.dur.clone();
        let mid = d.len() / 2;
        let (_, m, _) = d.select_nth_unstable(mid);
        Some(f64::from(*m) / period)
    }

    /// Adds another state of the same pair (another file or worker).
    pub fn absorb(&mut self, other: PairState) {
        self.count += other.count;
        let room = MAX_PER_PAIR.saturating_sub(self.ts.len());
        if self.dur.len() == self.ts.len() && other.dur.len() == other.ts.len() {
            self.dur.extend(other.dur.iter().take(room));
        } else {
            self.dur.clear();
        }
        self.ts.extend(other.ts.iter().take(room));
        self.bytes.extend(other.bytes.iter().take(room));
        let room = 3usize.saturating_sub(self.origins.len());
        self.origins.extend(other.origins.into_iter().take(room));
    }
}

/// Connection times sorted, and the positive intervals between them sorted.
pub fn sorted_gaps(ts: &[u32]) -> (Vec<u32>, Vec<f64>) {
    let mut ts = ts.to_vec();
    ts.sort_unstable();
    let mut gaps: Vec<f64> = ts
        .windows(2)
        .map(|w| f64::from(w[1] - w[0]))
        .filter(|g| *g > 0.0)
        .collect();
    gaps.sort_by(f64::total_cmp);
    (ts, gaps)
}

/// The most connection records kept per pair (one per second of a day).
pub const MAX_PER_PAIR: usize = 86_400;

/// A pair with at least this many connections is a strobe, as in RITA
/// (`strobe.connection_limit`): far too many connections to be scored as a
/// beacon, reported as such instead.
pub const STROBE_CONNECTIONS: u64 = 86_400;

/// A pair that connects too often to be a beacon.
#[derive(Debug, Clone)]
pub struct Strobe {
    /// Source.
    pub src: std::net::IpAddr,
    /// Destination.
    pub dst: std::net::IpAddr,
    /// Connections seen.
    pub connections: u64,
    /// First and last kept connection, seconds since the epoch.
    pub span: (u32, u32),
    /// Where some of its connections were recorded.
    pub origins: Vec<vakt_core::Origin>,
}

/// Collects source→destination pairs from connection events (Zeek conn,
/// Suricata flow) and scores them.
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct BeaconTracker {
    pairs: FxHashMap<(std::net::IpAddr, std::net::IpAddr), PairState>,
    min: Option<i64>,
    max: Option<i64>,
    /// The range scores are computed over, when not the range seen.
    scoring: Option<(i64, i64)>,
    /// Configuration (an interned field), not state: never saved.
    #[serde(skip)]
    orig_ip_bytes: Option<FieldId>,
}

impl BeaconTracker {
    /// Takes state saved from another tracker, keeping this one's configuration.
    pub(crate) fn restore(&mut self, mut saved: BeaconTracker) {
        saved.orig_ip_bytes = self.orig_ip_bytes;
        *self = saved;
    }
}

/// A scored pair.
#[derive(Debug, Clone)]
pub struct BeaconFinding {
    /// Source.
    pub src: std::net::IpAddr,
    /// Destination.
    pub dst: std::net::IpAddr,
    /// Connections seen.
    pub connections: usize,
    /// The score.
    pub score: BeaconScore,
    /// The median interval between connections, seconds.
    pub period: f64,
    /// The share of intervals within a quarter period of one, two or three
    /// periods (see [`period_fit`]).
    pub fit: f64,
    /// First and last connection, seconds since the epoch.
    pub span: (u32, u32),
    /// Where some of its connections were recorded.
    pub origins: Vec<vakt_core::Origin>,
}

impl BeaconTracker {
    /// An empty tracker.
    pub fn new() -> Self {
        BeaconTracker {
            orig_ip_bytes: FieldId::intern("orig_ip_bytes").ok(),
            ..Default::default()
        }
    }

    /// Takes one event; events without both addresses are ignored.
    pub fn observe(&mut self, e: &Event) {
        let (Some(Value::Ip(src)), Some(Value::Ip(dst))) = (e.common(SRC_IP), e.common(DST_IP))
        else {
            return;
        };
        let secs = e.time.0.div_euclid(1_000_000_000);
        let Ok(t) = u32::try_from(secs) else { return };
        self.min = Some(self.min.map_or(secs, |m| m.min(secs)));
        self.max = Some(self.max.map_or(secs, |m| m.max(secs)));
        // RITA sums the source's IP bytes; conn.log's orig_ip_bytes, else the payload bytes.
        let bytes = self
            .orig_ip_bytes
            .and_then(|f| e.get(f))
            .or_else(|| e.common(BYTES_OUT))
            .and_then(|v| match v {
                Value::Int(i) => Some(*i as f64),
                Value::Float(f) => Some(*f),
                _ => None,
            })
            .unwrap_or(0.0);
        let dur = match e.common(DURATION) {
            Some(Value::Interval(ns)) => {
                u32::try_from(ns.div_euclid(1_000_000_000).max(0)).unwrap_or(u32::MAX)
            }
            Some(Value::Float(d)) if d.is_finite() && *d > 0.0 => d.min(f64::from(u32::MAX)) as u32,
            Some(Value::Int(d)) => u32::try_from((*d).max(0)).unwrap_or(u32::MAX),
            _ => 0,
        };
        self.pairs
            .entry((*src, *dst))
            .or_default()
            .record_timed(t, bytes, dur, &e.origin);
    }

    /// The state held: pairs, and connection records kept over all pairs
    /// (12 bytes each: a `u32` time and an `f64` size; at most
    /// [`MAX_PER_PAIR`] per pair).
    pub fn footprint(&self) -> (usize, usize) {
        (
            self.pairs.len(),
            self.pairs.values().map(|p| p.ts.len()).sum(),
        )
    }

    /// Adds another tracker's pairs (from another file or worker).
    pub fn merge(&mut self, other: BeaconTracker) {
        self.min = match (self.min, other.min) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self.max = match (self.max, other.max) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        for (k, v) in other.pairs {
            self.pairs.entry(k).or_default().absorb(v);
        }
    }

    /// Streaming: forgets connections before `cutoff` (seconds since the
    /// epoch) and the pairs left with none, so the state covers a window.
    pub fn expire(&mut self, cutoff: i64) {
        let cutoff32 = u32::try_from(cutoff.max(0)).unwrap_or(u32::MAX);
        self.pairs.retain(|_, p| {
            expire_pair(p, cutoff32);
            !p.ts.is_empty()
        });
        self.min = self.min.map(|m| m.max(cutoff));
        if self.pairs.is_empty() {
            self.min = None;
            self.max = None;
        }
    }

    /// The strobes: pairs with [`STROBE_CONNECTIONS`] or more connections,
    /// most connections first.
    pub fn strobes(&self) -> Vec<Strobe> {
        let mut out: Vec<Strobe> = self
            .pairs
            .iter()
            .filter(|(_, p)| p.count >= STROBE_CONNECTIONS)
            .map(|((src, dst), p)| Strobe {
                src: *src,
                dst: *dst,
                connections: p.count,
                span: (
                    p.ts.iter().copied().min().unwrap_or(0),
                    p.ts.iter().copied().max().unwrap_or(0),
                ),
                origins: p.origins.clone(),
            })
            .collect();
        out.sort_by(|a, b| {
            b.connections
                .cmp(&a.connections)
                .then(a.src.cmp(&b.src))
                .then(a.dst.cmp(&b.dst))
        });
        out
    }

    /// One pair's state.
    pub fn pair(&self, src: std::net::IpAddr, dst: std::net::IpAddr) -> Option<&PairState> {
        self.pairs.get(&(src, dst))
    }

    /// The time range scores are computed over, seconds: the one set with
    /// [`BeaconTracker::set_scoring_range`], else the range seen.
    pub fn range(&self) -> Option<(i64, i64)> {
        self.scoring.or(self.min.zip(self.max))
    }

    /// Scores over this range (seconds) instead of the range seen: a stream
    /// scores over its whole window, so a pair seen for minutes of a day's
    /// window does not earn the histogram and duration parts of a full day.
    pub fn set_scoring_range(&mut self, range: Option<(i64, i64)>) {
        self.scoring = range.filter(|(a, b)| a < b);
    }

    /// The pairs, for other detectors' use (prevalence).
    pub fn pairs(
        &self,
    ) -> impl Iterator<Item = (&(std::net::IpAddr, std::net::IpAddr), &PairState)> {
        self.pairs.iter()
    }

    /// Scores every pair with enough connections, highest first.
    pub fn findings(&self, cfg: &BeaconConfig) -> Vec<BeaconFinding> {
        match self.range() {
            Some(range) => self.findings_in(cfg, range),
            None => Vec::new(),
        }
    }

    /// The same, scored over `(min, max)` (seconds) whatever range was seen.
    pub fn findings_in(&self, cfg: &BeaconConfig, (min, max): (i64, i64)) -> Vec<BeaconFinding> {
        let mut out: Vec<BeaconFinding> = self
            .pairs
            .iter()
            .filter(|(_, p)| p.count < STROBE_CONNECTIONS)
            .filter_map(|((src, dst), p)| {
                score(cfg, &p.ts, &p.bytes, min, max).ok().map(|score| {
                    let (ts, gaps) = sorted_gaps(&p.ts);
                    let (period, fit) = period_fit(&gaps);
                    BeaconFinding {
                        src: *src,
                        dst: *dst,
                        connections: p.ts.len(),
                        score,
                        period,
                        fit,
                        span: (
                            ts.first().copied().unwrap_or(0),
                            ts.last().copied().unwrap_or(0),
                        ),
                        origins: p.origins.clone(),
                    }
                })
            })
            .collect();
        out.sort_by(|a, b| {
            b.score
                .score
                .total_cmp(&a.score.score)
                .then(a.src.cmp(&b.src))
                .then(a.dst.cmp(&b.dst))
        });
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strobes_are_not_scored_as_beacons() {
        use std::sync::Arc;
        use vakt_core::{Locator, Origin, Timestamp};
        let mut t = BeaconTracker::new();
        let mut e = Event {
            time: Timestamp(0),
            tenant: Arc::from("t"),
            source: vakt_core::SourceKind::new("zeek:conn"),
            fields: Vec::new(),
            common: Vec::new(),
            origin: Origin {
                path: Arc::from("conn.log"),
                locator: Locator::Line(1),
            },
        };
        let a: std::net::IpAddr = "10.0.0.1".parse().unwrap();
        let b: std::net::IpAddr = "192.0.2.1".parse().unwrap();
        let c: std::net::IpAddr = "192.0.2.2".parse().unwrap();
        e.set_common(SRC_IP, Value::Ip(a));
        for (dst, n) in [(b, STROBE_CONNECTIONS + 5), (c, 2000)] {
            e.set_common(DST_IP, Value::Ip(dst));
            for i in 0..n {
                // Two connections a second to b; every 43 s to c.
                let s = if dst == b {
                    i as i64 / 2
                } else {
                    i as i64 * 43
                };
                e.time = Timestamp((1_700_000_000 + s) * 1_000_000_000);
                t.observe(&e);
            }
        }
        let strobes = t.strobes();
        assert_eq!(strobes.len(), 1);
        assert_eq!(
            (strobes[0].dst, strobes[0].connections),
            (b, STROBE_CONNECTIONS + 5)
        );
        let f = t.findings(&BeaconConfig::default());
        assert!(f.iter().all(|x| x.dst != b));
        assert!(f.iter().any(|x| x.dst == c));
    }
}
