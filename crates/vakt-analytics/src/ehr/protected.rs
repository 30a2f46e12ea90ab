//! `ehr-protected` (T1213): a protected person's record (politicians,
//! military, intelligence — the register) read without a care relationship:
//! medium without an emergency reason, high for three or more in a day.

use rustc_hash::FxHashSet;
use vakt_core::Alert;
use vakt_core::detector::Detector;

use super::{Ehr, EhrInput, Finding, slot, without_relationship};

/// What the detector looks for, in a line (the rule of its alerts).
const ABOUT: &str = "a protected person's record read without a care relationship";

/// Protected reads kept per user-day.
const MAX_KEPT: usize = 1_000;

#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
struct User {
    /// (when, patient, explained by an emergency reason)
    reads: Vec<(i64, u32, bool)>,
}

/// Look-ups of protected persons, per user-day.
#[derive(Debug, Default)]
pub struct ProtectedDetector {
    users: Vec<User>,
}

impl ProtectedDetector {
    /// An empty detector, boxed for the registry.
    pub fn boxed() -> Box<dyn Detector<Ehr>> {
        Box::new(ProtectedDetector::default())
    }
}

impl Detector<Ehr> for ProtectedDetector {
    fn name(&self) -> &'static str {
        "ehr-protected"
    }

    fn save(&self) -> Option<Result<Vec<u8>, String>> {
        Some(vakt_core::detector::save_state(&self.users))
    }

    fn load(&mut self, state: &[u8]) -> Result<(), String> {
        self.users = vakt_core::detector::load_state(state)?;
        Ok(())
    }

    fn observe(&mut self, input: &EhrInput<'_>, out: &mut Vec<Alert>) {
        match input {
            EhrInput::Access(a) => {
                let u = slot(&mut self.users, a.user);
                for p in without_relationship(a) {
                    if a.facts.patient(p.patient).protected && u.reads.len() < MAX_KEPT {
                        u.reads.push((a.time, p.patient, p.explained));
                    }
                }
            }
            EhrInput::DayEnd { facts, user, day } => {
                let u = std::mem::take(slot(&mut self.users, *user));
                let Some(t) = facts.day(*user) else {
                    return;
                };
                if u.reads.is_empty() {
                    return;
                }
                let unexplained = u.reads.iter().filter(|p| !p.2).count();
                let distinct: FxHashSet<u32> = u.reads.iter().map(|p| p.1).collect();
                // One look-up with no emergency reason is worth a look (medium);
                // several protected persons in a day are what a collector does (high).
                let score = if distinct.len() >= 3 {
                    (0.85 + 0.03 * distinct.len() as f64).min(1.0)
                } else if unexplained > 0 {
                    0.7
                } else {
                    0.55
                };
                let name = facts.user_name(*user);
                let f = Finding {
                    detector: "ehr-protected",
                    about: ABOUT,
                    user: *user,
                    window: format!("day {day}"),
                    title: if distinct.len() == 1 {
                        format!(
                            "Account {name} read a protected person's record without a care relationship ({})",
                            if unexplained > 0 {
                                "no emergency reason"
                            } else {
                                "emergency reason given"
                            }
                        )
                    } else {
                        format!(
                            "Account {name} read the records of {} protected persons without a care relationship ({unexplained} reads with no emergency reason)",
                            distinct.len()
                        )
                    },
                    first: u.reads.iter().map(|p| p.0).min().unwrap_or(t.first),
                    last: u.reads.iter().map(|p| p.0).max().unwrap_or(t.last),
                    score,
                    techniques: &["T1213"],
                    patients: distinct.iter().take(20).copied().collect(),
                    count: u.reads.len() as u64,
                    evidence: vec![
                        ("protected_persons", distinct.len().to_string()),
                        ("without_emergency_reason", unexplained.to_string()),
                    ],
                    origins: t.origins.clone(),
                };
                out.push(f.alert(facts));
            }
            EhrInput::HourEnd { .. } => {}
        }
    }
}
