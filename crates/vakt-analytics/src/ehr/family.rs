//! The EHR family as one event detector: each tenant's AuditEvents go to
//! that tenant's [`EhrAnalytics`], in input order (a user's hours and days
//! follow their accesses), so it runs once, not forked.

use std::sync::Arc;

use vakt_core::detector::Detector;
use vakt_core::pseudo::Pseudonymiser;
use vakt_core::{Alert, Event, Timestamp};

use super::{EhrAnalytics, EhrConfig, EhrContext};

/// Every EHR detector over AuditEvents of any tenant.
#[derive(Debug)]
pub struct EhrDetectors {
    ctx: Arc<EhrContext>,
    cfg: EhrConfig,
    pseudo: Arc<Pseudonymiser>,
    /// The findings to keep; `None`: all.
    wanted: Option<Vec<String>>,
    pseudonymised: bool,
    tenants: Vec<(Arc<str>, EhrAnalytics)>,
}

/// What the EHR family counted over every tenant.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct EhrCounts {
    /// AuditEvents seen.
    pub events: u64,
    /// Without a user or a patient (not judged).
    pub unattributed: u64,
    /// Reads counted as approved research exports (not judged).
    pub approved_research: u64,
    /// Patients named by an identity number that fails its check digits (bad input).
    pub invalid_identity_numbers: u64,
}

impl EhrDetectors {
    /// Detectors over this context, patients pseudonymised under `pseudo`,
    /// keeping the findings named in `wanted` (all if `None`).
    pub fn new(
        ctx: Arc<EhrContext>,
        cfg: EhrConfig,
        pseudo: Arc<Pseudonymiser>,
        wanted: Option<Vec<String>>,
    ) -> EhrDetectors {
        EhrDetectors {
            ctx,
            cfg,
            pseudo,
            wanted,
            pseudonymised: false,
            tenants: Vec::new(),
        }
    }

    /// Patients in the events are already pseudonyms (events read back from the store).
    pub fn with_pseudonymised_patients(mut self) -> EhrDetectors {
        self.pseudonymised = true;
        self
    }

    fn state(&mut self, tenant: &Arc<str>) -> &mut EhrAnalytics {
        let i = match self.tenants.iter().position(|(t, _)| t == tenant) {
            Some(i) => i,
            None => {
                let mut a = EhrAnalytics::new(
                    self.ctx.clone(),
                    self.cfg.clone(),
                    self.pseudo.clone(),
                    tenant.clone(),
                );
                if self.pseudonymised {
                    a = a.with_pseudonymised_patients();
                }
                self.tenants.push((tenant.clone(), a));
                self.tenants.len() - 1
            }
        };
        &mut self.tenants[i].1
    }

    fn take(&mut self, out: &mut Vec<Alert>) {
        for (_, a) in &mut self.tenants {
            let found = a.take();
            out.extend(
                found
                    .into_iter()
                    .filter(|f| self.wanted.as_ref().is_none_or(|w| w.contains(&f.detector))),
            );
        }
    }

    /// What was counted over every tenant.
    pub fn counts(&self) -> EhrCounts {
        let mut c = EhrCounts::default();
        for (_, a) in &self.tenants {
            let f = a.facts();
            c.events += f.events;
            c.unattributed += f.unattributed;
            c.approved_research += f.approved_research;
            c.invalid_identity_numbers += f.invalid_identity_numbers;
        }
        c
    }
}

impl Detector for EhrDetectors {
    fn name(&self) -> &'static str {
        "ehr"
    }

    fn observe(&mut self, e: &Event, out: &mut Vec<Alert>) {
        if !e.source.is_fhir_audit_event() {
            return;
        }
        self.state(&e.tenant).observe(e);
        self.take(out);
    }

    fn advance(&mut self, now: Timestamp, _: &(), out: &mut Vec<Alert>) {
        for (_, a) in &mut self.tenants {
            a.advance(now);
        }
        self.take(out);
    }

    fn flush(&mut self, _: &(), out: &mut Vec<Alert>) {
        for (_, a) in &mut self.tenants {
            a.flush();
        }
        self.take(out);
    }

    fn save(&self) -> Option<Result<Vec<u8>, String>> {
        let mut tenants = Vec::new();
        for (t, a) in &self.tenants {
            match a.save() {
                Ok(b) => tenants.push((t.to_string(), vakt_core::detector::Blob(b))),
                Err(e) => return Some(Err(e)),
            }
        }
        Some(vakt_core::detector::save_state(&tenants))
    }

    fn load(&mut self, state: &[u8]) -> Result<(), String> {
        let saved: Vec<(String, vakt_core::detector::Blob)> =
            vakt_core::detector::load_state(state)?;
        self.tenants.clear();
        for (t, b) in saved {
            let tenant: Arc<str> = Arc::from(t);
            if let Err(e) = self.state(&tenant).load(&b.0) {
                self.tenants.clear();
                return Err(format!("{tenant}: {e}"));
            }
        }
        Ok(())
    }

    fn footprint(&self) -> Option<String> {
        let parts: Vec<String> = self
            .tenants
            .iter()
            .map(|(t, a)| format!("{t}: {}", a.footprint()))
            .collect();
        (!parts.is_empty()).then(|| parts.join("; "))
    }
}
