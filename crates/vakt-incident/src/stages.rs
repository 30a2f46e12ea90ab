//! ATT&CK tactics in kill-chain order, and the stage an alert stands for.

use vakt_core::Alert;

/// The enterprise tactics in the order an intrusion goes through them.
pub const TACTICS: [&str; 14] = [
    "reconnaissance",
    "resource-development",
    "initial-access",
    "execution",
    "persistence",
    "privilege-escalation",
    "defense-evasion",
    "credential-access",
    "discovery",
    "lateral-movement",
    "collection",
    "command-and-control",
    "exfiltration",
    "impact",
];

/// The position of a tactic in kill-chain order.
pub fn rank(tactic: &str) -> Option<usize> {
    TACTICS.iter().position(|t| *t == tactic)
}

/// The tactic a technique is mostly used for (the techniques vakt's own
/// detectors and common rules name; the parent technique decides for
/// sub-techniques).
pub fn tactic_of(technique: &str) -> Option<&'static str> {
    let t = technique.to_ascii_uppercase();
    let parent = t.split('.').next().unwrap_or(&t);
    Some(match parent {
        "T1566" | "T1190" | "T1133" | "T1189" | "T1195" | "T1199" => "initial-access",
        "T1059" | "T1204" | "T1047" | "T1053" | "T1106" | "T1203" => "execution",
        "T1543" | "T1547" | "T1136" | "T1505" | "T1546" => "persistence",
        "T1068" | "T1134" | "T1548" => "privilege-escalation",
        "T1218" | "T1027" | "T1070" | "T1562" | "T1112" | "T1036" | "T1055" => "defense-evasion",
        "T1003" | "T1110" | "T1555" | "T1558" | "T1552" | "T1056" => "credential-access",
        "T1087" | "T1046" | "T1018" | "T1069" | "T1082" | "T1016" | "T1049" | "T1083" | "T1135" => {
            "discovery"
        }
        "T1021" | "T1569" | "T1570" | "T1550" | "T1563" => "lateral-movement",
        "T1213" | "T1119" | "T1530" | "T1005" | "T1039" | "T1114" | "T1560" | "T1113" => {
            "collection"
        }
        "T1071" | "T1572" | "T1573" | "T1090" | "T1105" | "T1568" | "T1095" | "T1102" => {
            "command-and-control"
        }
        "T1041" | "T1048" | "T1567" | "T1029" | "T1030" | "T1537" => "exfiltration",
        "T1486" | "T1485" | "T1490" | "T1489" | "T1565" => "impact",
        _ => return None,
    })
}

/// The stages an alert may stand for, in kill-chain order: the tactics its
/// rule names, else those its techniques point to.
pub fn candidates(a: &Alert) -> Vec<&'static str> {
    let mut named: Vec<usize> = a
        .tactics
        .iter()
        .filter_map(|t| rank(&t.to_ascii_lowercase().replace('_', "-")))
        .collect();
    if named.is_empty() {
        named = a
            .techniques
            .iter()
            .filter_map(|t| tactic_of(t))
            .filter_map(rank)
            .collect();
    }
    named.sort_unstable();
    named.dedup();
    named.into_iter().map(|r| TACTICS[r]).collect()
}

/// The stage an alert stands for in an intrusion that has reached stage
/// rank `reached`: the earliest of its candidates at or after it (the story
/// goes on), else the latest before it (a step revisited).
pub fn pick(candidates: &[&'static str], reached: usize) -> Option<&'static str> {
    candidates
        .iter()
        .copied()
        .find(|c| rank(c).is_some_and(|r| r >= reached))
        .or_else(|| candidates.last().copied())
}

/// The stage an alert stands for on its own (the earliest of its candidates).
pub fn stage_of(a: &Alert) -> Option<&'static str> {
    candidates(a).first().copied()
}

#[cfg(test)]
mod tests {
    use super::*;
    use vakt_core::Severity;

    fn alert(tactics: &[&str], techniques: &[&str]) -> Alert {
        Alert {
            title: "t".into(),
            severity: Severity::High,
            techniques: techniques.iter().map(|s| s.to_string()).collect(),
            tactics: tactics.iter().map(|s| s.to_string()).collect(),
            ..Alert::default()
        }
    }

    #[test]
    fn stages_from_tactics_then_techniques() {
        assert_eq!(
            stage_of(&alert(&["defense-evasion", "execution"], &["T1204.002"])),
            Some("execution")
        );
        assert_eq!(
            stage_of(&alert(&[], &["T1213", "T1078"])),
            Some("collection")
        );
        // In an intrusion already at lateral movement, a rule naming initial
        // access and persistence is read as persistence revisited.
        let c = candidates(&alert(&["initial-access", "persistence"], &[]));
        assert_eq!(
            pick(&c, rank("lateral-movement").unwrap()),
            Some("persistence")
        );
        assert_eq!(pick(&c, 0), Some("initial-access"));
        assert_eq!(
            stage_of(&alert(&[], &["T1071"])),
            Some("command-and-control")
        );
        assert_eq!(stage_of(&alert(&[], &["T1048.003"])), Some("exfiltration"));
        assert_eq!(stage_of(&alert(&[], &["T9999"])), None);
        assert!(rank("initial-access") < rank("exfiltration"));
    }
}
