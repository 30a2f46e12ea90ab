//! The asset register (a CMDB export, CSV): which host has which address,
//! what it is for, and whose patient records it holds. Incidents use it to
//! see a host name and its address as one host; scoping uses it to tell
//! the machines people read records from (clients) from the systems that
//! hold records (possible exposure).

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use rustc_hash::FxHashMap;

use crate::site::host_key;

/// One host.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Asset {
    /// Host name (as compared: lower case, short).
    pub name: String,
    /// Address.
    pub ip: Option<IpAddr>,
    /// What it is for (`workstation`, `ehr-server`, `domain-controller`, …).
    pub kind: String,
    /// The organisation it belongs to.
    pub trust: String,
    /// The organisation whose patient records it holds (EHR, imaging, backup), if any.
    pub holds_patients_of: Option<String>,
}

/// The register.
#[derive(Debug, Clone, Default)]
pub struct Assets {
    /// Hosts.
    pub hosts: Vec<Asset>,
    by_name: FxHashMap<String, usize>,
    by_ip: FxHashMap<IpAddr, usize>,
    /// Rows that could not be used (`file:line: why`).
    pub problems: Vec<String>,
}

impl Assets {
    /// Loads CSV registers (header row with `host` or `name`, `ip` or
    /// `address`, and optionally `kind`, `trust`, `holds_patients_of`);
    /// folders are searched for files named `*assets*.csv`.
    pub fn load(paths: &[PathBuf]) -> Assets {
        let mut files = Vec::new();
        let mut a = Assets::default();
        for p in paths {
            let keep = |f: &Path| {
                f.extension().is_some_and(|e| e == "csv")
                    && f.file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| n.contains("assets"))
            };
            if p.is_dir() {
                if let Err(e) = vakt_core::files::walk(p, &keep, &mut files) {
                    a.problems.push(format!("{}: {e}", p.display()));
                }
            } else {
                files.push(p.clone());
            }
        }
        for f in files {
            match std::fs::read_to_string(&f) {
                Ok(text) => a.read_csv(&f, &text),
                Err(e) => a.problems.push(format!("{}: {e}", f.display())),
            }
        }
        a
    }

    fn read_csv(&mut self, file: &Path, text: &str) {
        let mut lines = text.lines().enumerate();
        let Some((_, header)) = lines.next() else {
            return;
        };
        let cols: Vec<String> = header
            .split(',')
            .map(|c| c.trim().to_ascii_lowercase())
            .collect();
        let col = |names: &[&str]| cols.iter().position(|c| names.contains(&c.as_str()));
        let (Some(host), Some(ip)) = (
            col(&["host", "name", "hostname"]),
            col(&["ip", "address", "ip_address"]),
        ) else {
            self.problems.push(format!(
                "{}:1: no `host` and `ip` columns in the header",
                file.display()
            ));
            return;
        };
        let (kind, trust, holds) = (
            col(&["kind", "type", "role"]),
            col(&["trust", "organisation", "organization"]),
            col(&["holds_patients_of"]),
        );
        for (i, line) in lines {
            if line.trim().is_empty() {
                continue;
            }
            let f: Vec<&str> = line.split(',').map(str::trim).collect();
            let get = |c: Option<usize>| c.and_then(|c| f.get(c)).copied().unwrap_or("");
            let name = host_key(get(Some(host)));
            let addr = get(Some(ip));
            let parsed = if addr.is_empty() {
                None
            } else {
                match addr.parse::<IpAddr>() {
                    Ok(a) => Some(a),
                    Err(_) => {
                        self.problems.push(format!(
                            "{}:{}: `{addr}` is not an address",
                            file.display(),
                            i + 1
                        ));
                        continue;
                    }
                }
            };
            if name.is_empty() {
                self.problems
                    .push(format!("{}:{}: no host name", file.display(), i + 1));
                continue;
            }
            let holds = get(holds);
            let n = self.hosts.len();
            self.by_name.insert(name.clone(), n);
            if let Some(a) = parsed {
                self.by_ip.insert(a, n);
            }
            self.hosts.push(Asset {
                name,
                ip: parsed,
                kind: get(kind).to_ascii_lowercase(),
                trust: get(trust).to_owned(),
                holds_patients_of: (!holds.is_empty()).then(|| holds.to_owned()),
            });
        }
    }

    /// The host with this name.
    pub fn by_name(&self, name: &str) -> Option<&Asset> {
        self.by_name.get(&host_key(name)).map(|i| &self.hosts[*i])
    }

    /// The host with this address.
    pub fn by_ip(&self, ip: &IpAddr) -> Option<&Asset> {
        self.by_ip.get(ip).map(|i| &self.hosts[*i])
    }

    /// Whether the register knows any host.
    pub fn is_empty(&self) -> bool {
        self.hosts.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn register_rows_and_problems() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x-assets.csv");
        std::fs::write(
            &p,
            "host,ip,kind,trust,holds_patients_of\nWS-1.helse.local,10.0.0.5,workstation,ahus,\nehr-1,10.0.1.5,ehr-server,ahus,ahus\nbad,10.0.0.999,workstation,ahus,\n",
        )
        .unwrap();
        let a = Assets::load(&[dir.path().to_owned()]);
        assert_eq!(a.hosts.len(), 2);
        assert_eq!(
            a.by_name("ws-1").unwrap().ip,
            Some("10.0.0.5".parse().unwrap())
        );
        assert_eq!(
            a.by_ip(&"10.0.1.5".parse().unwrap())
                .unwrap()
                .holds_patients_of
                .as_deref(),
            Some("ahus")
        );
        assert_eq!(a.problems.len(), 1);
        assert!(
            a.problems[0].ends_with(":4: `10.0.0.999` is not an address"),
            "{:?}",
            a.problems
        );
    }
}
