//! `inbound-scan` (T1595): a source on the Internet connecting to the
//! site's addresses where the site offers nothing (site model:
//! `public_services`) — port scans, password guessing on services that
//! should not be reachable, worm and botnet probes. Judges inbound
//! connections only. One low finding per source: an Internet-facing sensor
//! sees such probing all day, and it is never beaconing or C2 (the beacon
//! detector leaves these pairs alone). A probe that was answered says a
//! service listens that the site does not know it offers: the evidence
//! counts them. Without a site file nothing is known to be offered: then
//! only attempts nothing answered count (an answered one may be a client of
//! a service the site offers).

use std::net::IpAddr;

use rustc_hash::{FxHashMap, FxHashSet};
use vakt_core::detector::Detector;
use vakt_core::{Alert, Entity, Origin, Severity, Timestamp};

use super::{Direction, Facts, Finding, Flow, FlowKind, Network, merge_into};

/// What the detector looks for, in a line (the rule of its alerts).
const ABOUT: &str =
    "connections from the Internet to addresses and ports the site does not offer (probing)";

/// Unsolicited connections from one source that make a finding: fewer are
/// the Internet's background noise.
const MIN_PROBES: u64 = 5;

/// The most distinct targets kept per source.
const CAP: usize = 1024;

/// One outside source's unsolicited connections.
#[derive(Debug, Default, Clone, serde::Serialize, serde::Deserialize)]
struct Prober {
    probes: u64,
    answered: u64,
    hosts: FxHashSet<IpAddr>,
    ports: FxHashSet<u16>,
    first: i64,
    last: i64,
    origins: Vec<Origin>,
}

impl Prober {
    fn merge(&mut self, o: Prober) {
        if self.probes == 0 {
            self.first = o.first;
        }
        self.probes += o.probes;
        self.answered += o.answered;
        self.first = self.first.min(o.first);
        self.last = self.last.max(o.last);
        for h in o.hosts {
            if self.hosts.len() < CAP {
                self.hosts.insert(h);
            }
        }
        for p in o.ports {
            if self.ports.len() < CAP {
                self.ports.insert(p);
            }
        }
        self.origins.extend(
            o.origins
                .into_iter()
                .take(3usize.saturating_sub(self.origins.len())),
        );
    }
}

/// Every outside source's unsolicited connections.
#[derive(Debug, Default)]
pub struct InboundScanDetector {
    sources: FxHashMap<IpAddr, Prober>,
}

impl InboundScanDetector {
    /// An empty detector, boxed for the registry.
    pub fn boxed() -> Box<dyn Detector<Network>> {
        Box::new(InboundScanDetector::default())
    }
}

impl Detector<Network> for InboundScanDetector {
    fn name(&self) -> &'static str {
        "inbound-scan"
    }

    fn save(&self) -> Option<Result<Vec<u8>, String>> {
        Some(vakt_core::detector::save_state(&self.sources))
    }

    fn load(&mut self, state: &[u8]) -> Result<(), String> {
        self.sources = vakt_core::detector::load_state(state)?;
        Ok(())
    }

    fn observe(&mut self, f: &Flow<'_>, _: &mut Vec<Alert>) {
        let (FlowKind::Conn, true, Direction::Inbound, false, Some(src), Some(dst)) =
            (f.kind, f.unicast, f.dir, f.public, f.src, f.dst)
        else {
            return;
        };
        if f.service_reply() || (!f.site_known && !f.unanswered) {
            return;
        }
        let p = self.sources.entry(src).or_default();
        if p.probes == 0 {
            p.first = f.time;
        }
        p.probes += 1;
        p.answered += u64::from(!f.unanswered);
        p.first = p.first.min(f.time);
        p.last = p.last.max(f.time);
        if p.hosts.len() < CAP {
            p.hosts.insert(dst);
        }
        if p.ports.len() < CAP {
            p.ports.insert(u16::try_from(f.port).unwrap_or(0));
        }
        if p.origins.len() < 3 {
            p.origins.push(f.origin().clone());
        }
    }

    fn flush(&mut self, facts: &Facts, out: &mut Vec<Alert>) {
        for (src, p) in &self.sources {
            if p.probes < MIN_PROBES {
                continue;
            }
            let mut ports: Vec<u16> = p.ports.iter().copied().collect();
            ports.sort_unstable();
            let shown: Vec<String> = ports.iter().take(8).map(u16::to_string).collect();
            let more = if ports.len() > 8 { ", …" } else { "" };
            let mut hosts: Vec<IpAddr> = p.hosts.iter().copied().collect();
            hosts.sort_unstable();
            let f = Finding {
                detector: "inbound-scan",
                about: ABOUT,
                key: vec![src.to_string()],
                title: format!(
                    "{src} probed the site from outside: {} connections to {} hosts on ports {}{more}",
                    p.probes,
                    hosts.len(),
                    shown.join(", ")
                ),
                first: Timestamp(p.first),
                last: Timestamp(p.last),
                score: (p.probes as f64 / 100.0).clamp(0.3, 0.69),
                severity: Severity::Low,
                techniques: &["T1595"],
                actors: vec![Entity::Ip(*src)],
                targets: hosts.iter().take(8).map(|h| Entity::Ip(*h)).collect(),
                count: p.probes,
                evidence: vec![
                    ("direction", "inbound".into()),
                    ("connections", p.probes.to_string()),
                    ("answered", p.answered.to_string()),
                    ("hosts", hosts.len().to_string()),
                    ("ports", ports.len().to_string()),
                ],
                origins: p.origins.clone(),
            };
            out.push(f.alert(&facts.tenant));
        }
    }

    fn fork(&self) -> Option<Box<dyn Detector<Network>>> {
        Some(InboundScanDetector::boxed())
    }

    fn merge(&mut self, other: Box<dyn Detector<Network>>) {
        merge_into(self, other, |me, o| {
            for (k, v) in o.sources {
                me.sources.entry(k).or_default().merge(v);
            }
        });
    }

    fn expire(&mut self, cutoff: Timestamp) {
        self.sources.retain(|_, p| p.last >= cutoff.0);
    }

    fn footprint(&self) -> Option<String> {
        Some(format!(
            "outside sources probing {} (max {CAP} hosts and ports each)",
            self.sources.len()
        ))
    }
}
