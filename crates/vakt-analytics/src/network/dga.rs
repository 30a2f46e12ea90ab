//! `dga` (T1568.002): a host whose look-ups of random-looking names fail —
//! NXDOMAIN for 25 or more distinct registered domains within an hour, their
//! names long and random (a domain generation algorithm trying the day's
//! candidates until one answers). An AD workstation's failing search
//! suffixes (`wpad`, `printer.local`) are few and plain; malware's are many
//! and random.

use std::net::IpAddr;

use rustc_hash::FxHashMap;
use vakt_core::detector::Detector;
use vakt_core::{Alert, Entity, FieldId, Origin, Severity, Timestamp, Value};

use super::{Facts, Finding, Flow, FlowKind, Network, merge_into};

/// What the detector looks for, in a line (the rule of its alerts).
const ABOUT: &str = "failing look-ups of many random-looking domains within an hour (a domain generation algorithm)";

/// Distinct failing registered domains within an hour that make a finding.
const MIN_DOMAINS: usize = 25;
/// … when their names are this random (bits per character; English words
/// are about 2.5–3.0, a DGA's 3.5 or more).
const MIN_ENTROPY: f64 = 3.2;
/// … and this long on average (a DGA's names are long).
const MIN_LENGTH: f64 = 8.0;
/// Failed look-ups kept per host (a DGA needs far fewer to show).
const CAP: usize = 20_000;
const HOUR_NS: i64 = 3_600_000_000_000;

/// One host's failed look-ups: when, and which registered domain.
#[derive(Debug, Default, Clone, serde::Serialize, serde::Deserialize)]
struct Host {
    failures: Vec<(i64, u32)>,
    /// Registered domains: name, entropy and length of its label.
    domains: Vec<(Box<str>, f64, f64)>,
    index: FxHashMap<Box<str>, u32>,
    origins: Vec<Origin>,
}

impl Host {
    fn add(&mut self, t: i64, registered: &str, origin: Option<&Origin>) {
        if self.failures.len() >= CAP {
            return;
        }
        let id = match self.index.get(registered) {
            Some(i) => *i,
            None => {
                let label = registered.split('.').next().unwrap_or(registered);
                let i = self.domains.len() as u32;
                self.domains
                    .push((registered.into(), entropy(label), label.len() as f64));
                self.index.insert(registered.into(), i);
                i
            }
        };
        self.failures.push((t, id));
        if let Some(o) = origin
            && self.origins.len() < 3
        {
            self.origins.push(o.clone());
        }
    }

    /// The hour (any 60 minutes) with the most distinct failing domains:
    /// its start, end, distinct domains, failures.
    fn worst_hour(&self) -> Option<(i64, i64, Vec<u32>, usize)> {
        let mut f = self.failures.clone();
        f.sort_unstable();
        let mut counts: FxHashMap<u32, usize> = FxHashMap::default();
        let mut best: Option<(usize, usize, usize)> = None;
        let mut lo = 0;
        for hi in 0..f.len() {
            *counts.entry(f[hi].1).or_default() += 1;
            while f[hi].0 - f[lo].0 >= HOUR_NS {
                let c = counts.entry(f[lo].1).or_default();
                *c -= 1;
                if *c == 0 {
                    counts.remove(&f[lo].1);
                }
                lo += 1;
            }
            if best.is_none_or(|(n, _, _)| counts.len() > n) {
                best = Some((counts.len(), lo, hi));
            }
        }
        let (_, lo, hi) = best?;
        let mut ids: Vec<u32> = f[lo..=hi].iter().map(|x| x.1).collect();
        ids.sort_unstable();
        ids.dedup();
        Some((f[lo].0, f[hi].0, ids, hi + 1 - lo))
    }
}

/// Failed look-ups per host.
#[derive(Debug, Default)]
pub struct DgaDetector {
    hosts: FxHashMap<IpAddr, Host>,
    rcode_name: Option<FieldId>,
    rcode_eve: Option<FieldId>,
}

impl DgaDetector {
    /// An empty detector, boxed for the registry.
    pub fn boxed() -> Box<dyn Detector<Network>> {
        Box::new(DgaDetector {
            rcode_name: FieldId::intern("rcode_name").ok(),
            rcode_eve: FieldId::intern("dns.rcode").ok(),
            ..DgaDetector::default()
        })
    }

    fn failed(&self, f: &Flow<'_>) -> bool {
        [self.rcode_name, self.rcode_eve]
            .into_iter()
            .flatten()
            .filter_map(|i| f.event.get(i))
            .any(|v| matches!(v, Value::Str(s) if s.eq_ignore_ascii_case("NXDOMAIN")))
    }
}

/// Shannon entropy of a label's bytes, in bits per byte (DGA names and
/// tunnelled data both score high).
pub(super) fn entropy(s: &str) -> f64 {
    let mut counts = [0u32; 256];
    for b in s.bytes() {
        counts[b as usize] += 1;
    }
    let n = s.len().max(1) as f64;
    counts
        .iter()
        .filter(|c| **c > 0)
        .map(|c| {
            let p = f64::from(*c) / n;
            -p * p.log2()
        })
        .sum()
}

impl Detector<Network> for DgaDetector {
    fn name(&self) -> &'static str {
        "dga"
    }

    fn save(&self) -> Option<Result<Vec<u8>, String>> {
        Some(vakt_core::detector::save_state(&self.hosts))
    }

    fn load(&mut self, state: &[u8]) -> Result<(), String> {
        self.hosts = vakt_core::detector::load_state(state)?;
        Ok(())
    }

    fn observe(&mut self, f: &Flow<'_>, _: &mut Vec<Alert>) {
        let (FlowKind::Dns, Some(q), Some(client)) = (f.kind, f.name, f.src) else {
            return;
        };
        if !self.failed(f) {
            return;
        }
        let q = q.trim_end_matches('.').to_ascii_lowercase();
        let Some(registered) = psl::domain_str(&q) else {
            return;
        };
        self.hosts
            .entry(client)
            .or_default()
            .add(f.time, registered, Some(f.origin()));
    }

    fn flush(&mut self, facts: &Facts, out: &mut Vec<Alert>) {
        let mut clients: Vec<&IpAddr> = self.hosts.keys().collect();
        clients.sort();
        for client in clients {
            let h = &self.hosts[client];
            let Some((first, last, ids, failures)) = h.worst_hour() else {
                continue;
            };
            let n = ids.len();
            let (entropy, length) = ids.iter().fold((0.0, 0.0), |(e, l), i| {
                let d = &h.domains[*i as usize];
                (e + d.1, l + d.2)
            });
            let (entropy, length) = (entropy / n as f64, length / n as f64);
            if n < MIN_DOMAINS || entropy < MIN_ENTROPY || length < MIN_LENGTH {
                continue;
            }
            let mut sample: Vec<&str> = ids.iter().map(|i| &*h.domains[*i as usize].0).collect();
            sample.sort_unstable();
            sample.truncate(5);
            let f = Finding {
                detector: "dga",
                about: ABOUT,
                key: vec![client.to_string(), format!("hour {}", first.div_euclid(HOUR_NS))],
                title: format!(
                    "{client}: {n} random-looking domains failed to resolve within an hour (a domain generation algorithm?)"
                ),
                first: Timestamp(first),
                last: Timestamp(last),
                score: (0.5 + n as f64 / 200.0).min(1.0),
                severity: if n >= 2 * MIN_DOMAINS {
                    Severity::High
                } else {
                    Severity::Medium
                },
                techniques: &["T1568.002"],
                actors: vec![Entity::Ip(*client)],
                targets: Vec::new(),
                count: failures as u64,
                evidence: vec![
                    ("failed_domains", n.to_string()),
                    ("failed_lookups", failures.to_string()),
                    ("label_entropy", format!("{entropy:.2}")),
                    ("label_length", format!("{length:.1}")),
                    ("sample", sample.join(" ")),
                ],
                origins: h.origins.clone(),
            };
            out.push(f.alert(&facts.tenant));
        }
    }

    fn fork(&self) -> Option<Box<dyn Detector<Network>>> {
        Some(DgaDetector::boxed())
    }

    fn merge(&mut self, other: Box<dyn Detector<Network>>) {
        merge_into(self, other, |me, o| {
            for (client, theirs) in o.hosts {
                let mine = me.hosts.entry(client).or_default();
                for (t, id) in theirs.failures {
                    mine.add(t, &theirs.domains[id as usize].0, None);
                }
                mine.origins.extend(
                    theirs
                        .origins
                        .into_iter()
                        .take(3usize.saturating_sub(mine.origins.len())),
                );
            }
        });
    }

    fn expire(&mut self, cutoff: Timestamp) {
        self.hosts.retain(|_, h| {
            h.failures.retain(|(t, _)| *t >= cutoff.0);
            !h.failures.is_empty()
        });
    }

    fn footprint(&self) -> Option<String> {
        let kept: usize = self.hosts.values().map(|h| h.failures.len()).sum();
        Some(format!(
            "hosts with failed look-ups {} holding {kept} (max {CAP} per host)",
            self.hosts.len()
        ))
    }
}
