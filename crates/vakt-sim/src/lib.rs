//! vakt-sim: a synthetic health region under attack, with ground truth.
//!
//! `vakt sim` builds a region like Norway's South-East in 2018 — ten counties,
//! eight health trusts (the tenants), their hospitals, departments, hosts and
//! staff, and patients with synthetic identity numbers — and lives through N
//! days of it hour by hour: shifts, EHR reads inside and outside care
//! relationships, research exports, integration accounts, Windows logons and
//! process starts, web browsing, monitoring heartbeats, Windows Update checks,
//! backups and PACS transfers. Scenario `apt2018` adds an attacker. Every
//! file is in a format vakt reads; `truth/` says which records, accounts and
//! hosts are the attacker's and exactly whose records were read.
//!
//! Output is streamed day by day (memory does not grow with `--days`), and a
//! seed gives the same files byte for byte.
//!
//! Not here: detection (the other crates) — the simulator never reads back.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod attack;
mod format;
pub mod insider;
pub mod nin;
mod normal;
mod output;
pub mod procedures;
pub mod region;
pub mod replay;
pub mod rng;

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use serde_json::json;

use crate::attack::Attack;
use crate::normal::Encounter;
use crate::output::{Output, Rec};
use crate::region::Region;
use crate::rng::Rng;

const SECOND: i64 = 1_000_000_000;
const MINUTE: i64 = 60 * SECOND;
const HOUR: i64 = 60 * MINUTE;
const DAY: i64 = 24 * HOUR;
/// The simulated period starts on Monday 1 January 2018, 00:00 UTC.
pub const EPOCH: i64 = 1_514_764_800 * SECOND;

/// An error of the simulator.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// Writing failed.
    #[error("cannot write: {0}")]
    Io(String),
    /// The parameters do not make a region.
    #[error("{0}")]
    Config(String),
}

/// How fast the attacker moves from stage to stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Speed {
    /// Stages minutes apart.
    Fast,
    /// Stages hours apart (the whole campaign in about three days).
    Normal,
    /// Stages days apart.
    Slow,
}

/// How quiet the attacker is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stealth {
    /// Beacons every minute, reads thousands of records within two hours.
    Low,
    /// Beacons every five minutes with jitter, reads hundreds over ten hours.
    Medium,
    /// Beacons every fifteen minutes with wide jitter, reads a few hundred over days.
    High,
}

/// What to simulate.
#[derive(Debug, Clone)]
pub struct Config {
    /// Output folder.
    pub out: PathBuf,
    /// Seed.
    pub seed: u64,
    /// Patients.
    pub patients: usize,
    /// Staff (default: one per twenty patients, at least 80).
    pub staff: usize,
    /// Days.
    pub days: u32,
    /// `apt2018`, or none for a quiet region.
    pub scenario: Option<String>,
    /// Attacker speed.
    pub speed: Speed,
    /// Attacker stealth.
    pub stealth: Stealth,
    /// Hours after the start when the attack begins.
    pub attack_start_hours: f64,
    /// Share of clinicians' reads without a recorded care relationship.
    pub no_relationship_share: f64,
    /// Share of patients who are protected persons.
    pub protected_share: f64,
    /// Share of patients with a restricted address.
    pub restricted_share: f64,
    /// Insiders misusing their access (drawn per seed; `truth/insiders.json`).
    pub insiders: bool,
    /// Recorded attacks to replay into the intrusion ([`replay`]).
    pub replay: Vec<PathBuf>,
    /// The attacker's procedures, when a test needs known ones (default:
    /// drawn per seed and stealth).
    pub procedures: Option<procedures::Procedures>,
}

impl Config {
    /// Defaults for `patients` patients over `days` days.
    pub fn new(out: &Path, seed: u64, patients: usize, days: u32) -> Config {
        Config {
            out: out.to_owned(),
            seed,
            patients,
            staff: (patients / 20).max(80),
            days,
            scenario: Some("apt2018".into()),
            speed: if days <= 2 {
                Speed::Fast
            } else {
                Speed::Normal
            },
            stealth: Stealth::Medium,
            attack_start_hours: if days <= 1 {
                8.5
            } else {
                24.0 * f64::from(days / 3) + 8.5
            },
            no_relationship_share: 0.05,
            protected_share: 0.003,
            restricted_share: 0.001,
            insiders: true,
            replay: Vec::new(),
            procedures: None,
        }
    }
}

/// What a run wrote.
#[derive(Debug, Clone)]
pub struct Summary {
    /// Files written, relative to the output folder.
    pub files: Vec<PathBuf>,
    /// Records written to the event files.
    pub records: u64,
    /// Patients whose records were read in sessions the attacker controlled.
    pub exposed: usize,
    /// Of them, those the attacker's own collection read.
    pub collected: usize,
    /// Clinicians' reads, and those without a care relationship.
    pub reads: (u64, u64),
}

/// The running simulation.
pub struct World<'a> {
    cfg: &'a Config,
    region: &'a Region,
    rng: Rng,
    /// Windows record numbers per host.
    records: Vec<u64>,
    /// Active encounters by trust and department.
    active: Vec<Vec<Vec<Encounter>>>,
    encounters: Vec<BufWriter<File>>,
    enc_seq: u64,
    audit_seq: u64,
    end: i64,
    dept_staff: Vec<Vec<Vec<usize>>>,
    trust_staff: Vec<Vec<usize>>,
    trust_patients: Vec<Vec<u32>>,
    /// The integration service account of each trust.
    service: Vec<usize>,
    reads_without: u64,
    reads_clinical: u64,
}

impl World<'_> {
    fn next_audit_id(&mut self) -> String {
        self.audit_seq += 1;
        format!("a{:010}", self.audit_seq)
    }
}

fn io(e: std::io::Error) -> SimError {
    SimError::Io(e.to_string())
}

/// Adds to `exposed` the patients of the hour's AuditEvents that were made in
/// a session the attacker controlled (read back from the records as written).
fn exposed_in(
    a: &Attack,
    world: &World,
    patient_index: &std::collections::HashMap<&str, u32>,
    recs: &[Rec],
    exposed: &mut std::collections::BTreeSet<u32>,
) {
    for rec in recs.iter().filter(|r| r.stream == output::Stream::Audit) {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(&rec.text) else {
            continue;
        };
        let agent = &v["agent"][0];
        let who = agent["who"]["reference"]
            .as_str()
            .unwrap_or("")
            .trim_start_matches("Practitioner/");
        let address = agent["network"]["address"]
            .as_str()
            .and_then(|a| a.parse().ok())
            .unwrap_or(std::net::Ipv4Addr::UNSPECIFIED);
        if !a.controls(world, who, address, rec.t) {
            continue;
        }
        for e in v["entity"].as_array().into_iter().flatten() {
            if let Some(p) = e["what"]["reference"]
                .as_str()
                .and_then(|r| r.strip_prefix("Patient/"))
                .and_then(|id| patient_index.get(id))
            {
                exposed.insert(*p);
            }
        }
    }
}

/// Writes the indicators a partner CERT shared before the attack (STIX 2.1):
/// the attacker's infrastructure as another victim saw it, among indicators
/// of other campaigns that never show here.
fn write_intel(out: &mut Output, rng: &mut Rng) -> Result<(), SimError> {
    let uuid = |rng: &mut Rng| {
        format!(
            "{}-{}-4{}-8{}-{}",
            rng.hex(8),
            rng.hex(4),
            rng.hex(3),
            rng.hex(3),
            rng.hex(12)
        )
    };
    let shared = vakt_core::Timestamp(EPOCH - 20 * DAY).to_stix();
    let c2 = std::net::Ipv4Addr::from(attack::C2_IP).to_string();
    let exfil = std::net::Ipv4Addr::from(attack::EXFIL_IP).to_string();
    let tunnel_base = attack::TUNNEL_DOMAIN.trim_start_matches("t.");
    let items: Vec<(String, String, u8, &str)> = vec![
        (format!("[domain-name:value = '{}']", attack::C2_DOMAIN), "implant C2 domain".into(), 85, "command-and-control"),
        (format!("[ipv4-addr:value = '{c2}']"), "implant C2 address".into(), 80, "command-and-control"),
        (format!("[ipv4-addr:value = '{exfil}']"), "exfiltration server".into(), 70, "exfiltration"),
        (format!("[domain-name:value = '{tunnel_base}']"), "DNS tunnel domain".into(), 60, "exfiltration"),
        // Other campaigns' infrastructure: never seen in this region.
        ("[domain-name:value = 'invoice-portal-login.example']".into(), "phishing site".into(), 75, "initial-access"),
        ("[ipv4-addr:value = '192.0.2.44']".into(), "scanner".into(), 40, "reconnaissance"),
        ("[ipv4-addr:value = '198.51.100.200']".into(), "C2 of another campaign".into(), 80, "command-and-control"),
        ("[file:hashes.'SHA-256' = '5f2b2c6f1e0c4d6a8b9e7c3d2a1f0e9d8c7b6a5f4e3d2c1b0a9f8e7d6c5b4a39']".into(), "loader".into(), 90, "execution"),
    ];
    let mut objects = vec![json!({
        "type": "identity", "spec_version": "2.1", "id": format!("identity--{}", uuid(rng)),
        "created": shared, "modified": shared, "name": "Partner CERT (synthetic)", "identity_class": "organization",
    })];
    let creator = objects[0]["id"].clone();
    for (pattern, name, confidence, phase) in items {
        objects.push(json!({
            "type": "indicator", "spec_version": "2.1", "id": format!("indicator--{}", uuid(rng)),
            "created": shared, "modified": shared, "created_by_ref": creator,
            "name": name, "pattern": pattern, "pattern_type": "stix", "valid_from": shared,
            "confidence": confidence, "indicator_types": ["malicious-activity"],
            "kill_chain_phases": [{"kill_chain_name": "mitre-attack", "phase_name": phase}],
            "object_marking_refs": ["marking-definition--f88d31f6-486f-44da-b317-01333bde0b82"],
        }));
    }
    let bundle =
        json!({"type": "bundle", "id": format!("bundle--{}", uuid(rng)), "objects": objects});
    out.write_file(
        "intel/partner-cert-indicators.json",
        &serde_json::to_string_pretty(&bundle).unwrap_or_default(),
    )
}

/// Writes the asset register (a CMDB export): every host with its address,
/// kind and trust, and whose patient records it holds.
fn write_assets(region: &Region, out: &mut Output) -> Result<(), SimError> {
    let mut csv = String::from("host,ip,kind,trust,holds_patients_of\n");
    for h in &region.hosts {
        let trust = region.trusts[h.trust].id;
        let holds = match h.kind {
            region::HostKind::Ehr | region::HostKind::Backup | region::HostKind::Pacs => trust,
            _ => "",
        };
        csv.push_str(&format!(
            "{},{},{},{trust},{holds}\n",
            h.name,
            h.ip,
            h.kind.name()
        ));
    }
    out.write_file("registers/assets.csv", &csv)
}

/// Writes the region's site model (`--site`): each trust's network, the
/// web server it offers to the Internet, the systems holding its records.
fn write_site(region: &Region, out: &mut Output) -> Result<(), SimError> {
    let mut y = String::from(
        "# The simulated region's site model (vakt hunt/demo/serve --site; docs/NETWORK.md):\n\
         # each trust's network, what it offers to the Internet, its record systems,\n\
         # its administrators' network.\n\
         internal: [10.0.0.0/8]\n",
    );
    // The region as one tenant (as `vakt demo` reads it): every trust's
    // administrators' network.
    let admin_nets: Vec<String> = region
        .trusts
        .iter()
        .enumerate()
        .filter(|(i, _)| {
            region
                .hosts
                .iter()
                .any(|h| h.trust == *i && h.kind == region::HostKind::AdminWorkstation)
        })
        .map(|(_, t)| format!("10.{}.200.0/22", t.net))
        .collect();
    if !admin_nets.is_empty() {
        y.push_str(&format!("admin_hosts: [{}]\n", admin_nets.join(", ")));
    }
    y.push_str("tenants:\n");
    for (i, t) in region.trusts.iter().enumerate() {
        let hosts = || region.hosts.iter().filter(move |h| h.trust == i);
        let web: Vec<String> = hosts()
            .filter(|h| h.kind == region::HostKind::Web)
            .map(|h| format!("{{address: {}, ports: [80, 443], name: {}}}", h.ip, h.name))
            .collect();
        let records: Vec<String> = hosts()
            .filter(|h| {
                matches!(
                    h.kind,
                    region::HostKind::Ehr | region::HostKind::Backup | region::HostKind::Pacs
                )
            })
            .map(|h| h.ip.to_string())
            .collect();
        // The administrators' workstations sit in 10.N.200.0/22.
        let admin = if hosts().any(|h| h.kind == region::HostKind::AdminWorkstation) {
            format!("\n    admin_hosts: [10.{}.200.0/22]", t.net)
        } else {
            String::new()
        };
        y.push_str(&format!(
            "  {}:\n    internal: [10.{}.0.0/16]\n    public_services: [{}]\n    record_systems: [{}]{admin}\n",
            t.id,
            t.net,
            web.join(", "),
            records.join(", ")
        ));
    }
    out.write_file("registers/site.yml", &y)
}

/// Writes the FHIR context (Patient, Practitioner, PractitionerRole, CareTeam,
/// Organization) and the protected-person register.
fn write_context(
    region: &Region,
    people: &insider::People,
    out: &mut Output,
) -> Result<(), SimError> {
    for (t, trust) in region.trusts.iter().enumerate() {
        let mut patients = String::new();
        let mut register = String::new();
        for (i, p) in region
            .patients
            .iter()
            .enumerate()
            .filter(|(_, p)| p.trust == t)
        {
            let (line, postal) = &people.address[i];
            let county = &region.counties[p.county];
            let mut res = json!({
                "resourceType": "Patient",
                "id": p.id,
                "identifier": [{"system": "urn:oid:2.16.578.1.12.4.1.4.1", "value": p.nin}],
                "name": [{"family": p.family, "given": [p.given]}],
                "gender": p.gender,
                "birthDate": format!("{:04}-{:02}-{:02}", p.birth.0, p.birth.1, p.birth.2),
                "managingOrganization": {"reference": format!("Organization/{}", trust.id)},
                "address": [{"use": "home", "line": [line], "postalCode": postal, "district": county.name, "extension": [{
                    "url": "http://hl7.no/fhir/StructureDefinition/no-basis-municipalitycode",
                    "valueCoding": {"system": "urn:oid:2.16.578.1.12.4.1.1.3402", "code": p.municipality}
                }]}],
            });
            if p.restricted_address {
                res["meta"] = json!({"security": [{"system": "http://terminology.hl7.org/CodeSystem/v3-Confidentiality", "code": "R"}]});
            }
            patients.push_str(&res.to_string());
            patients.push('\n');
            if let Some(c) = p.protected {
                register.push_str(&format!("{},{},{},{}\n", p.id, p.nin, c.name(), trust.id));
            }
        }
        out.write_file(
            &format!("tenants/{}/fhir/Patient.ndjson", trust.id),
            &patients,
        )?;
        let mut orgs =
            json!({"resourceType": "Organization", "id": trust.id, "name": trust.name}).to_string();
        orgs.push('\n');
        for d in &trust.departments {
            orgs.push_str(&json!({"resourceType": "Organization", "id": d.id, "name": format!("{} {}", d.hospital, d.name), "partOf": {"reference": format!("Organization/{}", trust.id)}}).to_string());
            orgs.push('\n');
        }
        out.write_file(
            &format!("tenants/{}/fhir/Organization.ndjson", trust.id),
            &orgs,
        )?;
        let (mut pract, mut roles) = (String::new(), String::new());
        let mut teams: BTreeMap<usize, Vec<&str>> = BTreeMap::new();
        for (i, s) in region
            .staff
            .iter()
            .enumerate()
            .filter(|(_, s)| s.trust == t)
        {
            let who = &people.staff[i];
            let res = if s.role == region::Role::Service {
                json!({"resourceType": "Practitioner", "id": s.id, "identifier": [{"system": "urn:vakt:username", "value": s.user}], "name": [{"text": s.name}]})
            } else {
                json!({"resourceType": "Practitioner", "id": s.id,
                    "identifier": [{"system": "urn:vakt:username", "value": s.user}, {"system": "urn:oid:2.16.578.1.12.4.1.4.1", "value": who.nin}],
                    "name": [{"text": s.name, "family": who.family, "given": [who.given]}],
                    "address": [{"use": "home", "line": [who.line], "postalCode": who.postal, "extension": [{
                        "url": "http://hl7.no/fhir/StructureDefinition/no-basis-municipalitycode",
                        "valueCoding": {"system": "urn:oid:2.16.578.1.12.4.1.1.3402", "code": who.municipality}}]}]})
            };
            pract.push_str(&res.to_string());
            pract.push('\n');
            roles.push_str(&json!({"resourceType": "PractitionerRole", "id": format!("{}-role", s.id), "practitioner": {"reference": format!("Practitioner/{}", s.id)}, "organization": {"reference": format!("Organization/{}", trust.departments[s.department].id)}, "code": [{"coding": [{"system": "urn:vakt:role", "code": s.role.code()}]}]}).to_string());
            roles.push('\n');
            if s.role.clinical() {
                teams.entry(s.department).or_default().push(&s.id);
            }
        }
        out.write_file(
            &format!("tenants/{}/fhir/Practitioner.ndjson", trust.id),
            &pract,
        )?;
        out.write_file(
            &format!("tenants/{}/fhir/PractitionerRole.ndjson", trust.id),
            &roles,
        )?;
        let mut care = String::new();
        for (d, members) in teams {
            let participants: Vec<_> = members
                .iter()
                .map(|m| json!({"member": {"reference": format!("Practitioner/{m}")}}))
                .collect();
            care.push_str(&json!({"resourceType": "CareTeam", "id": format!("{}-team", trust.departments[d].id), "status": "active", "managingOrganization": [{"reference": format!("Organization/{}", trust.departments[d].id)}], "participant": participants}).to_string());
            care.push('\n');
        }
        out.write_file(&format!("tenants/{}/fhir/CareTeam.ndjson", trust.id), &care)?;
        out.write_file(
            &format!("registers/{}-protected-persons.csv", trust.id),
            &format!("patient_id,nin,category,trust\n{register}"),
        )?;
    }
    Ok(())
}

/// Runs a simulation.
pub fn run(cfg: &Config) -> Result<Summary, SimError> {
    if cfg.patients < 100 {
        return Err(SimError::Config("at least 100 patients are needed".into()));
    }
    if cfg.days == 0 {
        return Err(SimError::Config("at least one day is needed".into()));
    }
    let scenario = match cfg.scenario.as_deref() {
        None | Some("none") => None,
        Some("apt2018") => Some(()),
        Some(other) => {
            return Err(SimError::Config(format!(
                "unknown scenario `{other}` (known: apt2018, none)"
            )));
        }
    };
    let root = Rng::new(cfg.seed);
    let region = Region::build(
        &mut root.fork(1),
        cfg.patients,
        cfg.staff,
        cfg.protected_share,
        cfg.restricted_share,
    );
    let mut out = Output::new(&cfg.out)?;
    let mut people = insider::People::build(&region, &mut root.fork(7));

    let trusts = region.trusts.len();
    let mut trust_staff = vec![Vec::new(); trusts];
    let mut dept_staff: Vec<Vec<Vec<usize>>> = region
        .trusts
        .iter()
        .map(|t| vec![Vec::new(); t.departments.len()])
        .collect();
    let mut service = vec![0; trusts];
    for (i, s) in region.staff.iter().enumerate() {
        trust_staff[s.trust].push(i);
        if s.role.clinical() {
            dept_staff[s.trust][s.department].push(i);
        }
        if s.user == "svc-ehr-integration" {
            service[s.trust] = i;
        }
    }
    let mut trust_patients = vec![Vec::new(); trusts];
    for (i, p) in region.patients.iter().enumerate() {
        trust_patients[p.trust].push(i as u32);
    }
    let mut encounters = Vec::with_capacity(trusts);
    for t in &region.trusts {
        encounters.push(out.appender(&format!("tenants/{}/fhir/Encounter.ndjson", t.id))?);
    }
    let mut world = World {
        cfg,
        region: &region,
        rng: root.fork(2),
        records: vec![0; region.hosts.len()],
        active: region
            .trusts
            .iter()
            .map(|t| vec![Vec::new(); t.departments.len()])
            .collect(),
        encounters,
        enc_seq: 0,
        audit_seq: 0,
        end: EPOCH + i64::from(cfg.days) * DAY,
        dept_staff,
        trust_staff,
        trust_patients,
        service,
        reads_without: 0,
        reads_clinical: 0,
    };
    // Patients already in care when the period starts.
    let mut rng = root.fork(3);
    for t in 0..trusts {
        let n = (world.trust_patients[t].len() as f64 * 0.01).ceil() as usize;
        for _ in 0..n {
            let dept = rng.below(region.trusts[t].departments.len() as u64) as usize;
            let p = *rng.pick(&world.trust_patients[t]);
            let start = EPOCH - rng.range(1, 72) * HOUR;
            let end = EPOCH + rng.range(12, 120) * HOUR;
            world.admit(t, dept, p, start, end)?;
        }
    }
    let mut attack = scenario.map(|()| {
        let start = EPOCH + (cfg.attack_start_hours * HOUR as f64) as i64;
        Attack::plan(
            &world,
            &mut root.fork(4),
            start,
            cfg.speed,
            cfg.stealth,
            cfg.procedures.clone(),
        )
    });
    let mut attack_rng = root.fork(5);
    let mut insiders = if cfg.insiders {
        let avoid: Vec<usize> = attack.iter().flat_map(|a| [a.victim, a.admin]).collect();
        insider::Insiders::plan(&world, &mut people, &mut root.fork(8), &avoid)
    } else {
        insider::Insiders::default()
    };
    let mut replay = match (&mut attack, cfg.replay.is_empty()) {
        (_, true) => replay::Replay::default(),
        (None, false) => {
            return Err(SimError::Config(
                "--replay needs the apt2018 scenario: the recordings join its intrusion".into(),
            ));
        }
        (Some(a), false) => {
            let v = &region.staff[a.victim];
            let ad = &region.staff[a.admin];
            let mut recs = Vec::new();
            for f in &cfg.replay {
                let r = replay::Recording::load(
                    f,
                    &region,
                    a.trust,
                    v.workstation,
                    [v.user.as_str(), ad.user.as_str()],
                )?;
                if r.is_empty() {
                    return Err(SimError::Config(format!(
                        "{}: no Windows events with a host and a time to replay",
                        f.display()
                    )));
                }
                for (_, h) in &r.hosts {
                    a.hosts.insert(*h);
                }
                recs.push(r);
            }
            // After the credentials are taken, a quarter of an hour apart.
            replay::Replay::place(recs, a.replay_start(), 15 * MINUTE)
        }
    };
    write_context(&region, &people, &mut out)?;
    write_assets(&region, &mut out)?;
    write_site(&region, &mut out)?;
    if attack.is_some() {
        write_intel(&mut out, &mut root.fork(6))?;
    }
    let patient_index: std::collections::HashMap<&str, u32> = region
        .patients
        .iter()
        .enumerate()
        .map(|(i, p)| (p.id.as_str(), i as u32))
        .collect();
    let mut exposed_set: std::collections::BTreeSet<u32> = std::collections::BTreeSet::new();
    let ids: Vec<&str> = region.trusts.iter().map(|t| t.id).collect();
    for day in 0..cfg.days {
        out.start_day(day)?;
        for hour in 0..24u32 {
            let t0 = EPOCH + i64::from(day) * DAY + i64::from(hour) * HOUR;
            let mut recs: Vec<Rec> = Vec::new();
            world.normal_hour(t0, day, hour, &mut recs)?;
            insiders.hour(&mut world, t0, &mut recs);
            if let Some(a) = attack.as_mut() {
                a.hour(&mut world, &mut attack_rng, t0, &mut recs)?;
                replay.hour(&mut world, a.trust, t0, &mut recs);
                exposed_in(a, &world, &patient_index, &recs, &mut exposed_set);
            }
            out.write(&ids, recs)?;
        }
    }
    for w in &mut world.encounters {
        w.flush().map_err(io)?;
    }
    // The truth beyond the event ledger.
    let (mut exposed, mut collected) = (0, 0);
    if let Some(a) = &attack {
        exposed = exposed_set.len();
        collected = a.collected.len();
        let mut csv =
            String::from("patient_id,nin,county_number,county,municipality,protected,collected\n");
        let mut by_county: BTreeMap<&str, u64> = BTreeMap::new();
        let mut by_category: BTreeMap<&str, u64> = BTreeMap::new();
        for p in &exposed_set {
            let pt = &region.patients[*p as usize];
            let c = &region.counties[pt.county];
            let cat = pt.protected.map_or("", |c| c.name());
            csv.push_str(&format!(
                "{},{},{},{},{},{},{}\n",
                pt.id,
                pt.nin,
                c.number,
                c.name,
                pt.municipality,
                cat,
                u8::from(a.collected.contains(p))
            ));
            *by_county.entry(c.name).or_default() += 1;
            if !cat.is_empty() {
                *by_category.entry(cat).or_default() += 1;
            }
        }
        out.write_file("truth/exposed_patients.csv", &csv)?;
        let v = &region.staff[a.victim];
        let ad = &region.staff[a.admin];
        let hosts: Vec<_> = a
            .hosts
            .iter()
            .map(|h| json!({"host": region.hosts[*h].name, "ip": region.hosts[*h].ip.to_string()}))
            .collect();
        let truth = json!({
            "scenario": "apt2018",
            "trust": region.trusts[a.trust].id,
            "start": vakt_core::Timestamp(a.t_initial).to_rfc3339(),
            "accounts": [
                {"user": v.user, "practitioner": v.id, "role": v.role.code(), "how": "phished; EHR account used for collection"},
                {"user": ad.user, "practitioner": ad.id, "role": ad.role.code(), "how": "credentials taken from LSASS; used for lateral movement"},
            ],
            "hosts": hosts,
            "procedures": a.procedures.describe(),
            "replays": replay.truth(&region),
            "replays_mean": "each replayed recording's records, hosts and accounts are the attacker's (the recordings carry no per-event labels: their own scope is their truth, their lab noise included); its stage is the tactic of the folder it was filed under",
            "patient_zero": {"host": region.hosts[v.workstation].name, "ip": region.hosts[v.workstation].ip.to_string(), "time": vakt_core::Timestamp(a.t_initial).to_rfc3339()},
            "indicators": {"c2_domain": attack::C2_DOMAIN, "c2_ip": std::net::Ipv4Addr::from(attack::C2_IP).to_string(), "exfil_ip": std::net::Ipv4Addr::from(attack::EXFIL_IP).to_string(), "tunnel_domain": attack::TUNNEL_DOMAIN},
            "controlled_sessions": [
                {"practitioner": v.id, "from": vakt_core::Timestamp(a.t_initial).to_rfc3339()},
                {"address": region.hosts[v.workstation].ip.to_string(), "from": vakt_core::Timestamp(a.t_initial).to_rfc3339()},
                {"practitioner": ad.id, "from": vakt_core::Timestamp(a.t_lateral).to_rfc3339()},
            ],
            "exposed_patients": exposed,
            "exposed_means": "patients whose records were read in a session the attacker controlled: by the phished clinician's account or from their workstation after the initial access, or by the administrator's account after its first use by the attacker",
            "collected_patients": collected,
            "exposed_by_county": by_county,
            "exposed_protected_by_category": by_category,
        });
        out.write_file(
            "truth/summary.json",
            &serde_json::to_string_pretty(&truth).unwrap_or_default(),
        )?;
    }
    if cfg.insiders {
        out.write_file(
            "truth/insiders.json",
            &serde_json::to_string_pretty(&insiders.truth(&region)).unwrap_or_default(),
        )?;
    }
    let reads = (world.reads_clinical, world.reads_without);
    drop(world);
    let (files, records) = out.finish()?;
    Ok(Summary {
        files,
        records,
        exposed,
        collected,
        reads,
    })
}
