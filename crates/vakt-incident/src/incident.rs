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
    /// `compromised` (the attacker acted there or with it), `reached`
    /// (an internal host the attacker connected to) or `external`.
    pub role: String,
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
) -> Incident {
    let mut members = members.to_vec();
    members.sort_by_key(|i| (alerts[*i].first, *i));
    let mut nodes: BTreeMap<String, Node> = BTreeMap::new();
    let mut edges: BTreeMap<(String, String), Edge> = BTreeMap::new();
    let mut stages: BTreeMap<&'static str, StageSeen> = BTreeMap::new();
    let mut severity = Severity::Informational;
    let (mut first, mut last) = (Timestamp(i64::MAX), Timestamp(i64::MIN));
    let mut reached = 0;
    let mut alert_stages = BTreeMap::new();
    for &i in &members {
        let a = &alerts[i];
        severity = severity.max(a.severity);
        first = first.min(a.first);
        last = last.max(a.last.max(a.first));
        let stage = pick(&candidates(a), reached);
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
    // Patient zero: the first compromised host (else account) and its first alert.
    let zero = |host: bool| {
        members.iter().find_map(|&i| {
            let a = &alerts[i];
            let k = ents[i]
                .0
                .iter()
                .find(|k| !host || (k.kind != "account" && k.internal))?;
            Some(PatientZero {
                entity: k.key.clone(),
                time: a.first,
                alert: a.title.clone(),
                origin: a.origins.first().map(ToString::to_string),
            })
        })
    };
    let patient_zero = zero(true).or_else(|| zero(false));
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
    }
}
