//! What the CERT knows about a trust's care: patients, staff and their
//! departments, care relationships, the register of protected persons — the
//! context that the EHR access detectors judge an access by and that breach
//! scoping counts exposed patients with. Loading it is [`crate::fhir`]'s job.

use std::path::PathBuf;

use rustc_hash::{FxHashMap, FxHashSet};

/// One problem in the context, with where it was.
#[derive(Debug, Clone, PartialEq)]
pub struct ContextProblem {
    /// The file.
    pub path: PathBuf,
    /// Line (NDJSON, CSV) or Bundle entry, from 1; 0 for the whole file.
    pub at: u64,
    /// What was wrong.
    pub reason: String,
}

impl std::fmt::Display for ContextProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}: {}", self.path.display(), self.at, self.reason)
    }
}

/// A patient.
#[derive(Debug, Clone, Default)]
pub struct PatientInfo {
    /// National identity number (validated).
    pub nin: Option<Box<str>>,
    /// Family name, lower case.
    pub family: Option<Box<str>>,
    /// Home address line (street and number), lower case.
    pub address: Option<Box<str>>,
    /// The street alone (the line without its number), lower case.
    pub street: Option<Box<str>>,
    /// Postal code.
    pub postal: Option<Box<str>>,
    /// Municipality number (four digits; the first two are the county).
    pub municipality: Option<u16>,
    /// When the patient died (ns), if known; `Some(i64::MIN)` when only known to be dead.
    pub deceased: Option<i64>,
    /// The trust (organisation id) holding the record.
    pub trust: Option<Box<str>>,
    /// Birth date as FHIR writes it (`YYYY-MM-DD`, or shorter).
    pub birth: Option<Box<str>>,
    /// The record is marked restricted or very restricted (`meta.security`
    /// confidentiality `R`/`V`: a restricted address, for instance).
    pub restricted: bool,
}

/// A member of staff (or a service account).
#[derive(Debug, Clone, Default)]
pub struct StaffInfo {
    /// User name.
    pub user: Box<str>,
    /// Role code (`physician`, `nurse`, `researcher`, `service`, …), lower case.
    pub role: Option<Box<str>>,
    /// Department (organisation id).
    pub department: Option<Box<str>>,
    /// National identity number, when the staff record has one.
    pub nin: Option<Box<str>>,
    /// Family name, lower case.
    pub family: Option<Box<str>>,
    /// Home address line, lower case.
    pub address: Option<Box<str>>,
    /// The street alone, lower case.
    pub street: Option<Box<str>>,
}

impl StaffInfo {
    /// A service account (role `service`, or a user name starting `svc`).
    pub fn is_service(&self) -> bool {
        self.role.as_deref() == Some("service") || self.user.starts_with("svc")
    }
}

/// An organisation (a trust or one of its departments).
#[derive(Debug, Clone, Default)]
pub struct OrgInfo {
    /// Its name.
    pub name: Box<str>,
    /// The organisation it is part of.
    pub part_of: Option<Box<str>>,
    /// An emergency department.
    pub emergency: bool,
}

/// A care relationship: a patient in the care of a department, a team or named staff for a period.
#[derive(Debug, Clone)]
pub struct Care {
    /// The resource it came from (`Encounter/e1`), so that an update replaces it.
    pub id: Option<Box<str>>,
    /// From (ns).
    pub from: i64,
    /// To (ns; `i64::MAX` while open).
    pub to: i64,
    /// The department in charge.
    pub department: Option<Box<str>>,
    /// Named staff (practitioner ids) and teams' members.
    pub staff: Vec<Box<str>>,
}

/// The trust's context.
#[derive(Debug, Default, Clone)]
pub struct EhrContext {
    /// Patients by id (`p0000001`, without `Patient/`).
    pub patients: FxHashMap<Box<str>, PatientInfo>,
    /// Identity number → patient id.
    pub nin_to_patient: FxHashMap<Box<str>, Box<str>>,
    /// Staff by practitioner id.
    pub staff: FxHashMap<Box<str>, StaffInfo>,
    /// User name → practitioner id.
    pub user_to_staff: FxHashMap<Box<str>, Box<str>>,
    /// Organisations by id.
    pub orgs: FxHashMap<Box<str>, OrgInfo>,
    /// Care relationships per patient id.
    pub care: FxHashMap<Box<str>, Vec<Care>>,
    /// Department teams: department id → members (practitioner ids).
    pub teams: FxHashMap<Box<str>, FxHashSet<Box<str>>>,
    /// Any identifier value of a practitioner or organisation → its id (logical references).
    pub identifiers: FxHashMap<Box<str>, Box<str>>,
    /// Protected persons: patient id → category.
    pub protected: FxHashMap<Box<str>, Box<str>>,
    /// Each trust's home counties (those where at least 1 % of its patients live).
    pub trust_counties: FxHashMap<Box<str>, FxHashSet<u8>>,
    /// What could not be used.
    pub problems: Vec<ContextProblem>,
    /// Files passed over: not FHIR resources, or events rather than context.
    pub skipped: Vec<PathBuf>,
    /// Resources loaded, by type.
    pub loaded: std::collections::BTreeMap<String, usize>,
}

impl EhrContext {
    /// The trust an organisation belongs to (itself when it is part of none).
    pub fn trust_of(&self, org: &str) -> Box<str> {
        let mut cur: &str = org;
        for _ in 0..8 {
            match self.orgs.get(cur).and_then(|o| o.part_of.as_deref()) {
                Some(up) => cur = up,
                None => break,
            }
        }
        cur.into()
    }

    /// How a member of staff is related to a patient at time `t` (ns):
    /// named on, or on the team of, a care relationship of the patient, or in
    /// the department in charge; relationships count from a day before they
    /// start to `after` ns after they end.
    pub fn relationship(&self, staff: &str, patient: &str, t: i64, after: i64) -> Relation {
        const DAY: i64 = 86_400 * 1_000_000_000;
        let Some(cares) = self.care.get(patient) else {
            return Relation::None;
        };
        let dept = self.staff.get(staff).and_then(|s| s.department.as_deref());
        let mut best = Relation::None;
        for c in cares {
            if t < c.from.saturating_sub(DAY) || t > c.to.saturating_add(after) {
                continue;
            }
            if c.staff.iter().any(|s| &**s == staff) {
                return Relation::Named;
            }
            if let (Some(d), Some(cd)) = (dept, c.department.as_deref())
                && (d == cd || self.teams.get(cd).is_some_and(|m| m.contains(staff)))
            {
                best = Relation::Department;
            }
        }
        best
    }
}

/// What a resource learned while streaming changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Learned {
    /// One patient's record or care relationships.
    Patient(Box<str>),
    /// Staff, their roles, departments or teams.
    Staff,
    /// Nothing the detectors use.
    Nothing,
}

/// How a user is related to a patient.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Relation {
    /// Named on the patient's care (encounter participant, care team member, care manager).
    Named,
    /// In the department in charge of the patient's care.
    Department,
    /// No care relationship.
    None,
}
