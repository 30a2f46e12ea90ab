//! Breach scoping: from an incident's compromised accounts and hosts, the
//! patients whose records were exposed, read from the stored EHR access
//! events.
//!
//! - **Confirmed**: patients whose records were read or exported by a
//!   compromised account, or requested from a compromised client host, from
//!   the moment that account or host was first seen acting in the incident
//!   (or first used from a compromised host: the stored logons say so) until
//!   the end of the window (containment, else the end of the stored
//!   history). An incident without a compromised host is an account's own
//!   conduct (EHR access analytics alone): its accesses during the flagged
//!   activity are what is confirmed.
//! - **Possible**: patients whose records lie on systems the attacker
//!   reached (EHR, imaging and backup servers per the asset register): their
//!   whole holdings, estimated from the organisation's patient register.
//! - Counts by county, trust and category (protected persons, children,
//!   restricted records), the notification list (pseudonyms only) and the
//!   notification clocks from the moment of awareness.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Instant;

use rustc_hash::{FxHashMap, FxHashSet};
use serde::{Deserialize, Serialize};
use vakt_context::EhrContext;
use vakt_core::pseudo::Pseudonymiser;
use vakt_core::{Alert, Severity, Timestamp};
use vakt_store::{ScanStats, Store, StoreError};

use crate::incident::Incident;
use vakt_context::site::account_key;

/// What is known of a patient, by pseudonym.
#[derive(Debug, Clone, Default)]
pub struct PatientMeta {
    /// The identifier its canonical pseudonym is made of (the identity
    /// number where known, else the record id).
    key: Box<str>,
    /// Organisation holding the record.
    pub trust: std::sync::Arc<str>,
    /// County of residence.
    pub county: &'static str,
    /// Birth date (`YYYY-MM-DD`).
    pub birth: Option<Box<str>>,
    /// Protected-person category.
    pub protected: Option<Box<str>>,
    /// Record marked restricted.
    pub restricted: bool,
}

/// Patients by pseudonym, for one tenant's key; and the staff's account
/// names by practitioner id (EHR accesses name their agent by reference).
#[derive(Debug, Default)]
pub struct PatientIndex {
    /// Pseudonyms of record ids (what EHR events usually name).
    by_id: FxHashMap<String, u32>,
    /// Pseudonyms of identity numbers: made when first needed.
    by_nin: std::sync::OnceLock<FxHashMap<String, u32>>,
    /// Patients.
    pub patients: Vec<PatientMeta>,
    accounts: FxHashMap<Box<str>, String>,
    pseudo: Option<Arc<Pseudonymiser>>,
    tenant: String,
}

impl PatientIndex {
    /// Pseudonymises every patient of the context with the tenant's key (its
    /// record id now; its identity number when an event names one).
    pub fn new(ctx: &EhrContext, pseudo: Arc<Pseudonymiser>, tenant: &str) -> PatientIndex {
        let mut ix = PatientIndex {
            tenant: tenant.to_owned(),
            ..PatientIndex::default()
        };
        for (id, st) in &ctx.staff {
            if let Some(a) = account_key(&st.user) {
                ix.accounts.insert(id.clone(), a);
            }
        }
        let mut trusts: FxHashMap<&str, Arc<str>> = FxHashMap::default();
        ix.by_id.reserve(ctx.patients.len());
        ix.patients.reserve(ctx.patients.len());
        for (id, p) in &ctx.patients {
            let n = ix.patients.len() as u32;
            ix.by_id.insert(pseudo.pseudonym(tenant, id), n);
            let trust = p.trust.as_deref().unwrap_or("unknown");
            ix.patients.push(PatientMeta {
                key: p.nin.clone().unwrap_or_else(|| id.clone()),
                trust: trusts
                    .entry(trust)
                    .or_insert_with(|| Arc::from(trust))
                    .clone(),
                county: vakt_core::county::of_municipality(p.municipality),
                birth: p.birth.clone(),
                protected: ctx.protected.get(id).cloned(),
                restricted: p.restricted,
            });
        }
        ix.pseudo = Some(pseudo);
        ix
    }

    /// The account behind an EHR agent (`Practitioner/<id>`, an id, or an account name).
    pub fn account(&self, agent: &str) -> Option<String> {
        let id = agent.rsplit('/').next().unwrap_or(agent);
        match self.accounts.get(id) {
            Some(a) => Some(a.clone()),
            None => account_key(id),
        }
    }

    /// The patient behind a pseudonym (of the record id or the identity number).
    pub fn get(&self, pseudonym: &str) -> Option<u32> {
        if let Some(i) = self.by_id.get(pseudonym) {
            return Some(*i);
        }
        let Some(pseudo) = &self.pseudo else {
            return None;
        };
        self.by_nin
            .get_or_init(|| {
                self.patients
                    .iter()
                    .enumerate()
                    .map(|(i, m)| (pseudo.pseudonym(&self.tenant, &m.key), i as u32))
                    .collect()
            })
            .get(pseudonym)
            .copied()
    }

    /// The clear identifier a patient's canonical pseudonym is made of (the
    /// identity number where known, else the record id): for the audited
    /// reveal only — nothing else may show it.
    pub fn identifier(&self, i: u32) -> &str {
        self.patients.get(i as usize).map_or("", |m| &m.key)
    }

    /// A patient's canonical pseudonym (of the identity number where known),
    /// as alerts and notification lists give it.
    pub fn pseudonym(&self, i: u32) -> String {
        let m = &self.patients[i as usize];
        match &self.pseudo {
            Some(p) => p.pseudonym(&self.tenant, &m.key),
            None => String::new(),
        }
    }
}

/// A notification deadline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Clock {
    /// To whom (`Datatilsynet (GDPR Art. 33)`).
    pub name: String,
    /// Hours from awareness.
    pub hours: u32,
    /// When it runs out.
    #[serde(default)]
    pub due: Option<Timestamp>,
}

/// The GDPR Art. 33 clock: 72 hours to the data protection authority.
pub fn gdpr_clock() -> Clock {
    Clock {
        name: "Data protection authority (GDPR Art. 33)".into(),
        hours: 72,
        due: None,
    }
}

/// How to scope.
#[derive(Debug, Clone, Default)]
pub struct ScopeConfig {
    /// End of the window (containment), ns; else the end of the stored history.
    pub until: Option<i64>,
    /// The clocks to run (GDPR Art. 33 and those the operator configures).
    pub clocks: Vec<Clock>,
    /// The tenant whose store partitions and key to use.
    pub tenant: String,
}

/// An account or host in scope, and from when.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InScope {
    /// Node key (`account:…`, `host:…`, `ip:…`).
    pub key: String,
    /// Address (hosts).
    #[serde(default)]
    pub ip: Option<String>,
    /// From when its accesses count.
    pub from: Timestamp,
    /// Why it is in scope.
    pub why: String,
    /// Accesses it made in the window.
    pub accesses: u64,
}

/// Confirmed and possible counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Counts {
    /// Confirmed exposure.
    pub confirmed: usize,
    /// Possible exposure (beyond the confirmed).
    pub possible: usize,
}

/// One patient to notify.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Notify {
    /// Pseudonym.
    pub patient: String,
    /// Organisation holding the record (the controller that notifies).
    pub trust: String,
    /// County.
    pub county: String,
    /// Categories (`protected:<category>`, `child`, `restricted`).
    pub categories: Vec<String>,
    /// First access in scope.
    pub first_access: Timestamp,
    /// By which account or host.
    pub by: String,
}

/// A system holding records that the attacker reached.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reached {
    /// Node key.
    pub system: String,
    /// What it is.
    pub kind: String,
    /// Whose records it holds.
    pub holds_patients_of: String,
    /// Patients of that organisation.
    pub patients: usize,
    /// First reached.
    pub from: Timestamp,
}

/// The breach's scope.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Exposure {
    /// The incident.
    pub incident: String,
    /// What counts as confirmed.
    pub basis: String,
    /// Window start.
    pub from: Timestamp,
    /// Window end (None: to the end of the stored history).
    pub until: Option<Timestamp>,
    /// Compromised accounts in scope.
    pub accounts: Vec<InScope>,
    /// Compromised client hosts in scope.
    pub hosts: Vec<InScope>,
    /// Systems with records the attacker reached.
    pub reached: Vec<Reached>,
    /// Patients confirmed exposed.
    pub confirmed: usize,
    /// Patients possibly exposed (beyond the confirmed).
    pub possible: usize,
    /// Accesses in scope (reads, searches, exports).
    pub accesses: u64,
    /// Pseudonyms the patient registers do not know (counted in `confirmed`,
    /// county unknown).
    pub unresolved: usize,
    /// By county.
    pub by_county: BTreeMap<String, Counts>,
    /// By organisation.
    pub by_trust: BTreeMap<String, Counts>,
    /// Confirmed, by category.
    pub by_category: BTreeMap<String, usize>,
    /// The notification list (confirmed; pseudonyms).
    pub notification: Vec<Notify>,
    /// When the operator became aware (the first high-severity alert).
    pub awareness: Option<Timestamp>,
    /// Clocks from awareness.
    pub clocks: Vec<Clock>,
    /// The first accesses in scope (`file: line N`).
    pub evidence: Vec<String>,
    /// What the store read.
    pub scan: ScanStats,
    /// How long scoping took.
    pub seconds: f64,
}

/// The moment of awareness: the incident's first alert that belongs to the
/// intrusion (from patient zero on, naming a compromised host or account);
/// for an incident written before vakt said so, its first alert of high
/// severity or above.
pub fn awareness(incident: &Incident, alerts: &[Alert]) -> Option<Timestamp> {
    if incident.awareness.is_some() {
        return incident.awareness;
    }
    let ids: FxHashSet<&str> = incident.alerts.iter().map(String::as_str).collect();
    alerts
        .iter()
        .filter(|a| ids.contains(a.key.as_str()) && a.severity >= Severity::High)
        .map(|a| a.first)
        .min()
}

/// A scoping error.
#[derive(Debug, thiserror::Error)]
pub enum ScopeError {
    /// The store could not be read.
    #[error(transparent)]
    Store(#[from] StoreError),
}

const DAY: i64 = 86_400_000_000_000;

fn child_cutoff(t: Timestamp) -> String {
    // Born after this date: under 18 when the incident began.
    let d = t.to_rfc3339();
    let year: i32 = d.get(0..4).and_then(|y| y.parse().ok()).unwrap_or(1970);
    format!("{:04}{}", year - 18, d.get(4..10).unwrap_or("-01-01"))
}

/// The accounts and client hosts whose accesses count, from when, and the
/// record systems the attacker reached.
#[derive(Default)]
struct Sets {
    accounts: BTreeMap<String, InScope>,
    /// By address.
    hosts: BTreeMap<String, InScope>,
    reached: Vec<Reached>,
}

/// Why a compromised node is in scope: the evidence the incident names.
fn why(n: &crate::incident::Node) -> String {
    match &n.why {
        Some(w) => w.clone(),
        None => "acting in the incident's alerts".into(),
    }
}

fn in_scope(incident: &Incident) -> Sets {
    let mut sets = Sets::default();
    for n in &incident.nodes {
        let from = n.acting_since.unwrap_or(n.first_seen);
        match (n.kind.as_str(), n.role.as_str()) {
            ("account", "compromised") => {
                sets.accounts.insert(
                    n.name.clone(),
                    InScope {
                        key: n.key.clone(),
                        ip: None,
                        from,
                        why: why(n),
                        accesses: 0,
                    },
                );
            }
            ("host" | "ip", role) if role != "external" => {
                if let Some(holds) = &n.holds_patients_of {
                    sets.reached.push(Reached {
                        system: n.key.clone(),
                        kind: n.asset_kind.clone().unwrap_or_default(),
                        holds_patients_of: holds.clone(),
                        patients: 0,
                        from: n.first_seen,
                    });
                } else if role == "compromised"
                    && let Some(ip) = &n.ip
                {
                    sets.hosts.insert(
                        ip.clone(),
                        InScope {
                            key: n.key.clone(),
                            ip: Some(ip.clone()),
                            from,
                            why: why(n),
                            accesses: 0,
                        },
                    );
                }
            }
            _ => {}
        }
    }
    sets
}

/// Adds the accounts that logged on from a compromised host after it was
/// compromised (the stored Windows events).
/// Is a stored row of the scoped tenant? (Empty: every tenant.) Another
/// tenant's accesses are another trust's data and another key's pseudonyms.
fn of_tenant(tenant: &str, row: &str) -> bool {
    tenant.is_empty() || tenant == row
}

fn add_logons(
    store: &Store,
    tenant: &str,
    sets: &mut Sets,
    until: i64,
) -> Result<ScanStats, ScopeError> {
    let Some(from) = sets.hosts.values().map(|h| h.from.0).min() else {
        return Ok(ScanStats::default());
    };
    let mut found: BTreeMap<String, i64> = BTreeMap::new();
    let windows = |s: &vakt_core::SourceKind| s.is_windows();
    let hosts = &sets.hosts;
    let st = store.scan(&windows, from, until, &["user", "src_ip"], |r| {
        if !of_tenant(tenant, r.tenant) {
            return;
        }
        let (Some(user), Some(ip)) = (r.user, r.src_ip) else {
            return;
        };
        if let Some(h) = hosts.get(ip)
            && r.time >= h.from.0
            && let Some(a) = account_key(user)
        {
            let e = found.entry(a).or_insert(r.time);
            *e = (*e).min(r.time);
        }
    })?;
    for (a, t) in found {
        let why = "logged on from a compromised host";
        let e = sets.accounts.entry(a.clone()).or_insert_with(|| InScope {
            key: format!("account:{a}"),
            ip: None,
            from: Timestamp(t),
            why: why.into(),
            accesses: 0,
        });
        if t < e.from.0 {
            e.from = Timestamp(t);
            e.why = why.into();
        }
    }
    Ok(st)
}

/// The EHR accesses in scope: each patient's first access and by whom, and
/// the earliest few accesses' origins.
#[derive(Default)]
struct Accesses {
    first: FxHashMap<String, (i64, String)>,
    evidence: Vec<(i64, String)>,
    count: u64,
}

const EVIDENCE: usize = 10;

fn accesses(
    store: &Store,
    tenant: &str,
    patients: &PatientIndex,
    sets: &mut Sets,
    from: i64,
    until: i64,
) -> Result<(Accesses, ScanStats), ScopeError> {
    let mut out = Accesses::default();
    if sets.accounts.is_empty() && sets.hosts.is_empty() {
        return Ok((out, ScanStats::default()));
    }
    let mut per_account: FxHashMap<String, u64> = FxHashMap::default();
    let mut per_host: FxHashMap<String, u64> = FxHashMap::default();
    let (accounts, hosts) = (&sets.accounts, &sets.hosts);
    let st = store.scan(
        &|s| s.is_fhir_audit_event(),
        from,
        until,
        &["user", "src_ip", "patient", "origin_path", "origin_at"],
        |r| {
            if !of_tenant(tenant, r.tenant) {
                return;
            }
            let Some(ps) = r.patient else { return };
            let by_account = r.user.and_then(|u| {
                let a = patients.account(u)?;
                let s = accounts.get(&a)?;
                (r.time >= s.from.0).then_some(a)
            });
            let by_host = r
                .src_ip
                .and_then(|ip| hosts.get(ip).filter(|h| r.time >= h.from.0).map(|_| ip));
            let who = match (&by_account, by_host) {
                (Some(a), _) => format!("account:{a}"),
                (None, Some(ip)) => format!("ip:{ip}"),
                (None, None) => return,
            };
            out.count += 1;
            if let Some(a) = by_account {
                *per_account.entry(a).or_default() += 1;
            }
            if let Some(ip) = by_host {
                *per_host.entry(ip.to_owned()).or_default() += 1;
            }
            // The earliest accesses, whatever order the segments come in.
            let latest = out.evidence.iter().map(|e| e.0).max().unwrap_or(i64::MAX);
            if out.evidence.len() < EVIDENCE || r.time < latest {
                if out.evidence.len() == EVIDENCE
                    && let Some(i) = out.evidence.iter().position(|e| e.0 == latest)
                {
                    out.evidence.swap_remove(i);
                }
                let at = format!(
                    "{}: {}",
                    r.origin_path.unwrap_or("-"),
                    r.origin_at.unwrap_or("-")
                );
                out.evidence.push((r.time, at));
            }
            for p in ps.split(' ').filter(|p| !p.is_empty()) {
                let e = out
                    .first
                    .entry(p.to_owned())
                    .or_insert((r.time, who.clone()));
                if r.time < e.0 {
                    *e = (r.time, who.clone());
                }
            }
        },
    )?;
    for (a, s) in &mut sets.accounts {
        s.accesses = per_account.get(a).copied().unwrap_or(0);
    }
    for (ip, s) in &mut sets.hosts {
        s.accesses = per_host.get(ip).copied().unwrap_or(0);
    }
    out.evidence.sort();
    Ok((out, st))
}

/// The confirmed patients resolved and counted.
#[derive(Default)]
struct Tally {
    by_county: BTreeMap<String, Counts>,
    by_trust: BTreeMap<String, Counts>,
    by_category: BTreeMap<String, usize>,
    notification: Vec<Notify>,
    confirmed: FxHashSet<u32>,
    unresolved: usize,
}

fn tally(
    first: &FxHashMap<String, (i64, String)>,
    patients: &PatientIndex,
    start: Timestamp,
) -> Tally {
    let cutoff = child_cutoff(start);
    let mut t = Tally::default();
    let mut seen: FxHashSet<String> = FxHashSet::default();
    for (p, (at, by)) in first {
        let (pseudonym, trust, county, mut categories) = match patients.get(p) {
            Some(i) => {
                // The same patient named by record id and by identity number.
                if !t.confirmed.insert(i) {
                    continue;
                }
                let m = &patients.patients[i as usize];
                let mut c = Vec::new();
                if let Some(cat) = &m.protected {
                    c.push(format!("protected:{cat}"));
                }
                if m.birth.as_deref().is_some_and(|b| b > cutoff.as_str()) {
                    c.push("child".to_owned());
                }
                if m.restricted {
                    c.push("restricted".to_owned());
                }
                (
                    patients.pseudonym(i),
                    m.trust.to_string(),
                    m.county.to_owned(),
                    c,
                )
            }
            None => {
                t.unresolved += 1;
                (
                    p.clone(),
                    "unknown".to_owned(),
                    "unknown".to_owned(),
                    Vec::new(),
                )
            }
        };
        if !seen.insert(pseudonym.clone()) {
            continue;
        }
        categories.sort();
        t.by_county.entry(county.clone()).or_default().confirmed += 1;
        t.by_trust.entry(trust.clone()).or_default().confirmed += 1;
        for c in &categories {
            let k = c.split(':').next().unwrap_or(c).to_owned();
            *t.by_category.entry(k).or_default() += 1;
            if c.starts_with("protected:") {
                *t.by_category.entry(c.clone()).or_default() += 1;
            }
        }
        t.notification.push(Notify {
            patient: pseudonym,
            trust,
            county,
            categories,
            first_access: Timestamp(*at),
            by: by.clone(),
        });
    }
    t.notification.sort_by(|a, b| {
        a.trust
            .cmp(&b.trust)
            .then(a.first_access.cmp(&b.first_access))
            .then(a.patient.cmp(&b.patient))
    });
    t
}

/// Counts the holdings of reached record systems beyond the confirmed.
fn add_possible(patients: &PatientIndex, reached: &mut [Reached], t: &mut Tally) -> usize {
    let holders: BTreeSet<&str> = reached
        .iter()
        .map(|r| r.holds_patients_of.as_str())
        .collect();
    if holders.is_empty() {
        return 0;
    }
    let mut possible = 0;
    let mut per_org: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, m) in patients.patients.iter().enumerate() {
        if !holders.contains(&*m.trust) {
            continue;
        }
        *per_org.entry(&m.trust).or_default() += 1;
        if t.confirmed.contains(&(i as u32)) {
            continue;
        }
        possible += 1;
        t.by_county.entry(m.county.to_owned()).or_default().possible += 1;
        t.by_trust.entry(m.trust.to_string()).or_default().possible += 1;
    }
    for r in reached.iter_mut() {
        r.patients = per_org
            .get(r.holds_patients_of.as_str())
            .copied()
            .unwrap_or(0);
    }
    possible
}

/// Scopes an incident.
pub fn scope(
    incident: &Incident,
    alerts: &[Alert],
    store: &Store,
    patients: &PatientIndex,
    cfg: &ScopeConfig,
) -> Result<Exposure, ScopeError> {
    let started = Instant::now();
    // Without a compromised host the incident is an account's own conduct
    // (EHR access analytics alone): what it read while doing what was
    // flagged is exposed, not everything it read afterwards.
    let intrusion = incident
        .nodes
        .iter()
        .any(|n| n.kind != "account" && n.kind != "domain" && n.role == "compromised");
    let until = match cfg.until {
        Some(u) => u,
        None if intrusion => i64::MAX,
        None => incident.last.0.saturating_add(1),
    };
    let mut sets = in_scope(incident);
    let mut scan = add_logons(store, &cfg.tenant, &mut sets, until)?;
    let from = sets
        .accounts
        .values()
        .chain(sets.hosts.values())
        .map(|s| s.from.0)
        .min()
        .unwrap_or(incident.first.0);
    let (found, st) = accesses(store, &cfg.tenant, patients, &mut sets, from, until)?;
    add_scan(&mut scan, st);
    let mut t = tally(&found.first, patients, incident.first);
    let possible = add_possible(patients, &mut sets.reached, &mut t);
    let awareness = awareness(incident, alerts);
    let clocks = cfg
        .clocks
        .iter()
        .map(|c| Clock {
            name: c.name.clone(),
            hours: c.hours,
            due: awareness.map(|a| Timestamp(a.0 + i64::from(c.hours) * DAY / 24)),
        })
        .collect();
    Ok(Exposure {
        incident: incident.id.clone(),
        basis: if intrusion {
            "intrusion: accesses by the compromised accounts and hosts from when each was first seen acting"
        } else {
            "an account's own conduct: its accesses during the flagged activity"
        }
        .into(),
        from: Timestamp(from),
        until: (until != i64::MAX).then_some(Timestamp(until)),
        accounts: sets.accounts.into_values().collect(),
        hosts: sets.hosts.into_values().collect(),
        reached: sets.reached,
        confirmed: t.notification.len(),
        possible,
        accesses: found.count,
        unresolved: t.unresolved,
        by_county: t.by_county,
        by_trust: t.by_trust,
        by_category: t.by_category,
        notification: t.notification,
        awareness,
        clocks,
        evidence: found.evidence.into_iter().map(|(_, e)| e).collect(),
        scan,
        seconds: started.elapsed().as_secs_f64(),
    })
}

fn add_scan(to: &mut ScanStats, st: ScanStats) {
    to.segments += st.segments;
    to.row_groups_read += st.row_groups_read;
    to.row_groups_skipped += st.row_groups_skipped;
    to.rows += st.rows;
}
