//! `ehr-out-of-region` (T1213): in a day, two or more reads without a care
//! relationship of patients living outside the trust's home counties (those
//! where at least 1 % of its patients live).

use vakt_core::Alert;
use vakt_core::detector::Detector;

use super::{Ehr, EhrInput, Finding, slot, without_relationship};

/// What the detector looks for, in a line (the rule of its alerts).
const ABOUT: &str = "reads of patients living outside the trust's counties";

#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
struct User {
    patients: Vec<u32>,
}

/// Reads of patients from outside the trust's region, per user-day.
#[derive(Debug, Default)]
pub struct OutOfRegionDetector {
    users: Vec<User>,
}

impl OutOfRegionDetector {
    /// An empty detector, boxed for the registry.
    pub fn boxed() -> Box<dyn Detector<Ehr>> {
        Box::new(OutOfRegionDetector::default())
    }
}

impl Detector<Ehr> for OutOfRegionDetector {
    fn name(&self) -> &'static str {
        "ehr-out-of-region"
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
                // Most reads are within a care relationship: nothing to look up.
                if without_relationship(a).next().is_none() {
                    return;
                }
                let u = slot(&mut self.users, a.user);
                let Some(trust) = &a.facts.user(a.user).trust else {
                    return;
                };
                let Some(home) = a.facts.context().trust_counties.get(trust) else {
                    return;
                };
                if home.is_empty() {
                    return;
                }
                for p in without_relationship(a) {
                    let pc = a.facts.patient(p.patient);
                    if pc.known && pc.county.is_some_and(|c| !home.contains(&c)) {
                        u.patients.push(p.patient);
                    }
                }
            }
            EhrInput::DayEnd { facts, user, day } => {
                let u = std::mem::take(slot(&mut self.users, *user));
                let Some(t) = facts.day(*user) else {
                    return;
                };
                let n = u.patients.len();
                if n < 2 {
                    return;
                }
                let f = Finding {
                    detector: "ehr-out-of-region",
                    about: ABOUT,
                    user: *user,
                    window: format!("day {day}"),
                    title: format!(
                        "Account {} read {n} records of patients living outside the trust's region, without a care relationship",
                        facts.user_name(*user)
                    ),
                    first: t.first,
                    last: t.last,
                    score: (0.3 + 0.05 * n as f64).min(0.7),
                    techniques: &["T1213"],
                    patients: u.patients.iter().take(20).copied().collect(),
                    count: n as u64,
                    evidence: vec![("outside_region", n.to_string())],
                    origins: t.origins.clone(),
                };
                out.push(f.alert(facts));
            }
            EhrInput::HourEnd { .. } => {}
        }
    }
}
