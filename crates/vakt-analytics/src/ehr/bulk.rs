//! `ehr-bulk`: distinct patients in an hour far above the user's own largest
//! earlier hour and their peers' (same role and department) 95th
//! percentile. An hour found to be bulk is an anomaly, not part of anyone's
//! baseline.

use vakt_core::detector::Detector;
use vakt_core::Alert;

use super::{Ehr, EhrInput, Finding, slot};

/// What the detector looks for, in a line (the rule of its alerts).
const ABOUT: &str = "far more patients in an hour than the user and their peers read";

/// A peer group's hourly distinct-patient counts (a histogram, capped at 1,000).
#[derive(Debug, Default, Clone, serde::Serialize, serde::Deserialize)]
struct Peers {
    hist: Vec<u32>,
    hours: u64,
}

impl Peers {
    fn add(&mut self, n: usize) {
        let n = n.min(1000);
        if self.hist.len() <= n {
            self.hist.resize(n + 1, 0);
        }
        self.hist[n] += 1;
        self.hours += 1;
    }

    fn p95(&self) -> usize {
        if self.hours == 0 {
            return 0;
        }
        let want = (self.hours as f64 * 0.95).ceil() as u64;
        let mut seen = 0u64;
        for (n, c) in self.hist.iter().enumerate() {
            seen += u64::from(*c);
            if seen >= want {
                return n;
            }
        }
        self.hist.len().saturating_sub(1)
    }
}

/// One user's history.
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
struct User {
    /// Largest distinct patients in an earlier hour.
    max_hour: usize,
    /// Hours with reads closed so far.
    hours_closed: u32,
}

/// Distinct patients per user-hour against the user's and the peers' history.
#[derive(Debug, Default)]
pub struct BulkDetector {
    users: Vec<User>,
    peers: Vec<Peers>,
}

impl BulkDetector {
    /// An empty detector, boxed for the registry.
    pub fn boxed() -> Box<dyn Detector<Ehr>> {
        Box::new(BulkDetector::default())
    }
}

impl Detector<Ehr> for BulkDetector {
    fn name(&self) -> &'static str {
        "ehr-bulk"
    }

    fn save(&self) -> Option<Result<Vec<u8>, String>> {
        Some(vakt_core::detector::save_state(&(&self.users, &self.peers)))
    }

    fn load(&mut self, state: &[u8]) -> Result<(), String> {
        let (users, peers) = vakt_core::detector::load_state(state)?;
        self.users = users;
        self.peers = peers;
        Ok(())
    }

    fn observe(&mut self, input: &EhrInput<'_>, out: &mut Vec<Alert>) {
        match input {
            EhrInput::Access(_) | EhrInput::DayEnd { .. } => {}
            EhrInput::HourEnd { facts, user, .. } => {
                let cfg = facts.config();
                let info = facts.user(*user);
                let Some(h) = facts.hour(*user).filter(|h| h.reads() > 0) else {
                    return;
                };
                let u = slot(&mut self.users, *user);
                let n = h.patients.len();
                let mut bulk = false;
                if !info.service {
                    // Each baseline counts once it has some: three closed
                    // hours of the user's own, a day's worth of the peer
                    // group's; with neither, three times the floor.
                    let peer_p95 = info
                        .peer
                        .and_then(|p| self.peers.get(p as usize))
                        .filter(|p| p.hours >= 24)
                        .map_or(0, Peers::p95);
                    let own = if u.hours_closed >= 3 { u.max_hour } else { 0 };
                    let baseline = own.max(peer_p95);
                    let bar = if baseline == 0 {
                        3.0 * cfg.bulk_min as f64
                    } else {
                        (cfg.bulk_factor * baseline as f64).max(cfg.bulk_min as f64)
                    };
                    if n >= cfg.bulk_min && n as f64 >= bar {
                        bulk = true;
                        let ratio = n as f64 / baseline.max(cfg.bulk_min / 3).max(1) as f64;
                        let f = Finding {
                            detector: "ehr-bulk",
                            about: ABOUT,
                            user: *user,
                            window: format!("hour {}", h.first.div_euclid(super::HOUR)),
                            title: format!(
                                "Account {} read {n} patients' records in an hour (own largest hour before: {own}; peers' 95th percentile: {peer_p95})",
                                info.name
                            ),
                            first: h.first,
                            last: h.last,
                            score: (0.5 + 0.1 * ratio.log2()).min(1.0),
                            techniques: &["T1213"],
                            patients: h.patients.iter().take(20).copied().collect(),
                            count: h.reads() as u64,
                            evidence: vec![
                                ("patients", n.to_string()),
                                ("reads", h.reads().to_string()),
                                ("own_max_hour", own.to_string()),
                                ("peer_p95_hour", peer_p95.to_string()),
                            ],
                            origins: h.origins.clone(),
                        };
                        out.push(f.alert(facts));
                    }
                }
                if !bulk {
                    u.max_hour = u.max_hour.max(n);
                    if let Some(p) = info.peer {
                        slot(&mut self.peers, p).add(n);
                    }
                }
                u.hours_closed += 1;
            }
        }
    }
}
