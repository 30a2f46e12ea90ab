//! Retro-hunt: new indicators searched over the stored history, because the
//! first sign of an advanced attacker is often an indicator published weeks
//! after the first contact. The store's bloom filters let the look-up read
//! only the row groups that may hold an indicator's value
//! ([`vakt_store::Store::lookup`]).

use std::collections::BTreeSet;

use vakt_store::{LookupRow, Store, StoreError, domain_base};

use crate::{Indicator, Kind, Matcher};

/// Where and when one indicator was seen in the stored history.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Sighting {
    /// The indicator's kind.
    pub kind: &'static str,
    /// Its value.
    pub value: String,
    /// Where it came from (file or feed) and its id there.
    pub source: String,
    /// Its id in the source.
    pub id: String,
    /// Events that matched.
    pub count: u64,
    /// First and last matching event (ns).
    pub first: i64,
    /// Last matching event (ns).
    pub last: i64,
    /// Hosts (names, else source addresses) involved.
    pub hosts: BTreeSet<String>,
    /// Accounts involved.
    pub users: BTreeSet<String>,
    /// Source kinds of the matching events.
    pub sources: BTreeSet<String>,
    /// The first few matching events' origins (`file:line`).
    pub origins: Vec<String>,
}

/// A retro-hunt's result.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct Sightings {
    /// Per indicator that was seen, in the indicators' order.
    pub sightings: Vec<Sighting>,
    /// Segments in the store, and those the look-up had to open for data.
    pub segments: (usize, usize),
    /// Row groups in the store, and those read.
    pub row_groups: (usize, usize),
    /// Events read and compared.
    pub events_read: u64,
    /// Indicators whose kind the store cannot look up (e-mail addresses).
    pub not_searchable: usize,
}

/// Searches the whole stored history for these indicators.
pub fn hunt(store: &Store, indicators: &[Indicator]) -> Result<Sightings, StoreError> {
    let mut out = Sightings::default();
    let matcher = Matcher::new(indicators.to_vec());
    // What to ask each bloom filter: (column, value).
    let mut probes: Vec<(&str, String)> = Vec::new();
    let mut must_read_ips = false;
    for i in indicators {
        match i.kind {
            Kind::Ip => {
                probes.push(("src_ip", i.value.clone()));
                probes.push(("dst_ip", i.value.clone()));
            }
            Kind::Cidr => must_read_ips = true,
            Kind::Domain => probes.push(("domain_base", domain_base(&i.value).to_owned())),
            Kind::Url => probes.push(("url", i.value.replacen("https://", "http://", 1))),
            Kind::Md5 => probes.push(("md5", i.value.clone())),
            Kind::Sha1 => probes.push(("sha1", i.value.clone())),
            Kind::Sha256 => probes.push(("sha256", i.value.clone())),
            Kind::Email => out.not_searchable += 1,
        }
    }
    let mut found: Vec<Option<Sighting>> = vec![None; indicators.len()];
    let mut hits: Vec<u32> = Vec::new();
    let st = store.lookup(&probes, must_read_ips, |r: &LookupRow<'_>| {
        hits.clear();
        for c in ["src_ip", "dst_ip"] {
            if let Some(ip) = r.get(c).and_then(|s| s.parse().ok()) {
                matcher.ip(ip, |i| hits.push(i));
            }
        }
        if let Some(d) = r.get("domain") {
            matcher.name(d, |i| hits.push(i));
        }
        if let Some(u) = r.get("url") {
            matcher.url(u, |i| hits.push(i));
            matcher.url(&u.replacen("http://", "https://", 1), |i| hits.push(i));
        }
        for c in ["md5", "sha1", "sha256"] {
            if let Some(h) = r.get(c) {
                matcher.hash(h, |i| hits.push(i));
            }
        }
        if hits.is_empty() {
            return;
        }
        hits.sort_unstable();
        hits.dedup();
        for &i in &hits {
            let ind = &indicators[i as usize];
            let s = found[i as usize].get_or_insert_with(|| Sighting {
                kind: ind.kind.name(),
                value: ind.value.clone(),
                source: ind.source.to_string(),
                id: ind.id.clone(),
                count: 0,
                first: r.time,
                last: r.time,
                hosts: BTreeSet::new(),
                users: BTreeSet::new(),
                sources: BTreeSet::new(),
                origins: Vec::new(),
            });
            s.count += 1;
            s.first = s.first.min(r.time);
            s.last = s.last.max(r.time);
            if let Some(h) = r.get("host").or_else(|| r.get("src_ip"))
                && s.hosts.len() < 100
            {
                s.hosts.insert(h.to_owned());
            }
            if let Some(u) = r.get("user")
                && s.users.len() < 100
            {
                s.users.insert(u.to_owned());
            }
            if let Some(k) = r.get("source") {
                s.sources.insert(k.to_owned());
            }
            if s.origins.len() < 5 {
                s.origins.push(format!(
                    "{}:{}",
                    r.get("origin_path").unwrap_or_default(),
                    r.get("origin_at").unwrap_or_default()
                ));
            }
        }
    })?;
    out.segments = st.segments;
    out.row_groups = st.row_groups;
    out.events_read = st.rows;
    out.sightings = found.into_iter().flatten().collect();
    Ok(out)
}
