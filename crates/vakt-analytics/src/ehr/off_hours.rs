//! `ehr-off-hours` (T1078): reads in an hour of the day more than two hours
//! from any the user has worked in, after three days of history (hours
//! within two of a usual hour are shift variation, not off-hours).

use vakt_core::detector::Detector;
use vakt_core::Alert;

use super::{Ehr, EhrInput, Finding, slot};

/// What the detector looks for, in a line (the rule of its alerts).
const ABOUT: &str = "reads in an hour the user never worked in";

/// The hours of the day one user works in.
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
struct User {
    /// Hours of the day (bits 0-23, UTC) within two of one the user read
    /// in, over completed days.
    near_usual: u32,
}

/// Hours of the day each user works in.
#[derive(Debug, Default)]
pub struct OffHoursDetector {
    users: Vec<User>,
}

impl OffHoursDetector {
    /// An empty detector, boxed for the registry.
    pub fn boxed() -> Box<dyn Detector<Ehr>> {
        Box::new(OffHoursDetector::default())
    }
}

impl Detector<Ehr> for OffHoursDetector {
    fn name(&self) -> &'static str {
        "ehr-off-hours"
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
            EhrInput::Access(_) => {}
            EhrInput::HourEnd { facts, user, hour } => {
                let info = facts.user(*user);
                let min = facts.config().off_hours_min;
                let Some(h) = facts.hour(*user).filter(|h| h.reads() > 0) else {
                    return;
                };
                let u = slot(&mut self.users, *user);
                let hod = hour.rem_euclid(24) as usize;
                let near_usual = u.near_usual & (1 << hod) != 0;
                if !info.service && info.days_seen >= 3 && !near_usual && h.reads() >= min {
                    let reads = h.reads();
                    let f = Finding {
                        detector: "ehr-off-hours",
                        about: ABOUT,
                        user: *user,
                        window: format!("hour {hour}"),
                        title: format!(
                            "Account {} read {reads} records at {hod:02}:00-{:02}:00 UTC, an hour it never worked in over {} days",
                            info.name,
                            (hod + 1) % 24,
                            info.days_seen
                        ),
                        first: h.first,
                        last: h.last,
                        score: (0.4 + 0.05 * (reads as f64).log2()).min(0.85),
                        techniques: &["T1078"],
                        patients: h.patients.iter().take(10).copied().collect(),
                        count: reads as u64,
                        evidence: vec![
                            ("reads", reads.to_string()),
                            ("hour_utc", hod.to_string()),
                            ("days_of_history", info.days_seen.to_string()),
                        ],
                        origins: h.origins.clone(),
                    };
                    out.push(f.alert(facts));
                }
            }
            EhrInput::DayEnd { facts, user, .. } => {
                let Some(day) = facts.day(*user) else {
                    return;
                };
                let u = slot(&mut self.users, *user);
                for (hod, reads) in day.by_hour.iter().enumerate() {
                    if *reads > 0 {
                        for d in 0..5 {
                            u.near_usual |= 1 << ((hod + 22 + d) % 24);
                        }
                    }
                }
            }
        }
    }
}
