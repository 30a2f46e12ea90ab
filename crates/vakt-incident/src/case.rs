//! A case folder: where an investigation's store, alerts, incidents,
//! context and keys are, in `case.json` (paths relative to the folder).
//!
//! ```json
//! {"store": "store", "alerts": "alerts.jsonl", "incidents": "incidents.json",
//!  "context": ["tenants", "registers"], "assets": ["registers"],
//!  "tenant": "default", "pseudonym_key_file": "pseudonym.key",
//!  "clocks": [{"name": "Data protection authority (GDPR Art. 33)", "hours": 72}]}
//! ```

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::scope::Clock;

/// The case description.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Case {
    /// The event store folder.
    pub store: PathBuf,
    /// The alerts (JSON lines, from `vakt hunt --alerts`).
    pub alerts: PathBuf,
    /// The incidents (`vakt incidents` writes them).
    pub incidents: PathBuf,
    /// FHIR context and registers (patients, protected persons).
    #[serde(default)]
    pub context: Vec<PathBuf>,
    /// Asset registers.
    #[serde(default)]
    pub assets: Vec<PathBuf>,
    /// The tenant (pseudonym key and store partition).
    #[serde(default = "default_tenant")]
    pub tenant: String,
    /// The tenant's pseudonym key.
    #[serde(default)]
    pub pseudonym_key_file: Option<PathBuf>,
    /// Notification clocks besides GDPR Art. 33.
    #[serde(default)]
    pub clocks: Vec<Clock>,
}

fn default_tenant() -> String {
    "default".into()
}

impl Case {
    /// Reads `DIR/case.json`, with paths made relative to `DIR`.
    pub fn load(dir: &Path) -> Result<Case, String> {
        let p = dir.join("case.json");
        let text = std::fs::read_to_string(&p).map_err(|e| format!("{}: {e}", p.display()))?;
        let mut c: Case =
            serde_json::from_str(&text).map_err(|e| format!("{}: {e}", p.display()))?;
        let abs = |x: &mut PathBuf| {
            if x.is_relative() {
                *x = dir.join(&*x);
            }
        };
        abs(&mut c.store);
        abs(&mut c.alerts);
        abs(&mut c.incidents);
        c.context.iter_mut().for_each(abs);
        c.assets.iter_mut().for_each(abs);
        if let Some(k) = c.pseudonym_key_file.as_mut() {
            abs(k);
        }
        Ok(c)
    }

    /// Writes `DIR/case.json`, paths inside the folder relative to it (the
    /// folder can move).
    pub fn save(&self, dir: &Path) -> std::io::Result<()> {
        let rel = |p: &mut PathBuf| {
            if let Ok(r) = p.strip_prefix(dir) {
                *p = r.to_path_buf();
            }
        };
        let mut c = self.clone();
        rel(&mut c.store);
        rel(&mut c.alerts);
        rel(&mut c.incidents);
        c.context.iter_mut().for_each(rel);
        c.assets.iter_mut().for_each(rel);
        if let Some(k) = c.pseudonym_key_file.as_mut() {
            rel(k);
        }
        let text = serde_json::to_string_pretty(&c).map_err(std::io::Error::other)?;
        std::fs::write(dir.join("case.json"), text + "\n")
    }
}
