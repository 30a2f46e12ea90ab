//! Incidents, per tenant: the owner of a tenant's shard 0 joins the alerts
//! of all its shards (from PostgreSQL) into incidents with the same
//! correlator as `vakt demo` and `vakt serve`, whenever they changed.
//!
//! Before that, the second, aggregated stage of the network analytics:
//! a partition knows how many of its own hosts use a destination outside
//! the networks, the region knows how many of all its trusts' hosts do
//! (the `prevalence` table, summed over tenants and partitions). A beacon,
//! strobe, long connection or rare destination to a destination that
//! [`COMMON_HOSTS`] or more hosts across the region use is a shared
//! service (an update server, certificate status), as it is on `vakt demo`,
//! which sees the whole region at once: it is set aside (suppressed, with
//! the count as the reason) and joins no incident. The partitions' counts
//! only grow, so the outcome does not depend on which tenant's events came
//! first: a finding raised before the others' counts arrived is set aside
//! when they do.

use vakt_analytics::network::COMMON_HOSTS;
use vakt_context::Assets;
use vakt_core::{Alert, Entity};
use vakt_incident::CorrelationConfig;

use crate::pg::{self, Db};

/// What the region-wide prevalence judges.
const BY_PREVALENCE: &[&str] = &[
    "beacon",
    "strobe",
    "long-connection",
    "rare-destination",
    "rare-user-agent",
];

/// The outside destination a network finding is about (an address outside
/// the networks, or a server name), as the partitions count it.
fn outside_target(a: &Alert) -> Option<String> {
    if !BY_PREVALENCE.contains(&a.detector.as_str()) {
        return None;
    }
    a.targets.iter().find_map(|t| match t {
        Entity::Ip(ip) if !vakt_core::net::internal(*ip) => Some(ip.to_string()),
        Entity::Domain(d) => Some(d.to_ascii_lowercase()),
        _ => None,
    })
}

/// Makes the tenant's incidents again if its alerts changed since `seen`
/// (the highest alert revision, how many of its alerts are suppressed —
/// an exception made or revoked through an api node changes that — and the
/// region-wide prevalence's revision) and returns what they now reflect.
/// The exceptions in force are applied to the alerts no one has judged
/// (marked suppressed); so is the region-wide prevalence; suppressed alerts
/// join no incident — as on `vakt serve`.
pub async fn settle(
    db: &mut Db,
    sql: &std::sync::Arc<vakt_server::sql::PgPool>,
    assets: &std::sync::Arc<Assets>,
    tenant: &str,
    seen: (i64, i64, i64),
) -> Result<(i64, i64, i64), String> {
    let (rev, suppressed) = pg::tenant_rev(db, tenant).await?;
    let now = (rev, suppressed, pg::prevalence_rev(db).await?);
    if now == seen {
        return Ok(now);
    }
    let (pool, t) = (sql.clone(), tenant.to_owned());
    let alerts = tokio::task::spawn_blocking(move || {
        let c = pool.get().map_err(|e| e.to_string())?;
        vakt_server::respond::exceptions::unsilenced_of(&c, &t).map_err(|e| e.to_string())
    })
    .await
    .map_err(|e| e.to_string())??;
    let targets: Vec<String> = alerts.iter().filter_map(outside_target).collect();
    let region = pg::region_prevalence(db, &targets).await?;
    let (common, alerts): (Vec<Alert>, Vec<Alert>) = alerts.into_iter().partition(|a| {
        outside_target(a)
            .and_then(|t| region.get(&t))
            .is_some_and(|n| *n >= COMMON_HOSTS as i64)
    });
    let alerts = if common.is_empty() {
        alerts
    } else {
        let pool = sql.clone();
        let set_aside: Vec<(String, i64)> = common
            .iter()
            .map(|a| {
                let n = outside_target(a).and_then(|t| region.get(&t).copied());
                (a.key.to_string(), n.unwrap_or(0))
            })
            .collect();
        let kept = tokio::task::spawn_blocking(move || set_aside_common(&pool, &set_aside))
            .await
            .map_err(|e| e.to_string())??;
        // An alert an analyst has judged stays as judged (and in its incident).
        let mut alerts = alerts;
        alerts.extend(
            common
                .into_iter()
                .filter(|a| kept.contains(&a.key.to_string())),
        );
        alerts.sort_by(|a, b| a.first.cmp(&b.first).then(a.key.cmp(&b.key)));
        alerts
    };
    let mut c =
        vakt_server::incidents::TenantIncidents::new(assets.clone(), CorrelationConfig::default());
    for a in alerts {
        c.add(a);
    }
    let with = c.with_tenants();
    let list: Vec<&vakt_incident::Incident> = with.iter().map(|(_, i)| i).collect();
    pg::put_incidents(db, tenant, &list).await?;
    // Alerts suppressed here change the count: settle once more next time
    // (then nothing is left to suppress and the count holds). Alerts kept
    // since the first look have a higher revision: they are next time's.
    let after = pg::tenant_rev(db, tenant).await?;
    Ok(if after.1 == now.1 {
        now
    } else {
        (now.0, -1, now.2)
    })
}

/// Marks these alerts suppressed (those no one has judged), saying how many
/// hosts across the region use their destination; returns the keys an
/// analyst had judged otherwise (left as they are).
fn set_aside_common(
    pool: &std::sync::Arc<vakt_server::sql::PgPool>,
    alerts: &[(String, i64)],
) -> Result<std::collections::BTreeSet<String>, String> {
    use vakt_server::sql::{OptionalExtension, params};
    let c = pool.get().map_err(|e| e.to_string())?;
    let at = vakt_server::now().to_rfc3339();
    let mut judged = std::collections::BTreeSet::new();
    for (key, n) in alerts {
        let note = format!(
            "set aside: {n} internal hosts across the region's trusts use this destination (a shared service, not one host's implant)"
        );
        c.execute(
            "INSERT INTO alert_status (key, status, note, by, at) VALUES (?1, 'suppressed', ?2, 'vakt:prevalence', ?3)
             ON CONFLICT (key) DO UPDATE SET status = 'suppressed', note = ?2, by = 'vakt:prevalence', at = ?3
             WHERE alert_status.status IN ('new', 'acknowledged')",
            params![key, note, at],
        )
        .map_err(|e| e.to_string())?;
        let status: Option<String> = c
            .query_row(
                "SELECT status FROM alert_status WHERE key = ?1",
                params![key],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| e.to_string())?;
        if status.as_deref() != Some("suppressed") {
            judged.insert(key.clone());
        }
    }
    Ok(judged)
}
