//! `ehr-scripted` (T1213, T1119): a person's account reading like a script —
//! many reads in an hour ([`super::EhrConfig::scripted_min`]) at a steady
//! pace (robust variation of the intervals under 0.6; a person's own reads
//! vary like random arrivals, about 1.0).

use vakt_core::detector::Detector;
use vakt_core::Alert;

use super::{Ehr, EhrInput, Finding, NS};

/// What the detector looks for, in a line (the rule of its alerts).
const ABOUT: &str = "a person's account reading at a script's steady pace";

/// The pace of each user's reads, hour by hour (the family counts the
/// hour; this detector keeps nothing of its own).
#[derive(Debug, Default)]
pub struct ScriptedDetector {
    /// Reused per hour judged.
    times: Vec<i64>,
}

impl ScriptedDetector {
    /// An empty detector, boxed for the registry.
    pub fn boxed() -> Box<dyn Detector<Ehr>> {
        Box::new(ScriptedDetector::default())
    }
}

impl Detector<Ehr> for ScriptedDetector {
    fn name(&self) -> &'static str {
        "ehr-scripted"
    }

    fn save(&self) -> Option<Result<Vec<u8>, String>> {
        Some(vakt_core::detector::save_state(&self.times))
    }

    fn load(&mut self, state: &[u8]) -> Result<(), String> {
        self.times = vakt_core::detector::load_state(state)?;
        Ok(())
    }

    fn observe(&mut self, input: &EhrInput<'_>, out: &mut Vec<Alert>) {
        match input {
            EhrInput::Access(_) | EhrInput::DayEnd { .. } => {}
            EhrInput::HourEnd { facts, user, hour } => {
                let info = facts.user(*user);
                let min = facts.config().scripted_min;
                let Some(h) = facts.hour(*user) else {
                    return;
                };
                let reads = h.reads();
                if !info.service && reads >= min {
                    let ts = &mut self.times;
                    ts.clear();
                    ts.extend_from_slice(&h.times);
                    ts.sort_unstable();
                    let mut gaps: Vec<f64> = ts
                        .windows(2)
                        .map(|w| (w[1] - w[0]) as f64 / NS as f64)
                        .collect();
                    gaps.sort_by(f64::total_cmp);
                    // Robust variation (MAD over median): a person's pauses
                    // do not hide a script's steady pace, and a person's own
                    // reads vary like random arrivals (about 1.0; an even
                    // pace with jitter is about 0.4).
                    let mean = crate::stats::median(&gaps).unwrap_or(0.0);
                    let mut dev: Vec<f64> = gaps.iter().map(|g| (g - mean).abs()).collect();
                    dev.sort_by(f64::total_cmp);
                    let cv = if mean > 0.0 {
                        1.4826 * crate::stats::median(&dev).unwrap_or(0.0) / mean
                    } else {
                        0.0
                    };
                    if cv < 0.6 {
                        let f = Finding {
                            detector: "ehr-scripted",
                            about: ABOUT,
                            user: *user,
                            window: format!("hour {hour}"),
                            title: format!(
                                "Account {} read {reads} records in an hour at a steady pace (median interval {mean:.1} s, variation {cv:.2}): a script, not a person",
                                info.name
                            ),
                            first: ts[0],
                            last: ts[ts.len() - 1],
                            score: (0.6 + 0.3 * (1.0 - cv / 0.6)).min(0.95),
                            techniques: &["T1213", "T1119"],
                            patients: h.patients.iter().take(10).copied().collect(),
                            count: reads as u64,
                            evidence: vec![
                                ("reads", reads.to_string()),
                                ("median_interval_s", format!("{mean:.1}")),
                                ("interval_cv", format!("{cv:.2}")),
                            ],
                            origins: h.origins.clone(),
                        };
                        out.push(f.alert(facts));
                    }
                }
            }
        }
    }
}
