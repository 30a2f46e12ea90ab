//! An incident: the alerts that tell one story, with its entity graph (who
//! reached what, first seen when), the ATT&CK stages in the order seen,
//! patient zero, and a severity that rises with stages, spread and exposure.
//! [`crate::correlate`] decides which alerts belong together; this builds
//! the incident from them.

use std::collections::BTreeMap;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};
use vakt_context::Assets;
use vakt_context::site::{account_key, host_key, internal};
use vakt_core::{Alert, Entity, Severity, Timestamp};

use crate::stages::{candidates, pick, rank};

/// An entity of an incident.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Node {
    /// `host:<name>`, `ip:<address>`, `account:<name>` or `domain:<name>`.
    pub key: String,
    /// `host`, `ip`, `account` or `domain`.
    pub kind: String,
    /// Name or address.
    pub name: String,
    /// The host's address, when known.
    #[serde(default)]
    pub ip: Option<String>,
    /// `compromised` (evidence that it acted for the attacker: execution,
    /// credential use, C2 from it, a stolen account used on it, a session
    /// from it followed by the attacker's doing on the host it reached, or
    /// reaching hosts after a compromised host reached it), `suspected` (an
    /// internal host seen only reaching hosts, with none of that evidence),
    /// `reached` (an internal host the attacker connected to) or `external`.
    pub role: String,
    /// Why it has its role (the alert that showed it), for compromised hosts
    /// and accounts.
    #[serde(default)]
    pub why: Option<String>,
    /// What the asset register says the host is for.
    #[serde(default)]
    pub asset_kind: Option<String>,
    /// The organisation the host belongs to.
    #[serde(default)]
    pub trust: Option<String>,
    /// Whose patient records the host holds (asset register).
    #[serde(default)]
    pub holds_patients_of: Option<String>,
    /// First seen in the incident's alerts.
    pub first_seen: Timestamp,
    /// First seen acting (the attacker on the host or with the account):
    /// from then on its accesses are in scope.
    #[serde(default)]
    pub acting_since: Option<Timestamp>,
    /// Alerts naming it.
    pub alerts: usize,
}

/// Who reached what.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Edge {
    /// Node key.
    pub from: String,
    /// Node key.
    pub to: String,
    /// First seen.
    pub first_seen: Timestamp,
    /// The stage (or rule) that showed it.
    pub what: String,
}

/// A stage and when it was first seen.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StageSeen {
    /// ATT&CK tactic.
    pub stage: String,
    /// First alert of the stage.
    pub first: Timestamp,
    /// Alerts of the stage.
    pub alerts: usize,
}

/// Where the incident began.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PatientZero {
    /// Node key of the first compromised host (or account).
    pub entity: String,
    /// When.
    pub time: Timestamp,
    /// The first alert's title.
    pub alert: String,
    /// Its first origin.
    #[serde(default)]
    pub origin: Option<String>,
}

/// An incident.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Incident {
    /// `INC-YYYYMMDD-NNN`.
    pub id: String,
    /// One line.
    pub title: String,
    /// Rises with stage, spread and exposure.
    pub severity: Severity,
    /// Why the severity is what it is.
    pub severity_reasons: Vec<String>,
    /// First evidence.
    pub first: Timestamp,
    /// Last evidence.
    pub last: Timestamp,
    /// ATT&CK stages in the order first seen.
    pub stages: Vec<StageSeen>,
    /// The first event.
    pub patient_zero: Option<PatientZero>,
    /// Entities.
    pub nodes: Vec<Node>,
    /// Who reached what, with first-seen times.
    pub edges: Vec<Edge>,
    /// Contributing alert ids, in time order.
    pub alerts: Vec<String>,
    /// The stage each alert stands for in this incident (alert id → tactic).
    #[serde(default)]
    pub alert_stages: BTreeMap<String, String>,
    /// Whose queue: `cert` (an intrusion, or anything but EHR conduct) or
    /// `privacy` (EHR findings about how staff read records — a protected
    /// person looked up, snooping — with no intrusion joined: a case for the
    /// privacy office, not the CERT).
    #[serde(default = "cert")]
    pub queue: String,
    /// The moment of awareness: the incident's first alert that belongs to
    /// the intrusion (from patient zero on, naming a compromised host or
    /// account), else its first alert. The notification clocks run from it.
    #[serde(default)]
    pub awareness: Option<Timestamp>,
}

fn cert() -> String {
    "cert".into()
}

/// Detectors whose alerts say only that a host reached others (new remote
/// administration, scanning): no evidence on their own that the host acts
/// for an attacker — administrators and inventory tools do the same.
pub const REACH_ONLY: [&str; 3] = ["lateral-movement", "scan", "strobe"];

/// EHR findings that point at a machine or a stolen credential rather than
/// at how a person reads records: the CERT's even without an intrusion.
const EHR_FOR_CERT: [&str; 3] = ["ehr-scripted", "ehr-new-address", "ehr-service-misuse"];

/// Does the alert only show its actor reaching hosts?
pub(crate) fn reach_only(a: &Alert) -> bool {
    REACH_ONLY.contains(&a.detector.as_str())
}

/// Is the alert addressed to the privacy office (EHR conduct)? The EHR
/// analytics' conduct findings, and rules (Sigma) whose every event is an
/// EHR AuditEvent (an export, a break-the-glass access).
pub fn for_privacy_office(a: &Alert) -> bool {
    if a.detector.starts_with("ehr-") {
        return !EHR_FOR_CERT.contains(&a.detector.as_str());
    }
    a.detector == "sigma"
        && !a.origins.is_empty()
        && a.origins.iter().all(|o| {
            o.source
                .as_ref()
                .is_some_and(vakt_core::SourceKind::is_fhir_audit_event)
        })
}

impl Incident {
    /// Nodes with a role.
    pub fn nodes_with(&self, role: &str) -> impl Iterator<Item = &Node> {
        self.nodes.iter().filter(move |n| n.role == role)
    }

    /// Raises the severity for the patients exposed (100 or more: one step).
    pub fn weigh_exposure(&mut self, confirmed: usize) {
        if confirmed >= 100 {
            self.severity = self.severity.raised();
            self.severity_reasons
                .push(format!("{confirmed} patients' records confirmed exposed"));
        }
    }
}

/// An entity's key and what is known of it.
#[derive(Debug, Clone)]
pub(crate) struct Keyed {
    pub key: String,
    pub kind: &'static str,
    pub name: String,
    pub ip: Option<IpAddr>,
    pub internal: bool,
}

pub(crate) fn keyed(e: &Entity, assets: &Assets) -> Option<Keyed> {
    match e {
        Entity::Host(h) => {
            let name = host_key(h);
            if name.is_empty() || name == "-" {
                return None;
            }
            let ip = assets.by_name(&name).and_then(|a| a.ip);
            Some(Keyed {
                key: format!("host:{name}"),
                kind: "host",
                name,
                ip,
                internal: true,
            })
        }
        Entity::Ip(ip) => {
            if ip.is_unspecified() || ip.is_loopback() || ip.is_multicast() {
                return None;
            }
            match assets.by_ip(ip) {
                Some(a) => Some(Keyed {
                    key: format!("host:{}", a.name),
                    kind: "host",
                    name: a.name.clone(),
                    ip: Some(*ip),
                    internal: true,
                }),
                None => Some(Keyed {
                    key: format!("ip:{ip}"),
                    kind: "ip",
                    name: ip.to_string(),
                    ip: Some(*ip),
                    internal: internal(*ip),
                }),
            }
        }
        Entity::Account(a) => account_key(a).map(|n| Keyed {
            key: format!("account:{n}"),
            kind: "account",
            name: n,
            ip: None,
            internal: true,
        }),
        Entity::Domain(d) => {
            let n = d.trim_end_matches('.').to_lowercase();
            (!n.is_empty()).then(|| Keyed {
                key: format!("domain:{n}"),
                kind: "domain",
                name: n,
                ip: None,
                internal: false,
            })
        }
        Entity::Patient(_) => None,
    }
}

/// Builds the incident of these alerts (`members`: indices into `alerts`
/// and `ents`, each alert's keyed actors and targets).
pub(crate) fn build(
    alerts: &[Alert],
    ents: &[(Vec<Keyed>, Vec<Keyed>)],
    members: &[usize],
    assets: &Assets,
    gap: i64,
) -> Incident {
    let mut members = members.to_vec();
    members.sort_by_key(|i| (alerts[*i].first, *i));
    let mut nodes: BTreeMap<String, Node> = BTreeMap::new();
    let mut edges: BTreeMap<(String, String), Edge> = BTreeMap::new();
    let mut stages: BTreeMap<&'static str, StageSeen> = BTreeMap::new();
    let mut severity = Severity::Informational;
    let (mut first, mut last) = (Timestamp(i64::MAX), Timestamp(i64::MIN));
    let mut reached = 0;
    // Who acted for the attacker, and why we say so.
    let why = evidence(alerts, ents, &members, gap);
    let compromised_host = |k: &Keyed| internal_host(k) && why.contains_key(&k.key);
    // Patient zero: the earliest compromised host with initial-access or
    // execution evidence; else the earliest compromised host; else account.
    let zero = |pick: &dyn Fn(usize, &Keyed) -> bool| {
        members.iter().find_map(|&i| {
            let a = &alerts[i];
            let k = ents[i].0.iter().find(|k| pick(i, k))?;
            Some(PatientZero {
                entity: k.key.clone(),
                time: a.first,
                alert: a.title.clone(),
                origin: a.origins.first().map(ToString::to_string),
            })
        })
    };
    let entry = |i: usize, k: &Keyed| {
        compromised_host(k)
            && candidates(&alerts[i])
                .iter()
                .any(|c| *c == "initial-access" || *c == "execution")
    };
    let patient_zero = zero(&entry)
        .or_else(|| zero(&|_, k| compromised_host(k)))
        .or_else(|| zero(&|_, _| true));
    // An alert belongs to the intrusion when one who acts in it had been
    // shown acting for the attacker by then: what a host did before (an
    // earlier new share, an administrator's session) is its ordinary life,
    // shown in the incident but neither a stage nor the moment of awareness.
    let belongs = |i: usize| {
        ents[i].0.iter().any(|k| {
            why.get(&k.key)
                .is_some_and(|e| e.0.0 <= alerts[i].first.0.saturating_add(SLACK))
        })
    };
    let any_belongs = members.iter().any(|&i| belongs(i));
    let in_intrusion = |i: usize| !any_belongs || belongs(i);
    let mut alert_stages = BTreeMap::new();
    for &i in &members {
        let a = &alerts[i];
        severity = severity.max(a.severity);
        first = first.min(a.first);
        last = last.max(a.last.max(a.first));
        let stage = if in_intrusion(i) {
            pick(&candidates(a), reached)
        } else {
            None
        };
        if let Some(s) = stage {
            reached = reached.max(rank(s).unwrap_or(0));
            alert_stages.insert(a.key.to_string(), s.to_owned());
            let e = stages.entry(s).or_insert(StageSeen {
                stage: s.to_owned(),
                first: a.first,
                alerts: 0,
            });
            e.alerts += 1;
            e.first = e.first.min(a.first);
        }
        let (actors, targets) = &ents[i];
        for (k, actor) in actors
            .iter()
            .map(|k| (k, true))
            .chain(targets.iter().map(|k| (k, false)))
        {
            let role = if !k.internal {
                "external"
            } else if actor {
                "compromised"
            } else {
                "reached"
            };
            let asset = match k.kind {
                "host" => assets.by_name(&k.name),
                _ => None,
            };
            let n = nodes.entry(k.key.clone()).or_insert_with(|| Node {
                key: k.key.clone(),
                kind: k.kind.to_owned(),
                name: k.name.clone(),
                ip: k.ip.map(|i| i.to_string()),
                role: role.to_owned(),
                asset_kind: asset.map(|a| a.kind.clone()).filter(|k| !k.is_empty()),
                trust: asset.map(|a| a.trust.clone()).filter(|t| !t.is_empty()),
                holds_patients_of: asset.and_then(|a| a.holds_patients_of.clone()),
                first_seen: a.first,
                acting_since: None,
                why: None,
                alerts: 0,
            });
            n.alerts += 1;
            n.first_seen = n.first_seen.min(a.first);
            if actor && k.internal {
                n.acting_since = Some(n.acting_since.map_or(a.first, |t| t.min(a.first)));
            }
            if n.ip.is_none() {
                n.ip = k.ip.map(|i| i.to_string());
            }
            if role == "compromised" && n.role != "compromised" {
                n.role = role.to_owned();
            }
        }
        // Who reached what; which account was used where.
        let what = stage.map_or_else(|| a.rule.id(), str::to_owned);
        let hosts: Vec<&Keyed> = actors.iter().filter(|k| k.kind != "account").collect();
        let accounts: Vec<&Keyed> = actors.iter().filter(|k| k.kind == "account").collect();
        let mut add = |from: &str, to: &str, what: &str| {
            let e = edges
                .entry((from.to_owned(), to.to_owned()))
                .or_insert_with(|| Edge {
                    from: from.to_owned(),
                    to: to.to_owned(),
                    first_seen: a.first,
                    what: what.to_owned(),
                });
            if a.first < e.first_seen {
                e.first_seen = a.first;
                e.what = what.to_owned();
            }
        };
        for acc in &accounts {
            for h in &hosts {
                add(&acc.key, &h.key, "used on");
            }
        }
        let sources: Vec<&Keyed> = if hosts.is_empty() { accounts } else { hosts };
        for s in &sources {
            for t in targets {
                add(&s.key, &t.key, &what);
            }
        }
    }
    let mut stages: Vec<StageSeen> = stages.into_values().collect();
    stages.sort_by_key(|s| (s.first, rank(&s.stage)));
    for n in nodes.values_mut() {
        if n.role != "compromised" {
            continue;
        }
        match why.get(&n.key) {
            Some((_, w)) => n.why = Some(w.clone()),
            None if n.kind == "account" => {}
            None => n.role = "suspected".into(),
        }
    }
    // Awareness: the first alert that belongs to the intrusion.
    let awareness = members
        .iter()
        .copied()
        .filter(|&i| in_intrusion(i))
        .map(|i| alerts[i].first)
        .min()
        .or(Some(first));
    let queue = if members.iter().all(|&i| for_privacy_office(&alerts[i]))
        && !nodes
            .values()
            .any(|n| n.role == "compromised" && n.kind != "account")
    {
        "privacy"
    } else {
        "cert"
    };
    let hosts = nodes
        .values()
        .filter(|n| n.role != "external" && n.kind != "account" && n.kind != "domain")
        .count();
    let compromised = nodes
        .values()
        .filter(|n| n.role == "compromised" && n.kind != "account")
        .count();
    let accounts = nodes.values().filter(|n| n.kind == "account").count();
    let mut reasons = vec![format!("most severe alert: {}", severity.name())];
    if stages.len() >= 3 {
        severity = severity.raised();
        reasons.push(format!("{} ATT&CK stages", stages.len()));
    }
    // Spread counts where the intrusion progressed: hosts beaconing alike to
    // one server are one finding seen twice, not lateral spread.
    if compromised >= 2 && stages.len() >= 2 {
        severity = severity.raised();
        reasons.push(format!("the attacker acted on {compromised} hosts"));
    }
    let title = if stages.len() >= 2 {
        let pz = patient_zero
            .as_ref()
            .map(|p| {
                p.entity
                    .split_once(':')
                    .map_or(p.entity.as_str(), |x| x.1)
                    .to_owned()
            })
            .unwrap_or_default();
        format!(
            "Intrusion from {pz}: {} → {} ({} stages, {hosts} hosts, {accounts} accounts, {} alerts)",
            stages[0].stage,
            stages[stages.len() - 1].stage,
            stages.len(),
            members.len()
        )
    } else if members.len() == 1 {
        alerts[members[0]].title.clone()
    } else {
        format!("{} alerts: {}", members.len(), alerts[members[0]].title)
    };
    Incident {
        id: String::new(),
        title,
        severity,
        severity_reasons: reasons,
        first,
        last,
        stages,
        patient_zero,
        nodes: nodes.into_values().collect(),
        edges: edges.into_values().collect(),
        alerts: members.iter().map(|i| alerts[*i].key.to_string()).collect(),
        alert_stages,
        queue: queue.into(),
        awareness,
    }
}

/// How far (ns) what happens on a reached host may come before the session
/// that reached it was seen: two sensors' clocks.
pub(crate) const SLACK: i64 = 120_000_000_000;

/// Is the entity an internal host (by name or address)?
pub(crate) fn internal_host(k: &Keyed) -> bool {
    k.kind != "account" && k.kind != "domain" && k.internal
}

/// The hosts and accounts of an incident that acted for the attacker, each
/// with when it was first shown and by what:
/// - a host acting in an alert that is more than reaching hosts (execution,
///   credential use, C2, an indicator), an account acting in any;
/// - a host whose session to another was followed there by such an alert
///   (the last to reach it before, preferring one with evidence of its own);
/// - a host that reached others after a compromised host reached it.
pub(crate) fn evidence(
    alerts: &[Alert],
    ents: &[(Vec<Keyed>, Vec<Keyed>)],
    members: &[usize],
    gap: i64,
) -> BTreeMap<String, (Timestamp, String)> {
    let mut why: BTreeMap<String, (Timestamp, String)> = BTreeMap::new();
    let note =
        |why: &mut BTreeMap<String, (Timestamp, String)>, key: &str, t: Timestamp, w: String| {
            match why.get_mut(key) {
                Some(e) if e.0 <= t => false,
                Some(e) => {
                    *e = (t, w);
                    true
                }
                None => {
                    why.insert(key.to_owned(), (t, w));
                    true
                }
            }
        };
    // Their own doing.
    for &i in members {
        let a = &alerts[i];
        for k in &ents[i].0 {
            if k.kind == "account" {
                note(
                    &mut why,
                    &k.key,
                    a.first,
                    format!("acting in \"{}\"", a.title),
                );
            } else if internal_host(k) && !reach_only(a) {
                note(&mut why, &k.key, a.first, format!("\"{}\"", a.title));
            }
        }
    }
    // Who reached which internal host when, in time order.
    let mut reaches: BTreeMap<&str, Vec<(i64, &str)>> = BTreeMap::new();
    for &i in members {
        let (actors, targets) = &ents[i];
        for s in actors.iter().filter(|k| internal_host(k)) {
            for t in targets.iter().filter(|k| internal_host(k)) {
                reaches
                    .entry(&t.key)
                    .or_default()
                    .push((alerts[i].first.0, &s.key));
            }
        }
    }
    for list in reaches.values_mut() {
        list.sort_unstable();
        list.dedup();
    }
    let short = |key: &str| key.split_once(':').map_or(key, |x| x.1).to_owned();
    // Sessions followed by the attacker's doing on the host reached.
    let own = why.clone();
    for &i in members {
        let a = &alerts[i];
        if reach_only(a) {
            continue;
        }
        let x = a.first.0;
        for t in ents[i].0.iter().filter(|k| internal_host(k)) {
            let Some(list) = reaches.get(t.key.as_str()) else {
                continue;
            };
            let upto = list.partition_point(|(r, _)| *r <= x.saturating_add(SLACK));
            let before = &list[..upto];
            let acted = |s: &str| own.get(s).is_some_and(|e| e.0.0 <= x.saturating_add(SLACK));
            let chosen = before
                .iter()
                .rev()
                .take_while(|(r, _)| *r >= x.saturating_sub(gap))
                .find(|(_, s)| acted(s))
                .or_else(|| before.last());
            let Some(&(when, who)) = chosen else {
                continue;
            };
            let name = short(&t.key);
            note(
                &mut why,
                who,
                Timestamp(when),
                format!(
                    "its session to {name} was followed there by \"{}\"",
                    a.title
                ),
            );
        }
    }
    // Hosts reached by a compromised host that then reached others.
    loop {
        let mut found = Vec::new();
        for &i in members {
            let a = &alerts[i];
            let (actors, targets) = &ents[i];
            let Some(src) = actors.iter().filter(|k| internal_host(k)).find(|s| {
                why.get(&s.key)
                    .is_some_and(|e| e.0.0 <= a.first.0.saturating_add(SLACK))
            }) else {
                continue;
            };
            for t in targets.iter().filter(|k| internal_host(k)) {
                if why.contains_key(&t.key) {
                    continue;
                }
                let onward = members
                    .iter()
                    .copied()
                    .filter(|&j| {
                        reach_only(&alerts[j])
                            && alerts[j].first.0.saturating_add(SLACK) >= a.first.0
                            && ents[j].0.iter().any(|k| k.key == t.key)
                    })
                    .min_by_key(|&j| alerts[j].first);
                if let Some(j) = onward {
                    found.push((
                        t.key.clone(),
                        alerts[j].first,
                        format!(
                            "reached from {}, then \"{}\"",
                            short(&src.key),
                            alerts[j].title
                        ),
                    ));
                }
            }
        }
        let mut more = false;
        for (k, t, w) in found {
            more |= note(&mut why, &k, t, w);
        }
        if !more {
            break;
        }
    }
    why
}
