//! `exfiltration` (T1048, T1041): 50 MB or more sent out by an internal host
//! to an outside destination that no other host uses.

use std::net::IpAddr;

use rustc_hash::FxHashMap;
use vakt_core::detector::Detector;
use vakt_core::{Alert, Entity, Origin, Severity, Timestamp};

use super::{Facts, Finding, Flow, FlowKind, Network, internal, merge_into};

/// What the detector looks for, in a line (the rule of its alerts; shared
/// with [`super::upload_hour`], which raises the same finding).
pub(super) const ABOUT: &str = "large uploads to a destination no other host uses, or an unusual hour";

/// Bytes out to one destination that make an upload worth reporting.
const UPLOAD_MIN: u64 = 50_000_000;

#[derive(Debug, Default, Clone)]
struct Upload {
    bytes_out: u64,
    first: i64,
    last: i64,
    /// The pair's first record (kept inline: most pairs never upload much,
    /// and a vector per pair of a large network costs more than its counts).
    origin: Option<Origin>,
    /// The first records carrying over a megabyte out.
    big: Vec<Origin>,
}

/// What each internal host sends to each outside destination.
#[derive(Debug, Default)]
pub struct UploadDetector {
    pairs: FxHashMap<(IpAddr, IpAddr), Upload>,
}

impl UploadDetector {
    /// An empty detector, boxed for the registry.
    pub fn boxed() -> Box<dyn Detector<Network>> {
        Box::new(UploadDetector::default())
    }
}

impl Detector<Network> for UploadDetector {
    fn name(&self) -> &'static str {
        "exfiltration"
    }

    fn observe(&mut self, f: &Flow<'_>, _: &mut Vec<Alert>) {
        let (FlowKind::Conn, true, Some(src), Some(dst)) = (f.kind, f.unicast, f.src, f.dst)
        else {
            return;
        };
        if !internal(src) || internal(dst) {
            return;
        }
        let t = f.time;
        let u = self.pairs.entry((src, dst)).or_insert_with(|| Upload {
            first: t,
            last: t,
            ..Upload::default()
        });
        u.bytes_out += f.bytes_out;
        u.first = u.first.min(t);
        u.last = u.last.max(t);
        if u.origin.is_none() {
            u.origin = Some(f.origin().clone());
        }
        if f.bytes_out > 1_000_000 && u.big.len() < 3 {
            u.big.push(f.origin().clone());
        }
    }

    fn flush(&mut self, facts: &Facts, out: &mut Vec<Alert>) {
        for ((src, dst), u) in &self.pairs {
            if u.bytes_out < UPLOAD_MIN || facts.prevalence(*dst) > 1 {
                continue;
            }
            let mb = u.bytes_out as f64 / 1e6;
            let f = Finding {
                detector: "exfiltration",
                about: ABOUT,
                key: vec![src.to_string(), dst.to_string()],
                title: format!("{src} uploaded {mb:.0} MB to {dst}, which no other host uses"),
                first: Timestamp(u.first),
                last: Timestamp(u.last),
                score: (mb / 500.0).clamp(0.5, 1.0),
                severity: if mb >= 500.0 {
                    Severity::High
                } else {
                    Severity::Medium
                },
                techniques: &["T1048", "T1041"],
                actors: vec![Entity::Ip(*src)],
                targets: vec![Entity::Ip(*dst)],
                count: 1,
                evidence: vec![("bytes_out", u.bytes_out.to_string())],
                origins: if u.big.is_empty() {
                    u.origin.iter().cloned().collect()
                } else {
                    u.big.clone()
                },
            };
            out.push(f.alert(&facts.tenant));
        }
    }

    fn fork(&self) -> Option<Box<dyn Detector<Network>>> {
        Some(UploadDetector::boxed())
    }

    fn merge(&mut self, other: Box<dyn Detector<Network>>) {
        merge_into(self, other, |me, o| {
            for (k, v) in o.pairs {
                let u = me.pairs.entry(k).or_insert_with(|| Upload {
                    first: v.first,
                    last: v.last,
                    ..Upload::default()
                });
                u.bytes_out += v.bytes_out;
                u.first = u.first.min(v.first);
                u.last = u.last.max(v.last);
                if u.origin.is_none() {
                    u.origin = v.origin;
                }
                u.big
                    .extend(v.big.into_iter().take(3usize.saturating_sub(u.big.len())));
            }
        });
    }

    fn expire(&mut self, cutoff: Timestamp) {
        self.pairs.retain(|_, u| u.last >= cutoff.0);
    }

    fn footprint(&self) -> Option<String> {
        Some(format!("upload pairs {}", self.pairs.len()))
    }
}
