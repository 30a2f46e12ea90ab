//! Respond, end to end with real counterparts on loopback:
//!
//! - a case walked through its life over the API from the simulated
//!   attack's incident: the health-data-breach template, tasks done and
//!   skipped, the GDPR clock met, the NIS2 early warning warned and then
//!   missed (both notified), verdicts, an exception silencing a benign
//!   alert in history and live, containment exported and requested, the
//!   scope closed at containment, the case closed — every step in the
//!   case's audit trail, and `vakt audit verify` passing;
//! - notifications: e-mail to aiosmtpd, webhooks to a receiver that checks
//!   each HMAC signature; the receiver refuses at first and is then down:
//!   the retries are seen and every delivery arrives (nothing lost);
//! - TAXII 2.1: the partner's collection pulled from OASIS medallion (then
//!   retro-hunted: its indicators are sighted), and taxii2-client reading
//!   vakt's own collections with a partner token (which reads nothing else);
//! - every STIX document vakt writes passes the OASIS stix2-validator, and
//!   pymisp loads its MISP exports.

mod support;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use support::*;

fn shared(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data")
        .join(rel)
}

fn peer(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/peers")
        .join(name)
}

struct Peer(Child);

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn spawn(args: &[&str], log: &Path) -> Peer {
    let out = std::fs::File::create(log).unwrap();
    Peer(
        Command::new(python())
            .args(args)
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .expect("python runs"),
    )
}

fn wait_file(p: &Path, what: &str, log: &Path) -> String {
    let started = Instant::now();
    loop {
        if let Ok(s) = std::fs::read_to_string(p)
            && !s.trim().is_empty()
        {
            return s.trim().to_owned();
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "{what} did not start: {}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

fn lines(p: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(p)
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(json)
        .collect()
}

struct Api<'a> {
    addr: &'a str,
    auth: String,
}

impl Api<'_> {
    fn call(&self, method: &str, path: &str, body: &serde_json::Value) -> (u16, String) {
        let b = if body.is_null() {
            String::new()
        } else {
            body.to_string()
        };
        request(
            self.addr,
            method,
            path,
            &[
                ("Authorization", &self.auth),
                ("Content-Type", "application/json"),
            ],
            b.as_bytes(),
        )
        .unwrap_or_else(|| panic!("{method} {path}: no answer"))
    }

    fn ok(&self, method: &str, path: &str, body: serde_json::Value) -> serde_json::Value {
        let (code, text) = self.call(method, path, &body);
        assert!(
            (200..300).contains(&code),
            "{method} {path} {body}: {code} {text}"
        );
        if text.trim_start().starts_with(['{', '[']) {
            json(&text)
        } else {
            serde_json::Value::String(text)
        }
    }

    fn get(&self, path: &str) -> serde_json::Value {
        self.ok("GET", path, serde_json::Value::Null)
    }
}

fn until<T>(what: &str, secs: u64, mut f: impl FnMut() -> Option<T>) -> T {
    let started = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            started.elapsed() < Duration::from_secs(secs),
            "waited {secs} s for {what}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

fn run_py(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(python())
        .args(args)
        .output()
        .expect("python runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn stix_valid(files: &[PathBuf]) {
    let mut args = vec![peer("stix_validate.py").display().to_string()];
    args.extend(files.iter().map(|f| f.display().to_string()));
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let (ok, out, err) = run_py(&refs);
    assert!(ok, "stix2-validator refused: {out}\n{err}");
    let v = json(&out);
    assert_eq!(v.as_array().unwrap().len(), files.len(), "{out}");
}

#[test]
fn a_case_from_the_attack_to_closure_with_notifications_containment_and_sharing() {
    let d = tempfile::tempdir().unwrap();
    let root = d.path().to_owned();
    // VAKT_TEST_KEEP=1 keeps the folder (logs of the service and the peers).
    let _d = if std::env::var_os("VAKT_TEST_KEEP").is_some() {
        eprintln!("keeping {}", d.keep().display());
        None
    } else {
        Some(d)
    };
    let t = root.as_path();
    // The simulated region (its attack's logs for one trust) and its partner CERT's bundle.
    let sim = t.join("sim");
    let (code, _, err) = vakt(&[
        "sim",
        "--out",
        sim.to_str().unwrap(),
        "--patients",
        "2000",
        "--days",
        "1",
        "--quiet",
    ]);
    assert_eq!(code, 0, "{err}");
    let partner_bundle = sim.join("intel/partner-cert-indicators.json");
    let mut clear = BTreeSet::new();
    for tn in std::fs::read_dir(sim.join("tenants")).unwrap().flatten() {
        let patients = std::fs::read_to_string(tn.path().join("fhir/Patient.ndjson")).unwrap();
        for l in patients.lines() {
            let p = json(l);
            clear.insert(p["id"].as_str().unwrap().to_owned());
            if let Some(n) = p["identifier"][0]["value"].as_str() {
                clear.insert(n.to_owned());
            }
        }
    }

    // The peers: SMTP, a webhook receiver that refuses its first two
    // deliveries, and the partner's TAXII server.
    let secret = "a shared webhook secret";
    let (smtp_port, smtp_out, smtp_log) = (
        t.join("smtp.port"),
        t.join("mail.jsonl"),
        t.join("smtp.log"),
    );
    let _smtp = spawn(
        &[
            peer("smtp_sink.py").to_str().unwrap(),
            smtp_port.to_str().unwrap(),
            smtp_out.to_str().unwrap(),
        ],
        &smtp_log,
    );
    let smtp = wait_file(&smtp_port, "the SMTP server", &smtp_log);
    let hook_port = free_port().to_string();
    let (hook_out, hook_log) = (t.join("hooks.jsonl"), t.join("hook.log"));
    let hook_args = |fail: &str| -> Vec<String> {
        vec![
            peer("webhook_sink.py").display().to_string(),
            "--out".into(),
            hook_out.display().to_string(),
            "--secret".into(),
            secret.into(),
            "--port".into(),
            hook_port.clone(),
            "--port-file".into(),
            t.join("hook.port").display().to_string(),
            "--fail-first".into(),
            fail.into(),
        ]
    };
    let a = hook_args("2");
    let mut hook = Some(spawn(
        &a.iter().map(String::as_str).collect::<Vec<_>>(),
        &hook_log,
    ));
    wait_file(&t.join("hook.port"), "the webhook receiver", &hook_log);
    let (taxii_port, taxii_log) = (t.join("taxii.port"), t.join("taxii.log"));
    let _taxii = spawn(
        &[
            peer("taxii_server.py").to_str().unwrap(),
            "--port-file",
            taxii_port.to_str().unwrap(),
            "--bundle",
            partner_bundle.to_str().unwrap(),
            "--user",
            "vakt",
            "--password",
            "partner secret",
        ],
        &taxii_log,
    );
    let taxii = wait_file(&taxii_port, "medallion", &taxii_log);

    // The service: clocks checked every second, retries after 1-2 s.
    let cfg = format!(
        r#"respond:
  tick_seconds: 1
  retry_first_seconds: 1
  retry_max_seconds: 2
  retry_attempts: 30
  public_url: "https://vakt.cert.example"
  mail_from: "vakt@cert.example"
  channels:
    - name: soc
      webhook: {{url: "http://127.0.0.1:{hook_port}/soc", secret: "{secret}"}}
    - name: it-provider
      webhook: {{url: "http://127.0.0.1:{hook_port}/contain", secret: "{secret}"}}
    - name: cert-mail
      email: {{smtp: "127.0.0.1:{smtp}", to: ["duty@cert.example"]}}
  rules:
    - name: clocks
      on: [clock-warning, clock-missed]
      channels: [soc, cert-mail]
    - name: serious incidents
      on: [incident, escalation]
      min_severity: high
      channels: [soc]
    - name: exposure
      on: [scope]
      min_exposed: 1
      channels: [cert-mail]
    - name: case changes
      on: [case]
      tenants: [ous]
      channels: [soc]
  containment_channels: [it-provider]
  taxii:
    - name: partner
      api_root: "http://127.0.0.1:{taxii}/api1/"
      collection: 91a7b528-80eb-42ed-a74d-c6fbd5a26116
      user: vakt
      password: "partner secret"
      every_minutes: 0.05
"#
    );
    let cfg_path = t.join("vakt.yaml");
    std::fs::write(&cfg_path, cfg).unwrap();
    let dir = t.join("serve");
    let ingest = token(&dir, "ous");
    let admin = role_token(&dir, "admin");
    let mut args: Vec<String> = vec![
        "--config".into(),
        cfg_path.display().to_string(),
        "--rules".into(),
        shared("sigma/rules").display().to_string(),
        "--rules".into(),
        rules(t).display().to_string(),
        "--context".into(),
        sim.join("registers").display().to_string(),
        "--assets".into(),
        sim.join("registers").display().to_string(),
        "--context".into(),
        sim.join("tenants/ous/fhir").display().to_string(),
    ];
    let refs: Vec<&str> = args.iter_mut().map(|s| s.as_str()).collect();
    let server = Server::start(&dir, &refs);
    let addr = server.addr.clone();
    let admin = Api {
        addr: &addr,
        auth: bearer(admin.trim()),
    };
    let mk = |role: &str, tenant: &str| -> String {
        let v = admin.ok(
            "POST",
            "/api/v1/tokens",
            serde_json::json!({"role": role, "tenant": tenant, "label": role}),
        );
        bearer(v["token"].as_str().unwrap())
    };
    let cert = Api {
        addr: &addr,
        auth: mk("cert-analyst", ""),
    };
    let trust = Api {
        addr: &addr,
        auth: mk("trust-analyst", "ous"),
    };
    let other = Api {
        addr: &addr,
        auth: mk("trust-analyst", "ahus"),
    };
    let partner = Api {
        addr: &addr,
        auth: mk("partner", ""),
    };
    for f in files_under(&sim.join("tenants/ous/day-001")) {
        let (code, a) = request(
            &addr,
            "POST",
            "/api/v1/ingest",
            &[("Authorization", &bearer(&ingest))],
            &std::fs::read(&f).unwrap(),
        )
        .unwrap();
        assert_eq!(code, 200, "{}: {a}", f.display());
    }
    // A benign admin script on the backup server runs whoami: an alert,
    // before anyone has said it is benign.
    let whoami = |from: u64, to: u64| {
        let (code, a) = request(
            &addr,
            "POST",
            "/_bulk",
            &[
                ("Authorization", &bearer(&ingest)),
                ("Content-Type", "application/x-ndjson"),
            ],
            bulk_body(from, to, "backup-07").as_bytes(),
        )
        .unwrap();
        assert_eq!(code, 200, "{a}");
    };
    whoami(1, 4);

    // The partner's collection is pulled and retro-hunted: its C2 indicators are sighted.
    let hunt = until("the TAXII pull's retro-hunt", 240, || {
        let h = cert.get("/api/v1/intel/hunts");
        h.as_array()?
            .iter()
            .find(|h| h["by"] == "taxii:partner" && h["state"] == "done")
            .cloned()
    });
    assert!(hunt["indicators"].as_u64().unwrap() >= 8, "{hunt}");
    let intel_alerts = until("sightings of the pulled indicators", 120, || {
        let a = cert.get("/api/v1/alerts?tenant=ous&detector=intel&limit=1000");
        let n = a["items"].as_array()?.len();
        (n > 0).then_some(n)
    });
    // The incident of the attack.
    let incident = until("the attack's incident", 240, || {
        let v = cert.get("/api/v1/incidents?tenant=ous&severity=high");
        v.as_array()?.first()?["id"].as_str().map(str::to_owned)
    });
    // Incidents of high severity were told to the SOC's webhook: as a new
    // incident, or as an escalation when live detection first saw it lower
    // (which of the two depends on the order the events arrive in).
    let told = || {
        lines(&hook_out).iter().any(|h| {
            (h["event"] == "incident" || h["event"] == "escalation")
                && matches!(h["body"]["severity"].as_str(), Some("high" | "critical"))
                && h["valid"] == true
                && h["status"] == 200
        })
    };
    let started = Instant::now();
    while !told() && started.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(500));
    }
    assert!(
        told(),
        "waited 60 s for the incident's webhook; received: {}; deliveries: {}",
        std::fs::read_to_string(&hook_out).unwrap_or_default(),
        cert.get("/api/v1/deliveries?limit=1000")
    );

    // 1. The case: from the incident, with the template; the CERT became
    // aware 23 h 59 min 30 s ago, so NIS2's early warning is due in 30 s.
    let aware = rfc3339(chrono_now() - 86_370);
    let (code, text) = trust.call(
        "POST",
        "/api/v1/cases",
        &serde_json::json!({
            "incident": incident, "template": "health-data-breach", "awareness": aware,
            "assignee": "kari", "tlp": "amber", "pap": "green", "tags": ["attack"],
            "fields": {"trust_contact": "the trust's DPO"},
        }),
    );
    assert_eq!(code, 201, "{text}");
    let case = json(&text);
    let id = case["id"].as_str().unwrap().to_owned();
    assert_eq!(case["tenant"], "ous");
    assert_eq!(case["incidents"][0], incident.as_str());
    assert!(case["tasks"].as_array().unwrap().len() >= 10, "{case}");
    let clock_ids: Vec<&str> = case["clocks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        clock_ids,
        [
            "gdpr-33",
            "nis2-early-warning",
            "nis2-notification",
            "nis2-final"
        ]
    );
    assert!(
        !case["observables"].as_array().unwrap().is_empty(),
        "{case}"
    );
    // Another trust's analyst cannot see it; nor change it.
    assert_eq!(
        other
            .call(
                "GET",
                &format!("/api/v1/cases/{id}"),
                &serde_json::Value::Null
            )
            .0,
        404
    );
    assert_eq!(
        other
            .call(
                "POST",
                &format!("/api/v1/cases/{id}/notes"),
                &serde_json::json!({"text": "x"})
            )
            .0,
        404
    );
    trust.ok(
        "PATCH",
        &format!("/api/v1/cases/{id}"),
        serde_json::json!({"status": "triage"}),
    );

    // The NIS2 early warning: warned (webhook and e-mail), then missed.
    let missed = until("the NIS2 early warning missed", 120, || {
        let c = trust.get(&format!("/api/v1/cases/{id}"));
        let k = c["clocks"]
            .as_array()?
            .iter()
            .find(|k| k["id"] == "nis2-early-warning")?
            .clone();
        (k["state"] == "missed" && k["missed_at"].is_string()).then_some(k)
    });
    assert!(
        missed["warned_at"].is_string(),
        "warned before it was missed: {missed}"
    );
    until("the warning and the miss by webhook and e-mail", 60, || {
        let hooks = lines(&hook_out);
        let mails = lines(&smtp_out);
        let hooked = |e: &str| {
            hooks
                .iter()
                .any(|h| h["event"] == e && h["status"] == 200 && h["body"]["case"] == id.as_str())
        };
        let mailed = |w: &str| {
            mails.iter().any(|m| {
                m["subject"].as_str().unwrap_or("").contains(w)
                    && m["subject"]
                        .as_str()
                        .unwrap_or("")
                        .contains("NIS2 early warning")
            })
        };
        (hooked("clock-warning")
            && hooked("clock-missed")
            && mailed("is due")
            && mailed("is not met"))
        .then_some(())
    });

    // 2. Verdicts on the incident's alerts (a reason is required).
    let alerts: Vec<String> = case["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().to_owned())
        .collect();
    let (code, _) = trust.call(
        "PUT",
        &format!("/api/v1/alerts/{}/status", alerts[0]),
        &serde_json::json!({"status": "true-positive"}),
    );
    assert_eq!(code, 400, "a verdict without a reason");
    for k in alerts.iter().take(3) {
        trust.ok("PUT", &format!("/api/v1/alerts/{k}/status"), serde_json::json!({"status": "true-positive", "note": "the attacker's tooling, see the case"}));
    }

    // 3. An exception: the backup server's whoami is benign — silenced in history …
    let benign = until("the benign whoami alerts", 60, || {
        let a = trust.get(&format!(
            "/api/v1/alerts?tenant=ous&rule={WHOAMI}&entity=host:backup-07&limit=100"
        ));
        let n = a["items"].as_array()?.len();
        (n == 3).then_some(a)
    });
    let rule_id = benign["items"][0]["rule_id"].as_str().unwrap().to_owned();
    let expires = rfc3339(chrono_now() + 30 * 86_400);
    let x = trust.ok(
        "POST",
        "/api/v1/exceptions",
        serde_json::json!({
            "detector": "sigma", "rule": rule_id, "entity": "host:backup-07",
            "reason": "the nightly backup check runs whoami", "owner": "kari", "expires": expires,
        }),
    );
    assert_eq!(x["applied"], 3, "{x}");
    assert_eq!(x["tenant"], "ous");
    let listed = trust.get(&format!(
        "/api/v1/alerts?tenant=ous&rule={WHOAMI}&entity=host:backup-07&limit=100"
    ));
    assert_eq!(
        listed["items"].as_array().unwrap().len(),
        0,
        "silenced alerts leave the queue: {listed}"
    );
    // … and live: three more runs arrive silenced, and join no incident.
    whoami(10, 13);
    let silenced = until("the new whoami alerts silenced", 60, || {
        let a = trust.get(&format!("/api/v1/alerts?tenant=ous&status=suppressed&rule={WHOAMI}&entity=host:backup-07&limit=100"));
        let v = a["items"].as_array()?.clone();
        (v.len() == 6).then_some(v)
    });
    assert!(silenced.iter().all(|a| {
        a["triage"]["note"]
            .as_str()
            .unwrap()
            .contains(x["id"].as_str().unwrap())
    }));
    let incidents = cert.get("/api/v1/incidents?tenant=ous&limit=1000");
    for i in incidents.as_array().unwrap() {
        let full = cert.get(&format!("/api/v1/incidents/{}", i["id"].as_str().unwrap()));
        for a in &silenced {
            assert!(
                !full["alerts"]
                    .to_string()
                    .contains(a["key"].as_str().unwrap()),
                "a silenced alert joined {}",
                i["id"]
            );
        }
    }

    // 4. Observables, containment: exports, a request to the IT provider, the time of containment.
    trust.ok("POST", &format!("/api/v1/cases/{id}/observables"), serde_json::json!({"kind": "ip", "value": "203.0.113.66", "ioc": true, "note": "exfiltration relay"}));
    trust.ok(
        "POST",
        &format!("/api/v1/cases/{id}/observables"),
        serde_json::json!({"kind": "domain", "value": "Stage.Evil.Example", "ioc": true}),
    );
    trust.ok("POST", &format!("/api/v1/cases/{id}/observables"), serde_json::json!({"kind": "ip", "value": "198.51.100.77", "ioc": true, "tlp": "red", "note": "a source's address"}));
    let edl = trust.get(&format!("/api/v1/cases/{id}/containment?format=edl"));
    let edl = edl.as_str().unwrap();
    assert!(
        edl.contains("203.0.113.66\n")
            && edl.contains("stage.evil.example\n")
            && !edl.contains("198.51.100.77"),
        "{edl}"
    );
    let zeek = trust.get(&format!("/api/v1/cases/{id}/containment?format=zeek"));
    assert!(
        zeek.as_str()
            .unwrap()
            .starts_with("#fields\tindicator\tindicator_type")
            && zeek.as_str().unwrap().contains("203.0.113.66\tIntel::ADDR")
    );
    let rules_text = trust.get(&format!(
        "/api/v1/cases/{id}/containment?format=suricata-rules"
    ));
    assert!(
        rules_text.as_str().unwrap().contains("dataset:isset"),
        "{rules_text}"
    );
    let ds = trust.get(&format!(
        "/api/v1/cases/{id}/containment?format=suricata-ip"
    ));
    assert!(
        ds.as_str()
            .unwrap()
            .lines()
            .all(|l| l.parse::<std::net::IpAddr>().is_ok())
    );
    let host = json(
        &trust
            .call(
                "GET",
                &format!("/api/v1/cases/{id}"),
                &serde_json::Value::Null,
            )
            .1,
    )["observables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["kind"] == "host")
        .map(|o| o["value"].as_str().unwrap().to_owned())
        .expect("a host observable from the incident");
    let (code, text) = trust.call(
        "POST",
        &format!("/api/v1/cases/{id}/containment"),
        &serde_json::json!({"action": "isolate-host", "target": "not-in-the-case"}),
    );
    assert_eq!(code, 400, "{text}");
    let c = trust.ok("POST", &format!("/api/v1/cases/{id}/containment"), serde_json::json!({"action": "isolate-host", "target": host, "note": "beaconing to the C2"}));
    let req_delivery = c["containment"][0]["deliveries"][0]
        .as_i64()
        .unwrap()
        .to_string();
    until("the isolation request at the IT provider", 60, || {
        lines(&hook_out)
            .iter()
            .any(|h| {
                h["path"] == "/contain"
                    && h["delivery"] == req_delivery.as_str()
                    && h["valid"] == true
                    && h["status"] == 200
                    && h["body"]["request"]["action"] == "isolate-host"
            })
            .then_some(())
    });
    let contained_at = rfc3339(chrono_now() - 600);
    trust.ok(
        "PATCH",
        &format!("/api/v1/cases/{id}"),
        serde_json::json!({"status": "contained", "at": contained_at}),
    );
    let scopes = trust.ok(
        "POST",
        &format!("/api/v1/cases/{id}/scope"),
        serde_json::Value::Null,
    );
    let until_t = scopes[0]["until"].as_str().unwrap().to_owned();
    assert_eq!(until_t, contained_at, "containment closes the scope window");
    // The scope's size was e-mailed, with no clear patient identifier.
    let scope_mails = || {
        lines(&smtp_out)
            .iter()
            .filter(|m| m["subject"].as_str().unwrap_or("").contains("Scope of"))
            .count()
    };
    until("the scope's e-mail", 60, || {
        (scope_mails() > 0).then_some(())
    });
    // The same scope again is not told again.
    let told = scope_mails();
    trust.ok(
        "POST",
        &format!("/api/v1/cases/{id}/scope"),
        serde_json::Value::Null,
    );
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(scope_mails(), told, "an unchanged scope was e-mailed again");

    // 5. Tasks: the notifications done (GDPR Art. 33 met on time), the rest done or skipped.
    let case_now = trust.get(&format!("/api/v1/cases/{id}"));
    for task in case_now["tasks"].as_array().unwrap() {
        let n = task["id"].as_u64().unwrap();
        let body = if task["title"].as_str().unwrap().contains("patients") {
            serde_json::json!({"status": "skipped", "note": "no high risk to the patients' rights: Art. 34 does not apply"})
        } else {
            serde_json::json!({"status": "done", "note": "done"})
        };
        trust.ok("PATCH", &format!("/api/v1/cases/{id}/tasks/{n}"), body);
    }
    let case_now = trust.get(&format!("/api/v1/cases/{id}"));
    let state = |c: &str| {
        case_now["clocks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|k| k["id"] == c)
            .unwrap()["state"]
            .clone()
    };
    assert_eq!(state("gdpr-33"), "met");
    assert_eq!(state("nis2-notification"), "met");
    assert_eq!(state("nis2-early-warning"), "met-late");

    // 6. Closed, through the workflow.
    let (code, _) = trust.call(
        "PATCH",
        &format!("/api/v1/cases/{id}"),
        &serde_json::json!({"status": "closed"}),
    );
    assert_eq!(code, 400, "closing needs a resolution");
    trust.ok(
        "PATCH",
        &format!("/api/v1/cases/{id}"),
        serde_json::json!({"status": "eradicated"}),
    );
    trust.ok(
        "PATCH",
        &format!("/api/v1/cases/{id}"),
        serde_json::json!({"status": "recovered"}),
    );
    let closed = trust.ok(
        "PATCH",
        &format!("/api/v1/cases/{id}"),
        serde_json::json!({"status": "closed", "resolution": "true-positive"}),
    );
    assert_eq!(closed["status"], "closed");

    // 7. Every step in the case's audit trail; the trail verifies.
    let trail = trust.get(&format!("/api/v1/cases/{id}/audit"));
    let text = trail.to_string();
    for step in [
        "opened",
        "template `health-data-breach` applied",
        "status new → triage",
        "warning sent",
        "missed",
        "observable",
        "containment request 1",
        "status triage → contained",
        "gdpr-33",
        "met",
        "status recovered → closed",
    ] {
        assert!(
            text.contains(step),
            "the case's audit trail lacks `{step}`: {text}"
        );
    }
    assert!(
        trail
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["who"] == "vakt" && r["action"] == "clock"),
        "the service's own clock records"
    );

    // 8. Webhooks: refused twice at first (retried), then down and back:
    // every delivery arrives, each signature checks.
    hook.take();
    trust.ok(
        "POST",
        &format!("/api/v1/cases/{id}/notes"),
        serde_json::json!({"text": "post-incident review booked"}),
    );
    trust.ok(
        "PATCH",
        &format!("/api/v1/cases/{id}"),
        serde_json::json!({"status": "triage", "reason": "reopened for the review"}),
    );
    let pending = until("a delivery failing while the receiver is down", 60, || {
        let d = trust.get("/api/v1/deliveries?status=pending");
        d.as_array()?
            .iter()
            .find(|d| {
                d["attempts"].as_u64() >= Some(1)
                    && !d["last_error"].as_str().unwrap_or("").is_empty()
            })
            .cloned()
    });
    let a = hook_args("0");
    let _hook = spawn(&a.iter().map(String::as_str).collect::<Vec<_>>(), &hook_log);
    until("every delivery delivered", 120, || {
        let all = cert.get("/api/v1/deliveries?limit=1000");
        let v = all.as_array()?;
        v.iter().all(|d| d["status"] == "delivered").then_some(())
    });
    let all = cert.get("/api/v1/deliveries?limit=1000");
    let hooks = lines(&hook_out);
    assert!(
        hooks.iter().filter(|h| h["status"] == 503).count() == 2,
        "the first two were refused"
    );
    assert!(
        hooks.iter().all(|h| h["valid"] == true),
        "every signature checks"
    );
    let mails = lines(&smtp_out);
    for d in all.as_array().unwrap() {
        let did = d["id"].as_i64().unwrap().to_string();
        let arrived = match d["channel"].as_str().unwrap() {
            "cert-mail" => mails.iter().any(|m| {
                m["headers"]["Message-ID"]
                    .as_str()
                    .unwrap_or("")
                    .contains(&format!("vakt-delivery-{did}@"))
            }),
            _ => hooks
                .iter()
                .any(|h| h["delivery"] == did.as_str() && h["status"] == 200),
        };
        assert!(arrived, "delivery {d} never arrived");
    }
    assert!(
        all.as_array()
            .unwrap()
            .iter()
            .any(|d| d["attempts"].as_u64().unwrap() > 1),
        "retries are counted"
    );
    assert!(pending["id"].as_i64().is_some());
    // No message holds a clear patient identifier.
    let sent = format!(
        "{}{}",
        std::fs::read_to_string(&hook_out).unwrap(),
        std::fs::read_to_string(&smtp_out).unwrap()
    );
    for c in &clear {
        assert!(
            !sent.contains(c.as_str()),
            "a clear identifier in a notification"
        );
    }

    // 9. TAXII: taxii2-client reads vakt's collections with a partner token;
    // the partner reads nothing else.
    assert_eq!(
        partner
            .call("GET", "/api/v1/alerts", &serde_json::Value::Null)
            .0,
        403
    );
    assert_eq!(
        partner
            .call(
                "GET",
                &format!("/api/v1/cases/{id}"),
                &serde_json::Value::Null
            )
            .0,
        403
    );
    let (ok, out, err) = run_py(&[
        peer("taxii_read.py").to_str().unwrap(),
        &format!("http://{addr}/taxii2/"),
        partner.auth.trim_start_matches("Bearer "),
    ]);
    assert!(ok, "taxii2-client: {err}");
    let read = json(&out);
    let cols = read["collections"].as_array().unwrap();
    assert_eq!(cols.len(), 2, "{out}");
    let sightings = cols
        .iter()
        .find(|c| c["title"] == "vakt sightings")
        .unwrap();
    assert!(
        intel_alerts > 0 && sightings["count"].as_u64().unwrap() >= 2,
        "vakt's identity and a sighting at least: {out}"
    );
    assert!(sightings["types"].to_string().contains("sighting"));
    let indicators = cols
        .iter()
        .find(|c| c["title"] == "vakt indicators")
        .unwrap();
    assert!(indicators["types"].to_string().contains("indicator"));
    let objs = read["objects"].to_string();
    assert!(
        objs.contains("203.0.113.66") && objs.contains("stage.evil.example"),
        "the case's indicators are shared"
    );
    assert!(!objs.contains("198.51.100.77"), "TLP:RED is not shared");
    assert_eq!(indicators["count"], indicators["manifest_count"]);

    // 10. stix2-validator: every STIX document vakt writes.
    let docs = t.join("stix");
    std::fs::create_dir_all(&docs).unwrap();
    let mut files = vec![partner_bundle.clone()];
    let sightings_bundle = cert.get("/api/v1/intel/sightings?format=stix");
    std::fs::write(docs.join("sightings.json"), sightings_bundle.to_string()).unwrap();
    files.push(docs.join("sightings.json"));
    let taxii_bundle = serde_json::json!({"type": "bundle", "id": "bundle--6b1e3c2a-4d5f-4a6b-8c7d-9e0f1a2b3c4d", "objects": read["objects"]});
    std::fs::write(docs.join("taxii.json"), taxii_bundle.to_string()).unwrap();
    files.push(docs.join("taxii.json"));
    stix_valid(&files);

    // 11. pymisp loads the case's MISP event and the MISP sightings.
    let misp = trust.get(&format!("/api/v1/cases/{id}/misp"));
    std::fs::write(t.join("event.json"), misp.to_string()).unwrap();
    let (ok, out, err) = run_py(&[
        peer("misp_load.py").to_str().unwrap(),
        t.join("event.json").to_str().unwrap(),
    ]);
    assert!(ok, "pymisp: {err}");
    let ev = json(&out);
    let attrs = ev["attributes"].to_string();
    assert!(
        attrs.contains("203.0.113.66")
            && attrs.contains("ip-dst")
            && !attrs.contains("198.51.100.77"),
        "{out}"
    );
    assert!(ev["tags"].to_string().contains("tlp:amber"));
    let ms = cert.get("/api/v1/intel/sightings?format=misp");
    std::fs::write(t.join("sightings-misp.json"), ms.to_string()).unwrap();
    let (ok, out, err) = run_py(&[
        peer("misp_load.py").to_str().unwrap(),
        "--sightings",
        t.join("sightings-misp.json").to_str().unwrap(),
    ]);
    assert!(ok, "pymisp sightings: {err}");
    assert!(json(&out)["count"].as_u64().unwrap() > 0);

    // The verdicts and the exception are in the service's trail too.
    let all_trail = admin.get("/api/v1/audit?limit=10000").to_string();
    assert!(all_trail.contains(&format!("PUT /api/v1/alerts/{}/status", alerts[0])));
    assert!(all_trail.contains(&format!("exception {} made", x["id"].as_str().unwrap())));

    // The trail holds, end to end.
    server.stop();
    let (code, out, err) = vakt(&["audit", "verify", "--dir", dir.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}{err}");
}

/// The id of [`WHOAMI_RULE`].
const WHOAMI: &str = "5f7e3c1a-0000-4000-8000-00000000beef";

fn chrono_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// Unix seconds as RFC 3339 (UTC).
fn rfc3339(secs: i64) -> String {
    vakt_core::Timestamp(secs * 1_000_000_000).to_rfc3339()
}

/// The delivery queue outlives the service: a notification queued while
/// the receiver is down, then `kill -9` of the service, arrives once both
/// are back — signed, exactly once per delivery.
#[test]
fn a_queued_notification_survives_kill9_of_the_service() {
    let d = tempfile::tempdir().unwrap();
    let t = d.path();
    let secret = "another shared secret";
    let hook_port = free_port().to_string();
    let (hook_out, hook_log) = (t.join("hooks.jsonl"), t.join("hook.log"));
    let cfg = format!(
        r#"respond:
  tick_seconds: 1
  retry_first_seconds: 1
  retry_max_seconds: 1
  retry_attempts: 1000
  channels:
    - name: soc
      webhook: {{url: "http://127.0.0.1:{hook_port}/soc", secret: "{secret}"}}
  rules:
    - {{name: cases, on: [case], channels: [soc]}}
"#
    );
    std::fs::write(t.join("vakt.yaml"), cfg).unwrap();
    let dir = t.join("serve");
    let admin = role_token(&dir, "cert-analyst");
    let cfg_path = t.join("vakt.yaml");
    let args = ["--config", cfg_path.to_str().unwrap()];
    let server = Server::start_with_rule(&dir, t, &args);
    let addr = server.addr.clone();
    let cert = Api {
        addr: &addr,
        auth: bearer(admin.trim()),
    };
    let case = cert.ok(
        "POST",
        "/api/v1/cases",
        serde_json::json!({"tenant": "ous", "title": "Phishing wave at ous"}),
    );
    let id = case["id"].as_str().unwrap().to_owned();
    // Nobody listens: the delivery waits, with its error.
    let pending = until("a failed try", 60, || {
        let d = cert.get("/api/v1/deliveries?status=pending");
        d.as_array()?
            .iter()
            .find(|d| d["attempts"].as_u64() >= Some(1))
            .cloned()
    });
    server.kill9();
    let a = [
        peer("webhook_sink.py").display().to_string(),
        "--out".into(),
        hook_out.display().to_string(),
        "--secret".into(),
        secret.into(),
        "--port".into(),
        hook_port.clone(),
        "--port-file".into(),
        t.join("hook.port").display().to_string(),
    ];
    let _hook = spawn(&a.iter().map(String::as_str).collect::<Vec<_>>(), &hook_log);
    wait_file(&t.join("hook.port"), "the webhook receiver", &hook_log);
    let server = Server::start_with_rule(&dir, t, &args);
    let addr = server.addr.clone();
    let cert = Api {
        addr: &addr,
        auth: bearer(admin.trim()),
    };
    until("the delivery after the restart", 60, || {
        let d = cert.get("/api/v1/deliveries");
        d.as_array()?
            .iter()
            .all(|d| d["status"] == "delivered")
            .then_some(())
    });
    let hooks = lines(&hook_out);
    let got: Vec<&serde_json::Value> = hooks
        .iter()
        .filter(|h| h["delivery"] == pending["id"].to_string().as_str())
        .collect();
    assert_eq!(got.len(), 1, "{hooks:?}");
    assert_eq!(got[0]["valid"], true);
    assert_eq!(got[0]["body"]["case"], id.as_str());
    server.stop();
}
