//! `dns-tunnel` (T1071.004, T1048.003): many random-looking subdomains of
//! one registered domain (Public Suffix List), or a high TXT/NULL share.

use std::net::IpAddr;

use rustc_hash::{FxHashMap, FxHashSet};
use vakt_core::detector::Detector;
use vakt_core::{Alert, Entity, Origin, Severity, Timestamp};

use super::{Facts, Finding, Flow, FlowKind, Network, merge_into};

/// What the detector looks for, in a line (the rule of its alerts).
const ABOUT: &str = "many random-looking subdomains of one domain, or TXT/NULL traffic";

#[derive(Debug, Default, Clone, serde::Serialize, serde::Deserialize)]
struct Domain {
    queries: u64,
    txt_null: u64,
    subdomains: FxHashSet<String>,
    entropy_sum: f64,
    label_len_sum: f64,
    clients: FxHashSet<IpAddr>,
    first: i64,
    last: i64,
    origins: Vec<Origin>,
}

/// DNS queries per registered domain.
#[derive(Debug, Default)]
pub struct DnsTunnelDetector {
    domains: FxHashMap<String, Domain>,
}

impl DnsTunnelDetector {
    /// An empty detector, boxed for the registry.
    pub fn boxed() -> Box<dyn Detector<Network>> {
        Box::new(DnsTunnelDetector::default())
    }
}

impl Detector<Network> for DnsTunnelDetector {
    fn name(&self) -> &'static str {
        "dns-tunnel"
    }

    fn save(&self) -> Option<Result<Vec<u8>, String>> {
        Some(vakt_core::detector::save_state(&self.domains))
    }

    fn load(&mut self, state: &[u8]) -> Result<(), String> {
        self.domains = vakt_core::detector::load_state(state)?;
        Ok(())
    }

    fn observe(&mut self, f: &Flow<'_>, _: &mut Vec<Alert>) {
        let (FlowKind::Dns, Some(q), Some(client)) = (f.kind, f.name, f.src) else {
            return;
        };
        let t = f.time;
        let q = q.trim_end_matches('.').to_ascii_lowercase();
        let Some(registered) = psl::domain_str(&q) else {
            return;
        };
        let d = self
            .domains
            .entry(registered.to_owned())
            .or_insert_with(|| Domain {
                first: t,
                ..Default::default()
            });
        d.queries += 1;
        d.first = d.first.min(t);
        d.last = d.last.max(t);
        if matches!(f.qtype, "TXT" | "NULL" | "txt" | "null") {
            d.txt_null += 1;
        }
        if d.clients.len() < 1000 {
            d.clients.insert(client);
        }
        let sub = q
            .strip_suffix(registered)
            .unwrap_or("")
            .trim_end_matches('.');
        if !sub.is_empty() {
            let label = sub.split('.').next().unwrap_or(sub);
            d.entropy_sum += super::dga::entropy(label);
            d.label_len_sum += label.len() as f64;
            if d.subdomains.len() < 10_000 {
                d.subdomains.insert(sub.to_owned());
            }
        }
        if d.origins.len() < 3 {
            d.origins.push(f.origin().clone());
        }
    }

    fn flush(&mut self, facts: &Facts, out: &mut Vec<Alert>) {
        for (domain, d) in &self.domains {
            let subs = d.subdomains.len();
            if subs < 30 {
                continue;
            }
            let entropy = d.entropy_sum / d.queries as f64;
            let length = d.label_len_sum / d.queries as f64;
            let txt = d.txt_null as f64 / d.queries as f64;
            let score =
                ((subs as f64 / 200.0).min(1.0) * 0.4 + (entropy / 4.5).min(1.0) * 0.3 + txt * 0.3)
                    .min(1.0);
            if txt < 0.5 && (entropy < 3.0 || length < 12.0) {
                continue;
            }
            let mut clients: Vec<IpAddr> = d.clients.iter().copied().collect();
            clients.sort();
            let f = Finding {
                detector: "dns-tunnel",
                about: ABOUT,
                key: vec![domain.clone()],
                title: format!("DNS tunnel suspected under {domain}: {subs} distinct subdomains"),
                first: Timestamp(d.first),
                last: Timestamp(d.last),
                score,
                severity: if score >= 0.7 {
                    Severity::High
                } else {
                    Severity::Medium
                },
                techniques: &["T1071.004", "T1048.003"],
                actors: clients.iter().take(5).map(|c| Entity::Ip(*c)).collect(),
                targets: vec![Entity::Domain(domain.clone())],
                count: d.queries,
                evidence: vec![
                    ("queries", d.queries.to_string()),
                    ("subdomains", subs.to_string()),
                    ("label_entropy", format!("{entropy:.2}")),
                    ("label_length", format!("{length:.1}")),
                    ("txt_null_share", format!("{txt:.2}")),
                    ("clients", d.clients.len().to_string()),
                ],
                origins: d.origins.clone(),
            };
            out.push(f.alert(&facts.tenant));
        }
    }

    fn fork(&self) -> Option<Box<dyn Detector<Network>>> {
        Some(DnsTunnelDetector::boxed())
    }

    fn merge(&mut self, other: Box<dyn Detector<Network>>) {
        merge_into(self, other, |me, o| {
            for (k, v) in o.domains {
                let d = me.domains.entry(k).or_insert_with(|| Domain {
                    first: v.first,
                    ..Default::default()
                });
                d.queries += v.queries;
                d.txt_null += v.txt_null;
                d.entropy_sum += v.entropy_sum;
                d.label_len_sum += v.label_len_sum;
                d.first = d.first.min(v.first);
                d.last = d.last.max(v.last);
                d.subdomains.extend(v.subdomains);
                d.clients.extend(v.clients);
                d.origins.extend(
                    v.origins
                        .into_iter()
                        .take(3usize.saturating_sub(d.origins.len())),
                );
            }
        });
    }

    fn expire(&mut self, cutoff: Timestamp) {
        self.domains.retain(|_, d| d.last >= cutoff.0);
    }

    fn footprint(&self) -> Option<String> {
        Some(format!("DNS domains {}", self.domains.len()))
    }
}
