//! The logsource mapping: which events a Sigma logsource means, and the
//! field renames for each (`logsources.yml`, shipped and replaceable).

use rustc_hash::FxHashMap;
use serde_json::Value as Json;

use crate::rule::LogSource;

/// The mapping shipped with vakt.
pub const DEFAULT_MAPPING: &str = include_str!("../logsources.yml");

/// Where one logsource's events are.
#[derive(Debug, Clone)]
pub struct Target {
    /// The logsource it serves (`service` may be `*` for a template).
    pub logsource: LogSource,
    /// Source kinds, lowercased (`evtx:security`); `{service}` is the rule's service.
    pub sources: Vec<String>,
    /// Event ids, if restricted.
    pub event_ids: Vec<i64>,
    /// Extra field conditions.
    pub conditions: Vec<(String, Json)>,
    /// Sigma field name → event field name.
    pub fields: FxHashMap<String, String>,
}

/// The whole mapping.
#[derive(Debug, Clone, Default)]
pub struct Mapping {
    targets: Vec<Target>,
}

fn opt(v: Option<&Json>) -> Option<String> {
    v.and_then(Json::as_str).map(|s| s.to_ascii_lowercase())
}

impl Mapping {
    /// Reads a mapping (YAML, a list of entries).
    pub fn parse(text: &str) -> Result<Mapping, String> {
        let doc: Json = serde_saphyr::from_str(text).map_err(|e| format!("not valid YAML: {e}"))?;
        let Json::Array(entries) = doc else {
            return Err("the mapping is not a list of entries".into());
        };
        let mut targets = Vec::with_capacity(entries.len());
        for (i, e) in entries.iter().enumerate() {
            let ls = e
                .get("logsource")
                .ok_or_else(|| format!("entry {}: no `logsource`", i + 1))?;
            let sources: Vec<String> = e
                .get("sources")
                .and_then(Json::as_array)
                .ok_or_else(|| format!("entry {}: no `sources` list", i + 1))?
                .iter()
                .filter_map(Json::as_str)
                .map(str::to_ascii_lowercase)
                .collect();
            let event_ids = e
                .get("event_ids")
                .and_then(Json::as_array)
                .map(|a| a.iter().filter_map(Json::as_i64).collect())
                .unwrap_or_default();
            let conditions = e
                .get("conditions")
                .and_then(Json::as_object)
                .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                .unwrap_or_default();
            let fields = e
                .get("fields")
                .and_then(Json::as_object)
                .map(|m| {
                    m.iter()
                        .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_owned())))
                        .collect()
                })
                .unwrap_or_default();
            targets.push(Target {
                logsource: LogSource {
                    product: opt(ls.get("product")),
                    category: opt(ls.get("category")),
                    service: opt(ls.get("service")),
                },
                sources,
                event_ids,
                conditions,
                fields,
            });
        }
        Ok(Mapping { targets })
    }

    /// The shipped mapping.
    pub fn default_mapping() -> Mapping {
        // The shipped file is tested; should it ever fail to parse, no rule maps.
        Mapping::parse(DEFAULT_MAPPING).unwrap_or_default()
    }

    /// The targets of a rule's logsource (templates filled in).
    pub fn targets(&self, ls: &LogSource) -> Vec<Target> {
        let mut out = Vec::new();
        for t in &self.targets {
            let service_ok = match (&t.logsource.service, &ls.service) {
                (Some(s), Some(r)) if s == "*" => {
                    let mut filled = t.clone();
                    filled.logsource.service = Some(r.clone());
                    filled.sources = t
                        .sources
                        .iter()
                        .map(|s| s.replace("{service}", r))
                        .collect();
                    if t.logsource.product == ls.product && t.logsource.category == ls.category {
                        out.push(filled);
                    }
                    continue;
                }
                (a, b) => a == b,
            };
            if service_ok
                && t.logsource.product == ls.product
                && t.logsource.category == ls.category
            {
                out.push(t.clone());
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_mapping_parses_and_maps() {
        let m = Mapping::parse(DEFAULT_MAPPING).unwrap();
        let pc = m.targets(&LogSource {
            product: Some("windows".into()),
            category: Some("process_creation".into()),
            service: None,
        });
        assert_eq!(pc.len(), 2);
        assert!(pc.iter().any(|t| t.event_ids == vec![4688]
            && t.fields.get("Image").map(String::as_str) == Some("NewProcessName")));
        let z = m.targets(&LogSource {
            product: Some("zeek".into()),
            category: None,
            service: Some("smb_files".into()),
        });
        assert_eq!(z[0].sources, vec!["zeek:smb_files".to_string()]);
        let ehr = m.targets(&LogSource {
            product: Some("ehr".into()),
            category: None,
            service: None,
        });
        assert_eq!(ehr[0].sources, vec!["fhir:auditevent".to_string()]);
        let sshd = m.targets(&LogSource {
            product: Some("linux".into()),
            category: None,
            service: Some("sshd".into()),
        });
        assert_eq!(sshd.len(), 1);
        assert_eq!(sshd[0].sources, vec!["syslog".to_string()]);
        assert_eq!(sshd[0].conditions[0].0, "app_name");
    }
}
