//! vakt-intel: threat intelligence for vakt — indicators loaded from STIX 2.1
//! bundles, MISP events and plain or CSV lists (abuse.ch), suppression by
//! MISP warninglists, and matching every event against all indicators.
//!
//! An [`Indicator`] is one observable value (an address or network, a domain,
//! a URL, a file hash, an e-mail address) with where it came from and what the
//! source said of it (confidence, validity, TLP, kill-chain phases, `to_ids`).
//! Loading never stops at a bad indicator: each is reported with its source
//! (file, and the indicator's id or line) and skipped, the rest load.
//! [`Matcher`] holds any number of indicators in structures made for the
//! look-up: exact addresses in a hash set, networks by prefix length, domains
//! with their parent domains (an indicator `evil.example` matches
//! `a.b.evil.example`), URLs normalised, hashes by value. [`retro`] searches
//! the event store's history for new indicators; [`warninglist`] reads MISP
//! warninglists (indicators on one are kept but alert only when forced; the
//! same lists set behaviour findings aside as allow-lists).
//!
//! Not here: raising alerts (the indicator detector of `vakt-detect` runs
//! the [`Matcher`] over every event).

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod export;
mod lists;
mod matcher;
mod misp;
pub mod retro;
mod stix;
pub mod warninglist;

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use matcher::{Hit, Matcher};
pub use warninglist::{WarninglistError, Warninglists};

/// What an indicator's value is.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// One IP address.
    Ip,
    /// An IP network (CIDR).
    Cidr,
    /// A domain or host name (subdomains match).
    Domain,
    /// A URL.
    Url,
    /// An MD5 hash.
    Md5,
    /// A SHA-1 hash.
    Sha1,
    /// A SHA-256 hash.
    Sha256,
    /// An e-mail address.
    Email,
}

impl Kind {
    /// Its name in reports.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Ip => "ip",
            Kind::Cidr => "cidr",
            Kind::Domain => "domain",
            Kind::Url => "url",
            Kind::Md5 => "md5",
            Kind::Sha1 => "sha1",
            Kind::Sha256 => "sha256",
            Kind::Email => "email",
        }
    }
}

/// One indicator.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Indicator {
    /// What the value is.
    pub kind: Kind,
    /// The value, normalised (lower-case names and hashes, canonical addresses and networks).
    pub value: String,
    /// The file or feed it came from.
    pub source: Arc<str>,
    /// Its id in the source (STIX id, MISP attribute uuid, list line).
    pub id: String,
    /// A name or description (the STIX indicator's name, the MISP event's info).
    pub name: String,
    /// Confidence 0-100, when given.
    pub confidence: Option<u8>,
    /// Valid from and until (ns since the epoch), when given.
    pub valid: (Option<i64>, Option<i64>),
    /// TLP marking (`white`, `green`, `amber`, `red`, `clear`), when given.
    pub tlp: Option<String>,
    /// Kill-chain phases.
    pub kill_chain: Vec<String>,
    /// Whether it is meant for detection (MISP `to_ids`; STIX indicators always).
    pub to_ids: bool,
    /// The warninglist it is on, if any: loaded, but alerts only with force.
    pub warning: Option<String>,
    /// Sightings the source reports (MISP `Sighting` entries of the attribute).
    #[serde(default)]
    pub sightings: u32,
}

/// A problem with one indicator (or a whole file), with where it was.
#[derive(Debug, Clone, PartialEq)]
pub struct IntelProblem {
    /// The file.
    pub path: PathBuf,
    /// Where in it (an id, `line N`, or empty for the whole file).
    pub at: String,
    /// What was wrong.
    pub reason: String,
}

impl std::fmt::Display for IntelProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.at.is_empty() {
            write!(f, "{}: {}", self.path.display(), self.reason)
        } else {
            write!(f, "{} ({}): {}", self.path.display(), self.at, self.reason)
        }
    }
}

/// What loading gave.
#[derive(Debug, Default)]
pub struct Loaded {
    /// The indicators.
    pub indicators: Vec<Indicator>,
    /// What was skipped, and why.
    pub problems: Vec<IntelProblem>,
    /// Patterns or attributes understood but not usable as indicators
    /// (e.g. STIX patterns joined with AND, regular expressions, MISP
    /// attribute types that are not observables), counted by reason.
    pub unsupported: std::collections::BTreeMap<String, usize>,
}

impl Loaded {
    /// Indicators per kind.
    pub fn counts(&self) -> std::collections::BTreeMap<&'static str, usize> {
        let mut m = std::collections::BTreeMap::new();
        for i in &self.indicators {
            *m.entry(i.kind.name()).or_default() += 1;
        }
        m
    }

    fn problem(&mut self, path: &Path, at: impl Into<String>, reason: impl Into<String>) {
        self.problems.push(IntelProblem {
            path: path.to_owned(),
            at: at.into(),
            reason: reason.into(),
        });
    }

    fn unsupported(&mut self, why: impl Into<String>) {
        *self.unsupported.entry(why.into()).or_default() += 1;
    }

    /// Marks indicators on a warninglist (loaded, kept, flagged).
    pub fn mark_warninglisted(&mut self, lists: &Warninglists) {
        for i in &mut self.indicators {
            let hit = match i.kind {
                Kind::Ip => i.value.parse::<IpAddr>().ok().and_then(|ip| lists.ip(ip)),
                Kind::Cidr => i
                    .value
                    .split('/')
                    .next()
                    .and_then(|a| a.parse::<IpAddr>().ok())
                    .and_then(|ip| lists.ip(ip)),
                Kind::Domain => lists.name(&i.value),
                Kind::Url => matcher::url_host(&i.value).and_then(|h| lists.name(&h)),
                _ => None,
            };
            i.warning = hit.map(str::to_owned);
        }
    }
}

/// Normalises a value of a kind; `Err` says why it is not one.
pub fn normalise(kind: Kind, raw: &str) -> Result<String, String> {
    let v = raw.trim();
    if v.is_empty() {
        return Err("empty value".into());
    }
    match kind {
        Kind::Ip => v
            .parse::<IpAddr>()
            .map(|ip| ip.to_string())
            .map_err(|_| format!("`{v}` is not an IP address")),
        Kind::Cidr => {
            let (a, l) = v
                .split_once('/')
                .ok_or_else(|| format!("`{v}` is not a network"))?;
            let ip: IpAddr = a.parse().map_err(|_| format!("`{v}` is not a network"))?;
            let len: u8 = l
                .parse()
                .map_err(|_| format!("`{v}` has a bad prefix length"))?;
            let max = if ip.is_ipv4() { 32 } else { 128 };
            if len > max {
                return Err(format!("`{v}` has a prefix longer than {max}"));
            }
            Ok(format!("{}/{len}", matcher::mask(ip, len)))
        }
        Kind::Domain => {
            let d = v.trim_end_matches('.').to_ascii_lowercase();
            let ok = d.contains('.')
                && d.len() <= 253
                && d.split('.').all(|l| {
                    !l.is_empty()
                        && l.len() <= 63
                        && l.bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
                });
            if ok {
                Ok(d)
            } else {
                Err(format!("`{v}` is not a domain name"))
            }
        }
        Kind::Url => matcher::normalise_url(v).ok_or_else(|| format!("`{v}` is not a URL")),
        Kind::Md5 | Kind::Sha1 | Kind::Sha256 => {
            let want = match kind {
                Kind::Md5 => 32,
                Kind::Sha1 => 40,
                _ => 64,
            };
            let h = v.to_ascii_lowercase();
            if h.len() == want && h.bytes().all(|b| b.is_ascii_hexdigit()) {
                Ok(h)
            } else {
                Err(format!("`{v}` is not a {} hash", kind.name()))
            }
        }
        Kind::Email => {
            let e = v.to_ascii_lowercase();
            match e.split_once('@') {
                Some((l, d)) if !l.is_empty() && d.contains('.') => Ok(e),
                _ => Err(format!("`{v}` is not an e-mail address")),
            }
        }
    }
}

/// The kind of a bare value (for plain lists): address, network, hash by length, URL, e-mail, domain.
pub fn guess(raw: &str) -> Option<Kind> {
    let v = raw.trim();
    if v.parse::<IpAddr>().is_ok() {
        return Some(Kind::Ip);
    }
    if v.contains('/') && normalise(Kind::Cidr, v).is_ok() {
        return Some(Kind::Cidr);
    }
    if v.contains("://") {
        return Some(Kind::Url);
    }
    if v.bytes().all(|b| b.is_ascii_hexdigit()) {
        return match v.len() {
            32 => Some(Kind::Md5),
            40 => Some(Kind::Sha1),
            64 => Some(Kind::Sha256),
            _ => None,
        };
    }
    if v.contains('@') {
        return Some(Kind::Email);
    }
    normalise(Kind::Domain, v).is_ok().then_some(Kind::Domain)
}

/// Loads indicator files (folders walked, in name order): STIX 2.1 (a bundle
/// or objects), MISP events (`{"Event": …}`, a list of them, or
/// `{"response": […]}`), CSV lists with a header naming an indicator column
/// (abuse.ch), or plain lists (one value per line, `#` comments).
pub fn load(paths: &[PathBuf]) -> Loaded {
    let mut out = Loaded::default();
    let mut files = Vec::new();
    for p in paths {
        if let Err(e) = vakt_core::files::walk(p, &|_| true, &mut files) {
            out.problem(p, "", format!("cannot read: {e}"));
        }
    }
    for f in files {
        let text = match std::fs::read_to_string(&f) {
            Ok(t) => t,
            Err(e) => {
                out.problem(&f, "", format!("cannot read: {e}"));
                continue;
            }
        };
        let trimmed = text.trim_start();
        if trimmed.starts_with('{') || trimmed.starts_with('[') {
            match serde_json::from_str::<serde_json::Value>(trimmed) {
                Ok(doc) => {
                    let source: Arc<str> = Arc::from(f.to_string_lossy().as_ref());
                    if misp::is_misp(&doc) {
                        misp::load(&doc, &f, &source, &mut out);
                    } else if stix::is_stix(&doc) {
                        stix::load(&doc, &f, &source, &mut out);
                    } else {
                        out.problem(&f, "", "JSON that is neither STIX 2.1 nor a MISP event");
                    }
                }
                Err(e) => out.problem(&f, "", format!("not JSON: {e}")),
            }
        } else if f.extension().is_some_and(|x| x == "md" || x == "html")
            || f.file_name().is_some_and(|n| n == "LICENSE")
        {
            // Documentation next to the data.
        } else {
            lists::load(&text, &f, &mut out);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalising_and_guessing() {
        assert_eq!(
            normalise(Kind::Cidr, "223.167.1.1/15").unwrap(),
            "223.166.0.0/15"
        );
        assert_eq!(
            normalise(Kind::Domain, "WWW.Evil.Example.").unwrap(),
            "www.evil.example"
        );
        assert!(normalise(Kind::Domain, "not a domain").is_err());
        assert!(normalise(Kind::Ip, "10.0.0.300").is_err());
        assert!(normalise(Kind::Sha256, "abc").is_err());
        assert_eq!(guess("192.0.2.1"), Some(Kind::Ip));
        assert_eq!(guess("192.0.2.0/24"), Some(Kind::Cidr));
        assert_eq!(guess("d41d8cd98f00b204e9800998ecf8427e"), Some(Kind::Md5));
        assert_eq!(guess("http://x.example/a"), Some(Kind::Url));
        assert_eq!(guess("evil.example"), Some(Kind::Domain));
        assert_eq!(guess("a@b.example"), Some(Kind::Email));
        assert_eq!(guess("hello"), None);
    }
}
