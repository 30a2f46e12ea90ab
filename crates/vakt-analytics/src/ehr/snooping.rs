//! `ehr-snooping` (T1213): a record read without a care relationship whose
//! patient is the user themself, a colleague (the patient is staff), family
//! (same family name and address), someone of the household (same address)
//! or a neighbour (same street). Raised at once, once per user and patient.

use rustc_hash::FxHashSet;
use vakt_core::Alert;
use vakt_core::detector::Detector;

use super::{Access, Ehr, EhrInput, Finding, without_relationship};

/// What the detector looks for, in a line (the rule of its alerts).
const ABOUT: &str = "a colleague's, family member's or neighbour's record";

/// Users and patients already reported.
#[derive(Debug, Default)]
pub struct SnoopingDetector {
    reported: FxHashSet<(u32, u32)>,
}

impl SnoopingDetector {
    /// An empty detector, boxed for the registry.
    pub fn boxed() -> Box<dyn Detector<Ehr>> {
        Box::new(SnoopingDetector::default())
    }
}

/// Why a patient is someone the user knows, if they are.
fn acquaintance(a: &Access<'_>, patient: u32) -> Option<(&'static str, String)> {
    let facts = a.facts;
    let ctx = facts.context();
    let user = facts.user(a.user);
    if !facts.patient(patient).known {
        return None;
    }
    let info = ctx.patients.get(facts.patient_id(patient))?;
    let me = user.staff.as_deref().and_then(|s| ctx.staff.get(s))?;
    let colleague = info
        .nin
        .as_deref()
        .and_then(|n| facts.staff_with_nin(n))
        .filter(|s| Some(*s) != user.staff.as_deref());
    let own = info.nin.is_some() && info.nin == me.nin;
    let same_address = me.address.is_some() && me.address == info.address;
    let same_family = me.family.is_some() && me.family == info.family;
    let same_street = me.street.is_some()
        && me.street == info.street
        && (me.address.is_none() || info.postal.is_some());
    if own {
        Some((
            "own record",
            "reads the record of the user themself".to_owned(),
        ))
    } else if let Some(c) = colleague {
        let who = ctx
            .staff
            .get(c)
            .map(|s| s.user.to_string())
            .unwrap_or_default();
        Some((
            "colleague",
            format!("the patient is a colleague (account {who})"),
        ))
    } else if same_family && same_address {
        Some((
            "family",
            "same family name and address as the user".to_owned(),
        ))
    } else if same_address {
        Some(("household", "same address as the user".to_owned()))
    } else if same_street {
        Some(("neighbour", "lives on the user's street".to_owned()))
    } else {
        None
    }
}

impl Detector<Ehr> for SnoopingDetector {
    fn name(&self) -> &'static str {
        "ehr-snooping"
    }

    fn save(&self) -> Option<Result<Vec<u8>, String>> {
        Some(vakt_core::detector::save_state(&self.reported))
    }

    fn load(&mut self, state: &[u8]) -> Result<(), String> {
        self.reported = vakt_core::detector::load_state(state)?;
        Ok(())
    }

    fn observe(&mut self, input: &EhrInput<'_>, out: &mut Vec<Alert>) {
        let EhrInput::Access(a) = input else { return };
        for p in without_relationship(a) {
            let Some((kind, why)) = acquaintance(a, p.patient) else {
                continue;
            };
            if !self.reported.insert((a.user, p.patient)) {
                continue;
            }
            let f = Finding {
                detector: "ehr-snooping",
                about: ABOUT,
                user: a.user,
                window: format!("patient {}", a.facts.pseudonym(p.patient)),
                title: format!(
                    "Account {} read a record without a care relationship: {kind} ({why})",
                    a.facts.user_name(a.user)
                ),
                first: a.time,
                last: a.time,
                score: if kind == "own record" { 0.5 } else { 0.8 },
                techniques: &["T1213"],
                patients: vec![p.patient],
                count: 1,
                evidence: vec![("kind", kind.to_owned()), ("why", why)],
                origins: vec![a.event.origin.clone()],
            };
            out.push(f.alert(a.facts));
        }
    }
}
