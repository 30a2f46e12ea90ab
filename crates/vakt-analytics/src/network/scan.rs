//! `scan` (T1046): 25 hosts probed on one port, or 15 ports on one host,
//! without answer within five minutes (Zeek's own scan thresholds and
//! interval), or 50 hosts or 100 ports however slowly, by a host inside the
//! site or passing its sensor. (A desktop whose HTTPS connections to 41
//! servers failed over a day is not scanning; a sweep of them in a minute
//! is.)
//! Judges outbound, internal and transit attempts: probing from the
//! Internet is `inbound-scan`'s; replies of discovery and name services
//! (SSDP, mDNS, LLMNR, …) are not attempts, and the site's own scanners
//! (site model) are not reported.

use std::net::IpAddr;

use rustc_hash::FxHashMap;
use vakt_core::detector::Detector;
use vakt_core::{Alert, Entity, Origin, Severity, Timestamp};

use super::{Direction, Facts, Finding, Flow, FlowKind, Network, merge_into};

/// What the detector looks for, in a line (the rule of its alerts).
const ABOUT: &str = "many hosts on a port, or many ports on a host, without answer";

/// The most distinct targets kept per port or per destination of one scanner.
const SCAN_CAP: usize = 4096;
/// Distinct hosts probed on one port within [`WINDOW`] that make a
/// horizontal scan (Zeek's `Scan::addr_scan_threshold`).
const HORIZONTAL: usize = 25;
/// Distinct ports probed on one host within [`WINDOW`] that make a vertical
/// scan (Zeek's `Scan::port_scan_threshold`).
const VERTICAL: usize = 15;
/// Zeek's scan interval (ns).
const WINDOW: i64 = 300_000_000_000;
/// However slowly: this many hosts on one port, or ports on one host.
const SLOW_HORIZONTAL: usize = 50;
const SLOW_VERTICAL: usize = 100;

/// The most first probes that fall within [`WINDOW`] of each other.
fn burst<K>(firsts: &FxHashMap<K, i64>) -> usize {
    let mut t: Vec<i64> = firsts.values().copied().collect();
    t.sort_unstable();
    let mut best = 0;
    let mut lo = 0;
    for hi in 0..t.len() {
        while t[hi] - t[lo] > WINDOW {
            lo += 1;
        }
        best = best.max(hi - lo + 1);
    }
    best
}

/// One source's unanswered connections: hosts per port and ports per host.
#[derive(Debug, Default, Clone, serde::Serialize, serde::Deserialize)]
struct Scan {
    failed: u64,
    /// Hosts probed per port, with the first probe's time.
    by_port: FxHashMap<u16, FxHashMap<IpAddr, i64>>,
    /// Ports probed per host, with the first probe's time.
    by_dst: FxHashMap<IpAddr, FxHashMap<u16, i64>>,
    first: i64,
    last: i64,
    origins: Vec<Origin>,
}

impl Scan {
    fn add(&mut self, t: i64, dst: IpAddr, port: u16, origin: &Origin) {
        if self.failed == 0 {
            self.first = t;
        }
        self.failed += 1;
        self.first = self.first.min(t);
        self.last = self.last.max(t);
        let hosts = self.by_port.entry(port).or_default();
        if hosts.len() < SCAN_CAP || hosts.contains_key(&dst) {
            let first = hosts.entry(dst).or_insert(t);
            *first = (*first).min(t);
        }
        let ports = self.by_dst.entry(dst).or_default();
        if ports.len() < SCAN_CAP || ports.contains_key(&port) {
            let first = ports.entry(port).or_insert(t);
            *first = (*first).min(t);
        }
        if self.origins.len() < 3 {
            self.origins.push(origin.clone());
        }
    }

    fn merge(&mut self, o: Scan) {
        if self.failed == 0 {
            self.first = o.first;
        }
        self.failed += o.failed;
        self.first = self.first.min(o.first);
        self.last = self.last.max(o.last);
        for (p, h) in o.by_port {
            let hosts = self.by_port.entry(p).or_default();
            for (d, t) in h {
                if hosts.len() < SCAN_CAP || hosts.contains_key(&d) {
                    let first = hosts.entry(d).or_insert(t);
                    *first = (*first).min(t);
                }
            }
        }
        for (d, p) in o.by_dst {
            let ports = self.by_dst.entry(d).or_default();
            for (port, t) in p {
                if ports.len() < SCAN_CAP || ports.contains_key(&port) {
                    let first = ports.entry(port).or_insert(t);
                    *first = (*first).min(t);
                }
            }
        }
        self.origins.extend(
            o.origins
                .into_iter()
                .take(3usize.saturating_sub(self.origins.len())),
        );
    }
}

/// Every source's unanswered connection attempts.
#[derive(Debug, Default)]
pub struct ScanDetector {
    scans: FxHashMap<IpAddr, Scan>,
}

impl ScanDetector {
    /// An empty detector, boxed for the registry.
    pub fn boxed() -> Box<dyn Detector<Network>> {
        Box::new(ScanDetector::default())
    }
}

impl Detector<Network> for ScanDetector {
    fn name(&self) -> &'static str {
        "scan"
    }

    fn save(&self) -> Option<Result<Vec<u8>, String>> {
        Some(vakt_core::detector::save_state(&self.scans))
    }

    fn load(&mut self, state: &[u8]) -> Result<(), String> {
        self.scans = vakt_core::detector::load_state(state)?;
        Ok(())
    }

    fn observe(&mut self, f: &Flow<'_>, _: &mut Vec<Alert>) {
        if let (FlowKind::Conn, true, true, Some(src), Some(dst)) =
            (f.kind, f.unicast, f.unanswered, f.src, f.dst)
            && f.dir != Direction::Inbound
            && !f.service_reply()
        {
            self.scans.entry(src).or_default().add(
                f.time,
                dst,
                u16::try_from(f.port).unwrap_or(0),
                f.origin(),
            );
        }
    }

    fn flush(&mut self, facts: &Facts, out: &mut Vec<Alert>) {
        for (src, sc) in &self.scans {
            if facts.site.scanner(*src) {
                continue;
            }
            let (h_port, h_hosts) = sc
                .by_port
                .iter()
                .map(|(p, h)| (*p, h.len()))
                .max_by_key(|(p, n)| (*n, std::cmp::Reverse(*p)))
                .unwrap_or((0, 0));
            let (v_dst, v_ports) = sc
                .by_dst
                .iter()
                .map(|(d, p)| (*d, p.len()))
                .max_by_key(|(d, n)| (*n, std::cmp::Reverse(*d)))
                .unwrap_or((*src, 0));
            // Quick sweeps (Zeek's thresholds within five minutes), or slow
            // ones at the higher counts.
            let horizontal = h_hosts >= SLOW_HORIZONTAL
                || (h_hosts >= HORIZONTAL
                    && sc.by_port.values().any(|h| h.len() >= HORIZONTAL && burst(h) >= HORIZONTAL));
            let vertical = v_ports >= SLOW_VERTICAL
                || (v_ports >= VERTICAL
                    && sc.by_dst.values().any(|p| p.len() >= VERTICAL && burst(p) >= VERTICAL));
            if !horizontal && !vertical {
                continue;
            }
            let hosts = sc.by_dst.len();
            let ports = sc.by_port.len();
            let kind = match (horizontal, vertical) {
                (true, true) => "horizontal and vertical scan",
                (true, false) => "horizontal scan",
                _ => "vertical scan",
            };
            let internal_targets = sc.by_dst.keys().filter(|d| facts.internal(**d)).count();
            let f = Finding {
                detector: "scan",
                about: ABOUT,
                key: vec![src.to_string()],
                title: format!(
                    "{src}: {kind}, {} unanswered connections to {hosts} hosts on {ports} ports",
                    sc.failed
                ),
                first: Timestamp(sc.first),
                last: Timestamp(sc.last),
                score: ((h_hosts.max(v_ports)) as f64 / 500.0).clamp(0.5, 1.0),
                severity: if facts.internal(*src) && internal_targets * 2 >= hosts {
                    Severity::High
                } else {
                    Severity::Medium
                },
                techniques: &["T1046"],
                actors: vec![Entity::Ip(*src)],
                targets: if vertical {
                    vec![Entity::Ip(v_dst)]
                } else {
                    Vec::new()
                },
                count: sc.failed,
                evidence: vec![
                    ("unanswered", sc.failed.to_string()),
                    ("hosts", hosts.to_string()),
                    ("internal_hosts", internal_targets.to_string()),
                    ("ports", ports.to_string()),
                    ("most_hosts_on_one_port", format!("{h_hosts} on {h_port}")),
                    ("most_ports_on_one_host", format!("{v_ports} on {v_dst}")),
                ],
                origins: sc.origins.clone(),
            };
            out.push(f.alert(&facts.tenant));
        }
    }

    fn fork(&self) -> Option<Box<dyn Detector<Network>>> {
        Some(ScanDetector::boxed())
    }

    fn merge(&mut self, other: Box<dyn Detector<Network>>) {
        merge_into(self, other, |me, o| {
            for (k, v) in o.scans {
                me.scans.entry(k).or_default().merge(v);
            }
        });
    }

    fn expire(&mut self, cutoff: Timestamp) {
        self.scans.retain(|_, sc| sc.last >= cutoff.0);
    }

    fn footprint(&self) -> Option<String> {
        Some(format!(
            "scanning sources {} (max {SCAN_CAP} targets per port or host)",
            self.scans.len()
        ))
    }
}
