//! What the web UI's screens need beyond single objects, through the
//! scoped view: a hunt over the stored history (a Sigma rule, an
//! indicator, or field filters) with a histogram of every match, and the
//! alerts per detector over time.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Instant;

use vakt_core::{Event, FieldId, Value};
use vakt_store::EventQuery;

use super::{Scoped, event_json, event_matches};
use crate::api::{ApiError, db_err};

/// What a hunt looks for.
#[derive(Debug, Clone)]
pub enum Look {
    /// A Sigma rule (YAML; one document or several).
    Sigma(String),
    /// An indicator value (address, domain, URL, hash, account …): any
    /// field equal to it; a domain also matches its subdomains.
    Indicator(String),
    /// `field=value` pairs, all of which must hold.
    Filters(Vec<(String, String)>),
}

/// A hunt over the stored history.
#[derive(Debug, Clone)]
pub struct Hunt {
    /// Only this tenant's.
    pub tenant: Option<String>,
    /// From (ns, inclusive).
    pub from: Option<i64>,
    /// Before (ns).
    pub to: Option<i64>,
    /// Source kind (`zeek:conn`) or family (`evtx:*`).
    pub source: Option<String>,
    /// What to look for.
    pub look: Look,
    /// The most events returned (every match is counted).
    pub limit: usize,
}

/// A privacy report's question.
#[derive(Debug, Clone, Default)]
pub struct EhrQuery {
    /// Who read this patient (pseudonym) …
    pub patient: Option<String>,
    /// … or what this employee (user name) read.
    pub account: Option<String>,
    /// Only this tenant's.
    pub tenant: Option<String>,
    /// From (ns).
    pub from: Option<i64>,
    /// Before (ns).
    pub to: Option<i64>,
    /// The most accesses listed (all are counted).
    pub limit: usize,
}

/// What a scan kept.
#[derive(Default)]
struct Found {
    scanned: u64,
    matched: u64,
    times: BTreeMap<i64, u64>,
    kept: Vec<(i64, serde_json::Value)>,
}

/// How many buckets a histogram aims at.
const BUCKETS: i64 = 60;

/// A bucket width (ns) of a round size giving at most about [`BUCKETS`]
/// buckets over `span` ns.
pub fn bucket_width(span: i64) -> i64 {
    const STEPS: [i64; 12] = [
        60,
        300,
        900,
        1800,
        3600,
        3 * 3600,
        6 * 3600,
        12 * 3600,
        86400,
        2 * 86400,
        7 * 86400,
        30 * 86400,
    ];
    let want = span.max(1) / BUCKETS;
    STEPS
        .iter()
        .map(|s| s * 1_000_000_000)
        .find(|s| *s >= want)
        .unwrap_or(30 * 86400 * 1_000_000_000)
}

fn histogram(times: &BTreeMap<i64, u64>) -> serde_json::Value {
    let (Some(first), Some(last)) = (times.keys().next(), times.keys().next_back()) else {
        return serde_json::json!({"bucket_seconds": 0, "buckets": []});
    };
    let w = bucket_width(last - first);
    let mut b: BTreeMap<i64, u64> = BTreeMap::new();
    for (t, n) in times {
        *b.entry(t.div_euclid(w) * w).or_default() += n;
    }
    let start = first.div_euclid(w) * w;
    let end = last.div_euclid(w) * w;
    let mut out = Vec::new();
    let mut t = start;
    while t <= end {
        out.push(
            serde_json::json!({"t": vakt_core::Timestamp(t), "n": b.get(&t).copied().unwrap_or(0)}),
        );
        t += w;
    }
    serde_json::json!({"bucket_seconds": w / 1_000_000_000, "buckets": out})
}

fn text_is(v: &Value, want: &str, domain: bool) -> bool {
    match v {
        Value::Str(s) => {
            s.eq_ignore_ascii_case(want)
                || (domain
                    && s.len() > want.len()
                    && s.as_bytes()[s.len() - want.len() - 1] == b'.'
                    && s[s.len() - want.len()..].eq_ignore_ascii_case(want))
        }
        Value::Ip(ip) => want.parse::<std::net::IpAddr>().is_ok_and(|w| w == *ip),
        Value::List(l) => l.iter().any(|x| text_is(x, want, domain)),
        _ => false,
    }
}

/// What a scan thread keeps of the events: whether to take each, and what
/// it counted on the way (merged across threads after).
trait Pick: Send {
    fn pick(&mut self, e: &Event) -> bool;
    fn merge(&mut self, other: Self);
}

struct HuntPick<'a> {
    rules: Option<&'a vakt_sigma::RuleSet>,
    indicator: Option<(&'a str, bool)>,
    filters: &'a [(Option<FieldId>, String)],
    scratch: vakt_sigma::Scratch,
    hits: Vec<u32>,
    by_rule: BTreeMap<u32, u64>,
}

impl Pick for HuntPick<'_> {
    fn pick(&mut self, e: &Event) -> bool {
        if let Some(set) = self.rules {
            self.hits.clear();
            set.matches(e, &mut self.scratch, &mut self.hits);
            for r in &self.hits {
                *self.by_rule.entry(*r).or_default() += 1;
            }
            !self.hits.is_empty()
        } else if let Some((v, domain)) = self.indicator {
            e.common
                .iter()
                .chain(e.fields.iter())
                .any(|(_, x)| text_is(x, v, domain))
        } else {
            event_matches(e, self.filters)
        }
    }

    fn merge(&mut self, other: Self) {
        for (r, n) in other.by_rule {
            *self.by_rule.entry(r).or_default() += n;
        }
    }
}

struct EhrPick<'a, U: Fn(&str) -> Option<String> + Sync> {
    q: &'a EhrQuery,
    uids: &'a [String],
    fields: (Option<FieldId>, Option<FieldId>, Option<FieldId>),
    user_of: &'a U,
    patients: BTreeSet<String>,
    accounts: BTreeSet<String>,
}

fn text_of(e: &Event, f: Option<FieldId>) -> Option<String> {
    let f = f?;
    e.common
        .iter()
        .find(|(k, _)| *k == f)
        .and_then(|(_, v)| v.as_str().map(str::to_owned))
}

impl<U: Fn(&str) -> Option<String> + Sync> Pick for EhrPick<'_, U> {
    fn pick(&mut self, e: &Event) -> bool {
        let (patient_f, uid_f, name_f) = self.fields;
        let yes = if let Some(p) = &self.q.patient {
            text_of(e, patient_f).is_some_and(|x| x == *p)
        } else {
            let a = self.q.account.as_deref().unwrap_or_default();
            text_of(e, uid_f).is_some_and(|u| self.uids.contains(&u) || u.eq_ignore_ascii_case(a))
                || text_of(e, name_f).is_some_and(|n| n.eq_ignore_ascii_case(a))
        };
        if yes {
            if let Some(p) = text_of(e, patient_f) {
                self.patients.insert(p);
            }
            let who = text_of(e, uid_f)
                .and_then(|u| (self.user_of)(&u))
                .or_else(|| text_of(e, name_f))
                .unwrap_or_default();
            self.accounts.insert(who);
        }
        yes
    }

    fn merge(&mut self, other: Self) {
        self.patients.extend(other.patients);
        self.accounts.extend(other.accounts);
    }
}

impl Scoped {
    /// Runs a hunt: the first `limit` matching events (oldest first), a
    /// histogram of every match, and how many events were read.
    pub fn hunt_history(&self, h: &Hunt) -> Result<serde_json::Value, ApiError> {
        let started = Instant::now();
        let tenant = self.tenant(h.tenant.as_deref())?;
        let limit = h.limit.clamp(1, 1000);
        // Compile what to look for once.
        let mut rules = None;
        let mut filters = Vec::new();
        let mut indicator = None;
        match &h.look {
            Look::Sigma(text) => {
                let parsed = vakt_sigma::rule::parse_rules(text, &Arc::from("hunt"));
                let (set, report) = vakt_sigma::RuleSet::build(
                    parsed,
                    &vakt_sigma::Mapping::default_mapping(),
                    &vakt_sigma::Placeholders::default(),
                );
                if let Some(e) = report.unsupported.first() {
                    return Err(ApiError::bad_request(format!(
                        "the rule cannot be used: {}",
                        e.reason
                    )));
                }
                if set.rules.is_empty() {
                    return Err(ApiError::bad_request(
                        "no detection rule in the text (correlations and filters need their rules)",
                    ));
                }
                if report.unmapped.len() == set.rules.len() {
                    return Err(ApiError::bad_request(
                        "the rule's logsource maps to no events vakt reads",
                    ));
                }
                rules = Some(set);
            }
            Look::Indicator(v) => {
                let v = v.trim();
                if v.is_empty() || v.len() > 2048 {
                    return Err(ApiError::bad_request(
                        "an indicator is 1 to 2,048 characters",
                    ));
                }
                let domain = v.contains('.')
                    && v.parse::<std::net::IpAddr>().is_err()
                    && !v.contains('/')
                    && !v.contains('@');
                indicator = Some((v.to_owned(), domain));
            }
            Look::Filters(f) => {
                for (k, v) in f {
                    let id = FieldId::lookup(k).ok_or_else(|| {
                        ApiError::bad_request(format!("no field is called `{k}`"))
                    })?;
                    filters.push((Some(id), v.clone()));
                }
            }
        }
        let (found, pick) = self.scan(tenant, h.from, h.to, h.source.as_deref(), limit, || {
            HuntPick {
                rules: rules.as_ref(),
                indicator: indicator.as_ref().map(|(v, d)| (v.as_str(), *d)),
                filters: &filters,
                scratch: vakt_sigma::Scratch::default(),
                hits: Vec::new(),
                by_rule: BTreeMap::new(),
            }
        })?;
        let by_rule = pick.by_rule;
        let rules_hit: Vec<serde_json::Value> = rules
            .as_ref()
            .map(|set| {
                by_rule
                    .iter()
                    .map(|(r, n)| {
                        let m = &set.rules[*r as usize];
                        serde_json::json!({"title": m.title, "id": m.id, "level": m.level, "events": n})
                    })
                    .collect()
            })
            .unwrap_or_default();
        Ok(serde_json::json!({
            "matched": found.matched,
            "scanned": found.scanned,
            "seconds": started.elapsed().as_secs_f64(),
            "truncated": found.matched as usize > found.kept.len(),
            "rules": rules_hit,
            "histogram": histogram(&found.times),
            "items": found.kept.into_iter().map(|(_, v)| v).collect::<Vec<_>>(),
        }))
    }

    /// Reads the stored events of a window (the principal's tenants only)
    /// and keeps those `pick` takes: how many, a histogram of them, and the
    /// first `limit` (oldest first).
    fn scan<P: Pick>(
        &self,
        tenant: Option<String>,
        from: Option<i64>,
        to: Option<i64>,
        source: Option<&str>,
        limit: usize,
        make: impl Fn() -> P + Sync,
    ) -> Result<(Found, P), ApiError> {
        let query = EventQuery { tenant, from, to };
        let segments = self.segments(&query, source.filter(|s| !s.is_empty()));
        // The segments are independent: spread them over the cores, each
        // thread with its own matcher state, merged after.
        let threads = std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .clamp(1, 8)
            .min(segments.len().max(1));
        let parts: Vec<Result<(Found, P), ApiError>> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..threads)
                .map(|t| {
                    let (segments, query, make) = (&segments, &query, &make);
                    s.spawn(move || {
                        let mut pick = make();
                        let mut f = Found::default();
                        let mut cut = i64::MAX;
                        let mut take = |e: Event| {
                            if !self.sees(&e.tenant) {
                                return;
                            }
                            f.scanned += 1;
                            if !pick.pick(&e) {
                                return;
                            }
                            f.matched += 1;
                            // Whole seconds: the histogram's finest bucket is a minute.
                            *f.times
                                .entry(e.time.0 - e.time.0.rem_euclid(1_000_000_000))
                                .or_default() += 1;
                            // The first `limit` by time: past a full page, only earlier ones.
                            if e.time.0 < cut {
                                f.kept.push((e.time.0, event_json(&e)));
                                if f.kept.len() >= limit * 2 {
                                    f.kept.sort_by_key(|(t, _)| *t);
                                    f.kept.truncate(limit);
                                    cut = f.kept.last().map_or(i64::MAX, |(t, _)| *t);
                                }
                            }
                        };
                        for (_, seg) in segments.iter().skip(t).step_by(threads) {
                            vakt_store::read_segment(seg, query, &mut take).map_err(|e| {
                                tracing::error!(target: "vakt::api", "store: {e}");
                                ApiError::internal("the event store could not be read")
                            })?;
                        }
                        Ok((f, pick))
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join()
                        .unwrap_or_else(|_| Err(ApiError::internal("a store reader failed")))
                })
                .collect()
        });
        let mut all = Found::default();
        let mut merged: Option<P> = None;
        for part in parts {
            let (f, p) = part?;
            all.scanned += f.scanned;
            all.matched += f.matched;
            for (t, n) in f.times {
                *all.times.entry(t).or_default() += n;
            }
            all.kept.extend(f.kept);
            match &mut merged {
                Some(m) => m.merge(p),
                None => merged = Some(p),
            }
        }
        all.kept.sort_by_key(|(t, _)| *t);
        all.kept.truncate(limit);
        Ok((all, merged.unwrap_or_else(make)))
    }

    /// The privacy officer's reports from the stored EHR audit events: who
    /// read a patient's record (by pseudonym), or what an employee read (by
    /// user name, resolved through the care context to the practitioner
    /// the audit events name). Each access carries the employee's user name.
    pub fn ehr_accesses(&self, q: &EhrQuery) -> Result<serde_json::Value, ApiError> {
        let started = Instant::now();
        let tenant = self.tenant(q.tenant.as_deref())?;
        let limit = q.limit.clamp(1, 5000);
        let ctx = &self.data.context;
        let user_of = |uid: &str| -> Option<String> {
            let id = uid.strip_prefix("Practitioner/").unwrap_or(uid);
            ctx.staff.get(id).map(|s| s.user.to_string())
        };
        let (patient_f, uid_f, name_f) = (
            FieldId::lookup("patient.uid"),
            FieldId::lookup("actor.user.uid"),
            FieldId::lookup("actor.user.name"),
        );
        // Every practitioner with that user name (ids may repeat across trusts' contexts).
        let uids: Vec<String> = match &q.account {
            Some(a) => ctx
                .staff
                .iter()
                .filter(|(_, s)| s.user.eq_ignore_ascii_case(a))
                .map(|(id, _)| format!("Practitioner/{id}"))
                .collect(),
            None => Vec::new(),
        };
        if q.account.is_none() == q.patient.is_none() {
            return Err(ApiError::bad_request(
                "give exactly one of `account` or `patient`",
            ));
        }
        let (found, pick) = self.scan(tenant, q.from, q.to, Some("fhir:*"), limit, || EhrPick {
            q,
            uids: &uids,
            fields: (patient_f, uid_f, name_f),
            user_of: &user_of,
            patients: BTreeSet::new(),
            accounts: BTreeSet::new(),
        })?;
        let (patients, accounts) = (pick.patients, pick.accounts);
        let items: Vec<serde_json::Value> = found
            .kept
            .into_iter()
            .map(|(_, mut v)| {
                let uid = v["common"]["actor.user.uid"].as_str().map(str::to_owned);
                let name = v["common"]["actor.user.name"].as_str().map(str::to_owned);
                let account = uid.as_deref().and_then(user_of).or(name);
                if let Some(o) = v.as_object_mut() {
                    o.insert("account".into(), account.into());
                }
                v
            })
            .collect();
        Ok(serde_json::json!({
            "accesses": found.matched,
            "patients": patients.len(),
            "accounts": accounts.into_iter().filter(|a| !a.is_empty()).collect::<Vec<_>>(),
            "practitioners": uids,
            "scanned": found.scanned,
            "seconds": started.elapsed().as_secs_f64(),
            "truncated": found.matched as usize > items.len(),
            "items": items,
        }))
    }

    /// Alerts per detector over time (by first seen), over every alert the
    /// principal sees (of one tenant if asked).
    pub fn alert_histogram(&self, tenant: Option<&str>) -> Result<serde_json::Value, ApiError> {
        let tenant = self.tenant(tenant)?;
        let c = self.db()?;
        let mut q = c
            .prepare("SELECT tenant, detector, first FROM alerts WHERE (?1 IS NULL OR tenant = ?1)")
            .map_err(db_err)?;
        let rows = q
            .query_map([&tenant], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, i64>(2)?,
                ))
            })
            .map_err(db_err)?;
        let mut all: Vec<(String, i64)> = Vec::new();
        for r in rows {
            let (t, d, first) = r.map_err(db_err)?;
            if self.sees(&t) {
                all.push((d, first));
            }
        }
        let (Some(lo), Some(hi)) = (
            all.iter().map(|(_, t)| *t).min(),
            all.iter().map(|(_, t)| *t).max(),
        ) else {
            return Ok(serde_json::json!({"bucket_seconds": 0, "buckets": [], "detectors": []}));
        };
        let w = bucket_width(hi - lo);
        let start = lo.div_euclid(w) * w;
        let n = ((hi.div_euclid(w) * w - start) / w + 1) as usize;
        let mut series: BTreeMap<String, Vec<u64>> = BTreeMap::new();
        for (d, t) in &all {
            let i = ((t.div_euclid(w) * w - start) / w) as usize;
            series.entry(d.clone()).or_insert_with(|| vec![0; n])[i] += 1;
        }
        let times: Vec<vakt_core::Timestamp> = (0..n)
            .map(|i| vakt_core::Timestamp(start + i as i64 * w))
            .collect();
        Ok(serde_json::json!({
            "bucket_seconds": w / 1_000_000_000,
            "times": times,
            "detectors": series.into_iter().map(|(d, v)| serde_json::json!({"detector": d, "counts": v})).collect::<Vec<_>>(),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_round_and_few() {
        let h = 3_600_000_000_000;
        assert_eq!(bucket_width(h) / 1_000_000_000, 60);
        assert_eq!(bucket_width(30 * 24 * h) / 1_000_000_000, 43_200);
        assert!(bucket_width(0) > 0);
    }

    #[test]
    fn an_indicator_matches_its_value_and_a_domains_subdomains() {
        assert!(text_is(
            &Value::str("EVIL.example.org"),
            "evil.example.org",
            true
        ));
        assert!(text_is(
            &Value::str("a.evil.example.org"),
            "evil.example.org",
            true
        ));
        assert!(!text_is(
            &Value::str("notevil.example.org"),
            "evil.example.org",
            true
        ));
        assert!(!text_is(
            &Value::str("a.evil.example.org"),
            "evil.example.org",
            false
        ));
        assert!(text_is(
            &Value::Ip("10.0.0.5".parse().unwrap()),
            "10.0.0.5",
            false
        ));
    }
}
