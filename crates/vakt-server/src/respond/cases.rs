//! Cases: an investigation's record — status workflow, assignee, severity,
//! TLP and PAP, tags and custom fields, notes, tasks with owners and due
//! times, observables, linked alerts and incidents, the notification
//! clocks from awareness, containment requests, merge and split.
//!
//! A case is one JSON document in the `cases` table, changed in one
//! transaction at a time; each change also appends to its `history` (the
//! audit trail holds the request that made it).

use std::collections::BTreeMap;

use crate::sql::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use vakt_core::{Severity, Timestamp};

use super::notify::Notice;
use super::templates::{ClockSpec, Template};

/// The status workflow, in order.
pub const STATUSES: [&str; 6] = [
    "new",
    "triage",
    "contained",
    "eradicated",
    "recovered",
    "closed",
];

/// Traffic Light Protocol 2.0 levels.
pub const TLP: [&str; 5] = ["clear", "green", "amber", "amber+strict", "red"];
/// Permissible Actions Protocol levels.
pub const PAP: [&str; 4] = ["clear", "green", "amber", "red"];
/// Observable kinds.
pub const OBSERVABLE_KINDS: [&str; 9] = [
    "host", "account", "ip", "domain", "url", "md5", "sha1", "sha256", "email",
];

/// A note.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Note {
    /// Its number in the case.
    pub id: u32,
    /// Who wrote it.
    pub by: String,
    /// When.
    pub at: String,
    /// The text.
    pub text: String,
}

/// A task.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Task {
    /// Its number in the case.
    pub id: u32,
    /// What to do.
    pub title: String,
    /// How.
    #[serde(default)]
    pub description: String,
    /// Who does it.
    pub owner: Option<String>,
    /// Due (RFC 3339).
    pub due: Option<String>,
    /// `open`, `done` or `skipped`.
    pub status: String,
    /// When it was done or skipped, and by whom.
    pub done_at: Option<String>,
    /// By whom.
    pub done_by: Option<String>,
    /// The result or the reason for skipping.
    #[serde(default)]
    pub note: String,
    /// The clock its completion meets.
    pub clock: Option<String>,
}

/// An observable.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Observable {
    /// Its number in the case.
    pub id: u32,
    /// `host`, `account`, `ip`, `domain`, `url`, `md5`, `sha1`, `sha256`, `email`.
    pub kind: String,
    /// The value.
    pub value: String,
    /// Its TLP.
    pub tlp: String,
    /// An indicator of compromise: exported for blocking and sharing.
    pub ioc: bool,
    /// Why it is here.
    #[serde(default)]
    pub note: String,
    /// Who added it.
    pub by: String,
    /// When.
    pub at: String,
}

/// A notification clock.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CaseClock {
    /// Its id in the case (`gdpr-33`, `nis2-early-warning`, …).
    pub id: String,
    /// What is due.
    pub name: String,
    /// Due (RFC 3339), from awareness.
    pub due: String,
    /// Warned from (RFC 3339).
    pub warn_at: String,
    /// When the warning went out.
    pub warned_at: Option<String>,
    /// When it was met.
    pub met_at: Option<String>,
    /// Who met it.
    pub met_by: Option<String>,
    /// When it was found missed.
    pub missed_at: Option<String>,
    /// The task whose completion meets it.
    pub task: Option<u32>,
    /// `running`, `due-soon`, `met`, `met-late`, `missed` (as of the answer).
    #[serde(default)]
    pub state: String,
}

/// A containment request sent.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Containment {
    /// Its number in the case.
    pub id: u32,
    /// `disable-account`, `isolate-host`, `block`.
    pub action: String,
    /// The observable acted on.
    pub target: String,
    /// Who asked.
    pub by: String,
    /// When.
    pub at: String,
    /// The deliveries that carry it.
    pub deliveries: Vec<i64>,
    /// Why.
    #[serde(default)]
    pub note: String,
}

/// A change, as the case keeps it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Change {
    /// When.
    pub at: String,
    /// Who.
    pub by: String,
    /// What.
    pub what: String,
}

/// A case.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Case {
    /// `CASE-0001`.
    pub id: String,
    /// The tenant (trust) it is about.
    pub tenant: String,
    /// Title.
    pub title: String,
    /// Description.
    #[serde(default)]
    pub description: String,
    /// `new`, `triage`, `contained`, `eradicated`, `recovered`, `closed`.
    pub status: String,
    /// Who leads it.
    pub assignee: Option<String>,
    /// How serious.
    #[schema(value_type = String)]
    pub severity: Severity,
    /// Traffic Light Protocol.
    pub tlp: String,
    /// Permissible Actions Protocol.
    pub pap: String,
    /// Tags.
    pub tags: Vec<String>,
    /// The operator's own fields.
    #[schema(value_type = Object)]
    pub fields: BTreeMap<String, serde_json::Value>,
    /// When the CERT became aware (the clocks run from it).
    pub awareness: String,
    /// Made.
    pub created: String,
    /// By.
    pub created_by: String,
    /// Last changed.
    pub updated: String,
    /// When containment took hold (closes the scope window).
    pub contained_at: Option<String>,
    /// Closed.
    pub closed_at: Option<String>,
    /// How it ended (`true-positive`, `false-positive`, `benign`, `duplicate`).
    pub resolution: Option<String>,
    /// The templates applied.
    pub templates: Vec<String>,
    /// Linked incidents.
    pub incidents: Vec<String>,
    /// Linked alerts (keys).
    pub alerts: Vec<String>,
    /// Notes.
    pub notes: Vec<Note>,
    /// Tasks.
    pub tasks: Vec<Task>,
    /// Observables.
    pub observables: Vec<Observable>,
    /// Clocks.
    pub clocks: Vec<CaseClock>,
    /// Containment requests.
    pub containment: Vec<Containment>,
    /// The case it was merged into.
    pub merged_into: Option<String>,
    /// Cases merged into it, or split from it.
    pub related: Vec<String>,
    /// What changed, oldest first.
    pub history: Vec<Change>,
}

/// A case error: refused (400/409) or missing (404).
#[derive(Debug, Clone)]
pub enum CaseError {
    /// The request cannot be done (why).
    Bad(String),
    /// It conflicts with the case's state (why).
    Conflict(String),
    /// No such case.
    Missing,
    /// The database failed.
    Db(String),
}

impl From<crate::sql::Error> for CaseError {
    fn from(e: crate::sql::Error) -> Self {
        CaseError::Db(e.to_string())
    }
}

fn bad(m: impl Into<String>) -> CaseError {
    CaseError::Bad(m.into())
}

/// Parses an RFC 3339 time.
pub fn parse_time(s: &str) -> Result<Timestamp, CaseError> {
    crate::respond::ts(s).ok_or_else(|| bad(format!("`{s}` is not an RFC 3339 time")))
}

fn level(list: &[&str], what: &str, v: &str) -> Result<String, CaseError> {
    let v = v.trim().to_ascii_lowercase();
    let v = v.strip_prefix(&format!("{what}:")).unwrap_or(&v).to_owned();
    let v = if v == "white" { "clear".to_owned() } else { v };
    if list.contains(&v.as_str()) {
        Ok(v)
    } else {
        Err(bad(format!("{what} is one of {}", list.join(", "))))
    }
}

/// A TLP level, checked (`TLP:AMBER`, `amber`; `white` is `clear`).
pub fn tlp(v: &str) -> Result<String, CaseError> {
    level(&TLP, "tlp", v)
}

/// A PAP level, checked.
pub fn pap(v: &str) -> Result<String, CaseError> {
    level(&PAP, "pap", v)
}

/// A severity by name.
pub fn severity(v: &str) -> Result<Severity, CaseError> {
    match v.to_ascii_lowercase().as_str() {
        "informational" => Ok(Severity::Informational),
        "low" => Ok(Severity::Low),
        "medium" => Ok(Severity::Medium),
        "high" => Ok(Severity::High),
        "critical" => Ok(Severity::Critical),
        _ => Err(bad(
            "severity is informational, low, medium, high or critical",
        )),
    }
}

fn text(v: &str, max: usize, what: &str) -> Result<String, CaseError> {
    let v = v.trim();
    if v.is_empty() {
        return Err(bad(format!("{what} is empty")));
    }
    Ok(v.chars().take(max).collect())
}

/// What a new case starts from.
#[derive(Debug, Clone)]
pub struct NewCase {
    /// Its tenant.
    pub tenant: String,
    /// Title.
    pub title: String,
    /// Description.
    pub description: String,
    /// Severity.
    pub severity: Severity,
    /// TLP.
    pub tlp: String,
    /// PAP.
    pub pap: String,
    /// Assignee.
    pub assignee: Option<String>,
    /// Tags.
    pub tags: Vec<String>,
    /// Fields.
    pub fields: BTreeMap<String, serde_json::Value>,
    /// Awareness.
    pub awareness: Timestamp,
    /// Linked incidents.
    pub incidents: Vec<String>,
    /// Linked alerts.
    pub alerts: Vec<String>,
    /// Observables (kind, value) found in the incident.
    pub observables: Vec<(String, String)>,
}

impl Default for NewCase {
    fn default() -> Self {
        NewCase {
            tenant: String::new(),
            title: String::new(),
            description: String::new(),
            severity: Severity::Medium,
            tlp: "amber".into(),
            pap: "amber".into(),
            assignee: None,
            tags: Vec::new(),
            fields: BTreeMap::new(),
            awareness: Timestamp(0),
            incidents: Vec::new(),
            alerts: Vec::new(),
            observables: Vec::new(),
        }
    }
}

fn now_text() -> String {
    crate::now().to_rfc3339()
}

impl Case {
    fn log(&mut self, by: &str, what: impl Into<String>) -> String {
        let what = what.into();
        let at = now_text();
        self.updated = at.clone();
        self.history.push(Change {
            at,
            by: by.to_owned(),
            what: what.clone(),
        });
        what
    }

    /// Fills each clock's state as of `now`.
    pub fn with_states(mut self, now: Timestamp) -> Case {
        for c in &mut self.clocks {
            c.state = clock_state(c, now).into();
        }
        self
    }

    fn next_id<T>(items: &[T], id: impl Fn(&T) -> u32) -> u32 {
        items.iter().map(id).max().unwrap_or(0) + 1
    }

    /// Applies a template: its tasks and clocks (those not there already).
    pub fn apply(&mut self, t: &Template, by: &str) -> Result<String, CaseError> {
        if self.templates.contains(&t.name) {
            return Err(CaseError::Conflict(format!(
                "the template `{}` is applied already",
                t.name
            )));
        }
        let awareness = parse_time(&self.awareness)?;
        let mut ids = BTreeMap::new();
        for spec in &t.clocks {
            if self.clocks.iter().any(|c| c.id == spec.id) {
                continue;
            }
            self.clocks.push(make_clock(spec, awareness)?);
            ids.insert(spec.id.clone(), ());
        }
        for task in &t.tasks {
            let id = Case::next_id(&self.tasks, |t| t.id);
            let due = match (&task.clock, task.due_hours) {
                (Some(c), _) => self
                    .clocks
                    .iter()
                    .find(|k| &k.id == c)
                    .map(|k| k.due.clone()),
                (None, Some(h)) => Some(Timestamp(awareness.0 + (h * 3.6e12) as i64).to_rfc3339()),
                _ => None,
            };
            if let Some(c) = &task.clock
                && let Some(k) = self.clocks.iter_mut().find(|k| &k.id == c)
                && k.task.is_none()
            {
                k.task = Some(id);
            }
            self.tasks.push(Task {
                id,
                title: task.title.clone(),
                description: task.description.clone(),
                owner: task.owner.clone(),
                due,
                status: "open".into(),
                done_at: None,
                done_by: None,
                note: String::new(),
                clock: task.clock.clone(),
            });
        }
        self.templates.push(t.name.clone());
        if self.severity < t.severity.unwrap_or(Severity::Informational) {
            self.severity = t.severity.unwrap_or(self.severity);
        }
        for tag in &t.tags {
            if !self.tags.contains(tag) {
                self.tags.push(tag.clone());
            }
        }
        Ok(self.log(
            by,
            format!(
                "template `{}` applied: {} tasks, {} clocks",
                t.name,
                t.tasks.len(),
                ids.len()
            ),
        ))
    }
}

/// A clock of a spec, from awareness.
pub fn make_clock(spec: &ClockSpec, awareness: Timestamp) -> Result<CaseClock, CaseError> {
    let due = spec.due(awareness).map_err(bad)?;
    let warn = Timestamp(due.0 - (spec.warn_hours.max(0.0) * 3.6e12) as i64).max(awareness);
    Ok(CaseClock {
        id: spec.id.clone(),
        name: spec.name.clone(),
        due: due.to_rfc3339(),
        warn_at: warn.to_rfc3339(),
        warned_at: None,
        met_at: None,
        met_by: None,
        missed_at: None,
        task: None,
        state: String::new(),
    })
}

/// A clock's state at `now`.
pub fn clock_state(c: &CaseClock, now: Timestamp) -> &'static str {
    let due = crate::respond::ts(&c.due).unwrap_or(now);
    let warn = crate::respond::ts(&c.warn_at).unwrap_or(due);
    match c.met_at.as_deref().and_then(crate::respond::ts) {
        Some(m) if m <= due => "met",
        Some(_) => "met-late",
        None if now >= due => "missed",
        None if now >= warn => "due-soon",
        None => "running",
    }
}

/// Reads a case.
pub fn get(c: &Connection, id: &str) -> Result<Case, CaseError> {
    let doc: Option<String> = c
        .query_row("SELECT doc FROM cases WHERE id = ?1", [id], |r| r.get(0))
        .optional()?;
    let doc = doc.ok_or(CaseError::Missing)?;
    serde_json::from_str(&doc).map_err(|e| CaseError::Db(format!("case {id}: {e}")))
}

fn put(c: &Connection, case: &Case) -> Result<(), CaseError> {
    let doc = serde_json::to_string(case).map_err(|e| CaseError::Db(e.to_string()))?;
    c.execute(
        "UPDATE cases SET status = ?2, updated = ?3, doc = ?4 WHERE id = ?1",
        params![case.id, case.status, case.updated, doc],
    )?;
    Ok(())
}

/// Makes a case; returns it.
pub fn create(
    c: &mut Connection,
    n: NewCase,
    template: Option<&Template>,
    by: &str,
) -> Result<Case, CaseError> {
    let tx = c.transaction_with_behavior(crate::sql::TransactionBehavior::Immediate)?;
    let seq: i64 = tx.query_row("SELECT coalesce(max(seq), 0) + 1 FROM cases", [], |r| {
        r.get(0)
    })?;
    let at = now_text();
    let mut case = Case {
        id: format!("CASE-{seq:04}"),
        tenant: n.tenant,
        title: text(&n.title, 300, "the title")?,
        description: n.description.chars().take(20_000).collect(),
        status: "new".into(),
        assignee: n.assignee,
        severity: n.severity,
        tlp: n.tlp,
        pap: n.pap,
        tags: n.tags,
        fields: n.fields,
        awareness: n.awareness.to_rfc3339(),
        created: at.clone(),
        created_by: by.to_owned(),
        updated: at.clone(),
        contained_at: None,
        closed_at: None,
        resolution: None,
        templates: Vec::new(),
        incidents: n.incidents,
        alerts: n.alerts,
        notes: Vec::new(),
        tasks: Vec::new(),
        observables: Vec::new(),
        clocks: Vec::new(),
        containment: Vec::new(),
        merged_into: None,
        related: Vec::new(),
        history: Vec::new(),
    };
    for (kind, value) in n.observables {
        let Ok(value) = normalise(&kind, &value) else {
            continue;
        };
        if case
            .observables
            .iter()
            .any(|o| o.kind == kind && o.value == value)
        {
            continue;
        }
        let id = Case::next_id(&case.observables, |o| o.id);
        case.observables.push(Observable {
            id,
            ioc: matches!(
                kind.as_str(),
                "ip" | "domain" | "url" | "md5" | "sha1" | "sha256"
            ),
            kind,
            value,
            tlp: case.tlp.clone(),
            note: "from the incident".into(),
            by: by.to_owned(),
            at: at.clone(),
        });
    }
    case.log(
        by,
        format!(
            "opened ({} incidents, {} alerts, {} observables)",
            case.incidents.len(),
            case.alerts.len(),
            case.observables.len()
        ),
    );
    if let Some(t) = template {
        case.apply(t, by)?;
    }
    let doc = serde_json::to_string(&case).map_err(|e| CaseError::Db(e.to_string()))?;
    tx.execute(
        "INSERT INTO cases (seq, id, tenant, status, updated, doc) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![seq, case.id, case.tenant, case.status, case.updated, doc],
    )?;
    tx.commit()?;
    Ok(case)
}

/// Changes a case in one transaction: `f` gets it and says what it did
/// (kept in its history); returns the case and that text.
pub fn change(
    c: &mut Connection,
    id: &str,
    by: &str,
    sees: impl Fn(&str) -> bool,
    f: impl FnOnce(&mut Case) -> Result<String, CaseError>,
) -> Result<(Case, String), CaseError> {
    let tx = c.transaction_with_behavior(crate::sql::TransactionBehavior::Immediate)?;
    let mut case = get(&tx, id)?;
    if !sees(&case.tenant) {
        return Err(CaseError::Missing);
    }
    if case.merged_into.is_some() {
        return Err(CaseError::Conflict(format!(
            "{id} was merged into {}: change that one",
            case.merged_into.as_deref().unwrap_or("")
        )));
    }
    let what = f(&mut case)?;
    let what = case.log(by, what);
    put(&tx, &case)?;
    tx.commit()?;
    Ok((case, what))
}

/// Cases of the tenants a principal sees, newest first.
pub fn list(
    c: &Connection,
    sees: impl Fn(&str) -> bool,
    tenant: Option<&str>,
    status: Option<&str>,
    limit: usize,
) -> Result<Vec<Case>, CaseError> {
    let mut q = c.prepare("SELECT tenant, status, doc FROM cases ORDER BY seq DESC")?;
    let mut rows = q.query([])?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        let (t, s, doc): (String, String, String) = (r.get(0)?, r.get(1)?, r.get(2)?);
        if !sees(&t) || tenant.is_some_and(|x| x != t) || status.is_some_and(|x| x != s) {
            continue;
        }
        if let Ok(case) = serde_json::from_str::<Case>(&doc) {
            out.push(case);
        }
        if out.len() >= limit {
            break;
        }
    }
    Ok(out)
}

/// A status change: forward along the workflow; back (reopening) only
/// with a reason; closing needs a resolution and no open task.
pub fn set_status(
    case: &mut Case,
    to: &str,
    reason: Option<&str>,
    resolution: Option<&str>,
    at: Option<Timestamp>,
) -> Result<String, CaseError> {
    let from = STATUSES.iter().position(|s| *s == case.status).unwrap_or(0);
    let Some(next) = STATUSES.iter().position(|s| *s == to) else {
        return Err(bad(format!("status is one of {}", STATUSES.join(", "))));
    };
    if next == from {
        return Err(CaseError::Conflict(format!("the case is {to} already")));
    }
    let reason = reason.map(str::trim).filter(|r| !r.is_empty());
    if next < from && reason.is_none() {
        return Err(CaseError::Conflict(format!(
            "{} → {to} goes back: say why (reason)",
            case.status
        )));
    }
    if to == "closed" {
        let Some(r) = resolution else {
            return Err(bad(
                "closing needs a resolution: true-positive, false-positive, benign or duplicate",
            ));
        };
        if !["true-positive", "false-positive", "benign", "duplicate"].contains(&r) {
            return Err(bad(
                "resolution is true-positive, false-positive, benign or duplicate",
            ));
        }
        let open: Vec<String> = case
            .tasks
            .iter()
            .filter(|t| t.status == "open")
            .map(|t| format!("{} ({})", t.id, t.title))
            .collect();
        if !open.is_empty() {
            return Err(CaseError::Conflict(format!(
                "tasks still open (finish or skip them with a reason): {}",
                open.join("; ")
            )));
        }
        case.resolution = Some(r.to_owned());
        case.closed_at = Some(at.unwrap_or_else(crate::now).to_rfc3339());
    } else if next < STATUSES.len() - 1 {
        case.closed_at = None;
    }
    // Containment's time closes the scope window: the first time the case
    // reaches `contained` (or later) without it, it is now (or `at`).
    if next >= 2 && case.contained_at.is_none() {
        case.contained_at = Some(at.unwrap_or_else(crate::now).to_rfc3339());
    } else if to == "contained"
        && let Some(t) = at
    {
        case.contained_at = Some(t.to_rfc3339());
    }
    let what = format!(
        "status {} → {to}{}{}",
        case.status,
        reason.map(|r| format!(" ({r})")).unwrap_or_default(),
        if to == "contained" || (next >= 2 && from < 2) {
            format!(
                ", contained at {}",
                case.contained_at.as_deref().unwrap_or("")
            )
        } else {
            String::new()
        }
    );
    case.status = to.to_owned();
    Ok(what)
}

/// Adds a note.
pub fn add_note(case: &mut Case, by: &str, body: &str) -> Result<String, CaseError> {
    let t = text(body, 20_000, "the note")?;
    let id = Case::next_id(&case.notes, |n| n.id);
    case.notes.push(Note {
        id,
        by: by.to_owned(),
        at: now_text(),
        text: t,
    });
    Ok(format!("note {id} added"))
}

/// Adds a task.
pub fn add_task(
    case: &mut Case,
    title: &str,
    description: &str,
    owner: Option<String>,
    due: Option<&str>,
) -> Result<String, CaseError> {
    let title = text(title, 300, "the task's title")?;
    let due = due.map(parse_time).transpose()?.map(|t| t.to_rfc3339());
    let id = Case::next_id(&case.tasks, |t| t.id);
    case.tasks.push(Task {
        id,
        title: title.clone(),
        description: description.chars().take(5000).collect(),
        owner,
        due,
        status: "open".into(),
        done_at: None,
        done_by: None,
        note: String::new(),
        clock: None,
    });
    Ok(format!("task {id} added: {title}"))
}

/// What a task change may set.
#[derive(Debug, Clone, Default)]
pub struct TaskChange {
    /// `open`, `done`, `skipped`.
    pub status: Option<String>,
    /// The owner.
    pub owner: Option<String>,
    /// Due.
    pub due: Option<String>,
    /// A result, or the reason for skipping.
    pub note: Option<String>,
    /// When it was done (default now).
    pub at: Option<Timestamp>,
}

/// Changes a task; a task done meets its clock.
pub fn change_task(
    case: &mut Case,
    task: u32,
    by: &str,
    ch: TaskChange,
) -> Result<String, CaseError> {
    let Some(t) = case.tasks.iter_mut().find(|t| t.id == task) else {
        return Err(CaseError::Missing);
    };
    let mut said = Vec::new();
    if let Some(o) = ch.owner {
        said.push(format!("owner {o}"));
        t.owner = Some(o);
    }
    if let Some(d) = ch.due {
        t.due = Some(parse_time(&d)?.to_rfc3339());
        said.push(format!("due {d}"));
    }
    if let Some(n) = &ch.note {
        t.note = n.chars().take(5000).collect();
    }
    let mut met = None;
    if let Some(s) = ch.status {
        match s.as_str() {
            "done" | "skipped" => {
                if s == "skipped" && ch.note.as_deref().is_none_or(|n| n.trim().len() < 3) {
                    return Err(bad("skipping a task needs a reason (note)"));
                }
                let at = ch.at.unwrap_or_else(crate::now).to_rfc3339();
                t.done_at = Some(at.clone());
                t.done_by = Some(by.to_owned());
                if s == "done" {
                    met = t.clock.clone().map(|c| (c, at));
                }
            }
            "open" => {
                t.done_at = None;
                t.done_by = None;
            }
            _ => return Err(bad("a task's status is open, done or skipped")),
        }
        said.push(format!("status {s}"));
        t.status = s;
    }
    let title = t.title.clone();
    if let Some((clock, at)) = met {
        said.push(meet_clock(case, &clock, by, Some(&at))?);
    }
    Ok(format!("task {task} ({title}): {}", said.join(", ")))
}

/// Records a clock met (at `at`, default now).
pub fn meet_clock(
    case: &mut Case,
    clock: &str,
    by: &str,
    at: Option<&str>,
) -> Result<String, CaseError> {
    let Some(k) = case.clocks.iter_mut().find(|k| k.id == clock) else {
        return Err(CaseError::Missing);
    };
    if k.met_at.is_some() {
        return Err(CaseError::Conflict(format!(
            "the clock {clock} is met already"
        )));
    }
    let at = match at {
        Some(a) => parse_time(a)?,
        None => crate::now(),
    };
    k.met_at = Some(at.to_rfc3339());
    k.met_by = Some(by.to_owned());
    let state = clock_state(k, at);
    Ok(format!(
        "clock {} ({}) {state} at {}",
        k.id,
        k.name,
        at.to_rfc3339()
    ))
}

/// Adds an observable (kept once per kind and value).
pub fn add_observable(
    case: &mut Case,
    by: &str,
    kind: &str,
    value: &str,
    tlp_level: Option<&str>,
    ioc: bool,
    note: &str,
) -> Result<String, CaseError> {
    if !OBSERVABLE_KINDS.contains(&kind) {
        return Err(bad(format!(
            "an observable's kind is one of {}",
            OBSERVABLE_KINDS.join(", ")
        )));
    }
    let value = normalise(kind, value)?;
    if case
        .observables
        .iter()
        .any(|o| o.kind == kind && o.value == value)
    {
        return Err(CaseError::Conflict(format!(
            "{kind} {value} is there already"
        )));
    }
    let tlp_level = match tlp_level {
        Some(t) => tlp(t)?,
        None => case.tlp.clone(),
    };
    let id = Case::next_id(&case.observables, |o| o.id);
    case.observables.push(Observable {
        id,
        kind: kind.to_owned(),
        value: value.clone(),
        tlp: tlp_level,
        ioc,
        note: note.chars().take(2000).collect(),
        by: by.to_owned(),
        at: now_text(),
    });
    Ok(format!("observable {id} added: {kind} {value}"))
}

/// An observable's value, checked and normalised.
pub fn normalise(kind: &str, value: &str) -> Result<String, CaseError> {
    let v = value.trim();
    if v.is_empty() || v.len() > 2048 || v.chars().any(char::is_control) {
        return Err(bad(
            "the value is empty, too long or has control characters",
        ));
    }
    let hex = |n: usize| v.len() == n && v.chars().all(|c| c.is_ascii_hexdigit());
    let ok = match kind {
        "ip" => {
            return v
                .parse::<std::net::IpAddr>()
                .map(|ip| ip.to_string())
                .map_err(|_| bad(format!("`{v}` is not an IP address")));
        }
        "domain" => {
            v.contains('.')
                && v.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-' || c == '_')
        }
        "md5" => hex(32),
        "sha1" => hex(40),
        "sha256" => hex(64),
        "url" => v.contains("://"),
        "email" => v.contains('@'),
        _ => !v.contains(char::is_whitespace) || kind == "account",
    };
    if !ok {
        return Err(bad(format!("`{v}` is not a valid {kind}")));
    }
    Ok(match kind {
        "domain" | "md5" | "sha1" | "sha256" | "email" | "host" => v.to_ascii_lowercase(),
        _ => v.to_owned(),
    })
}

/// Clocks due to warn or found missed: marks them, and returns for each
/// (tenant, case, what, the notice).
pub fn tick(c: &mut Connection, now: Timestamp) -> Vec<(String, String, String, Notice)> {
    let mut out = Vec::new();
    let ids: Vec<String> = match c
        .prepare("SELECT id FROM cases WHERE status != 'closed'")
        .and_then(|mut q| q.query_map([], |r| r.get(0))?.collect())
    {
        Ok(v) => v,
        Err(e) => {
            tracing::error!(target: "vakt::respond", "clocks: {e}");
            return out;
        }
    };
    for id in ids {
        let r = change_quiet(c, &id, |case| {
            let mut events = Vec::new();
            if case.merged_into.is_some() {
                return events;
            }
            for k in &mut case.clocks {
                if k.met_at.is_some() {
                    continue;
                }
                let due = crate::respond::ts(&k.due).unwrap_or(now);
                let warn = crate::respond::ts(&k.warn_at).unwrap_or(due);
                if now >= warn && k.warned_at.is_none() && now < due {
                    k.warned_at = Some(now.to_rfc3339());
                    events.push(("clock-warning", k.clone()));
                }
                if now >= due && k.missed_at.is_none() {
                    k.missed_at = Some(now.to_rfc3339());
                    events.push(("clock-missed", k.clone()));
                }
            }
            for (kind, k) in &events {
                let what = if *kind == "clock-warning" {
                    format!("clock {} ({}) due {}: warning sent", k.id, k.name, k.due)
                } else {
                    format!("clock {} ({}) missed: it was due {}", k.id, k.name, k.due)
                };
                case.updated = now.to_rfc3339();
                case.history.push(Change {
                    at: now.to_rfc3339(),
                    by: "vakt".into(),
                    what,
                });
            }
            events
        });
        match r {
            Ok((case, events)) => {
                for (kind, k) in events {
                    let what = case
                        .history
                        .last()
                        .map(|h| h.what.clone())
                        .unwrap_or_default();
                    let n = Notice::clock(&case, kind, &k, now);
                    out.push((case.tenant.clone(), case.id.clone(), what, n));
                }
            }
            Err(e) => tracing::error!(target: "vakt::respond", "clocks of {id}: {e:?}"),
        }
    }
    out
}

fn change_quiet<T>(
    c: &mut Connection,
    id: &str,
    f: impl FnOnce(&mut Case) -> Vec<T>,
) -> Result<(Case, Vec<T>), CaseError> {
    let tx = c.transaction_with_behavior(crate::sql::TransactionBehavior::Immediate)?;
    let mut case = get(&tx, id)?;
    let events = f(&mut case);
    if !events.is_empty() {
        put(&tx, &case)?;
    }
    tx.commit()?;
    Ok((case, events))
}

/// Merges `from` into `into`: their incidents, alerts, observables,
/// tasks, notes, tags and clocks (the earliest awareness wins: each
/// shared clock keeps the earlier due); the merged cases are closed as
/// duplicates pointing at `into`.
pub fn merge(
    c: &mut Connection,
    into: &str,
    from: &[String],
    by: &str,
    sees: impl Fn(&str) -> bool,
) -> Result<(Case, String), CaseError> {
    let tx = c.transaction_with_behavior(crate::sql::TransactionBehavior::Immediate)?;
    let mut target = get(&tx, into)?;
    if !sees(&target.tenant) {
        return Err(CaseError::Missing);
    }
    if target.merged_into.is_some() || target.status == "closed" {
        return Err(CaseError::Conflict(format!("{into} is closed")));
    }
    let mut merged = Vec::new();
    for id in from {
        if id == into {
            return Err(bad("a case cannot be merged into itself"));
        }
        let mut src = match get(&tx, id) {
            Ok(s) if sees(&s.tenant) => s,
            _ => return Err(CaseError::Missing),
        };
        if src.tenant != target.tenant {
            return Err(bad(format!(
                "{id} is another tenant's case: cases merge within a tenant"
            )));
        }
        if src.merged_into.is_some() {
            return Err(CaseError::Conflict(format!("{id} was merged already")));
        }
        for i in &src.incidents {
            if !target.incidents.contains(i) {
                target.incidents.push(i.clone());
            }
        }
        for a in &src.alerts {
            if !target.alerts.contains(a) {
                target.alerts.push(a.clone());
            }
        }
        for t in &src.tags {
            if !target.tags.contains(t) {
                target.tags.push(t.clone());
            }
        }
        for o in &src.observables {
            if !target
                .observables
                .iter()
                .any(|x| x.kind == o.kind && x.value == o.value)
            {
                let mut o = o.clone();
                o.id = Case::next_id(&target.observables, |x| x.id);
                target.observables.push(o);
            }
        }
        for n in &src.notes {
            let mut n = n.clone();
            n.id = Case::next_id(&target.notes, |x| x.id);
            n.text = format!("[from {id}] {}", n.text);
            target.notes.push(n);
        }
        let mut renumber = BTreeMap::new();
        for t in &src.tasks {
            if target
                .tasks
                .iter()
                .any(|x| x.title == t.title && x.clock == t.clock)
            {
                continue;
            }
            let mut t = t.clone();
            let new = Case::next_id(&target.tasks, |x| x.id);
            renumber.insert(t.id, new);
            t.id = new;
            target.tasks.push(t);
        }
        for k in &src.clocks {
            match target.clocks.iter_mut().find(|x| x.id == k.id) {
                Some(x) => {
                    if k.due < x.due {
                        x.due = k.due.clone();
                        x.warn_at = k.warn_at.clone();
                    }
                }
                None => {
                    let mut k = k.clone();
                    k.task = k.task.and_then(|t| renumber.get(&t).copied());
                    target.clocks.push(k);
                }
            }
        }
        if src.awareness < target.awareness {
            target.awareness = src.awareness.clone();
        }
        target.severity = target.severity.max(src.severity);
        target.related.push(id.clone());
        src.merged_into = Some(into.to_owned());
        src.status = "closed".into();
        src.resolution = Some("duplicate".into());
        src.closed_at = Some(now_text());
        src.log(by, format!("merged into {into}"));
        put(&tx, &src)?;
        merged.push(id.clone());
    }
    let what = target.log(by, format!("merged {} into it", merged.join(", ")));
    put(&tx, &target)?;
    tx.commit()?;
    Ok((target, what))
}

/// What a split takes to the new case.
#[derive(Debug, Clone, Default)]
pub struct Split {
    /// The new case's title.
    pub title: String,
    /// Incidents moved.
    pub incidents: Vec<String>,
    /// Alerts moved.
    pub alerts: Vec<String>,
    /// Observables moved (ids).
    pub observables: Vec<u32>,
    /// Tasks moved (ids).
    pub tasks: Vec<u32>,
}

/// Splits a case: the incidents, alerts, observables and tasks named move
/// to a new case of the same tenant (same awareness, clocks and TLP).
pub fn split(
    c: &mut Connection,
    id: &str,
    s: Split,
    by: &str,
    sees: impl Fn(&str) -> bool,
) -> Result<(Case, Case, String), CaseError> {
    let mut src = get(c, id)?;
    if !sees(&src.tenant) {
        return Err(CaseError::Missing);
    }
    if src.merged_into.is_some() || src.status == "closed" {
        return Err(CaseError::Conflict(format!("{id} is closed")));
    }
    for i in &s.incidents {
        if !src.incidents.contains(i) {
            return Err(bad(format!("{i} is not linked to {id}")));
        }
    }
    for a in &s.alerts {
        if !src.alerts.contains(a) {
            return Err(bad(format!("alert {a} is not linked to {id}")));
        }
    }
    for o in &s.observables {
        if !src.observables.iter().any(|x| x.id == *o) {
            return Err(bad(format!("{id} has no observable {o}")));
        }
    }
    for t in &s.tasks {
        if !src.tasks.iter().any(|x| x.id == *t) {
            return Err(bad(format!("{id} has no task {t}")));
        }
    }
    if s.incidents.is_empty()
        && s.alerts.is_empty()
        && s.observables.is_empty()
        && s.tasks.is_empty()
    {
        return Err(bad("name what moves to the new case"));
    }
    let n = NewCase {
        tenant: src.tenant.clone(),
        title: s.title.clone(),
        description: format!("split from {id}"),
        severity: src.severity,
        tlp: src.tlp.clone(),
        pap: src.pap.clone(),
        assignee: src.assignee.clone(),
        tags: src.tags.clone(),
        fields: BTreeMap::new(),
        awareness: parse_time(&src.awareness)?,
        incidents: s.incidents.clone(),
        alerts: s.alerts.clone(),
        observables: Vec::new(),
    };
    let mut new = create(c, n, None, by)?;
    let tx = c.transaction_with_behavior(crate::sql::TransactionBehavior::Immediate)?;
    src.incidents.retain(|i| !s.incidents.contains(i));
    src.alerts.retain(|a| !s.alerts.contains(a));
    let (moved_obs, kept): (Vec<_>, Vec<_>) = src
        .observables
        .drain(..)
        .partition(|o| s.observables.contains(&o.id));
    src.observables = kept;
    new.observables = moved_obs;
    let (moved_tasks, kept): (Vec<_>, Vec<_>) =
        src.tasks.drain(..).partition(|t| s.tasks.contains(&t.id));
    src.tasks = kept;
    new.tasks = moved_tasks;
    new.clocks = src
        .clocks
        .iter()
        .cloned()
        .map(|mut k| {
            if k.task.is_some_and(|t| !new.tasks.iter().any(|x| x.id == t)) {
                k.task = None;
            }
            k
        })
        .collect();
    new.related.push(id.to_owned());
    src.related.push(new.id.clone());
    let what = src.log(by, format!("split: {} made", new.id));
    new.log(by, format!("split from {id}"));
    put(&tx, &src)?;
    put(&tx, &new)?;
    tx.commit()?;
    Ok((src, new, what))
}

/// The cases (open or not) that link an incident, with their containment time.
pub fn containment_of_incident(c: &Connection, incident: &str) -> Option<Timestamp> {
    // Only the cases whose document names the incident are read whole.
    let mut q = c
        .prepare("SELECT doc FROM cases WHERE instr(doc, ?1) > 0")
        .ok()?;
    let rows: Vec<String> = q
        .query_map([incident], |r| r.get(0))
        .ok()?
        .flatten()
        .collect();
    rows.iter()
        .filter_map(|d| serde_json::from_str::<Case>(d).ok())
        .filter(|k| k.incidents.iter().any(|i| i == incident))
        .filter_map(|k| k.contained_at.as_deref().and_then(crate::respond::ts))
        .min()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db() -> (tempfile::TempDir, Connection) {
        let d = tempfile::tempdir().unwrap();
        let c = crate::db::open(&d.path().join("v.db")).unwrap();
        (d, c)
    }

    fn new_case(tenant: &str, awareness: Timestamp) -> NewCase {
        NewCase {
            tenant: tenant.into(),
            title: "Ransomware staging at ous".into(),
            severity: Severity::High,
            tlp: "amber".into(),
            pap: "amber".into(),
            awareness,
            incidents: vec![format!("{tenant}-INC-1")],
            observables: vec![("ip".into(), "203.0.113.7".into())],
            ..NewCase::default()
        }
    }

    #[test]
    fn the_template_clocks_warn_then_miss_once_and_a_done_task_meets_its_clock() {
        let (_d, mut c) = db();
        let now = crate::now();
        // Aware 23.5 hours ago: the NIS2 early warning (24 h) is due in half an hour.
        let aware = Timestamp(now.0 - 23 * 3_600_000_000_000 - 1_800_000_000_000);
        let t = super::super::templates::health_data_breach();
        let case = create(&mut c, new_case("ous", aware), Some(&t), "kari").unwrap();
        assert_eq!(case.id, "CASE-0001");
        assert!(case.tasks.len() >= 9, "{:?}", case.tasks);
        let nis = case
            .clocks
            .iter()
            .find(|k| k.id == "nis2-early-warning")
            .unwrap();
        assert_eq!(clock_state(nis, now), "due-soon");
        // The tick warns once …
        let first = tick(&mut c, now);
        assert!(
            first
                .iter()
                .any(|(_, _, w, n)| n.kind == "clock-warning" && w.contains("nis2-early-warning")),
            "{first:?}"
        );
        assert!(tick(&mut c, now).is_empty());
        // … and, past due, finds it missed once.
        let later = Timestamp(now.0 + 3_600_000_000_000);
        let missed = tick(&mut c, later);
        assert!(missed.iter().any(|(_, _, _, n)| n.kind == "clock-missed"));
        assert!(
            tick(&mut c, later)
                .iter()
                .all(|(_, _, _, n)| n.kind != "clock-missed")
        );
        // The DPA task done meets GDPR Art. 33 (72 h).
        let task = get(&c, "CASE-0001")
            .unwrap()
            .tasks
            .iter()
            .find(|t| t.clock.as_deref() == Some("gdpr-33"))
            .unwrap()
            .id;
        let (case, what) = change(
            &mut c,
            "CASE-0001",
            "kari",
            |_| true,
            |k| {
                change_task(
                    k,
                    task,
                    "kari",
                    TaskChange {
                        status: Some("done".into()),
                        ..TaskChange::default()
                    },
                )
            },
        )
        .unwrap();
        assert!(what.contains("gdpr-33"), "{what}");
        let case = case.with_states(later);
        assert_eq!(
            case.clocks
                .iter()
                .find(|k| k.id == "gdpr-33")
                .unwrap()
                .state,
            "met"
        );
        assert_eq!(
            case.clocks
                .iter()
                .find(|k| k.id == "nis2-early-warning")
                .unwrap()
                .state,
            "missed"
        );
    }

    #[test]
    fn the_workflow_goes_forward_back_only_with_a_reason_and_closes_with_tasks_finished() {
        let (_d, mut c) = db();
        let case = create(&mut c, new_case("ous", crate::now()), None, "kari").unwrap();
        let id = case.id.clone();
        let mut k = get(&c, &id).unwrap();
        add_task(&mut k, "reset passwords", "", None, None).unwrap();
        set_status(&mut k, "contained", None, None, None).unwrap();
        assert!(k.contained_at.is_some());
        assert!(matches!(
            set_status(&mut k, "triage", None, None, None),
            Err(CaseError::Conflict(_))
        ));
        assert!(matches!(
            set_status(&mut k, "closed", None, Some("true-positive"), None),
            Err(CaseError::Conflict(_))
        ));
        change_task(
            &mut k,
            1,
            "kari",
            TaskChange {
                status: Some("done".into()),
                ..TaskChange::default()
            },
        )
        .unwrap();
        assert!(matches!(
            set_status(&mut k, "closed", None, None, None),
            Err(CaseError::Bad(_))
        ));
        set_status(&mut k, "closed", None, Some("true-positive"), None).unwrap();
        assert!(k.closed_at.is_some());
        set_status(&mut k, "triage", Some("new evidence"), None, None).unwrap();
        assert!(k.closed_at.is_none());
    }

    #[test]
    fn merge_moves_everything_within_a_tenant_and_split_moves_it_back_out() {
        let (_d, mut c) = db();
        let a = create(&mut c, new_case("ous", crate::now()), None, "kari").unwrap();
        let mut nb = new_case("ous", Timestamp(crate::now().0 - 3_600_000_000_000));
        nb.incidents = vec!["ous-INC-2".into()];
        nb.observables = vec![("domain".into(), "Evil.Example".into())];
        let b = create(&mut c, nb, None, "kari").unwrap();
        let other = create(&mut c, new_case("ahus", crate::now()), None, "per").unwrap();
        assert!(matches!(
            merge(
                &mut c,
                &a.id,
                std::slice::from_ref(&other.id),
                "kari",
                |_| true
            ),
            Err(CaseError::Bad(_))
        ));
        // A principal who cannot see the other case gets "missing".
        assert!(matches!(
            merge(
                &mut c,
                &a.id,
                std::slice::from_ref(&other.id),
                "kari",
                |t| t == "ous"
            ),
            Err(CaseError::Missing)
        ));
        let (m, _) = merge(&mut c, &a.id, std::slice::from_ref(&b.id), "kari", |_| true).unwrap();
        assert_eq!(m.incidents, vec!["ous-INC-1", "ous-INC-2"]);
        assert_eq!(m.observables.len(), 2);
        assert_eq!(m.awareness, b.awareness);
        let b = get(&c, &b.id).unwrap();
        assert_eq!(b.merged_into.as_deref(), Some(a.id.as_str()));
        assert_eq!(b.status, "closed");
        let (src, new, _) = split(
            &mut c,
            &a.id,
            Split {
                title: "the second intrusion".into(),
                incidents: vec!["ous-INC-2".into()],
                observables: vec![2],
                ..Split::default()
            },
            "kari",
            |_| true,
        )
        .unwrap();
        assert_eq!(src.incidents, vec!["ous-INC-1"]);
        assert_eq!(new.incidents, vec!["ous-INC-2"]);
        assert_eq!(new.observables[0].value, "evil.example");
        assert_eq!(get(&c, &new.id).unwrap().related, vec![a.id.clone()]);
    }
}
