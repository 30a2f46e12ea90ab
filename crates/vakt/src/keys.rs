//! The pseudonymisation keys: per tenant from the config file
//! (`pseudonym_keys`), else one from `--pseudonym-key-file` /
//! `VAKT_PSEUDONYM_KEY_FILE`, else a random key for this run.

use std::path::Path;

use anyhow::Context;
use vakt_core::pseudo::Pseudonymiser;

/// The pseudonymiser for a run; says on standard error (unless `quiet`)
/// when `tenant` gets a random key.
pub fn pseudonymiser(
    key_file: Option<&Path>,
    tenant: &str,
    quiet: bool,
) -> anyhow::Result<Pseudonymiser> {
    let read_key = |f: &Path| -> anyhow::Result<Vec<u8>> {
        let key = std::fs::read(f)
            .with_context(|| format!("cannot read the pseudonym key {}", f.display()))?;
        Ok(key.trim_ascii().to_vec())
    };
    let tenant_keys = crate::rules::config()?
        .map(|(_, c)| c.pseudonym_keys)
        .unwrap_or_default();
    let mut p = match key_file {
        Some(f) => Pseudonymiser::new(&read_key(f)?)
            .map_err(|e| anyhow::anyhow!("{}: {e}", f.display()))?,
        None => {
            if !quiet && !tenant_keys.contains_key(tenant) {
                tracing::warn!(
                    target: "vakt::keys",
                    "no pseudonym key (--pseudonym-key-file, VAKT_PSEUDONYM_KEY_FILE, or pseudonym_keys in the config): patients are pseudonymised with a random key valid for this run only"
                );
            }
            Pseudonymiser::ephemeral()
        }
    };
    for (t, f) in &tenant_keys {
        p = p
            .with_tenant_key(t, &read_key(f)?)
            .map_err(|e| anyhow::anyhow!("{}: {e}", f.display()))?;
    }
    Ok(p)
}
