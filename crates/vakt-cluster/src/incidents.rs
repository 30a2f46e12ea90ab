//! Incidents, per tenant: the owner of a tenant's shard 0 joins the alerts
//! of all its shards (from PostgreSQL) into incidents with the same
//! correlator as `vakt demo` and `vakt serve`, whenever they changed.

use vakt_context::Assets;
use vakt_incident::CorrelationConfig;

use crate::pg::{self, Db};

/// Makes the tenant's incidents again if its alerts changed since `seen`
/// (the highest alert revision, and how many of its alerts are suppressed:
/// an exception made or revoked through an api node changes that) and
/// returns what they now reflect. The exceptions in force are applied to
/// the alerts no one has judged (marked suppressed); suppressed alerts join
/// no incident — as on `vakt serve`.
pub async fn settle(
    db: &mut Db,
    sql: &std::sync::Arc<vakt_server::sql::PgPool>,
    assets: &std::sync::Arc<Assets>,
    tenant: &str,
    seen: (i64, i64),
) -> Result<(i64, i64), String> {
    let now = pg::tenant_rev(db, tenant).await?;
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
    Ok(if after.1 == now.1 { now } else { (now.0, -1) })
}
