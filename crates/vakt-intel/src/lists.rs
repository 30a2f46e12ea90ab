//! Lists: CSV with a header naming the indicator column (abuse.ch:
//! `dst_ip`, `ip`, `ip_address`, `domain`, `host`, `url`, `md5_hash`,
//! `sha1_hash`, `sha256_hash`, …; quoted fields; `#` comment lines), or one
//! value per line (its kind guessed: address, network, hash by length, URL,
//! e-mail, domain). A line that is no indicator is reported with its number.

use std::path::Path;
use std::sync::Arc;

use crate::{Indicator, Kind, Loaded, guess, normalise};

fn fields(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                cur.push('"');
                chars.next();
            }
            '"' => quoted = !quoted,
            ',' if !quoted => out.push(std::mem::take(&mut cur)),
            _ => cur.push(c),
        }
    }
    out.push(cur);
    out.into_iter().map(|f| f.trim().to_owned()).collect()
}

fn column_kind(name: &str) -> Option<Kind> {
    let n = name.to_ascii_lowercase();
    Some(match n.as_str() {
        "dst_ip" | "ip" | "ip_address" | "ipaddress" | "src_ip" | "ioc_ip" => Kind::Ip,
        "domain" | "host" | "hostname" | "domain_name" => Kind::Domain,
        "url" => Kind::Url,
        "md5" | "md5_hash" => Kind::Md5,
        "sha1" | "sha1_hash" => Kind::Sha1,
        "sha256" | "sha256_hash" => Kind::Sha256,
        _ => return None,
    })
}

pub fn load(text: &str, path: &Path, out: &mut Loaded) {
    let source: Arc<str> = Arc::from(path.to_string_lossy().as_ref());
    let mut columns: Option<Vec<(usize, Kind)>> = None;
    let mut name_col = None;
    let mut first_col = None;
    let mut header_seen = false;
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        let at = format!("line {}", i + 1);
        if line.is_empty() || line.starts_with('#') || line.starts_with("//") {
            continue;
        }
        let f = fields(line);
        if !header_seen {
            header_seen = true;
            let cols: Vec<(usize, Kind)> = f
                .iter()
                .enumerate()
                .filter_map(|(j, h)| column_kind(h).map(|k| (j, k)))
                .collect();
            if !cols.is_empty() {
                name_col = f.iter().position(|h| {
                    let h = h.to_ascii_lowercase();
                    h == "malware" || h == "malware_printable" || h == "threat"
                });
                first_col = f
                    .iter()
                    .position(|h| h.to_ascii_lowercase().starts_with("first_seen"));
                columns = Some(cols);
                continue;
            }
        }
        let values: Vec<(Kind, String)> = match &columns {
            Some(cols) => cols
                .iter()
                .filter_map(|(j, k)| f.get(*j).map(|v| (*k, v.clone())))
                .filter(|(_, v)| !v.is_empty())
                .collect(),
            None => match guess(line) {
                Some(k) => vec![(k, line.to_owned())],
                None => {
                    out.problem(path, at, format!("`{line}` is not an indicator"));
                    continue;
                }
            },
        };
        if values.is_empty() {
            out.problem(path, at, "no indicator value on this line");
            continue;
        }
        let name = name_col.and_then(|c| f.get(c)).cloned().unwrap_or_default();
        let first = first_col
            .and_then(|c| f.get(c))
            .and_then(|t| vakt_core::Timestamp::parse(&t.replace(' ', "T")).ok())
            .map(|t| t.0);
        for (k, v) in values {
            match normalise(k, &v) {
                Ok(value) => out.indicators.push(Indicator {
                    kind: k,
                    value,
                    source: source.clone(),
                    id: at.clone(),
                    name: name.clone(),
                    confidence: None,
                    valid: (first, None),
                    tlp: None,
                    kill_chain: Vec::new(),
                    to_ids: true,
                    warning: None,
                    sightings: 0,
                }),
                Err(why) => out.problem(path, at.clone(), why),
            }
        }
    }
}
