//! Load against `vakt serve`: starts the release binary on loopback with
//! every detector on (the SigmaHQ rules of ../shared/data, the network and
//! EHR analytics), posts `_bulk` requests of 1,000 documents from several
//! clients for a while — Zeek conn records of a /16 talking to the world
//! (the network detectors' food) with a Winlogbeat process creation every
//! tenth document, some running whoami (a SigmaHQ rule fires) — and prints
//! the events acknowledged per second, how long the service then took to
//! have everything stored and detected, and the ingest-to-alert latency
//! quantiles from its own histogram.
//!
//! `cargo bench -p vakt --bench serve_load` (VAKT_LOAD_SECS, default 20;
//! VAKT_LOAD_CLIENTS, default 3). The client runs on the same 2 cores.

mod common;

use common::{get, metric};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

const BATCH: u64 = 1_000;

fn post(addr: &str, auth: &str, body: &[u8]) -> Option<u16> {
    let mut s = TcpStream::connect(addr).ok()?;
    let head = format!(
        "POST /_bulk HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nAuthorization: {auth}\r\nContent-Type: application/x-ndjson\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).ok()?;
    s.write_all(body).ok()?;
    let mut out = Vec::new();
    s.read_to_end(&mut out).ok()?;
    String::from_utf8_lossy(&out)
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// Documents `from..from+BATCH` as a `_bulk` body; times advance 10 ms a document.
fn body(from: u64) -> Vec<u8> {
    let mut b = String::with_capacity(BATCH as usize * 400);
    let base = 1_704_067_200.0; // 2024-01-01
    for n in from..from + BATCH {
        let ts = base + n as f64 * 0.01;
        b.push_str("{\"index\":{\"_index\":\"logs\"}}\n");
        if n % 10 == 0 {
            let (image, cmd) = if n % 100 == 0 {
                ("whoami.exe", "whoami /all")
            } else {
                ("svchost.exe", "svchost.exe -k netsvcs")
            };
            let secs = ts as i64;
            b.push_str(&format!(
                "{{\"@timestamp\":\"{}\",\"winlog\":{{\"channel\":\"Security\",\"event_id\":4688,\"computer_name\":\"ws{}.ahus.example\",\"record_id\":{n},\"event_data\":{{\"NewProcessName\":\"C:\\\\Windows\\\\System32\\\\{image}\",\"CommandLine\":\"{cmd}\",\"SubjectUserName\":\"user{}\"}}}}}}\n",
                chrono_like(secs),
                n % 500,
                n % 300,
            ));
        } else {
            let src = n % 4096;
            b.push_str(&format!(
                "{{\"ts\":{ts:.3},\"uid\":\"C{n}\",\"id.orig_h\":\"10.{}.{}.{}\",\"id.orig_p\":{},\"id.resp_h\":\"198.51.{}.{}\",\"id.resp_p\":443,\"proto\":\"tcp\",\"service\":\"ssl\",\"duration\":0.5,\"orig_bytes\":1200,\"resp_bytes\":5400,\"conn_state\":\"SF\",\"_path\":\"conn\"}}\n",
                src / 256 % 256,
                src % 256,
                1 + n % 250,
                40_000 + n % 20_000,
                n % 200,
                1 + n % 250
            ));
        }
    }
    b.into_bytes()
}

/// RFC 3339 of epoch seconds (UTC), without a date library.
fn chrono_like(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil from days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

fn quantile(metrics: &str, q: f64) -> Option<f64> {
    let buckets: Vec<(f64, f64)> = metrics
        .lines()
        .filter_map(|l| l.strip_prefix("vakt_ingest_to_alert_seconds_bucket{le=\""))
        .filter_map(|l| {
            let (le, n) = l.split_once("\"} ")?;
            Some((le.parse().unwrap_or(f64::INFINITY), n.trim().parse().ok()?))
        })
        .collect();
    let total = buckets.last()?.1;
    if total == 0.0 {
        return None;
    }
    buckets
        .iter()
        .find(|(_, n)| *n >= q * total)
        .map(|(le, _)| *le)
}

fn main() {
    let secs: u64 = std::env::var("VAKT_LOAD_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    let clients: usize = std::env::var("VAKT_LOAD_CLIENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let rules = root.join("../shared/data/sigma/rules");
    let bin = env!("CARGO_BIN_EXE_vakt");
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let tok = Command::new(bin)
        .args([
            "token",
            "create",
            "--dir",
            data.to_str().unwrap(),
            "--tenant",
            "ahus",
        ])
        .output()
        .unwrap();
    let tok = String::from_utf8_lossy(&tok.stdout).trim().to_owned();
    let mut child = Command::new(bin)
        .args([
            "serve",
            "--dir",
            data.to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
            "--rules",
        ])
        .arg(&rules)
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let addr = loop {
        if let Ok(l) = std::fs::read_to_string(data.join("listening")) {
            break l.trim().trim_start_matches("http://").to_owned();
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "vakt serve did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    // Documents are numbered on: time moves forward as in a live feed.
    let next = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let acked = Arc::new(AtomicU64::new(0));
    let refused = Arc::new(AtomicU64::new(0));
    let auth = format!("Bearer {tok}");
    let t0 = Instant::now();
    let threads: Vec<_> = (0..clients)
        .map(|_| {
            let (addr, auth, next, stop, acked, refused) = (
                addr.clone(),
                auth.clone(),
                next.clone(),
                stop.clone(),
                acked.clone(),
                refused.clone(),
            );
            std::thread::spawn(move || {
                let mut b = body(next.fetch_add(BATCH, Relaxed));
                while !stop.load(Relaxed) {
                    match post(&addr, &auth, &b) {
                        Some(200) => {
                            acked.fetch_add(BATCH, Relaxed);
                            b = body(next.fetch_add(BATCH, Relaxed));
                        }
                        _ => {
                            refused.fetch_add(1, Relaxed);
                            std::thread::sleep(Duration::from_millis(20));
                        }
                    }
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_secs(secs));
    stop.store(true, Relaxed);
    for t in threads {
        t.join().unwrap();
    }
    let offered = t0.elapsed().as_secs_f64();
    let n = acked.load(Relaxed);
    // Until everything acknowledged is stored and through the detectors.
    loop {
        let m = get(&addr, "/metrics");
        if metric(&m, "vakt_store_queue_batches") == 0.0
            && metric(&m, "vakt_detect_queue_batches") == 0.0
        {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let drained = t0.elapsed().as_secs_f64();
    let m = get(&addr, "/metrics");
    let alerts = metric(&m, "vakt_alerts_total{");
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
    println!(
        "serve_load: {clients} clients, {secs} s: {n} events acknowledged ({:.0} events/s acknowledged; {:.0} events/s stored and detected, {drained:.1} s to drain); {} requests refused (429/503); {alerts} alert statements; ingest-to-alert p50 ≤ {:?} s, p99 ≤ {:?} s",
        n as f64 / offered,
        n as f64 / drained,
        refused.load(Relaxed),
        quantile(&m, 0.5),
        quantile(&m, 0.99),
    );
}
