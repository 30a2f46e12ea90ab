//! `rare-destination` (T1071, low): an outside address or server name that
//! only one or two hosts of a region of 20 or more use, first seen after the
//! first fifth of the data, with 20 or more connections over an hour or
//! more. Destinations already reported as beacons of medium or high
//! severity are left to that finding. Read off the family's pairs.

use std::collections::BTreeMap;
use std::net::IpAddr;

use rustc_hash::FxHashSet;
use vakt_core::detector::Detector;
use vakt_core::{Alert, Entity, Origin, Severity, Timestamp};

use super::{Facts, Finding, Flow, Network};

/// What the detector looks for, in a line (the rule of its alerts).
const ABOUT: &str = "an outside destination only one or two hosts of the region use";

/// Internal hosts a region needs before a destination can be called rare.
const RARE_POPULATION: usize = 20;
/// At most this many internal hosts use a rare destination.
const RARE_USERS: usize = 2;
/// Connections, over at least an hour, that make a rare destination worth
/// a look (a single visit to an odd website is not).
const RARE_MIN_CONNECTIONS: u64 = 20;

/// Rare destinations among the family's pairs.
#[derive(Debug, Default)]
pub struct RareDestinationDetector;

impl RareDestinationDetector {
    /// The detector, boxed for the registry.
    pub fn boxed() -> Box<dyn Detector<Network>> {
        Box::new(RareDestinationDetector)
    }
}

/// Who uses a destination: users, connections, first and last (seconds),
/// and where the first connections were recorded.
struct Use<'a> {
    users: FxHashSet<IpAddr>,
    connections: u64,
    first: u32,
    last: u32,
    origins: &'a [Origin],
}

impl Detector<Network> for RareDestinationDetector {
    fn name(&self) -> &'static str {
        "rare-destination"
    }

    fn observe(&mut self, _: &Flow<'_>, _: &mut Vec<Alert>) {}

    fn flush(&mut self, facts: &Facts, out: &mut Vec<Alert>) {
        let population = facts.population();
        let Some(baseline_end) = facts.baseline_end() else {
            return;
        };
        if population < RARE_POPULATION {
            return;
        }
        let baseline_end = baseline_end.div_euclid(1_000_000_000);
        let beaconed: FxHashSet<&Entity> = out
            .iter()
            .filter(|a| a.detector == "beacon" && a.severity >= Severity::Medium)
            .filter_map(|a| a.targets.first())
            .collect();
        let mut rare: BTreeMap<Entity, Use> = BTreeMap::new();
        let ip_pairs = facts
            .pairs()
            .pairs()
            .filter(|((s, d), _)| facts.internal(*s) && !facts.internal(*d))
            .map(|((s, d), p)| (*s, Entity::Ip(*d), p));
        let name_pairs = facts
            .named()
            .iter()
            .filter(|((s, _), _)| facts.internal(*s))
            .map(|((s, n), p)| (*s, Entity::Domain(n.to_string()), p));
        for (src, key, p) in ip_pairs.chain(name_pairs) {
            // A proxy's or NAT gateway's destinations are many hosts' (site model).
            if facts.site.proxy(src) {
                continue;
            }
            let (Some(lo), Some(hi)) = (p.ts.iter().min(), p.ts.iter().max()) else {
                continue;
            };
            let r = rare.entry(key).or_insert_with(|| Use {
                users: FxHashSet::default(),
                connections: 0,
                first: u32::MAX,
                last: 0,
                origins: &p.origins,
            });
            r.users.insert(src);
            r.connections += p.count;
            r.first = r.first.min(*lo);
            r.last = r.last.max(*hi);
        }
        let mut found = Vec::new();
        for (dst, u) in rare {
            if u.users.len() > RARE_USERS
                || u.connections < RARE_MIN_CONNECTIONS
                || i64::from(u.first) < baseline_end
                || u.last - u.first < 3600
                || beaconed.contains(&dst)
            {
                continue;
            }
            let mut who: Vec<IpAddr> = u.users.into_iter().collect();
            who.sort();
            let label = dst.value();
            found.push(Finding {
                detector: "rare-destination",
                about: ABOUT,
                key: vec![label.clone()],
                title: format!(
                    "{label}: new, and used only by {}",
                    who.iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join(" and ")
                ),
                first: Timestamp::from_parts(i64::from(u.first), 0),
                last: Timestamp::from_parts(i64::from(u.last), 0),
                score: 0.3,
                severity: Severity::Low,
                techniques: &["T1071"],
                actors: who.iter().map(|h| Entity::Ip(*h)).collect(),
                targets: vec![dst],
                count: u.connections,
                evidence: vec![
                    ("connections", u.connections.to_string()),
                    ("hosts", who.len().to_string()),
                    ("region_hosts", population.to_string()),
                ],
                origins: u.origins.to_vec(),
            });
        }
        out.extend(found.into_iter().map(|f| f.alert(&facts.tenant)));
    }

    fn fork(&self) -> Option<Box<dyn Detector<Network>>> {
        Some(RareDestinationDetector::boxed())
    }
}
