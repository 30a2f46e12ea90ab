//! vakt-incident: alerts from every engine become incidents (entity graph,
//! ATT&CK stages in order, patient zero, severity), an incident is scoped to
//! the patients whose records were exposed, and the whole is written as a
//! self-contained report.

pub mod assets;
pub mod case;
pub mod correlate;
pub mod record;
pub mod report;
pub mod scope;
pub mod stages;

pub use assets::{Asset, Assets};
pub use correlate::{CorrelationConfig, Incident, correlate};
pub use record::{AlertRecord, read_alerts};
pub use scope::{Exposure, PatientIndex, ScopeConfig, scope};
