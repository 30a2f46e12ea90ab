//! `ehr-no-relationship` (T1213): in a day, reads of patients the user has
//! no care relationship with, not explained by an emergency purpose or an
//! emergency department — at least [`super::EhrConfig::no_relationship_min`]
//! and [`super::EhrConfig::no_relationship_share`] of the user's reads. The
//! finding starts when such reads began in earnest (their onset).

use vakt_core::Alert;
use vakt_core::detector::Detector;

use super::{Ehr, EhrInput, Finding, Span, slot, without_relationship};

/// What the detector looks for, in a line (the rule of its alerts).
const ABOUT: &str = "reads without a care relationship or an emergency reason";

/// Unexplained reads kept per user-day.
const MAX_KEPT: usize = 100_000;

#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
struct User {
    unexplained: Vec<u32>,
    explained: usize,
    span: Span,
}

/// Reads without a care relationship, per user-day.
#[derive(Debug, Default)]
pub struct NoRelationshipDetector {
    users: Vec<User>,
}

impl NoRelationshipDetector {
    /// An empty detector, boxed for the registry.
    pub fn boxed() -> Box<dyn Detector<Ehr>> {
        Box::new(NoRelationshipDetector::default())
    }
}

impl Detector<Ehr> for NoRelationshipDetector {
    fn name(&self) -> &'static str {
        "ehr-no-relationship"
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
                    if p.explained {
                        u.explained += 1;
                    } else if u.unexplained.len() < MAX_KEPT {
                        u.unexplained.push(p.patient);
                        u.span.see(a.time);
                    }
                }
            }
            EhrInput::DayEnd { facts, user, day } => {
                let cfg = facts.config();
                let u = std::mem::take(slot(&mut self.users, *user));
                let Some(t) = facts.day(*user) else {
                    return;
                };
                let n = u.unexplained.len();
                if n >= cfg.no_relationship_min
                    && n as f64 >= cfg.no_relationship_share * t.reads as f64
                {
                    let share = n as f64 / t.reads.max(1) as f64;
                    let f = Finding {
                        detector: "ehr-no-relationship",
                        about: ABOUT,
                        user: *user,
                        window: format!("day {day}"),
                        title: format!(
                            "Account {} read {n} patients' records without a care relationship or an emergency reason in a day ({:.0} % of its reads)",
                            facts.user_name(*user),
                            share * 100.0
                        ),
                        first: u.span.start(),
                        last: u.span.last,
                        score: (0.5 + 0.5 * share).min(1.0)
                            * (0.7 + 0.3 * ((n as f64).log10() / 3.0).min(1.0)),
                        techniques: &["T1213"],
                        patients: u.unexplained.iter().take(20).copied().collect(),
                        count: n as u64,
                        evidence: vec![
                            ("without_relationship", n.to_string()),
                            ("explained_by_emergency", u.explained.to_string()),
                            ("reads", t.reads.to_string()),
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
