//! vakt-analytics: stateful behaviour detectors over network and EHR events.
//!
//! Two families of detectors, each a [`vakt_core::Detector`] over the view
//! its family works out once per event:
//!
//! - [`network`]: beacons (RITA v5's score, [`beacon`]; hidden beacons,
//!   [`hidden`]), strobes, long connections, DNS tunnels, uploads, scans,
//!   lateral movement and rare destinations over Zeek and Suricata
//!   connections; in batch or as a stream with state kept to a window
//!   ([`stream`]). [`rita`] lists beacons exactly as RITA would, to compare.
//! - [`ehr`]: access to health records without a care relationship, bulk
//!   access against the user's and peers' baseline, protected persons,
//!   snooping, scripted and off-hours access, bulk exports, over FHIR
//!   AuditEvents judged against the care context (`vakt-context`).
//!
//! Each family is one [`vakt_core::Detector`] of events ([`network::NetworkDetectors`],
//! [`ehr::EhrDetectors`]) for `vakt-detect`'s pipeline; each detector in it
//! is one file and one line of its family's registry. Not here: rules
//! (`vakt-sigma`), indicators (`vakt-intel`), or what happens to the alerts.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod beacon;
pub mod ehr;
pub mod hidden;
pub mod network;
pub mod pairs;
pub mod rita;
pub mod stats;
pub mod stream;

use std::sync::Arc;

use vakt_core::{Alert, AlertKey, AnalyticRule, EventRef, Origin, Rule};

/// What every behaviour finding's alert has, whatever the family: its rule
/// (the family, the detector, what it looks for), key, ATT&CK techniques,
/// evidence and origins; the family fills in the rest.
pub(crate) struct Analytic<'a> {
    pub family: &'static str,
    pub detector: &'static str,
    pub about: &'static str,
    pub techniques: &'a [&'a str],
    pub evidence: Vec<(&'static str, String)>,
    pub origins: &'a [Origin],
}

impl Analytic<'_> {
    /// The alert of `tenant` under `key`, with the common parts set.
    pub(crate) fn alert(self, tenant: &Arc<str>, key: AlertKey) -> Alert {
        Alert {
            key,
            tenant: tenant.clone(),
            detector: self.detector.to_owned(),
            rule: Arc::new(Rule::Analytic(AnalyticRule {
                detector: self.detector.to_owned(),
                family: self.family.to_owned(),
                about: self.about.to_owned(),
            })),
            techniques: self.techniques.iter().map(|t| (*t).to_owned()).collect(),
            evidence: self
                .evidence
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v))
                .collect(),
            origins: self.origins.iter().map(EventRef::at).collect(),
            ..Alert::default()
        }
    }
}
