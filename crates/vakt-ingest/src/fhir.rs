//! HL7 FHIR AuditEvent, R4 and R5: a single resource, a Bundle of them, or
//! NDJSON (bulk export). Other resource types in a Bundle or NDJSON file are
//! passed over (they are context, not events).
//!
//! Native fields are the resource's JSON paths flattened with `.` (the
//! narrative `text` is left out). Common fields:
//!
//! | common | R4 | R5 |
//! |---|---|---|
//! | time | `recorded` | `recorded` (else `occurredDateTime`) |
//! | `actor.user.uid` | requestor agent `who.reference` or `who.identifier.value` | same |
//! | `actor.user.name` | requestor agent `who.display` or `name` | `who.display` |
//! | `src_endpoint.ip` / `.hostname` | requestor (else any) agent `network.address` (type 2 = IP) | `networkString` / `networkUri` |
//! | `patient.uid` | `entity[].what` referencing `Patient/…` (version stripped), or a Person entity in the Patient role | `patient`, else as R4 |
//! | `activity_name` | `action` C/R/U/D/E → Create/Read/Update/Delete/Execute | same |
//! | `status` | `outcome` `0` → Success, else Failure | `outcome.code.code` |
//! | `metadata.event_code` | `type.code` | `code.coding[0].code` |
//! | `api.operation` | `subtype[0].code` | `code.coding[0].code` when `category` is rest |
//! | `purpose_of_use` | `purposeOfEvent[].coding[].code` | `authorization[].coding[].code` |
//! | `device.hostname` | `source.observer` display / reference / identifier | same |

use std::io::BufRead;
use std::sync::Arc;

use serde_json::{Map, Value as Json};
use vakt_core::field::*;
use vakt_core::{Event, FieldId, Locator, SourceKind, Timestamp, Value};

use crate::ReadContext;
use crate::flatten::flatten_into;
use crate::json_events::{JsonEvents, RecordMapper};

/// Reads FHIR AuditEvents (resource, Bundle or NDJSON).
pub fn read<R: BufRead>(reader: R, ctx: ReadContext) -> JsonEvents<R, Fhir> {
    let path = ctx.path.clone();
    JsonEvents::new(reader, path, Fhir::new(ctx))
}

/// Maps FHIR resources.
pub struct Fhir {
    ctx: ReadContext,
    source: SourceKind,
}

impl Fhir {
    /// A mapper for one input.
    pub fn new(ctx: ReadContext) -> Self {
        Fhir {
            ctx,
            source: SourceKind::fhir_audit_event(),
        }
    }
}

impl RecordMapper for Fhir {
    fn source(&self) -> Arc<str> {
        self.source.as_arc().clone()
    }

    fn map(&mut self, value: &Json, locator: Locator, out: &mut Vec<Event>) -> Result<(), String> {
        let Json::Object(obj) = value else {
            return Err("not a JSON object".into());
        };
        match obj.get("resourceType").and_then(Json::as_str) {
            Some("AuditEvent") => {
                out.push(self.audit_event(obj, locator)?);
                Ok(())
            }
            Some("Bundle") => {
                let entries = obj.get("entry").and_then(Json::as_array);
                let mut problems = Vec::new();
                for (i, entry) in entries.into_iter().flatten().enumerate() {
                    let Some(Json::Object(res)) = entry.get("resource") else {
                        continue;
                    };
                    if res.get("resourceType").and_then(Json::as_str) != Some("AuditEvent") {
                        continue;
                    }
                    // Each entry is placed by its position in the Bundle.
                    match self.audit_event(res, Locator::Index(i as u64 + 1)) {
                        Ok(e) => out.push(e),
                        Err(why) => problems.push(format!("entry {}: {why}", i + 1)),
                    }
                }
                if problems.is_empty() {
                    Ok(())
                } else {
                    // The good entries were kept; the record is reported for the bad ones.
                    Err(format!(
                        "Bundle has {} unreadable AuditEvent entries ({} read): {}",
                        problems.len(),
                        out.len(),
                        problems.join("; ")
                    ))
                }
            }
            Some(_) => Ok(()),
            None => Err("no resourceType: not a FHIR resource".into()),
        }
    }
}

fn coding_codes(v: Option<&Json>) -> Vec<String> {
    // A CodeableConcept, a Coding, or a list of either.
    let mut out = Vec::new();
    let mut stack: Vec<&Json> = v.into_iter().collect();
    while let Some(j) = stack.pop() {
        match j {
            Json::Array(items) => stack.extend(items.iter().rev()),
            Json::Object(m) => {
                if let Some(c) = m.get("code").and_then(Json::as_str) {
                    out.push(c.to_owned());
                }
                if let Some(c) = m.get("coding") {
                    stack.push(c);
                }
            }
            _ => {}
        }
    }
    out
}

fn reference_text(who: &Json) -> Option<String> {
    who.get("reference")
        .and_then(Json::as_str)
        .map(str::to_owned)
        .or_else(|| {
            who.get("identifier")
                .and_then(|i| i.get("value"))
                .and_then(Json::as_str)
                .map(str::to_owned)
        })
}

/// `Patient/123/_history/2` → `Patient/123`; absolute URLs keep their `Patient/…` tail.
fn patient_ref(r: &str) -> Option<String> {
    let at = r.find("Patient/")?;
    let tail = &r[at..];
    let tail = tail.split("/_history").next().unwrap_or(tail);
    Some(tail.to_owned())
}

impl Fhir {
    fn audit_event(&self, obj: &Map<String, Json>, locator: Locator) -> Result<Event, String> {
        let when = obj
            .get("recorded")
            .or_else(|| obj.get("occurredDateTime"))
            .or_else(|| obj.get("period").and_then(|p| p.get("start")))
            .and_then(Json::as_str)
            .ok_or("AuditEvent has no `recorded` time")?;
        let time = Timestamp::parse(when).map_err(|e| format!("recorded: {e}"))?;

        let mut fields = Vec::with_capacity(48);
        for (k, v) in obj {
            if k == "text" {
                continue;
            }
            flatten_into(&mut k.clone(), v, &mut fields).map_err(|e| e.to_string())?;
        }

        let mut common: Vec<(FieldId, Value)> = Vec::with_capacity(10);
        let agents: Vec<&Json> = obj
            .get("agent")
            .and_then(Json::as_array)
            .map(|a| a.iter().collect())
            .unwrap_or_default();
        let actor = agents
            .iter()
            .find(|a| a.get("requestor").and_then(Json::as_bool) == Some(true))
            .or_else(|| agents.first())
            .copied();
        if let Some(a) = actor {
            if let Some(uid) = a.get("who").and_then(reference_text) {
                common.push((ACTOR_USER_UID, Value::str(&uid)));
            }
            let name = a
                .get("who")
                .and_then(|w| w.get("display"))
                .or_else(|| a.get("name"))
                .and_then(Json::as_str);
            if let Some(n) = name {
                common.push((ACTOR_USER_NAME, Value::str(n)));
            }
        }
        // The requestor's network address, else any agent's.
        let network = actor
            .into_iter()
            .chain(agents.iter().copied())
            .find_map(|a| {
                a.get("network")
                    .and_then(|n| n.get("address"))
                    .or_else(|| a.get("networkString"))
                    .or_else(|| a.get("networkUri"))
                    .and_then(Json::as_str)
            });
        if let Some(addr) = network {
            match addr.parse() {
                Ok(ip) => common.push((SRC_IP, Value::Ip(ip))),
                Err(_) => common.push((SRC_HOSTNAME, Value::str(addr))),
            }
        }

        let mut patients: Vec<String> = Vec::new();
        if let Some(p) = obj.get("patient").and_then(reference_text) {
            patients.push(patient_ref(&p).unwrap_or(p));
        }
        for ent in obj
            .get("entity")
            .and_then(Json::as_array)
            .into_iter()
            .flatten()
        {
            let what = ent.get("what");
            if let Some(p) = what
                .and_then(|w| w.get("reference"))
                .and_then(Json::as_str)
                .and_then(patient_ref)
            {
                if !patients.contains(&p) {
                    patients.push(p);
                }
                continue;
            }
            // R4: a Person entity (type 1) in the Patient role (role 1) named by identifier.
            let is_patient = coding_codes(ent.get("type")).iter().any(|c| c == "1")
                && coding_codes(ent.get("role")).iter().any(|c| c == "1");
            if is_patient
                && let Some(id) = what.and_then(reference_text)
                && !patients.contains(&id)
            {
                patients.push(id);
            }
        }
        match patients.len() {
            0 => {}
            1 => common.push((PATIENT_UID, Value::str(&patients[0]))),
            _ => common.push((
                PATIENT_UID,
                Value::List(patients.iter().map(|p| Value::str(p)).collect()),
            )),
        }

        if let Some(action) = obj.get("action").and_then(Json::as_str) {
            let name = match action {
                "C" => "Create",
                "R" => "Read",
                "U" => "Update",
                "D" => "Delete",
                "E" => "Execute",
                other => other,
            };
            common.push((ACTIVITY_NAME, Value::str(name)));
        }
        let outcome = match obj.get("outcome") {
            Some(Json::String(code)) => Some(code.clone()),
            Some(o @ Json::Object(_)) => coding_codes(o.get("code")).into_iter().next(),
            _ => None,
        };
        if let Some(code) = outcome {
            let status = if code == "0" || code.eq_ignore_ascii_case("success") {
                "Success"
            } else {
                "Failure"
            };
            common.push((STATUS, Value::str(status)));
        }
        let event_code = coding_codes(obj.get("type"))
            .into_iter()
            .next()
            .or_else(|| coding_codes(obj.get("code")).into_iter().next());
        if let Some(c) = event_code {
            common.push((EVENT_CODE, Value::str(&c)));
        }
        if let Some(op) = coding_codes(obj.get("subtype")).into_iter().next() {
            common.push((API_OPERATION, Value::str(&op)));
        }
        let purposes: Vec<Value> = coding_codes(obj.get("purposeOfEvent"))
            .into_iter()
            .chain(coding_codes(obj.get("authorization")))
            .map(|c| Value::str(&c))
            .collect();
        if !purposes.is_empty() {
            common.push((PURPOSE_OF_USE, Value::List(purposes)));
        }
        if let Some(observer) = obj.get("source").and_then(|s| s.get("observer")) {
            let host = observer
                .get("display")
                .and_then(Json::as_str)
                .map(str::to_owned)
                .or_else(|| reference_text(observer));
            if let Some(h) = host {
                common.push((DEVICE_HOSTNAME, Value::str(&h)));
            }
        }
        if let Some(id) = obj.get("id").and_then(Json::as_str) {
            common.push((METADATA_UID, Value::str(id)));
        }

        Ok(self
            .ctx
            .event(time, self.source.clone(), fields, common, locator))
    }
}
