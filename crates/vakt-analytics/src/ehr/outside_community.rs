//! `ehr-outside-community` (T1213): in a day, reads of patients in the care
//! of departments neither the user nor their peers treat patients of, at
//! least [`super::EhrConfig::no_relationship_min`] and half of the user's
//! reads (once the user has a community at all).

use vakt_core::Alert;
use vakt_core::detector::Detector;

use super::{Ehr, EhrInput, Finding, Span, slot, without_relationship};

/// What the detector looks for, in a line (the rule of its alerts).
const ABOUT: &str = "patients of departments neither the user nor peers treat";

#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
struct User {
    outside: usize,
    span: Span,
}

/// Reads outside the user's and peers' community, per user-day.
#[derive(Debug, Default)]
pub struct OutsideCommunityDetector {
    users: Vec<User>,
}

impl OutsideCommunityDetector {
    /// An empty detector, boxed for the registry.
    pub fn boxed() -> Box<dyn Detector<Ehr>> {
        Box::new(OutsideCommunityDetector::default())
    }
}

impl Detector<Ehr> for OutsideCommunityDetector {
    fn name(&self) -> &'static str {
        "ehr-outside-community"
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
                    if !p.inside_community {
                        u.outside += 1;
                        u.span.see(a.time);
                    }
                }
            }
            EhrInput::DayEnd { facts, user, day } => {
                let min = facts.config().no_relationship_min;
                let community = facts.user(*user).community.len();
                let u = std::mem::take(slot(&mut self.users, *user));
                let Some(t) = facts.day(*user) else {
                    return;
                };
                if u.outside >= min && u.outside * 2 >= t.reads && community > 0 {
                    let share = u.outside as f64 / t.reads.max(1) as f64;
                    let f = Finding {
                        detector: "ehr-outside-community",
                        about: ABOUT,
                        user: *user,
                        window: format!("day {day}"),
                        title: format!(
                            "Account {} read {} records of patients in the care of departments neither it nor its peers treat patients of ({:.0} % of its reads in a day)",
                            facts.user_name(*user),
                            u.outside,
                            share * 100.0
                        ),
                        first: u.span.start(),
                        last: u.span.last,
                        score: (0.4 + 0.5 * share).min(0.95),
                        techniques: &["T1213"],
                        patients: Vec::new(),
                        count: u.outside as u64,
                        evidence: vec![
                            ("outside_community", u.outside.to_string()),
                            ("reads", t.reads.to_string()),
                            ("community_departments", community.to_string()),
                        ],
                        origins: t.origins.clone(),
                    };
                    out.push(f.alert(facts));
                }
            }
            EhrInput::HourEnd { .. } => {}
        }
    }
}
