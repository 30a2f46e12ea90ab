//! Triage exceptions: "this is benign here" — scoped by tenant,
//! detector or rule, and entity or a field condition; with an owner, a
//! reason and an expiry. An alert an exception covers is kept (nothing is
//! lost) but silenced: its status is `suppressed`, naming the exception;
//! it joins no incident and notifies no one. Applied live (the detect
//! thread reloads the exceptions when they change) and over the alerts
//! already stored when an exception is made; revoking one gives its
//! alerts back to triage.

use crate::sql::{Connection, params};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use vakt_core::{Alert, Timestamp};

/// An exception.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Exception {
    /// `EXC-0001`.
    pub id: String,
    /// The tenant it holds for.
    pub tenant: String,
    /// The detector (`sigma`, `beacon`, …).
    pub detector: Option<String>,
    /// The rule id.
    pub rule: Option<String>,
    /// An entity named by the alert (`host:ws-01`, or a bare name or address).
    pub entity: Option<String>,
    /// A field of the alert and the value it must have (`title`, `rule_id`,
    /// `actors`, `targets`, `severity`, or any top-level field).
    pub field: Option<String>,
    /// The value of `field`.
    pub value: Option<String>,
    /// Who answers for it.
    pub owner: String,
    /// Why it is benign.
    pub reason: String,
    /// Until when (RFC 3339).
    pub expires: String,
    /// Made.
    pub created: String,
    /// By.
    pub by: String,
    /// Revoked (when, by whom).
    pub revoked: Option<String>,
    /// Alerts it silenced over the stored history when it was made.
    pub applied: u64,
}

impl Exception {
    /// Does it hold at `now` (not expired, not revoked)?
    pub fn active(&self, now: Timestamp) -> bool {
        self.revoked.is_none() && crate::respond::ts(&self.expires).is_some_and(|e| now < e)
    }

    /// Does it cover the alert?
    pub fn covers(&self, a: &Alert) -> bool {
        if *a.tenant != *self.tenant {
            return false;
        }
        if self.detector.as_ref().is_some_and(|d| *d != a.detector) {
            return false;
        }
        if self.rule.as_ref().is_some_and(|r| *r != a.rule.id()) {
            return false;
        }
        if let Some(want) = &self.entity {
            let want = want.to_ascii_lowercase();
            let named = a.actors.iter().chain(a.targets.iter()).any(|e| {
                e.key().to_ascii_lowercase() == want || e.value().to_ascii_lowercase() == want
            });
            if !named {
                return false;
            }
        }
        if let (Some(f), Some(v)) = (&self.field, &self.value) {
            let j = serde_json::to_value(a).unwrap_or_default();
            let got = match f.as_str() {
                "rule_id" => serde_json::Value::String(a.rule.id().to_owned()),
                _ => j.get(f).cloned().unwrap_or_default(),
            };
            if !value_is(&got, v) {
                return false;
            }
        }
        true
    }
}

fn value_is(got: &serde_json::Value, want: &str) -> bool {
    match got {
        serde_json::Value::String(s) => s.eq_ignore_ascii_case(want),
        serde_json::Value::Number(n) => n.to_string() == want,
        serde_json::Value::Bool(b) => b.to_string() == want,
        serde_json::Value::Array(a) => a.iter().any(|x| value_is(x, want)),
        serde_json::Value::Object(o) => o.values().any(|x| value_is(x, want)),
        serde_json::Value::Null => false,
    }
}

/// What a new exception says.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewException {
    /// The tenant (default: the principal's).
    #[serde(default)]
    pub tenant: Option<String>,
    /// The detector.
    #[serde(default)]
    pub detector: Option<String>,
    /// The rule id.
    #[serde(default)]
    pub rule: Option<String>,
    /// An entity.
    #[serde(default)]
    pub entity: Option<String>,
    /// A field …
    #[serde(default)]
    pub field: Option<String>,
    /// … and its value.
    #[serde(default)]
    pub value: Option<String>,
    /// Who answers for it (default: who makes it).
    #[serde(default)]
    pub owner: Option<String>,
    /// Why.
    pub reason: String,
    /// Until when (RFC 3339; at most a year ahead).
    pub expires: String,
}

/// Makes an exception, and applies it over the stored alerts: returns it
/// (with how many alerts it silenced).
pub fn create(
    c: &mut Connection,
    tenant: &str,
    n: NewException,
    by: &str,
) -> Result<Exception, String> {
    let some = |o: &Option<String>| {
        o.as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    let (detector, rule, entity, field, value) = (
        some(&n.detector),
        some(&n.rule),
        some(&n.entity),
        some(&n.field),
        some(&n.value),
    );
    if detector.is_none() && rule.is_none() && entity.is_none() && field.is_none() {
        return Err("an exception names a detector, a rule, an entity or a field: it never silences a whole tenant".into());
    }
    if field.is_some() != value.is_some() {
        return Err("a field condition needs both field and value".into());
    }
    if n.reason.trim().chars().count() < 8 {
        return Err("an exception needs a reason (a sentence: why this is benign)".into());
    }
    let now = crate::now();
    let expires = crate::respond::ts(&n.expires).ok_or("expires is an RFC 3339 time")?;
    if expires <= now {
        return Err("expires is in the past".into());
    }
    if expires.0 - now.0 > 366 * 86_400_000_000_000 {
        return Err("an exception lasts at most a year: renew it when it runs out".into());
    }
    let tx = c
        .transaction_with_behavior(crate::sql::TransactionBehavior::Immediate)
        .map_err(|e| e.to_string())?;
    let seq: i64 = tx
        .query_row(
            "SELECT coalesce(max(seq), 0) + 1 FROM exceptions",
            [],
            |r| r.get(0),
        )
        .map_err(|e| e.to_string())?;
    let mut x = Exception {
        id: format!("EXC-{seq:04}"),
        tenant: tenant.to_owned(),
        detector,
        rule,
        entity,
        field,
        value,
        owner: some(&n.owner).unwrap_or_else(|| by.to_owned()),
        reason: n.reason.trim().chars().take(2000).collect(),
        expires: expires.to_rfc3339(),
        created: now.to_rfc3339(),
        by: by.to_owned(),
        revoked: None,
        applied: 0,
    };
    x.applied = apply_stored(&tx, &x).map_err(|e| e.to_string())?;
    tx.execute(
        "INSERT INTO exceptions (seq, id, tenant, doc) VALUES (?1, ?2, ?3, ?4)",
        params![
            seq,
            x.id,
            x.tenant,
            serde_json::to_string(&x).unwrap_or_default()
        ],
    )
    .map_err(|e| e.to_string())?;
    tx.commit().map_err(|e| e.to_string())?;
    Ok(x)
}

/// The note a suppressed alert carries.
fn note_of(x: &Exception) -> String {
    format!("exception {}: {}", x.id, x.reason)
}

/// The alerts of a tenant that join its incidents: every stored alert but
/// the suppressed, once the exceptions in force are applied to those no
/// one has judged (marked suppressed, as the live path marks them). A
/// cluster's incidents step calls it: its workers raise alerts without
/// the exceptions, which live in the shared database.
pub fn unsilenced_of(c: &Connection, tenant: &str) -> crate::sql::Result<Vec<Alert>> {
    let now = crate::now();
    let ex: Vec<Exception> = list(c, |t| t == tenant)?
        .into_iter()
        .filter(|x| x.active(now))
        .collect();
    let mut q = c.prepare(
        "SELECT a.alert, s.status FROM alerts a LEFT JOIN alert_status s ON s.key = a.key
         WHERE a.tenant = ?1 ORDER BY a.first, a.key",
    )?;
    let rows: Vec<(String, Option<String>)> = q
        .query_map([tenant], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<crate::sql::Result<_>>()?;
    let mut out = Vec::with_capacity(rows.len());
    for (doc, status) in rows {
        let Ok(a) = serde_json::from_str::<Alert>(&doc) else {
            continue;
        };
        match status.as_deref() {
            Some("suppressed") => continue,
            None | Some("new") | Some("acknowledged") => {
                if let Some(x) = ex.iter().find(|x| x.covers(&a)) {
                    suppress(c, &a.key.to_string(), x)?;
                    continue;
                }
            }
            Some(_) => {}
        }
        out.push(a);
    }
    Ok(out)
}

/// Silences the stored alerts an exception covers (those an analyst has
/// not given a verdict): returns how many.
fn apply_stored(c: &Connection, x: &Exception) -> crate::sql::Result<u64> {
    let mut q = c.prepare(
        "SELECT a.key, a.alert FROM alerts a LEFT JOIN alert_status s ON s.key = a.key
         WHERE a.tenant = ?1 AND (s.status IS NULL OR s.status IN ('new', 'acknowledged'))",
    )?;
    let rows: Vec<(String, String)> = q
        .query_map([&x.tenant], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<crate::sql::Result<_>>()?;
    let mut n = 0;
    for (key, text) in rows {
        let Ok(a) = serde_json::from_str::<Alert>(&text) else {
            continue;
        };
        if x.covers(&a) {
            suppress(c, &key, x)?;
            n += 1;
        }
    }
    Ok(n)
}

/// Marks one alert suppressed by an exception.
pub fn suppress(c: &Connection, key: &str, x: &Exception) -> crate::sql::Result<()> {
    c.execute(
        "INSERT INTO alert_status (key, status, note, by, at) VALUES (?1, 'suppressed', ?2, ?3, ?4)
         ON CONFLICT (key) DO UPDATE SET status = 'suppressed', note = ?2, by = ?3, at = ?4",
        params![
            key,
            note_of(x),
            format!("exception:{}", x.id),
            crate::now().to_rfc3339()
        ],
    )?;
    Ok(())
}

/// Every exception (active or not) of the tenants seen, newest first.
pub fn list(c: &Connection, sees: impl Fn(&str) -> bool) -> crate::sql::Result<Vec<Exception>> {
    let mut q = c.prepare("SELECT tenant, doc FROM exceptions ORDER BY seq DESC")?;
    let rows: Vec<(String, String)> = q
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<crate::sql::Result<_>>()?;
    Ok(rows
        .into_iter()
        .filter(|(t, _)| sees(t))
        .filter_map(|(_, d)| serde_json::from_str(&d).ok())
        .collect())
}

/// The exceptions in force now.
pub fn active(c: &Connection) -> crate::sql::Result<Vec<Exception>> {
    let now = crate::now();
    Ok(list(c, |_| true)?
        .into_iter()
        .filter(|x| x.active(now))
        .collect())
}

/// Revokes an exception: its alerts go back to triage (`new`).
pub fn revoke(
    c: &mut Connection,
    id: &str,
    by: &str,
    sees: impl Fn(&str) -> bool,
) -> Result<Option<(Exception, usize)>, String> {
    let tx = c
        .transaction_with_behavior(crate::sql::TransactionBehavior::Immediate)
        .map_err(|e| e.to_string())?;
    let doc: Option<(String, String)> = crate::sql::OptionalExtension::optional(tx.query_row(
        "SELECT tenant, doc FROM exceptions WHERE id = ?1",
        [id],
        |r| Ok((r.get(0)?, r.get(1)?)),
    ))
    .map_err(|e| e.to_string())?;
    let Some((tenant, doc)) = doc.filter(|(t, _)| sees(t)) else {
        return Ok(None);
    };
    let mut x: Exception = serde_json::from_str(&doc).map_err(|e| e.to_string())?;
    if x.revoked.is_some() {
        return Err(format!("{id} is revoked already"));
    }
    x.revoked = Some(format!("{} by {by}", crate::now().to_rfc3339()));
    let back = tx
        .execute(
            "DELETE FROM alert_status WHERE status = 'suppressed' AND by = ?1",
            [format!("exception:{id}")],
        )
        .map_err(|e| e.to_string())?;
    tx.execute(
        "UPDATE exceptions SET revoked = 1, doc = ?2 WHERE id = ?1",
        params![id, serde_json::to_string(&x).unwrap_or_default()],
    )
    .map_err(|e| e.to_string())?;
    tx.commit().map_err(|e| e.to_string())?;
    let _ = tenant;
    Ok(Some((x, back)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use vakt_core::{AlertKey, Entity, Severity};

    fn alert(tenant: &str, host: &str, n: u8) -> Alert {
        Alert {
            key: AlertKey::of(&[tenant, host, &n.to_string()]),
            tenant: Arc::from(tenant),
            detector: "beacon".into(),
            title: format!("beacon from {host}"),
            severity: Severity::Medium,
            actors: vec![Entity::Host(host.into())],
            first: Timestamp(1_000_000_000 * i64::from(n)),
            last: Timestamp(1_000_000_000 * i64::from(n)),
            ..Alert::default()
        }
    }

    #[test]
    fn an_exception_silences_its_alerts_in_history_only_in_its_tenant_and_revoking_gives_them_back()
    {
        let d = tempfile::tempdir().unwrap();
        let mut c = crate::db::open(&d.path().join("v.db")).unwrap();
        let alerts = vec![
            alert("ous", "backup-01", 1),
            alert("ous", "ws-17", 2),
            alert("ahus", "backup-01", 3),
        ];
        crate::db::upsert_alerts(&mut c, &alerts, 1).unwrap();
        let expires = Timestamp(crate::now().0 + 86_400_000_000_000).to_rfc3339();
        let blanket = NewException {
            reason: "the backup server polls its vendor".into(),
            expires: expires.clone(),
            ..NewException::default()
        };
        assert!(create(&mut c, "ous", blanket, "kari").is_err());
        let x = create(
            &mut c,
            "ous",
            NewException {
                detector: Some("beacon".into()),
                entity: Some("host:backup-01".into()),
                reason: "the backup server polls its vendor".into(),
                expires,
                ..NewException::default()
            },
            "kari",
        )
        .unwrap();
        assert_eq!(x.applied, 1);
        fn status(c: &Connection, k: &AlertKey) -> Option<String> {
            c.query_row(
                "SELECT status FROM alert_status WHERE key = ?1",
                [k.to_string()],
                |r| r.get(0),
            )
            .ok()
        }
        assert_eq!(status(&c, &alerts[0].key).as_deref(), Some("suppressed"));
        assert_eq!(status(&c, &alerts[1].key), None);
        assert_eq!(status(&c, &alerts[2].key), None, "another tenant's alert");
        // Live: a new alert of the same kind is covered.
        assert!(active(&c).unwrap()[0].covers(&alert("ous", "BACKUP-01", 9)));
        // A field condition: the alert's title.
        let by_title = Exception {
            entity: None,
            field: Some("title".into()),
            value: Some("BEACON FROM ws-17".into()),
            ..x.clone()
        };
        assert!(by_title.covers(&alerts[1]) && !by_title.covers(&alerts[0]));
        let by_rule_id = Exception {
            entity: None,
            field: Some("rule_id".into()),
            value: Some(alerts[1].rule.id()),
            ..x.clone()
        };
        assert!(by_rule_id.covers(&alerts[1]));
        let (_, back) = revoke(&mut c, &x.id, "kari", |_| true).unwrap().unwrap();
        assert_eq!(back, 1);
        assert_eq!(status(&c, &alerts[0].key), None);
        assert!(active(&c).unwrap().is_empty());
    }
}
