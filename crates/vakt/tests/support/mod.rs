//! Running `vakt serve` in tests: start it on a free loopback port, make
//! tokens, post to it, stop it (SIGTERM) or kill it (-9), and read what it
//! stored and raised.

#![allow(dead_code)]

pub mod cluster;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A Sigma rule that fires on every process creation running whoami (one
/// alert per event: its key names the event's place).
pub const WHOAMI_RULE: &str = r#"title: Whoami run (test)
id: 5f7e3c1a-0000-4000-8000-00000000beef
status: test
level: medium
logsource:
    category: process_creation
    product: windows
detection:
    selection:
        CommandLine|contains: whoami
    condition: selection
tags:
    - attack.discovery
    - attack.t1033
"#;

/// `vakt` with arguments; (code, stdout, stderr).
pub fn vakt(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_vakt"))
        .args(args)
        .env_remove("VAKT_CONFIG")
        .env("HOME", "/nonexistent")
        .output()
        .expect("vakt runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A token for `tenant` in the data folder.
pub fn token(dir: &Path, tenant: &str) -> String {
    let (code, out, err) = vakt(&[
        "token",
        "create",
        "--dir",
        dir.to_str().unwrap(),
        "--tenant",
        tenant,
    ]);
    assert_eq!(code, 0, "{err}");
    out.trim().to_owned()
}

/// A token of a role bound to no tenant (`admin`, `cert-analyst`, …),
/// made with `vakt token create`.
pub fn role_token(dir: &Path, role: &str) -> String {
    let (code, out, err) = vakt(&[
        "token",
        "create",
        "--dir",
        dir.to_str().unwrap(),
        "--role",
        role,
        "--label",
        role,
    ]);
    assert_eq!(code, 0, "{err}");
    out.trim().to_owned()
}

/// A running service.
pub struct Server {
    pub child: Child,
    pub dir: PathBuf,
    pub addr: String,
}

/// The rules folder with [`WHOAMI_RULE`] under `dir`.
pub fn rules(dir: &Path) -> PathBuf {
    let r = dir.join("rules");
    std::fs::create_dir_all(&r).unwrap();
    std::fs::write(r.join("whoami.yml"), WHOAMI_RULE).unwrap();
    r
}

impl Server {
    /// Starts the service with the [`WHOAMI_RULE`] only (rules under `tmp`),
    /// no behaviour analytics, and `extra` arguments.
    pub fn start_with_rule(dir: &Path, tmp: &Path, extra: &[&str]) -> Server {
        let r = rules(tmp);
        let mut args = vec!["--analytics", "none", "--rules", r.to_str().unwrap()];
        args.extend_from_slice(extra);
        Server::start(dir, &args)
    }

    /// Starts `vakt serve --dir DIR --listen 127.0.0.1:0 EXTRA…` and waits
    /// until it listens.
    pub fn start(dir: &Path, extra: &[&str]) -> Server {
        Server::start_at(dir, "127.0.0.1:0", extra)
    }

    /// As [`Server::start`], listening on `listen`.
    pub fn start_at(dir: &Path, listen: &str, extra: &[&str]) -> Server {
        let _ = std::fs::remove_file(dir.join("listening"));
        std::fs::create_dir_all(dir).unwrap();
        let logf = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join("serve.log"))
            .unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_vakt"))
            .args(["serve", "--dir", dir.to_str().unwrap()])
            .args(["--listen", listen])
            .args(extra)
            .env_remove("VAKT_CONFIG")
            .env("HOME", "/nonexistent")
            .stdout(Stdio::null())
            .stderr(logf)
            .spawn()
            .expect("vakt serve starts");
        let started = Instant::now();
        let mut s = Server {
            child,
            dir: dir.to_owned(),
            addr: String::new(),
        };
        loop {
            if let Ok(l) = std::fs::read_to_string(dir.join("listening"))
                && let Some(a) = l
                    .lines()
                    .next()
                    .unwrap_or("")
                    .trim()
                    .strip_prefix("http://")
                    .or_else(|| l.trim().strip_prefix("https://"))
            {
                s.addr = a.to_owned();
                return s;
            }
            if let Ok(Some(st)) = s.child.try_wait() {
                panic!("vakt serve exited ({st}): {}", s.stderr());
            }
            assert!(
                started.elapsed() < Duration::from_secs(120),
                "vakt serve did not start: {}",
                s.stderr()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// What the service said on standard error.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(self.dir.join("serve.log")).unwrap_or_default()
    }

    /// Where the syslog listener of `protocol` (tcp, udp, tls, relp) listens.
    pub fn syslog(&self, protocol: &str) -> String {
        let l = std::fs::read_to_string(self.dir.join("listening")).unwrap_or_default();
        let prefix = format!("{protocol}://");
        l.lines()
            .find_map(|x| x.strip_prefix(&prefix))
            .unwrap_or_else(|| panic!("no {protocol} listener in {l}"))
            .to_owned()
    }

    /// `http://addr`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// SIGTERM, then waits for a clean exit.
    pub fn stop(mut self) {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let started = Instant::now();
        loop {
            if let Ok(Some(st)) = self.child.try_wait() {
                assert!(
                    st.success(),
                    "vakt serve stopped with {st}: {}",
                    self.stderr()
                );
                return;
            }
            assert!(
                started.elapsed() < Duration::from_secs(120),
                "vakt serve did not stop: {}",
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// kill -9.
    pub fn kill9(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Resident memory of the service (kB), from /proc.
    pub fn rss_kb(&self) -> u64 {
        let s = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        s.lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap_or(0)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A plain HTTP/1.1 request on loopback; (status, body). `None` when the
/// connection failed or was cut (the service was killed).
pub fn request(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Option<(u16, String)> {
    request_full(addr, method, path, headers, body).map(|(s, _, b)| (s, b))
}

/// As [`request`], with the response's head (status line and headers).
pub fn request_full(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Option<(u16, String, String)> {
    let mut s = TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(60))).ok()?;
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes()).ok()?;
    s.write_all(body).ok()?;
    let mut out = Vec::new();
    s.read_to_end(&mut out).ok()?;
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text.split_whitespace().nth(1)?.parse().ok()?;
    let (head, body) = text.split_once("\r\n\r\n")?;
    Some((status, head.to_ascii_lowercase(), body.to_owned()))
}

/// `Authorization: Bearer` for a token.
pub fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

/// A Winlogbeat document of a process creation running whoami, numbered.
pub fn winlogbeat_doc(n: u64, host: &str) -> String {
    format!(
        r#"{{"@timestamp":"2024-03-01T{:02}:{:02}:{:02}Z","winlog":{{"channel":"Security","event_id":4688,"computer_name":"{host}","record_id":{n},"event_data":{{"NewProcessName":"C:\\Windows\\System32\\whoami.exe","CommandLine":"whoami /groups {n}","SubjectUserName":"bob"}}}}}}"#,
        n / 3600 % 24,
        n / 60 % 60,
        n % 60
    )
}

/// A `_bulk` body of the documents `from..to`.
pub fn bulk_body(from: u64, to: u64, host: &str) -> String {
    let mut b = String::new();
    for n in from..to {
        b.push_str("{\"index\":{\"_index\":\"winlogbeat-8\"}}\n");
        b.push_str(&winlogbeat_doc(n, host));
        b.push('\n');
    }
    b
}

/// Stored events per tenant (`vakt store stats`).
pub fn stored(dir: &Path) -> serde_json::Value {
    let (code, out, err) = vakt(&[
        "store",
        "stats",
        dir.join("store").to_str().unwrap(),
        "--format",
        "json",
    ]);
    assert_eq!(code, 0, "{err}");
    serde_json::from_str(&out).unwrap()
}

/// Every stored event's record number (`EventRecordID`), with how often it is stored.
pub fn stored_records(dir: &Path) -> std::collections::BTreeMap<u64, u32> {
    let (store, _) = vakt_store::Store::open(&dir.join("store")).unwrap();
    let q = vakt_store::EventQuery::default();
    let mut seen = std::collections::BTreeMap::new();
    for seg in store.event_segments(&q) {
        vakt_store::read_segment(&seg, &q, &mut |e| {
            if let Some(v) = e.get_named("EventRecordID") {
                let n: u64 = vakt_detect::entities::text(v).parse().unwrap_or(u64::MAX);
                *seen.entry(n).or_insert(0) += 1;
            }
        })
        .unwrap();
    }
    seen
}

/// Every stored event's value of `field` (as text), with how often it is
/// stored, and the tenant of each.
pub fn stored_values(dir: &Path, field: &str) -> std::collections::BTreeMap<String, (u32, String)> {
    let (store, _) = vakt_store::Store::open(&dir.join("store")).unwrap();
    let q = vakt_store::EventQuery::default();
    let mut seen = std::collections::BTreeMap::new();
    for seg in store.event_segments(&q) {
        vakt_store::read_segment(&seg, &q, &mut |e| {
            if let Some(v) = e.get_named(field) {
                let n = vakt_detect::entities::text(v).to_string();
                let entry = seen.entry(n).or_insert((0, e.tenant.to_string()));
                entry.0 += 1;
            }
        })
        .unwrap();
    }
    seen
}

/// Rounds of a kill -9 test: `VAKT_CRASH_ROUNDS`, 3 by default (CI's short round).
pub fn rounds() -> usize {
    std::env::var("VAKT_CRASH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3)
}

/// A pseudo-random number below `max_ms` from the clock (the kill moments
/// differ per run).
pub fn jitter(max_ms: u64) -> u64 {
    let n = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos() as u64;
    (n.wrapping_mul(6_364_136_223_846_793_005) >> 33) % max_ms.max(1)
}

/// The sum of the metric lines starting with `prefix` in a `/metrics` text.
pub fn metric_sum(metrics: &str, prefix: &str) -> u64 {
    metrics
        .lines()
        .filter(|l| l.starts_with(prefix))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

/// The service's `/metrics` text (empty if it does not answer).
pub fn metrics(addr: &str) -> String {
    request(addr, "GET", "/metrics", &[], b"")
        .map(|x| x.1)
        .unwrap_or_default()
}

/// A free port on loopback (for a listener that must keep its port across restarts).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A self-signed certificate and key for `localhost` and 127.0.0.1 (openssl).
pub fn self_signed(dir: &Path) -> (PathBuf, PathBuf) {
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let made = Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
        ])
        .args(["-subj", "/CN=localhost"])
        .args([
            "-addext",
            "subjectAltName=IP:127.0.0.1,DNS:localhost",
            "-keyout",
        ])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl runs");
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    (cert, key)
}

/// Debian's rsyslogd with `conf`, its messages in `dir/rsyslog.err`.
pub fn rsyslogd(dir: &Path, conf: &str) -> Child {
    let rsyslogd = Path::new("/usr/sbin/rsyslogd");
    assert!(
        rsyslogd.exists(),
        "rsyslog is not installed: run scripts/test, which installs it"
    );
    let path = dir.join("rsyslog.conf");
    std::fs::write(&path, conf).unwrap();
    Command::new(rsyslogd)
        .args(["-n", "-i"])
        .arg(dir.join("rsyslog.pid"))
        .arg("-f")
        .arg(&path)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join("rsyslog.err")).unwrap())
        .spawn()
        .expect("rsyslogd starts")
}

/// The alerts the service keeps.
pub fn alerts(dir: &Path) -> Vec<vakt_core::Alert> {
    let c = vakt_server::db::open(&dir.join("vakt.db")).unwrap();
    vakt_server::db::alerts(&c).unwrap()
}

/// How many statements of each alert key the service kept (rows are keys).
pub fn alert_rows(dir: &Path) -> usize {
    alerts(dir).len()
}

/// Every file under `dir`, in path order.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(files_under(&p));
        } else {
            out.push(p);
        }
    }
    out.sort();
    out
}

/// The Python of the test peers (a venv scripts/test makes: the
/// Elasticsearch client, schemathesis, openapi-spec-validator, requests).
pub fn python() -> PathBuf {
    let p = std::env::var_os("VAKT_TEST_PYTHON").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/peers/bin/python"),
        PathBuf::from,
    );
    assert!(
        p.exists(),
        "the test peers are not installed ({}): run scripts/test, which installs them",
        p.display()
    );
    p
}

/// The Node.js modules of the test peers (scripts/test installs
/// oidc-provider, playwright-core and axe-core there).
pub fn node_modules() -> PathBuf {
    let p = std::env::var_os("VAKT_TEST_NODE_MODULES").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/peers/node/node_modules"),
        PathBuf::from,
    );
    assert!(
        p.join("oidc-provider").exists(),
        "the OpenID provider is not installed ({}): run scripts/test, which installs it",
        p.display()
    );
    p
}

/// The incidents a demo case folder holds (`incidents.json`).
pub fn demo_incidents(case: &Path) -> Vec<serde_json::Value> {
    let file: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(case.join("incidents.json")).unwrap())
            .unwrap();
    file.as_array()
        .or_else(|| file["incidents"].as_array())
        .unwrap()
        .clone()
}

/// The alerts a demo case folder holds (`alerts.jsonl`).
pub fn demo_alerts(case: &Path) -> Vec<vakt_core::Alert> {
    std::fs::read_to_string(case.join("alerts.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// What `vakt demo` found, found again: the most severe of `incidents` is
/// critical, has every stage of the demo's attack incident (in
/// `case/incidents.json`), and holds every Sigma, indicator and EHR alert of
/// it (`kept`: the alerts the incidents name). The network analytics judge a
/// stream by what they have seen so far, so their findings may differ in
/// detail from a batch's. Returns how many alerts were compared.
pub fn has_the_demos_incident(
    case: &Path,
    incidents: &[vakt_incident::Incident],
    kept: &[vakt_core::Alert],
) -> usize {
    use std::collections::BTreeSet;
    let demo_top = demo_incidents(case).first().unwrap().clone();
    assert_eq!(demo_top["severity"], "critical", "{demo_top}");
    let top = incidents
        .iter()
        .max_by_key(|i| (i.severity, i.alerts.len()))
        .unwrap();
    assert_eq!(top.severity, vakt_core::Severity::Critical);
    let stages: BTreeSet<String> = top.stages.iter().map(|s| s.stage.clone()).collect();
    for st in demo_top["stages"].as_array().unwrap() {
        let st = st["stage"].as_str().unwrap();
        assert!(stages.contains(st), "{st} missing: {stages:?}");
    }
    let in_top: BTreeSet<(String, String, i64)> = kept
        .iter()
        .filter(|a| top.alerts.iter().any(|k| *k == a.key.to_string()))
        .map(|a| (a.detector.clone(), a.title.clone(), a.first.0))
        .collect();
    let demo_alerts = demo_alerts(case);
    let demo_keys: BTreeSet<String> = demo_top["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|k| k.as_str().map(str::to_owned))
        .collect();
    let mut compared = 0;
    for a in demo_alerts
        .iter()
        .filter(|a| demo_keys.contains(&a.key.to_string()))
    {
        if a.detector == "sigma" || a.detector == "intel" || a.detector.starts_with("ehr-") {
            let k = (a.detector.clone(), a.title.clone(), a.first.0);
            if !in_top.contains(&k) {
                let ours: Vec<String> = kept
                    .iter()
                    .filter(|b| b.detector == a.detector)
                    .map(|b| {
                        let inc = incidents
                            .iter()
                            .find(|i| i.alerts.iter().any(|x| *x == b.key.to_string()))
                            .map_or("no incident".to_owned(), |i| {
                                format!("{} {}", i.id, i.severity.name())
                            });
                        format!("{} {} ({inc})", b.first.0, b.title)
                    })
                    .collect();
                let tops: Vec<String> = incidents
                    .iter()
                    .map(|i| {
                        format!(
                            "{} {} {} alerts: {}",
                            i.id,
                            i.severity.name(),
                            i.alerts.len(),
                            i.title
                        )
                    })
                    .collect();
                panic!(
                    "the demo's {k:?} is not in the incident {}\nours of that detector:\n{}\nincidents:\n{}",
                    top.id,
                    ours.join("\n"),
                    tops.join("\n")
                );
            }
            compared += 1;
        }
    }
    compared
}
