//! vakt-incident: alerts from every engine become incidents (entity graph,
//! ATT&CK stages in order, patient zero, severity), an incident is scoped to
//! the patients whose records were exposed, and the whole is written as a
//! self-contained report. Incidents are kept current as alerts arrive
//! ([`Correlator`]), so the batch `vakt incidents` and the live service give
//! the same incidents.

pub mod alerts;
pub mod case;
pub mod correlate;
pub mod incident;
pub mod report;
pub mod scope;
pub mod stages;

pub use alerts::{read_alerts, write_alerts};
pub use correlate::{CorrelationConfig, Correlator, correlate};
pub use incident::Incident;
pub use scope::{Exposure, PatientIndex, ScopeConfig, scope};
pub use vakt_context::{Asset, Assets};
