//! Who acted in an event and what it reached, read off its common fields:
//! the source address when the event has one (a logon from elsewhere, a
//! connection), else the host it was logged on, and the accounts; the
//! destination, the logging host when the activity came from elsewhere, and
//! the names asked for. Rule-based detectors (Sigma, indicators) name these
//! in their alerts; incidents join alerts on them.

use vakt_core::field::{
    ACTOR_USER_NAME, DEVICE_HOSTNAME, DST_IP, QUERY_HOSTNAME, SRC_IP, TLS_SNI, URL_HOSTNAME,
    USER_NAME,
};
use vakt_core::{Entity, Event, Value};

/// A value as text, for evidence and names.
pub fn text(v: &Value) -> String {
    match v {
        Value::Str(s) => s.to_string(),
        Value::List(items) => items.iter().map(text).collect::<Vec<_>>().join(", "),
        Value::Null => String::new(),
        other => serde_json::to_value(other)
            .ok()
            .map(|j| match j {
                serde_json::Value::String(s) => s,
                o => o.to_string(),
            })
            .unwrap_or_default(),
    }
}

/// The host an event was logged on (`device.hostname`, else EVTX `Computer`).
pub fn host(e: &Event) -> String {
    e.common(DEVICE_HOSTNAME)
        .or_else(|| e.get_named("Computer"))
        .map(text)
        .unwrap_or_default()
}

/// The actors and targets of an event.
pub fn of_event(e: &Event) -> (Vec<Entity>, Vec<Entity>) {
    let mut actors = Vec::new();
    let mut targets = Vec::new();
    let h = host(e);
    let src = e.common(SRC_IP).and_then(Value::as_ip);
    match src {
        Some(ip) if !ip.is_loopback() && !ip.is_unspecified() => {
            actors.push(Entity::Ip(ip));
            if !h.is_empty() {
                targets.push(Entity::Host(h));
            }
        }
        _ => {
            if !h.is_empty() {
                actors.push(Entity::Host(h));
            }
        }
    }
    for f in [ACTOR_USER_NAME, USER_NAME] {
        if let Some(Value::Str(u)) = e.common(f)
            && !u.is_empty()
            && !actors
                .iter()
                .any(|a| matches!(a, Entity::Account(x) if x == &**u))
        {
            actors.push(Entity::Account(u.to_string()));
        }
    }
    if let Some(ip) = e.common(DST_IP).and_then(Value::as_ip) {
        targets.push(Entity::Ip(ip));
    }
    for f in [QUERY_HOSTNAME, TLS_SNI, URL_HOSTNAME] {
        if let Some(Value::Str(n)) = e.common(f)
            && !n.is_empty()
        {
            targets.push(Entity::Domain(n.to_string()));
        }
    }
    (actors, targets)
}

/// ATT&CK tactics among rule tags (`attack.lateral_movement` →
/// `lateral-movement`; technique, group and software ids are not tactics)
/// and kill-chain phases (`phase.exfiltration`).
pub fn tactics(tags: &[String]) -> Vec<String> {
    tags.iter()
        .filter_map(|t| t.strip_prefix("attack."))
        // Tactic names, not technique, group or software ids (t1059, g0016, s0002).
        .filter(|t| {
            let mut c = t.chars();
            !(matches!(c.next(), Some('t' | 'g' | 's'))
                && c.next().is_some_and(|d| d.is_ascii_digit()))
        })
        .map(|t| t.replace('_', "-"))
        .chain(
            tags.iter()
                .filter_map(|t| t.strip_prefix("phase."))
                .map(|t| t.replace('_', "-")),
        )
        .collect()
}
