//! Incidents, per tenant: the owner of a tenant's shard 0 joins the alerts
//! of all its shards (from PostgreSQL) into incidents with the same
//! correlator as `vakt demo` and `vakt serve`, whenever they changed.

use vakt_context::Assets;
use vakt_incident::CorrelationConfig;

use crate::pg::{self, Db};

/// Makes the tenant's incidents again if its alerts changed since `seen`
/// (an alert revision); returns the revision they now reflect.
pub async fn settle(
    db: &mut Db,
    assets: &std::sync::Arc<Assets>,
    tenant: &str,
    seen: i64,
) -> Result<i64, String> {
    let rev = pg::tenant_rev(db, tenant).await?;
    if rev == seen {
        return Ok(rev);
    }
    let alerts = pg::tenant_alerts(db, tenant).await?;
    let mut c =
        vakt_server::incidents::TenantIncidents::new(assets.clone(), CorrelationConfig::default());
    for a in alerts {
        c.add(a);
    }
    let with = c.with_tenants();
    let list: Vec<&vakt_incident::Incident> = with.iter().map(|(_, i)| i).collect();
    pg::put_incidents(db, tenant, &list).await?;
    Ok(rev)
}
