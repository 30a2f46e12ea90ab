//! The detectors of events, one file and one registry line each: Sigma
//! rules, indicators, and the two behaviour families of `vakt-analytics`
//! (network, EHR access). Each is built from the run's [`Setup`] — a
//! detector with nothing to work with (no rules given, no care context)
//! is left out.

use std::sync::Arc;

use vakt_analytics::stream::StreamConfig;
use vakt_context::EhrContext;
use vakt_core::Detector;
use vakt_core::pseudo::Pseudonymiser;

pub use intel::{Indicators, IntelDetector};
pub use sigma::{SigmaDetector, SigmaRules};

/// Which behaviour analytics run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Analytics {
    /// None.
    None,
    /// Every detector.
    #[default]
    All,
    /// These findings only (`beacon`, `ehr-bulk`, …).
    Only(Vec<String>),
}

impl Analytics {
    /// The findings to keep: `None` for all.
    pub fn wanted(&self) -> Option<Vec<String>> {
        match self {
            Analytics::Only(w) => Some(w.clone()),
            _ => None,
        }
    }
}

/// What the EHR access detectors judge by.
#[derive(Debug, Clone)]
pub struct EhrSetup {
    /// The care context.
    pub context: Arc<EhrContext>,
    /// Patients in findings become pseudonyms under these keys.
    pub pseudonymiser: Arc<Pseudonymiser>,
    /// The events name patients by pseudonym already (read back from the store).
    pub patients_pseudonymised: bool,
}

/// What the detectors of a run are built from.
#[derive(Debug, Default)]
pub struct Setup {
    /// Compiled Sigma rules.
    pub rules: Option<Arc<SigmaRules>>,
    /// Indicators.
    pub indicators: Option<Arc<Indicators>>,
    /// Which behaviour analytics run.
    pub analytics: Analytics,
    /// The EHR care context (the EHR detectors run only with one).
    pub ehr: Option<EhrSetup>,
    /// The network detectors as a stream, with this window and step.
    pub stream: Option<StreamConfig>,
    /// The tenants' site models (what is internal, what is offered, …).
    pub sites: std::sync::Arc<vakt_core::site::Sites>,
}

/// A detector of events, from a run's setup (`None`: nothing to run).
pub type Entry = fn(&Setup) -> Option<Box<dyn Detector>>;

vakt_core::registry! {
    /// The detectors of events, one file and one line each.
    pub const REGISTRY: &[Entry] = [
        sigma::from_setup,
        intel::from_setup,
        network::from_setup,
        suricata::from_setup,
        zeek_notice::from_setup,
        ehr::from_setup,
    ];
}

/// Every detector the setup has what it needs for.
pub fn detectors(setup: &Setup) -> Vec<Box<dyn Detector>> {
    REGISTRY.iter().filter_map(|make| make(setup)).collect()
}

/// The alerts a detector keeps one per key (indicators, Suricata, Zeek
/// notices), loaded from saved state with their index by key.
pub(crate) fn load_found(
    state: &[u8],
) -> Result<
    (
        Vec<vakt_core::Alert>,
        rustc_hash::FxHashMap<vakt_core::AlertKey, usize>,
    ),
    String,
> {
    let found: Vec<vakt_core::Alert> = vakt_core::detector::load_state(state)?;
    let by_key = found
        .iter()
        .enumerate()
        .map(|(i, a)| (a.key.clone(), i))
        .collect();
    Ok((found, by_key))
}
