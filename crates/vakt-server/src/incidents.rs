//! Incidents per tenant: each tenant's alerts are correlated on their own.
//! Two trusts' machines may share a name or a private address
//! (`10.0.0.5` is in every hospital), and an incident joining them would
//! put one trust's data in front of another's staff; so no incident spans
//! tenants. An incident's id names its tenant (`ous-INC-20180101-001`).

use std::collections::BTreeMap;
use std::sync::Arc;

use vakt_context::Assets;
use vakt_core::Alert;
use vakt_incident::{CorrelationConfig, Correlator, Incident};

/// One correlator per tenant.
pub struct TenantIncidents {
    assets: Arc<Assets>,
    cfg: CorrelationConfig,
    by_tenant: BTreeMap<Arc<str>, Correlator>,
}

impl TenantIncidents {
    /// No incidents yet.
    pub fn new(assets: Arc<Assets>, cfg: CorrelationConfig) -> TenantIncidents {
        TenantIncidents {
            assets,
            cfg,
            by_tenant: BTreeMap::new(),
        }
    }

    /// Takes an alert into its tenant's incidents.
    pub fn add(&mut self, a: Alert) {
        self.by_tenant
            .entry(a.tenant.clone())
            .or_insert_with(|| Correlator::new(self.assets.clone(), self.cfg))
            .add(a);
    }

    /// Forgets every alert (before the alerts are taken in again).
    pub fn clear(&mut self) {
        self.by_tenant.clear();
    }

    /// Every tenant's incidents, ids prefixed with the tenant.
    pub fn incidents(&self) -> Vec<Incident> {
        self.with_tenants().into_iter().map(|(_, i)| i).collect()
    }

    /// Every incident with its tenant (ids prefixed with the tenant).
    pub fn with_tenants(&self) -> Vec<(Arc<str>, Incident)> {
        let mut out = Vec::new();
        for (tenant, c) in &self.by_tenant {
            for mut i in c.incidents() {
                i.id = format!("{tenant}-{}", i.id);
                out.push((tenant.clone(), i));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vakt_core::{AlertKey, Entity, Severity, Timestamp};

    fn alert(tenant: &str, n: u8) -> Alert {
        Alert {
            key: AlertKey::of(&[tenant, &n.to_string()]),
            tenant: Arc::from(tenant),
            detector: "sigma".into(),
            title: format!("finding {n}"),
            severity: Severity::High,
            actors: vec![Entity::Host("ws-01".into())],
            targets: vec![Entity::Ip("10.0.0.5".parse().unwrap())],
            first: Timestamp(1_000_000_000 * i64::from(n)),
            last: Timestamp(1_000_000_000 * i64::from(n)),
            ..Alert::default()
        }
    }

    #[test]
    fn the_same_names_in_two_tenants_make_two_incidents() {
        let mut t = TenantIncidents::new(Arc::default(), CorrelationConfig::default());
        for n in 0..3 {
            t.add(alert("ous", n));
            t.add(alert("ahus", n));
        }
        let inc = t.incidents();
        assert_eq!(inc.len(), 2, "{inc:?}");
        assert!(inc.iter().any(|i| i.id.starts_with("ous-INC-")));
        assert!(inc.iter().any(|i| i.id.starts_with("ahus-INC-")));
        assert!(inc.iter().all(|i| i.alerts.len() == 3));
    }
}
