//! `beacon` (T1071): RITA v5's beacon score per source→destination pair and
//! per source→server name (TLS SNI, HTTP Host: rotating addresses behind one
//! name are one beacon), with destinations five or more internal hosts use
//! set aside, a hidden beacon's periodic part scored on its own, a period
//! fit required (between the site's hosts 0.6, any other direction 0.45),
//! and pairs whose connections each last most of the interval (a session
//! renewed) left to the long-connection detector. Pairs too busy to score
//! (86,400 connections or more) are left to `strobe`. The connections are
//! the family's [`Facts`]: this detector scores them.
//!
//! Directions (site model): outbound, internal and transit pairs are
//! judged; inbound pairs are the site's services' clients or probing
//! (`inbound-scan`, `http-anomaly`), never C2. A pair whose
//! unanswered attempts tried many ports is a port scan of that host, and
//! the site's own scanners are not judged.

use rustc_hash::FxHashMap;
use vakt_core::detector::Detector;
use vakt_core::{Alert, Entity, Timestamp};

use super::{Direction, Facts, Finding, Flow, Network, severity_of};
use crate::beacon::BeaconConfig;

/// What the detector looks for, in a line (the rule of its alerts).
const ABOUT: &str = "connections at a regular interval and size (RITA's beacon score)";

/// Inside the site a beacon must keep time: internal pairs whose intervals
/// do not fit a period (see [`crate::beacon::period_fit`]; random arrivals
/// fit about 0.3) are not reported, however high their RITA score — that can
/// come from the histogram, duration and size parts alone, as with an
/// administrator's sessions all day. (RITA does not score internal pairs at
/// all.)
const MIN_PERIOD_FIT: f64 = 0.6;

/// A beacon in any other direction (outbound, inbound to a public service,
/// transit) must fit a period at least this well: busy all-day traffic at
/// random times scores medium under RITA (flat histogram, full duration,
/// symmetric sizes; period fit about 0.3) without being periodic at all.
const MIN_OUTBOUND_FIT: f64 = 0.45;

/// A pair that was never answered, on this many ports or more, is not a
/// service being polled.
const UNANSWERED_PORTS: usize = 3;

/// A beacon checks in and lets go: a pair whose median connection lasts at
/// least this share of the interval between connections is a session
/// renewed, not beaconing (RITA scores it as one, from its regular starts).
const MAX_BUSY_SHARE: f64 = 0.5;

/// Beacons to addresses and to server names, scored from the family's pairs.
#[derive(Debug, Default)]
pub struct BeaconDetector;

impl BeaconDetector {
    /// The detector, boxed for the registry.
    pub fn boxed() -> Box<dyn Detector<Network>> {
        Box::new(BeaconDetector)
    }
}

/// The evidence a hidden beacon adds: how it was found and what the whole pair scored.
fn hidden_evidence(h: &crate::hidden::Hidden, plain: f64) -> [(&'static str, String); 4] {
    [
        ("hidden_beats", h.beats.to_string()),
        ("hidden_among", h.others.to_string()),
        ("hidden_z", format!("{:.1}", h.z)),
        ("whole_pair_score", plain.to_string()),
    ]
}

impl Detector<Network> for BeaconDetector {
    fn name(&self) -> &'static str {
        "beacon"
    }

    fn observe(&mut self, _: &Flow<'_>, _: &mut Vec<Alert>) {}

    fn flush(&mut self, facts: &Facts, out: &mut Vec<Alert>) {
        let mut found = Vec::new();
        address_beacons(facts, &mut found);
        name_beacons(facts, &mut found);
        out.extend(found.into_iter().map(|f| f.alert(&facts.tenant)));
    }

    fn fork(&self) -> Option<Box<dyn Detector<Network>>> {
        Some(BeaconDetector::boxed())
    }
}

fn address_beacons(facts: &Facts, out: &mut Vec<Finding>) {
        let common = facts.common_threshold();
        let cfg = BeaconConfig::default();
        let tracker = facts.pairs();
        // A stream scores over its window (see `BeaconTracker::set_scoring_range`).
        let Some(range) = facts
            .scoring_override()
            .map(|(a, b)| (a.div_euclid(1_000_000_000), b.div_euclid(1_000_000_000)))
            .filter(|(a, b)| a < b)
            .or_else(|| tracker.range())
        else {
            return;
        };
        for f in tracker.findings_in(&cfg, range) {
            if facts.prevalence(f.dst) >= common {
                continue;
            }
            let dir = facts.site.direction(f.src, f.dst);
            // From outside: clients of the site's services, or probing —
            // `inbound-scan`'s, never C2.
            // Nothing ever answered, on changing ports: discovery chatter
            // (a media device answering a PC's search) or probing, not a
            // service being polled.
            let chatter = facts.probes(f.src, f.dst).is_some_and(|p| {
                p.port_scan()
                    || (p.ports.len() >= UNANSWERED_PORTS
                        && u64::from(p.attempts) >= f.connections as u64)
            });
            if dir == Direction::Inbound || facts.site.scanner(f.src) || chatter {
                continue;
            }
            // A beacon hidden in the pair's other traffic scores by its periodic part.
            let hidden = match tracker.pair(f.src, f.dst) {
                Some(p) if f.score.score < 0.9 => {
                    let (min, max) = range;
                    crate::hidden::hidden_beacon(&cfg, &p.ts, &p.bytes, min, max)
                        .filter(|h| h.score.score > f.score.score)
                }
                _ => None,
            };
            let (sc, period, fit) = match &hidden {
                Some(h) => (h.score, h.period, h.coverage),
                None => (f.score, f.period, f.fit),
            };
            // Connections that each last most of the interval are one
            // session renewed (an EHR client reconnecting every hour), not
            // an implant checking in: the long-connection detector judges them.
            let busy = if sc.score < 0.5 {
                None
            } else {
                tracker.pair(f.src, f.dst).and_then(|p| p.busy_share(period))
            };
            let min_fit = if dir == Direction::Internal {
                MIN_PERIOD_FIT
            } else {
                MIN_OUTBOUND_FIT
            };
            if sc.score < 0.5 || busy.is_some_and(|b| b >= MAX_BUSY_SHARE) || fit < min_fit {
                continue;
            }
            let mut evidence = vec![
                ("connections", f.connections.to_string()),
                ("period_s", format!("{period:.0}")),
                ("period_fit", format!("{fit:.2}")),
                ("ts_score", sc.ts.to_string()),
                ("ds_score", sc.ds.to_string()),
                ("hist_score", sc.hist.to_string()),
                ("dur_score", sc.dur.to_string()),
                ("prevalence", facts.prevalence(f.dst).to_string()),
                ("direction", dir.name().to_owned()),
            ];
            if let Some(b) = busy {
                evidence.push(("busy_share", format!("{b:.2}")));
            }
            if let Some(n) = facts.server_name(f.dst) {
                evidence.push(("server_name", n.to_owned()));
            }
            if let Some(h) = &hidden {
                evidence.extend(hidden_evidence(h, f.score.score));
            }
            out.push(Finding {
                detector: "beacon",
                about: ABOUT,
                key: vec![f.src.to_string(), f.dst.to_string()],
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
                severity: severity_of(sc.score),
                techniques: &["T1071"],
                actors: vec![Entity::Ip(f.src)],
                targets: vec![Entity::Ip(f.dst)],
                count: f.connections as u64,
                evidence,
                origins: f.origins.clone(),
            });
        }
    }

/// Beacons to a server name (TLS SNI, HTTP Host), across its addresses.
fn name_beacons(facts: &Facts, out: &mut Vec<Finding>) {
        let Some((min, max)) = facts.scoring_range() else {
            return;
        };
        let common = facts.common_threshold();
        let (min, max) = (min.div_euclid(1_000_000_000), max.div_euclid(1_000_000_000));
        let mut users: FxHashMap<&str, usize> = FxHashMap::default();
        for (src, name) in facts.named().keys() {
            if facts.internal(*src) {
                *users.entry(name).or_default() += 1;
            }
        }
        let cfg = BeaconConfig::default();
        for ((src, name), p) in facts.named() {
            // Sessions to a server name are judged from the site's hosts
            // (outbound); an outside client of the site's own services is
            // judged by its address pair.
            if !facts.internal(*src) || facts.site.scanner(*src) {
                continue;
            }
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
            if sc.score < 0.5 || fit < MIN_OUTBOUND_FIT {
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
            out.push(Finding {
                detector: "beacon",
                about: ABOUT,
                key: vec![src.to_string(), name.to_string()],
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
                techniques: &["T1071"],
                actors: vec![Entity::Ip(*src)],
                targets: vec![Entity::Domain(name.to_string())],
                count: p.count,
                evidence,
                origins: p.origins.clone(),
            });
        }
    }
