//! vakt's own rule pack: Sigma rules written for a health-sector CERT
//! (`rules/` in the repository — health-specific `product: ehr` rules, SAMR
//! and LSA enumeration over named pipes, clinical exports leaving by the
//! command line), embedded in the binary and loaded beside the community's
//! rules unless left out (`--no-pack`). Each rule has fixtures in
//! `rules/tests/` (events it must match, near misses it must not) that the
//! test suite runs.

use std::sync::Arc;

use crate::RuleError;
use crate::rule::{Rule, parse_rules};

include!(concat!(env!("OUT_DIR"), "/pack.rs"));

/// The pack's rules as parsed (path `vakt:rules/…`), with any that do not parse.
pub fn parse() -> Vec<Result<Rule, RuleError>> {
    PACK.iter()
        .flat_map(|(path, text)| {
            let label: Arc<str> = Arc::from(format!("vakt:{path}"));
            parse_rules(text, &label)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_pack_is_embedded_and_parses() {
        assert!(!super::PACK.is_empty());
        for r in super::parse() {
            let r = r.unwrap_or_else(|e| panic!("{e}"));
            assert!(r.meta.id.is_some(), "{:?}", r.meta.title);
        }
    }
}
