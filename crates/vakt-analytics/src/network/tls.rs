//! `tls-anomaly` (T1573, T1071.001): a site host holding TLS sessions with
//! an outside address that nobody looked up (no server name, or the
//! address itself as the name) and that presents a self-signed
//! certificate — a C2 framework's default listener, not a web service.
//! Ten sessions or more (resumed ones count: they carry no certificate);
//! destinations five or more of the site's hosts use are shared services.
//! Judges outbound and transit sessions (Zeek `ssl.log`
//! `validation_status`; Suricata EVE `tls` whose subject is its issuer).

use std::net::IpAddr;

use rustc_hash::FxHashMap;
use vakt_core::detector::Detector;
use vakt_core::{Alert, Entity, FieldId, Origin, Severity, Timestamp};

use super::{Direction, Facts, Finding, Flow, FlowKind, Network, merge_into, text};

/// What the detector looks for, in a line (the rule of its alerts).
const ABOUT: &str =
    "TLS sessions to an address nobody looked up, presenting a self-signed certificate";

/// Sessions that make a finding.
const MIN_SESSIONS: u64 = 10;

#[derive(Debug, Default, Clone, serde::Serialize, serde::Deserialize)]
struct Unnamed {
    sessions: u64,
    self_signed: u64,
    subject: Option<Box<str>>,
    first: i64,
    last: i64,
    origins: Vec<Origin>,
}

impl Unnamed {
    fn merge(&mut self, o: Unnamed) {
        if self.sessions == 0 {
            self.first = o.first;
        }
        self.sessions += o.sessions;
        self.self_signed += o.self_signed;
        self.first = self.first.min(o.first);
        self.last = self.last.max(o.last);
        if self.subject.is_none() {
            self.subject = o.subject;
        }
        self.origins.extend(
            o.origins
                .into_iter()
                .take(3usize.saturating_sub(self.origins.len())),
        );
    }
}

/// Native fields, interned once.
#[derive(Debug, Default)]
struct Ids {
    validation: Option<FieldId>,
    subject: Option<FieldId>,
    eve_subject: Option<FieldId>,
    eve_issuer: Option<FieldId>,
}

/// Unnamed TLS sessions per site host and outside address.
#[derive(Debug, Default)]
pub struct TlsAnomalyDetector {
    pairs: FxHashMap<(IpAddr, IpAddr), Unnamed>,
    ids: Ids,
}

impl TlsAnomalyDetector {
    /// An empty detector, boxed for the registry.
    pub fn boxed() -> Box<dyn Detector<Network>> {
        let i = |n: &str| FieldId::intern(n).ok();
        Box::new(TlsAnomalyDetector {
            pairs: FxHashMap::default(),
            ids: Ids {
                validation: i("validation_status"),
                subject: i("subject"),
                eve_subject: i("tls.subject"),
                eve_issuer: i("tls.issuerdn"),
            },
        })
    }
}

impl Detector<Network> for TlsAnomalyDetector {
    fn name(&self) -> &'static str {
        "tls-anomaly"
    }

    fn save(&self) -> Option<Result<Vec<u8>, String>> {
        Some(vakt_core::detector::save_state(&self.pairs))
    }

    fn load(&mut self, state: &[u8]) -> Result<(), String> {
        self.pairs = vakt_core::detector::load_state(state)?;
        Ok(())
    }

    fn observe(&mut self, f: &Flow<'_>, _: &mut Vec<Alert>) {
        let (FlowKind::Named, false, None, Some(src), Some(dst)) =
            (f.kind, f.http, f.name, f.src, f.dst)
        else {
            return;
        };
        if !matches!(f.dir, Direction::Outbound | Direction::Transit) {
            return;
        }
        let get = |i: Option<FieldId>| i.and_then(|i| text(f.event.get(i)));
        let self_signed = get(self.ids.validation)
            .is_some_and(|v| v.contains("self signed") || v.contains("self-signed"))
            || matches!(
                (get(self.ids.eve_subject), get(self.ids.eve_issuer)),
                (Some(s), Some(i)) if !s.is_empty() && s == i
            );
        let p = self.pairs.entry((src, dst)).or_default();
        if p.sessions == 0 {
            p.first = f.time;
        }
        p.sessions += 1;
        p.first = p.first.min(f.time);
        p.last = p.last.max(f.time);
        if self_signed {
            p.self_signed += 1;
            if p.subject.is_none() {
                p.subject = get(self.ids.subject)
                    .or_else(|| get(self.ids.eve_subject))
                    .map(Into::into);
            }
            if p.origins.len() < 3 {
                p.origins.push(f.origin().clone());
            }
        }
    }

    fn flush(&mut self, facts: &Facts, out: &mut Vec<Alert>) {
        for ((src, dst), p) in &self.pairs {
            if p.self_signed == 0
                || p.sessions < MIN_SESSIONS
                || facts.prevalence(*dst) >= facts.common_threshold()
                || facts.named_address(*dst)
            {
                continue;
            }
            let subject = p.subject.as_deref().unwrap_or("");
            let f = Finding {
                detector: "tls-anomaly",
                about: ABOUT,
                key: vec![src.to_string(), dst.to_string()],
                title: format!(
                    "{src} held {} TLS sessions with {dst}, an address nobody looked up, presenting a self-signed certificate{}",
                    p.sessions,
                    if subject.is_empty() {
                        String::new()
                    } else {
                        format!(" ({subject})")
                    }
                ),
                first: Timestamp(p.first),
                last: Timestamp(p.last),
                score: 0.75,
                severity: Severity::Medium,
                techniques: &["T1573", "T1071.001"],
                actors: vec![Entity::Ip(*src)],
                targets: vec![Entity::Ip(*dst)],
                count: p.sessions,
                evidence: vec![
                    ("sessions", p.sessions.to_string()),
                    ("self_signed_handshakes", p.self_signed.to_string()),
                    ("certificate_subject", subject.to_owned()),
                    ("prevalence", facts.prevalence(*dst).to_string()),
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
        Some(TlsAnomalyDetector::boxed())
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
        Some(format!("unnamed TLS pairs {}", self.pairs.len()))
    }
}
