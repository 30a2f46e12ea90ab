//! `vakt serve` under load: kill -9 at random moments loses no acknowledged
//! event and duplicates none, nor any alert; a slow store pushes back (429)
//! instead of growing without bound.
//!
//! CI runs a short round (`VAKT_CRASH_ROUNDS`, default 3);
//! `scripts/serve-crash` runs 20 and more.

mod support;

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use support::*;

/// Documents per request.
const BATCH: u64 = 100;

/// Posts batches of numbered Winlogbeat documents from `next` on, from
/// `clients` threads, until `stop`; returns the numbers acknowledged (2xx)
/// and the statuses seen.
fn load(
    addr: &str,
    token: &str,
    next: &Arc<AtomicU64>,
    clients: usize,
    batch: u64,
    stop: &Arc<AtomicBool>,
) -> (BTreeSet<u64>, Vec<u16>) {
    let acked = Arc::new(Mutex::new(BTreeSet::new()));
    let statuses = Arc::new(Mutex::new(Vec::new()));
    let threads: Vec<_> = (0..clients)
        .map(|_| {
            let (addr, auth) = (addr.to_owned(), bearer(token));
            let (next, stop, acked, statuses) =
                (next.clone(), stop.clone(), acked.clone(), statuses.clone());
            std::thread::spawn(move || {
                while !stop.load(Relaxed) {
                    let from = next.fetch_add(batch, Relaxed);
                    let body = bulk_body(from, from + batch, "ws-load");
                    match request(
                        &addr,
                        "POST",
                        "/_bulk",
                        &[("Authorization", &auth)],
                        body.as_bytes(),
                    ) {
                        Some((code, answer)) => {
                            statuses.lock().unwrap().push(code);
                            if code == 200 {
                                assert!(answer.contains("\"errors\":false"), "{answer}");
                                acked.lock().unwrap().extend(from..from + batch);
                            } else if code == 429 || code == 503 {
                                std::thread::sleep(Duration::from_millis(20));
                            }
                        }
                        // Cut by the kill: not acknowledged.
                        None => std::thread::sleep(Duration::from_millis(5)),
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let a = acked.lock().unwrap().clone();
    let s = statuses.lock().unwrap().clone();
    (a, s)
}

/// Ingest under load, kill -9 at a random moment, restart — over rounds:
/// every acknowledged event is in the store exactly once, no event is
/// stored twice, every stored event raised its alert exactly once, and the
/// store opens clean each time.
#[test]
fn kill_9_under_load_loses_no_acknowledged_event() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().join("data");
    let tok = token(&dir, "ahus");
    let rules = rules(d.path());
    let args = ["--analytics", "none", "--rules", rules.to_str().unwrap()];
    let next = Arc::new(AtomicU64::new(1));
    let mut acked = BTreeSet::new();
    for round in 0..rounds() {
        let s = Server::start(&dir, &args);
        let stop = Arc::new(AtomicBool::new(false));
        let (addr, tok2, next2, stop2) = (s.addr.clone(), tok.clone(), next.clone(), stop.clone());
        let loader = std::thread::spawn(move || load(&addr, &tok2, &next2, 3, BATCH, &stop2));
        let wait = 300 + jitter(2_500);
        std::thread::sleep(Duration::from_millis(wait));
        s.kill9();
        stop.store(true, Relaxed);
        let (got, _) = loader.join().unwrap();
        eprintln!(
            "round {round}: killed after {wait} ms, {} events acknowledged",
            got.len()
        );
        acked.extend(got);
    }
    // A last start replays the log; a clean stop commits everything.
    let s = Server::start(&dir, &args);
    s.stop();
    let stored = stored_records(&dir);
    let twice: Vec<_> = stored.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "stored more than once: {twice:?}");
    let lost: Vec<_> = acked.iter().filter(|n| !stored.contains_key(n)).collect();
    assert!(
        lost.is_empty(),
        "acknowledged but not stored: {} ({:?}…)",
        lost.len(),
        &lost[..lost.len().min(5)]
    );
    assert!(acked.len() >= BATCH as usize, "the load never got through");
    // One alert per stored event, none twice (a replay restates, never adds).
    let alerts = alerts(&dir);
    if alerts.len() != stored.len() {
        let keyed: BTreeSet<u64> = alerts
            .iter()
            .filter_map(|a| a.origins.first())
            .filter_map(|o| o.record_id.as_ref()?.parse().ok())
            .collect();
        let missing: Vec<_> = stored
            .keys()
            .filter(|n| !keyed.contains(n))
            .take(20)
            .collect();
        let said = std::fs::read_to_string(dir.join("serve.log")).unwrap_or_default();
        let errors: Vec<&str> = said
            .lines()
            .filter(|l| l.contains("ERROR") || l.contains("error"))
            .take(20)
            .collect();
        let kept = d.keep();
        panic!(
            "events without their alert: {missing:?}; the service said: {errors:?}; data kept in {}",
            kept.display()
        );
    }
    assert_eq!(
        alerts.len(),
        stored.len(),
        "alerts {} for {} events",
        alerts.len(),
        stored.len()
    );
    // No leftovers of an interrupted segment.
    let leftovers: Vec<_> = files_under(&dir.join("store"))
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

/// With a store that takes 150 ms a batch and room for 2 MiB in flight,
/// eight clients offering 2,000 documents (~0.6 MB) a request as fast as they can are answered 429/503 with
/// Retry-After for what does not fit; the service's memory stays under
/// 400 MB; every acknowledged event is stored.
#[test]
fn a_slow_store_pushes_back_and_memory_stays_bounded() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().join("data");
    let tok = token(&dir, "ahus");
    let rules = rules(d.path());
    let cfg = d.path().join("serve.yml");
    std::fs::write(
        &cfg,
        "test_store_delay_ms: 150\nmax_inflight_bytes: 2097152\nwal_queue: 8\ncheckpoint_ms: 200\n",
    )
    .unwrap();
    let s = Server::start(
        &dir,
        &[
            "--config",
            cfg.to_str().unwrap(),
            "--analytics",
            "none",
            "--rules",
            rules.to_str().unwrap(),
        ],
    );
    let stop = Arc::new(AtomicBool::new(false));
    let next = Arc::new(AtomicU64::new(1));
    let (addr, tok2, next2, stop2) = (s.addr.clone(), tok.clone(), next.clone(), stop.clone());
    let loader = std::thread::spawn(move || load(&addr, &tok2, &next2, 8, 2_000, &stop2));
    let started = Instant::now();
    let mut peak = 0;
    while started.elapsed() < Duration::from_secs(8) {
        peak = peak.max(s.rss_kb());
        std::thread::sleep(Duration::from_millis(100));
    }
    stop.store(true, Relaxed);
    let (acked, statuses) = loader.join().unwrap();
    // A refusal tells the client when to come back.
    let refusals: Vec<String> = (0..20)
        .filter_map(|i| {
            let body = bulk_body(10_000_000 + i * BATCH, 10_000_000 + (i + 1) * BATCH, "x");
            let (code, head, _) = request_full(
                &s.addr,
                "POST",
                "/_bulk",
                &[("Authorization", &bearer(&tok))],
                body.as_bytes(),
            )
            .unwrap();
            (code != 200).then_some(head)
        })
        .collect();
    let code = refusals.len();
    let metrics = request(&s.addr, "GET", "/metrics", &[], b"").unwrap().1;
    s.stop();
    let refused = statuses.iter().filter(|c| **c == 429 || **c == 503).count();
    eprintln!(
        "offered {} requests: {} acknowledged, {refused} refused; peak RSS {} MB; {code} of 20 more refused right after",
        statuses.len(),
        acked.len() as u64 / 2_000,
        peak / 1024
    );
    assert!(refused > 0, "no push-back: {statuses:?}");
    assert!(
        refusals.iter().all(|h| h.contains("retry-after: 1")),
        "{refusals:?}"
    );
    assert!(
        statuses.iter().all(|c| [200, 429, 503].contains(c)),
        "{statuses:?}"
    );
    assert!(peak < 400 * 1024, "peak RSS {} MB", peak / 1024);
    assert!(
        metrics.contains("vakt_requests_throttled_total"),
        "{metrics}"
    );
    let stored = stored_records(&dir);
    let lost = acked.iter().filter(|n| !stored.contains_key(n)).count();
    assert_eq!(lost, 0, "acknowledged but not stored");
    assert!(stored.values().all(|n| *n == 1));
}
