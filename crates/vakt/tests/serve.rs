//! `vakt serve` with the clients trusts really run, on loopback: curl on
//! the ingest API and FHIR, Debian's rsyslog with `omelasticsearch`, the
//! official Elasticsearch Python client's bulk helper — each lands its
//! events in its own tenant and the detectors fire on them; and a token of
//! one trust never writes as another.
//!
//! `scripts/test` installs rsyslog and the Python client (a venv under
//! `target/peers`); without them these tests fail and say so.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use support::*;

fn shared(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data")
        .join(rel)
}

/// curl, as a person at a trust would use it; (status, body).
fn curl(args: &[&str]) -> (u16, String) {
    let out = Command::new("curl")
        .args(["-s", "-w", "\n%{http_code}"])
        .args(args)
        .output()
        .expect("curl runs");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
    (code.trim().parse().unwrap_or(0), body.to_owned())
}

/// Waits until `f` holds (the store commits every checkpoint interval).
fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    let started = Instant::now();
    while !f() {
        assert!(
            started.elapsed() < Duration::from_secs(90),
            "never happened: {what}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn tenant_events(dir: &Path, tenant: &str) -> u64 {
    stored(dir)["by_tenant"][tenant].as_u64().unwrap_or(0)
}

/// curl posts an EVTX file, Zeek JSON lines, a FHIR AuditEvent and a FHIR
/// Bundle; each lands in the token's tenant with the count `vakt stats`
/// reads from the same input, bad records are answered and quarantined, and
/// the Sigma rule fires on the EVTX's events after a restart too (no alert
/// twice).
#[test]
fn curl_ingest_and_fhir_land_in_their_tenant_and_detectors_fire() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().join("data");
    let tok = token(&dir, "ous");
    let rules = shared("sigma/rules");
    let s = Server::start(&dir, &["--rules", rules.to_str().unwrap()]);
    let auth = format!("Authorization: Bearer {tok}");
    let url = s.url();

    // An EVTX file as the body.
    let evtx = shared(
        "evtx/EVTX-to-MITRE-Attack/TA0007-Discovery/T1087-Account discovery/ID4688-User enumeration via command.evtx",
    );
    let (_, st, _) = vakt(&["stats", evtx.to_str().unwrap(), "--format", "json"]);
    let expected_evtx = serde_json::from_str::<serde_json::Value>(&st).unwrap()["events"]
        .as_u64()
        .unwrap();
    let (code, body) = curl(&[
        "-H",
        &auth,
        "--data-binary",
        &format!("@{}", evtx.display()),
        &format!("{url}/api/v1/ingest"),
    ]);
    assert_eq!(code, 200, "{body}");
    let j: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(j["accepted"].as_u64(), Some(expected_evtx), "{body}");

    // Zeek JSON lines with one broken line: the rest is taken, the line named.
    let zeek = "{\"ts\":1700000000.1,\"uid\":\"C1\",\"id.orig_h\":\"10.1.0.5\",\"id.orig_p\":50000,\"id.resp_h\":\"203.0.113.9\",\"id.resp_p\":443,\"proto\":\"tcp\",\"_path\":\"conn\"}\n{\"ts\": broken\n{\"ts\":1700000060.1,\"uid\":\"C2\",\"id.orig_h\":\"10.1.0.5\",\"id.orig_p\":50001,\"id.resp_h\":\"203.0.113.9\",\"id.resp_p\":443,\"proto\":\"tcp\",\"_path\":\"conn\"}\n";
    let (code, body) = curl(&[
        "-H",
        &auth,
        "--data-binary",
        zeek,
        &format!("{url}/api/v1/ingest?format=zeek"),
    ]);
    assert_eq!(code, 200, "{body}");
    let j: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(j["accepted"], 2, "{body}");
    assert_eq!(j["rejected"], 1, "{body}");
    assert_eq!(j["errors"][0]["at"], "line 2", "{body}");

    // FHIR: one AuditEvent, then a batch Bundle of two (and one Patient, refused).
    let ae = shared("fhir-r4-examples/AuditEvent/audit-event-example-vread.json");
    let (code, body) = curl(&[
        "-H",
        &auth,
        "-H",
        "Content-Type: application/fhir+json",
        "--data-binary",
        &format!("@{}", ae.display()),
        &format!("{url}/fhir/AuditEvent"),
    ]);
    assert_eq!(code, 201, "{body}");
    let resource: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&ae).unwrap()).unwrap();
    let bundle = serde_json::json!({
        "resourceType": "Bundle", "type": "batch",
        "entry": [
            {"resource": resource, "request": {"method": "POST", "url": "AuditEvent"}},
            {"resource": resource, "request": {"method": "POST", "url": "AuditEvent"}},
            {"resource": {"resourceType": "Patient", "id": "x"}, "request": {"method": "POST", "url": "Patient"}}
        ]
    });
    let (code, body) = curl(&[
        "-H",
        &auth,
        "--data-binary",
        &bundle.to_string(),
        &format!("{url}/fhir"),
    ]);
    assert_eq!(code, 200, "{body}");
    let j: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(j["type"], "batch-response");
    assert_eq!(j["entry"][0]["response"]["status"], "201 Created", "{body}");
    assert_eq!(
        j["entry"][2]["response"]["status"], "400 Bad Request",
        "{body}"
    );
    // A transaction with a bad entry is taken whole or not at all.
    let mut tx = bundle.clone();
    tx["type"] = "transaction".into();
    let (code, _) = curl(&[
        "-H",
        &auth,
        "--data-binary",
        &tx.to_string(),
        &format!("{url}/fhir"),
    ]);
    assert_eq!(code, 400);

    let want = expected_evtx + 2 + 3;
    eventually("every event stored in tenant ous", || {
        tenant_events(&dir, "ous") == want
    });
    let st = stored(&dir);
    assert_eq!(st["by_tenant"].as_object().unwrap().len(), 1, "{st}");
    assert_eq!(st["by_source"]["fhir:AuditEvent"], 3, "{st}");
    assert_eq!(st["by_source"]["zeek:conn"], 2, "{st}");
    // The broken line is kept byte for byte.
    let q = std::fs::read_to_string(dir.join("quarantine/index.jsonl")).unwrap();
    assert!(q.contains("line 2"), "{q}");
    s.stop();

    // The user enumeration fired SigmaHQ rules, as `vakt hunt` finds on
    // the file; a restart adds nothing twice.
    let (_, hunted, _) = vakt(&[
        "hunt",
        evtx.to_str().unwrap(),
        "--rules",
        rules.to_str().unwrap(),
        "--format",
        "jsonl",
        "-q",
    ]);
    let before = alerts(&dir);
    let sigma = before.iter().filter(|a| a.detector == "sigma").count();
    assert_eq!(sigma, hunted.lines().count(), "{before:?}");
    assert!(sigma > 0 && before.iter().all(|a| &*a.tenant == "ous"));
    let s = Server::start(&dir, &["--rules", rules.to_str().unwrap()]);
    s.stop();
    assert_eq!(alerts(&dir).len(), before.len());
    assert_eq!(tenant_events(&dir, "ous"), want);
}

/// For every ingest path, a token of trust A asking to write as trust B is
/// refused, every time; a missing or unknown token likewise; nothing lands
/// in B.
#[test]
fn a_token_of_one_trust_never_writes_as_another() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().join("data");
    let a = token(&dir, "trust-a");
    let b = token(&dir, "trust-b");
    let s = Server::start_with_rule(&dir, d.path(), &[]);
    let doc = winlogbeat_doc(1, "ws-a");
    let bulk = bulk_body(1, 3, "ws-a");
    let fhir = std::fs::read(shared(
        "fhir-r4-examples/AuditEvent/audit-event-example-vread.json",
    ))
    .unwrap();
    let bundle = format!(
        "{{\"resourceType\":\"Bundle\",\"type\":\"batch\",\"entry\":[{{\"resource\":{}}}]}}",
        String::from_utf8_lossy(&fhir)
    );
    let auth_a = bearer(&a);
    type Path4<'a> = (&'a str, &'a str, Vec<(&'a str, &'a str)>, &'a [u8]);
    let paths: Vec<Path4<'_>> = vec![
        (
            "/_bulk",
            "/_bulk",
            vec![("X-Vakt-Tenant", "trust-b")],
            bulk.as_bytes(),
        ),
        (
            "/x/_bulk",
            "/logs/_bulk",
            vec![("X-Vakt-Tenant", "trust-b")],
            bulk.as_bytes(),
        ),
        (
            "ingest",
            "/api/v1/ingest?tenant=trust-b",
            vec![],
            doc.as_bytes(),
        ),
        (
            "ingest header",
            "/api/v1/ingest",
            vec![("X-Vakt-Tenant", "trust-b")],
            doc.as_bytes(),
        ),
        (
            "AuditEvent",
            "/fhir/AuditEvent?tenant=trust-b",
            vec![],
            &fhir,
        ),
        ("Bundle", "/fhir?tenant=trust-b", vec![], bundle.as_bytes()),
    ];
    let mut attempts = 0;
    for (name, path, extra, body) in &paths {
        for _ in 0..20 {
            let mut h = vec![("Authorization", auth_a.as_str())];
            h.extend(extra.iter().copied());
            let (code, answer) = request(&s.addr, "POST", path, &h, body).unwrap();
            assert_eq!(code, 403, "{name}: {answer}");
            attempts += 1;
        }
        // Without a token, or with one that is not a token.
        let (code, _) = request(&s.addr, "POST", path, &[], body).unwrap();
        assert_eq!(code, 401, "{name}");
        let (code, _) = request(
            &s.addr,
            "POST",
            path,
            &[("Authorization", "Bearer vakt_forged")],
            body,
        )
        .unwrap();
        assert_eq!(code, 401, "{name}");
    }
    assert_eq!(attempts, 120);
    // The same requests as themselves are taken, each in its own tenant.
    let (code, answer) = request(
        &s.addr,
        "POST",
        "/_bulk",
        &[("Authorization", &auth_a)],
        bulk.as_bytes(),
    )
    .unwrap();
    assert_eq!(code, 200, "{answer}");
    let (code, answer) = request(
        &s.addr,
        "POST",
        "/api/v1/ingest?tenant=trust-b",
        &[("Authorization", &bearer(&b))],
        doc.as_bytes(),
    )
    .unwrap();
    assert_eq!(code, 200, "{answer}");
    eventually("both tenants stored", || {
        tenant_events(&dir, "trust-a") == 2 && tenant_events(&dir, "trust-b") == 1
    });
    s.stop();
    let st = stored(&dir);
    assert_eq!(st["by_tenant"]["trust-a"], 2, "{st}");
    assert_eq!(st["by_tenant"]["trust-b"], 1, "{st}");
}

/// The official Elasticsearch Python client's bulk helper (API key auth,
/// its product check, its compatibility media types) sends 300 Winlogbeat
/// documents: all taken, stored as Windows events, each firing the rule.
#[test]
fn the_elasticsearch_python_client_bulk_helper_ships_to_vakt() {
    let py = python();
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().join("data");
    let tok = token(&dir, "sykehuset-innlandet");
    let s = Server::start_with_rule(&dir, d.path(), &[]);
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers/es_bulk.py");
    let out = Command::new(py)
        .args([script.to_str().unwrap(), &s.url(), &tok, "300"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let j: serde_json::Value = serde_json::from_str(text.trim()).unwrap();
    assert_eq!(j["success"], 300, "{j}");
    assert_eq!(j["errors"].as_array().map(Vec::len), Some(0), "{j}");
    eventually("300 events stored", || {
        tenant_events(&dir, "sykehuset-innlandet") == 300
    });
    s.stop();
    let st = stored(&dir);
    assert_eq!(st["by_source"]["evtx:Security"], 300, "{st}");
    let a = alerts(&dir);
    assert_eq!(a.iter().filter(|a| a.title.contains("Whoami")).count(), 300);
}

/// Debian's rsyslog with `omelasticsearch` (bulk mode, `_type`, basic auth
/// with the token as password) ships a file of JSON lines to `/_bulk`.
#[test]
fn rsyslog_omelasticsearch_ships_to_bulk() {
    let rsyslogd = Path::new("/usr/sbin/rsyslogd");
    let module = std::fs::read_dir("/usr/lib")
        .into_iter()
        .flatten()
        .flatten()
        .any(|e| e.path().join("rsyslog/omelasticsearch.so").exists());
    assert!(
        rsyslogd.exists() && module,
        "rsyslog is not installed: run scripts/test, which installs rsyslog and rsyslog-elasticsearch"
    );
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().join("data");
    let tok = token(&dir, "vestre-viken");
    let s = Server::start_with_rule(&dir, d.path(), &[]);
    let port = s.addr.rsplit(':').next().unwrap().to_owned();
    let work = d.path().join("rsyslog");
    std::fs::create_dir_all(&work).unwrap();
    let input = d.path().join("winlog.json");
    let lines: String = (0..200)
        .map(|n| winlogbeat_doc(n, "ws-rs") + "\n")
        .collect();
    std::fs::write(&input, lines).unwrap();
    let conf = d.path().join("rsyslog.conf");
    std::fs::write(
        &conf,
        format!(
            r#"global(workDirectory="{work}")
module(load="imfile")
module(load="omelasticsearch")
template(name="doc" type="string" string="%msg%")
input(type="imfile" File="{input}" Tag="winlog" ruleset="ship")
ruleset(name="ship") {{
  action(type="omelasticsearch" server="127.0.0.1" serverport="{port}" template="doc"
         searchIndex="winlogbeat" searchType="events" bulkmode="on" maxbytes="100k"
         uid="rsyslog" pwd="{tok}" usehttps="off" action.resumeRetryCount="-1")
}}
"#,
            work = work.display(),
            input = input.display(),
        ),
    )
    .unwrap();
    let mut rs = Command::new(rsyslogd)
        .args(["-n", "-i"])
        .arg(d.path().join("rsyslog.pid"))
        .arg("-f")
        .arg(&conf)
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(d.path().join("rsyslog.err")).unwrap())
        .spawn()
        .expect("rsyslogd starts");
    let started = Instant::now();
    while tenant_events(&dir, "vestre-viken") < 200 && started.elapsed() < Duration::from_secs(90) {
        std::thread::sleep(Duration::from_millis(300));
    }
    let _ = rs.kill();
    let _ = rs.wait();
    let said = std::fs::read_to_string(d.path().join("rsyslog.err")).unwrap_or_default();
    s.stop();
    let st = stored(&dir);
    assert_eq!(
        st["by_tenant"]["vestre-viken"], 200,
        "{st}\nrsyslog said: {said}"
    );
    assert_eq!(st["by_source"]["evtx:Security"], 200, "{st}");
    let a = alerts(&dir);
    assert_eq!(a.iter().filter(|a| a.title.contains("Whoami")).count(), 200);
}

/// With `--tls-cert` and `--tls-key` the listener speaks HTTPS only: curl
/// trusting the certificate ingests, plain HTTP gets no answer, and a
/// client that does not trust the certificate is refused by its own check.
#[test]
fn tls_on_the_listener() {
    let d = tempfile::tempdir().unwrap();
    let (cert, key) = self_signed(d.path());
    let dir = d.path().join("data");
    let tok = token(&dir, "ahus");
    let s = Server::start_with_rule(
        &dir,
        d.path(),
        &[
            "--tls-cert",
            cert.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
        ],
    );
    let url = format!("https://{}", s.addr);
    let doc = winlogbeat_doc(7, "ws-tls");
    let (code, body) = curl(&[
        "--cacert",
        cert.to_str().unwrap(),
        "-H",
        &format!("Authorization: Bearer {tok}"),
        "--data-binary",
        &doc,
        &format!("{url}/api/v1/ingest"),
    ]);
    assert_eq!(code, 200, "{body}");
    // Not trusted: curl refuses (its own check), nothing is sent.
    let (code, _) = curl(&["--data-binary", &doc, &format!("{url}/api/v1/ingest")]);
    assert_eq!(code, 0);
    // Plain HTTP to the TLS port gets no HTTP answer.
    assert!(request(&s.addr, "GET", "/healthz", &[], b"").is_none());
    eventually("the event stored", || tenant_events(&dir, "ahus") == 1);
    s.stop();
}

/// An indicator file dropped into the data folder's `intel/` while the
/// service runs is retro-hunted over what is stored (an alert for the host
/// that already talked to it) and matched live from then on (an alert for
/// a host that talks to it afterwards); nothing is raised twice.
#[test]
fn indicators_dropped_into_the_intel_folder_are_retro_hunted_and_matched_live() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().join("data");
    let tok = token(&dir, "ahus");
    let s = Server::start_with_rule(&dir, d.path(), &[]);
    let conn = |uid: &str, host: &str, ts: u64| {
        format!(
            "{{\"ts\":{ts}.5,\"uid\":\"{uid}\",\"id.orig_h\":\"{host}\",\"id.orig_p\":50000,\"id.resp_h\":\"203.0.113.66\",\"id.resp_p\":443,\"proto\":\"tcp\",\"_path\":\"conn\"}}\n"
        )
    };
    let auth = bearer(&tok);
    let post = |body: String| {
        let (code, answer) = request(
            &s.addr,
            "POST",
            "/api/v1/ingest",
            &[("Authorization", &auth)],
            body.as_bytes(),
        )
        .unwrap();
        assert_eq!(code, 200, "{answer}");
    };
    post(conn("C1", "10.1.0.5", 1_700_000_000));
    eventually("the first event stored", || {
        tenant_events(&dir, "ahus") == 1
    });
    assert!(alerts(&dir).is_empty());
    // A partner's indicator arrives.
    std::fs::write(dir.join("intel/partner.txt"), "203.0.113.66\n").unwrap();
    eventually("the retro-hunt's alert", || {
        alerts(&dir)
            .iter()
            .any(|a| a.detector == "intel" && a.actors.iter().any(|e| e.value() == "10.1.0.5"))
    });
    // From now on it is matched live.
    post(conn("C2", "10.1.0.77", 1_700_000_100));
    eventually("the live alert", || {
        alerts(&dir)
            .iter()
            .any(|a| a.detector == "intel" && a.actors.iter().any(|e| e.value() == "10.1.0.77"))
    });
    s.stop();
    let kept = alerts(&dir);
    assert_eq!(kept.len(), 2, "{kept:?}");
}
