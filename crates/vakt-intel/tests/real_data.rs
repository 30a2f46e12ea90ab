//! The public STIX 2.1 examples, PyMISP's MISP events and the abuse.ch
//! Feodo list load with the right counts per kind; malformed indicators are
//! reported with their source and skipped; warninglists mark, not drop.
//!
//! Expected counts were derived independently of this crate: a Python
//! script over the same files (`json` + a regular expression for STIX
//! `path = 'value'` comparisons not joined by AND and not MATCHES; MISP
//! attributes of the event and its objects, mapped by type: ip-src/ip-dst
//! (+|port) → ip, domain/hostname → domain, domain|ip → one of each,
//! url with a scheme → url, md5/sha1/sha256 and filename|hash → hash,
//! email-src/-dst → email), and `grep -c` for the abuse.ch CSV rows.

use std::path::{Path, PathBuf};

fn shared() -> PathBuf {
    if let Some(p) = std::env::var_os("VAKT_SHARED_DATA") {
        return PathBuf::from(p);
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data")
}

fn counts(l: &vakt_intel::Loaded) -> Vec<(&'static str, usize)> {
    l.counts().into_iter().collect()
}

#[test]
fn stix_examples() {
    let l = vakt_intel::load(&[shared().join("stix21-examples/examples")]);
    assert_eq!(
        counts(&l),
        vec![
            ("cidr", 4),
            ("domain", 27),
            ("ip", 43),
            ("md5", 3),
            ("sha256", 1)
        ]
    );
    // One malformed value in the Poison Ivy report (`domain autuo.xicp.net`), reported and skipped.
    assert_eq!(l.problems.len(), 1, "{:?}", l.problems);
    assert!(l.problems[0].at.starts_with("indicator--4e4c4ad7"));
    assert!(l.problems[0].path.ends_with("poisonivy.json"));
    // Patterns that cannot be matched value by value are counted, not lost silently.
    assert_eq!(
        l.unsupported.values().sum::<usize>(),
        6,
        "{:?}",
        l.unsupported
    );
    // APT1: 12 indicators = 4 networks + 3 domains + 3 MD5 + 2 on certificate issuers.
    let apt1 =
        vakt_intel::load(&[shared().join("stix21-examples/examples/threat-reports/apt1.json")]);
    assert_eq!(counts(&apt1), vec![("cidr", 4), ("domain", 3), ("md5", 3)]);
    let n = apt1
        .indicators
        .iter()
        .find(|i| i.value == "223.166.0.0/15")
        .unwrap();
    assert!(n.valid.0.is_some() && n.id.starts_with("indicator--"));
}

#[test]
fn misp_events() {
    let l = vakt_intel::load(&[shared().join("misp-events-pymisp")]);
    assert_eq!(
        counts(&l),
        vec![
            ("domain", 47),
            ("email", 2),
            ("ip", 21),
            ("md5", 105),
            ("sha1", 107),
            ("sha256", 100),
            ("url", 6)
        ]
    );
    // Eleven `url` attributes of the ASERT report are not URLs (`107.183.86`, `igfxtray.exe`, …).
    assert_eq!(l.problems.len(), 11, "{:?}", l.problems);
    assert!(
        l.problems
            .iter()
            .all(|p| p.path.ends_with("long_event.json") && p.reason.contains("not a URL"))
    );
    // The Sednit event (a bare event, as PyMISP writes it), per the data's PROVENANCE: ip-dst 12, domain 19, sha1 37.
    let sednit = vakt_intel::load(&[
        shared().join("misp-events-pymisp/mispevent_testfiles/existing_event.json")
    ]);
    assert_eq!(
        counts(&sednit),
        vec![("domain", 19), ("ip", 12), ("sha1", 37)]
    );
    assert!(sednit.indicators.iter().all(|i| i.name.contains("Sednit")));
    // The Ursnif event carries sightings on its attributes.
    let ursnif =
        vakt_intel::load(
            &[shared().join("misp-events-pymisp/reportlab_testfiles/sighting_1.json")],
        );
    assert_eq!(counts(&ursnif), vec![("domain", 4), ("url", 1)]);
    assert!(
        ursnif.indicators.iter().any(|i| i.sightings > 0),
        "{:?}",
        ursnif.indicators
    );
}

#[test]
fn abuse_ch_list_and_a_plain_list_with_bad_lines() {
    let l = vakt_intel::load(&[shared().join("ioc-abusech-feodo/ipblocklist.csv")]);
    assert_eq!(counts(&l), vec![("ip", 28)]);
    assert!(l.problems.is_empty());
    assert!(
        l.indicators
            .iter()
            .all(|i| i.name == "Pikabot" && i.valid.0.is_some())
    );
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("iocs.txt");
    std::fs::write(&f, "# our own list\n192.0.2.7\nevil.example\nnot an indicator\n10.0.0.0/33\nd41d8cd98f00b204e9800998ecf8427e\n").unwrap();
    let l = vakt_intel::load(&[f]);
    assert_eq!(counts(&l), vec![("domain", 1), ("ip", 1), ("md5", 1)]);
    let at: Vec<&str> = l.problems.iter().map(|p| p.at.as_str()).collect();
    assert_eq!(at, vec!["line 4", "line 5"]);
}

#[test]
fn warninglisted_indicators_are_loaded_but_marked() {
    let mut l =
        vakt_intel::load(
            &[shared().join("stix21-examples/examples/threat-reports/poisonivy.json")],
        );
    let before = l.indicators.len();
    let lists =
        vakt_intel::Warninglists::load(&[shared().join("misp-warninglists/lists/dynamic-dns")])
            .unwrap();
    l.mark_warninglisted(&lists);
    // Poison Ivy's C2 names under dynamic-DNS providers (3322.org, ddns.us, …) are on
    // that list: kept (they are real C2s) but marked, so they alert only with force.
    let marked: Vec<&str> = l
        .indicators
        .iter()
        .filter(|i| i.warning.is_some())
        .map(|i| i.value.as_str())
        .collect();
    assert_eq!(l.indicators.len(), before);
    assert_eq!(marked.len(), 15, "{marked:?}");
    assert!(marked.contains(&"js001.3322.org") && marked.contains(&"av.ddns.us"));
    assert!(
        l.indicators
            .iter()
            .filter(|i| i.kind == vakt_intel::Kind::Ip)
            .all(|i| i.warning.is_none())
    );
}
