//! Records in the formats real systems write them: Zeek TSV lines, Windows
//! events as `evtx_dump` renders them, FHIR R4 resources.

use std::net::Ipv4Addr;

use serde_json::{Value as Json, json};
use vakt_core::Timestamp;

use crate::rng::Rng;

/// Zeek's `ts`: seconds with microseconds.
pub fn zeek_ts(t: i64) -> String {
    let us = t.div_euclid(1000);
    format!(
        "{}.{:06}",
        us.div_euclid(1_000_000),
        us.rem_euclid(1_000_000)
    )
}

/// A Zeek connection uid.
pub fn uid(rng: &mut Rng) -> String {
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut s = String::with_capacity(18);
    s.push('C');
    for _ in 0..17 {
        s.push(A[rng.below(A.len() as u64) as usize] as char);
    }
    s
}

/// Whether an address is inside the region (10.0.0.0/8).
pub fn local(ip: Ipv4Addr) -> &'static str {
    if ip.octets()[0] == 10 { "T" } else { "F" }
}

/// A conn.log line.
#[allow(clippy::too_many_arguments)]
pub fn conn(
    t: i64,
    uid: &str,
    src: Ipv4Addr,
    sport: u16,
    dst: Ipv4Addr,
    dport: u16,
    proto: &str,
    service: &str,
    duration: f64,
    out: u64,
    inb: u64,
) -> String {
    let opk = out / 1400 + 2;
    let rpk = inb / 1400 + 2;
    format!(
        "{}\t{uid}\t{src}\t{sport}\t{dst}\t{dport}\t{proto}\t{}\t{duration:.6}\t{out}\t{inb}\tSF\t{}\t{}\t0\tShADadFf\t{opk}\t{}\t{rpk}\t{}",
        zeek_ts(t),
        if service.is_empty() { "-" } else { service },
        local(src),
        local(dst),
        out + opk * 40,
        inb + rpk * 40,
    )
}

/// A dns.log line.
#[allow(clippy::too_many_arguments)]
pub fn dns(
    t: i64,
    uid: &str,
    src: Ipv4Addr,
    sport: u16,
    resolver: Ipv4Addr,
    trans: u16,
    query: &str,
    qtype: &str,
    answers: &[String],
) -> String {
    let qnum = match qtype {
        "A" => 1,
        "TXT" => 16,
        "AAAA" => 28,
        _ => 255,
    };
    let (ans, ttls) = if answers.is_empty() {
        ("-".to_owned(), "-".to_owned())
    } else {
        (
            answers.join(","),
            vec!["300.000000"; answers.len()].join(","),
        )
    };
    format!(
        "{}\t{uid}\t{src}\t{sport}\t{resolver}\t53\tudp\t{trans}\t0.000812\t{query}\t1\tC_INTERNET\t{qnum}\t{qtype}\t0\tNOERROR\tF\tF\tT\tT\t0\t{ans}\t{ttls}\tF",
        zeek_ts(t),
    )
}

/// An ssl.log line.
pub fn ssl(
    t: i64,
    uid: &str,
    src: Ipv4Addr,
    sport: u16,
    dst: Ipv4Addr,
    dport: u16,
    sni: &str,
) -> String {
    format!(
        "{}\t{uid}\t{src}\t{sport}\t{dst}\t{dport}\tTLSv12\tTLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384\t{sni}\tT",
        zeek_ts(t)
    )
}

/// An http.log line.
#[allow(clippy::too_many_arguments)]
pub fn http(
    t: i64,
    uid: &str,
    src: Ipv4Addr,
    sport: u16,
    dst: Ipv4Addr,
    method: &str,
    host: &str,
    uri: &str,
    ua: &str,
    req: u64,
    resp: u64,
) -> String {
    format!(
        "{}\t{uid}\t{src}\t{sport}\t{dst}\t80\t{method}\t{host}\t{uri}\t{ua}\t{req}\t{resp}\t200",
        zeek_ts(t)
    )
}

fn rfc3339(t: i64) -> String {
    Timestamp(t).to_rfc3339()
}

/// A Windows event as `evtx_dump -o jsonl` renders it.
pub fn windows(
    t: i64,
    computer: &str,
    channel: &str,
    provider: &str,
    event_id: u32,
    record: u64,
    data: &[(&str, String)],
) -> String {
    let mut ed = serde_json::Map::new();
    for (k, v) in data {
        ed.insert((*k).to_owned(), Json::String(v.clone()));
    }
    json!({"Event": {
        "#attributes": {"xmlns": "http://schemas.microsoft.com/win/2004/08/events/event"},
        "System": {
            "Provider": {"#attributes": {"Name": provider}},
            "EventID": event_id,
            "Level": 4,
            "TimeCreated": {"#attributes": {"SystemTime": rfc3339(t)}},
            "EventRecordID": record,
            "Channel": channel,
            "Computer": computer,
        },
        "EventData": ed,
    }})
    .to_string()
}

/// A FHIR R4 AuditEvent of an EHR access.
#[allow(clippy::too_many_arguments)]
pub fn audit_event(
    id: &str,
    t: i64,
    subtype: &str,
    practitioner: &str,
    name: &str,
    address: Ipv4Addr,
    observer: &str,
    purpose: &str,
    patients: &[&str],
) -> String {
    let entities: Vec<Json> = patients
        .iter()
        .map(|p| json!({"what": {"reference": format!("Patient/{p}")}, "type": {"system": "http://terminology.hl7.org/CodeSystem/audit-entity-type", "code": "1", "display": "Person"}, "role": {"system": "http://terminology.hl7.org/CodeSystem/object-role", "code": "1", "display": "Patient"}}))
        .collect();
    json!({
        "resourceType": "AuditEvent",
        "id": id,
        "type": {"system": "http://terminology.hl7.org/CodeSystem/audit-event-type", "code": "rest", "display": "Restful Operation"},
        "subtype": [{"system": "http://hl7.org/fhir/restful-interaction", "code": subtype}],
        "action": if subtype == "export" { "E" } else { "R" },
        "recorded": rfc3339(t),
        "outcome": "0",
        "purposeOfEvent": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ActReason", "code": purpose}]}],
        "agent": [{
            "who": {"reference": format!("Practitioner/{practitioner}"), "display": name},
            "requestor": true,
            "network": {"address": address.to_string(), "type": "2"}
        }],
        "source": {"observer": {"display": observer}},
        "entity": entities,
    })
    .to_string()
}
