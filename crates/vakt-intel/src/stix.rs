//! STIX 2.1: indicators with STIX patterns.
//!
//! A pattern is read with its own small tokenizer (the STIX patterning
//! grammar). An indicator becomes one vakt indicator per observable value
//! when its pattern is a disjunction — comparisons joined with `OR`, in one
//! or several observation expressions joined with `OR` — of `=`, `IN` or
//! (for addresses) `ISSUBSET` on `ipv4-addr:value`, `ipv6-addr:value`,
//! `domain-name:value`, `url:value`, `file:hashes.MD5|'SHA-1'|'SHA-256'`,
//! `email-addr:value` or `email-message:from_ref.value`. Patterns that need
//! several observations together (`AND`, `FOLLOWEDBY`), other operators
//! (`MATCHES`, `LIKE`, `!=`, comparisons) or other objects cannot be matched
//! value by value: they are counted as unsupported, with the reason.

use std::path::Path;
use std::sync::Arc;

use serde_json::Value as Json;

use crate::{Indicator, Kind, Loaded, normalise};

pub fn is_stix(doc: &Json) -> bool {
    match doc {
        Json::Object(o) => {
            o.get("type").and_then(Json::as_str).is_some()
                && (o.contains_key("objects")
                    || o.contains_key("spec_version")
                    || o.contains_key("id"))
        }
        Json::Array(a) => a.first().is_some_and(is_stix),
        _ => false,
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    LBracket,
    RBracket,
    LParen,
    RParen,
    Comma,
    Word(String),
    Str(String),
    Op(String),
}

fn tokens(p: &str) -> Result<Vec<Tok>, String> {
    let mut out = Vec::new();
    let c: Vec<char> = p.chars().collect();
    let mut i = 0;
    while i < c.len() {
        let ch = c[i];
        match ch {
            ' ' | '\t' | '\n' | '\r' => i += 1,
            '[' => {
                out.push(Tok::LBracket);
                i += 1;
            }
            ']' => {
                out.push(Tok::RBracket);
                i += 1;
            }
            '(' => {
                out.push(Tok::LParen);
                i += 1;
            }
            ')' => {
                out.push(Tok::RParen);
                i += 1;
            }
            ',' => {
                out.push(Tok::Comma);
                i += 1;
            }
            '\'' => {
                let mut s = String::new();
                i += 1;
                loop {
                    match c.get(i) {
                        None => return Err("unterminated string".into()),
                        Some('\\') => {
                            if let Some(n) = c.get(i + 1) {
                                s.push(*n);
                            }
                            i += 2;
                        }
                        Some('\'') => {
                            i += 1;
                            break;
                        }
                        Some(x) => {
                            s.push(*x);
                            i += 1;
                        }
                    }
                }
                out.push(Tok::Str(s));
            }
            '=' | '!' | '<' | '>' => {
                let mut op = ch.to_string();
                if c.get(i + 1) == Some(&'=') {
                    op.push('=');
                    i += 1;
                }
                out.push(Tok::Op(op));
                i += 1;
            }
            _ => {
                // A word: object paths (with quoted keys inside), keywords, numbers, t'…' literals.
                let mut s = String::new();
                while i < c.len()
                    && !matches!(
                        c[i],
                        ' ' | '\t'
                            | '\n'
                            | '\r'
                            | '['
                            | ']'
                            | '('
                            | ')'
                            | ','
                            | '='
                            | '!'
                            | '<'
                            | '>'
                    )
                {
                    // A list index inside a path: `body_multipart[*]`, `values[0]`.
                    if c.get(i + 1) == Some(&'[')
                        && let Some(end) = c[i + 2..].iter().position(|x| *x == ']')
                        && c[i + 2..i + 2 + end]
                            .iter()
                            .all(|x| *x == '*' || x.is_ascii_digit())
                        && end > 0
                    {
                        s.push(c[i]);
                        s.extend(&c[i + 1..i + 3 + end]);
                        i += 3 + end;
                        continue;
                    }
                    if c[i] == '\'' {
                        // A quoted key inside a path (hashes.'SHA-256') or a typed literal (t'…').
                        s.push('\'');
                        i += 1;
                        while i < c.len() && c[i] != '\'' {
                            s.push(c[i]);
                            i += 1;
                        }
                        s.push('\'');
                        i += 1;
                        continue;
                    }
                    s.push(c[i]);
                    i += 1;
                }
                out.push(Tok::Word(s));
            }
        }
    }
    Ok(out)
}

/// The kind an object path gives, if it is one vakt matches.
fn kind_of(path: &str) -> Option<Kind> {
    let p = path.to_ascii_lowercase().replace('"', "'");
    Some(match p.as_str() {
        "ipv4-addr:value" | "ipv6-addr:value" => Kind::Ip,
        "domain-name:value" => Kind::Domain,
        "url:value" => Kind::Url,
        "file:hashes.md5" | "file:hashes.'md5'" => Kind::Md5,
        "file:hashes.'sha-1'" | "file:hashes.sha1" | "file:hashes.'sha1'" => Kind::Sha1,
        "file:hashes.'sha-256'" | "file:hashes.sha256" | "file:hashes.'sha256'" => Kind::Sha256,
        "email-addr:value" | "email-message:from_ref.value" | "email-message:sender_ref.value" => {
            Kind::Email
        }
        _ => return None,
    })
}

/// The observable values of a pattern that is a disjunction of supported
/// comparisons; `Err` (unsupported, with why) otherwise.
pub fn pattern_values(pattern: &str) -> Result<Vec<(Kind, String)>, String> {
    let toks = tokens(pattern)?;
    let mut out = Vec::new();
    let mut i = 0;
    let mut depth = 0i32;
    while i < toks.len() {
        match &toks[i] {
            Tok::LBracket | Tok::LParen => {
                depth += 1;
                i += 1;
            }
            Tok::RBracket | Tok::RParen => {
                depth -= 1;
                i += 1;
            }
            Tok::Word(w) if w.eq_ignore_ascii_case("OR") => i += 1,
            Tok::Word(w)
                if w.eq_ignore_ascii_case("AND") || w.eq_ignore_ascii_case("FOLLOWEDBY") =>
            {
                return Err(format!(
                    "{} of several observations",
                    w.to_ascii_uppercase()
                ));
            }
            Tok::Word(w)
                if ["WITHIN", "START", "STOP", "REPEATS"]
                    .iter()
                    .any(|q| w.eq_ignore_ascii_case(q)) =>
            {
                // A qualifier applies to what is already read; skip its arguments.
                i += 1;
                while i < toks.len()
                    && !matches!(&toks[i], Tok::LBracket | Tok::RParen | Tok::RBracket)
                {
                    if let Tok::Word(x) = &toks[i]
                        && (x.eq_ignore_ascii_case("OR") || x.eq_ignore_ascii_case("AND"))
                    {
                        break;
                    }
                    i += 1;
                }
            }
            Tok::Word(path) => {
                let mut j = i + 1;
                let negated =
                    matches!(toks.get(j), Some(Tok::Word(n)) if n.eq_ignore_ascii_case("NOT"));
                if negated {
                    return Err("NOT comparison".into());
                }
                let op = match toks.get(j) {
                    Some(Tok::Op(o)) => o.clone(),
                    Some(Tok::Word(o)) => o.to_ascii_uppercase(),
                    _ => return Err(format!("no operator after `{path}`")),
                };
                j += 1;
                let kind = kind_of(path).ok_or_else(|| {
                    format!(
                        "object path `{}` not matched",
                        path.split('.').next().unwrap_or(path)
                    )
                })?;
                match op.as_str() {
                    "=" => match toks.get(j) {
                        Some(Tok::Str(v)) => {
                            let k = if kind == Kind::Ip && v.contains('/') {
                                Kind::Cidr
                            } else {
                                kind
                            };
                            out.push((k, v.clone()));
                            j += 1;
                        }
                        _ => return Err("`=` without a string".into()),
                    },
                    "ISSUBSET" if kind == Kind::Ip => match toks.get(j) {
                        Some(Tok::Str(v)) => {
                            out.push((Kind::Cidr, v.clone()));
                            j += 1;
                        }
                        _ => return Err("ISSUBSET without a string".into()),
                    },
                    "IN" => {
                        if toks.get(j) != Some(&Tok::LParen) {
                            return Err("IN without a list".into());
                        }
                        j += 1;
                        while let Some(t) = toks.get(j) {
                            match t {
                                Tok::Str(v) => out.push((kind, v.clone())),
                                Tok::Comma => {}
                                Tok::RParen => break,
                                _ => return Err("IN list of other than strings".into()),
                            }
                            j += 1;
                        }
                        j += 1;
                    }
                    other => return Err(format!("operator {other}")),
                }
                i = j;
            }
            Tok::Str(_) | Tok::Op(_) | Tok::Comma => return Err("malformed pattern".into()),
        }
    }
    if depth != 0 {
        return Err("unbalanced brackets".into());
    }
    if out.is_empty() {
        return Err("no comparison".into());
    }
    Ok(out)
}

fn time(v: Option<&Json>) -> Option<i64> {
    vakt_core::Timestamp::parse(v?.as_str()?).ok().map(|t| t.0)
}

pub fn load(doc: &Json, path: &Path, source: &Arc<str>, out: &mut Loaded) {
    let objects: Vec<&Json> = match doc {
        Json::Array(a) => a.iter().collect(),
        Json::Object(o) if o.get("type").and_then(Json::as_str) == Some("bundle") => o
            .get("objects")
            .and_then(Json::as_array)
            .map(|a| a.iter().collect())
            .unwrap_or_default(),
        other => vec![other],
    };
    // TLP markings: marking-definition id → level.
    let mut tlp: std::collections::HashMap<&str, String> = std::collections::HashMap::new();
    for o in &objects {
        if o.get("type").and_then(Json::as_str) == Some("marking-definition") {
            let level = o
                .get("definition")
                .and_then(|d| d.get("tlp"))
                .and_then(Json::as_str)
                .map(str::to_owned)
                .or_else(|| {
                    o.get("name")
                        .and_then(Json::as_str)
                        .and_then(|n| n.strip_prefix("TLP:"))
                        .map(|s| s.to_ascii_lowercase())
                });
            if let (Some(id), Some(l)) = (o.get("id").and_then(Json::as_str), level) {
                tlp.insert(id, l);
            }
        }
    }
    // The four TLP 1.0 and 2.0 definitions have fixed ids.
    for (id, l) in [
        (
            "marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9",
            "white",
        ),
        (
            "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da",
            "green",
        ),
        (
            "marking-definition--f88d31f6-486f-44da-b317-01333bde0b82",
            "amber",
        ),
        (
            "marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed",
            "red",
        ),
        (
            "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487",
            "clear",
        ),
        (
            "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb",
            "green",
        ),
        (
            "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421",
            "amber",
        ),
        (
            "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003",
            "amber+strict",
        ),
        (
            "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1",
            "red",
        ),
    ] {
        tlp.entry(id).or_insert_with(|| l.to_owned());
    }
    for o in objects {
        if o.get("type").and_then(Json::as_str) != Some("indicator") {
            continue;
        }
        let id = o.get("id").and_then(Json::as_str).unwrap_or("").to_owned();
        let at = if id.is_empty() {
            "indicator without id".to_owned()
        } else {
            id.clone()
        };
        let Some(pattern) = o.get("pattern").and_then(Json::as_str) else {
            out.problem(path, at, "indicator without a pattern");
            continue;
        };
        let ptype = o
            .get("pattern_type")
            .and_then(Json::as_str)
            .unwrap_or("stix");
        if ptype != "stix" {
            out.unsupported(format!("STIX pattern_type {ptype}"));
            continue;
        }
        let values = match pattern_values(pattern) {
            Ok(v) => v,
            Err(why)
                if why.starts_with("unterminated")
                    || why.starts_with("malformed")
                    || why.starts_with("unbalanced")
                    || why.starts_with("no ")
                    || why.contains("without") =>
            {
                out.problem(path, at, format!("pattern `{pattern}`: {why}"));
                continue;
            }
            Err(why) => {
                out.unsupported(format!("STIX pattern: {why}"));
                continue;
            }
        };
        let name = o
            .get("name")
            .or_else(|| o.get("description"))
            .and_then(Json::as_str)
            .unwrap_or("")
            .to_owned();
        let confidence = o
            .get("confidence")
            .and_then(Json::as_u64)
            .map(|c| c.min(100) as u8);
        let valid = (time(o.get("valid_from")), time(o.get("valid_until")));
        let marking = o
            .get("object_marking_refs")
            .and_then(Json::as_array)
            .into_iter()
            .flatten()
            .filter_map(Json::as_str)
            .find_map(|m| tlp.get(m).cloned());
        let kill_chain: Vec<String> = o
            .get("kill_chain_phases")
            .and_then(Json::as_array)
            .into_iter()
            .flatten()
            .filter_map(|k| k.get("phase_name").and_then(Json::as_str))
            .map(str::to_owned)
            .collect();
        for (kind, raw) in values {
            match normalise(kind, &raw) {
                Ok(value) => out.indicators.push(Indicator {
                    kind,
                    value,
                    source: source.clone(),
                    id: id.clone(),
                    name: name.clone(),
                    confidence,
                    valid,
                    tlp: marking.clone(),
                    kill_chain: kill_chain.clone(),
                    to_ids: true,
                    warning: None,
                    sightings: 0,
                }),
                Err(why) => out.problem(path, at.clone(), why),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns() {
        assert_eq!(
            pattern_values("[ipv4-addr:value = '10.0.0.0']").unwrap(),
            vec![(Kind::Ip, "10.0.0.0".to_owned())]
        );
        assert_eq!(
            pattern_values("[ipv4-addr:value = '223.166.0.0/15']").unwrap()[0].0,
            Kind::Cidr
        );
        let v = pattern_values("[domain-name:value = 'a.example' OR ipv4-addr:value = '192.0.2.1'] OR [url:value = 'http://x.example/']").unwrap();
        assert_eq!(v.len(), 3);
        let v = pattern_values("[file:hashes.'SHA-256' = 'ef537f25c895bfa782526529a9b63d97aa631564d5d789c2b765448c8635fb6c']").unwrap();
        assert_eq!(v[0].0, Kind::Sha256);
        let v = pattern_values("[domain-name:value IN ('a.example', 'b.example')]").unwrap();
        assert_eq!(v.len(), 2);
        let v = pattern_values("[ipv4-addr:value ISSUBSET '198.51.100.0/24'] WITHIN 600 SECONDS")
            .unwrap();
        assert_eq!(v, vec![(Kind::Cidr, "198.51.100.0/24".into())]);
        assert!(
            pattern_values("[email-message:subject MATCHES '^x']")
                .unwrap_err()
                .contains("not matched")
        );
        assert!(
            pattern_values("[url:value MATCHES '^x']")
                .unwrap_err()
                .contains("MATCHES")
        );
        assert!(
            pattern_values("[ipv4-addr:value = '1.2.3.4'] AND [domain-name:value = 'a.b']")
                .unwrap_err()
                .contains("AND")
        );
        assert!(pattern_values("[ipv4-addr:value = '1.2.3.4'").is_err());
        assert!(
            pattern_values("[ipv4-addr:value = 'x")
                .unwrap_err()
                .contains("unterminated")
        );
    }
}
