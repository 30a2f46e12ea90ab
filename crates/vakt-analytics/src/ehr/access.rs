//! Reading an AuditEvent once for every EHR detector: who the user is, which
//! patients were read and whether the user has a care relationship with
//! each, the departments whose patients the user and their peers treat
//! (their community, learnt from reads with a relationship), and each user's
//! hour and day.

use std::net::IpAddr;
use std::sync::Arc;

use compact_str::CompactString;
use rustc_hash::{FxHashMap, FxHashSet};
use vakt_context::care::{EhrContext, Learned};
use vakt_core::field::{ACTOR_USER_NAME, ACTOR_USER_UID, PATIENT_UID, PURPOSE_OF_USE, SRC_IP};
use vakt_core::pseudo::Pseudonymiser;
use vakt_core::{Event, Value};

use super::{DAY, DayTally, EhrConfig, HOUR, HourTally, PatientRead, Tallies};

/// Purposes that explain reading a record without a recorded relationship.
const EMERGENCY_PURPOSES: [&str; 3] = ["ETREAT", "BTG", "ERTREAT"];

/// A department id nobody has.
const NO_DEPT: u32 = u32::MAX;

/// A care relationship with its department interned.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct CareC {
    from: i64,
    to: i64,
    dept: u32,
    staff: Vec<Box<str>>,
}

/// What the detectors need of a patient, looked up once.
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct PatientFacts {
    cares: Vec<CareC>,
    /// The context knows the patient.
    pub known: bool,
    /// On the register of protected persons.
    pub protected: bool,
    /// When the patient died (ns; `i64::MIN` when only known to be dead).
    pub deceased: Option<i64>,
    /// The county the patient lives in.
    pub county: Option<u8>,
}

/// A user, as the family knows them.
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct UserFacts {
    /// The account's name.
    pub name: Box<str>,
    /// The practitioner id of the member of staff.
    pub staff: Option<Box<str>>,
    /// The user's department, and the departments whose teams they are on (interned).
    depts: Vec<u32>,
    /// The peer group (same role and department).
    pub peer: Option<u32>,
    /// A service account.
    pub service: bool,
    /// Works in an emergency department.
    pub emergency_dept: bool,
    /// The trust the user works for.
    pub trust: Option<Box<str>>,
    /// The departments whose patients the user treats (read with a relationship).
    pub community: FxHashSet<u32>,
    addresses: FxHashMap<IpAddr, i64>,
    /// Days with reads, closed so far.
    pub days_seen: u32,
    hour: i64,
    day: i64,
    day_reads: usize,
}

/// A user's hour or day that ended.
#[derive(Debug, Clone, Copy)]
pub(crate) enum WindowEnd {
    Hour { user: u32, hour: i64 },
    Day { user: u32, day: i64 },
}

/// An access as worked out, before it is handed to the detectors.
pub(crate) struct Worked {
    pub user: u32,
    pub time: i64,
    pub clinical: bool,
    pub new_address: Option<IpAddr>,
}

/// What the EHR family knows: the context, the users and patients seen,
/// the peer groups' communities, and counts of what it could not judge.
pub struct Facts {
    ctx: Arc<EhrContext>,
    cfg: EhrConfig,
    pseudo: Arc<Pseudonymiser>,
    tenant: Arc<str>,
    users: Vec<UserFacts>,
    /// Ids to indexes; the keys inline (up to 24 bytes), so that a look-up
    /// among half a million patients costs one cache miss, not two.
    user_ids: FxHashMap<CompactString, u32>,
    patient_ids: FxHashMap<CompactString, u32>,
    patient_names: Vec<Box<str>>,
    patients: Vec<PatientFacts>,
    dept_ids: FxHashMap<Box<str>, u32>,
    /// Per peer group: the departments whose patients the group treats.
    communities: Vec<FxHashSet<u32>>,
    peer_ids: FxHashMap<(Box<str>, Box<str>), u32>,
    /// Staff identity number → practitioner id (for co-worker look-ups).
    staff_by_nin: FxHashMap<Box<str>, Box<str>>,
    /// Patient pseudonym → record id, when events carry pseudonyms.
    pseudonyms: Option<FxHashMap<String, Box<str>>>,
    /// Per user: the open hour and day, counted once for every detector.
    tallies: Vec<Tallies>,
    /// Reused per event: the patients named.
    ids: Vec<u32>,
    /// Reads counted as approved research exports (not judged).
    pub approved_research: u64,
    /// AuditEvents seen.
    pub events: u64,
    /// AuditEvents with no user or no patient (not judged).
    pub unattributed: u64,
    /// Patients named by an identity number that fails validation (bad input).
    pub invalid_identity_numbers: u64,
}

impl std::fmt::Debug for Facts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.footprint())
    }
}

fn bare(r: &str) -> &str {
    r.rsplit('/').next().unwrap_or(r)
}

fn staff_by_nin(ctx: &EhrContext) -> FxHashMap<Box<str>, Box<str>> {
    ctx.staff
        .iter()
        .filter_map(|(id, s)| s.nin.clone().map(|n| (n, id.clone())))
        .collect()
}

/// What [`Facts`] saves: everything but the configuration (context, limits,
/// pseudonymiser, tenant) and scratch space.
type FactsSaved = (
    Vec<UserFacts>,
    FxHashMap<CompactString, u32>,
    FxHashMap<CompactString, u32>,
    Vec<Box<str>>,
    Vec<PatientFacts>,
    FxHashMap<Box<str>, u32>,
    Vec<FxHashSet<u32>>,
    FxHashMap<(Box<str>, Box<str>), u32>,
    FxHashMap<Box<str>, Box<str>>,
    Option<FxHashMap<String, Box<str>>>,
    Vec<super::Tallies>,
    [u64; 4],
);

impl Facts {
    /// The users, patients, departments, peer groups and open tallies (see
    /// [`vakt_core::Detector::save`]).
    pub fn save(&self) -> Result<Vec<u8>, String> {
        vakt_core::detector::save_state(&(
            &self.users,
            &self.user_ids,
            &self.patient_ids,
            &self.patient_names,
            &self.patients,
            &self.dept_ids,
            &self.communities,
            &self.peer_ids,
            &self.staff_by_nin,
            &self.pseudonyms,
            &self.tallies,
            [
                self.approved_research,
                self.events,
                self.unattributed,
                self.invalid_identity_numbers,
            ],
        ))
    }

    /// Takes what [`Facts::save`] gave, keeping this instance's configuration.
    pub fn load(&mut self, b: &[u8]) -> Result<(), String> {
        let saved: FactsSaved = vakt_core::detector::load_state(b)?;
        let (users, user_ids, patient_ids, patient_names, patients, dept_ids, communities) = (
            saved.0, saved.1, saved.2, saved.3, saved.4, saved.5, saved.6,
        );
        self.users = users;
        self.user_ids = user_ids;
        self.patient_ids = patient_ids;
        self.patient_names = patient_names;
        self.patients = patients;
        self.dept_ids = dept_ids;
        self.communities = communities;
        self.peer_ids = saved.7;
        self.staff_by_nin = saved.8;
        self.pseudonyms = saved.9;
        self.tallies = saved.10;
        [
            self.approved_research,
            self.events,
            self.unattributed,
            self.invalid_identity_numbers,
        ] = saved.11;
        Ok(())
    }

    pub(crate) fn new(
        ctx: Arc<EhrContext>,
        cfg: EhrConfig,
        pseudo: Arc<Pseudonymiser>,
        tenant: Arc<str>,
    ) -> Facts {
        Facts {
            staff_by_nin: staff_by_nin(&ctx),
            ctx,
            cfg,
            pseudo,
            tenant,
            users: Vec::new(),
            user_ids: FxHashMap::default(),
            patient_ids: FxHashMap::default(),
            patient_names: Vec::new(),
            patients: Vec::new(),
            dept_ids: FxHashMap::default(),
            communities: Vec::new(),
            peer_ids: FxHashMap::default(),
            pseudonyms: None,
            tallies: Vec::new(),
            ids: Vec::new(),
            approved_research: 0,
            events: 0,
            unattributed: 0,
            invalid_identity_numbers: 0,
        }
    }

    /// Events carry patients as pseudonyms: match the context by pseudonym.
    pub(crate) fn pseudonymised_patients(&mut self) {
        let mut map = FxHashMap::default();
        for (id, info) in &self.ctx.patients {
            map.insert(self.pseudo.pseudonym(&self.tenant, id), id.clone());
            if let Some(n) = &info.nin {
                map.insert(self.pseudo.pseudonym(&self.tenant, n), id.clone());
            }
        }
        self.pseudonyms = Some(map);
    }

    /// The context.
    pub fn context(&self) -> &EhrContext {
        &self.ctx
    }

    /// The thresholds.
    pub fn config(&self) -> &EhrConfig {
        &self.cfg
    }

    /// The tenant.
    pub fn tenant(&self) -> &Arc<str> {
        &self.tenant
    }

    /// A user.
    pub fn user(&self, u: u32) -> &UserFacts {
        &self.users[u as usize]
    }

    /// A user's open hour (complete at its `HourEnd`), if they read at all.
    pub(crate) fn hour(&self, u: u32) -> Option<&HourTally> {
        self.tallies.get(u as usize).map(|t| &t.hour)
    }

    /// A user's open day (complete at its `DayEnd`), if they read at all.
    pub(crate) fn day(&self, u: u32) -> Option<&DayTally> {
        self.tallies.get(u as usize).map(|t| &t.day)
    }

    /// Counts an access in its user's hour and day.
    pub(crate) fn tally(
        &mut self,
        u: u32,
        t: i64,
        patients: &[PatientRead],
        o: &vakt_core::Origin,
    ) {
        super::slot(&mut self.tallies, u).see(t, patients, o);
    }

    /// Every detector has judged this hour or day: it starts again empty.
    pub(crate) fn close(&mut self, end: &WindowEnd) {
        match *end {
            WindowEnd::Hour { user, .. } => super::slot(&mut self.tallies, user).hour.clear(),
            WindowEnd::Day { user, .. } => {
                super::slot(&mut self.tallies, user).day = DayTally::default()
            }
        }
    }

    /// A user's account name.
    pub fn user_name(&self, u: u32) -> &str {
        &self.users[u as usize].name
    }

    /// A patient's record id (or identity number, as the event named it).
    pub fn patient_id(&self, p: u32) -> &str {
        &self.patient_names[p as usize]
    }

    /// What is known of a patient.
    pub fn patient(&self, p: u32) -> &PatientFacts {
        &self.patients[p as usize]
    }

    /// A patient's pseudonym: of the identity number when known, else of the
    /// record id; an event's pseudonym the context does not know is shown
    /// as it came.
    pub fn pseudonym(&self, p: u32) -> String {
        let id = &self.patient_names[p as usize];
        if self.pseudonyms.is_some() && !self.patients[p as usize].known {
            return id.to_string();
        }
        let key = self
            .ctx
            .patients
            .get(id)
            .and_then(|i| i.nin.as_deref())
            .unwrap_or(id);
        self.pseudo.pseudonym(&self.tenant, key)
    }

    /// The practitioner a staff identity number belongs to.
    pub fn staff_with_nin(&self, nin: &str) -> Option<&str> {
        self.staff_by_nin.get(nin).map(|s| &**s)
    }

    /// The departments whose patients the user's peer group treats.
    pub fn peer_community(&self, u: u32) -> Option<&FxHashSet<u32>> {
        self.users[u as usize]
            .peer
            .map(|g| &self.communities[g as usize])
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

    fn patient_index(&mut self, named: &str) -> u32 {
        if let Some(i) = self.patient_ids.get(named) {
            return *i;
        }
        // Read back from the store, a patient is a pseudonym: the record it
        // stands for, when the context knows it.
        if let Some(id) = self.pseudonyms.as_ref().and_then(|m| m.get(named)).cloned() {
            let i = self.patient_index(&id);
            self.patient_ids.insert(named.into(), i);
            return i;
        }
        // An AuditEvent may name the patient by identity number: the record
        // it belongs to, when the context knows it; a number that fails its
        // check digits is counted as bad input (and still judged as given).
        if vakt_core::nin::looks_like(named) {
            if vakt_core::nin::validate(named).is_err() {
                self.invalid_identity_numbers += 1;
            } else if let Some(pid) = self.ctx.nin_to_patient.get(named).cloned() {
                let i = self.patient_index(&pid);
                self.patient_ids.insert(named.into(), i);
                return i;
            }
        }
        let i = self.patient_names.len() as u32;
        self.patient_names.push(named.into());
        self.patient_ids.insert(named.into(), i);
        let facts = self.patient_facts(named);
        self.patients.push(facts);
        i
    }

    fn patient_facts(&mut self, id: &str) -> PatientFacts {
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
        PatientFacts {
            cares,
            known: info.is_some(),
            protected: ctx.protected.contains_key(id),
            deceased: info.and_then(|p| p.deceased),
            county: info.and_then(|p| p.municipality).map(|m| (m / 100) as u8),
        }
    }

    /// Takes a context resource arriving after the load and refreshes what depends on it.
    pub(crate) fn learn(&mut self, resource: &serde_json::Value) -> Result<(), String> {
        match Arc::make_mut(&mut self.ctx).learn(resource)? {
            Learned::Patient(p) => {
                if let Some(i) = self.patient_ids.get(&*p).copied() {
                    self.patients[i as usize] = self.patient_facts(&p);
                }
            }
            Learned::Staff => {
                self.staff_by_nin = staff_by_nin(&self.ctx);
                for u in 0..self.users.len() {
                    self.refresh_user(u);
                }
            }
            Learned::Nothing => {}
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

    fn user_index(&mut self, uid: &str, name: Option<&str>) -> u32 {
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
                let next = self.communities.len() as u32;
                let id = *self.peer_ids.entry(k).or_insert(next);
                if id == next {
                    self.communities.push(FxHashSet::default());
                }
                Some(id)
            }
            _ => None,
        };
        let user = UserFacts {
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
            hour: i64::MIN,
            day: i64::MIN,
            ..Default::default()
        };
        let i = self.users.len() as u32;
        self.users.push(user);
        self.user_ids.insert(uid.into(), i);
        self.refresh_user(i as usize);
        i
    }

    /// The user's hour and day that `t` is past, closed (hour first).
    fn roll(&mut self, u: u32, t: i64, ends: &mut Vec<WindowEnd>) {
        let (hour, day) = (t.div_euclid(HOUR), t.div_euclid(DAY));
        let user = &mut self.users[u as usize];
        if user.hour != hour {
            if user.hour != i64::MIN {
                ends.push(WindowEnd::Hour {
                    user: u,
                    hour: user.hour,
                });
            }
            user.hour = hour;
        }
        if user.day != day {
            if user.day != i64::MIN {
                if user.day_reads > 0 {
                    user.days_seen += 1;
                }
                ends.push(WindowEnd::Day {
                    user: u,
                    day: user.day,
                });
            }
            user.day = day;
            user.day_reads = 0;
        }
    }

    /// Every user's open hour and day, closed.
    pub(crate) fn close_all(&mut self) -> Vec<WindowEnd> {
        self.close_before(i64::MAX)
    }

    /// Every user's hour and day that ended before `now` (ns), closed.
    pub(crate) fn close_before(&mut self, now: i64) -> Vec<WindowEnd> {
        let mut ends = Vec::new();
        let (now_hour, now_day) = (now.div_euclid(HOUR), now.div_euclid(DAY));
        for (u, user) in self.users.iter_mut().enumerate() {
            let u = u as u32;
            if user.hour != i64::MIN && (now == i64::MAX || user.hour < now_hour) {
                ends.push(WindowEnd::Hour {
                    user: u,
                    hour: user.hour,
                });
                user.hour = i64::MIN;
            }
            if user.day != i64::MIN && (now == i64::MAX || user.day < now_day) {
                if user.day_reads > 0 {
                    user.days_seen += 1;
                }
                ends.push(WindowEnd::Day {
                    user: u,
                    day: user.day,
                });
                user.day = i64::MIN;
                user.day_reads = 0;
            }
        }
        ends
    }

    /// Works out an AuditEvent: the windows it closes (in `ends`, to be told
    /// first) and each patient read (in `reads`). `None` for anything that
    /// is not an access to judge (another event kind, no user or patient, an
    /// approved research export).
    pub(crate) fn access(
        &mut self,
        e: &Event,
        reads: &mut Vec<PatientRead>,
        ends: &mut Vec<WindowEnd>,
    ) -> Option<Worked> {
        if !e.source.is_fhir_audit_event() {
            return None;
        }
        self.events += 1;
        let uid = match e.common(ACTOR_USER_UID).and_then(Value::as_str) {
            Some(u) => u,
            None => match e.common(ACTOR_USER_NAME).and_then(Value::as_str) {
                Some(n) => n,
                None => {
                    self.unattributed += 1;
                    return None;
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
            return None;
        }
        let name = e.common(ACTOR_USER_NAME).and_then(Value::as_str);
        let u = self.user_index(uid, name);
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
        let research = has_purpose(&["HRESCH"])
            && self.users[u as usize]
                .staff
                .as_deref()
                .and_then(|s| self.ctx.staff.get(s))
                .and_then(|s| s.role.as_deref())
                == Some("researcher");
        if research {
            self.approved_research += n_patients as u64;
            return None;
        }
        let explained_purpose = has_purpose(&EMERGENCY_PURPOSES);
        let clinical = has_purpose(&["TREAT", "ETREAT", "BTG"]);
        let src = e.common(SRC_IP).and_then(Value::as_ip);
        reads.clear();
        let mut ids = std::mem::take(&mut self.ids);
        ids.clear();
        match patients {
            Some(Value::Str(p)) => ids.push(self.patient_index(bare(p))),
            Some(Value::List(items)) => {
                for p in items.iter().filter_map(Value::as_str) {
                    ids.push(self.patient_index(bare(p)));
                }
            }
            _ => {}
        }
        self.roll(u, t, ends);
        let after = self.cfg.relationship_after;
        let user = &mut self.users[u as usize];
        user.day_reads += ids.len();
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
        let explained = explained_purpose || user.emergency_dept;
        for &pid in &ids {
            let pc = &self.patients[pid as usize];
            let related = if user.service {
                None
            } else {
                user.staff.as_deref().and_then(|me| {
                    pc.cares.iter().find(|c| {
                        t >= c.from.saturating_sub(DAY)
                            && t <= c.to.saturating_add(after)
                            && (user.depts.contains(&c.dept) || c.staff.iter().any(|s| &**s == me))
                    })
                })
            };
            let mut read = PatientRead {
                patient: pid,
                related: false,
                inside_community: false,
                explained,
            };
            match related {
                Some(c) => {
                    read.related = true;
                    // The departments whose patients a user treats are their community.
                    if c.dept != NO_DEPT && user.community.len() < 256 {
                        user.community.insert(c.dept);
                        if let Some(g) = user.peer {
                            self.communities[g as usize].insert(c.dept);
                        }
                    }
                }
                None if !user.service => {
                    // Outside the community: none of the patient's care
                    // departments is one the user or their peers treat patients of.
                    let peer_community = user.peer.map(|g| &self.communities[g as usize]);
                    read.inside_community = pc.cares.iter().any(|c| {
                        user.community.contains(&c.dept)
                            || peer_community.is_some_and(|pc| pc.contains(&c.dept))
                    });
                }
                None => {}
            }
            reads.push(read);
        }
        self.ids = ids;
        Some(Worked {
            user: u,
            time: t,
            clinical,
            new_address,
        })
    }

    /// Users and patients held.
    pub fn footprint(&self) -> String {
        format!(
            "users {}; patients seen {}; peer groups {}",
            self.users.len(),
            self.patient_names.len(),
            self.communities.len()
        )
    }
}
