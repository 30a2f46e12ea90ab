//! The Sigma language, case by case: every modifier, every condition form,
//! filters and correlations, with small hand-written rules and events.

// The cases read better as literal lists.
#![allow(clippy::cloned_ref_to_slice_refs)]

use std::sync::Arc;

use vakt_core::{Event, FieldId, Locator, Origin, Timestamp, Value};
use vakt_sigma::correlation::Correlator;
use vakt_sigma::rule::parse_rules;
use vakt_sigma::{Mapping, Placeholders, RuleSet, Scratch};

const MAPPING: &str = "- logsource: {product: test}\n  sources: [test]\n";

fn set_with(yaml: &str, placeholders: &Placeholders) -> RuleSet {
    let rules = parse_rules(yaml, &Arc::from("test.yml"));
    let (set, report) = RuleSet::build(rules, &Mapping::parse(MAPPING).unwrap(), placeholders);
    assert!(report.unsupported.is_empty(), "{:?}", report.unsupported);
    set
}

/// A rule with this detection body over `product: test`.
fn rule(detection: &str) -> RuleSet {
    set_with(
        &format!("title: t\nid: r1\nlogsource: {{product: test}}\ndetection:\n{detection}\n"),
        &Placeholders::default(),
    )
}

fn event(fields: &[(&str, Value)]) -> Event {
    event_at(0, fields)
}

fn event_at(secs: i64, fields: &[(&str, Value)]) -> Event {
    Event {
        time: Timestamp::from_parts(secs, 0),
        tenant: Arc::from("t"),
        source: vakt_core::SourceKind::new("test"),
        fields: fields
            .iter()
            .map(|(k, v)| (FieldId::intern(k).unwrap(), v.clone()))
            .collect(),
        common: Vec::new(),
        origin: Origin {
            path: Arc::from("mem"),
            locator: Locator::Line(1),
        },
    }
}

fn s(v: &str) -> Value {
    Value::str(v)
}

fn hit(set: &RuleSet, e: &Event) -> bool {
    let mut out = Vec::new();
    set.matches(e, &mut Scratch::default(), &mut out);
    !out.is_empty()
}

fn check(detection: &str, yes: &[&[(&str, Value)]], no: &[&[(&str, Value)]]) {
    let set = rule(detection);
    for f in yes {
        assert!(hit(&set, &event(f)), "should match: {f:?}\n{detection}");
    }
    for f in no {
        assert!(
            !hit(&set, &event(f)),
            "should not match: {f:?}\n{detection}"
        );
    }
}

#[test]
fn plain_values_are_case_insensitive_and_whole() {
    check(
        "    sel:\n        Image: 'C:\\Windows\\cmd.exe'\n    condition: sel",
        &[&[("Image", s("c:\\windows\\CMD.EXE"))]],
        &[
            &[("Image", s("C:\\Windows\\cmd.exe2"))],
            &[("Other", s("C:\\Windows\\cmd.exe"))],
        ],
    );
}

#[test]
fn contains_startswith_endswith_and_cased() {
    check(
        "    sel:\n        F|contains: 'MiMi'\n    condition: sel",
        &[&[("F", s("xxmimikatz"))]],
        &[&[("F", s("mim"))]],
    );
    check(
        "    sel:\n        F|startswith: 'ab'\n    condition: sel",
        &[&[("F", s("ABc"))]],
        &[&[("F", s("cab"))]],
    );
    check(
        "    sel:\n        F|endswith: '.EXE'\n    condition: sel",
        &[&[("F", s("a.exe"))]],
        &[&[("F", s("a.exe "))]],
    );
    check(
        "    sel:\n        F|contains|cased: 'MiMi'\n    condition: sel",
        &[&[("F", s("xxMiMikatz"))]],
        &[&[("F", s("xxmimikatz"))]],
    );
}

#[test]
fn wildcards_and_escapes() {
    check(
        "    sel:\n        F: 'a*c'\n    condition: sel",
        &[&[("F", s("abbbc"))], &[("F", s("ac"))]],
        &[&[("F", s("abd"))]],
    );
    check(
        "    sel:\n        F: 'a?c'\n    condition: sel",
        &[&[("F", s("abc"))]],
        &[&[("F", s("ac"))], &[("F", s("abbc"))]],
    );
    // An escaped wildcard is the character itself.
    check(
        "    sel:\n        F: 'a\\*c'\n    condition: sel",
        &[&[("F", s("a*c"))]],
        &[&[("F", s("abc"))]],
    );
    check(
        "    sel:\n        F: 'a\\?c'\n    condition: sel",
        &[&[("F", s("a?c"))]],
        &[&[("F", s("abc"))]],
    );
    // A backslash before a backslash is one backslash; before anything else it stays.
    check(
        "    sel:\n        F: 'a\\\\*'\n    condition: sel",
        &[&[("F", s("a\\xyz"))]],
        &[&[("F", s("axyz"))]],
    );
    check(
        "    sel:\n        F|contains: '\\Temp\\'\n    condition: sel",
        &[&[("F", s("C:\\Temp\\x"))]],
        &[],
    );
}

#[test]
fn lists_are_or_and_all_makes_them_and() {
    check(
        "    sel:\n        F|contains:\n            - 'one'\n            - 'two'\n    condition: sel",
        &[&[("F", s("two"))]],
        &[&[("F", s("three"))]],
    );
    check(
        "    sel:\n        F|contains|all:\n            - 'one'\n            - 'two'\n    condition: sel",
        &[&[("F", s("one and two"))]],
        &[&[("F", s("one"))]],
    );
    // A list of maps is OR; a map is AND.
    check(
        "    sel:\n        - A: 1\n          B: 2\n        - C: 3\n    condition: sel",
        &[
            &[("A", Value::Int(1)), ("B", Value::Int(2))],
            &[("C", Value::Int(3))],
        ],
        &[&[("A", Value::Int(1))]],
    );
}

#[test]
fn regular_expressions_and_flags() {
    check(
        "    sel:\n        F|re: '^a.c$'\n    condition: sel",
        &[&[("F", s("abc"))]],
        &[&[("F", s("ABC"))], &[("F", s("xabc"))]],
    );
    check(
        "    sel:\n        F|re|i: '^a.c$'\n    condition: sel",
        &[&[("F", s("ABC"))]],
        &[],
    );
    check(
        "    sel:\n        F|re|m: '^b$'\n    condition: sel",
        &[&[("F", s("a\nb\nc"))]],
        &[],
    );
    check(
        "    sel:\n        F|re|s: 'a.b'\n    condition: sel",
        &[&[("F", s("a\nb"))]],
        &[],
    );
    check(
        "    sel:\n        F|re: 'a.b'\n    condition: sel",
        &[],
        &[&[("F", s("a\nb"))]],
    );
}

#[test]
fn base64_and_base64offset_at_each_alignment() {
    check(
        "    sel:\n        F|base64|contains: 'ping'\n    condition: sel",
        &[&[("F", s("xx cGluZw== yy"))]],
        &[&[("F", s("ping"))]],
    );
    let set = rule("    sel:\n        F|base64offset|contains: '/bin/sh'\n    condition: sel");
    for prefix in ["", "a", "ab"] {
        use base64::Engine;
        let encoded =
            base64::engine::general_purpose::STANDARD.encode(format!("{prefix}/bin/sh and more"));
        assert!(
            hit(&set, &event(&[("F", s(&encoded))])),
            "offset {}",
            prefix.len()
        );
    }
    assert!(!hit(&set, &event(&[("F", s("L2Jpbi9iYXNo"))])));
}

#[test]
fn utf16_encodings() {
    use base64::Engine;
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    let le: Vec<u8> = "cmd".encode_utf16().flat_map(u16::to_le_bytes).collect();
    let be: Vec<u8> = "cmd".encode_utf16().flat_map(u16::to_be_bytes).collect();
    let mut bom = vec![0xFF, 0xFE];
    bom.extend(&le);
    check(
        "    sel:\n        F|wide|base64: 'cmd'\n    condition: sel",
        &[&[("F", s(&b64(&le)))]],
        &[&[("F", s(&b64(b"cmd")))]],
    );
    check(
        "    sel:\n        F|utf16le|base64: 'cmd'\n    condition: sel",
        &[&[("F", s(&b64(&le)))]],
        &[],
    );
    check(
        "    sel:\n        F|utf16be|base64: 'cmd'\n    condition: sel",
        &[&[("F", s(&b64(&be)))]],
        &[&[("F", s(&b64(&le)))]],
    );
    check(
        "    sel:\n        F|utf16|base64: 'cmd'\n    condition: sel",
        &[&[("F", s(&b64(&bom)))]],
        &[],
    );
    // PowerShell -EncodedCommand: UTF-16LE, then base64 at any offset.
    let mut cmd = "IEX something"
        .encode_utf16()
        .flat_map(u16::to_le_bytes)
        .collect::<Vec<u8>>();
    cmd.splice(0..0, "x".encode_utf16().flat_map(u16::to_le_bytes));
    check(
        "    sel:\n        F|wide|base64offset|contains: 'IEX'\n    condition: sel",
        &[&[("F", s(&b64(&cmd)))]],
        &[],
    );
}

#[test]
fn windash_variants() {
    let det = "    sel:\n        CommandLine|windash|contains: ' -enc '\n    condition: sel";
    check(
        det,
        &[
            &[("CommandLine", s("powershell -enc AAA"))],
            &[("CommandLine", s("powershell /enc AAA"))],
            &[("CommandLine", s("powershell \u{2013}enc AAA"))],
            &[("CommandLine", s("powershell \u{2014}enc AAA"))],
            &[("CommandLine", s("powershell \u{2015}enc AAA"))],
        ],
        &[&[("CommandLine", s("powershell +enc AAA"))]],
    );
}

#[test]
fn cidr_v4_and_v6() {
    let ip = |t: &str| Value::Ip(t.parse().unwrap());
    check(
        "    sel:\n        IP|cidr:\n            - '10.0.0.0/8'\n            - 'fd00::/8'\n    condition: sel",
        &[
            &[("IP", ip("10.1.2.3"))],
            &[("IP", s("10.9.9.9"))],
            &[("IP", ip("fd12::1"))],
        ],
        &[
            &[("IP", ip("11.0.0.1"))],
            &[("IP", ip("fe80::1"))],
            &[("IP", s("not an ip"))],
        ],
    );
}

#[test]
fn exists_null_and_missing() {
    check(
        "    sel:\n        F|exists: true\n    condition: sel",
        &[&[("F", s(""))]],
        &[&[("G", s("x"))], &[("F", Value::Null)]],
    );
    check(
        "    sel:\n        F|exists: false\n    condition: sel",
        &[&[("G", s("x"))]],
        &[&[("F", s("x"))]],
    );
    // null: the field is missing or null — an empty string is a value.
    check(
        "    sel:\n        F: null\n    condition: sel",
        &[&[("G", s("x"))], &[("F", Value::Null)]],
        &[&[("F", s(""))], &[("F", s("x"))]],
    );
    check(
        "    sel:\n        F: ''\n    condition: sel",
        &[&[("F", s(""))]],
        &[&[("G", s("x"))]],
    );
}

#[test]
fn expand_placeholders() {
    let mut ph = Placeholders::default();
    ph.insert("admins".into(), vec!["alice".into(), "bob".into()]);
    let set = set_with(
        "title: t\nlogsource: {product: test}\ndetection:\n    sel:\n        User|expand: '%admins%'\n    condition: sel\n",
        &ph,
    );
    assert!(hit(&set, &event(&[("User", s("BOB"))])));
    assert!(!hit(&set, &event(&[("User", s("carol"))])));
    // Without values the rule is reported, not silently empty.
    let rules = parse_rules(
        "title: t\nlogsource: {product: test}\ndetection:\n    sel:\n        User|expand: '%admins%'\n    condition: sel\n",
        &Arc::from("x.yml"),
    );
    let (_, report) = RuleSet::build(
        rules,
        &Mapping::parse(MAPPING).unwrap(),
        &Placeholders::default(),
    );
    assert_eq!(report.unsupported.len(), 1);
    assert!(report.unsupported[0].reason.contains("%admins%"));
}

#[test]
fn fieldref() {
    check(
        "    sel:\n        Target|fieldref: Source\n    condition: sel",
        &[&[("Target", s("Alice")), ("Source", s("alice"))]],
        &[
            &[("Target", s("alice")), ("Source", s("bob"))],
            &[("Target", s("alice"))],
        ],
    );
}

#[test]
fn numbers_compare_as_numbers() {
    check(
        "    sel:\n        EventID: 4624\n    condition: sel",
        &[&[("EventID", Value::Int(4624))], &[("EventID", s("4624"))]],
        &[&[("EventID", Value::Int(4625))]],
    );
    check(
        "    sel:\n        N|gt: 10\n    condition: sel",
        &[
            &[("N", Value::Int(11))],
            &[("N", s("10.5"))],
            &[("N", s("0x20"))],
        ],
        &[&[("N", Value::Int(10))], &[("N", s("abc"))]],
    );
    check(
        "    sel:\n        N|gte: 10\n    condition: sel",
        &[&[("N", Value::Int(10))]],
        &[&[("N", Value::Float(9.9))]],
    );
    check(
        "    sel:\n        N|lt: 10\n    condition: sel",
        &[&[("N", Value::Int(9))]],
        &[&[("N", Value::Int(10))]],
    );
    check(
        "    sel:\n        N|lte: 10\n    condition: sel",
        &[&[("N", Value::Int(10))]],
        &[&[("N", Value::Int(11))]],
    );
    // A quoted number is text but still equals the number's text.
    check(
        "    sel:\n        LogonType: '3'\n    condition: sel",
        &[&[("LogonType", Value::Int(3))]],
        &[&[("LogonType", Value::Int(33))]],
    );
}

#[test]
fn neq() {
    check(
        "    sel:\n        F|neq: 'a'\n    condition: sel",
        &[&[("F", s("b"))]],
        &[&[("F", s("A"))], &[("G", s("b"))]],
    );
}

#[test]
fn list_values_in_events_match_any_element() {
    check(
        "    sel:\n        Tags|endswith: '.exe'\n    condition: sel",
        &[&[("Tags", Value::List(vec![s("a.txt"), s("b.EXE")]))]],
        &[&[("Tags", Value::List(vec![s("a.txt")]))]],
    );
}

#[test]
fn condition_forms() {
    let det = "    sel_a:\n        A: 1\n    sel_b:\n        B: 1\n    filter:\n        C: 1\n";
    let a = ("A", Value::Int(1));
    let b = ("B", Value::Int(1));
    let c = ("C", Value::Int(1));
    check(
        &format!("{det}    condition: sel_a and sel_b"),
        &[&[a.clone(), b.clone()]],
        &[&[a.clone()]],
    );
    check(
        &format!("{det}    condition: sel_a or sel_b"),
        &[&[b.clone()]],
        &[&[c.clone()]],
    );
    check(
        &format!("{det}    condition: sel_a and not filter"),
        &[&[a.clone()]],
        &[&[a.clone(), c.clone()]],
    );
    check(
        &format!("{det}    condition: (sel_a or sel_b) and not filter"),
        &[&[b.clone()]],
        &[&[b.clone(), c.clone()]],
    );
    check(
        &format!("{det}    condition: 1 of sel_*"),
        &[&[b.clone()]],
        &[&[c.clone()]],
    );
    check(
        &format!("{det}    condition: all of sel_*"),
        &[&[a.clone(), b.clone()]],
        &[&[a.clone(), c.clone()]],
    );
    check(
        &format!("{det}    condition: 1 of them"),
        &[&[c.clone()]],
        &[&[("D", Value::Int(1))]],
    );
    check(
        &format!("{det}    condition: all of them"),
        &[&[a.clone(), b.clone(), c.clone()]],
        &[&[a.clone(), b.clone()]],
    );
    // Several conditions are alternatives.
    check(
        &format!("{det}    condition:\n        - sel_a\n        - filter"),
        &[&[c.clone()]],
        &[&[b.clone()]],
    );
}

#[test]
fn keywords() {
    check(
        "    keywords:\n        - 'mimikatz'\n        - 'sekurlsa'\n    condition: keywords",
        &[
            &[("Any", s("running MIMIKATZ.exe"))],
            &[("Other", s("x")), ("Msg", s("sekurlsa::logonpasswords"))],
        ],
        &[&[("Any", s("nothing"))]],
    );
    check(
        "    keywords:\n        '|all':\n            - 'foo'\n            - 'bar'\n    condition: keywords",
        &[&[("A", s("foo")), ("B", s("bar"))]],
        &[&[("A", s("foo"))]],
    );
    // Wildcards among plain keywords (one automaton finds the literals; the
    // wildcard keywords are then tested whole), list values, any case.
    let kw = "    keywords:\n        - 'chown root*chmod 4777 '\n        - 'ghost_* -v '\n        - 'plain'\n";
    check(
        &format!("{kw}    condition: keywords"),
        &[
            &[("M", s("sudo CHOWN root x; chmod 4777 y"))],
            &[("L", Value::List(vec![s("a"), s("ghost_x -V z")]))],
            &[("A", s("x")), ("M", s("Plain text"))],
        ],
        &[
            &[("M", s("chmod 4777 then chown root"))],
            &[("M", s("ghost_ -x"))],
            &[("N", Value::Int(5))],
        ],
    );
    // Keywords beside a field selection and a filter.
    check(
        &format!(
            "{kw}    sel:\n        app: sshd\n    filter:\n        user: root\n    condition: keywords and sel and not filter"
        ),
        &[&[("app", s("sshd")), ("msg", s("plain")), ("user", s("bob"))]],
        &[
            &[("app", s("cron")), ("msg", s("plain"))],
            &[("app", s("sshd")), ("msg", s("plain")), ("user", s("root"))],
            &[("app", s("sshd")), ("msg", s("nothing"))],
        ],
    );
}

#[test]
fn broken_rules_are_reported_not_panicked() {
    for (yaml, why) in [
        (
            "title: t\nlogsource: {product: test}\ndetection:\n    sel:\n        F|nosuchmod: x\n    condition: sel\n",
            "unknown value modifier",
        ),
        (
            "title: t\nlogsource: {product: test}\ndetection:\n    sel:\n        F: x\n    condition: sel and other\n",
            "not a selection",
        ),
        (
            "title: t\nlogsource: {product: test}\ndetection:\n    sel:\n        F: x\n    condition: sel | count() > 5\n",
            "correlation",
        ),
        (
            "title: t\nlogsource: {product: test}\ndetection:\n    sel:\n        F|re: '(?<=a)b'\n    condition: sel\n",
            "regular expression",
        ),
        (
            "title: t\nlogsource: {product: test}\ndetection:\n    sel:\n        F: x\n",
            "no `condition`",
        ),
        ("title: [unclosed\n", "not valid YAML"),
    ] {
        let rules = parse_rules(yaml, &Arc::from("bad.yml"));
        let (_, report) = RuleSet::build(
            rules,
            &Mapping::parse(MAPPING).unwrap(),
            &Placeholders::default(),
        );
        assert_eq!(report.unsupported.len(), 1, "{yaml}");
        let e = report.unsupported[0].to_string();
        assert!(e.contains("bad.yml") && e.contains(why), "{e}");
    }
}

#[test]
fn filters_exclude_matches_of_named_rules() {
    let yaml = "title: Base\nid: base-1\nlogsource: {product: test}\ndetection:\n    sel:\n        Image|endswith: '\\cmd.exe'\n    condition: sel\n---\ntitle: Known admin\nlogsource: {product: test}\nfilter:\n    rules:\n        - base-1\n    selection:\n        User: admin\n    condition: selection\n";
    let rules = parse_rules(yaml, &Arc::from("f.yml"));
    let (set, report) = RuleSet::build(
        rules,
        &Mapping::parse(MAPPING).unwrap(),
        &Placeholders::default(),
    );
    assert_eq!(report.filters, 1, "{:?}", report.unsupported);
    assert!(hit(
        &set,
        &event(&[("Image", s("c:\\cmd.exe")), ("User", s("eve"))])
    ));
    assert!(!hit(
        &set,
        &event(&[("Image", s("c:\\cmd.exe")), ("User", s("Admin"))])
    ));
}

fn correlate(yaml: &str, events: &[Event]) -> Vec<(String, Vec<String>, usize)> {
    let rules = parse_rules(yaml, &Arc::from("c.yml"));
    let (set, report) = RuleSet::build(
        rules,
        &Mapping::parse(MAPPING).unwrap(),
        &Placeholders::default(),
    );
    assert!(report.unsupported.is_empty(), "{:?}", report.unsupported);
    assert_eq!(report.correlations, 1);
    let mut correlator = Correlator::new(&set.correlations);
    let mut scratch = Scratch::default();
    let mut fired = Vec::new();
    for (i, e) in events.iter().enumerate() {
        let mut m = Vec::new();
        set.matches(e, &mut scratch, &mut m);
        for r in m {
            for h in correlator.observe(r, e, i) {
                fired.push((
                    set.correlations[h.correlation].meta.title.clone(),
                    h.key,
                    h.events.len(),
                ));
            }
        }
    }
    fired
}

const FAILED_LOGON: &str = "title: Failed logon\nname: failed_logon\nlogsource: {product: test}\ndetection:\n    sel:\n        EventID: 4625\n    condition: sel\n";

#[test]
fn event_count_by_group_within_timespan() {
    let yaml = format!(
        "{FAILED_LOGON}---\ntitle: Brute force\ncorrelation:\n    type: event_count\n    rules: [failed_logon]\n    group-by: [TargetUserName]\n    timespan: 1m\n    condition:\n        gte: 3\n"
    );
    let fail = |t: i64, user: &str| {
        event_at(
            t,
            &[("EventID", Value::Int(4625)), ("TargetUserName", s(user))],
        )
    };
    // Three for alice within a minute fire; bob's two and alice's spread-out ones do not.
    let fired = correlate(
        &yaml,
        &[
            fail(0, "alice"),
            fail(10, "bob"),
            fail(20, "alice"),
            fail(30, "bob"),
            fail(50, "alice"),
        ],
    );
    assert_eq!(
        fired,
        vec![("Brute force".to_string(), vec!["alice".to_string()], 3)]
    );
    let spread = correlate(
        &yaml,
        &[fail(0, "alice"), fail(70, "alice"), fail(140, "alice")],
    );
    assert!(spread.is_empty());
}

#[test]
fn value_count_distinct_values() {
    let yaml = format!(
        "{FAILED_LOGON}---\ntitle: Password spray\ncorrelation:\n    type: value_count\n    rules: [failed_logon]\n    group-by: [IpAddress]\n    timespan: 5m\n    condition:\n        field: TargetUserName\n        gte: 3\n"
    );
    let fail = |t: i64, ip: &str, user: &str| {
        event_at(
            t,
            &[
                ("EventID", Value::Int(4625)),
                ("IpAddress", s(ip)),
                ("TargetUserName", s(user)),
            ],
        )
    };
    let fired = correlate(
        &yaml,
        &[
            fail(0, "10.0.0.9", "a"),
            fail(1, "10.0.0.9", "a"),
            fail(2, "10.0.0.9", "b"),
            fail(3, "10.0.0.7", "c"),
            fail(4, "10.0.0.9", "c"),
        ],
    );
    assert_eq!(fired.len(), 1);
    assert_eq!(fired[0].1, vec!["10.0.0.9".to_string()]);
}

const TWO_RULES: &str = "title: Recon\nname: recon\nlogsource: {product: test}\ndetection:\n    sel:\n        Image|endswith: '\\whoami.exe'\n    condition: sel\n---\ntitle: Dump\nname: dump\nlogsource: {product: test}\ndetection:\n    sel:\n        TargetImage|endswith: '\\lsass.exe'\n    condition: sel\n";

#[test]
fn temporal_any_order_with_aliases() {
    let yaml = format!(
        "{TWO_RULES}---\ntitle: Recon then dump\ncorrelation:\n    type: temporal\n    rules: [recon, dump]\n    group-by: [host]\n    timespan: 10m\n    aliases:\n        host:\n            recon: Computer\n            dump: Hostname\n"
    );
    let recon =
        |t: i64, h: &str| event_at(t, &[("Image", s("c:\\whoami.exe")), ("Computer", s(h))]);
    let dump = |t: i64, h: &str| {
        event_at(
            t,
            &[("TargetImage", s("c:\\lsass.exe")), ("Hostname", s(h))],
        )
    };
    // Dump first, then recon on the same host: temporal does not care about order.
    let fired = correlate(
        &yaml,
        &[dump(0, "ws1"), recon(60, "ws2"), recon(120, "ws1")],
    );
    assert_eq!(
        fired,
        vec![("Recon then dump".to_string(), vec!["ws1".to_string()], 2)]
    );
}

#[test]
fn temporal_ordered_needs_the_order() {
    let yaml = format!(
        "{TWO_RULES}---\ntitle: Recon then dump\ncorrelation:\n    type: temporal_ordered\n    rules: [recon, dump]\n    group-by: [Computer]\n    timespan: 10m\n"
    );
    let recon = |t: i64| event_at(t, &[("Image", s("c:\\whoami.exe")), ("Computer", s("ws1"))]);
    let dump = |t: i64| {
        event_at(
            t,
            &[("TargetImage", s("c:\\lsass.exe")), ("Computer", s("ws1"))],
        )
    };
    assert!(correlate(&yaml, &[dump(0), recon(10)]).is_empty());
    assert_eq!(correlate(&yaml, &[recon(0), dump(10)]).len(), 1);
    // Too far apart.
    assert!(correlate(&yaml, &[recon(0), dump(1000)]).is_empty());
}
