//! `lateral-movement` (T1021): a host that begins remote administration
//! (SMB, RPC, RDP, WinRM, SSH) of several internal hosts within an hour
//! after the first fifth of the data, where it did not before; or an
//! established administrator's host that reaches three or more hosts it
//! never administered before within an hour. Paths are source→destination
//! pairs, so "never administered before" is the region's history of that
//! path: every path's first use is remembered beyond a stream's window
//! (for [`HISTORY_NS`]), and a host is an established administrator when
//! it administered any host before the hour judged — so a stream, which
//! has forgotten yesterday's sessions, judges as a batch over both days
//! does.

use std::collections::BTreeSet;
use std::net::IpAddr;

use rustc_hash::FxHashMap;
use vakt_core::detector::Detector;
use vakt_core::{Alert, Entity, Origin, Severity, Timestamp};

use super::{Direction, Facts, Finding, Flow, FlowKind, Network, merge_into};

/// What the detector looks for, in a line (the rule of its alerts).
const ABOUT: &str = "a host beginning remote administration of several internal hosts";

/// Ports of remote administration: SMB, RPC, RDP, WinRM, SSH.
const ADMIN_PORTS: &[i64] = &[22, 135, 445, 3389, 5985, 5986];

/// Administrative connections kept per source host.
const MAX_USES: usize = 10_000;

/// How long a path's first use is remembered after its last (ns): thirty days.
const HISTORY_NS: i64 = 30 * 86_400 * 1_000_000_000;

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct AdminUse {
    t: i64,
    dst: IpAddr,
    port: i64,
    origin: Origin,
}

/// Per internal source: its administrative connections to internal hosts
/// (within the window), and each path's first and last use (history).
#[derive(Debug, Default)]
pub struct LateralMovementDetector {
    admin: FxHashMap<IpAddr, Vec<AdminUse>>,
    paths: FxHashMap<IpAddr, FxHashMap<IpAddr, (i64, i64)>>,
    /// The earliest connection ever seen (ns): where the baseline begins,
    /// whatever a stream's window has forgotten since.
    start: Option<i64>,
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

    fn save(&self) -> Option<Result<Vec<u8>, String>> {
        Some(vakt_core::detector::save_state(&(&self.admin, &self.paths, &self.start)))
    }

    fn load(&mut self, state: &[u8]) -> Result<(), String> {
        let (admin, paths, start) = vakt_core::detector::load_state(state)?;
        self.admin = admin;
        self.paths = paths;
        self.start = start;
        Ok(())
    }

    fn observe(&mut self, f: &Flow<'_>, _: &mut Vec<Alert>) {
        let (FlowKind::Conn, true, Some(src), Some(dst)) = (f.kind, f.unicast, f.src, f.dst)
        else {
            return;
        };
        self.start = Some(self.start.map_or(f.time, |s| s.min(f.time)));
        // Administration is a session the target accepted and that carried
        // data: a scanner's probes of admin ports (unanswered, or a
        // handshake it reset at once) administer nothing.
        if f.dir == Direction::Internal
            && ADMIN_PORTS.contains(&f.port)
            && !f.unanswered
            && (f.bytes_out > 0 || !f.sized)
        {
            let paths = self.paths.entry(src).or_default();
            if paths.len() < MAX_USES || paths.contains_key(&dst) {
                let p = paths.entry(dst).or_insert((f.time, f.time));
                p.0 = p.0.min(f.time);
                p.1 = p.1.max(f.time);
            }
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
        let Some((min, max)) = facts.range() else {
            return;
        };
        // The first fifth of all the data seen (a stream's too) is the baseline.
        let start = self.start.map_or(min, |s| s.min(min));
        let baseline_end = start + (max - start) / 5;
        for (src, uses) in &self.admin {
            // The site's administrators' and jump hosts reach servers by
            // design; its scanners touch every host's admin ports.
            if facts.site.admin_host(*src) || facts.site.scanner(*src) {
                continue;
            }
            let Some(paths) = self.paths.get(src) else {
                continue;
            };
            // A path is new where its first use is after the baseline and
            // among the connections at hand (a stream's window); every use
            // of a new path counts.
            let at_hand = uses.iter().map(|u| u.t).min().unwrap_or(i64::MAX);
            let new_since = baseline_end.max(at_hand);
            let fresh: Vec<&AdminUse> = uses
                .iter()
                .filter(|u| {
                    u.t >= baseline_end && paths.get(&u.dst).is_some_and(|p| p.0 >= new_since)
                })
                .collect();
            if fresh.is_empty() {
                continue;
            }
            // Administrators reach one server at a time, hour after hour; an
            // intruder reaches several within the hour. A host that
            // administered any host before the hour is an established
            // administrator: it needs one more new host to stand out.
            // First uses in time order: how many paths a host had before a
            // moment is one binary search.
            let mut firsts: Vec<i64> = paths.values().map(|p| p.0).collect();
            firsts.sort_unstable();
            let mut by_time = fresh.clone();
            by_time.sort_by_key(|u| (u.t, u.dst));
            let mut best: Option<(usize, usize, usize, i64)> = None;
            for (i, u) in by_time.iter().enumerate() {
                let within: BTreeSet<IpAddr> = by_time[i..]
                    .iter()
                    .take_while(|v| v.t - u.t <= 3_600_000_000_000)
                    .map(|v| v.dst)
                    .collect();
                let before = firsts.partition_point(|t| *t < u.t);
                let needed = if before == 0 { 2 } else { 3 };
                let margin = within.len() as i64 - needed as i64;
                if best.is_none_or(|(w, n, _, _)| margin > w as i64 - n as i64) {
                    best = Some((within.len(), needed, before, u.t));
                }
            }
            let Some((burst, needed, before, began)) = best else {
                continue;
            };
            if burst < needed {
                continue;
            }
            // The movement is the burst and what followed: new paths before
            // it are the host's own history (a workstation's first share).
            let fresh: Vec<&AdminUse> = fresh.into_iter().filter(|u| u.t >= began).collect();
            let newcomer = before == 0;
            let targets: BTreeSet<(String, i64)> =
                fresh.iter().map(|u| (u.dst.to_string(), u.port)).collect();
            let hosts: BTreeSet<IpAddr> = fresh.iter().map(|u| u.dst).collect();
            let fan_out = hosts.len();
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
                    ("hosts_administered_before", before.to_string()),
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
            for (src, theirs) in o.paths {
                let mine = me.paths.entry(src).or_default();
                for (dst, (first, last)) in theirs {
                    let p = mine.entry(dst).or_insert((first, last));
                    p.0 = p.0.min(first);
                    p.1 = p.1.max(last);
                }
            }
            me.start = match (me.start, o.start) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
        });
    }

    fn expire(&mut self, cutoff: Timestamp) {
        self.admin.retain(|_, uses| {
            uses.retain(|u| u.t >= cutoff.0);
            !uses.is_empty()
        });
        // The history outlives the window: paths are forgotten a month
        // after their last use.
        let forget = cutoff.0.saturating_sub(HISTORY_NS);
        self.paths.retain(|_, paths| {
            paths.retain(|_, p| p.1 >= forget);
            !paths.is_empty()
        });
    }

    fn footprint(&self) -> Option<String> {
        let uses: usize = self.admin.values().map(Vec::len).sum();
        let paths: usize = self.paths.values().map(FxHashMap::len).sum();
        Some(format!(
            "admin uses {uses} (max {MAX_USES} per host), admin paths {paths}"
        ))
    }
}
