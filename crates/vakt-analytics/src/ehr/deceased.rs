//! `ehr-deceased` (T1213): in a day, reads without a care relationship of
//! patients dead for over 30 days.

use vakt_core::Alert;
use vakt_core::detector::Detector;

use super::{DAY, Ehr, EhrInput, Finding, slot, without_relationship};

/// What the detector looks for, in a line (the rule of its alerts).
const ABOUT: &str = "reads of long-deceased patients without a relationship";

#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
struct User {
    patients: Vec<u32>,
}

/// Reads of long-deceased patients, per user-day.
#[derive(Debug, Default)]
pub struct DeceasedDetector {
    users: Vec<User>,
}

impl DeceasedDetector {
    /// An empty detector, boxed for the registry.
    pub fn boxed() -> Box<dyn Detector<Ehr>> {
        Box::new(DeceasedDetector::default())
    }
}

impl Detector<Ehr> for DeceasedDetector {
    fn name(&self) -> &'static str {
        "ehr-deceased"
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
                    let pc = a.facts.patient(p.patient);
                    if pc.known
                        && pc
                            .deceased
                            .is_some_and(|d| d == i64::MIN || d < a.time - 30 * DAY)
                    {
                        u.patients.push(p.patient);
                    }
                }
            }
            EhrInput::DayEnd { facts, user, day } => {
                let u = std::mem::take(slot(&mut self.users, *user));
                let Some(t) = facts.day(*user) else {
                    return;
                };
                if u.patients.is_empty() {
                    return;
                }
                let n = u.patients.len();
                let f = Finding {
                    detector: "ehr-deceased",
                    about: ABOUT,
                    user: *user,
                    window: format!("day {day}"),
                    title: format!(
                        "Account {} read {n} deceased patients' records without a care relationship",
                        facts.user_name(*user)
                    ),
                    first: t.first,
                    last: t.last,
                    score: (0.4 + 0.1 * n as f64).min(0.8),
                    techniques: &["T1213"],
                    patients: u.patients.iter().take(20).copied().collect(),
                    count: n as u64,
                    evidence: vec![("deceased", n.to_string())],
                    origins: t.origins.clone(),
                };
                out.push(f.alert(facts));
            }
            EhrInput::HourEnd { .. } => {}
        }
    }
}
