//! Cases, exceptions and deliveries through the scoped view: a case is
//! its tenant's; linking, merging and exporting check the principal sees
//! every object named.

use std::collections::BTreeMap;

use vakt_core::{Alert, Entity, Rule, Severity, Timestamp};
use vakt_incident::Exposure;

use super::{Scoped, not_found};
use crate::api::{ApiError, db_err};
use crate::respond::cases::{self, Case, CaseError, NewCase};
use crate::respond::exceptions::{self, Exception, NewException};
use crate::respond::notify::{self, Delivery};
use crate::respond::templates::Template;

/// A case error as an API answer.
pub fn case_err(e: CaseError) -> ApiError {
    match e {
        CaseError::Bad(m) => ApiError::bad_request(m),
        CaseError::Conflict(m) => ApiError::new_status(axum::http::StatusCode::CONFLICT, m),
        CaseError::Missing => not_found("case (or item of it)"),
        CaseError::Db(m) => db_err(m),
    }
}

/// What opening a case says.
#[derive(Debug, Clone, Default, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OpenCase {
    /// The incident it is about (its tenant, alerts, entities and
    /// indicators are taken over).
    #[serde(default)]
    pub incident: Option<String>,
    /// A template to apply (`health-data-breach`).
    #[serde(default)]
    pub template: Option<String>,
    /// Title (default: the incident's).
    #[serde(default)]
    pub title: Option<String>,
    /// Description.
    #[serde(default)]
    pub description: Option<String>,
    /// The tenant (by hand; from an incident: the incident's).
    #[serde(default)]
    pub tenant: Option<String>,
    /// When the CERT became aware (RFC 3339; default now): the clocks run from it.
    #[serde(default)]
    pub awareness: Option<String>,
    /// Severity (default: the incident's, else medium).
    #[serde(default)]
    pub severity: Option<String>,
    /// TLP (default amber).
    #[serde(default)]
    pub tlp: Option<String>,
    /// PAP (default amber).
    #[serde(default)]
    pub pap: Option<String>,
    /// Who leads it.
    #[serde(default)]
    pub assignee: Option<String>,
    /// Tags.
    #[serde(default)]
    pub tags: Vec<String>,
    /// Custom fields.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub fields: BTreeMap<String, serde_json::Value>,
}

/// Entities and indicators of alerts, as observables.
fn observables_of(alerts: &[Alert]) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    let mut add = |k: &str, v: String| {
        if !out.iter().any(|(a, b)| a == k && *b == v) {
            out.push((k.to_owned(), v));
        }
    };
    for a in alerts {
        for e in a.actors.iter().chain(a.targets.iter()) {
            match e {
                Entity::Host(h) => add("host", h.to_ascii_lowercase()),
                Entity::Account(u) => add("account", u.clone()),
                Entity::Ip(ip) if !vakt_core::net::internal(*ip) => add("ip", ip.to_string()),
                Entity::Domain(d) => add("domain", d.to_ascii_lowercase()),
                _ => {}
            }
        }
        if let Rule::Indicator(r) = &*a.rule
            && matches!(
                r.kind.as_str(),
                "ip" | "domain" | "url" | "md5" | "sha1" | "sha256"
            )
        {
            add(&r.kind, r.value.clone());
        }
    }
    out.into_iter()
        .filter(|(k, v)| cases::normalise(k, v).is_ok())
        .take(500)
        .collect()
}

impl Scoped {
    fn sees_fn(&self) -> impl Fn(&str) -> bool + '_ {
        move |t: &str| self.sees(t)
    }

    /// Cases, newest first.
    pub fn cases(
        &self,
        tenant: Option<&str>,
        status: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Case>, ApiError> {
        let tenant = self.tenant(tenant)?;
        let c = self.db()?;
        let now = crate::now();
        cases::list(
            &c,
            self.sees_fn(),
            tenant.as_deref(),
            status,
            limit.clamp(1, 1000),
        )
        .map(|v| v.into_iter().map(|k| k.with_states(now)).collect())
        .map_err(case_err)
    }

    /// One case, its clocks' states as of now.
    pub fn case(&self, id: &str) -> Result<Case, ApiError> {
        let c = self.db()?;
        match cases::get(&c, id) {
            Ok(k) if self.sees(&k.tenant) => Ok(k.with_states(crate::now())),
            Ok(_) => Err(case_err(CaseError::Missing)),
            Err(e) => Err(case_err(e)),
        }
    }

    /// Opens a case, from an incident or by hand.
    pub fn case_open(&self, o: OpenCase, template: Option<Template>) -> Result<Case, ApiError> {
        let mut c = self.db()?;
        let awareness = match o.awareness.as_deref() {
            Some(a) => cases::parse_time(a).map_err(case_err)?,
            None => crate::now(),
        };
        if awareness > Timestamp(crate::now().0 + 300_000_000_000) {
            return Err(ApiError::bad_request("awareness is in the future"));
        }
        let mut n = NewCase {
            awareness,
            tlp: cases::tlp(o.tlp.as_deref().unwrap_or("amber")).map_err(case_err)?,
            pap: cases::pap(o.pap.as_deref().unwrap_or("amber")).map_err(case_err)?,
            assignee: o.assignee.filter(|a| !a.trim().is_empty()),
            tags: o
                .tags
                .into_iter()
                .filter(|t| !t.trim().is_empty())
                .take(50)
                .collect(),
            fields: o.fields,
            description: o.description.unwrap_or_default(),
            severity: Severity::Medium,
            ..NewCase::default()
        };
        if n.fields.len() > 100 {
            return Err(ApiError::bad_request("at most 100 custom fields"));
        }
        match &o.incident {
            Some(id) => {
                let (i, alerts, tenant) = self.incident_row(&c, id)?;
                if o.tenant.as_deref().is_some_and(|t| *t != tenant) {
                    return Err(ApiError::bad_request("the incident is another tenant's"));
                }
                n.tenant = tenant;
                n.title = o.title.unwrap_or_else(|| i.title.clone());
                n.severity = i.severity;
                n.incidents = vec![i.id.clone()];
                n.alerts = i.alerts.clone();
                n.observables = observables_of(&alerts);
            }
            None => {
                n.tenant = match self.tenant(o.tenant.as_deref())? {
                    Some(t) => t,
                    None => {
                        return Err(ApiError::bad_request(
                            "say which tenant the case is about (`tenant`)",
                        ));
                    }
                };
                n.title = o.title.unwrap_or_default();
            }
        }
        if let Some(s) = o.severity.as_deref() {
            n.severity = cases::severity(s).map_err(case_err)?;
        }
        cases::create(&mut c, n, template.as_ref(), &self.who.who).map_err(case_err)
    }

    /// Changes a case (`f` says what it did).
    pub fn case_change(
        &self,
        id: &str,
        f: impl FnOnce(&mut Case) -> Result<String, CaseError>,
    ) -> Result<(Case, String), ApiError> {
        let mut c = self.db()?;
        let who = self.who.who.clone();
        cases::change(&mut c, id, &who, self.sees_fn(), f)
            .map(|(k, w)| (k.with_states(crate::now()), w))
            .map_err(case_err)
    }

    /// Links alerts and incidents (of the case's tenant, visible) to a case.
    pub fn case_link(
        &self,
        id: &str,
        alerts: Vec<String>,
        incidents: Vec<String>,
    ) -> Result<(Case, String), ApiError> {
        let c = self.db()?;
        let case = self.case(id)?;
        for k in &alerts {
            let a = self.alert_row(&c, k)?;
            if *a.tenant != *case.tenant {
                return Err(ApiError::bad_request(format!(
                    "alert {k} is another tenant's"
                )));
            }
        }
        for i in &incidents {
            let (_, _, t) = self.incident_row(&c, i)?;
            if t != case.tenant {
                return Err(ApiError::bad_request(format!("{i} is another tenant's")));
            }
        }
        drop(c);
        self.case_change(id, |k| {
            let mut added = Vec::new();
            for a in alerts {
                if !k.alerts.contains(&a) {
                    added.push(format!("alert {a}"));
                    k.alerts.push(a);
                }
            }
            for i in incidents {
                if !k.incidents.contains(&i) {
                    added.push(i.clone());
                    k.incidents.push(i);
                }
            }
            if added.is_empty() {
                return Err(CaseError::Conflict("linked already".into()));
            }
            Ok(format!("linked {}", added.join(", ")))
        })
    }

    /// Merges cases into one.
    pub fn case_merge(&self, into: &str, from: &[String]) -> Result<(Case, String), ApiError> {
        let mut c = self.db()?;
        cases::merge(&mut c, into, from, &self.who.who, self.sees_fn())
            .map(|(k, w)| (k.with_states(crate::now()), w))
            .map_err(case_err)
    }

    /// Splits a case.
    pub fn case_split(&self, id: &str, s: cases::Split) -> Result<(Case, Case, String), ApiError> {
        let mut c = self.db()?;
        cases::split(&mut c, id, s, &self.who.who, self.sees_fn()).map_err(case_err)
    }

    /// Scopes every incident of a case up to its containment (when it has one).
    /// Each scope comes with whether it changed from the one kept.
    pub fn case_scope(&self, id: &str) -> Result<Vec<(Exposure, bool)>, ApiError> {
        let case = self.case(id)?;
        let until = case
            .contained_at
            .as_deref()
            .and_then(crate::respond::ts)
            .map(|t| t.0);
        let mut out = Vec::new();
        for i in &case.incidents {
            let before = self.scope_kept(i)?;
            let e = self.run_scope(i, until)?;
            let changed = crate::respond::notify::Notice::scope_changed(before.as_ref(), &e);
            out.push((e, changed));
        }
        Ok(out)
    }

    /// The incident and tenant of an incident id (for notices).
    pub fn incident_and_tenant(
        &self,
        id: &str,
    ) -> Result<(vakt_incident::Incident, String), ApiError> {
        let c = self.db()?;
        let (i, _, t) = self.incident_row(&c, id)?;
        Ok((i, t))
    }

    /// Exceptions of the tenants seen.
    pub fn exceptions(&self) -> Result<Vec<Exception>, ApiError> {
        let c = self.db()?;
        exceptions::list(&c, self.sees_fn()).map_err(db_err)
    }

    /// Makes an exception (for the principal's tenant, or the one named).
    pub fn exception_add(&self, n: NewException) -> Result<Exception, ApiError> {
        let tenant = match self.tenant(n.tenant.as_deref())? {
            Some(t) => t,
            None => {
                return Err(ApiError::bad_request(
                    "say which tenant the exception holds for (`tenant`)",
                ));
            }
        };
        let mut c = self.db()?;
        exceptions::create(&mut c, &tenant, n, &self.who.who).map_err(ApiError::bad_request)
    }

    /// Revokes an exception.
    pub fn exception_revoke(&self, id: &str) -> Result<(Exception, usize), ApiError> {
        let mut c = self.db()?;
        match exceptions::revoke(&mut c, id, &self.who.who, self.sees_fn()) {
            Ok(Some(x)) => Ok(x),
            Ok(None) => Err(not_found("exception")),
            Err(e) => Err(ApiError::new_status(axum::http::StatusCode::CONFLICT, e)),
        }
    }

    /// Deliveries of the tenants seen (CERT-wide ones to CERT-wide principals).
    pub fn deliveries(
        &self,
        status: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Delivery>, ApiError> {
        let c = self.db()?;
        let all = self.who.tenant.is_none();
        notify::deliveries(
            &c,
            |t| if t.is_empty() { all } else { self.sees(t) },
            status,
            limit.clamp(1, 1000),
        )
        .map_err(db_err)
    }

    /// Puts a failed (or pending) delivery back to be sent now.
    pub fn delivery_retry(&self, id: i64) -> Result<Delivery, ApiError> {
        let c = self.db()?;
        let all = self.who.tenant.is_none();
        let d = notify::delivery(&c, id)
            .map_err(db_err)?
            .filter(|d| {
                if d.tenant.is_empty() {
                    all
                } else {
                    self.sees(&d.tenant)
                }
            })
            .ok_or_else(|| not_found("delivery"))?;
        if d.status == "delivered" {
            return Err(ApiError::new_status(
                axum::http::StatusCode::CONFLICT,
                "it was delivered",
            ));
        }
        c.execute(
            "UPDATE deliveries SET status = 'pending', next_at = 0, attempts = 0 WHERE id = ?1",
            [id],
        )
        .map_err(db_err)?;
        Ok(Delivery {
            status: "pending".into(),
            attempts: 0,
            next_at: Some(0),
            ..d
        })
    }

    /// A connection for the principal's notices (queueing only).
    pub fn notice_db(&self) -> Result<crate::sql::Connection, ApiError> {
        self.db()
    }

    /// The templates.
    pub fn templates(&self, dir: &std::path::Path) -> Result<Vec<Template>, ApiError> {
        let c = self.db()?;
        Ok(crate::respond::templates::all(dir, &c))
    }

    /// Adds (or replaces) an operator's template.
    pub fn template_add(&self, t: &Template) -> Result<(), ApiError> {
        t.check().map_err(ApiError::bad_request)?;
        if t.name == crate::respond::templates::health_data_breach().name {
            return Err(ApiError::new_status(
                axum::http::StatusCode::CONFLICT,
                "a shipped template cannot be replaced: give yours another name",
            ));
        }
        let c = self.db()?;
        c.execute(
            "INSERT INTO templates (name, doc, by, at) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (name) DO UPDATE SET doc = ?2, by = ?3, at = ?4",
            crate::sql::params![
                t.name,
                serde_json::to_string(t).unwrap_or_default(),
                self.who.who,
                crate::now().to_rfc3339()
            ],
        )
        .map_err(db_err)?;
        Ok(())
    }

    /// The stored alerts a new exception silenced are counted in it; this
    /// is the sightings' source for TAXII: intel alerts the principal sees.
    pub fn shared_observables(&self) -> Result<Vec<(Case, Vec<cases::Observable>)>, ApiError> {
        let c = self.db()?;
        let list = cases::list(&c, self.sees_fn(), None, None, 100_000).map_err(case_err)?;
        Ok(list
            .into_iter()
            .filter(|k| k.merged_into.is_none())
            .map(|k| {
                let obs = k
                    .observables
                    .iter()
                    .filter(|o| o.ioc && o.tlp != "red" && k.tlp != "red")
                    .cloned()
                    .collect();
                (k, obs)
            })
            .collect())
    }
}
