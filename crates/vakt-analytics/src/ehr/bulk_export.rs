//! `ehr-bulk-export`: one search or export returning very many patients
//! ([`super::EhrConfig::export_min`]), other than an approved research export
//! (those are counted by the family, not judged).

use vakt_core::Alert;
use vakt_core::detector::Detector;

use super::{Ehr, EhrInput, Finding};

/// What the detector looks for, in a line (the rule of its alerts).
const ABOUT: &str = "one search or export returning very many patients";

/// Bulk searches and exports, one finding each.
#[derive(Debug, Default)]
pub struct BulkExportDetector;

impl BulkExportDetector {
    /// The detector, boxed for the registry.
    pub fn boxed() -> Box<dyn Detector<Ehr>> {
        Box::new(BulkExportDetector)
    }
}

impl Detector<Ehr> for BulkExportDetector {
    fn name(&self) -> &'static str {
        "ehr-bulk-export"
    }

    fn observe(&mut self, input: &EhrInput<'_>, out: &mut Vec<Alert>) {
        let EhrInput::Access(a) = input else { return };
        let min = a.facts.config().export_min;
        let n = a.patients.len();
        if n < min {
            return;
        }
        let op = a.operation;
        let f = Finding {
            detector: "ehr-bulk-export",
            about: ABOUT,
            user: a.user,
            window: a.event.origin.to_string(),
            title: format!(
                "Account {} {} {n} patients in one request ({})",
                a.facts.user_name(a.user),
                if op == "export" {
                    "exported"
                } else {
                    "retrieved"
                },
                if op.is_empty() {
                    "operation unknown"
                } else {
                    op
                }
            ),
            first: a.time,
            last: a.time,
            score: (0.6 + 0.1 * (n as f64 / min as f64).log2()).min(1.0),
            techniques: &["T1213", "T1530"],
            patients: a.patients.iter().take(20).map(|p| p.patient).collect(),
            count: n as u64,
            evidence: vec![
                ("patients", n.to_string()),
                ("operation", op.to_owned()),
                ("purpose", a.purposes_text()),
            ],
            origins: vec![a.event.origin.clone()],
        };
        out.push(f.alert(a.facts));
    }
}
