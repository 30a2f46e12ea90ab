//! EHR access analytics over FHIR AuditEvents: what an attacker with a
//! stolen clinician's account, or a curious insider, looks like inside the
//! record system.
//!
//! Detectors (names as in [`Alert::detector`]), each finding naming the
//! account, the patients as pseudonyms only, why it is anomalous, and a score:
//!
//! | detector | what | unit |
//! |---|---|---|
//! | `ehr-no-relationship` | reads of patients the user has no care relationship with, not explained by an emergency purpose (`ETREAT`, `BTG`) or an emergency department: at least [`EhrConfig::no_relationship_min`] in a day and at least [`EhrConfig::no_relationship_share`] of the user's reads | user, day |
//! | `ehr-bulk` | distinct patients in an hour at least [`EhrConfig::bulk_factor`] times the user's own largest earlier hour and their peers' (same role and department) 95th percentile, and at least [`EhrConfig::bulk_min`] (three times that with no history at all) | user, hour |
//! | `ehr-outside-community` | reads of patients in the care of departments neither the user nor their peers treat patients of (the community: departments whose patients they read with a care relationship), at least [`EhrConfig::no_relationship_min`] and half of the user's reads in a day | user, day |
//! | `ehr-protected` | a protected person's record read without a care relationship (medium without an emergency reason, high for three or more in a day) | user, day |
//! | `ehr-snooping` | without a relationship: a colleague's record (the patient is staff), a family member's (same family name and address as the user) or a neighbour's (same street) | user, patient |
//! | `ehr-off-hours` | reads in an hour of the day more than two hours from any the user has worked in (after three days of history) | user, hour |
//! | `ehr-new-address` | a known user working from a network address never seen for them, with reads without a relationship | user, address |
//! | `ehr-scripted` | a person's account reading like a script: many reads in an hour at regular intervals | user, hour |
//! | `ehr-service-misuse` | a service account reading with a clinical purpose, or from a new address | user, day |
//! | `ehr-bulk-export` | one search or export returning very many patients, other than an approved research export (role `researcher`, purpose `HRESCH`) | event |
//! | `ehr-deceased` | reads of patients dead for over 30 days, without a relationship | user, day |
//! | `ehr-out-of-region` | reads of patients living outside the trust's home counties, without a relationship | user, day |
//!
//! State is kept per user (hourly and daily counters, usual hours, addresses
//! seen) and per peer group (a histogram of hourly distinct patients), so
//! memory grows with users, not with events. Patients are never shown in
//! clear: [`vakt_core::pseudo::Pseudonymiser`] turns each into a pseudonym
//! when a finding is written.

pub mod context;

use std::net::IpAddr;
use std::sync::Arc;

use rustc_hash::{FxHashMap, FxHashSet};
use vakt_core::field::{
    ACTOR_USER_NAME, ACTOR_USER_UID, API_OPERATION, PATIENT_UID, PURPOSE_OF_USE, SRC_IP,
};
use vakt_core::pseudo::Pseudonymiser;
use vakt_core::{Alert, Entity, Event, Origin, Severity, Timestamp, Value};

pub use context::{EhrContext, Relation};

const NS: i64 = 1_000_000_000;
const HOUR: i64 = 3_600 * NS;
const DAY: i64 = 24 * HOUR;

/// The detectors' names.
pub const DETECTORS: &[&str] = &[
    "ehr-no-relationship",
    "ehr-bulk",
    "ehr-outside-community",
    "ehr-protected",
    "ehr-snooping",
    "ehr-off-hours",
    "ehr-new-address",
    "ehr-scripted",
    "ehr-service-misuse",
    "ehr-bulk-export",
    "ehr-deceased",
    "ehr-out-of-region",
];

/// Thresholds.
#[derive(Debug, Clone)]
pub struct EhrConfig {
    /// A care relationship still counts this long after it ends (ns).
    pub relationship_after: i64,
    /// Unexplained reads without a relationship in a day before it is a finding.
    pub no_relationship_min: usize,
    /// … and their least share of the user's reads that day.
    pub no_relationship_share: f64,
    /// Distinct patients in an hour before bulk access is considered.
    pub bulk_min: usize,
    /// … and how many times the user's own largest earlier hour and the peers' 95th percentile.
    pub bulk_factor: f64,
    /// Patients in one search or export that make it a bulk export.
    pub export_min: usize,
    /// Reads in an hour before off-hours work counts.
    pub off_hours_min: usize,
    /// Reads in an hour before script-like regularity is looked at.
    pub scripted_min: usize,
}

impl Default for EhrConfig {
    fn default() -> Self {
        EhrConfig {
            relationship_after: 30 * DAY,
            no_relationship_min: 10,
            no_relationship_share: 0.25,
            bulk_min: 30,
            bulk_factor: 4.0,
            export_min: 100,
            off_hours_min: 5,
            scripted_min: 40,
        }
    }
}

/// Purposes that explain reading a record without a recorded relationship.
const EMERGENCY_PURPOSES: [&str; 3] = ["ETREAT", "BTG", "ERTREAT"];

#[derive(Debug, Default)]
struct Day {
    day: i64,
    reads: usize,
    unexplained: Vec<u32>,
    explained_no_rel: usize,
    protected: Vec<(i64, u32, bool)>,
    deceased: Vec<u32>,
    out_of_region: Vec<u32>,
    clinical_service: usize,
    outside_community: usize,
    first: i64,
    last: i64,
    /// When reads without a care relationship (unexplained, and outside the community) began in earnest.
    unexplained_span: Span,
    outside_span: Span,
    origins: Vec<Origin>,
}

/// When something was seen: first and last, and the onset — the first
/// time it was seen three times within an hour (a burst stands out from a
/// day's scattered reads; without a burst, the first time).
#[derive(Debug, Default, Clone)]
struct Span {
    first: i64,
    last: i64,
    onset: Option<i64>,
    recent: [i64; 2],
    seen: usize,
}

impl Span {
    fn see(&mut self, t: i64) {
        if self.seen == 0 || t < self.first {
            self.first = t;
        }
        self.last = self.last.max(t);
        if self.onset.is_none() && self.seen >= 2 && t - self.recent[0] <= HOUR {
            self.onset = Some(self.recent[0]);
        }
        self.recent = [self.recent[1], t];
        self.seen += 1;
    }

    fn start(&self) -> i64 {
        self.onset.unwrap_or(self.first)
    }
}

#[derive(Debug, Default)]
struct Hour {
    hour: i64,
    patients: FxHashSet<u32>,
    times: Vec<i64>,
    origins: Vec<Origin>,
}

#[derive(Debug, Default)]
struct User {
    name: Box<str>,
    staff: Option<Box<str>>,
    /// The user's department, and the departments whose teams they are on (interned).
    depts: Vec<u32>,
    peer: Option<u32>,
    service: bool,
    emergency_dept: bool,
    trust: Option<Box<str>>,
    /// Reads per hour of day, over completed days.
    usual: [u32; 24],
    days_seen: u32,
    today_hours: [u32; 24],
    /// Largest distinct patients in an earlier hour.
    max_hour: usize,
    /// Hours with reads closed so far.
    hours_closed: u32,
    /// The departments whose patients the user treats (read with a relationship).
    community: FxHashSet<u32>,
    addresses: FxHashMap<IpAddr, i64>,
    new_addresses: FxHashMap<IpAddr, (i64, usize, Origin)>,
    hour: Hour,
    day: Day,
}

/// A peer group's hourly distinct-patient counts (a histogram, capped at 1,000).
#[derive(Debug, Default, Clone)]
struct Peers {
    hist: Vec<u32>,
    hours: u64,
    /// The departments whose patients the group treats.
    community: FxHashSet<u32>,
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

/// A finding before pseudonymisation (patients by index).
#[derive(Debug)]
struct Finding {
    detector: &'static str,
    user: u32,
    title: String,
    first: i64,
    last: i64,
    score: f64,
    techniques: Vec<&'static str>,
    patients: Vec<u32>,
    evidence: Vec<(&'static str, String)>,
    origins: Vec<Origin>,
}

/// A care relationship with its department interned.
#[derive(Debug)]
struct CareC {
    from: i64,
    to: i64,
    dept: u32,
    staff: Vec<Box<str>>,
}

/// What the detectors need of a patient, looked up once.
#[derive(Debug, Default)]
struct PatientC {
    cares: Vec<CareC>,
    known: bool,
    protected: bool,
    deceased: Option<i64>,
    county: Option<u8>,
}

const NO_DEPT: u32 = u32::MAX;

/// The EHR access detectors.
#[derive(Debug)]
pub struct EhrAnalytics {
    ctx: Arc<EhrContext>,
    cfg: EhrConfig,
    users: Vec<User>,
    user_ids: FxHashMap<Box<str>, u32>,
    patient_ids: FxHashMap<Box<str>, u32>,
    patient_names: Vec<Box<str>>,
    patient_cache: Vec<PatientC>,
    dept_ids: FxHashMap<Box<str>, u32>,
    /// Reused per event.
    scratch: Vec<u32>,
    peers: Vec<Peers>,
    peer_ids: FxHashMap<(Box<str>, Box<str>), u32>,
    /// Staff identity number → practitioner id (for co-worker look-ups).
    staff_by_nin: FxHashMap<Box<str>, Box<str>>,
    snooped: FxHashSet<(u32, u32)>,
    findings: Vec<Finding>,
    /// Reads counted as approved research exports (not judged).
    pub approved_research: u64,
    /// AuditEvents seen.
    pub events: u64,
    /// AuditEvents with no user or no patient (not judged).
    pub unattributed: u64,
    /// Patients named by an identity number that fails validation (bad input).
    pub invalid_identity_numbers: u64,
}

fn bare(r: &str) -> &str {
    r.rsplit('/').next().unwrap_or(r)
}

fn severity(score: f64) -> Severity {
    if score >= 0.9 {
        Severity::High
    } else if score >= 0.6 {
        Severity::Medium
    } else {
        Severity::Low
    }
}

fn push_origin(v: &mut Vec<Origin>, o: &Origin) {
    if v.len() < 3 {
        v.push(o.clone());
    }
}

impl EhrAnalytics {
    /// Detectors over this context.
    pub fn new(ctx: Arc<EhrContext>, cfg: EhrConfig) -> Self {
        let staff_by_nin = ctx
            .staff
            .iter()
            .filter_map(|(id, s)| s.nin.clone().map(|n| (n, id.clone())))
            .collect();
        EhrAnalytics {
            ctx,
            cfg,
            users: Vec::new(),
            user_ids: FxHashMap::default(),
            patient_ids: FxHashMap::default(),
            patient_names: Vec::new(),
            patient_cache: Vec::new(),
            dept_ids: FxHashMap::default(),
            scratch: Vec::new(),
            peers: Vec::new(),
            peer_ids: FxHashMap::default(),
            staff_by_nin,
            snooped: FxHashSet::default(),
            findings: Vec::new(),
            approved_research: 0,
            events: 0,
            unattributed: 0,
            invalid_identity_numbers: 0,
        }
    }

    fn dept(&mut self, d: Option<&str>) -> u32 {
        let Some(d) = d else { return NO_DEPT };
        if let Some(i) = self.dept_ids.get(d) {
            return *i;
        }
        let i = self.dept_ids.len() as u32;
        self.dept_ids.insert(d.into(), i);
        i
    }

    fn patient(&mut self, id: &str) -> u32 {
        if let Some(i) = self.patient_ids.get(id) {
            return *i;
        }
        // An AuditEvent may name the patient by identity number: the record
        // it belongs to, when the context knows it; a number that fails its
        // check digits is counted as bad input (and still judged as given).
        if vakt_core::nin::looks_like(id) {
            if vakt_core::nin::validate(id).is_err() {
                self.invalid_identity_numbers += 1;
            } else if let Some(pid) = self.ctx.nin_to_patient.get(id).cloned() {
                let i = self.patient(&pid);
                self.patient_ids.insert(id.into(), i);
                return i;
            }
        }
        let i = self.patient_names.len() as u32;
        self.patient_names.push(id.into());
        self.patient_ids.insert(id.into(), i);
        let cache = self.cache_of(id);
        self.patient_cache.push(cache);
        i
    }

    fn cache_of(&mut self, id: &str) -> PatientC {
        let ctx = Arc::clone(&self.ctx);
        let info = ctx.patients.get(id);
        let cares = ctx
            .care
            .get(id)
            .map(|cs| {
                cs.iter()
                    .map(|c| CareC {
                        from: c.from,
                        to: c.to,
                        dept: self.dept(c.department.as_deref()),
                        staff: c.staff.clone(),
                    })
                    .collect()
            })
            .unwrap_or_default();
        PatientC {
            cares,
            known: info.is_some(),
            protected: ctx.protected.contains_key(id),
            deceased: info.and_then(|p| p.deceased),
            county: info.and_then(|p| p.municipality).map(|m| (m / 100) as u8),
        }
    }

    /// Streaming: takes a context resource arriving after the load (a new or
    /// updated Encounter, EpisodeOfCare, CareTeam, Patient, Practitioner,
    /// PractitionerRole or Organization) and refreshes what depends on it;
    /// later accesses are judged with it.
    pub fn learn(&mut self, resource: &serde_json::Value) -> Result<(), String> {
        match Arc::make_mut(&mut self.ctx).learn(resource)? {
            context::Learned::Patient(p) => {
                if let Some(i) = self.patient_ids.get(&*p).copied() {
                    self.patient_cache[i as usize] = self.cache_of(&p);
                }
            }
            context::Learned::Staff => {
                self.staff_by_nin = self
                    .ctx
                    .staff
                    .iter()
                    .filter_map(|(id, s)| s.nin.clone().map(|n| (n, id.clone())))
                    .collect();
                for u in 0..self.users.len() {
                    self.refresh_user(u);
                }
            }
            context::Learned::Nothing => {}
        }
        Ok(())
    }

    /// A user's department, teams, trust and kind, from the context.
    fn refresh_user(&mut self, u: usize) {
        let ctx = Arc::clone(&self.ctx);
        let Some(sid) = self.users[u].staff.clone() else {
            return;
        };
        let info = ctx.staff.get(&sid);
        let dept = info.and_then(|s| s.department.clone());
        let mut depts = vec![self.dept(dept.as_deref())];
        let teams: Vec<Box<str>> = ctx
            .teams
            .iter()
            .filter(|(_, m)| m.contains(&sid))
            .map(|(d, _)| d.clone())
            .collect();
        for d in teams {
            depts.push(self.dept(Some(&d)));
        }
        depts.retain(|d| *d != NO_DEPT);
        let user = &mut self.users[u];
        user.depts = depts;
        user.emergency_dept = dept
            .as_deref()
            .and_then(|d| ctx.orgs.get(d))
            .is_some_and(|o| o.emergency);
        user.trust = dept.as_deref().map(|d| ctx.trust_of(d));
        user.service = user.service || info.is_some_and(|s| s.is_service());
    }

    fn user(&mut self, uid: &str, name: Option<&str>) -> u32 {
        if let Some(i) = self.user_ids.get(uid) {
            return *i;
        }
        let ctx = &self.ctx;
        let key = bare(uid);
        let staff = if ctx.staff.contains_key(key) {
            Some(Box::<str>::from(key))
        } else {
            ctx.user_to_staff
                .get(key)
                .cloned()
                .or_else(|| name.and_then(|n| ctx.user_to_staff.get(n).cloned()))
        };
        let info = staff.as_deref().and_then(|s| ctx.staff.get(s));
        let display: Box<str> = info
            .map(|s| s.user.clone())
            .unwrap_or_else(|| name.unwrap_or(key).into());
        let dept = info.and_then(|s| s.department.clone());
        let role = info.and_then(|s| s.role.clone());
        let peer = match (&role, &dept) {
            (Some(r), Some(d)) => {
                let k = (r.clone(), d.clone());
                let next = self.peers.len() as u32;
                let id = *self.peer_ids.entry(k).or_insert(next);
                if id == next {
                    self.peers.push(Peers::default());
                }
                Some(id)
            }
            _ => None,
        };
        let user = User {
            name: display,
            service: info.is_some_and(|s| s.is_service())
                || key.starts_with("svc")
                || name.is_some_and(|n| n.starts_with("svc")),
            emergency_dept: dept
                .as_deref()
                .and_then(|d| ctx.orgs.get(d))
                .is_some_and(|o| o.emergency),
            trust: dept.as_deref().map(|d| ctx.trust_of(d)),
            staff,
            peer,
            hour: Hour {
                hour: i64::MIN,
                ..Default::default()
            },
            day: Day {
                day: i64::MIN,
                ..Default::default()
            },
            ..Default::default()
        };
        let i = self.users.len() as u32;
        self.users.push(user);
        self.user_ids.insert(uid.into(), i);
        self.refresh_user(i as usize);
        i
    }

    /// Takes one event (anything but a FHIR AuditEvent is ignored).
    pub fn observe(&mut self, e: &Event) {
        if &*e.source != "fhir:AuditEvent" {
            return;
        }
        self.events += 1;
        let uid = match e.common(ACTOR_USER_UID).and_then(Value::as_str) {
            Some(u) => u,
            None => match e.common(ACTOR_USER_NAME).and_then(Value::as_str) {
                Some(n) => n,
                None => {
                    self.unattributed += 1;
                    return;
                }
            },
        };
        let patients = e.common(PATIENT_UID);
        let n_patients = match patients {
            Some(Value::Str(_)) => 1,
            Some(Value::List(items)) => items.iter().filter(|v| v.as_str().is_some()).count(),
            _ => 0,
        };
        if n_patients == 0 {
            self.unattributed += 1;
            return;
        }
        let name = e.common(ACTOR_USER_NAME).and_then(Value::as_str);
        let u = self.user(uid, name);
        let t = e.time.0;
        let purposes = e.common(PURPOSE_OF_USE);
        let has_purpose = |want: &[&str]| match purposes {
            Some(Value::Str(s)) => want.contains(&s.as_str()),
            Some(Value::List(items)) => items
                .iter()
                .filter_map(Value::as_str)
                .any(|p| want.contains(&p)),
            _ => false,
        };
        let op = e
            .common(API_OPERATION)
            .and_then(Value::as_str)
            .unwrap_or("");
        let research = has_purpose(&["HRESCH"])
            && self.users[u as usize]
                .staff
                .as_deref()
                .and_then(|s| self.ctx.staff.get(s))
                .and_then(|s| s.role.as_deref())
                == Some("researcher");
        if research {
            self.approved_research += n_patients as u64;
            return;
        }
        let mut ids = std::mem::take(&mut self.scratch);
        ids.clear();
        match patients {
            Some(Value::Str(p)) => ids.push(self.patient(bare(p))),
            Some(Value::List(items)) => {
                for p in items.iter().filter_map(Value::as_str) {
                    ids.push(self.patient(bare(p)));
                }
            }
            _ => {}
        }
        // One search or export returning very many patients.
        if ids.len() >= self.cfg.export_min {
            let user = &self.users[u as usize];
            let score =
                (0.6 + 0.1 * (ids.len() as f64 / self.cfg.export_min as f64).log2()).min(1.0);
            let purpose_text = match purposes {
                Some(Value::Str(s)) => s.to_string(),
                Some(Value::List(items)) => items
                    .iter()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join(","),
                _ => String::new(),
            };
            self.findings.push(Finding {
                detector: "ehr-bulk-export",
                user: u,
                title: format!(
                    "Account {} {} {} patients in one request ({})",
                    user.name,
                    if op == "export" {
                        "exported"
                    } else {
                        "retrieved"
                    },
                    ids.len(),
                    if op.is_empty() {
                        "operation unknown"
                    } else {
                        op
                    }
                ),
                first: t,
                last: t,
                score,
                techniques: vec!["T1213", "T1530"],
                patients: ids.iter().take(20).copied().collect(),
                evidence: vec![
                    ("patients", ids.len().to_string()),
                    ("operation", op.to_owned()),
                    ("purpose", purpose_text),
                ],
                origins: vec![e.origin.clone()],
            });
        }
        self.roll(u, t);
        let explained_purpose = has_purpose(&EMERGENCY_PURPOSES);
        let clinical = has_purpose(&["TREAT", "ETREAT", "BTG"]);
        let src = e.common(SRC_IP).and_then(Value::as_ip);
        let ctx = &*self.ctx;
        let after = self.cfg.relationship_after;
        let user = &mut self.users[u as usize];
        let hod = (t.rem_euclid(DAY) / HOUR) as usize;
        user.today_hours[hod] += 1;
        user.hour.times.push(t);
        push_origin(&mut user.hour.origins, &e.origin);
        push_origin(&mut user.day.origins, &e.origin);
        if user.day.reads == 0 {
            user.day.first = t;
        }
        user.day.last = t;
        user.day.reads += ids.len();
        if user.service && clinical {
            user.day.clinical_service += 1;
        }
        // Addresses: new ones of a user with history.
        let mut new_address = None;
        if let Some(ip) = src
            && !user.addresses.contains_key(&ip)
            && user.addresses.len() < 64
        {
            if user.days_seen >= 1 {
                new_address = Some(ip);
            }
            user.addresses.insert(ip, t);
        }
        let mut snoops: Vec<(u32, &'static str, String)> = Vec::new();
        for pid in ids.iter() {
            user.hour.patients.insert(*pid);
            if user.service {
                continue;
            }
            let pc = &self.patient_cache[*pid as usize];
            let related = user.staff.as_deref().and_then(|me| {
                pc.cares.iter().find(|c| {
                    t >= c.from.saturating_sub(DAY)
                        && t <= c.to.saturating_add(after)
                        && (user.depts.contains(&c.dept) || c.staff.iter().any(|s| &**s == me))
                })
            });
            if let Some(c) = related {
                // The departments whose patients a user treats are their community.
                if c.dept != NO_DEPT && user.community.len() < 256 {
                    user.community.insert(c.dept);
                    if let Some(g) = user.peer {
                        self.peers[g as usize].community.insert(c.dept);
                    }
                }
                continue;
            }
            // Outside the community: none of the patient's care departments
            // is one the user or their peers treat patients of.
            let peer_community = user.peer.map(|g| &self.peers[g as usize].community);
            let inside = pc.cares.iter().any(|c| {
                user.community.contains(&c.dept)
                    || peer_community.is_some_and(|pc| pc.contains(&c.dept))
            });
            if !inside {
                user.day.outside_community += 1;
                user.day.outside_span.see(t);
            }
            let p: &str = &self.patient_names[*pid as usize];
            let explained = explained_purpose || user.emergency_dept;
            if explained {
                user.day.explained_no_rel += 1;
            } else if user.day.unexplained.len() < 100_000 {
                user.day.unexplained.push(*pid);
                user.day.unexplained_span.see(t);
            }
            if let Some(ip) = new_address {
                let entry = user
                    .new_addresses
                    .entry(ip)
                    .or_insert_with(|| (t, 0, e.origin.clone()));
                entry.1 += 1;
            }
            if pc.protected && user.day.protected.len() < 1000 {
                user.day.protected.push((t, *pid, explained));
            }
            if pc.known {
                if pc
                    .deceased
                    .is_some_and(|d| d == i64::MIN || d < t - 30 * DAY)
                {
                    user.day.deceased.push(*pid);
                }
                if let (Some(trust), Some(county)) = (&user.trust, pc.county)
                    && let Some(home) = ctx.trust_counties.get(trust)
                    && !home.is_empty()
                    && !home.contains(&county)
                {
                    user.day.out_of_region.push(*pid);
                }
                let Some(info) = ctx.patients.get(p) else {
                    continue;
                };
                // Colleague, family, neighbour.
                if let Some(me) = user.staff.as_deref().and_then(|s| ctx.staff.get(s)) {
                    let colleague = info
                        .nin
                        .as_deref()
                        .and_then(|n| self.staff_by_nin.get(n))
                        .filter(|s| Some(&***s) != user.staff.as_deref());
                    let own = info.nin.is_some() && info.nin == me.nin;
                    let same_address = me.address.is_some() && me.address == info.address;
                    let same_family = me.family.is_some() && me.family == info.family;
                    let same_street = me.street.is_some()
                        && me.street == info.street
                        && (me.address.is_none() || info.postal.is_some());
                    let why = if own {
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
                    };
                    if let Some((kind, why)) = why {
                        snoops.push((*pid, kind, why));
                    }
                }
            }
        }
        for (pid, kind, why) in snoops {
            if self.snooped.insert((u, pid)) {
                let name = self.users[u as usize].name.clone();
                self.findings.push(Finding {
                    detector: "ehr-snooping",
                    user: u,
                    title: format!(
                        "Account {name} read a record without a care relationship: {kind} ({why})"
                    ),
                    first: t,
                    last: t,
                    score: if kind == "own record" { 0.5 } else { 0.8 },
                    techniques: vec!["T1213"],
                    patients: vec![pid],
                    evidence: vec![("kind", kind.to_owned()), ("why", why)],
                    origins: vec![e.origin.clone()],
                });
            }
        }
    }

    /// Closes the user's hour and day when `t` is past them.
    fn roll(&mut self, u: u32, t: i64) {
        let hour = t.div_euclid(HOUR);
        let day = t.div_euclid(DAY);
        let cur_hour = self.users[u as usize].hour.hour;
        if cur_hour != hour {
            if cur_hour != i64::MIN {
                self.close_hour(u);
            }
            let user = &mut self.users[u as usize];
            user.hour.hour = hour;
        }
        let cur_day = self.users[u as usize].day.day;
        if cur_day != day {
            if cur_day != i64::MIN {
                self.close_day(u);
            }
            let user = &mut self.users[u as usize];
            user.day = Day {
                day,
                ..Default::default()
            };
        }
    }

    fn close_hour(&mut self, u: u32) {
        let cfg = &self.cfg;
        let user = &mut self.users[u as usize];
        let h = std::mem::take(&mut user.hour);
        let n = h.patients.len();
        let reads = h.times.len();
        if reads == 0 {
            return;
        }
        let (first, last) = (
            h.times.iter().copied().min().unwrap_or(0),
            h.times.iter().copied().max().unwrap_or(0),
        );
        let hod = (h.hour.rem_euclid(24)) as usize;
        let mut out = Vec::new();
        if !user.service {
            // Bulk: far above own history and peers (each counts once it
            // has some: three closed hours of the user's own, a day's worth
            // of the peer group's); with neither, three times the floor.
            let peers = user.peer.map(|p| &self.peers[p as usize]);
            let peer_p95 = peers.filter(|p| p.hours >= 24).map_or(0, Peers::p95);
            let own = if user.hours_closed >= 3 {
                user.max_hour
            } else {
                0
            };
            let baseline = own.max(peer_p95);
            let bar = if baseline == 0 {
                3.0 * cfg.bulk_min as f64
            } else {
                (cfg.bulk_factor * baseline as f64).max(cfg.bulk_min as f64)
            };
            if n >= cfg.bulk_min && n as f64 >= bar {
                let ratio = n as f64 / baseline.max(cfg.bulk_min / 3).max(1) as f64;
                out.push(Finding {
                    detector: "ehr-bulk",
                    user: u,
                    title: format!(
                        "Account {} read {n} patients' records in an hour (own largest hour before: {own}; peers' 95th percentile: {peer_p95})",
                        user.name
                    ),
                    first,
                    last,
                    score: (0.5 + 0.1 * ratio.log2()).min(1.0),
                    techniques: vec!["T1213"],
                    patients: h.patients.iter().take(20).copied().collect(),
                    evidence: vec![
                        ("patients", n.to_string()),
                        ("reads", reads.to_string()),
                        ("own_max_hour", own.to_string()),
                        ("peer_p95_hour", peer_p95.to_string()),
                    ],
                    origins: h.origins.clone(),
                });
            }
            // Off-hours: an hour of the day never worked before.
            // (At least three days of history; hours within two of a usual
            // hour are shift variation, not off-hours.)
            let near_usual = (0..24).any(|x| {
                let dist = (x as i64 - hod as i64)
                    .rem_euclid(24)
                    .min((hod as i64 - x as i64).rem_euclid(24));
                user.usual[x] > 0 && dist <= 2
            });
            if user.days_seen >= 3 && !near_usual && reads >= cfg.off_hours_min {
                out.push(Finding {
                    detector: "ehr-off-hours",
                    user: u,
                    title: format!(
                        "Account {} read {reads} records at {hod:02}:00-{:02}:00 UTC, an hour it never worked in over {} days",
                        user.name,
                        (hod + 1) % 24,
                        user.days_seen
                    ),
                    first,
                    last,
                    score: (0.4 + 0.05 * (reads as f64).log2()).min(0.85),
                    techniques: vec!["T1078"],
                    patients: h.patients.iter().take(10).copied().collect(),
                    evidence: vec![
                        ("reads", reads.to_string()),
                        ("hour_utc", hod.to_string()),
                        ("days_of_history", user.days_seen.to_string()),
                    ],
                    origins: h.origins.clone(),
                });
            }
            // Script-like: many reads at regular intervals.
            if reads >= cfg.scripted_min {
                let mut ts = h.times.clone();
                ts.sort_unstable();
                let mut gaps: Vec<f64> = ts
                    .windows(2)
                    .map(|w| (w[1] - w[0]) as f64 / NS as f64)
                    .collect();
                gaps.sort_by(f64::total_cmp);
                // Robust variation (MAD over median): a person's pauses do not
                // hide a script's steady pace, and a person's own reads vary
                // like random arrivals (about 1.0; an even pace with jitter
                // is about 0.4).
                let mean = crate::stats::median(&gaps).unwrap_or(0.0);
                let mut dev: Vec<f64> = gaps.iter().map(|g| (g - mean).abs()).collect();
                dev.sort_by(f64::total_cmp);
                let cv = if mean > 0.0 {
                    1.4826 * crate::stats::median(&dev).unwrap_or(0.0) / mean
                } else {
                    0.0
                };
                if cv < 0.6 {
                    out.push(Finding {
                        detector: "ehr-scripted",
                        user: u,
                        title: format!(
                            "Account {} read {reads} records in an hour at a steady pace (median interval {mean:.1} s, variation {cv:.2}): a script, not a person",
                            user.name
                        ),
                        first,
                        last,
                        score: (0.6 + 0.3 * (1.0 - cv / 0.6)).min(0.95),
                        techniques: vec!["T1213", "T1119"],
                        patients: h.patients.iter().take(10).copied().collect(),
                        evidence: vec![
                            ("reads", reads.to_string()),
                            ("median_interval_s", format!("{mean:.1}")),
                            ("interval_cv", format!("{cv:.2}")),
                        ],
                        origins: h.origins.clone(),
                    });
                }
            }
        }
        // An hour found to be bulk is an anomaly, not part of anyone's baseline.
        if !out.iter().any(|f| f.detector == "ehr-bulk") {
            user.max_hour = user.max_hour.max(n);
            if let Some(p) = user.peer {
                self.peers[p as usize].add(n);
            }
        }
        user.hours_closed += 1;
        // The buffers go back for the next hour (no allocation per user-hour).
        let mut h = h;
        h.patients.clear();
        h.times.clear();
        h.origins.clear();
        user.hour = h;
        self.findings.extend(out);
    }

    fn close_day(&mut self, u: u32) {
        let cfg = &self.cfg;
        let user = &mut self.users[u as usize];
        let d = std::mem::take(&mut user.day);
        // Usual hours and history.
        for (i, c) in user.today_hours.iter().enumerate() {
            user.usual[i] += c;
        }
        user.today_hours = [0; 24];
        if d.reads > 0 {
            user.days_seen += 1;
        }
        let mut out = Vec::new();
        let name = user.name.clone();
        let unexpl = d.unexplained.len();
        if unexpl >= cfg.no_relationship_min
            && unexpl as f64 >= cfg.no_relationship_share * d.reads as f64
        {
            let share = unexpl as f64 / d.reads.max(1) as f64;
            out.push(Finding {
                detector: "ehr-no-relationship",
                user: u,
                title: format!(
                    "Account {name} read {unexpl} patients' records without a care relationship or an emergency reason in a day ({:.0} % of its reads)",
                    share * 100.0
                ),
                first: d.unexplained_span.start(),
                last: d.unexplained_span.last,
                score: (0.5 + 0.5 * share).min(1.0) * (0.7 + 0.3 * ((unexpl as f64).log10() / 3.0).min(1.0)),
                techniques: vec!["T1213"],
                patients: d.unexplained.iter().take(20).copied().collect(),
                evidence: vec![
                    ("without_relationship", unexpl.to_string()),
                    ("explained_by_emergency", d.explained_no_rel.to_string()),
                    ("reads", d.reads.to_string()),
                ],
                origins: d.origins.clone(),
            });
        }
        if d.outside_community >= cfg.no_relationship_min
            && d.outside_community * 2 >= d.reads
            && !user.community.is_empty()
        {
            let share = d.outside_community as f64 / d.reads.max(1) as f64;
            out.push(Finding {
                detector: "ehr-outside-community",
                user: u,
                title: format!(
                    "Account {name} read {} records of patients in the care of departments neither it nor its peers treat patients of ({:.0} % of its reads in a day)",
                    d.outside_community,
                    share * 100.0
                ),
                first: d.outside_span.start(),
                last: d.outside_span.last,
                score: (0.4 + 0.5 * share).min(0.95),
                techniques: vec!["T1213"],
                patients: Vec::new(),
                evidence: vec![
                    ("outside_community", d.outside_community.to_string()),
                    ("reads", d.reads.to_string()),
                    ("community_departments", user.community.len().to_string()),
                ],
                origins: d.origins.clone(),
            });
        }
        if !d.protected.is_empty() {
            let unexplained = d.protected.iter().filter(|p| !p.2).count();
            let distinct: FxHashSet<u32> = d.protected.iter().map(|p| p.1).collect();
            // One look-up with no emergency reason is worth a look (medium);
            // several protected persons in a day are what a collector does (high).
            let score = if distinct.len() >= 3 {
                (0.85 + 0.03 * distinct.len() as f64).min(1.0)
            } else if unexplained > 0 {
                0.7
            } else {
                0.55
            };
            out.push(Finding {
                detector: "ehr-protected",
                user: u,
                title: if distinct.len() == 1 {
                    format!(
                        "Account {name} read a protected person's record without a care relationship ({})",
                        if unexplained > 0 { "no emergency reason" } else { "emergency reason given" }
                    )
                } else {
                    format!(
                        "Account {name} read the records of {} protected persons without a care relationship ({unexplained} reads with no emergency reason)",
                        distinct.len()
                    )
                },
                first: d.protected.iter().map(|p| p.0).min().unwrap_or(d.first),
                last: d.protected.iter().map(|p| p.0).max().unwrap_or(d.last),
                score,
                techniques: vec!["T1213"],
                patients: distinct.iter().take(20).copied().collect(),
                evidence: vec![
                    ("protected_persons", distinct.len().to_string()),
                    ("without_emergency_reason", unexplained.to_string()),
                ],
                origins: d.origins.clone(),
            });
        }
        if !d.deceased.is_empty() {
            out.push(Finding {
                detector: "ehr-deceased",
                user: u,
                title: format!(
                    "Account {name} read {} deceased patients' records without a care relationship",
                    d.deceased.len()
                ),
                first: d.first,
                last: d.last,
                score: (0.4 + 0.1 * d.deceased.len() as f64).min(0.8),
                techniques: vec!["T1213"],
                patients: d.deceased.iter().take(20).copied().collect(),
                evidence: vec![("deceased", d.deceased.len().to_string())],
                origins: d.origins.clone(),
            });
        }
        if d.out_of_region.len() >= 2 {
            out.push(Finding {
                detector: "ehr-out-of-region",
                user: u,
                title: format!(
                    "Account {name} read {} records of patients living outside the trust's region, without a care relationship",
                    d.out_of_region.len()
                ),
                first: d.first,
                last: d.last,
                score: (0.3 + 0.05 * d.out_of_region.len() as f64).min(0.7),
                techniques: vec!["T1213"],
                patients: d.out_of_region.iter().take(20).copied().collect(),
                evidence: vec![("outside_region", d.out_of_region.len().to_string())],
                origins: d.origins.clone(),
            });
        }
        if user.service && d.clinical_service > 0 {
            out.push(Finding {
                detector: "ehr-service-misuse",
                user: u,
                title: format!(
                    "Service account {name} read {} records with a clinical purpose, as a person would",
                    d.clinical_service
                ),
                first: d.first,
                last: d.last,
                score: 0.75,
                techniques: vec!["T1078.003", "T1213"],
                patients: Vec::new(),
                evidence: vec![("clinical_reads", d.clinical_service.to_string())],
                origins: d.origins.clone(),
            });
        }
        for (ip, (t, n, origin)) in std::mem::take(&mut user.new_addresses) {
            if n == 0 {
                continue;
            }
            out.push(Finding {
                detector: if user.service { "ehr-service-misuse" } else { "ehr-new-address" },
                user: u,
                title: format!(
                    "Account {name} worked from {ip}, an address never seen for it in {} days, and read {n} records without a care relationship from there",
                    user.days_seen
                ),
                first: t,
                last: d.last,
                score: (0.45 + 0.05 * (n as f64).log2()).min(0.85),
                techniques: vec!["T1078"],
                patients: Vec::new(),
                evidence: vec![("address", ip.to_string()), ("reads_without_relationship", n.to_string())],
                origins: vec![origin],
            });
        }
        self.findings.extend(out);
    }

    /// Closes every open hour and day (end of a batch, or of a stream window).
    pub fn flush(&mut self) {
        for u in 0..self.users.len() as u32 {
            if self.users[u as usize].hour.hour != i64::MIN {
                self.close_hour(u);
                self.users[u as usize].hour.hour = i64::MIN;
            }
            if self.users[u as usize].day.day != i64::MIN {
                self.close_day(u);
                self.users[u as usize].day.day = i64::MIN;
            }
        }
    }

    /// The findings so far (after [`EhrAnalytics::flush`] for a complete
    /// batch), with every patient as a pseudonym of `tenant`, highest score first.
    pub fn alerts(&self, pseudo: &Pseudonymiser, tenant: &str) -> Vec<Alert> {
        let mut out: Vec<Alert> = self
            .findings
            .iter()
            .map(|f| {
                let user = &self.users[f.user as usize];
                let mut entities = vec![Entity::Account(user.name.to_string())];
                entities.extend(f.patients.iter().map(|p| {
                    let id = &self.patient_names[*p as usize];
                    // The identity number when known, else the record id: both pseudonymised.
                    let key = self
                        .ctx
                        .patients
                        .get(id)
                        .and_then(|i| i.nin.as_deref())
                        .unwrap_or(id);
                    Entity::Patient(pseudo.pseudonym(tenant, key))
                }));
                Alert {
                    detector: f.detector,
                    title: f.title.clone(),
                    first: Timestamp(f.first),
                    last: Timestamp(f.last),
                    score: (f.score * 1000.0).round() / 1000.0,
                    severity: severity(f.score),
                    techniques: f.techniques.clone(),
                    entities,
                    evidence: f.evidence.clone(),
                    origins: f.origins.clone(),
                }
            })
            .collect();
        out.sort_by(|a, b| {
            b.score
                .total_cmp(&a.score)
                .then(a.first.cmp(&b.first))
                .then(a.title.cmp(&b.title))
        });
        out
    }

    /// Users and patients held, and findings.
    pub fn footprint(&self) -> String {
        format!(
            "users {}; patients seen {}; peer groups {}; findings {}",
            self.users.len(),
            self.patient_names.len(),
            self.peers.len(),
            self.findings.len()
        )
    }
}
