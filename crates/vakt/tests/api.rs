//! The API (`/api/v1`) on a served simulated region: two trusts' data in
//! one service (the attack's logs in both, so both have incidents).
//!
//! - every operation of the served OpenAPI document × every role × own and
//!   other tenant: the other tenant's data is refused or invisible in every
//!   cell (a new endpoint joins the matrix by being in the document);
//! - after that scripted session, no response, error or log line holds a
//!   clear identity number or patient record id, except the reveal's answer;
//! - the audit trail holds the session, `vakt audit verify` passes, and
//!   names the record after one is edited, removed or moved;
//! - schemathesis against the served document: no 5xx, no response that
//!   breaks the schema; openapi-spec-validator accepts the document, and a
//!   plain `requests` client walks the main flows.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use support::*;

fn shared(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data")
        .join(rel)
}

const OWN: &str = "ous";
const OTHER: &str = "ahus";

/// What one tenant has, as a CERT analyst sees it.
#[derive(Debug, Default, Clone)]
struct Side {
    tenant: String,
    alert_keys: Vec<String>,
    incident_ids: Vec<String>,
    event_ids: Vec<String>,
    pseudonyms: Vec<String>,
    case_ids: Vec<String>,
    exception_ids: Vec<String>,
}

impl Side {
    /// Texts that, in an answer, show this tenant's data.
    fn markers(&self) -> Vec<String> {
        let mut m = vec![format!("\"tenant\":\"{}\"", self.tenant)];
        m.extend(self.alert_keys.iter().cloned());
        m.extend(self.incident_ids.iter().cloned());
        m.extend(self.event_ids.iter().cloned());
        m.extend(self.pseudonyms.iter().cloned());
        m.extend(self.case_ids.iter().map(|c| format!("\"{c}\"")));
        m.extend(self.exception_ids.iter().map(|c| format!("\"{c}\"")));
        m
    }
}

/// A served region, with every kind of principal.
struct World {
    /// A cluster's servers (PostgreSQL, NATS), stopped with the world.
    _peers: Vec<Box<dyn std::any::Any>>,
    _d: tempfile::TempDir,
    dir: PathBuf,
    server: Server,
    /// Principal name → (Authorization header, tenant bound to).
    who: BTreeMap<&'static str, (String, Option<&'static str>)>,
    sides: BTreeMap<&'static str, Side>,
    /// Every clear identity number and record id of the region.
    clear: BTreeSet<String>,
}

fn call(w: &World, who: &str, method: &str, path: &str, body: &str) -> (u16, String) {
    let auth = w.who.get(who).map(|(a, _)| a.as_str());
    let mut h = vec![("Content-Type", "application/json")];
    if let Some(a) = auth {
        h.push(("Authorization", a));
    }
    request(&w.server.addr, method, path, &h, body.as_bytes())
        .unwrap_or_else(|| panic!("{method} {path}: no answer"))
}

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

fn post_folder(addr: &str, token: &str, dir: &Path) {
    let auth = bearer(token);
    for f in files_under(dir) {
        let body = std::fs::read(&f).unwrap();
        let (code, answer) = request(
            addr,
            "POST",
            "/api/v1/ingest",
            &[("Authorization", &auth)],
            &body,
        )
        .unwrap();
        assert_eq!(code, 200, "{}: {answer}", f.display());
    }
}

fn make_token(w: &World, role: &str, tenant: &str) -> String {
    let (code, body) = call(
        w,
        "admin",
        "POST",
        "/api/v1/tokens",
        &serde_json::json!({"role": role, "tenant": tenant, "label": format!("{role} {tenant}")})
            .to_string(),
    );
    assert_eq!(code, 201, "{body}");
    json(&body)["token"].as_str().unwrap().to_owned()
}

/// `vakt serve` on the embedded default, or (`cluster`) one cluster node
/// of every role — ingest, worker, api — on PostgreSQL and NATS JetStream:
/// the same API over the other storage.
fn world(cluster: bool) -> World {
    let d = tempfile::tempdir().unwrap();
    let sim = d.path().join("sim");
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
    let dir = d.path().join("serve");
    let mut peers: Vec<Box<dyn std::any::Any>> = Vec::new();
    let cluster_cfg = cluster.then(|| {
        use support::cluster::{Pg, nats};
        let pg = Pg::start(d.path());
        let nats_port = free_port();
        let bus = nats(&d.path().join("nats"), nats_port, &[]);
        let listen = free_port();
        let cfg = d.path().join("node.yaml");
        std::fs::write(
            &cfg,
            format!(
                "node: all\nroles: [ingest, worker, api]\nnats: [\"nats://127.0.0.1:{nats_port}\"]\npostgres: \"{}\"\nlisten: 127.0.0.1:{listen}\nshared_dir: {}\nshards: 1\ncheckpoint_ms: 300\n",
                pg.conf(),
                d.path().join("shared").display()
            ),
        )
        .unwrap();
        peers.push(Box::new(pg));
        peers.push(Box::new(bus));
        (cfg, listen)
    });
    let cluster_token = |tenant: &str, role: &str| -> String {
        let cfg = &cluster_cfg.as_ref().unwrap().0;
        let (code, out, err) = vakt(&[
            "cluster",
            "token",
            "--config",
            cfg.to_str().unwrap(),
            "--tenant",
            tenant,
            "--role",
            role,
        ]);
        assert_eq!(code, 0, "{err}");
        out.trim().to_owned()
    };
    let (ingest_own, ingest_other, admin) = if cluster {
        (
            cluster_token(OWN, "ingest"),
            cluster_token(OTHER, "ingest"),
            cluster_token("", "admin"),
        )
    } else {
        (
            token(&dir, OWN),
            token(&dir, OTHER),
            role_token(&dir, "admin"),
        )
    };
    let mut args: Vec<String> = vec![
        "--rules".into(),
        shared("sigma/rules").display().to_string(),
        "--intel".into(),
        sim.join("intel").display().to_string(),
        "--context".into(),
        sim.join("registers").display().to_string(),
        "--assets".into(),
        sim.join("registers").display().to_string(),
    ];
    let mut clear = BTreeSet::new();
    for t in std::fs::read_dir(sim.join("tenants")).unwrap().flatten() {
        args.push("--context".into());
        args.push(t.path().join("fhir").display().to_string());
        let patients = std::fs::read_to_string(t.path().join("fhir/Patient.ndjson")).unwrap();
        for l in patients.lines() {
            let p = json(l);
            clear.insert(p["id"].as_str().unwrap().to_owned());
            if let Some(n) = p["identifier"][0]["value"].as_str() {
                clear.insert(n.to_owned());
            }
        }
    }
    assert!(clear.len() > 3000, "{}", clear.len());
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let server = match &cluster_cfg {
        None => Server::start(&dir, &refs),
        Some((cfg, listen)) => {
            std::fs::create_dir_all(&dir).unwrap();
            let log = std::fs::File::create(dir.join("serve.log")).unwrap();
            let child = Command::new(env!("CARGO_BIN_EXE_vakt"))
                .args(["serve", "--cluster", cfg.to_str().unwrap()])
                .args(&refs)
                .env("RUST_LOG", "info")
                .stdout(std::process::Stdio::null())
                .stderr(log)
                .spawn()
                .unwrap();
            support::cluster::wait_port(*listen, "the cluster node");
            Server {
                child,
                dir: dir.clone(),
                addr: format!("127.0.0.1:{listen}"),
            }
        }
    };
    post_folder(&server.addr, &ingest_own, &sim.join("tenants/ous/day-001"));
    post_folder(
        &server.addr,
        &ingest_other,
        &sim.join("tenants/ahus/day-001"),
    );
    post_folder(
        &server.addr,
        &ingest_other,
        &sim.join("tenants/ous/day-001"),
    );
    let mut w = World {
        _peers: peers,
        _d: d,
        dir,
        server,
        who: BTreeMap::new(),
        sides: BTreeMap::new(),
        clear,
    };
    w.who.insert("admin", (bearer(admin.trim()), None));
    w.who.insert("ingest@ous", (bearer(&ingest_own), Some(OWN)));
    for (name, role, tenant) in [
        ("cert-analyst", "cert-analyst", ""),
        ("trust-analyst@ous", "trust-analyst", OWN),
        ("trust-analyst@ahus", "trust-analyst", OTHER),
        ("privacy-officer", "privacy-officer", ""),
        ("partner", "partner", ""),
    ] {
        let t = make_token(&w, role, tenant);
        let bound = match tenant {
            "" => None,
            OWN => Some(OWN),
            _ => Some(OTHER),
        };
        w.who.insert(name, (bearer(&t), bound));
    }
    // A privacy officer of one trust signs in with a password (a session).
    let (code, body) = call(
        &w,
        "admin",
        "POST",
        "/api/v1/users",
        r#"{"name":"ola","password":"a long enough password","role":"privacy-officer","tenant":"ous"}"#,
    );
    assert_eq!(code, 201, "{body}");
    sign_in_officer(&mut w);

    // A cluster: every partition read and acknowledged first (the workers
    // may be behind the ingest node's answers).
    if let Some((cfg, _)) = &cluster_cfg {
        let started = Instant::now();
        let mut calm = 0;
        while calm < 3 {
            let (code, out, err) = vakt(&[
                "cluster",
                "status",
                "--config",
                cfg.to_str().unwrap(),
                "--json",
            ]);
            assert_eq!(code, 0, "{err}");
            let s = json(&out);
            let idle = s["partitions"].as_array().is_some_and(|ps| {
                !ps.is_empty()
                    && ps
                        .iter()
                        .all(|p| !p["owner"].is_null() && p["lag"] == 0 && p["unacknowledged"] == 0)
            });
            calm = if idle { calm + 1 } else { 0 };
            assert!(
                started.elapsed() < Duration::from_secs(300),
                "the cluster did not catch up: {s:#}\n{}",
                w.server.stderr()
            );
            std::thread::sleep(Duration::from_millis(500));
        }
    }
    // Detection settles: both tenants' incidents are there and the alert
    // counts stop moving.
    let started = Instant::now();
    let mut last = String::new();
    loop {
        let (_, s) = call(&w, "cert-analyst", "GET", "/api/v1/status", "");
        let counts = json(&s)["counts"].to_string();
        let (_, inc) = call(&w, "cert-analyst", "GET", "/api/v1/incidents", "");
        let both = inc.contains("\"ous-INC-") && inc.contains("\"ahus-INC-");
        if both && counts == last {
            break;
        }
        last = counts;
        assert!(
            started.elapsed() < Duration::from_secs(180),
            "no incidents in both tenants: {inc}\n{}",
            w.server.stderr()
        );
        std::thread::sleep(Duration::from_secs(3));
    }
    for t in [OWN, OTHER] {
        let mut side = Side {
            tenant: t.to_owned(),
            ..Side::default()
        };
        let (_, a) = call(
            &w,
            "cert-analyst",
            "GET",
            &format!("/api/v1/alerts?tenant={t}&limit=1000"),
            "",
        );
        for a in json(&a)["items"].as_array().unwrap() {
            side.alert_keys.push(a["key"].as_str().unwrap().to_owned());
            for e in a["evidence_ids"].as_array().unwrap() {
                side.event_ids.push(e.as_str().unwrap().to_owned());
            }
        }
        let (_, i) = call(
            &w,
            "cert-analyst",
            "GET",
            &format!("/api/v1/incidents?tenant={t}"),
            "",
        );
        for i in json(&i).as_array().unwrap() {
            side.incident_ids.push(i["id"].as_str().unwrap().to_owned());
        }
        let top = side.incident_ids[0].clone();
        // The store commits every couple of seconds, after the alerts: scope
        // again until the EHR reads are stored.
        let started = Instant::now();
        while side.pseudonyms.is_empty() && started.elapsed() < Duration::from_secs(60) {
            let (code, e) = call(
                &w,
                "cert-analyst",
                "POST",
                &format!("/api/v1/incidents/{top}/scope"),
                "{}",
            );
            assert_eq!(code, 200, "{e}");
            for p in json(&e)["notification"].as_array().unwrap() {
                side.pseudonyms
                    .push(p["patient"].as_str().unwrap().to_owned());
            }
            if side.pseudonyms.is_empty() {
                std::thread::sleep(Duration::from_secs(2));
            }
        }
        // A case of the incident, and an exception (covering nothing).
        let (code, c) = call(
            &w,
            "cert-analyst",
            "POST",
            "/api/v1/cases",
            &serde_json::json!({"incident": top, "template": "health-data-breach"}).to_string(),
        );
        assert_eq!(code, 201, "{c}");
        side.case_ids
            .push(json(&c)["id"].as_str().unwrap().to_owned());
        let (code, x) = call(
            &w,
            "cert-analyst",
            "POST",
            "/api/v1/exceptions",
            &exception_body(t),
        );
        assert_eq!(code, 201, "{x}");
        side.exception_ids
            .push(json(&x)["id"].as_str().unwrap().to_owned());
        assert!(
            !side.alert_keys.is_empty()
                && !side.event_ids.is_empty()
                && !side.pseudonyms.is_empty(),
            "{t}: {side:?}"
        );
        w.sides.insert(if t == OWN { OWN } else { OTHER }, side);
    }
    w
}

/// An exception of a tenant that covers nothing (a detector that does not exist).
fn exception_body(tenant: &str) -> String {
    let in_30_days = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
        + 30 * 86_400;
    serde_json::json!({
        "tenant": tenant, "detector": "matrix-none", "reason": "matrix test exception",
        "expires": vakt_core::Timestamp(in_30_days * 1_000_000_000).to_rfc3339(),
    })
    .to_string()
}

/// The privacy officer of ous signs in with a password: a session principal.
fn sign_in_officer(w: &mut World) {
    let (code, body) = call(
        w,
        "nobody",
        "POST",
        "/api/v1/auth/login",
        r#"{"user":"ola","password":"a long enough password"}"#,
    );
    assert_eq!(code, 200, "{body}");
    let session = json(&body)["session"].as_str().unwrap().to_owned();
    w.who.insert(
        "privacy-officer@ous (session)",
        (bearer(&session), Some(OWN)),
    );
}

/// The request one cell of the matrix makes: the path with its
/// parameters filled from `side`, and a body where the operation takes one.
fn cell_request(op: &serde_json::Value, path: &str, method: &str, side: &Side) -> (String, String) {
    let mut p = path.to_owned();
    let params: Vec<&serde_json::Value> = op["parameters"]
        .as_array()
        .map(|a| a.iter().collect())
        .unwrap_or_default();
    for prm in params.iter().filter(|p| p["in"] == "path") {
        let name = prm["name"].as_str().unwrap();
        let value = match (name, path) {
            ("id", p) if p.starts_with("/api/v1/events/") => side.event_ids[0].clone(),
            ("id", p) if p.starts_with("/api/v1/incidents/") => side.incident_ids[0].clone(),
            ("id", p) if p.starts_with("/api/v1/intel/hunts/") => "1".into(),
            ("id", p) if p.starts_with("/api/v1/tokens/") => "tok-000000000000".into(),
            ("id", p) if p.starts_with("/api/v1/cases/") => side.case_ids[0].clone(),
            ("id", p) if p.starts_with("/api/v1/exceptions/") => side.exception_ids[0].clone(),
            ("id", p) if p.starts_with("/api/v1/deliveries/") => "1".into(),
            // The sightings collection (each reader sees its tenants' sightings).
            ("id", p) if p.starts_with("/taxii2/") => "9c2d4e6f-8a1b-4c3d-9e5f-7a6b5c4d3e2f".into(),
            ("item", p) if p.contains("/tasks/") => "1".into(),
            ("item", p) if p.contains("/clocks/") => "gdpr-33".into(),
            ("key", _) => side.alert_keys[0].clone(),
            ("pseudonym", _) => side.pseudonyms[0].clone(),
            ("name", _) => "nobody-in-particular".into(),
            _ => panic!(
                "the matrix has no value for `{name}` of {method} {path}: say which of a tenant's objects it names"
            ),
        };
        p = p.replace(&format!("{{{name}}}"), &value);
    }
    if params
        .iter()
        .any(|p| p["in"] == "query" && p["name"] == "tenant")
    {
        p.push_str(&format!("?tenant={}", side.tenant));
        // Who read the tenant's patient.
        if path == "/api/v1/ehr/accesses" {
            p.push_str(&format!("&patient={}", side.pseudonyms[0]));
        }
    }
    let body = if op.get("requestBody").is_none() {
        String::new()
    } else {
        match (method, path) {
            ("post", "/api/v1/patients/{pseudonym}/reveal") => serde_json::json!({
                "reason": "matrix test: may this role see it?", "tenant": side.tenant
            })
            .to_string(),
            ("put", "/api/v1/alerts/{key}/status") => {
                r#"{"status":"acknowledged","note":"matrix"}"#.into()
            }
            ("post", "/api/v1/incidents/{id}/scope") => "{}".into(),
            ("post", "/api/v1/auth/login") => {
                r#"{"user":"nobody","password":"not a password"}"#.into()
            }
            ("post", "/api/v1/users") => serde_json::json!({
                "name": format!("matrix-{}", side.tenant), "password": "matrix password 1234",
                "role": "trust-analyst", "tenant": side.tenant
            })
            .to_string(),
            ("post", "/api/v1/tokens") => serde_json::json!({
                "role": "trust-analyst", "tenant": side.tenant, "label": "matrix"
            })
            .to_string(),
            ("post", "/api/v1/intel") => "203.0.113.199\n".into(),
            ("post", "/api/v1/cases") => {
                serde_json::json!({"incident": side.incident_ids[0]}).to_string()
            }
            ("patch", "/api/v1/cases/{id}") => r#"{"tags":["matrix"]}"#.into(),
            ("post", "/api/v1/cases/{id}/notes") => r#"{"text":"matrix"}"#.into(),
            ("post", "/api/v1/cases/{id}/tasks") => r#"{"title":"matrix"}"#.into(),
            ("patch", "/api/v1/cases/{id}/tasks/{item}") => r#"{"owner":"matrix"}"#.into(),
            ("post", "/api/v1/cases/{id}/observables") => {
                r#"{"kind":"ip","value":"203.0.113.250","ioc":true}"#.into()
            }
            ("post", "/api/v1/cases/{id}/links") => {
                serde_json::json!({"incidents": [side.incident_ids[0]]}).to_string()
            }
            ("post", "/api/v1/cases/{id}/clocks") => {
                r#"{"id":"matrix","name":"matrix","hours":1}"#.into()
            }
            ("post", "/api/v1/cases/{id}/clocks/{item}/met") => "{}".into(),
            ("post", "/api/v1/cases/{id}/template") => {
                r#"{"template":"health-data-breach"}"#.into()
            }
            ("post", "/api/v1/cases/{id}/merge") => {
                serde_json::json!({"from": [side.case_ids[0]]}).to_string()
            }
            ("post", "/api/v1/cases/{id}/split") => {
                r#"{"title":"matrix","incidents":["none"]}"#.into()
            }
            ("post", "/api/v1/cases/{id}/containment") => {
                r#"{"action":"block","target":"203.0.113.250"}"#.into()
            }
            ("post", "/api/v1/templates") => serde_json::json!({
                "name": format!("matrix-{}", side.tenant), "tasks": [{"title": "matrix"}]
            })
            .to_string(),
            ("post", "/api/v1/exceptions") => exception_body(&side.tenant),
            ("post", "/api/v1/hunt") => {
                serde_json::json!({"indicator": "203.0.113.250", "tenant": side.tenant}).to_string()
            }
            _ => panic!("the matrix has no body for {method} {path}: add one"),
        }
    };
    (p, body)
}

#[test]
fn every_endpoint_every_role_own_and_other_tenant_then_privacy_and_audit() {
    let mut w = world(false);
    let answers = matrix_privacy_and_trail(&mut w);
    serve_log_and_audit_verify(w, answers);
}

/// The same matrix on a cluster node (ingest, worker and api roles) over
/// PostgreSQL and NATS JetStream: what SQLite holds on the embedded
/// default is in PostgreSQL here, behind the same storage interface.
#[test]
fn the_api_over_postgresql_every_endpoint_every_role_own_and_other_tenant() {
    let mut w = world(true);
    let mut answers = matrix_privacy_and_trail(&mut w);
    w.server.stop();
    answers.push(std::fs::read_to_string(w.dir.join("serve.log")).unwrap());
    no_clear_identifiers(&w.clear, &answers);
    // The trail in PostgreSQL: intact, then a record edited is named.
    let cfg = w.dir.with_file_name("node.yaml");
    let cfg = cfg.to_str().unwrap();
    let (code, out, err) = vakt(&["cluster", "audit-verify", "--config", cfg]);
    assert_eq!(code, 0, "{out}{err}");
    let pg = w
        ._peers
        .iter()
        .find_map(|p| p.downcast_ref::<support::cluster::Pg>())
        .unwrap();
    let n: i64 = pg.psql("SELECT max(seq) FROM audit").parse().unwrap();
    assert!(n > 100, "{n} records");
    let mid = n / 2;
    pg.psql(&format!(
        "DROP TRIGGER audit_no_update ON audit; UPDATE audit SET who = 'someone else' WHERE seq = {mid}"
    ));
    let (code, out, err) = vakt(&["cluster", "audit-verify", "--config", cfg]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        out.lines()
            .any(|l| l.starts_with(&format!("record {mid}:"))),
        "record {mid} not named: {out}"
    );
}

/// The OpenAPI document's every operation × every principal × both
/// tenants, a reveal, the audit trail. Returns every answer but the reveal's.
fn matrix_privacy_and_trail(w: &mut World) -> Vec<String> {
    let (code, doc) = call(w, "nobody", "GET", "/api/v1/openapi.json", "");
    assert_eq!(code, 200);
    let doc = json(&doc);
    assert_eq!(doc["openapi"], "3.1.0");
    let mut ops: Vec<(String, String, serde_json::Value)> = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            ops.push((path.clone(), method.clone(), op.clone()));
        }
    }
    // Signing out ends the session principal's session: last.
    ops.sort_by_key(|(p, m, _)| (p.ends_with("/logout"), m.clone(), p.clone()));
    assert!(ops.len() >= 30, "{} operations", ops.len());

    let mut answers: Vec<String> = Vec::new();
    let (mut cells, mut other_cells, mut refused, mut invisible) = (0, 0, 0, 0);
    let mut cert_saw_other = false;
    let mut unaudited = 0;
    let principals: Vec<&str> = w.who.keys().copied().chain(["anonymous"]).collect();
    for (path, method, op) in &ops {
        for who in &principals {
            let bound = w.who.get(who).and_then(|(_, t)| *t);
            for target in [OWN, OTHER] {
                let side = &w.sides[target];
                let (p, body) = cell_request(op, path, method, side);
                let (code, answer) = call(w, who, &method.to_uppercase(), &p, &body);
                cells += 1;
                // Not configured here, the OpenID Connect paths answer 404 before any sign-in.
                if path.starts_with("/api/v1/auth/oidc/") {
                    unaudited += 1;
                }
                assert!(code < 500, "{who} {method} {p}: {code} {answer}");
                // A partner CERT reads the TAXII collections and nothing else.
                if *who == "partner"
                    && !path.starts_with("/taxii2/")
                    && !path.starts_with("/api/v1/auth/")
                    && path != "/api/v1/openapi.json"
                {
                    assert!(
                        matches!(code, 403 | 404),
                        "partner {method} {p}: {code} {answer}"
                    );
                }
                let is_reveal = path.ends_with("/reveal") && code == 200;
                if !is_reveal {
                    answers.push(answer.clone());
                }
                let Some(mine) = bound else {
                    if *who == "cert-analyst"
                        && target == OTHER
                        && code == 200
                        && answer.contains(&w.sides[OTHER].alert_keys[0])
                    {
                        cert_saw_other = true;
                    }
                    continue;
                };
                let not_mine = if mine == OWN { OTHER } else { OWN };
                let leaked: Vec<String> = w.sides[not_mine]
                    .markers()
                    .into_iter()
                    .filter(|m| answer.contains(m.as_str()))
                    .take(3)
                    .collect();
                assert!(
                    leaked.is_empty(),
                    "{who} {method} {p}: {code} shows {not_mine}'s data {leaked:?}"
                );
                if target != mine {
                    other_cells += 1;
                    if matches!(code, 401 | 403 | 404) {
                        refused += 1;
                    } else {
                        invisible += 1;
                    }
                }
            }
        }
    }
    assert!(
        cert_saw_other,
        "the CERT analyst never saw the other tenant: the matrix could not tell"
    );
    assert_eq!(refused + invisible, other_cells);
    eprintln!(
        "matrix: {} operations × {} principals × 2 tenants = {cells} cells; {other_cells} cells of a tenant-bound principal asking for the other tenant: {refused} refused, {invisible} answered without its data (100 %)",
        ops.len(),
        principals.len()
    );

    // The session ended with the matrix's sign-out: sign in again.
    sign_in_officer(w);
    // A privacy officer reveals one pseudonym, with a reason; a trust analyst may not.
    let p = &w.sides[OWN].pseudonyms[0];
    let path = format!("/api/v1/patients/{p}/reveal");
    let reason = r#"{"reason":"notification to the patient, case 2018-17"}"#;
    let (code, body) = call(w, "trust-analyst@ous", "POST", &path, reason);
    assert_eq!(code, 403, "{body}");
    answers.push(body);
    let (code, body) = call(
        w,
        "privacy-officer@ous (session)",
        "POST",
        &path,
        r#"{"reason":""}"#,
    );
    assert_eq!(code, 400, "{body}");
    answers.push(body);
    let (code, body) = call(w, "privacy-officer", "POST", &path, reason);
    assert_eq!(code, 400, "an all-tenant officer names the tenant: {body}");
    answers.push(body);
    let (code, body) = call(w, "privacy-officer@ous (session)", "POST", &path, reason);
    assert_eq!(code, 200, "{body}");
    let revealed = json(&body)["identity_number"].as_str().unwrap().to_owned();
    assert!(w.clear.contains(&revealed), "{revealed} is not a patient's");
    // The other tenant's pseudonym, asked for as this tenant's: unknown.
    let (code, body) = call(
        w,
        "privacy-officer@ous (session)",
        "POST",
        &format!("/api/v1/patients/{}/reveal", w.sides[OTHER].pseudonyms[0]),
        reason,
    );
    assert_eq!(code, 404, "{body}");
    answers.push(body);

    // The audit trail has the session: the reveal with its reason, reads, sign-ins.
    let (code, body) = call(
        w,
        "admin",
        "GET",
        "/api/v1/audit?action=reveal&limit=10000",
        "",
    );
    assert_eq!(code, 200);
    let reveals = json(&body);
    assert!(
        reveals
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["outcome"] == "200"
                && r["who"] == "ola"
                && r["detail"].as_str().unwrap().contains("case 2018-17")),
        "{reveals}"
    );
    answers.push(body);
    let (_, body) = call(w, "admin", "GET", "/api/v1/audit?limit=10000", "");
    let trail = json(&body);
    let actions: BTreeSet<&str> = trail
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["action"].as_str())
        .collect();
    for a in ["read", "change", "reveal", "sign-in", "refused"] {
        assert!(actions.contains(a), "no `{a}` in the trail: {actions:?}");
    }
    assert!(
        trail.as_array().unwrap().len() >= cells - unaudited,
        "every request is in the trail"
    );
    answers.push(body);
    answers
}

/// No clear identity number or record id anywhere but the reveal.
fn no_clear_identifiers(clear: &BTreeSet<String>, answers: &[String]) {
    let mut found = BTreeSet::new();
    for a in answers {
        for token in a.split(|c: char| !c.is_ascii_alphanumeric()) {
            if clear.contains(token) {
                found.insert(token.to_owned());
            }
        }
    }
    assert!(
        found.is_empty(),
        "clear identifiers in answers or logs: {:?}",
        found.iter().take(5).collect::<Vec<_>>()
    );
    eprintln!(
        "privacy: {} answers and the service's log scanned for {} identity numbers and record ids: none found",
        answers.len(),
        clear.len()
    );
}

/// The service's log holds no clear identifier; `vakt audit verify` finds
/// the SQLite trail intact, then names a record edited, removed or moved.
fn serve_log_and_audit_verify(w: World, mut answers: Vec<String>) {
    let dir = w.dir.clone();
    w.server.stop();
    let logs = std::fs::read_to_string(dir.join("serve.log")).unwrap();
    answers.push(logs);
    no_clear_identifiers(&w.clear, &answers);

    // `vakt audit verify`: intact, then names the record edited, removed, moved.
    let d = dir.to_str().unwrap();
    let (code, out, err) = vakt(&["audit", "verify", "--dir", d]);
    assert_eq!(code, 0, "{out}{err}");
    let db = dir.join("vakt.db");
    let c = rusqlite::Connection::open(&db).unwrap();
    c.execute_batch(
        "DROP TRIGGER audit_no_update; DROP TRIGGER audit_no_delete; PRAGMA wal_checkpoint(TRUNCATE);",
    )
    .unwrap();
    let n: i64 = c
        .query_row("SELECT max(seq) FROM audit", [], |r| r.get(0))
        .unwrap();
    let snapshot = std::fs::read(&db).unwrap();
    let copy = |tag: &str| {
        let d2 = dir.with_file_name(format!("audit-{tag}"));
        std::fs::create_dir_all(&d2).unwrap();
        std::fs::write(d2.join("vakt.db"), &snapshot).unwrap();
        std::fs::copy(dir.join("audit.head"), d2.join("audit.head")).unwrap();
        d2
    };
    drop(c);
    let mid = n / 2;
    for (tag, sql, named) in [
        (
            "edited",
            format!("UPDATE audit SET who = 'someone else' WHERE seq = {mid}"),
            mid,
        ),
        (
            "removed",
            format!("DELETE FROM audit WHERE seq = {mid}"),
            mid,
        ),
        (
            "moved",
            format!(
                "UPDATE audit SET seq = -1 WHERE seq = {mid}; UPDATE audit SET seq = {mid} WHERE seq = {}; UPDATE audit SET seq = {} WHERE seq = -1;",
                mid + 1,
                mid + 1
            ),
            mid,
        ),
        (
            "newest-removed",
            format!("DELETE FROM audit WHERE seq = {n}"),
            n,
        ),
    ] {
        let d2 = copy(tag);
        let c = rusqlite::Connection::open(d2.join("vakt.db")).unwrap();
        c.execute_batch(&sql).unwrap();
        drop(c);
        let (code, out, err) = vakt(&["audit", "verify", "--dir", d2.to_str().unwrap()]);
        assert_eq!(code, 1, "{tag}: {out}{err}");
        assert!(
            out.lines()
                .any(|l| l.starts_with(&format!("record {named}:"))),
            "{tag}: record {named} not named: {out}"
        );
    }
}

/// The API's Python peers: openapi-spec-validator, schemathesis, requests.
fn peer(script: &str, args: &[&str]) -> String {
    let out = Command::new(python())
        .arg(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/peers")
                .join(script),
        )
        .args(args)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{script}: {text}");
    text
}

#[test]
fn real_clients_validate_the_document_fuzz_it_and_walk_the_main_flows() {
    let w = world(false);
    let url = w.server.url();
    let auth = |who: &str| w.who[who].0.trim_start_matches("Bearer ").to_owned();
    // The document validates, and a plain client walks the main flows.
    let flows = peer(
        "api_flows.py",
        &[
            &url,
            &auth("admin"),
            &auth("cert-analyst"),
            &auth("trust-analyst@ahus"),
        ],
    );
    let summary = json(flows.lines().rfind(|l| l.starts_with('{')).unwrap());
    assert!(
        w.clear.contains(summary["revealed"].as_str().unwrap()),
        "{summary}"
    );
    assert!(summary["hunt_alerts"].as_u64().unwrap() >= 1, "{summary}");
    assert!(summary["pages"].as_u64().unwrap() >= 2, "{summary}");
    // schemathesis: every operation, as a CERT analyst, an admin and a
    // privacy officer: no 5xx, no answer outside the schema.
    for (who, examples) in [
        ("cert-analyst", "3"),
        ("admin", "2"),
        ("privacy-officer", "2"),
    ] {
        let text = peer(
            "schemathesis_run.py",
            &[&format!("{url}/api/v1/openapi.json"), &auth(who), examples],
        );
        eprintln!(
            "schemathesis as {who}: {}",
            text.lines()
                .rfind(|l| l.contains("generated"))
                .unwrap_or("")
        );
    }
    w.server.stop();
}
