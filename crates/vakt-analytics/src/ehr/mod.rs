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
//! | `ehr-service-misuse` | a service account reading with a clinical purpose | user, day |
//! | `ehr-bulk-export` | one search or export returning very many patients, other than an approved research export (role `researcher`, purpose `HRESCH`) | event |
//! | `ehr-deceased` | reads of patients dead for over 30 days, without a relationship | user, day |
//! | `ehr-out-of-region` | reads of patients living outside the trust's home counties, without a relationship | user, day |
//!
//! The family reads each AuditEvent once ([`access`]): who the user is
//! (staff, department, peers, service account), each patient read and
//! whether the user has a care relationship with them, learning the
//! departments whose patients the user and their peers treat (their
//! community). It keeps each user's hour and day and tells every detector of
//! [`REGISTRY`] — one file and one registration line each — of each
//! [`Access`] and of each hour and day that ends ([`EhrInput`]).
//!
//! State is kept per user (hourly and daily counters, usual hours, addresses
//! seen) and per peer group (a histogram of hourly distinct patients), so
//! memory grows with users, not with events. Patients are never shown in
//! clear: [`vakt_core::pseudo::Pseudonymiser`] turns each into a pseudonym
//! when a finding becomes an alert.

mod access;
mod family;

use std::net::IpAddr;
use std::sync::Arc;

use rustc_hash::FxHashSet;
use vakt_core::detector::{Detector, Family, Make};
use vakt_core::pseudo::Pseudonymiser;
use vakt_core::{Alert, AlertKey, Entity, Event, Origin, Severity, Timestamp, Value};

pub use access::Facts;
pub use family::{EhrCounts, EhrDetectors};
pub use vakt_context::care::{EhrContext, Relation};

pub(crate) const NS: i64 = 1_000_000_000;
pub(crate) const HOUR: i64 = 3_600 * NS;
pub(crate) const DAY: i64 = 24 * HOUR;

vakt_core::registry! {
    /// The EHR detectors, one file and one line each.
    pub const REGISTRY: &[Make<Ehr>] = [
        bulk_export::BulkExportDetector::boxed,
        bulk::BulkDetector::boxed,
        off_hours::OffHoursDetector::boxed,
        scripted::ScriptedDetector::boxed,
        no_relationship::NoRelationshipDetector::boxed,
        outside_community::OutsideCommunityDetector::boxed,
        protected::ProtectedDetector::boxed,
        deceased::DeceasedDetector::boxed,
        out_of_region::OutOfRegionDetector::boxed,
        service_misuse::ServiceMisuseDetector::boxed,
        new_address::NewAddressDetector::boxed,
        snooping::SnoopingDetector::boxed,
    ];
}

/// The detectors' names, as in [`Alert::detector`] (from the registry).
pub fn detectors() -> Vec<&'static str> {
    REGISTRY.iter().map(|make| make().name()).collect()
}

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

/// The EHR family: detectors that take [`EhrInput`]s and share [`Facts`].
#[derive(Debug)]
pub enum Ehr {}

impl Family for Ehr {
    type Input<'a> = EhrInput<'a>;
    type Context = Facts;
}

/// One patient of an access, as the family judged it.
#[derive(Debug, Clone, Copy)]
pub struct PatientRead {
    /// The patient (index into [`Facts`]).
    pub patient: u32,
    /// The user has a care relationship with the patient.
    pub related: bool,
    /// The patient is in the care of a department the user or their peers treat patients of.
    pub inside_community: bool,
    /// An emergency purpose or an emergency department explains a read without relationship.
    pub explained: bool,
}

/// One EHR access as the detectors read it.
#[derive(Debug)]
pub struct Access<'a> {
    /// What the family knows.
    pub facts: &'a Facts,
    /// The AuditEvent.
    pub event: &'a Event,
    /// The user (index into [`Facts`]).
    pub user: u32,
    /// When, ns.
    pub time: i64,
    /// Every patient named, in order (a search or export names many).
    pub patients: &'a [PatientRead],
    /// A clinical purpose (`TREAT`, `ETREAT`, `BTG`).
    pub clinical: bool,
    /// The operation (`read`, `search-type`, `export`, …).
    pub operation: &'a str,
    /// The purposes given.
    pub purposes: Option<&'a Value>,
    /// The user worked from an address never seen for them (after a day of history).
    pub new_address: Option<IpAddr>,
}

impl Access<'_> {
    /// The purposes given, joined by commas (for evidence).
    pub fn purposes_text(&self) -> String {
        match self.purposes {
            Some(Value::Str(s)) => s.to_string(),
            Some(Value::List(items)) => items
                .iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(","),
            _ => String::new(),
        }
    }
}

/// What the EHR detectors are told.
#[derive(Debug)]
pub enum EhrInput<'a> {
    /// An access.
    Access(Access<'a>),
    /// A user's hour ended (the user's next access is in a later hour, or the input ended).
    HourEnd {
        /// What the family knows.
        facts: &'a Facts,
        /// The user.
        user: u32,
        /// The hour (since the epoch).
        hour: i64,
    },
    /// A user's day ended (after that day's last hour).
    DayEnd {
        /// What the family knows.
        facts: &'a Facts,
        /// The user.
        user: u32,
        /// The day (since the epoch).
        day: i64,
    },
}

/// Scores to severity for EHR findings: 0.9 high, 0.6 medium.
pub(crate) fn severity(score: f64) -> Severity {
    if score >= 0.9 {
        Severity::High
    } else if score >= 0.6 {
        Severity::Medium
    } else {
        Severity::Low
    }
}

pub(crate) fn push_origin(v: &mut Vec<Origin>, o: &Origin) {
    if v.len() < 3 {
        v.push(o.clone());
    }
}

/// A user's slot in a detector's per-user state (made on first use).
pub(crate) fn slot<T: Default>(v: &mut Vec<T>, u: u32) -> &mut T {
    let i = u as usize;
    if v.len() <= i {
        v.resize_with(i + 1, T::default);
    }
    &mut v[i]
}

/// A user's day as the family counts it for the day detectors: the
/// patients read, the first and last access, where the first accesses were
/// recorded ([`Facts::day`], complete when the day ends).
#[derive(Debug, Default, Clone, serde::Serialize, serde::Deserialize)]
pub(crate) struct DayTally {
    pub reads: usize,
    pub first: i64,
    pub last: i64,
    pub origins: Vec<Origin>,
    /// Accesses per hour of the day (UTC).
    pub by_hour: [u32; 24],
}

impl DayTally {
    /// Counts an access.
    fn see(&mut self, time: i64, patients: usize, origin: &Origin) {
        if self.reads == 0 {
            self.first = time;
        }
        self.last = time;
        self.reads += patients;
        self.by_hour[(time.rem_euclid(DAY) / HOUR) as usize] += 1;
        push_origin(&mut self.origins, origin);
    }
}

/// A user's hour as the family counts it for the hour detectors: the
/// distinct patients, when each access came, where the first were recorded
/// ([`Facts::hour`], complete when the hour ends). Counted once for every
/// detector that judges hours.
#[derive(Debug, Default, Clone, serde::Serialize, serde::Deserialize)]
pub(crate) struct HourTally {
    pub patients: FxHashSet<u32>,
    pub times: Vec<i64>,
    pub first: i64,
    pub last: i64,
    pub origins: Vec<Origin>,
}

impl HourTally {
    /// Accesses in the hour.
    pub fn reads(&self) -> usize {
        self.times.len()
    }

    fn see(&mut self, time: i64, patients: &[PatientRead], origin: &Origin) {
        if self.times.is_empty() {
            (self.first, self.last) = (time, time);
        }
        self.first = self.first.min(time);
        self.last = self.last.max(time);
        self.times.push(time);
        push_origin(&mut self.origins, origin);
        self.patients.extend(patients.iter().map(|p| p.patient));
    }

    fn clear(&mut self) {
        self.patients.clear();
        self.times.clear();
        self.origins.clear();
    }
}

/// A user's open hour and day.
#[derive(Debug, Default, Clone, serde::Serialize, serde::Deserialize)]
pub(crate) struct Tallies {
    pub hour: HourTally,
    pub day: DayTally,
}

impl Tallies {
    /// Counts an access in the user's hour and day.
    pub(crate) fn see(&mut self, time: i64, patients: &[PatientRead], origin: &Origin) {
        self.hour.see(time, patients, origin);
        self.day.see(time, patients.len(), origin);
    }
}

/// When something was seen: first and last, and the onset — the first
/// time it was seen three times within an hour (a burst stands out from a
/// day's scattered reads; without a burst, the first time).
#[derive(Debug, Default, Clone, serde::Serialize, serde::Deserialize)]
pub(crate) struct Span {
    pub first: i64,
    pub last: i64,
    onset: Option<i64>,
    recent: [i64; 2],
    seen: usize,
}

impl Span {
    pub fn see(&mut self, t: i64) {
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

    pub fn start(&self) -> i64 {
        self.onset.unwrap_or(self.first)
    }
}

/// The reads of an access that no care relationship covers (of a person's
/// account: service accounts are judged by what they do, not by relationships).
pub(crate) fn without_relationship<'a>(
    a: &'a Access<'_>,
) -> impl Iterator<Item = &'a PatientRead> + 'a {
    let service = a.facts.user(a.user).service;
    a.patients.iter().filter(move |p| !service && !p.related)
}

/// An EHR finding: patients by index, pseudonymised when it becomes an alert.
#[derive(Debug)]
pub(crate) struct Finding {
    pub detector: &'static str,
    /// What the detector looks for, in a line.
    pub about: &'static str,
    pub user: u32,
    /// What makes it the same finding besides the user (its hour, day, patient…).
    pub window: String,
    pub title: String,
    pub first: i64,
    pub last: i64,
    pub score: f64,
    pub techniques: &'static [&'static str],
    pub patients: Vec<u32>,
    pub count: u64,
    pub evidence: Vec<(&'static str, String)>,
    pub origins: Vec<Origin>,
}

impl Finding {
    /// The alert: the account, the patients as pseudonyms of the tenant.
    pub fn alert(self, facts: &Facts) -> Alert {
        let user = facts.user_name(self.user);
        let tenant = facts.tenant();
        let key = AlertKey::of(&[tenant, self.detector, user, &self.window]);
        Alert {
            title: self.title,
            severity: severity(self.score),
            score: (self.score * 1000.0).round() / 1000.0,
            actors: vec![Entity::Account(user.to_owned())],
            targets: self
                .patients
                .iter()
                .map(|p| Entity::Patient(facts.pseudonym(*p)))
                .collect(),
            first: Timestamp(self.first),
            last: Timestamp(self.last),
            count: self.count,
            ..crate::Analytic {
                family: "ehr",
                detector: self.detector,
                about: self.about,
                techniques: self.techniques,
                evidence: self.evidence,
                origins: &self.origins,
            }
            .alert(tenant, key)
        }
    }
}

/// The EHR access detectors over one tenant's AuditEvents.
pub struct EhrAnalytics {
    facts: Facts,
    detectors: Vec<Box<dyn Detector<Ehr>>>,
    /// Findings raised and not yet taken.
    raised: Vec<Alert>,
    /// Reused per event.
    reads: Vec<PatientRead>,
}

impl std::fmt::Debug for EhrAnalytics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EhrAnalytics")
            .field("facts", &self.facts.footprint())
            .field("detectors", &self.detectors.len())
            .finish()
    }
}

impl EhrAnalytics {
    /// Every registered detector over this context; patients in findings are
    /// pseudonyms of `tenant` under `pseudo`.
    pub fn new(
        ctx: Arc<EhrContext>,
        cfg: EhrConfig,
        pseudo: Arc<Pseudonymiser>,
        tenant: Arc<str>,
    ) -> Self {
        EhrAnalytics {
            facts: Facts::new(ctx, cfg, pseudo, tenant),
            detectors: REGISTRY.iter().map(|make| make()).collect(),
            raised: Vec::new(),
            reads: Vec::new(),
        }
    }

    /// Patients in the events are already pseudonyms of the tenant (events
    /// read back from the store): the context is matched by pseudonym, and
    /// a patient the context does not know is shown as it is.
    pub fn with_pseudonymised_patients(mut self) -> Self {
        self.facts.pseudonymised_patients();
        self
    }

    /// Takes one event (anything but a FHIR AuditEvent is ignored).
    pub fn observe(&mut self, e: &Event) {
        let mut reads = std::mem::take(&mut self.reads);
        let mut ends = Vec::new();
        if let Some(a) = self.facts.access(e, &mut reads, &mut ends) {
            for end in ends {
                self.tell(&end);
            }
            self.facts.tally(a.user, a.time, &reads, &e.origin);
            let input = EhrInput::Access(Access {
                facts: &self.facts,
                event: e,
                user: a.user,
                time: a.time,
                patients: &reads,
                clinical: a.clinical,
                operation: e
                    .common(vakt_core::field::API_OPERATION)
                    .and_then(Value::as_str)
                    .unwrap_or(""),
                purposes: e.common(vakt_core::field::PURPOSE_OF_USE),
                new_address: a.new_address,
            });
            for d in &mut self.detectors {
                d.observe(&input, &mut self.raised);
            }
        }
        self.reads = reads;
    }

    fn tell(&mut self, end: &access::WindowEnd) {
        let input = match *end {
            access::WindowEnd::Hour { user, hour } => EhrInput::HourEnd {
                facts: &self.facts,
                user,
                hour,
            },
            access::WindowEnd::Day { user, day } => EhrInput::DayEnd {
                facts: &self.facts,
                user,
                day,
            },
        };
        for d in &mut self.detectors {
            d.observe(&input, &mut self.raised);
        }
        self.facts.close(end);
    }

    /// Streaming: takes a context resource arriving after the load (a new or
    /// updated Encounter, EpisodeOfCare, CareTeam, Patient, Practitioner,
    /// PractitionerRole or Organization) and refreshes what depends on it;
    /// later accesses are judged with it.
    pub fn learn(&mut self, resource: &serde_json::Value) -> Result<(), String> {
        self.facts.learn(resource)
    }

    /// Time has passed to `now`: every user's hour and day that ended before
    /// it is closed and judged (a live feed in time order).
    pub fn advance(&mut self, now: Timestamp) {
        for end in self.facts.close_before(now.0) {
            self.tell(&end);
        }
    }

    /// Closes every open hour and day (end of a batch, or of a stream window).
    pub fn flush(&mut self) {
        for end in self.facts.close_all() {
            self.tell(&end);
        }
    }

    /// The facts' and every detector's state, and the findings not yet
    /// taken (see [`vakt_core::Detector::save`]).
    pub fn save(&self) -> Result<Vec<u8>, String> {
        let facts = vakt_core::detector::Blob(self.facts.save()?);
        let members = vakt_core::detector::save_all(&self.detectors)?;
        vakt_core::detector::save_state(&(facts, members, &self.raised))
    }

    /// Takes what [`EhrAnalytics::save`] gave (the configuration is this
    /// instance's).
    pub fn load(&mut self, b: &[u8]) -> Result<(), String> {
        type Saved = (
            vakt_core::detector::Blob,
            Vec<(String, vakt_core::detector::Blob)>,
            Vec<Alert>,
        );
        let (facts, members, raised): Saved = vakt_core::detector::load_state(b)?;
        self.facts.load(&facts.0)?;
        vakt_core::detector::load_all(&mut self.detectors, &members)?;
        self.raised = raised;
        Ok(())
    }

    /// Takes the findings raised since the last call, as alerts.
    pub fn take(&mut self) -> Vec<Alert> {
        std::mem::take(&mut self.raised)
    }

    /// The findings raised so far and not taken, highest score first.
    pub fn alerts(&self) -> Vec<Alert> {
        let mut out = self.raised.clone();
        out.sort_by(|a, b| {
            b.score
                .total_cmp(&a.score)
                .then(a.first.cmp(&b.first))
                .then(a.title.cmp(&b.title))
        });
        out
    }

    /// What the family counted (events, unattributed, research, bad identity numbers).
    pub fn facts(&self) -> &Facts {
        &self.facts
    }

    /// Users and patients held, and findings.
    pub fn footprint(&self) -> String {
        format!("{}; findings {}", self.facts.footprint(), self.raised.len())
    }
}
