//! Who acted in an event and what it reached, read off its common fields:
//! the source address when the event has one (a logon from elsewhere, a
//! connection), else the host it was logged on, and the accounts; the
//! destination, the logging host when the activity came from elsewhere, and
//! the names asked for. Rule-based detectors (Sigma, indicators) name these
//! in their alerts; incidents join alerts on them.

use vakt_core::field::{
    ACTOR_USER_NAME, ACTOR_USER_UID, DEVICE_HOSTNAME, DST_IP, PROCESS_CMD_LINE, QUERY_HOSTNAME,
    SRC_IP, TLS_SNI, URL_HOSTNAME, USER_NAME,
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

/// Remote hosts a command line names: a UNC prefix (`\\HOST\…`,
/// `\\HOST`), `/node:HOST` (wmic), `-ComputerName HOST` (PowerShell),
/// `/s HOST` (schtasks, at). Local names (`127.0.0.1`, `localhost`, `.`)
/// and device paths (`\\?\`, `\\.\`) are not hosts.
pub fn remote_hosts(cmd: &str) -> Vec<String> {
    let ok = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.';
    let mut out: Vec<String> = Vec::new();
    let mut push = |name: &str| {
        let name = name.trim_matches(|c| c == '"' || c == '\'' || c == '.');
        let lower = name.to_ascii_lowercase();
        if name.is_empty()
            || !name.chars().all(ok)
            || matches!(lower.as_str(), "127.0.0.1" | "localhost" | "." | "?")
            || name.len() > 64
        {
            return;
        }
        if !out.iter().any(|o| o.eq_ignore_ascii_case(name)) {
            out.push(name.to_owned());
        }
    };
    let mut rest = cmd;
    while let Some(i) = rest.find("\\\\") {
        let after = &rest[i + 2..];
        let end = after.find(|c: char| !ok(c)).unwrap_or(after.len());
        // `\\HOST` alone or `\\HOST\share`, not `\\?\` or `\\.\`.
        if end > 0 {
            push(&after[..end]);
        }
        rest = &after[end..];
    }
    let lower = cmd.to_ascii_lowercase();
    let words: Vec<&str> = cmd.split_whitespace().collect();
    let lwords: Vec<&str> = lower.split_whitespace().collect();
    let scheduler = lower.contains("schtasks") || lower.contains("at.exe");
    for (k, w) in lwords.iter().enumerate() {
        if let Some(v) = w.strip_prefix("/node:") {
            push(&words[k][words[k].len() - v.len()..]);
        } else if (*w == "-computername" || *w == "-cn" || (scheduler && *w == "/s"))
            && let Some(next) = words.get(k + 1)
        {
            push(next);
        }
    }
    out
}

/// The actors and targets of an event.
pub fn of_event(e: &Event) -> (Vec<Entity>, Vec<Entity>) {
    let mut actors = Vec::new();
    let mut targets = Vec::new();
    let h = host(e);
    let local = h.clone();
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
    // An EHR AuditEvent names its user by reference (`Practitioner/s00123`);
    // the display name beside it is not unique, so the reference's id is
    // the account.
    let mut by_reference = false;
    if e.source.is_fhir_audit_event()
        && let Some(Value::Str(uid)) = e.common(ACTOR_USER_UID)
        && !uid.is_empty()
    {
        let id = uid.rsplit('/').next().unwrap_or(uid);
        actors.push(Entity::Account(id.to_string()));
        by_reference = true;
    }
    for f in [ACTOR_USER_NAME, USER_NAME] {
        if by_reference {
            break;
        }
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
    // A remote host a command names (`sc \\HOST create`, `schtasks /s HOST`,
    // `wmic /node:HOST`, `-ComputerName HOST`, `PsExec \\HOST`): reached from here.
    if let Some(cmd) = e
        .common(PROCESS_CMD_LINE)
        .or_else(|| e.get_named("CommandLine"))
        .and_then(|v| match v {
            Value::Str(s) => Some(s.to_string()),
            _ => None,
        })
    {
        for name in remote_hosts(&cmd) {
            if let Ok(ip) = name.parse::<std::net::IpAddr>() {
                if !targets.contains(&Entity::Ip(ip)) {
                    targets.push(Entity::Ip(ip));
                }
                continue;
            }
            if !name.eq_ignore_ascii_case(&local)
                && !targets
                    .iter()
                    .any(|t| matches!(t, Entity::Host(x) if x.eq_ignore_ascii_case(&name)))
            {
                targets.push(Entity::Host(name));
            }
        }
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

#[cfg(test)]
mod tests {
    use super::remote_hosts;

    #[test]
    fn remote_hosts_named_by_commands() {
        assert_eq!(
            remote_hosts(
                r#"sc.exe  \\OUS-EHR02 create X binPath= "cmd.exe /c C:\Windows\Temp\a.exe""#
            ),
            vec!["OUS-EHR02"]
        );
        assert_eq!(
            remote_hosts(r"schtasks  /create /s ehr01.helse.local /tn x /tr y"),
            vec!["ehr01.helse.local"]
        );
        assert_eq!(
            remote_hosts(r"wmic /node:DC01 process call create calc"),
            vec!["DC01"]
        );
        assert_eq!(
            remote_hosts(r"powershell Invoke-Command -ComputerName FS01 -ScriptBlock {}"),
            vec!["FS01"]
        );
        assert_eq!(
            remote_hosts(r"PsExec64.exe \\10.1.2.3 -s cmd"),
            vec!["10.1.2.3"]
        );
        // Local and device paths, plain paths and switches are not hosts.
        assert!(remote_hosts(r"cmd.exe /Q /c cd \ 1> \\127.0.0.1\ADMIN$\__1.2 2>&1").is_empty());
        assert!(remote_hosts(r"\\?\C:\Windows\x.exe \\.\pipe\p").is_empty());
        assert!(remote_hosts(r"PsExec64.exe -accepteula -s cmd.exe C:\Windows").is_empty());
        assert!(remote_hosts(r"net use /s x").is_empty());
    }
}
