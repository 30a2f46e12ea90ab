//! `vakt demo` end to end: the simulated attack becomes one incident with its
//! stages in order, the scoped exposure is exactly the simulator's truth, the
//! benign noise raises no high-severity incident, and the report opens in
//! headless Chromium without errors and without network access.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use serde_json::Value as Json;

fn vakt(args: &[&str]) -> (i32, String, String) {
    vakt_in(Path::new(env!("CARGO_MANIFEST_DIR")), args)
}

fn vakt_in(cwd: &Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_vakt"))
        .args(args)
        .current_dir(cwd)
        .env("VAKT_RULES", shared("sigma/rules"))
        .env_remove("VAKT_PSEUDONYM_KEY_FILE")
        .output()
        .expect("vakt runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn shared(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data")
        .join(rel)
}

/// Runs `vakt demo --format json` into a new folder.
fn demo(extra: &[&str]) -> (tempfile::TempDir, Json) {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("case");
    let mut args = vec!["demo", "--format", "json", "--dir", d.to_str().unwrap()];
    args.extend_from_slice(extra);
    let (code, out, err) = vakt(&args);
    assert_eq!(code, 0, "{err}");
    let j: Json = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    (dir, j)
}

/// The default demo, run once for the tests that read it.
/// Every check on the default demo, in one test: the demo is made once
/// (whatever runs the tests: one process per test, or one for all).
#[test]
fn the_default_demo() {
    the_default_demo_finds_one_incident_and_the_exact_exposure();
    the_default_demo_finds_what_it_found_before();
    a_broken_alert_line_is_reported_and_the_rest_correlated();
    hunting_the_demos_store_finds_what_hunting_its_files_found();
    the_report_opens_in_headless_chromium_without_errors_or_network();
}

fn default_demo() -> &'static (tempfile::TempDir, Json) {
    static D: OnceLock<(tempfile::TempDir, Json)> = OnceLock::new();
    D.get_or_init(|| demo(&[]))
}

fn severity(i: &Json) -> &str {
    i["severity"].as_str().unwrap()
}

/// The attack's incident, and checks that hold for every run.
fn attack_incident(j: &Json) -> &Json {
    let truth = &j["truth"];
    assert_eq!(
        truth["attack_incidents"], 1,
        "the attack is fragmented: {truth}"
    );
    let id = truth["attack_incident"].as_str().unwrap();
    let inc = j["incidents"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["id"] == id)
        .unwrap();
    for key in ["id", "severity", "stages", "entities"] {
        assert!(!inc[key].is_null(), "incident without {key}");
    }
    inc
}

/// The stages the incident shows, in its order, restricted to the stages
/// the truth has, are the truth's stages in the truth's order — but for
/// stages that begin within a minute of each other, which either order
/// may show (SAMR enumeration over SMB to three servers is discovery to the
/// truth and, a fraction of a second earlier, remote access to three hosts
/// to the network analytics).
fn stages_in_order(inc: &Json, truth: &Json, case: &Path) -> Vec<String> {
    let true_order: Vec<&str> = truth["stages_true"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect();
    let seen: Vec<String> = inc["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_owned())
        .filter(|s| true_order.contains(&s.as_str()))
        .collect();
    // When each stage began, from the case's incidents.
    let incidents: Json =
        serde_json::from_str(&std::fs::read_to_string(case.join("incidents.json")).unwrap())
            .unwrap();
    let list = incidents
        .as_array()
        .or_else(|| incidents["incidents"].as_array())
        .unwrap();
    let ours = list.iter().find(|i| i["id"] == inc["id"]).unwrap();
    let began = |stage: &str| -> i64 {
        ours["stages"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["stage"] == stage)
            .and_then(|s| s["first"].as_str())
            .map(|t| vakt_core::Timestamp::parse(t).unwrap().0)
            .unwrap()
    };
    let rank = |s: &str| true_order.iter().position(|x| *x == s).unwrap();
    for w in seen.windows(2) {
        if rank(&w[0]) > rank(&w[1]) {
            let gap = began(&w[1]) - began(&w[0]);
            assert!(
                gap.abs() <= 60_000_000_000,
                "stages out of order: {} before {} ({seen:?})",
                w[0],
                w[1]
            );
        }
    }
    let mut sorted = seen.clone();
    sorted.sort_by_key(|s| rank(s));
    sorted
}

/// What every seed and size must give (issue 21): exactly one incident
/// holds the attack, and it is the CERT's first; patient zero is the phished
/// workstation at the initial access; the confirmed exposure is the truth's
/// set (0 missing, 0 extra); the notification clock runs from the first
/// alert about the attack; every stage of the attack is seen but the
/// delivery itself (issue 22: a zip, an ISO or a script saved from mail or
/// a browser raises no alert by itself — the execution that follows does,
/// and patient zero comes from it); and of the
/// alerts in the CERT's incidents (the privacy office's cases — EHR conduct
/// with no intrusion joined — are not the CERT's) at least 90 % are about
/// the attack (an alert is about the attack when it was raised on one of
/// the attacker's records, or acts with the attacker's hosts or accounts
/// after the initial access).
fn scoped_exactly(j: &Json) {
    let truth = &j["truth"];
    let inc = attack_incident(j);
    let cert: Vec<&Json> = j["incidents"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["queue"] == "cert")
        .collect();
    assert_eq!(cert[0]["id"], inc["id"], "{truth}");
    assert_eq!(j["exposure"]["incident"], inc["id"]);
    assert_eq!(truth["patient_zero_right"], true, "{truth}");
    assert_eq!(
        inc["patient_zero"]["time"], j["truth"]["first_attack_alert"],
        "{truth}"
    );
    assert_eq!(truth["missing"], 0, "{truth}");
    assert_eq!(truth["extra"], 0, "{truth}");
    assert_eq!(truth["clock_right"], true, "{truth}");
    assert_eq!(
        j["exposure"]["awareness"], truth["first_attack_alert"],
        "the clock runs from the first alert of the intrusion"
    );
    let found: Vec<&str> = truth["stages_found"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect();
    for s in truth["stages_true"].as_array().unwrap() {
        let s = s.as_str().unwrap();
        assert!(
            s == "initial-access" || found.contains(&s),
            "stage {s} not seen: {truth}"
        );
    }
    assert!(truth["precision"].as_f64().unwrap() >= 0.9, "{truth}");
    assert!(
        matches!(
            inc["stages"][0].as_str(),
            Some("initial-access" | "execution")
        ),
        "the intrusion's stages begin at the initial access or the execution it led to: {inc}"
    );
}

/// The accounts of the simulator's insider cases (`truth/insiders.json`).
fn insider_accounts(case: &Path) -> Vec<String> {
    let Ok(text) = std::fs::read_to_string(case.join("truth/insiders.json")) else {
        return Vec::new();
    };
    let t: Json = serde_json::from_str(&text).unwrap();
    t["cases"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|c| {
            [
                format!("account:{}", c["account"]["user"].as_str().unwrap()),
                format!("account:{}", c["account"]["practitioner"].as_str().unwrap()),
            ]
        })
        .collect()
}

/// Is the incident about one of the simulator's insiders?
fn about_insider(i: &Json, insiders: &[String]) -> bool {
    i["entities"].as_array().unwrap().iter().any(|e| {
        e["key"]
            .as_str()
            .is_some_and(|k| insiders.iter().any(|x| x.eq_ignore_ascii_case(k)))
    })
}

/// Another seed at the default size: the attack elsewhere in the region,
/// other administrators reaching the same servers.
#[test]
fn another_seed_is_scoped_exactly() {
    let (_, j) = demo(&["--seed", "23"]);
    scoped_exactly(&j);
}

/// A hundred thousand patients over three days: many administrators at
/// work, many single look-ups of protected persons — still one incident,
/// the right patient zero and the exact exposure.
#[test]
fn a_large_region_is_scoped_exactly() {
    let (_, j) = demo(&["--patients", "100000", "--days", "3"]);
    scoped_exactly(&j);
    assert!(
        j["truth"]["privacy_cases"].as_u64().unwrap() > 0,
        "single look-ups of protected persons are the privacy office's"
    );
}

fn the_default_demo_finds_one_incident_and_the_exact_exposure() {
    let (dir, j) = default_demo();
    let insiders = insider_accounts(&dir.path().join("case"));
    assert!(!insiders.is_empty());
    let truth = &j["truth"];
    let inc = attack_incident(j);
    // The attack is the most severe incident, and it is what was scoped.
    assert_eq!(j["incidents"][0]["id"], inc["id"]);
    assert_eq!(severity(inc), "critical");
    assert_eq!(j["exposure"]["incident"], inc["id"]);
    // Stages in the right order, every one of the attack's seen but the
    // delivery (this seed's is HTML smuggling: a script saved by the
    // browser, no alert by itself; wscript running it is the execution).
    let seen = stages_in_order(inc, truth, &dir.path().join("case"));
    assert_eq!(
        seen,
        [
            "execution",
            "command-and-control",
            "credential-access",
            "discovery",
            "lateral-movement",
            "collection",
            "exfiltration"
        ]
    );
    // Patient zero is the phished clinician's workstation.
    let pz = inc["patient_zero"]["entity"].as_str().unwrap();
    assert!(pz.starts_with("host:") && pz.contains("-ws"), "{pz}");
    // Confirmed exposure = the truth set, exactly.
    assert_eq!(truth["equal"], true, "{truth}");
    assert_eq!(truth["missing"], 0);
    assert_eq!(truth["extra"], 0);
    let exposed = truth["exposed"].as_u64().unwrap();
    assert_eq!(j["exposure"]["confirmed"].as_u64().unwrap(), exposed);
    assert!(exposed > truth["collected"].as_u64().unwrap());
    // The county counts add up to the confirmed and possible totals.
    let by_county = j["exposure"]["by_county"].as_object().unwrap();
    let sum = |k: &str| -> u64 { by_county.values().map(|c| c[k].as_u64().unwrap()).sum() };
    assert_eq!(sum("confirmed"), exposed);
    assert_eq!(sum("possible"), j["exposure"]["possible"].as_u64().unwrap());
    assert!(j["exposure"]["possible"].as_u64().unwrap() > 0);
    // Benign noise: no other incident is high or critical (the insiders'
    // cases may be).
    for i in j["incidents"].as_array().unwrap() {
        if i["id"] != inc["id"] && !about_insider(i, &insiders) {
            assert!(
                !matches!(severity(i), "high" | "critical"),
                "benign incident of high severity: {i}"
            );
        }
    }
    // Detection quality against the truth, patient zero, the clock.
    scoped_exactly(j);
    // The 72-hour clock runs from the first alert of the intrusion.
    let clocks = j["exposure"]["clocks"].as_array().unwrap();
    assert!(
        clocks
            .iter()
            .any(|c| c["hours"] == 72 && c["due"].is_string())
    );
}

/// A stealthier, slower attacker (a beacon every 15 minutes with ±35 %
/// jitter, 200 records read over 30 hours from the second day): still one
/// incident from the phishing document on the workstation to the collection,
/// and the exposure still exact. Exfiltration falls after the simulated days.
#[test]
fn a_stealthy_slow_attack_is_still_found() {
    let (dir, j) = demo(&[
        "--stealth",
        "high",
        "--speed",
        "normal",
        "--days",
        "4",
        "--patients",
        "10000",
    ]);
    let truth = &j["truth"];
    let inc = attack_incident(&j);
    let seen = stages_in_order(inc, truth, &dir.path().join("case"));
    for s in [
        "execution",
        "command-and-control",
        "lateral-movement",
        "collection",
    ] {
        assert!(seen.iter().any(|x| x == s), "{s} not found: {seen:?}");
    }
    assert_eq!(truth["equal"], true, "{truth}");
    let insiders = insider_accounts(&dir.path().join("case"));
    for i in j["incidents"].as_array().unwrap() {
        if i["id"] != inc["id"] && !about_insider(i, &insiders) {
            assert!(!matches!(severity(i), "high" | "critical"), "{i}");
        }
    }
    scoped_exactly(&j);
}

fn chromium() -> PathBuf {
    let p = std::env::var_os("CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
    assert!(
        p.exists(),
        "{} not found: run the tests with scripts/test, which installs Debian's chromium",
        p.display()
    );
    p
}

/// Chromium headless, without network: every connection goes to a closed
/// port and no name resolves.
fn headless(profile: &Path, what: &[&str], page: &Path) -> (String, String) {
    let out = Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-extensions",
            "--proxy-server=127.0.0.1:9",
            "--host-resolver-rules=MAP * ~NOTFOUND",
            "--enable-logging=stderr",
            "--v=0",
            "--window-size=1300,2400",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(what)
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("chromium runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn number(dom: &str, id: &str) -> u64 {
    let start = dom
        .find(&format!("id=\"{id}\">"))
        .unwrap_or_else(|| panic!("no #{id} in the page"))
        + id.len()
        + 6;
    dom[start..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect::<String>()
        .parse()
        .unwrap()
}

fn the_report_opens_in_headless_chromium_without_errors_or_network() {
    let (dir, j) = default_demo();
    let case = dir.path().join("case");
    let page = dir.path().join("report.html");
    let (code, _, err) = vakt(&[
        "report",
        "top",
        "--case",
        case.to_str().unwrap(),
        "--output",
        page.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    let html = std::fs::read_to_string(&page).unwrap();
    // Self-contained: nothing to fetch (the SVG namespace is a name, not a fetch).
    for bad in [
        "src=\"http",
        "href=\"http",
        "<script",
        "<link",
        "@import",
        "url(http",
    ] {
        assert!(!html.contains(bad), "the report refers to {bad}");
    }
    let profile = tempfile::tempdir().unwrap();
    let (dom, log) = headless(profile.path(), &["--dump-dom"], &page);
    // Console messages are where script errors and blocked loads (the
    // page's policy forbids any fetch) are reported.
    let console: Vec<&str> = log.lines().filter(|l| l.contains("CONSOLE")).collect();
    assert!(console.is_empty(), "{console:?}");
    // The key numbers as the browser rendered them.
    let e = &j["exposure"];
    assert_eq!(number(&dom, "confirmed"), e["confirmed"].as_u64().unwrap());
    assert_eq!(number(&dom, "possible"), e["possible"].as_u64().unwrap());
    let inc = &j["incidents"][0];
    assert_eq!(
        number(&dom, "stages-count"),
        inc["stages"].as_array().unwrap().len() as u64
    );
    assert_eq!(
        number(&dom, "alerts-count"),
        inc["alerts"].as_u64().unwrap()
    );
    assert!(dom.contains("id=\"graph\"") && dom.contains("id=\"timeline\""));
    assert!(dom.contains("id=\"county-chart\"") && dom.contains(">Akershus<"));
    assert!(dom.contains("Data protection authority (GDPR Art. 33)"));
    // No identity number or record id of a patient on the page.
    let csv = std::fs::read_to_string(case.join("truth/exposed_patients.csv")).unwrap();
    for l in csv.lines().skip(1).take(200) {
        let mut f = l.split(',');
        let (id, nin) = (f.next().unwrap(), f.next().unwrap());
        assert!(
            !html.contains(nin) && !html.contains(&format!(">{id}<")),
            "{id}"
        );
    }
    // The screenshot.
    let png = dir.path().join("report.png");
    let shot = format!("--screenshot={}", png.display());
    let (_, log) = headless(profile.path(), &[&shot], &page);
    assert!(!log.contains("CONSOLE"), "{log}");
    let bytes = std::fs::read(&png).unwrap();
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
    assert!(bytes.len() > 50_000, "a blank page? {} bytes", bytes.len());
}

/// A line of the alerts file that is not an alert is reported with its line
/// number and counted (exit code 2); the other alerts still become incidents.
fn a_broken_alert_line_is_reported_and_the_rest_correlated() {
    let (dir, _) = default_demo();
    let alerts = std::fs::read_to_string(dir.path().join("case/alerts.jsonl")).unwrap();
    let case = tempfile::tempdir().unwrap();
    let mut lines: Vec<&str> = alerts.lines().collect();
    let total = lines.len();
    lines.insert(2, "{\"id\": \"A-broken\", \"severity\": \"catastrophic\"}");
    std::fs::write(case.path().join("alerts.jsonl"), lines.join("\n")).unwrap();
    std::fs::write(
        case.path().join("case.json"),
        r#"{"store": "store", "alerts": "alerts.jsonl", "incidents": "incidents.json"}"#,
    )
    .unwrap();
    let (code, out, err) = vakt(&[
        "incidents",
        "--case",
        case.path().to_str().unwrap(),
        "--format",
        "json",
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("alerts.jsonl: line 3: not an alert"), "{err}");
    let incidents: Json = serde_json::from_str(&out).unwrap();
    let n: usize = incidents
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["alerts"].as_array().unwrap().len())
        .sum();
    assert_eq!(n, total);
    assert!(case.path().join("incidents.json").exists());
}

/// Alerts of the default demo (seed 2018): the intrusion's, the insiders'
/// cases and the region's benign noise.
const GOLDEN_ALERTS: usize = 77;

fn golden(name: &str) -> String {
    std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/golden")
            .join(name),
    )
    .unwrap()
}

/// An alert as the goldens compare it: rule, title, severity, time span,
/// ATT&CK, who acted and what was reached.
fn alert_key(rule: &str, a: &Json) -> String {
    let mut targets: Vec<String> = a["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(Json::to_string)
        .collect();
    targets.sort();
    serde_json::json!([
        rule,
        a["title"],
        a["severity"],
        a["first"],
        a["last"],
        a["techniques"],
        a["tactics"],
        a["actors"],
        targets
    ])
    .to_string()
}

fn rule_id(a: &Json) -> String {
    let r = &a["rule"];
    match r["type"].as_str().unwrap() {
        "sigma" => r["id"].as_str().or(r["title"].as_str()).unwrap().to_owned(),
        "indicator" => format!(
            "vakt-intel-{}-{}",
            r["kind"].as_str().unwrap(),
            r["value"].as_str().unwrap()
        ),
        _ => format!("vakt-analytics-{}", r["detector"].as_str().unwrap()),
    }
}

fn alerts_of(path: &Path) -> std::collections::BTreeSet<String> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| {
            let a: Json = serde_json::from_str(l).unwrap();
            alert_key(&rule_id(&a), &a)
        })
        .collect()
}

/// The default demo, read once through the pipeline library, finds what it
/// found before (the goldens): the same alerts of every detector, the same
/// incidents with their stages and patient zero, the same exposure and the
/// same comparison with the truth.
fn the_default_demo_finds_what_it_found_before() {
    let (dir, j) = default_demo();
    let ours = alerts_of(&dir.path().join("case/alerts.jsonl"));
    let before: std::collections::BTreeSet<String> = golden("demo-default-alerts.jsonl")
        .lines()
        .map(|l| {
            let a: Json = serde_json::from_str(l).unwrap();
            alert_key(a["rule"].as_str().unwrap(), &a)
        })
        .collect();
    assert_eq!(before.len(), GOLDEN_ALERTS);
    let missing: Vec<_> = before.difference(&ours).collect();
    let extra: Vec<_> = ours.difference(&before).collect();
    assert_eq!(ours, before, "missing {missing:?}, extra {extra:?}");
    let g: Json = serde_json::from_str(&golden("demo-default.json")).unwrap();
    let incident = |i: &Json| {
        let mut pz = i["patient_zero"].clone();
        // Where patient zero's evidence is depends on the case folder.
        pz.as_object_mut().unwrap().remove("origin");
        serde_json::json!([
            i["id"],
            i["severity"],
            i["title"],
            i["first"],
            i["last"],
            i["stages"],
            i["alerts"],
            pz
        ])
    };
    let ours: Vec<Json> = j["incidents"]
        .as_array()
        .unwrap()
        .iter()
        .map(incident)
        .collect();
    let before: Vec<Json> = g["incidents"]
        .as_array()
        .unwrap()
        .iter()
        .map(incident)
        .collect();
    assert_eq!(ours, before);
    for k in [
        "incident",
        "basis",
        "confirmed",
        "possible",
        "by_county",
        "by_trust",
        "by_category",
        "awareness",
        "clocks",
    ] {
        assert_eq!(j["exposure"][k], g["exposure"][k], "exposure: {k}");
    }
    assert_eq!(j["truth"], g["truth"]);
}

/// `vakt hunt --store` over the demo's store finds what hunting its files
/// found, every detector alike: Sigma rules over the stored native fields,
/// the indicators, the network analytics, and the EHR analytics over
/// patients stored as pseudonyms (matched to the care context by pseudonym).
fn hunting_the_demos_store_finds_what_hunting_its_files_found() {
    let (dir, _) = default_demo();
    let case = dir.path().join("case");
    let mut args: Vec<String> = vec![
        "hunt".into(),
        "--store".into(),
        case.join("store").display().to_string(),
        "--intel".into(),
        case.join("intel").display().to_string(),
        "--pseudonym-key-file".into(),
        case.join("pseudonym.key").display().to_string(),
        "--context".into(),
        case.join("registers").display().to_string(),
        // The region's site model, as the demo hunts with it.
        "--site".into(),
        case.join("registers/site.yml").display().to_string(),
        "--format".into(),
        "jsonl".into(),
        "--output".into(),
        dir.path().join("from-store.jsonl").display().to_string(),
    ];
    for t in std::fs::read_dir(case.join("tenants")).unwrap() {
        args.push("--context".into());
        args.push(t.unwrap().path().join("fhir").display().to_string());
    }
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let (code, _, err) = vakt(&refs);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("store segments"), "{err}");
    let files = alerts_of(&case.join("alerts.jsonl"));
    let store = alerts_of(&dir.path().join("from-store.jsonl"));
    assert_eq!(files.len(), GOLDEN_ALERTS);
    let missing: Vec<_> = files.difference(&store).collect();
    let extra: Vec<_> = store.difference(&files).collect();
    assert_eq!(store, files, "missing {missing:?}, extra {extra:?}");
    // An hour of it (the lateral movement): only events of that hour are
    // read back, and only their detections come.
    let (code, out, err) = vakt(&[
        "hunt",
        "--store",
        case.join("store").to_str().unwrap(),
        "--from",
        "2018-01-01T10:00:00Z",
        "--to",
        "2018-01-01T11:00:00Z",
        "--analytics",
        "none",
        "--format",
        "jsonl",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(!out.is_empty(), "{err}");
    for l in out.lines() {
        let a: Json = serde_json::from_str(l).unwrap();
        let first = a["first"].as_str().unwrap();
        assert!(("2018-01-01T10"..="2018-01-01T11").contains(&first), "{a}");
    }
}

/// A case folder named relative to where the demo runs works, there and
/// from anywhere else (the case says where its parts are, relative to itself).
#[test]
fn a_relative_case_folder_works_from_anywhere() {
    let dir = tempfile::tempdir().unwrap();
    let (code, out, err) = vakt_in(
        dir.path(),
        &[
            "demo",
            "--dir",
            "some/relative/case",
            "--patients",
            "2000",
            "--days",
            "1",
            "--format",
            "json",
        ],
    );
    assert_eq!(code, 0, "{err}");
    let j: Json = serde_json::from_str(&out).unwrap();
    assert!(j["exposure"]["confirmed"].as_u64().unwrap() > 0, "{j}");
    let (code, _, err) = vakt_in(
        dir.path(),
        &["scope", "top", "--case", "some/relative/case"],
    );
    assert_eq!(code, 0, "{err}");
    let moved = tempfile::tempdir().unwrap();
    let to = moved.path().join("case");
    std::fs::rename(dir.path().join("some/relative/case"), &to).unwrap();
    let (code, out, err) = vakt(&["incidents", "--case", to.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("INC-"), "{out}");
}
