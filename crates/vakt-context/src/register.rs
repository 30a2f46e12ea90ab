//! CSV registers of the context: the register of protected persons
//! (politicians, military, intelligence — the likely targets), a
//! `category` column with `patient_id` and/or `nin`.

use std::path::Path;

use crate::care::EhrContext;
use crate::fhir::{last_segment, lower, mask};

impl EhrContext {
    /// Loads a register of protected persons (other CSV files are passed over).
    pub(crate) fn load_register(&mut self, path: &Path) {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) => return self.problem(path, 0, format!("cannot read: {e}")),
        };
        let mut lines = text.lines().enumerate();
        let Some((_, header)) = lines.next() else {
            return;
        };
        let cols: Vec<String> = header.split(',').map(|c| c.trim().to_lowercase()).collect();
        let col = |n: &str| cols.iter().position(|c| c == n);
        let Some(cat) = col("category") else {
            // Not a register of protected persons.
            return;
        };
        let (pid, nin_col) = (col("patient_id"), col("nin"));
        if pid.is_none() && nin_col.is_none() {
            return self.problem(path, 1, "a register needs a patient_id or nin column");
        }
        let mut loaded = 0;
        for (i, line) in lines {
            if line.trim().is_empty() {
                continue;
            }
            let f: Vec<&str> = line.split(',').map(str::trim).collect();
            let get =
                |c: Option<usize>| c.and_then(|c| f.get(c).copied()).filter(|s| !s.is_empty());
            let Some(category) = get(Some(cat)) else {
                self.problem(path, i as u64 + 1, "no category");
                continue;
            };
            let mut id = get(pid).map(|s| last_segment(s).to_owned());
            if let Some(n) = get(nin_col) {
                if let Err(e) = vakt_core::nin::validate(n) {
                    self.problem(
                        path,
                        i as u64 + 1,
                        format!("identity number {}: {e}", mask(n)),
                    );
                    if id.is_none() {
                        continue;
                    }
                } else if id.is_none() {
                    id = self.nin_to_patient.get(n).map(|p| p.to_string());
                }
            }
            match id {
                Some(id) => {
                    self.protected.insert(id.into(), lower(category));
                    loaded += 1;
                }
                None => self.problem(path, i as u64 + 1, "patient not found in the context"),
            }
        }
        *self.loaded.entry("protected person".into()).or_default() += loaded;
    }
}
