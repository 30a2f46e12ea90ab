//! vakt-analytics: behaviour detectors over network and EHR events.
//!
//! So far: beacon scoring as RITA v5 computes it ([`beacon`]), with the
//! robust statistics it rests on ([`stats`]); and network detectors in batch
//! ([`network`]): beacons with common destinations set aside, long
//! connections (open ones included), DNS tunnels, large uploads to rare
//! destinations, scans, and hosts that begin moving laterally. Not yet:
//! SNI/domain beacons and strobes, jitter-tolerant period estimation,
//! peer-group exfiltration
//! baselines, allow-lists, streaming windows, EHR access analytics.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod allow;
pub mod beacon;
pub mod ehr;
pub mod hidden;
pub mod network;
pub mod rita;
pub mod stats;
pub mod stream;
