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
