//! `ehr`: the EHR access detectors of `vakt-analytics` (no care
//! relationship, bulk access, protected persons, snooping, …) over FHIR
//! AuditEvents, judged against the care context; they need events in order.

use vakt_analytics::ehr::{EhrConfig, EhrDetectors};
use vakt_core::Detector;

use super::{Analytics, Setup};

/// The family, when there is a care context and the analytics are on.
pub fn from_setup(s: &Setup) -> Option<Box<dyn Detector>> {
    let ehr = s.ehr.as_ref()?;
    if s.analytics == Analytics::None {
        return None;
    }
    let d = EhrDetectors::new(
        ehr.context.clone(),
        EhrConfig::default(),
        ehr.pseudonymiser.clone(),
        s.analytics.wanted(),
    );
    Some(Box::new(if ehr.patients_pseudonymised {
        d.with_pseudonymised_patients()
    } else {
        d
    }))
}
