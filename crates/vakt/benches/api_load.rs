//! The API's answer times on a served region: `vakt sim` (10,000 patients,
//! one day, the attack) posted into the release `vakt serve` with every
//! detector on (the SigmaHQ rules, the analytics, the EHR context), then
//! each operation asked for by two clients at once for a few seconds:
//! answers per second and the median and 99th-percentile latency. Every
//! request is authenticated, scoped to its tenant and appended to the
//! hash-chained audit trail, as in service.
//!
//! `cargo bench -p vakt --bench api_load` (VAKT_API_SECS per operation,
//! default 5). The clients run on the same 2 cores.

mod common;

use common::call;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn vakt(bin: &str, args: &[&str]) -> String {
    let out = Command::new(bin).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

fn json(t: &str) -> serde_json::Value {
    serde_json::from_str(t).unwrap_or_else(|e| panic!("{e}: {t}"))
}

fn main() {
    let secs: u64 = std::env::var("VAKT_API_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let rules = root.join("../shared/data/sigma/rules");
    let bin = env!("CARGO_BIN_EXE_vakt");
    let dir = tempfile::tempdir().unwrap();
    let sim = dir.path().join("sim");
    vakt(bin, &["sim", "--out", sim.to_str().unwrap(), "--quiet"]);
    let data = dir.path().join("data");
    let d = data.to_str().unwrap();
    let ingest = vakt(bin, &["token", "create", "--dir", d, "--tenant", "ous"]);
    let cert = vakt(
        bin,
        &["token", "create", "--dir", d, "--role", "cert-analyst"],
    );
    let trust = vakt(
        bin,
        &[
            "token",
            "create",
            "--dir",
            d,
            "--role",
            "trust-analyst",
            "--tenant",
            "ous",
        ],
    );
    let mut args: Vec<String> = vec![
        "serve".into(),
        "--dir".into(),
        d.into(),
        "--listen".into(),
        "127.0.0.1:0".into(),
        "--rules".into(),
        rules.display().to_string(),
        "--intel".into(),
        sim.join("intel").display().to_string(),
        "--context".into(),
        sim.join("registers").display().to_string(),
        "--assets".into(),
        sim.join("registers").display().to_string(),
    ];
    for t in std::fs::read_dir(sim.join("tenants")).unwrap().flatten() {
        args.push("--context".into());
        args.push(t.path().join("fhir").display().to_string());
    }
    let mut child = Command::new(bin)
        .args(&args)
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let addr = loop {
        if let Ok(l) = std::fs::read_to_string(data.join("listening")) {
            break l
                .lines()
                .next()
                .unwrap_or("")
                .trim_start_matches("http://")
                .to_owned();
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "vakt serve did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut posted = 0u64;
    let mut stack = vec![sim.join("tenants/ous/day-001")];
    while let Some(p) = stack.pop() {
        if p.is_dir() {
            stack.extend(std::fs::read_dir(&p).unwrap().flatten().map(|e| e.path()));
        } else {
            let body = std::fs::read(&p).unwrap();
            posted += body.len() as u64;
            let (code, answer) = call(&addr, "POST", "/api/v1/ingest", &ingest, &body);
            assert_eq!(code, 200, "{answer}");
        }
    }
    // Detection settles.
    let mut last = String::new();
    loop {
        std::thread::sleep(Duration::from_secs(3));
        let (_, s) = call(&addr, "GET", "/api/v1/status", &cert, b"");
        let counts = json(&s)["counts"].to_string();
        if counts == last && counts.contains("ous") {
            break;
        }
        last = counts;
    }
    let (_, inc) = call(&addr, "GET", "/api/v1/incidents?tenant=ous", &cert, b"");
    let incident = json(&inc)[0]["id"].as_str().unwrap().to_owned();
    let (_, a) = call(
        &addr,
        "GET",
        "/api/v1/alerts?tenant=ous&detector=sigma&limit=1",
        &cert,
        b"",
    );
    let alert = json(&a)["items"][0]["key"].as_str().unwrap().to_owned();
    let event = json(&a)["items"][0]["evidence_ids"][0]
        .as_str()
        .unwrap()
        .to_owned();
    let (_, all) = call(&addr, "GET", "/api/v1/alerts?limit=1000", &cert, b"");
    let (_, st) = call(&addr, "GET", "/api/v1/status", &cert, b"");
    println!(
        "api_load: {:.1} MB posted (tenant ous); {} alerts, {}; each operation by 2 clients for {secs} s",
        posted as f64 / 1e6,
        json(&all)["items"].as_array().map_or(0, Vec::len),
        json(&st)["counts"]
    );
    let ops: Vec<(&str, String, &str, &str)> = vec![
        ("status", "/api/v1/status".into(), "GET", &trust),
        (
            "alerts, a page of 100",
            "/api/v1/alerts?limit=100".into(),
            "GET",
            &trust,
        ),
        (
            "alerts, severity high",
            "/api/v1/alerts?severity=high".into(),
            "GET",
            &cert,
        ),
        (
            "one alert with its evidence events",
            format!("/api/v1/alerts/{alert}"),
            "GET",
            &trust,
        ),
        ("incidents", "/api/v1/incidents".into(), "GET", &trust),
        (
            "one incident (graph, timeline)",
            format!("/api/v1/incidents/{incident}"),
            "GET",
            &trust,
        ),
        (
            "one event by id",
            format!("/api/v1/events/{event}"),
            "GET",
            &trust,
        ),
        (
            "events, Windows (evtx:*), a page of 100",
            "/api/v1/events?source=evtx:*&limit=100".into(),
            "GET",
            &trust,
        ),
        (
            "the incident's scope (kept)",
            format!("/api/v1/incidents/{incident}/scope"),
            "GET",
            &trust,
        ),
        (
            "the incident scoped anew",
            format!("/api/v1/incidents/{incident}/scope"),
            "POST",
            &trust,
        ),
        (
            "notification list, CSV",
            format!("/api/v1/incidents/{incident}/notification?format=csv"),
            "GET",
            &trust,
        ),
    ];
    println!(
        "{:<38} {:>9} {:>9} {:>9}",
        "operation", "answers/s", "p50 ms", "p99 ms"
    );
    for (name, path, method, token) in &ops {
        let stop = Instant::now() + Duration::from_secs(secs);
        let t0 = Instant::now();
        let lat: Vec<f64> = std::thread::scope(|s| {
            let hs: Vec<_> = (0..2)
                .map(|_| {
                    s.spawn(|| {
                        let mut v = Vec::new();
                        while Instant::now() < stop {
                            let t = Instant::now();
                            let (code, body) = call(&addr, method, path, token, b"");
                            assert_eq!(code, 200, "{name}: {body}");
                            v.push(t.elapsed().as_secs_f64() * 1e3);
                        }
                        v
                    })
                })
                .collect();
            hs.into_iter().flat_map(|h| h.join().unwrap()).collect()
        });
        let took = t0.elapsed().as_secs_f64();
        let mut l = lat.clone();
        l.sort_by(f64::total_cmp);
        let q = |p: f64| l[((l.len() as f64 - 1.0) * p) as usize];
        println!(
            "{:<38} {:>9.0} {:>9.1} {:>9.1}",
            name,
            l.len() as f64 / took,
            q(0.5),
            q(0.99)
        );
    }
    let _ = Command::new("kill").arg(child.id().to_string()).status();
    let _ = child.wait();
}
