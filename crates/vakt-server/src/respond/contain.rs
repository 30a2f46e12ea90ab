//! Containment: what the trusts' defences read, from a case's observables
//! marked as indicators —
//!
//! - Suricata datasets and lists (`suricata-ip`: one address a line,
//!   dataset type `ip`; `suricata-dns`: domains base64-encoded, type
//!   `string`; `suricata-sha256`/`suricata-md5`: one hex hash a line, for
//!   `filesha256`/`filemd5`), and `suricata-rules`: rules that use them;
//! - a Zeek Intel framework file (`zeek`: tab-separated, `#fields`
//!   header, `Intel::ADDR`, `Intel::DOMAIN`, `Intel::URL`, `Intel::FILE_HASH`);
//! - a plain blocklist for a firewall's external dynamic list (`edl`:
//!   addresses and domains, one a line; `edl-ip`, `edl-domain`).
//!
//! TLP:RED observables are left out: they do not leave the CERT.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use super::cases::{Case, Observable};

/// The export formats.
pub const FORMATS: [&str; 9] = [
    "suricata-ip",
    "suricata-dns",
    "suricata-sha256",
    "suricata-md5",
    "suricata-rules",
    "zeek",
    "edl",
    "edl-ip",
    "edl-domain",
];

fn shared(case: &Case) -> impl Iterator<Item = &Observable> {
    case.observables.iter().filter(|o| o.ioc && o.tlp != "red")
}

fn of<'a>(case: &'a Case, kinds: &'a [&str]) -> Vec<&'a str> {
    let mut v: Vec<&str> = shared(case)
        .filter(|o| kinds.contains(&o.kind.as_str()))
        .map(|o| o.value.as_str())
        .collect();
    v.sort_unstable();
    v.dedup();
    v
}

/// A dataset's name for a case (`vakt-case-0001-ip`).
pub fn dataset(case: &Case, what: &str) -> String {
    format!("vakt-{}-{what}", case.id.to_ascii_lowercase())
}

/// The export of a case in a format, and its content type.
pub fn export(case: &Case, format: &str) -> Result<String, String> {
    let lines = |v: Vec<&str>| v.iter().map(|x| format!("{x}\n")).collect::<String>();
    Ok(match format {
        "suricata-ip" => lines(of(case, &["ip"])),
        "suricata-dns" => of(case, &["domain"])
            .iter()
            .map(|d| format!("{}\n", STANDARD.encode(d)))
            .collect(),
        "suricata-sha256" => lines(of(case, &["sha256"])),
        "suricata-md5" => lines(of(case, &["md5"])),
        "suricata-rules" => rules(case),
        "zeek" => zeek(case),
        "edl" => lines(of(case, &["ip", "domain"])),
        "edl-ip" => lines(of(case, &["ip"])),
        "edl-domain" => lines(of(case, &["domain"])),
        f => {
            return Err(format!("`{f}`: the formats are {}", FORMATS.join(", ")));
        }
    })
}

/// Suricata rules for the case's indicators: addresses in the rule
/// headers (any Suricata version; a line for Suricata 8's `ip.dst`
/// dataset match is given, commented), domains by the `suricata-dns`
/// dataset on DNS queries and TLS server names, file hashes by
/// `filesha256`/`filemd5` lists (the `suricata-sha256`/`suricata-md5`
/// files, one hex hash a line). Files are named as the datasets, `.lst`,
/// in the rules' folder.
fn rules(case: &Case) -> String {
    let base: u32 = 9_100_000
        + case
            .id
            .trim_start_matches("CASE-")
            .parse::<u32>()
            .unwrap_or(0)
            .min(9999)
            * 10;
    let mut out = format!(
        "# vakt {}: {} ({} TLP:{})\n",
        case.id,
        case.title.replace(['\n', '\r', '"', ';'], " "),
        case.tenant,
        case.tlp.to_ascii_uppercase()
    );
    let msg = |what: &str| format!("vakt {} {what}", case.id);
    let ips = of(case, &["ip"]);
    if !ips.is_empty() {
        let list = format!("[{}]", ips.join(","));
        out.push_str(&format!(
            "alert ip $HOME_NET any -> {list} any (msg:\"{}\"; sid:{}; rev:1;)\n",
            msg("traffic to a case address"),
            base + 1
        ));
        out.push_str(&format!(
            "alert ip {list} any -> $HOME_NET any (msg:\"{}\"; sid:{}; rev:1;)\n",
            msg("traffic from a case address"),
            base + 2
        ));
        let d = dataset(case, "ip");
        out.push_str(&format!(
            "# Suricata 8, for long lists: alert ip $HOME_NET any -> any any (msg:\"{}\"; ip.dst; dataset:isset,{d},type ip,load {d}.lst; sid:{}; rev:1;)\n",
            msg("traffic to a case address"),
            base + 1
        ));
    }
    if !of(case, &["domain"]).is_empty() {
        let d = dataset(case, "dns");
        out.push_str(&format!(
            "alert dns any any -> any any (msg:\"{}\"; dns.query; dataset:isset,{d},type string,load {d}.lst; sid:{}; rev:1;)\n",
            msg("DNS query of a case domain"),
            base + 3
        ));
        out.push_str(&format!(
            "alert tls any any -> any any (msg:\"{}\"; tls.sni; dataset:isset,{d},type string,load {d}.lst; sid:{}; rev:1;)\n",
            msg("TLS to a case domain"),
            base + 4
        ));
    }
    for (kind, keyword, n) in [("sha256", "filesha256", 5), ("md5", "filemd5", 6)] {
        if !of(case, &[kind]).is_empty() {
            let d = dataset(case, kind);
            out.push_str(&format!(
                "alert http any any -> any any (msg:\"{}\"; {keyword}:{d}.lst; sid:{}; rev:1;)\n",
                msg(&format!("file with a case {kind}")),
                base + n
            ));
        }
    }
    out
}

/// A Zeek Intel framework file.
fn zeek(case: &Case) -> String {
    let mut out =
        String::from("#fields\tindicator\tindicator_type\tmeta.source\tmeta.desc\tmeta.url\n");
    let mut rows: Vec<(String, &str, String)> = shared(case)
        .filter_map(|o| {
            let t = match o.kind.as_str() {
                "ip" => "Intel::ADDR",
                "domain" => "Intel::DOMAIN",
                "url" => "Intel::URL",
                "md5" | "sha1" | "sha256" => "Intel::FILE_HASH",
                "email" => "Intel::EMAIL",
                _ => return None,
            };
            let value = if o.kind == "url" {
                o.value
                    .split_once("://")
                    .map_or(o.value.as_str(), |(_, r)| r)
                    .to_owned()
            } else {
                o.value.clone()
            };
            let desc: String = format!(
                "{} {}",
                o.kind,
                if o.note.is_empty() {
                    &case.title
                } else {
                    &o.note
                }
            )
            .chars()
            .map(|c| if c == '\t' || c.is_control() { ' ' } else { c })
            .collect();
            Some((value, t, desc))
        })
        .collect();
    rows.sort();
    rows.dedup_by(|a, b| a.0 == b.0 && a.1 == b.1);
    for (v, t, desc) in rows {
        out.push_str(&format!("{v}\t{t}\tvakt-{}\t{desc}\t-\n", case.id));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn case() -> Case {
        let mut c: Case = serde_json::from_value(serde_json::json!({
            "id": "CASE-0007", "tenant": "ous", "title": "C2", "status": "triage",
            "assignee": null, "severity": "high", "tlp": "amber", "pap": "amber", "tags": [],
            "fields": {}, "awareness": "2018-01-01T00:00:00Z", "created": "x", "created_by": "x",
            "updated": "x", "contained_at": null, "closed_at": null, "resolution": null,
            "templates": [], "incidents": [], "alerts": [], "notes": [], "tasks": [],
            "observables": [], "clocks": [], "containment": [], "merged_into": null,
            "related": [], "history": []
        }))
        .unwrap();
        for (kind, value, ioc, tlp) in [
            ("ip", "203.0.113.7", true, "amber"),
            ("domain", "update-check.example", true, "amber"),
            ("sha256", &"ab".repeat(32) as &str, true, "green"),
            ("ip", "10.0.0.5", false, "amber"),
            ("ip", "198.51.100.9", true, "red"),
            ("host", "ws-17", true, "amber"),
        ] {
            super::super::cases::add_observable(&mut c, "kari", kind, value, Some(tlp), ioc, "")
                .unwrap();
        }
        c
    }

    #[test]
    fn exports_carry_the_indicators_only_never_tlp_red() {
        let c = case();
        assert_eq!(export(&c, "suricata-ip").unwrap(), "203.0.113.7\n");
        assert_eq!(
            export(&c, "suricata-dns").unwrap(),
            format!("{}\n", STANDARD.encode("update-check.example"))
        );
        assert_eq!(
            export(&c, "edl").unwrap(),
            "203.0.113.7\nupdate-check.example\n"
        );
        let z = export(&c, "zeek").unwrap();
        assert!(z.starts_with("#fields\tindicator\tindicator_type\t"));
        assert!(z.contains("203.0.113.7\tIntel::ADDR\tvakt-CASE-0007\t"));
        assert!(z.contains("\tIntel::FILE_HASH\t"));
        assert!(!z.contains("198.51.100.9") && !z.contains("10.0.0.5"));
        let r = export(&c, "suricata-rules").unwrap();
        assert!(
            r.contains("alert ip $HOME_NET any -> [203.0.113.7] any ("),
            "{r}"
        );
        assert!(r.contains("sid:9100071;"));
        assert!(r.contains(
            "dns.query; dataset:isset,vakt-case-0007-dns,type string,load vakt-case-0007-dns.lst;"
        ));
        assert!(r.contains("filesha256:vakt-case-0007-sha256.lst;"));
        // Every rule line is one rule with a unique sid.
        let sids: Vec<&str> = r
            .lines()
            .filter(|l| l.starts_with("alert "))
            .map(|l| l.split("sid:").nth(1).unwrap())
            .collect();
        let mut unique = sids.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(sids.len(), unique.len());
        assert!(export(&c, "pdf").is_err());
    }
}
