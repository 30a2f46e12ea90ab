//! Warninglists: MISP warninglists (or lists in their format) of known-good
//! addresses and names. An indicator on one is kept but alerts only when
//! forced; used as allow-lists, they set behaviour findings aside when they
//! involve a listed address or name.
//!
//! A warninglist is `{"name","type","list":[…]}`; types `cidr` (address
//! ranges), `hostname` (a name and all its subdomains; a leading dot is
//! allowed) and `string` (exact names or addresses) are used; `substring` and
//! `regex` lists are reported as not used. Internal (private) addresses are
//! never matched: `rfc1918` would otherwise set aside the whole region.
//!
//! Nothing is hidden by default: the analyst chooses the lists, and the
//! findings set aside are counted per list so they can be looked at.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use rustc_hash::FxHashSet;
use vakt_core::net::{Cidr, internal};
use vakt_core::{Alert, Entity};

/// One loaded list.
#[derive(Debug, Default)]
struct List {
    name: String,
    nets: Vec<Cidr>,
    hostnames: FxHashSet<String>,
    exact: FxHashSet<String>,
}

/// A set of allow-lists.
#[derive(Debug, Default)]
pub struct Warninglists {
    lists: Vec<List>,
    /// Lists read but not used (their type cannot be matched here), with why.
    pub unused: Vec<(PathBuf, String)>,
}

/// A list that cannot be read.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {reason}")]
pub struct WarninglistError {
    /// The file.
    pub path: PathBuf,
    /// What was wrong.
    pub reason: String,
}

impl Warninglists {
    /// Loads lists from files (`list.json`) or folders (every `list.json` or
    /// `*.json` beneath, in name order).
    pub fn load(paths: &[PathBuf]) -> Result<Warninglists, WarninglistError> {
        let mut out = Warninglists::default();
        for p in paths {
            let mut files = Vec::new();
            vakt_core::files::walk(
                p,
                &|f| f.extension().is_some_and(|x| x == "json"),
                &mut files,
            )
            .map_err(|e| WarninglistError {
                path: p.clone(),
                reason: e.to_string(),
            })?;
            for f in files {
                out.load_file(&f)?;
            }
        }
        Ok(out)
    }

    fn load_file(&mut self, path: &Path) -> Result<(), WarninglistError> {
        let err = |reason: String| WarninglistError {
            path: path.to_owned(),
            reason,
        };
        let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
        let v: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| err(format!("not JSON: {e}")))?;
        let kind = v["type"].as_str().unwrap_or("");
        let name = v["name"].as_str().unwrap_or_default().to_owned();
        let Some(items) = v["list"].as_array() else {
            return Err(err("no `list` array: not a warninglist".into()));
        };
        let mut list = List {
            name: if name.is_empty() {
                path.display().to_string()
            } else {
                name
            },
            ..Default::default()
        };
        for (i, item) in items.iter().enumerate() {
            let Some(s) = item.as_str() else {
                return Err(err(format!("entry {i} is not a string")));
            };
            match kind {
                "cidr" => match Cidr::parse(s) {
                    Some(n) => list.nets.push(n),
                    None => return Err(err(format!("entry {i} `{s}` is not an address range"))),
                },
                "hostname" => {
                    list.hostnames.insert(
                        s.trim_start_matches('.')
                            .trim_end_matches('.')
                            .to_ascii_lowercase(),
                    );
                }
                "string" => {
                    let s = s.trim().to_ascii_lowercase();
                    if let Some(n) = Cidr::parse(&s) {
                        list.nets.push(n);
                    }
                    list.exact.insert(s);
                }
                other => {
                    self.unused
                        .push((path.to_owned(), format!("type `{other}` is not matched")));
                    return Ok(());
                }
            }
        }
        self.lists.push(list);
        Ok(())
    }

    /// How many lists are in use.
    pub fn len(&self) -> usize {
        self.lists.len()
    }

    /// Whether no list is in use.
    pub fn is_empty(&self) -> bool {
        self.lists.is_empty()
    }

    /// The first list an external address is on.
    pub fn ip(&self, ip: IpAddr) -> Option<&str> {
        if internal(ip) {
            return None;
        }
        self.lists
            .iter()
            .find(|l| l.nets.iter().any(|n| n.contains(ip)))
            .map(|l| l.name.as_str())
    }

    /// The first list a name (or a parent domain of it) is on.
    pub fn name(&self, name: &str) -> Option<&str> {
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        self.lists
            .iter()
            .find(|l| {
                l.exact.contains(&name) || {
                    let mut rest = name.as_str();
                    loop {
                        if l.hostnames.contains(rest) {
                            break true;
                        }
                        match rest.split_once('.') {
                            Some((_, r)) => rest = r,
                            None => break false,
                        }
                    }
                }
            })
            .map(|l| l.name.as_str())
    }

    /// The list an alert's address or name is on, if any.
    pub fn matches(&self, a: &Alert) -> Option<&str> {
        a.actors
            .iter()
            .chain(&a.targets)
            .find_map(|e| match e {
                Entity::Ip(ip) => self.ip(*ip),
                Entity::Domain(d) | Entity::Host(d) => self.name(d),
                _ => None,
            })
            // An address finding names the server the address was looked
            // up as (a TLS name, an HTTP Host, a DNS answer).
            .or_else(|| {
                a.evidence
                    .iter()
                    .filter(|(k, _)| k == "server_name")
                    .find_map(|(_, v)| self.name(v))
            })
    }

    /// Splits findings into those kept and a count of those set aside, per list.
    pub fn filter(&self, alerts: Vec<Alert>) -> (Vec<Alert>, BTreeMap<String, usize>) {
        let mut aside: BTreeMap<String, usize> = BTreeMap::new();
        let kept = alerts
            .into_iter()
            .filter(|a| match self.matches(a) {
                Some(list) => {
                    *aside.entry(list.to_owned()).or_default() += 1;
                    false
                }
                None => true,
            })
            .collect();
        (kept, aside)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_names_and_the_region_itself() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("a.json"),
            r#"{"name":"cloud","type":"cidr","list":["20.0.0.0/8","2001:db8::/32","10.0.0.0/8"]}"#,
        )
        .unwrap();
        std::fs::write(
            dir.path().join("b.json"),
            r#"{"name":"vendor","type":"hostname","list":[".microsoft.com","eset.com."]}"#,
        )
        .unwrap();
        std::fs::write(
            dir.path().join("c.json"),
            r#"{"name":"re","type":"regex","list":["^x$"]}"#,
        )
        .unwrap();
        let l = Warninglists::load(&[dir.path().to_owned()]).unwrap();
        assert_eq!(l.len(), 2);
        assert_eq!(l.unused.len(), 1);
        assert_eq!(l.ip("20.54.24.231".parse().unwrap()), Some("cloud"));
        assert_eq!(l.ip("21.0.0.1".parse().unwrap()), None);
        assert_eq!(l.ip("2001:db8::1".parse().unwrap()), Some("cloud"));
        // The region's own addresses are never allow-listed.
        assert_eq!(l.ip("10.1.2.3".parse().unwrap()), None);
        assert_eq!(l.name("update.microsoft.com."), Some("vendor"));
        assert_eq!(l.name("microsoft.com"), Some("vendor"));
        assert_eq!(l.name("notmicrosoft.com"), None);
        assert_eq!(l.name("ts.eset.com"), Some("vendor"));
        std::fs::write(
            dir.path().join("d.json"),
            r#"{"name":"bad","type":"cidr","list":["300.1.1.1/8"]}"#,
        )
        .unwrap();
        let e = Warninglists::load(&[dir.path().to_owned()]).unwrap_err();
        assert!(e.to_string().contains("entry 0 `300.1.1.1/8`"), "{e}");
    }

    #[test]
    fn the_shared_warninglists_load() {
        let p = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../../shared/data/misp-warninglists/lists");
        let l = Warninglists::load(&[p]).unwrap();
        assert!(l.len() >= 30, "{}", l.len());
        assert!(l.ip("8.8.8.8".parse().unwrap()).is_some());
        assert!(l.name("www.microsoft.com").is_some());
    }
}
