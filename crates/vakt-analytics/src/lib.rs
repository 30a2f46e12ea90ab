//! vakt-analytics: behaviour detectors over network and EHR events.
//!
//! So far: beacon scoring as RITA v5 computes it ([`beacon`]), with the
//! robust statistics it rests on ([`stats`]), and a per-pair tracker over
//! Zeek conn events. Not yet: long connections, DNS tunnelling,
//! exfiltration, scans and lateral movement, rare destinations, EHR access
//! analytics, streaming windows, and the wiring into `vakt hunt`.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod beacon;
pub mod stats;
