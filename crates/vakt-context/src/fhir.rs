//! Loading the care context ([`EhrContext`]): from a folder (`--context DIR`, walked recursively) of FHIR R4/R5
//! resources — NDJSON (bulk export), a Bundle, or single resources — and CSV
//! registers (CSV registers are read by [`crate::register`]):
//!
//! | resource | what is kept |
//! |---|---|
//! | `Patient` | identity number (`identifier` with the Norwegian FNR/DNR systems, else any valid 11-digit number), family name, home address (line, postal code, municipality code from `address.extension` or `district`), `deceasedDateTime`/`deceasedBoolean`, `managingOrganization`, `birthDate`, restricted (`meta.security` R/V) |
//! | `Practitioner` | user name (`identifier` with a `username` system, else the id), identity number, family name, address |
//! | `PractitionerRole` | role code and department (`organization`), per practitioner |
//! | `Organization` | name, `partOf` (department → trust), whether it is an emergency department (type `ER`/`emergency`, or a name with *akutt*, *legevakt*, *emergency*) |
//! | `Encounter` | patient, period, department (`serviceProvider`), participants |
//! | `EpisodeOfCare` | patient, period, `managingOrganization`, `careManager`, `team` |
//! | `CareTeam` | members; its `subject` (a patient) or its `managingOrganization` (a department team) |
//! | CSV with `category` | the register of protected persons: `patient_id` and/or `nin`, `category` |
//!
//! A resource that cannot be used (no id, an identity number that fails its
//! check digits, a bad date) is reported with its file and line or entry and
//! counted; the rest is loaded. Identity numbers are validated with
//! [`vakt_core::nin::validate`].

use std::path::{Path, PathBuf};

use rustc_hash::{FxHashMap, FxHashSet};
use serde_json::Value as Json;
use vakt_core::Timestamp;

use crate::care::{Care, ContextProblem, EhrContext, Learned, OrgInfo, PatientInfo, StaffInfo};

const NIN_SYSTEMS: [&str; 3] = [
    "urn:oid:2.16.578.1.12.4.1.4.1",
    "urn:oid:2.16.578.1.12.4.1.4.2",
    "urn:oid:2.16.578.1.12.4.1.4.3",
];

pub(crate) fn last_segment(r: &str) -> &str {
    let r = r.split("/_history").next().unwrap_or(r);
    let r = r.rsplit('/').next().unwrap_or(r);
    r.strip_prefix("urn:uuid:").unwrap_or(r)
}

/// A reference's target id: the last segment of `reference` (versions and
/// `urn:uuid:` stripped), else a logical reference's `identifier.value`
/// (resolved to an id by the caller where it can be).
fn reference(v: Option<&Json>) -> Option<&str> {
    let v = v?;
    v.get("reference")
        .and_then(Json::as_str)
        .map(last_segment)
        .or_else(|| v.get("identifier")?.get("value")?.as_str())
}

pub(crate) fn lower(s: &str) -> Box<str> {
    s.trim().to_lowercase().into_boxed_str()
}

fn time(v: Option<&Json>) -> Result<Option<i64>, String> {
    match v.and_then(Json::as_str) {
        None => Ok(None),
        Some(s) => {
            // A date alone is the start of that day.
            let full = if s.len() == 10 {
                format!("{s}T00:00:00Z")
            } else {
                s.to_owned()
            };
            Timestamp::parse(&full)
                .map(|t| Some(t.0))
                .map_err(|e| format!("bad date `{s}`: {e}"))
        }
    }
}

/// The street of an address line: the line without its house number.
fn street_of(line: &str) -> Box<str> {
    let words: Vec<&str> = line
        .split_whitespace()
        .take_while(|w| !w.chars().next().is_some_and(|c| c.is_ascii_digit()))
        .collect();
    lower(&words.join(" "))
}

struct Address {
    line: Option<Box<str>>,
    street: Option<Box<str>>,
    postal: Option<Box<str>>,
    municipality: Option<u16>,
}

fn address(res: &Json) -> Address {
    let home = res.get("address").and_then(Json::as_array).and_then(|a| {
        a.iter()
            .find(|x| x.get("use").and_then(Json::as_str) == Some("home"))
            .or_else(|| a.first())
    });
    let Some(a) = home else {
        return Address {
            line: None,
            street: None,
            postal: None,
            municipality: None,
        };
    };
    let line = a
        .get("line")
        .and_then(Json::as_array)
        .and_then(|l| l.first())
        .and_then(Json::as_str)
        .filter(|s| !s.trim().is_empty());
    let municipality = a
        .get("extension")
        .and_then(Json::as_array)
        .into_iter()
        .flatten()
        .filter_map(|x| {
            x.get("valueCoding")
                .and_then(|c| c.get("code"))
                .and_then(Json::as_str)
        })
        .chain(a.get("district").and_then(Json::as_str))
        .find_map(|c| {
            (c.len() == 4 && c.bytes().all(|b| b.is_ascii_digit()))
                .then(|| c.parse::<u16>().ok())
                .flatten()
        });
    Address {
        line: line.map(lower),
        street: line.map(street_of),
        postal: a.get("postalCode").and_then(Json::as_str).map(lower),
        municipality,
    }
}

fn family(res: &Json) -> Option<Box<str>> {
    let name = res.get("name")?.as_array()?.first()?;
    name.get("family")
        .and_then(Json::as_str)
        .map(lower)
        .or_else(|| {
            name.get("text")
                .and_then(Json::as_str)
                .and_then(|t| t.split_whitespace().last())
                .map(lower)
        })
}

/// The identity number among a resource's identifiers: one under a
/// Norwegian FNR/DNR/HNR system, else any 11-digit value. `Err` when the one
/// found fails validation.
fn nin(res: &Json) -> Result<Option<Box<str>>, String> {
    let ids: Vec<&Json> = res
        .get("identifier")
        .and_then(Json::as_array)
        .map(|a| a.iter().collect())
        .unwrap_or_default();
    fn value<'a>(i: &&'a Json) -> Option<&'a str> {
        i.get("value").and_then(Json::as_str)
    }
    let chosen = ids
        .iter()
        .find(|i| {
            i.get("system")
                .and_then(Json::as_str)
                .is_some_and(|s| NIN_SYSTEMS.contains(&s))
        })
        .and_then(value)
        .or_else(|| {
            // An 11-digit identifier under no system at all; one under
            // another country's system (a Dutch BSN or UZI number) is not ours.
            ids.iter()
                .filter(|i| i.get("system").is_none())
                .filter_map(value)
                .find(|v| vakt_core::nin::looks_like(v))
        });
    match chosen {
        None => Ok(None),
        Some(v) => vakt_core::nin::validate(v)
            .map(|_| Some(v.into()))
            .map_err(|e| format!("identity number {}: {e}", mask(v))),
    }
}

/// An identity number shown in an error without giving it away: its birth date part only.
pub(crate) fn mask(nin: &str) -> String {
    if nin.len() == 11 {
        format!("{}*****", &nin[..6])
    } else {
        "(not 11 digits)".into()
    }
}

impl EhrContext {
    /// Loads every file under `paths` (folders walked recursively, in name order).
    pub fn load(paths: &[PathBuf]) -> EhrContext {
        let mut ctx = EhrContext::default();
        let mut files = Vec::new();
        for p in paths {
            if let Err(e) = vakt_core::files::walk(p, &|_| true, &mut files) {
                ctx.problems.push(ContextProblem {
                    path: p.clone(),
                    at: 0,
                    reason: format!("cannot read: {e}"),
                });
            }
        }
        let mut registers = Vec::new();
        for f in &files {
            let name = f.to_string_lossy().to_lowercase();
            if name.ends_with(".csv") {
                registers.push(f.clone());
            } else if name.ends_with(".json")
                || name.ends_with(".ndjson")
                || name.ends_with(".jsonl")
            {
                ctx.load_json_file(f);
            }
        }
        for f in &registers {
            ctx.load_register(f);
        }
        ctx.finish();
        ctx
    }

    /// Records a problem with a file (at a line or entry, 0 for the whole file).
    pub(crate) fn problem(&mut self, path: &Path, at: u64, reason: impl Into<String>) {
        self.problems.push(ContextProblem {
            path: path.to_owned(),
            at,
            reason: reason.into(),
        });
    }

    fn load_json_file(&mut self, path: &Path) {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) => return self.problem(path, 0, format!("cannot read: {e}")),
        };
        let trimmed = text.trim_start();
        // One JSON document (a Bundle or a resource), else NDJSON.
        if let Ok(doc) = serde_json::from_str::<Json>(trimmed) {
            if doc.get("resourceType").is_none() {
                self.skipped.push(path.to_owned());
                return;
            }
            if doc.get("resourceType").and_then(Json::as_str) == Some("Bundle") {
                for (i, e) in doc
                    .get("entry")
                    .and_then(Json::as_array)
                    .into_iter()
                    .flatten()
                    .enumerate()
                {
                    if let Some(r) = e.get("resource") {
                        self.resource(path, i as u64 + 1, r);
                    }
                }
            } else {
                self.resource(path, 1, &doc);
            }
            return;
        }
        // A file whose first record is not a FHIR resource, or is an event
        // (AuditEvent), is not context: it is passed over whole.
        let first = text
            .lines()
            .find(|l| !l.trim().is_empty())
            .and_then(|l| serde_json::from_str::<Json>(l).ok());
        match first
            .as_ref()
            .and_then(|f| f.get("resourceType"))
            .and_then(Json::as_str)
        {
            None | Some("AuditEvent") => {
                self.skipped.push(path.to_owned());
                return;
            }
            Some(_) => {}
        }
        for (i, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            match serde_json::from_str::<Json>(line) {
                Ok(r) => self.resource(path, i as u64 + 1, &r),
                Err(e) => self.problem(path, i as u64 + 1, format!("not JSON: {e}")),
            }
        }
    }

    fn resource(&mut self, path: &Path, at: u64, r: &Json) {
        let Some(kind) = r.get("resourceType").and_then(Json::as_str) else {
            return self.problem(path, at, "no resourceType: not a FHIR resource");
        };
        let result = match kind {
            "Patient" => self.patient(r),
            "Practitioner" => self.practitioner(r),
            "PractitionerRole" => self.practitioner_role(r),
            "Organization" => self.organization(r),
            "Encounter" => self.encounter(r),
            "EpisodeOfCare" => self.episode(r),
            "CareTeam" => self.care_team(r),
            _ => return,
        };
        match result {
            Ok(()) => *self.loaded.entry(kind.to_owned()).or_default() += 1,
            Err(why) => self.problem(path, at, format!("{kind}: {why}")),
        }
    }

    /// Streaming: takes one resource arriving after the load (a new or
    /// updated Encounter, EpisodeOfCare, CareTeam, Patient, Practitioner,
    /// PractitionerRole or Organization). Returns what it changed, so that
    /// cached views can be refreshed.
    pub fn learn(&mut self, r: &Json) -> Result<Learned, String> {
        let kind = r
            .get("resourceType")
            .and_then(Json::as_str)
            .ok_or("no resourceType: not a FHIR resource")?;
        let learned = match kind {
            "Patient" => Learned::Patient(Self::id(r)?),
            "Encounter" => {
                Learned::Patient(reference(r.get("subject")).ok_or("no subject")?.into())
            }
            "EpisodeOfCare" => {
                Learned::Patient(reference(r.get("patient")).ok_or("no patient")?.into())
            }
            "CareTeam" => match reference(r.get("subject")) {
                Some(p) => Learned::Patient(p.into()),
                None => Learned::Staff,
            },
            "Practitioner" | "PractitionerRole" | "Organization" => Learned::Staff,
            _ => return Ok(Learned::Nothing),
        };
        let result = match kind {
            "Patient" => self.patient(r),
            "Practitioner" => self.practitioner(r),
            "PractitionerRole" => self.practitioner_role(r),
            "Organization" => self.organization(r),
            "Encounter" => self.encounter(r),
            "EpisodeOfCare" => self.episode(r),
            _ => self.care_team(r),
        };
        result.map_err(|why| format!("{kind}: {why}"))?;
        *self.loaded.entry(kind.to_owned()).or_default() += 1;
        // Episodes may name teams: resolve them now.
        if let Learned::Patient(p) = &learned
            && let Some(cares) = self.care.get_mut(p)
        {
            for c in cares {
                resolve_teams(&self.teams, c);
            }
        }
        Ok(learned)
    }

    fn id(r: &Json) -> Result<Box<str>, String> {
        r.get("id")
            .and_then(Json::as_str)
            .filter(|s| !s.is_empty())
            .map(Into::into)
            .ok_or_else(|| "no id".to_owned())
    }

    fn patient(&mut self, r: &Json) -> Result<(), String> {
        let id = Self::id(r)?;
        let a = address(r);
        let deceased = match (r.get("deceasedDateTime"), r.get("deceasedBoolean")) {
            (Some(d), _) => time(Some(d))?.or(Some(i64::MIN)),
            (None, Some(Json::Bool(true))) => Some(i64::MIN),
            _ => None,
        };
        let nin = nin(r);
        let info = PatientInfo {
            nin: nin.clone().unwrap_or(None),
            family: family(r),
            address: a.line,
            street: a.street,
            postal: a.postal,
            municipality: a.municipality,
            deceased,
            trust: reference(r.get("managingOrganization")).map(Into::into),
            birth: r.get("birthDate").and_then(Json::as_str).map(Into::into),
            restricted: r
                .pointer("/meta/security")
                .and_then(Json::as_array)
                .into_iter()
                .flatten()
                .any(|c| matches!(c.get("code").and_then(Json::as_str), Some("R" | "V"))),
        };
        if let Some(n) = &info.nin {
            self.nin_to_patient.insert(n.clone(), id.clone());
        }
        self.patients.insert(id, info);
        // The patient is kept; a bad number is still reported.
        nin.map(|_| ())
    }

    fn practitioner(&mut self, r: &Json) -> Result<(), String> {
        let id = Self::id(r)?;
        let user = r
            .get("identifier")
            .and_then(Json::as_array)
            .into_iter()
            .flatten()
            .find(|i| {
                i.get("system")
                    .and_then(Json::as_str)
                    .is_some_and(|s| s.contains("username"))
            })
            .and_then(|i| i.get("value").and_then(Json::as_str))
            .map(Into::into)
            .unwrap_or_else(|| id.clone());
        let a = address(r);
        let nin = nin(r);
        self.remember_identifiers(r, &id);
        let entry = self.staff.entry(id.clone()).or_default();
        entry.user = user.clone();
        entry.nin = nin.clone().unwrap_or(None);
        entry.family = family(r);
        entry.address = a.line;
        entry.street = a.street;
        self.user_to_staff.insert(user, id);
        nin.map(|_| ())
    }

    fn remember_identifiers(&mut self, r: &Json, id: &str) {
        for i in r
            .get("identifier")
            .and_then(Json::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(v) = i.get("value").and_then(Json::as_str) {
                self.identifiers.insert(v.into(), id.into());
            }
        }
    }

    /// A referenced id, resolved through identifiers for logical references.
    fn resolve<'a>(&'a self, r: &'a str) -> &'a str {
        self.identifiers.get(r).map_or(r, |id| &**id)
    }

    fn practitioner_role(&mut self, r: &Json) -> Result<(), String> {
        let who = reference(r.get("practitioner")).ok_or("no practitioner")?;
        let who = self.resolve(who).to_owned();
        let who = who.as_str();
        let role = r
            .get("code")
            .and_then(Json::as_array)
            .and_then(|c| c.first())
            .and_then(|c| c.get("coding"))
            .and_then(Json::as_array)
            .and_then(|c| c.first())
            .and_then(|c| c.get("code"))
            .and_then(Json::as_str)
            .map(lower);
        let dept = reference(r.get("organization"))
            .map(|o| self.resolve(o))
            .map(Into::<Box<str>>::into);
        let entry = self.staff.entry(who.into()).or_insert_with(|| StaffInfo {
            user: who.into(),
            ..Default::default()
        });
        entry.role = role.or(entry.role.take());
        entry.department = dept.or(entry.department.take());
        Ok(())
    }

    fn organization(&mut self, r: &Json) -> Result<(), String> {
        let id = Self::id(r)?;
        let name = r
            .get("name")
            .and_then(Json::as_str)
            .unwrap_or("")
            .to_owned();
        let lname = name.to_lowercase();
        let typed_er = r
            .get("type")
            .and_then(Json::as_array)
            .into_iter()
            .flatten()
            .flat_map(|t| {
                t.get("coding")
                    .and_then(Json::as_array)
                    .into_iter()
                    .flatten()
            })
            .filter_map(|c| c.get("code").and_then(Json::as_str))
            .any(|c| c.eq_ignore_ascii_case("ER") || c.eq_ignore_ascii_case("emergency"));
        let emergency = typed_er
            || ["akutt", "legevakt", "emergency"]
                .iter()
                .any(|w| lname.contains(w));
        self.remember_identifiers(r, &id);
        self.orgs.insert(
            id,
            OrgInfo {
                name: name.into(),
                part_of: reference(r.get("partOf")).map(Into::into),
                emergency,
            },
        );
        Ok(())
    }

    fn period(r: &Json) -> Result<(i64, i64), String> {
        let p = r.get("period").or_else(|| r.get("actualPeriod"));
        let from = time(p.and_then(|p| p.get("start")))?.unwrap_or(i64::MIN);
        let to = time(p.and_then(|p| p.get("end")))?.unwrap_or(i64::MAX);
        Ok((from, to))
    }

    fn encounter(&mut self, r: &Json) -> Result<(), String> {
        let patient = reference(r.get("subject")).ok_or("no subject")?;
        let (from, to) = Self::period(r)?;
        let staff = r
            .get("participant")
            .and_then(Json::as_array)
            .into_iter()
            .flatten()
            .filter_map(|p| reference(p.get("individual").or_else(|| p.get("actor"))))
            .map(Into::into)
            .collect();
        let id = r
            .get("id")
            .and_then(Json::as_str)
            .map(|i| format!("Encounter/{i}").into());
        self.add_care(
            patient,
            Care {
                id,
                from,
                to,
                department: reference(r.get("serviceProvider")).map(Into::into),
                staff,
            },
        );
        Ok(())
    }

    /// Adds a care relationship, replacing an earlier version of the same resource.
    fn add_care(&mut self, patient: &str, care: Care) {
        let list = self.care.entry(patient.into()).or_default();
        match care
            .id
            .as_ref()
            .and_then(|id| list.iter().position(|c| c.id.as_ref() == Some(id)))
        {
            Some(i) => list[i] = care,
            None => list.push(care),
        }
    }

    fn episode(&mut self, r: &Json) -> Result<(), String> {
        let patient = reference(r.get("patient")).ok_or("no patient")?;
        let (from, to) = Self::period(r)?;
        let mut staff: Vec<Box<str>> = reference(r.get("careManager"))
            .map(Into::into)
            .into_iter()
            .collect();
        // Teams are resolved to members when the context is complete.
        for t in r.get("team").and_then(Json::as_array).into_iter().flatten() {
            if let Some(id) = reference(Some(t)) {
                staff.push(format!("CareTeam/{id}").into());
            }
        }
        let id = r
            .get("id")
            .and_then(Json::as_str)
            .map(|i| format!("EpisodeOfCare/{i}").into());
        self.add_care(
            patient,
            Care {
                id,
                from,
                to,
                department: reference(r.get("managingOrganization")).map(Into::into),
                staff,
            },
        );
        Ok(())
    }

    fn care_team(&mut self, r: &Json) -> Result<(), String> {
        let id = Self::id(r)?;
        let members: FxHashSet<Box<str>> = r
            .get("participant")
            .and_then(Json::as_array)
            .into_iter()
            .flatten()
            .filter_map(|p| reference(p.get("member")))
            .map(Into::into)
            .collect();
        let managing = r
            .get("managingOrganization")
            .and_then(Json::as_array)
            .and_then(|a| a.first())
            .and_then(|o| reference(Some(o)));
        if let Some(patient) = reference(r.get("subject")) {
            let (from, to) = Self::period(r)?;
            self.add_care(
                patient,
                Care {
                    id: Some(format!("CareTeam/{id}").into()),
                    from,
                    to,
                    department: managing.map(Into::into),
                    staff: members.iter().cloned().collect(),
                },
            );
        } else if let Some(dept) = managing {
            self.teams
                .entry(dept.into())
                .or_default()
                .extend(members.iter().cloned());
        }
        self.teams
            .entry(format!("CareTeam/{id}").into())
            .or_default()
            .extend(members);
        Ok(())
    }

    /// Resolves team references and derives each trust's home counties.
    fn finish(&mut self) {
        for cares in self.care.values_mut() {
            for c in cares {
                resolve_teams(&self.teams, c);
            }
        }
        let mut counts: FxHashMap<Box<str>, (usize, FxHashMap<u8, usize>)> = FxHashMap::default();
        for p in self.patients.values() {
            if let (Some(t), Some(m)) = (&p.trust, p.municipality) {
                let e = counts.entry(t.clone()).or_default();
                e.0 += 1;
                *e.1.entry((m / 100) as u8).or_default() += 1;
            }
        }
        for (t, (total, by_county)) in counts {
            let home = by_county
                .into_iter()
                .filter(|(_, n)| *n * 100 >= total)
                .map(|(c, _)| c)
                .collect();
            self.trust_counties.insert(t, home);
        }
    }
}

/// Replaces a care relationship's `CareTeam/…` references by the teams'
/// members (a team not known is dropped).
fn resolve_teams(teams: &FxHashMap<Box<str>, FxHashSet<Box<str>>>, c: &mut Care) {
    if !c.staff.iter().any(|s| s.starts_with("CareTeam/")) {
        return;
    }
    let mut members = Vec::new();
    for s in &c.staff {
        if s.starts_with("CareTeam/") {
            if let Some(m) = teams.get(s) {
                members.extend(m.iter().cloned());
            }
        } else {
            members.push(s.clone());
        }
    }
    c.staff = members;
}
