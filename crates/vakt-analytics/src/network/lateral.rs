//! `lateral-movement` (T1021): a host that begins remote administration
//! (SMB, RPC, RDP, WinRM, SSH) of several internal hosts within an hour
//! after the first fifth of the data, where it did not before; or an
//! established administrator's host that reaches three or more hosts it
//! never administered before within an hour. Paths are source→destination
//! pairs, so "never administered before" is the region's history of that
//! path.

use std::collections::BTreeSet;
use std::net::IpAddr;

use rustc_hash::FxHashMap;
use vakt_core::detector::Detector;
use vakt_core::{Alert, Entity, Origin, Severity, Timestamp};

use super::{Facts, Finding, Flow, FlowKind, Network, internal, merge_into};

/// What the detector looks for, in a line (the rule of its alerts).
const ABOUT: &str = "a host beginning remote administration of several internal hosts";

/// Ports of remote administration: SMB, RPC, RDP, WinRM, SSH.
const ADMIN_PORTS: &[i64] = &[22, 135, 445, 3389, 5985, 5986];

/// Administrative connections kept per source host.
const MAX_USES: usize = 10_000;

#[derive(Debug, Clone)]
struct AdminUse {
    t: i64,
    dst: IpAddr,
    port: i64,
    origin: Origin,
}

/// Per internal source: its administrative connections to internal hosts.
#[derive(Debug, Default)]
pub struct LateralMovementDetector {
    admin: FxHashMap<IpAddr, Vec<AdminUse>>,
}

impl LateralMovementDetector {
    /// An empty detector, boxed for the registry.
    pub fn boxed() -> Box<dyn Detector<Network>> {
        Box::new(LateralMovementDetector::default())
    }
}

impl Detector<Network> for LateralMovementDetector {
    fn name(&self) -> &'static str {
        "lateral-movement"
    }

    fn observe(&mut self, f: &Flow<'_>, _: &mut Vec<Alert>) {
        let (FlowKind::Conn, true, Some(src), Some(dst)) = (f.kind, f.unicast, f.src, f.dst)
        else {
            return;
        };
        if internal(src) && internal(dst) && ADMIN_PORTS.contains(&f.port) {
            let uses = self.admin.entry(src).or_default();
            if uses.len() < MAX_USES {
                uses.push(AdminUse {
                    t: f.time,
                    dst,
                    port: f.port,
                    origin: f.origin().clone(),
                });
            }
        }
    }

    fn flush(&mut self, facts: &Facts, out: &mut Vec<Alert>) {
        let Some(baseline_end) = facts.baseline_end() else {
            return;
        };
        for (src, uses) in &self.admin {
            let known: BTreeSet<IpAddr> = uses
                .iter()
                .filter(|u| u.t < baseline_end)
                .map(|u| u.dst)
                .collect();
            let newcomer = known.is_empty();
            let fresh: Vec<&AdminUse> = uses
                .iter()
                .filter(|u| u.t >= baseline_end && !known.contains(&u.dst))
                .collect();
            if fresh.is_empty() {
                continue;
            }
            let targets: BTreeSet<(String, i64)> =
                fresh.iter().map(|u| (u.dst.to_string(), u.port)).collect();
            let hosts: BTreeSet<IpAddr> = fresh.iter().map(|u| u.dst).collect();
            let fan_out = hosts.len();
            // Administrators reach one server at a time, hour after hour; an
            // intruder reaches several within the hour.
            let mut by_time = fresh.clone();
            by_time.sort_by_key(|u| u.t);
            let mut burst = 0;
            for (i, u) in by_time.iter().enumerate() {
                let within: BTreeSet<IpAddr> = by_time[i..]
                    .iter()
                    .take_while(|v| v.t - u.t <= 3_600_000_000_000)
                    .map(|v| v.dst)
                    .collect();
                burst = burst.max(within.len());
            }
            // A known administrator needs one more new host to stand out.
            let needed = if newcomer { 2 } else { 3 };
            if burst < needed {
                continue;
            }
            let score = (0.5 + 0.15 * (burst + 1 - needed) as f64).min(1.0);
            let title = if newcomer {
                format!(
                    "{src} began remote administration of {fan_out} internal hosts, {burst} within an hour"
                )
            } else {
                format!(
                    "{src} reached {fan_out} internal hosts it never administered before, {burst} within an hour"
                )
            };
            let f = Finding {
                detector: "lateral-movement",
                about: ABOUT,
                key: vec![src.to_string()],
                title,
                first: Timestamp(fresh.iter().map(|u| u.t).min().unwrap_or(0)),
                last: Timestamp(fresh.iter().map(|u| u.t).max().unwrap_or(0)),
                score,
                severity: if burst > needed {
                    Severity::High
                } else {
                    Severity::Medium
                },
                techniques: &["T1021"],
                actors: vec![Entity::Ip(*src)],
                targets: hosts.iter().map(|h| Entity::Ip(*h)).collect(),
                count: fresh.len() as u64,
                evidence: vec![
                    ("hosts", fan_out.to_string()),
                    ("hosts_within_an_hour", burst.to_string()),
                    ("hosts_administered_before", known.len().to_string()),
                    (
                        "paths",
                        targets
                            .iter()
                            .map(|(h, p)| format!("{h}:{p}"))
                            .collect::<Vec<_>>()
                            .join(" "),
                    ),
                ],
                origins: fresh.iter().take(3).map(|u| u.origin.clone()).collect(),
            };
            out.push(f.alert(&facts.tenant));
        }
    }

    fn fork(&self) -> Option<Box<dyn Detector<Network>>> {
        Some(LateralMovementDetector::boxed())
    }

    fn merge(&mut self, other: Box<dyn Detector<Network>>) {
        merge_into(self, other, |me, o| {
            for (k, v) in o.admin {
                me.admin.entry(k).or_default().extend(v);
            }
        });
    }

    fn expire(&mut self, cutoff: Timestamp) {
        self.admin.retain(|_, uses| {
            uses.retain(|u| u.t >= cutoff.0);
            !uses.is_empty()
        });
    }

    fn footprint(&self) -> Option<String> {
        let uses: usize = self.admin.values().map(Vec::len).sum();
        Some(format!("admin uses {uses} (max {MAX_USES} per host)"))
    }
}
