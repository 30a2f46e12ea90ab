//! `strobe` (T1071): 86,400 connections or more between two hosts — far too
//! many to be scored as a beacon (RITA's `strobe.connection_limit`),
//! reported as such instead. Read off the family's pairs.

use vakt_core::detector::Detector;
use vakt_core::{Alert, Entity, Severity, Timestamp};

use super::{Facts, Finding, Flow, Network};

/// What the detector looks for, in a line (the rule of its alerts).
const ABOUT: &str = "86,400 connections or more between two hosts";

/// Strobes among the family's pairs.
#[derive(Debug, Default)]
pub struct StrobeDetector;

impl StrobeDetector {
    /// The detector, boxed for the registry.
    pub fn boxed() -> Box<dyn Detector<Network>> {
        Box::new(StrobeDetector)
    }
}

impl Detector<Network> for StrobeDetector {
    fn name(&self) -> &'static str {
        "strobe"
    }

    fn observe(&mut self, _: &Flow<'_>, _: &mut Vec<Alert>) {}

    fn flush(&mut self, facts: &Facts, out: &mut Vec<Alert>) {
        for st in facts.pairs().strobes() {
            if facts.prevalence(st.dst) >= facts.common_threshold() {
                continue;
            }
            let f = Finding {
                detector: "strobe",
                about: ABOUT,
                key: vec![st.src.to_string(), st.dst.to_string()],
                title: format!(
                    "Strobe from {} to {}: {} connections",
                    st.src, st.dst, st.connections
                ),
                first: Timestamp::from_parts(i64::from(st.span.0), 0),
                last: Timestamp::from_parts(i64::from(st.span.1), 0),
                score: 1.0,
                severity: Severity::Medium,
                techniques: &["T1071"],
                actors: vec![Entity::Ip(st.src)],
                targets: vec![Entity::Ip(st.dst)],
                count: st.connections,
                evidence: vec![("connections", st.connections.to_string())],
                origins: st.origins,
            };
            out.push(f.alert(&facts.tenant));
        }
    }

    fn fork(&self) -> Option<Box<dyn Detector<Network>>> {
        Some(StrobeDetector::boxed())
    }
}
