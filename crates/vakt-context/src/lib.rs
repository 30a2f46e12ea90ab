//! vakt-context: what the CERT knows about its region, which detectors and
//! scoping judge events by.
//!
//! - [`care`]: the care context of the EHR — patients, staff and their
//!   departments, care relationships, protected persons ([`EhrContext`]),
//!   loaded from FHIR resources ([`fhir`]) and CSV registers ([`register`]);
//! - [`assets`]: the asset register (which host has which address, what it is
//!   for, whose patient records it holds);
//! - [`site`]: the site model — the region's own addresses, and how host and
//!   account names compare.
//!
//! Not here: judging events (the EHR access detectors are in
//! `vakt-analytics`), or scoping incidents (`vakt-incident`); both read this.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod assets;
pub mod care;
pub mod fhir;
pub mod register;
pub mod site;

pub use assets::{Asset, Assets};
pub use care::{
    Care, ContextProblem, EhrContext, Learned, OrgInfo, PatientInfo, Relation, StaffInfo,
};
