//! `ehr-service-misuse` (T1078.003, T1213): a service account (integration,
//! batch) reading records with a clinical purpose, as a person would.

use vakt_core::Alert;
use vakt_core::detector::Detector;

use super::{Ehr, EhrInput, Finding, slot};

/// What the detector looks for, in a line (the rule of its alerts).
const ABOUT: &str = "a service account reading with a clinical purpose";

#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
struct User {
    clinical: usize,
}

/// Clinical reads by service accounts, per account-day.
#[derive(Debug, Default)]
pub struct ServiceMisuseDetector {
    users: Vec<User>,
}

impl ServiceMisuseDetector {
    /// An empty detector, boxed for the registry.
    pub fn boxed() -> Box<dyn Detector<Ehr>> {
        Box::new(ServiceMisuseDetector::default())
    }
}

impl Detector<Ehr> for ServiceMisuseDetector {
    fn name(&self) -> &'static str {
        "ehr-service-misuse"
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
                if a.clinical && a.facts.user(a.user).service {
                    u.clinical += 1;
                }
            }
            EhrInput::DayEnd { facts, user, day } => {
                let u = std::mem::take(slot(&mut self.users, *user));
                let Some(t) = facts.day(*user) else {
                    return;
                };
                if u.clinical == 0 {
                    return;
                }
                let f = Finding {
                    detector: "ehr-service-misuse",
                    about: ABOUT,
                    user: *user,
                    window: format!("day {day}"),
                    title: format!(
                        "Service account {} read {} records with a clinical purpose, as a person would",
                        facts.user_name(*user),
                        u.clinical
                    ),
                    first: t.first,
                    last: t.last,
                    score: 0.75,
                    techniques: &["T1078.003", "T1213"],
                    patients: Vec::new(),
                    count: u.clinical as u64,
                    evidence: vec![("clinical_reads", u.clinical.to_string())],
                    origins: t.origins.clone(),
                };
                out.push(f.alert(facts));
            }
            EhrInput::HourEnd { .. } => {}
        }
    }
}
