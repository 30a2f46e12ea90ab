//! People and places, and insiders who misuse their access.
//!
//! Every member of staff has an identity number, a family name and a home
//! address on their Practitioner record, and a few are themselves patients
//! of their trust (their own record holds the same identity number). Every
//! patient has a home address: a street of their municipality and a house
//! number. That is what a privacy office's checks look at — a colleague's
//! record, a relative's (same family name and address), a neighbour's.
//!
//! Insiders ([`Insiders::plan`], drawn per seed from their own random stream
//! so that the rest of the region is unchanged): members of staff who snoop
//! on colleagues, family and neighbours, on protected persons, slowly on
//! strangers day after day, who browse records in bulk, export outside an
//! approval, or read as a service account. Each case's kind, user, patients,
//! reads and time span go into `truth/insiders.json` beside the intrusion's
//! truth.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::json;

use crate::format::audit_event;
use crate::output::{Rec, Stream};
use crate::region::{HostKind, Region, Role};
use crate::rng::Rng;
use crate::{DAY, EPOCH, HOUR, MINUTE, SECOND, World};

const PREFIX: &[&str] = &[
    "Kirke",
    "Skole",
    "Stor",
    "Bjørke",
    "Furu",
    "Gran",
    "Eike",
    "Rogne",
    "Hassel",
    "Lønne",
    "Sol",
    "Måne",
    "Stjerne",
    "Fjell",
    "Dal",
    "Elve",
    "Bekke",
    "Sjø",
    "Strand",
    "Brygge",
    "Torg",
    "Mølle",
    "Smie",
    "Prest",
    "Lens",
    "Dokter",
    "Apotek",
    "Post",
    "Stasjon",
    "Jernbane",
    "Kongens ",
    "Dronning ",
    "Prinsens ",
    "Nedre ",
    "Øvre ",
    "Vestre ",
    "Østre ",
    "Søndre ",
    "Nordre ",
    "Gamle ",
    "Nye ",
    "Lille ",
    "Store ",
    "Lyng",
    "Einer",
    "Rips",
    "Hegg",
    "Selje",
    "Ospe",
    "Alm",
    "Lind",
    "Ask",
    "Bøk",
    "Kastanje",
    "Rose",
    "Tulipan",
    "Lilje",
    "Kløver",
    "Blåbær",
    "Tyttebær",
];
const MID: &[&str] = &[
    "", "s", "berg", "dal", "lund", "vik", "nes", "hagen", "li", "mo", "rud", "seter", "stad",
    "by", "holm", "ås", "myr", "bø", "tveit", "land",
];
const SUFFIX: &[&str] = &[
    "gata", "veien", "stien", "bakken", "lia", "haugen", "tunet", "åsen", "jordet", "svingen",
];

/// Where everyone lives, and who is who.
#[derive(Debug, Clone)]
pub struct People {
    /// Per patient: home address line (`Kirkeveien 12`) and postal code.
    pub address: Vec<(String, String)>,
    /// Per member of staff: identity number, family name, home address, postal code, municipality.
    pub staff: Vec<StaffIdentity>,
}

/// A member of staff as their Practitioner record says.
#[derive(Debug, Clone)]
pub struct StaffIdentity {
    /// Identity number.
    pub nin: String,
    /// Family name.
    pub family: String,
    /// Given name.
    pub given: String,
    /// Their own record in their trust, if they are a patient there.
    pub patient: Option<u32>,
    /// Home address line.
    pub line: String,
    /// Postal code.
    pub postal: String,
    /// Municipality number.
    pub municipality: String,
}

const NAMES: usize = 60 * 20 * 10;

fn street_name(i: usize) -> String {
    let mid = MID[(i / PREFIX.len()) % MID.len()];
    let prefix = PREFIX[i % PREFIX.len()];
    // `Kongens gata`, `Kirkebergveien`.
    let prefix = if prefix.ends_with(' ') && !mid.is_empty() {
        prefix.trim_end()
    } else {
        prefix
    };
    format!(
        "{prefix}{mid}{}",
        SUFFIX[(i / (PREFIX.len() * MID.len())) % SUFFIX.len()]
    )
}

/// The street (index into the name space) a municipality's `k`-th street has.
fn street_of(municipality: &str, k: usize) -> usize {
    let m: usize = municipality.parse().unwrap_or(0);
    (m * 7919 + k * 104_729) % NAMES
}

fn postal(municipality: &str, street: usize) -> String {
    let m: usize = municipality.parse().unwrap_or(0);
    format!("{:04}", 1000 + (m * 31 + street % 7) % 8999)
}

impl People {
    /// Addresses for every patient and identities for every member of staff.
    pub fn build(region: &Region, rng: &mut Rng) -> People {
        // As many streets as the real municipality has (about one per 150
        // people), so that two sampled patients rarely share one.
        let mut population: BTreeMap<&str, u32> = BTreeMap::new();
        for c in &region.counties {
            for (code, _, pop) in c.municipalities {
                population.insert(code, *pop);
            }
        }
        let streets = |m: &str| (population.get(m).copied().unwrap_or(3000) as usize / 150).max(3);
        let mut address = Vec::with_capacity(region.patients.len());
        for p in &region.patients {
            let s = street_of(
                p.municipality,
                rng.below(streets(p.municipality) as u64) as usize,
            );
            let line = format!("{} {}", street_name(s), 1 + rng.below(120));
            address.push((line, postal(p.municipality, s)));
        }
        // Staff: some are patients of their own trust (their record is theirs).
        let mut by_family: BTreeMap<(usize, &str), Vec<u32>> = BTreeMap::new();
        for (i, p) in region.patients.iter().enumerate() {
            by_family
                .entry((p.trust, p.family))
                .or_default()
                .push(i as u32);
        }
        let mut taken: BTreeSet<u32> = BTreeSet::new();
        let patient_nins: std::collections::HashSet<&str> =
            region.patients.iter().map(|p| p.nin.as_str()).collect();
        let mut staff = Vec::with_capacity(region.staff.len());
        for s in &region.staff {
            let (given, family) = s.name.split_once(' ').unwrap_or(("", s.name.as_str()));
            let own = if s.role != Role::Service && rng.chance(0.05) {
                by_family.get(&(s.trust, family)).and_then(|c| {
                    let free: Vec<u32> = c.iter().copied().filter(|p| !taken.contains(p)).collect();
                    (!free.is_empty()).then(|| *rng.pick(&free))
                })
            } else {
                None
            };
            let ident = match own {
                Some(p) => {
                    taken.insert(p);
                    let pt = &region.patients[p as usize];
                    StaffIdentity {
                        nin: pt.nin.clone(),
                        family: family.to_owned(),
                        given: given.to_owned(),
                        patient: Some(p),
                        line: address[p as usize].0.clone(),
                        postal: address[p as usize].1.clone(),
                        municipality: pt.municipality.to_owned(),
                    }
                }
                None => {
                    // Someone living in the trust's area, not a patient here.
                    let near: Vec<&str> = region
                        .patients
                        .iter()
                        .filter(|p| p.trust == s.trust)
                        .take(50)
                        .map(|p| p.municipality)
                        .collect();
                    let m = if near.is_empty() {
                        "0301"
                    } else {
                        *rng.pick(&near)
                    };
                    let st = street_of(m, rng.below(streets(m) as u64) as usize);
                    // A number no patient here has.
                    let mut nin = String::new();
                    for _ in 0..20 {
                        nin = crate::nin::synthetic(
                            1950 + rng.below(45) as i32,
                            1 + rng.below(12) as u32,
                            1 + rng.below(28) as u32,
                            rng.below(500) as u32,
                        )
                        .unwrap_or_default();
                        if !patient_nins.contains(nin.as_str()) {
                            break;
                        }
                    }
                    StaffIdentity {
                        nin,
                        family: family.to_owned(),
                        given: given.to_owned(),
                        patient: None,
                        line: format!("{} {}", street_name(st), 1 + rng.below(120)),
                        postal: postal(m, st),
                        municipality: m.to_owned(),
                    }
                }
            };
            staff.push(ident);
        }
        People { address, staff }
    }
}

/// One insider's misuse, as the truth records it.
#[derive(Debug, Clone)]
pub struct Case {
    /// `colleague`, `family`, `neighbour`, `protected`, `slow`, `bulk`, `export`, `service`.
    pub kind: &'static str,
    /// How it was done (e.g. `clinician-export`, `research-export-unapproved`).
    pub shape: &'static str,
    /// The member of staff.
    pub staff: usize,
    /// The account used (the staff member's own, or a service account).
    pub account: usize,
    /// The reads: time, subtype, purpose, patients.
    pub reads: Vec<(i64, &'static str, &'static str, Vec<u32>)>,
}

/// The planned insider cases.
#[derive(Debug, Clone, Default)]
pub struct Insiders {
    /// The cases.
    pub cases: Vec<Case>,
    next: usize,
    /// All reads in time order: (time, case, read).
    order: Vec<(i64, usize, usize)>,
}

/// A time in `staff`'s shift on `day` (UTC; day shift 07–15, night 21–05).
fn in_shift(rng: &mut Rng, night: bool, day: i64) -> i64 {
    let start = EPOCH + day * DAY + if night { 21 * HOUR } else { 7 * HOUR };
    start + rng.range(0, 8 * HOUR - MINUTE)
}

impl Insiders {
    /// Draws the cases: which kinds, how many, their shapes and times.
    /// `avoid`: members of staff who must not be insiders (the intrusion's
    /// accounts). Changes `people` where a case needs it (a relative living
    /// with the insider, a neighbour on their street).
    pub fn plan(world: &World, people: &mut People, rng: &mut Rng, avoid: &[usize]) -> Insiders {
        let r = world.region;
        let days = i64::from(world.cfg.days);
        let clinical: Vec<usize> = (0..r.staff.len())
            .filter(|s| r.staff[*s].role.clinical() && !avoid.contains(s))
            .collect();
        if clinical.is_empty() {
            return Insiders::default();
        }
        let mut used: BTreeSet<usize> = BTreeSet::new();
        let mut cases = Vec::new();
        let pick_user = |rng: &mut Rng, used: &mut BTreeSet<usize>| -> usize {
            for _ in 0..50 {
                let s = *rng.pick(&clinical);
                if used.insert(s) {
                    return s;
                }
            }
            clinical[0]
        };
        let kinds = [
            "colleague",
            "family",
            "neighbour",
            "protected",
            "slow",
            "bulk",
            "export",
            "service",
        ];
        for kind in kinds {
            // Each kind present with probability 0.75, once or twice.
            if !rng.chance(0.75) {
                continue;
            }
            let n = 1 + usize::from(rng.chance(0.3));
            for _ in 0..n {
                let s = pick_user(rng, &mut used);
                let st = &r.staff[s];
                let trust = st.trust;
                let pool = &world.trust_patients[trust];
                let day = rng.below(days.max(1) as u64) as i64;
                let mut reads = Vec::new();
                let mut shape = "snooping";
                let mut account = s;
                match kind {
                    "colleague" => {
                        // Colleagues who are patients here; one made so if none.
                        let mut mates: Vec<u32> = world.trust_staff[trust]
                            .iter()
                            .filter(|o| **o != s)
                            .filter_map(|o| people.staff[*o].patient)
                            .collect();
                        if mates.is_empty() {
                            continue;
                        }
                        let k = 1 + rng.below(3) as usize;
                        for _ in 0..k {
                            let p = *rng.pick(&mates);
                            mates.retain(|m| *m != p);
                            let d = rng.below(days.max(1) as u64) as i64;
                            reads.push((in_shift(rng, st.night, d), "read", "TREAT", vec![p]));
                            if mates.is_empty() {
                                break;
                            }
                        }
                    }
                    "family" => {
                        // A relative: same family name, made to live with the insider.
                        let fam = people.staff[s].family.clone();
                        let own = people.staff[s].patient;
                        let rel: Vec<u32> = pool
                            .iter()
                            .copied()
                            .filter(|p| r.patients[*p as usize].family == fam && Some(*p) != own)
                            .collect();
                        if rel.is_empty() {
                            continue;
                        }
                        let k = 1 + rng.below(2) as usize;
                        for _ in 0..k {
                            let p = *rng.pick(&rel);
                            people.address[p as usize] =
                                (people.staff[s].line.clone(), people.staff[s].postal.clone());
                            for _ in 0..1 + rng.below(3) {
                                let d = rng.below(days.max(1) as u64) as i64;
                                reads.push((in_shift(rng, st.night, d), "read", "TREAT", vec![p]));
                            }
                        }
                    }
                    "neighbour" => {
                        // Someone on the insider's street (same town), made so.
                        let line = people.staff[s].line.clone();
                        let street: String = line
                            .rsplit_once(' ')
                            .map_or(line.clone(), |(a, _)| a.to_owned());
                        let k = 1 + rng.below(3) as usize;
                        for _ in 0..k {
                            let p = *rng.pick(pool);
                            people.address[p as usize] = (
                                format!("{street} {}", 121 + rng.below(80)),
                                people.staff[s].postal.clone(),
                            );
                            let d = rng.below(days.max(1) as u64) as i64;
                            reads.push((in_shift(rng, st.night, d), "read", "TREAT", vec![p]));
                        }
                    }
                    "protected" => {
                        let prot: Vec<u32> = pool
                            .iter()
                            .copied()
                            .filter(|p| r.patients[*p as usize].protected.is_some())
                            .collect();
                        if prot.is_empty() {
                            continue;
                        }
                        for _ in 0..1 + rng.below(3) {
                            let p = *rng.pick(&prot);
                            let d = rng.below(days.max(1) as u64) as i64;
                            reads.push((in_shift(rng, st.night, d), "read", "TREAT", vec![p]));
                        }
                    }
                    "slow" => {
                        // One to three strangers a day, every day.
                        shape = "slow-snooping";
                        for d in 0..days {
                            for _ in 0..1 + rng.below(3) {
                                let p = *rng.pick(pool);
                                reads.push((in_shift(rng, st.night, d), "read", "TREAT", vec![p]));
                            }
                        }
                    }
                    "bulk" => {
                        // Browsing: dozens of records within the hour.
                        shape = "bulk-browsing";
                        // A person clicking through records: irregular
                        // pauses (a few seconds to a couple of minutes).
                        let mut t = in_shift(rng, st.night, day);
                        let k = 40 + rng.below(110) as i64;
                        for _ in 0..k {
                            let p = *rng.pick(pool);
                            reads.push((t, "read", "TREAT", vec![p]));
                            let pause = -(1.0 - rng.unit()).ln() * 25.0;
                            t += 3 * SECOND + (pause.min(240.0) * SECOND as f64) as i64;
                        }
                    }
                    "export" => {
                        let n = 200 + rng.below(1300) as usize;
                        let chosen: Vec<u32> = (0..n).map(|_| *rng.pick(pool)).collect();
                        let t = in_shift(rng, st.night, day);
                        // A researcher exporting beyond an approval, or a clinician exporting.
                        let researchers: Vec<usize> = world.trust_staff[trust]
                            .iter()
                            .copied()
                            .filter(|o| r.staff[*o].role == Role::Researcher && !avoid.contains(o))
                            .collect();
                        if !researchers.is_empty() && rng.chance(0.4) {
                            shape = "research-export-unapproved";
                            account = *rng.pick(&researchers);
                            used.insert(account);
                            reads.push((t, "export", "HRESCH", chosen));
                        } else {
                            shape = "clinician-export";
                            reads.push((t, "export", "TREAT", chosen));
                        }
                    }
                    "service" => {
                        // The integration account's password, used from a workstation.
                        shape = "service-account-from-workstation";
                        account = world.service[trust];
                        let start = in_shift(rng, st.night, day);
                        for i in 0..5 + rng.below(25) as i64 {
                            let p = *rng.pick(pool);
                            reads.push((
                                start + i * rng.range(MINUTE, 4 * MINUTE),
                                "read",
                                "TREAT",
                                vec![p],
                            ));
                        }
                    }
                    _ => {}
                }
                // What would fall after the simulated period never happens.
                reads.retain(|r| r.0 < world.end);
                if reads.is_empty() {
                    continue;
                }
                // The unapproved research export is the researcher's own doing.
                let staff = if shape == "research-export-unapproved" {
                    account
                } else {
                    s
                };
                cases.push(Case {
                    kind,
                    shape,
                    staff,
                    account,
                    reads,
                });
            }
        }
        let mut order: Vec<(i64, usize, usize)> = cases
            .iter()
            .enumerate()
            .flat_map(|(c, case)| case.reads.iter().enumerate().map(move |(i, r)| (r.0, c, i)))
            .collect();
        order.sort();
        Insiders {
            cases,
            next: 0,
            order,
        }
    }

    /// The insiders' AuditEvents in the hour starting at `t0`.
    pub fn hour(&mut self, world: &mut World, t0: i64, recs: &mut Vec<Rec>) {
        let r = world.region;
        while self.next < self.order.len() && self.order[self.next].0 < t0 + HOUR {
            let (t, c, i) = self.order[self.next];
            self.next += 1;
            if t < t0 {
                continue;
            }
            let case = &self.cases[c];
            let (_, subtype, purpose, patients) = &case.reads[i];
            let user = &r.staff[case.staff];
            let acct = &r.staff[case.account];
            let trust = user.trust;
            let ehr = r.servers(trust, HostKind::Ehr);
            let ids: Vec<&str> = patients
                .iter()
                .map(|p| r.patients[*p as usize].id.as_str())
                .collect();
            let id = world.next_audit_id();
            let text = audit_event(
                &id,
                t,
                subtype,
                &acct.id,
                &acct.name,
                r.hosts[user.workstation].ip,
                &r.hosts[ehr[0]].name,
                purpose,
                &ids,
            );
            recs.push(Rec {
                t,
                trust,
                stream: Stream::Audit,
                text,
                tag: None,
            });
        }
    }

    /// `truth/insiders.json`.
    pub fn truth(&self, r: &Region) -> serde_json::Value {
        let cases: Vec<_> = self
            .cases
            .iter()
            .enumerate()
            .map(|(n, c)| {
                let first = c.reads.iter().map(|x| x.0).min().unwrap_or(0);
                let last = c.reads.iter().map(|x| x.0).max().unwrap_or(0);
                let patients: BTreeSet<&str> = c
                    .reads
                    .iter()
                    .flat_map(|x| x.3.iter().map(|p| r.patients[*p as usize].id.as_str()))
                    .collect();
                let u = &r.staff[c.staff];
                let a = &r.staff[c.account];
                json!({
                    "case": format!("insider-{:02}", n + 1),
                    "kind": c.kind,
                    "shape": c.shape,
                    "trust": r.trusts[u.trust].id,
                    "staff": {"user": u.user, "practitioner": u.id, "role": u.role.code()},
                    "account": {"user": a.user, "practitioner": a.id},
                    "reads": c.reads.len(),
                    "patients": patients,
                    "first": vakt_core::Timestamp(first).to_rfc3339(),
                    "last": vakt_core::Timestamp(last).to_rfc3339(),
                })
            })
            .collect();
        json!({
            "means": "members of staff misusing their access to the health record, drawn per seed: snooping on colleagues (their own records here), relatives (same family name and address), neighbours (same street and town), protected persons, slowly on strangers day after day, bulk browsing, exports outside an approval, reading as a service account. Every read is the insider's, for no reason of care (a patient may by chance be in the care of the insider's department at the time).",
            "cases": cases,
        })
    }
}
