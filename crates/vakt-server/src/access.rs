//! The one way to the service's data: every query of the API goes through a
//! [`Scoped`] view, made from the principal of the request, which applies
//! the principal's tenant to every row it returns. The data's handles are
//! private to this module, so a handler — and a new endpoint — cannot
//! reach a row without the tenant filter.
//!
//! A tenant-bound principal asking for another tenant is refused (403); one
//! asking for nothing in particular sees its own tenant's rows only; a row
//! of another tenant asked for by id is "not found" (404), the same answer
//! as for a row that does not exist, so ids cannot be probed. An incident
//! is one tenant's when every alert in it is that tenant's.
//!
//! Patients appear only as pseudonyms; [`Scoped::reveal`] is the one path
//! to a clear identifier.

use std::collections::{BTreeSet, BinaryHeap, HashMap};
use std::path::PathBuf;

const DAY_NS: i64 = 86_400_000_000_000;
use std::sync::{Arc, Mutex};

use crate::sql::{Connection, OptionalExtension, params};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use vakt_context::EhrContext;
use vakt_core::pseudo::{Pseudonymiser, RevealCapability};
use vakt_core::{Alert, Event, EventRef, FieldId, Locator, Severity, SourceKind, Timestamp, Value};
use vakt_incident::{Exposure, Incident, PatientIndex};
use vakt_store::{EventQuery, Store};

use crate::api::{ApiError, db_err};
use crate::auth::{Principal, Role};
use crate::intel::Hunts;

pub mod respond;
pub mod views;

/// What a principal wants to do (checked before any data is touched).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// Read events, alerts, incidents, scopes, intel.
    Read,
    /// Set an alert's triage status.
    Triage,
    /// Run a scope.
    Scope,
    /// Reveal a pseudonym.
    Reveal,
    /// Add indicators, reload rules.
    Operate,
    /// Users, tokens, the audit trail.
    Administer,
    /// The service's status, the rules and detectors.
    Status,
    /// Work cases, make exceptions, ask for containment.
    Respond,
    /// Read the shared TAXII collections.
    Share,
}

impl Need {
    /// Does the role allow it?
    pub fn allowed(self, role: Role) -> bool {
        use Role::*;
        match self {
            Need::Read | Need::Scope => matches!(role, CertAnalyst | TrustAnalyst | PrivacyOfficer),
            Need::Triage | Need::Respond => matches!(role, CertAnalyst | TrustAnalyst),
            Need::Share => matches!(role, CertAnalyst | TrustAnalyst | Partner),
            Need::Reveal => role == PrivacyOfficer,
            Need::Operate => matches!(role, CertAnalyst | Admin),
            Need::Administer => role == Admin,
            Need::Status => !matches!(role, Ingest | Partner),
        }
    }
}

/// Refuses a principal whose role does not allow `need`.
pub fn require(who: &Principal, need: Need) -> Result<(), ApiError> {
    if need.allowed(who.role) {
        Ok(())
    } else {
        Err(ApiError::forbidden(format!(
            "the {} role may not do this",
            who.role.name()
        )))
    }
}

/// The data the API reads (private: only [`Scoped`] reads it).
pub struct Data {
    db: crate::sql::Database,
    store: PathBuf,
    context: Arc<EhrContext>,
    pseudo: Arc<Pseudonymiser>,
    patients: Mutex<HashMap<String, Arc<PatientIndex>>>,
    hunts: Arc<Mutex<Hunts>>,
    intel_paths: Vec<PathBuf>,
    /// `store` holds one store per writer (a cluster's shared folder).
    partitioned: bool,
}

impl Data {
    /// The data of a service.
    pub fn new(
        db: crate::sql::Database,
        store: PathBuf,
        context: Arc<EhrContext>,
        pseudo: Arc<Pseudonymiser>,
        hunts: Arc<Mutex<Hunts>>,
        intel_paths: Vec<PathBuf>,
    ) -> Data {
        Data {
            db,
            store,
            context,
            pseudo,
            patients: Mutex::default(),
            hunts,
            intel_paths,
            partitioned: false,
        }
    }

    /// The same, over a folder of stores read as one (a cluster's shared
    /// folder, one store per partition).
    pub fn partitioned(mut self) -> Data {
        self.partitioned = true;
        self
    }

    /// A view for this principal, if its role allows `need`.
    pub fn scoped(self: &Arc<Self>, who: &Principal, need: Need) -> Result<Scoped, ApiError> {
        require(who, need)?;
        Ok(Scoped {
            data: self.clone(),
            who: who.clone(),
        })
    }
}

/// A principal's view of the data: every row it returns is of a tenant
/// the principal sees.
pub struct Scoped {
    data: Arc<Data>,
    who: Principal,
}

/// A page of results and where the next one starts.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Page<T> {
    /// The results.
    pub items: Vec<T>,
    /// Give this as `cursor` for the next page (absent: no more).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
}

/// An event search.
#[derive(Debug, Clone, Default)]
pub struct EventSearch {
    /// The tenant asked for.
    pub tenant: Option<String>,
    /// From (ns, inclusive).
    pub from: Option<i64>,
    /// Until (ns, exclusive).
    pub to: Option<i64>,
    /// Source kind (`zeek:conn`), or its family with a trailing `*` (`evtx:*`).
    pub source: Option<String>,
    /// `field=value` filters over common and native fields, all must hold.
    pub filters: Vec<(String, String)>,
    /// At most this many.
    pub limit: usize,
    /// After this cursor.
    pub cursor: Option<String>,
}

/// An alert search.
#[derive(Debug, Clone, Default)]
pub struct AlertSearch {
    /// The tenant asked for.
    pub tenant: Option<String>,
    /// The detector.
    pub detector: Option<String>,
    /// The rule id.
    pub rule: Option<String>,
    /// At least this severity.
    pub severity: Option<Severity>,
    /// An entity (`host:ws-01`, or a bare name or address).
    pub entity: Option<String>,
    /// Triage status.
    pub status: Option<String>,
    /// First seen from (ns).
    pub from: Option<i64>,
    /// First seen before (ns).
    pub to: Option<i64>,
    /// At most this many.
    pub limit: usize,
    /// After this cursor.
    pub cursor: Option<String>,
}

/// An alert's triage status.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct Triage {
    /// `new`, `acknowledged`, `in-progress`, `true-positive`, `false-positive`, `benign`, `closed`; `suppressed` (by an exception).
    pub status: String,
    /// Why.
    pub note: String,
    /// Who set it.
    pub by: String,
    /// When.
    pub at: String,
}

/// The verdicts: each needs a reason.
pub const VERDICTS: [&str; 3] = ["true-positive", "false-positive", "benign"];

/// The statuses an analyst may give an alert (`suppressed` is an
/// exception's, not given by hand).
pub const STATUSES: [&str; 7] = [
    "new",
    "acknowledged",
    "in-progress",
    "true-positive",
    "false-positive",
    "benign",
    "closed",
];

/// A stored event's id: where it is (tenant, time, source kind, input and
/// place), opaque to clients.
pub fn event_id(tenant: &str, r: &EventRef) -> Option<String> {
    let t = r.time?;
    let v = serde_json::json!([
        tenant,
        t.0,
        r.source.as_ref().map(SourceKind::as_str).unwrap_or(""),
        &*r.path,
        r.locator.to_string()
    ]);
    Some(URL_SAFE_NO_PAD.encode(v.to_string()))
}

fn parse_event_id(id: &str) -> Option<(String, EventRef)> {
    let raw = URL_SAFE_NO_PAD.decode(id).ok()?;
    let (tenant, time, source, path, at): (String, i64, String, String, String) =
        serde_json::from_slice(&raw).ok()?;
    Some((
        tenant,
        EventRef {
            path: Arc::from(path.as_str()),
            locator: at.parse::<Locator>().ok()?,
            record_id: None,
            time: Some(Timestamp(time)),
            source: (!source.is_empty()).then(|| SourceKind::new(&source)),
        },
    ))
}

/// An event as the API shows it: its id, and the normalised record.
pub fn event_json(e: &Event) -> serde_json::Value {
    let mut v = serde_json::to_value(e).unwrap_or_default();
    if let (Some(obj), Some(id)) = (v.as_object_mut(), event_id(&e.tenant, &EventRef::to(e))) {
        obj.insert("id".into(), id.into());
    }
    v
}

fn value_is(v: &Value, want: &str) -> bool {
    match v {
        Value::Str(s) => s.eq_ignore_ascii_case(want),
        Value::Int(n) => want.parse::<i64>().is_ok_and(|w| w == *n),
        Value::Float(f) => want.parse::<f64>().is_ok_and(|w| w == *f),
        Value::Bool(b) => want.eq_ignore_ascii_case(if *b { "true" } else { "false" }),
        Value::Ip(ip) => want.parse::<std::net::IpAddr>().is_ok_and(|w| w == *ip),
        Value::List(l) => l.iter().any(|x| value_is(x, want)),
        _ => false,
    }
}

fn event_matches(e: &Event, filters: &[(Option<FieldId>, String)]) -> bool {
    filters.iter().all(|(id, want)| {
        id.is_some_and(|id| {
            e.common
                .iter()
                .chain(e.fields.iter())
                .any(|(f, v)| *f == id && value_is(v, want))
        })
    })
}

fn cursor_of(parts: &(i64, String)) -> String {
    URL_SAFE_NO_PAD.encode(format!("{}|{}", parts.0, parts.1))
}

fn parse_cursor(c: &str) -> Result<(i64, String), ApiError> {
    let bad = || ApiError::bad_request("the cursor is not one this API gave");
    let raw =
        String::from_utf8(URL_SAFE_NO_PAD.decode(c).map_err(|_| bad())?).map_err(|_| bad())?;
    let (t, k) = raw.split_once('|').ok_or_else(bad)?;
    Ok((t.parse().map_err(|_| bad())?, k.to_owned()))
}

fn not_found(what: &str) -> ApiError {
    ApiError::not_found(format!("no such {what} (or not one you may see)"))
}

impl Scoped {
    /// The principal.
    pub fn principal(&self) -> &Principal {
        &self.who
    }

    fn sees(&self, tenant: &str) -> bool {
        self.who.sees(tenant)
    }

    /// The tenants a query covers: the one asked for (refused if the
    /// principal may not see it), else the principal's own (`None`: all).
    fn tenant(&self, asked: Option<&str>) -> Result<Option<String>, ApiError> {
        match (asked.filter(|a| !a.is_empty()), &self.who.tenant) {
            (Some(a), Some(own)) if a != own => Err(ApiError::forbidden(
                "you may see your own tenant's data only",
            )),
            (Some(a), _) => Ok(Some(a.to_owned())),
            (None, own) => Ok(own.clone()),
        }
    }

    fn db(&self) -> Result<Connection, ApiError> {
        self.data.db.connect().map_err(db_err)
    }

    fn store(&self) -> Store {
        if self.data.partitioned {
            Store::union_of(&self.data.store)
        } else {
            Store::beside_writer(&self.data.store)
        }
    }

    /// The event segments of a query, of one source kind (`zeek:conn`) or
    /// family (`evtx:*`) if given, with their days, oldest first.
    fn segments(&self, query: &EventQuery, source: Option<&str>) -> Vec<(i64, PathBuf)> {
        let mut v: Vec<(i64, PathBuf)> = self
            .store()
            .event_segments(query)
            .into_iter()
            .filter(|seg| {
                source.is_none_or(|s| {
                    let kind = vakt_store::segment_source(seg).unwrap_or_default();
                    match s.strip_suffix('*') {
                        Some(prefix) => kind.starts_with(prefix),
                        None => kind == s,
                    }
                })
            })
            .map(|seg| (vakt_store::segment_day(&seg).unwrap_or(i64::MIN), seg))
            .collect();
        v.sort();
        v
    }

    /// Events of a search, oldest first, a page at a time.
    pub fn events(&self, q: &EventSearch) -> Result<Page<serde_json::Value>, ApiError> {
        let tenant = self.tenant(q.tenant.as_deref())?;
        let after = q.cursor.as_deref().map(parse_cursor).transpose()?;
        let filters: Vec<(Option<FieldId>, String)> = q
            .filters
            .iter()
            .map(|(f, v)| (FieldId::lookup(f), v.clone()))
            .collect();
        let source = q.source.as_deref().filter(|s| !s.is_empty());
        let limit = q.limit.clamp(1, 1000);
        // The `limit + 1` first events after the cursor, by (time, id).
        let mut best: BinaryHeap<(i64, String, usize)> = BinaryHeap::new();
        let mut kept: HashMap<usize, serde_json::Value> = HashMap::new();
        let mut n = 0usize;
        let query = EventQuery {
            tenant,
            from: q.from,
            to: q.to,
        };
        // Day by day, oldest first: a page is full once the day to come
        // starts after everything kept; other sources' partitions are not opened.
        let segments: Vec<(i64, PathBuf)> = self
            .segments(&query, source)
            .into_iter()
            .filter(|(day, _)| {
                after
                    .as_ref()
                    .is_none_or(|(t, _)| day.saturating_add(DAY_NS) > *t)
            })
            .collect();
        type Best = BinaryHeap<(i64, String, usize)>;
        let take = |e: Event,
                    best: &mut Best,
                    kept: &mut HashMap<usize, serde_json::Value>,
                    n: &mut usize| {
            if !self.sees(&e.tenant) {
                return;
            }
            if !event_matches(&e, &filters) {
                return;
            }
            // Later than everything kept on a full page: no id needed.
            if best.len() > limit && best.peek().is_some_and(|top| top.0 < e.time.0) {
                return;
            }
            let Some(id) = event_id(&e.tenant, &EventRef::to(&e)) else {
                return;
            };
            let key = (e.time.0, id);
            if after.as_ref().is_some_and(|a| key <= *a) {
                return;
            }
            if best.len() > limit
                && best
                    .peek()
                    .is_some_and(|top| (top.0, &top.1) <= (key.0, &key.1))
            {
                return;
            }
            *n += 1;
            kept.insert(*n, event_json(&e));
            best.push((key.0, key.1, *n));
            if best.len() > limit + 1
                && let Some((_, _, gone)) = best.pop()
            {
                kept.remove(&gone);
            }
        };
        for (day, seg) in &segments {
            if best.len() > limit && best.peek().is_some_and(|top| top.0 < *day) {
                break;
            }
            vakt_store::read_segment(seg, &query, &mut |e| take(e, &mut best, &mut kept, &mut n))
                .map_err(|e| {
                tracing::error!(target: "vakt::api", "store: {e}");
                ApiError::internal("the event store could not be read")
            })?;
        }
        let mut v = best.into_sorted_vec();
        let more = v.len() > limit;
        v.truncate(limit);
        let next = more
            .then(|| v.last().map(|(t, id, _)| cursor_of(&(*t, id.clone()))))
            .flatten();
        let items = v
            .into_iter()
            .filter_map(|(_, _, i)| kept.remove(&i))
            .collect();
        Ok(Page { items, next })
    }

    /// One stored event by its id.
    pub fn event(&self, id: &str) -> Result<serde_json::Value, ApiError> {
        let (tenant, r) = parse_event_id(id).ok_or_else(|| not_found("event"))?;
        if !self.sees(&tenant) {
            return Err(not_found("event"));
        }
        match self.store().find(&tenant, &r) {
            Ok(Some(e)) => Ok(event_json(&e)),
            Ok(None) => Err(not_found("event")),
            Err(e) => {
                tracing::error!(target: "vakt::api", "store: {e}");
                Err(ApiError::internal("the event store could not be read"))
            }
        }
    }

    fn statuses(&self, c: &Connection) -> Result<HashMap<String, Triage>, ApiError> {
        let mut q = c
            .prepare("SELECT key, status, note, by, at FROM alert_status")
            .map_err(db_err)?;
        let rows = q
            .query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    Triage {
                        status: r.get(1)?,
                        note: r.get(2)?,
                        by: r.get(3)?,
                        at: r.get(4)?,
                    },
                ))
            })
            .map_err(db_err)?;
        rows.collect::<crate::sql::Result<_>>().map_err(db_err)
    }

    /// Alerts of a search, by first seen, a page at a time.
    pub fn alerts(&self, q: &AlertSearch) -> Result<Page<serde_json::Value>, ApiError> {
        let tenant = self.tenant(q.tenant.as_deref())?;
        let after = q.cursor.as_deref().map(parse_cursor).transpose()?;
        let limit = q.limit.clamp(1, 1000);
        let c = self.db()?;
        let statuses = self.statuses(&c)?;
        let mut sql = String::from("SELECT alert, first, key, tenant FROM alerts WHERE 1 = 1");
        let mut args: Vec<crate::sql::Value> = Vec::new();
        let mut add = |sql: &mut String, cond: &str, v: crate::sql::Value| {
            args.push(v);
            sql.push_str(&cond.replace('?', &format!("?{}", args.len())));
        };
        if let Some(t) = &tenant {
            add(&mut sql, " AND tenant = ?", t.clone().into());
        }
        if let Some(d) = &q.detector {
            add(&mut sql, " AND detector = ?", d.clone().into());
        }
        if let Some(f) = q.from {
            add(&mut sql, " AND first >= ?", f.into());
        }
        if let Some(t) = q.to {
            add(&mut sql, " AND first < ?", t.into());
        }
        if let Some((t, k)) = &after {
            add(&mut sql, " AND (first > ?", (*t).into());
            add(&mut sql, " OR (first = ?", (*t).into());
            add(&mut sql, " AND key > ?))", k.clone().into());
        }
        sql.push_str(" ORDER BY first, key");
        let mut st = c.prepare(&sql).map_err(db_err)?;
        let mut rows = st
            .query(crate::sql::params_from_iter(args.iter()))
            .map_err(db_err)?;
        let mut items = Vec::new();
        let mut last = None;
        let mut more = false;
        let entity = q.entity.as_deref().map(str::to_ascii_lowercase);
        while let Some(r) = rows.next().map_err(db_err)? {
            let (text, first, key, t): (String, i64, String, String) = (
                r.get(0).map_err(db_err)?,
                r.get(1).map_err(db_err)?,
                r.get(2).map_err(db_err)?,
                r.get(3).map_err(db_err)?,
            );
            if !self.sees(&t) {
                continue;
            }
            let Ok(a) = serde_json::from_str::<Alert>(&text) else {
                continue;
            };
            let status = statuses.get(&key);
            let status_name = status.map_or("new", |s| s.status.as_str());
            let keep = q.rule.as_ref().is_none_or(|r| *r == a.rule.id())
                && q.severity.is_none_or(|s| a.severity >= s)
                && match &q.status {
                    Some(s) => s == status_name,
                    // Silenced alerts are shown when asked for (status=suppressed).
                    None => status_name != "suppressed",
                }
                && entity.as_ref().is_none_or(|want| {
                    a.actors.iter().chain(a.targets.iter()).any(|e| {
                        e.key().to_ascii_lowercase() == *want
                            || e.value().to_ascii_lowercase() == *want
                    })
                });
            if !keep {
                continue;
            }
            if items.len() == limit {
                more = true;
                break;
            }
            last = Some((first, key.clone()));
            items.push(alert_json(&a, status));
        }
        Ok(Page {
            items,
            next: if more {
                last.as_ref().map(cursor_of)
            } else {
                None
            },
        })
    }

    fn alert_row(&self, c: &Connection, key: &str) -> Result<Alert, ApiError> {
        let row: Option<(String, String)> = c
            .query_row(
                "SELECT alert, tenant FROM alerts WHERE key = ?1",
                [key],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(db_err)?;
        match row {
            Some((text, tenant)) if self.sees(&tenant) => serde_json::from_str(&text)
                .map_err(|_| ApiError::internal("a stored alert cannot be read")),
            _ => Err(not_found("alert")),
        }
    }

    /// One alert with its triage status and its evidence events.
    pub fn alert(&self, key: &str) -> Result<serde_json::Value, ApiError> {
        let c = self.db()?;
        let a = self.alert_row(&c, key)?;
        let status: Option<Triage> = c
            .query_row(
                "SELECT status, note, by, at FROM alert_status WHERE key = ?1",
                [key],
                |r| {
                    Ok(Triage {
                        status: r.get(0)?,
                        note: r.get(1)?,
                        by: r.get(2)?,
                        at: r.get(3)?,
                    })
                },
            )
            .optional()
            .map_err(db_err)?;
        let mut v = alert_json(&a, status.as_ref());
        let store = self.store();
        let events: Vec<serde_json::Value> = a
            .origins
            .iter()
            .take(10)
            .filter_map(|r| store.find(&a.tenant, r).ok().flatten())
            .map(|e| event_json(&e))
            .collect();
        if let Some(o) = v.as_object_mut() {
            o.insert("evidence_events".into(), events.into());
        }
        Ok(v)
    }

    /// Sets an alert's triage status.
    pub fn triage(&self, key: &str, status: &str, note: &str) -> Result<Triage, ApiError> {
        if !STATUSES.contains(&status) {
            return Err(ApiError::bad_request(format!(
                "unknown status (known: {})",
                STATUSES.join(", ")
            )));
        }
        if VERDICTS.contains(&status) && note.trim().chars().count() < 3 {
            return Err(ApiError::bad_request(format!(
                "a verdict ({}) needs a reason (note)",
                VERDICTS.join(", ")
            )));
        }
        let c = self.db()?;
        self.alert_row(&c, key)?;
        let t = Triage {
            status: status.to_owned(),
            note: note.chars().take(2000).collect(),
            by: self.who.who.clone(),
            at: crate::now().to_rfc3339(),
        };
        c.execute(
            "INSERT INTO alert_status (key, status, note, by, at) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (key) DO UPDATE SET status = ?2, note = ?3, by = ?4, at = ?5",
            params![key, t.status, t.note, t.by, t.at],
        )
        .map_err(db_err)?;
        Ok(t)
    }

    /// Every incident the principal sees, with the tenants of its alerts.
    fn incidents_all(&self, c: &Connection) -> Result<Vec<(Incident, BTreeSet<String>)>, ApiError> {
        let mut tenants: HashMap<String, String> = HashMap::new();
        {
            let mut q = c
                .prepare("SELECT key, tenant FROM alerts")
                .map_err(db_err)?;
            let rows = q
                .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
                .map_err(db_err)?;
            for r in rows {
                let (k, t) = r.map_err(db_err)?;
                tenants.insert(k, t);
            }
        }
        let all = crate::db::incidents(c).map_err(db_err)?;
        Ok(all
            .into_iter()
            .filter_map(|i| {
                let ts: BTreeSet<String> = i
                    .alerts
                    .iter()
                    .filter_map(|k| tenants.get(k).cloned())
                    .collect();
                (!ts.is_empty() && ts.iter().all(|t| self.sees(t))).then_some((i, ts))
            })
            .collect())
    }

    /// Incidents, most severe and newest first.
    pub fn incidents(
        &self,
        tenant: Option<&str>,
        min: Option<Severity>,
        queue: Option<&str>,
        limit: usize,
    ) -> Result<Vec<serde_json::Value>, ApiError> {
        let tenant = self.tenant(tenant)?;
        let c = self.db()?;
        let mut v: Vec<(Incident, BTreeSet<String>)> = self
            .incidents_all(&c)?
            .into_iter()
            .filter(|(i, ts)| {
                tenant.as_ref().is_none_or(|t| ts.contains(t))
                    && min.is_none_or(|m| i.severity >= m)
                    && queue.is_none_or(|q| i.queue == q)
            })
            .collect();
        v.sort_by(|a, b| {
            b.0.severity
                .cmp(&a.0.severity)
                .then(b.0.last.cmp(&a.0.last))
        });
        Ok(v.into_iter()
            .take(limit.clamp(1, 1000))
            .map(|(i, ts)| {
                serde_json::json!({
                    "id": i.id, "title": i.title, "severity": i.severity, "first": i.first,
                    "last": i.last, "alerts": i.alerts.len(), "queue": i.queue,
                    "stages": i.stages.iter().map(|s| s.stage.clone()).collect::<Vec<_>>(),
                    "tenants": ts,
                })
            })
            .collect())
    }

    fn incident_row(
        &self,
        c: &Connection,
        id: &str,
    ) -> Result<(Incident, Vec<Alert>, String), ApiError> {
        let (i, ts) = self
            .incidents_all(c)?
            .into_iter()
            .find(|(i, _)| i.id == id)
            .ok_or_else(|| not_found("incident"))?;
        let mut alerts = Vec::new();
        for k in &i.alerts {
            if let Ok(a) = self.alert_row(c, k) {
                alerts.push(a);
            }
        }
        let tenant = ts.into_iter().next().unwrap_or_default();
        Ok((i, alerts, tenant))
    }

    /// One incident: entity graph, stages, timeline, patient zero, alerts.
    pub fn incident(&self, id: &str) -> Result<serde_json::Value, ApiError> {
        let c = self.db()?;
        let (i, alerts, tenant) = self.incident_row(&c, id)?;
        let statuses = self.statuses(&c)?;
        let mut timeline: Vec<&Alert> = alerts.iter().collect();
        timeline.sort_by_key(|a| (a.first, a.key.clone()));
        let scoped: Option<String> = c
            .query_row("SELECT at FROM scopes WHERE incident = ?1", [&i.id], |r| {
                r.get(0)
            })
            .optional()
            .map_err(db_err)?;
        let mut v = serde_json::to_value(&i).unwrap_or_default();
        if let Some(o) = v.as_object_mut() {
            o.insert("tenant".into(), tenant.into());
            o.insert("scoped_at".into(), scoped.into());
            o.insert(
                "timeline".into(),
                timeline
                    .iter()
                    .map(|a| {
                        serde_json::json!({
                            "time": a.first, "alert": a.key, "title": a.title,
                            "severity": a.severity,
                            "stage": i.alert_stages.get(a.key.as_str()),
                        })
                    })
                    .collect::<Vec<_>>()
                    .into(),
            );
            o.insert(
                "alert_details".into(),
                timeline
                    .iter()
                    .map(|a| alert_json(a, statuses.get(a.key.as_str())))
                    .collect::<Vec<_>>()
                    .into(),
            );
        }
        Ok(v)
    }

    fn patients(&self, tenant: &str) -> Arc<PatientIndex> {
        let mut m = self.data.patients.lock().unwrap_or_else(|p| p.into_inner());
        m.entry(tenant.to_owned())
            .or_insert_with(|| {
                Arc::new(PatientIndex::new(
                    &self.data.context,
                    self.data.pseudo.clone(),
                    tenant,
                ))
            })
            .clone()
    }

    /// Scopes an incident now (until `until`, ns, if given) and keeps the result.
    pub fn run_scope(&self, id: &str, until: Option<i64>) -> Result<Exposure, ApiError> {
        let c = self.db()?;
        let row = self.incident_row(&c, id)?;
        self.scope_and_keep(&c, id, &row, until)
    }

    /// Scopes an incident already read, and keeps the result.
    fn scope_and_keep(
        &self,
        c: &Connection,
        id: &str,
        (i, alerts, tenant): &(Incident, Vec<Alert>, String),
        until: Option<i64>,
    ) -> Result<Exposure, ApiError> {
        let patients = self.patients(tenant);
        // A case's containment time closes the window, unless one is given.
        let until =
            until.or_else(|| crate::respond::cases::containment_of_incident(c, id).map(|t| t.0));
        let cfg = vakt_incident::scope::ScopeConfig {
            until,
            clocks: vec![vakt_incident::scope::gdpr_clock()],
            tenant: tenant.clone(),
        };
        let e = vakt_incident::scope::scope(i, alerts, &self.store(), &patients, &cfg).map_err(
            |e| {
                tracing::error!(target: "vakt::api", "scope: {e}");
                ApiError::internal("the scope could not be worked out")
            },
        )?;
        c.execute(
            "INSERT INTO scopes (incident, at, exposure) VALUES (?1, ?2, ?3)
             ON CONFLICT (incident) DO UPDATE SET at = ?2, exposure = ?3",
            params![
                id,
                crate::now().to_rfc3339(),
                serde_json::to_string(&e).unwrap_or_default()
            ],
        )
        .map_err(db_err)?;
        Ok(e)
    }

    /// The incident's kept scope, else one worked out now.
    fn kept_scope(
        &self,
        c: &Connection,
        id: &str,
        row: &(Incident, Vec<Alert>, String),
    ) -> Result<Exposure, ApiError> {
        let kept: Option<String> = c
            .query_row(
                "SELECT exposure FROM scopes WHERE incident = ?1",
                [id],
                |r| r.get(0),
            )
            .optional()
            .map_err(db_err)?;
        match kept.and_then(|t| serde_json::from_str(&t).ok()) {
            Some(e) => Ok(e),
            None => self.scope_and_keep(c, id, row, None),
        }
    }

    /// The incident's kept scope, if it has one (nothing is worked out).
    pub fn scope_kept(&self, id: &str) -> Result<Option<Exposure>, ApiError> {
        let c = self.db()?;
        self.incident_row(&c, id)?;
        let kept: Option<String> = c
            .query_row(
                "SELECT exposure FROM scopes WHERE incident = ?1",
                [id],
                |r| r.get(0),
            )
            .optional()
            .map_err(db_err)?;
        Ok(kept.and_then(|t| serde_json::from_str(&t).ok()))
    }

    /// The incident's last scope (run now if it has none).
    pub fn scope(&self, id: &str) -> Result<Exposure, ApiError> {
        let c = self.db()?;
        let row = self.incident_row(&c, id)?;
        self.kept_scope(&c, id, &row)
    }

    /// The incident's report, as JSON or a self-contained HTML page.
    pub fn report(&self, id: &str, html: bool) -> Result<String, ApiError> {
        let c = self.db()?;
        let row = self.incident_row(&c, id)?;
        let e = self.kept_scope(&c, id, &row)?;
        let (i, alerts, _) = &row;
        if html {
            Ok(vakt_incident::report::html(i, alerts, &e))
        } else {
            vakt_incident::report::json(i, alerts, &e)
                .map_err(|_| ApiError::internal("the report could not be written"))
        }
    }

    /// The tenant of a pseudonym's reveal: the one asked for, else the principal's own.
    fn reveal_tenant(&self, asked: Option<&str>) -> Result<String, ApiError> {
        match self.tenant(asked)? {
            Some(t) => Ok(t),
            None => Err(ApiError::bad_request(
                "say which tenant the pseudonym is of (`tenant`)",
            )),
        }
    }

    /// The identity number (else the patient record id) behind a
    /// pseudonym: the one path to a clear identifier. The caller audits it.
    pub fn reveal(
        &self,
        pseudonym: &str,
        tenant: Option<&str>,
        reason: &str,
    ) -> Result<serde_json::Value, ApiError> {
        if reason.trim().chars().count() < 8 {
            return Err(ApiError::bad_request(
                "a reveal needs a reason (a sentence: what it is for, which case)",
            ));
        }
        let tenant = self.reveal_tenant(tenant)?;
        // A tenant the service does not know has no pseudonyms (and gets no
        // patient index built for it).
        let known: bool = self
            .db()?
            .query_row(
                "SELECT EXISTS (SELECT 1 FROM tokens WHERE tenant = ?1)
                     OR EXISTS (SELECT 1 FROM alerts WHERE tenant = ?1)",
                [&tenant],
                |r| r.get(0),
            )
            .map_err(db_err)?;
        if !known {
            return Err(not_found("pseudonym"));
        }
        let index = self.patients(&tenant);
        let (mut nin, mut record) = (None, None);
        if let Some(i) = index.get(pseudonym) {
            let id = index.identifier(i);
            if self.data.context.nin_to_patient.contains_key(id) {
                nin = Some(id.to_owned());
            } else {
                record = Some(id.to_owned());
            }
        } else {
            // Issued while this service ran (an event naming a patient the
            // context does not know).
            let cap = RevealCapability {
                who: self.who.who.clone(),
                role: self.who.role.name().to_owned(),
            };
            if let Ok(clear) = self
                .data
                .pseudo
                .reveal(&cap, pseudonym, reason, crate::now())
                && self.data.pseudo.pseudonym(&tenant, &clear) == pseudonym
            {
                match self
                    .data
                    .context
                    .patients
                    .get(clear.as_str())
                    .and_then(|p| p.nin.clone())
                {
                    Some(n) => nin = Some(n.to_string()),
                    None => record = Some(clear),
                }
            }
        }
        if nin.is_none() && record.is_none() {
            return Err(not_found("pseudonym"));
        }
        Ok(serde_json::json!({
            "pseudonym": pseudonym, "tenant": tenant,
            "identity_number": nin, "record_id": record,
        }))
    }

    /// Alerts of the intel detector the principal sees (the sightings).
    pub fn intel_alerts(&self) -> Result<Vec<Alert>, ApiError> {
        let c = self.db()?;
        let mut q = c
            .prepare(
                "SELECT alert, tenant FROM alerts WHERE detector = 'intel' ORDER BY first, key",
            )
            .map_err(db_err)?;
        let rows = q
            .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
            .map_err(db_err)?;
        let mut out = Vec::new();
        for r in rows {
            let (text, tenant) = r.map_err(db_err)?;
            if self.sees(&tenant)
                && let Ok(a) = serde_json::from_str(&text)
            {
                out.push(a);
            }
        }
        Ok(out)
    }

    /// The indicators loaded (those given at start and the intel folder's).
    pub fn indicators(&self) -> vakt_intel::Loaded {
        vakt_intel::load(&self.data.intel_paths)
    }

    /// The retro-hunts, with the alerts of each the principal sees.
    pub fn hunts(&self) -> Vec<serde_json::Value> {
        let h = self.data.hunts.lock().unwrap_or_else(|p| p.into_inner());
        h.list().iter().map(|j| j.view(|t| self.sees(t))).collect()
    }

    /// One retro-hunt.
    pub fn hunt(&self, id: u64) -> Result<serde_json::Value, ApiError> {
        let h = self.data.hunts.lock().unwrap_or_else(|p| p.into_inner());
        h.get(id)
            .map(|j| j.view(|t| self.sees(t)))
            .ok_or_else(|| not_found("retro-hunt"))
    }

    /// Counts the principal sees: events accepted, alerts and incidents.
    pub fn counts(&self) -> Result<serde_json::Value, ApiError> {
        let c = self.db()?;
        let mut q = c
            .prepare("SELECT tenant, count(*) FROM alerts GROUP BY tenant")
            .map_err(db_err)?;
        let rows = q
            .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))
            .map_err(db_err)?;
        let mut alerts = serde_json::Map::new();
        for r in rows {
            let (t, n) = r.map_err(db_err)?;
            if self.sees(&t) {
                alerts.insert(t, n.into());
            }
        }
        let incidents = self.incidents_all(&c)?.len();
        Ok(serde_json::json!({"alerts_by_tenant": alerts, "incidents": incidents}))
    }
}

/// An alert as the API shows it: the alert, its status, the ids of its
/// evidence events.
pub fn alert_json(a: &Alert, status: Option<&Triage>) -> serde_json::Value {
    let mut v = serde_json::to_value(a).unwrap_or_default();
    if let Some(o) = v.as_object_mut() {
        o.insert("rule_id".into(), a.rule.id().into());
        o.insert(
            "status".into(),
            status
                .map_or_else(|| "new".into(), |s| s.status.clone())
                .into(),
        );
        if let Some(s) = status {
            o.insert("triage".into(), serde_json::to_value(s).unwrap_or_default());
        }
        o.insert(
            "evidence_ids".into(),
            a.origins
                .iter()
                .filter_map(|r| event_id(&a.tenant, r))
                .collect::<Vec<_>>()
                .into(),
        );
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use vakt_core::Origin;

    /// Events of two tenants over three days (several segments a day),
    /// read a page of 7 at a time.
    #[test]
    fn event_pages_walk_every_event_once_in_order_and_only_the_tenants_own() {
        let d = tempfile::tempdir().unwrap();
        let store_dir = d.path().join("store");
        let (store, _) = Store::open(&store_dir).unwrap();
        let pseudo = Arc::new(Pseudonymiser::new(b"a test key of enough bytes").unwrap());
        let day = 86_400_000_000_000i64;
        let t0 = 1_514_764_800_000_000_000i64; // 2018-01-01
        let mut want = Vec::new();
        for (seg, tenant) in [(0, "ous"), (1, "ahus"), (2, "ous")] {
            let mut w = store.writer(pseudo.clone());
            for n in 0..40i64 {
                // Three days, out of order within a segment.
                let t = t0 + (n * 7 % 3) * day + n * 1_000_000_000 + seg;
                let mut e = Event {
                    time: Timestamp(t),
                    tenant: Arc::from(tenant),
                    source: SourceKind::new(if n % 2 == 0 {
                        "zeek:conn"
                    } else {
                        "evtx:Security"
                    }),
                    fields: vec![],
                    common: vec![],
                    origin: Origin {
                        path: Arc::from(format!("seg{seg}").as_str()),
                        locator: Locator::Line(n as u64 + 1),
                    },
                };
                e.set_common(vakt_core::field::DEVICE_HOSTNAME, Value::str("ws-1"));
                w.append(&e).unwrap();
                if tenant == "ous" && n % 2 == 1 {
                    want.push((t, format!("seg{seg}"), n as u64 + 1));
                }
            }
            w.flush().unwrap();
        }
        want.sort();
        let data = Arc::new(Data::new(
            crate::sql::Database::Sqlite(d.path().join("vakt.db")),
            store_dir,
            Arc::default(),
            pseudo,
            Arc::default(),
            Vec::new(),
        ));
        let who = Principal {
            who: "kari".into(),
            role: Role::TrustAnalyst,
            tenant: Some("ous".into()),
        };
        let view = data.scoped(&who, Need::Read).unwrap();
        let mut got = Vec::new();
        let mut cursor = None;
        loop {
            let page = view
                .events(&EventSearch {
                    source: Some("evtx:*".into()),
                    filters: vec![("device.hostname".into(), "WS-1".into())],
                    limit: 7,
                    cursor: cursor.clone(),
                    ..EventSearch::default()
                })
                .unwrap();
            assert!(page.items.len() <= 7);
            for e in &page.items {
                assert_eq!(e["tenant"], "ous");
                assert_eq!(e["source"], "evtx:Security");
                got.push((
                    Timestamp::parse(e["time"].as_str().unwrap()).unwrap().0,
                    e["origin"]["path"].as_str().unwrap().to_owned(),
                    e["origin"]["line"].as_u64().unwrap(),
                ));
            }
            match page.next {
                Some(c) => cursor = Some(c),
                None => break,
            }
        }
        assert_eq!(got, want);
        // Another tenant asked for: refused.
        assert!(
            view.events(&EventSearch {
                tenant: Some("ahus".into()),
                limit: 5,
                ..EventSearch::default()
            })
            .is_err()
        );
    }
}
