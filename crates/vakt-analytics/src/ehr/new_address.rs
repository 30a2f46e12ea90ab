//! `ehr-new-address` (T1078): a known user (a day of history or more)
//! working from a network address never seen for them, with reads without a
//! care relationship from there.

use std::net::IpAddr;

use rustc_hash::FxHashMap;
use vakt_core::detector::Detector;
use vakt_core::{Alert, Origin};

use super::{Ehr, EhrInput, Finding, slot, without_relationship};

/// What the detector looks for, in a line (the rule of its alerts).
const ABOUT: &str = "work from a new address, with reads without a relationship";

#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
struct User {
    /// New addresses today: first use, reads without relationship, where.
    addresses: FxHashMap<IpAddr, (i64, usize, Origin)>,
    last: i64,
}

/// New addresses with reads without relationship, per user-day.
#[derive(Debug, Default)]
pub struct NewAddressDetector {
    users: Vec<User>,
}

impl NewAddressDetector {
    /// An empty detector, boxed for the registry.
    pub fn boxed() -> Box<dyn Detector<Ehr>> {
        Box::new(NewAddressDetector::default())
    }
}

impl Detector<Ehr> for NewAddressDetector {
    fn name(&self) -> &'static str {
        "ehr-new-address"
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
                u.last = a.time;
                let Some(ip) = a.new_address else { return };
                for _ in without_relationship(a) {
                    let entry = u
                        .addresses
                        .entry(ip)
                        .or_insert_with(|| (a.time, 0, a.event.origin.clone()));
                    entry.1 += 1;
                }
            }
            EhrInput::DayEnd { facts, user, day } => {
                let info = facts.user(*user);
                let u = std::mem::take(slot(&mut self.users, *user));
                let mut found: Vec<(IpAddr, (i64, usize, Origin))> =
                    u.addresses.into_iter().collect();
                found.sort_by_key(|(ip, (t, _, _))| (*t, *ip));
                for (ip, (t, n, origin)) in found {
                    if n == 0 {
                        continue;
                    }
                    let f = Finding {
                        detector: "ehr-new-address",
                        about: ABOUT,
                        user: *user,
                        window: format!("day {day} {ip}"),
                        title: format!(
                            "Account {} worked from {ip}, an address never seen for it in {} days, and read {n} records without a care relationship from there",
                            info.name, info.days_seen
                        ),
                        first: t,
                        last: u.last,
                        score: (0.45 + 0.05 * (n as f64).log2()).min(0.85),
                        techniques: &["T1078"],
                        patients: Vec::new(),
                        count: n as u64,
                        evidence: vec![
                            ("address", ip.to_string()),
                            ("reads_without_relationship", n.to_string()),
                        ],
                        origins: vec![origin],
                    };
                    out.push(f.alert(facts));
                }
            }
            EhrInput::HourEnd { .. } => {}
        }
    }
}
