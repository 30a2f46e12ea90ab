//! `http-anomaly` (T1071.001): a client that keeps speaking HTTP without a
//! Host header — every browser and library sends one; a hand-written
//! implant often does not (RITA's missing-Host signal) — ten requests or
//! more to one server over an hour or more (a scanner's one-off probes are
//! a burst, not a program that keeps calling). The user agents it sent are
//! the evidence. Judges every direction (an outside client of the site's
//! own web server too).

use std::net::IpAddr;

use rustc_hash::FxHashMap;
use vakt_core::detector::Detector;
use vakt_core::field::USER_AGENT;
use vakt_core::{Alert, Entity, Origin, Severity, Timestamp};

use super::{Facts, Finding, Flow, FlowKind, Network, merge_into, text};

/// What the detector looks for, in a line (the rule of its alerts).
const ABOUT: &str = "HTTP requests without a Host header, kept up for an hour or more";

/// Requests without Host that make a finding.
const MIN_REQUESTS: u64 = 10;

/// Over at least this long (ns).
const MIN_SPAN: i64 = 3_600_000_000_000;

/// User agents kept per pair.
const AGENTS: usize = 4;

#[derive(Debug, Default, Clone, serde::Serialize, serde::Deserialize)]
struct NoHost {
    requests: u64,
    first: i64,
    last: i64,
    agents: Vec<Box<str>>,
    origins: Vec<Origin>,
}

impl NoHost {
    fn merge(&mut self, o: NoHost) {
        if self.requests == 0 {
            self.first = o.first;
        }
        self.requests += o.requests;
        self.first = self.first.min(o.first);
        self.last = self.last.max(o.last);
        for a in o.agents {
            if self.agents.len() < AGENTS && !self.agents.contains(&a) {
                self.agents.push(a);
            }
        }
        self.origins.extend(
            o.origins
                .into_iter()
                .take(3usize.saturating_sub(self.origins.len())),
        );
    }
}

/// HTTP requests without a Host header, per client and server.
#[derive(Debug, Default)]
pub struct HttpAnomalyDetector {
    pairs: FxHashMap<(IpAddr, IpAddr), NoHost>,
    /// The request method's field (Zeek `method`, EVE `http.http_method`).
    method: Vec<vakt_core::FieldId>,
}

impl HttpAnomalyDetector {
    /// An empty detector, boxed for the registry.
    pub fn boxed() -> Box<dyn Detector<Network>> {
        Box::new(HttpAnomalyDetector {
            pairs: FxHashMap::default(),
            method: ["method", "http.http_method"]
                .iter()
                .filter_map(|n| vakt_core::FieldId::intern(n).ok())
                .collect(),
        })
    }
}

impl Detector<Network> for HttpAnomalyDetector {
    fn name(&self) -> &'static str {
        "http-anomaly"
    }

    fn save(&self) -> Option<Result<Vec<u8>, String>> {
        Some(vakt_core::detector::save_state(&self.pairs))
    }

    fn load(&mut self, state: &[u8]) -> Result<(), String> {
        self.pairs = vakt_core::detector::load_state(state)?;
        Ok(())
    }

    fn observe(&mut self, f: &Flow<'_>, _: &mut Vec<Alert>) {
        let (FlowKind::Named, true, None, Some(src), Some(dst)) =
            (f.kind, f.http, f.name, f.src, f.dst)
        else {
            return;
        };
        // A request line was seen (Zeek logs entries for replies and broken
        // exchanges with no method at all: not requests).
        let method = self
            .method
            .iter()
            .find_map(|i| text(f.event.get(*i)))
            .is_some_and(|m| !m.is_empty() && m != "-");
        if !method {
            return;
        }
        let p = self.pairs.entry((src, dst)).or_default();
        if p.requests == 0 {
            p.first = f.time;
        }
        p.requests += 1;
        p.first = p.first.min(f.time);
        p.last = p.last.max(f.time);
        if p.agents.len() < AGENTS
            && let Some(ua) = text(f.event.common(USER_AGENT))
            && !p.agents.iter().any(|a| &**a == ua)
        {
            p.agents.push(ua.into());
        }
        if p.origins.len() < 3 {
            p.origins.push(f.origin().clone());
        }
    }

    fn flush(&mut self, facts: &Facts, out: &mut Vec<Alert>) {
        for ((src, dst), p) in &self.pairs {
            if p.requests < MIN_REQUESTS || p.last - p.first < MIN_SPAN {
                continue;
            }
            let agents: Vec<&str> = p.agents.iter().map(|a| &**a).collect();
            let f = Finding {
                detector: "http-anomaly",
                about: ABOUT,
                key: vec![src.to_string(), dst.to_string()],
                title: format!(
                    "{src} sent {} HTTP requests without a Host header to {dst} over {:.1} h{}",
                    p.requests,
                    (p.last - p.first) as f64 / 3.6e12,
                    match agents.first() {
                        Some(a) => format!(" (user agent {a})"),
                        None => String::new(),
                    }
                ),
                first: Timestamp(p.first),
                last: Timestamp(p.last),
                score: 0.6,
                severity: Severity::Medium,
                techniques: &["T1071.001"],
                actors: vec![Entity::Ip(*src)],
                targets: vec![Entity::Ip(*dst)],
                count: p.requests,
                evidence: vec![
                    ("requests_without_host", p.requests.to_string()),
                    ("user_agents", agents.join(" | ")),
                    (
                        "direction",
                        facts.site.direction(*src, *dst).name().to_owned(),
                    ),
                ],
                origins: p.origins.clone(),
            };
            out.push(f.alert(&facts.tenant));
        }
    }

    fn fork(&self) -> Option<Box<dyn Detector<Network>>> {
        Some(HttpAnomalyDetector::boxed())
    }

    fn merge(&mut self, other: Box<dyn Detector<Network>>) {
        merge_into(self, other, |me, o| {
            for (k, v) in o.pairs {
                me.pairs.entry(k).or_default().merge(v);
            }
        });
    }

    fn expire(&mut self, cutoff: Timestamp) {
        self.pairs.retain(|_, p| p.last >= cutoff.0);
    }

    fn footprint(&self) -> Option<String> {
        Some(format!("HTTP pairs without Host {}", self.pairs.len()))
    }
}
