//! Throughput of each way in that `vakt serve` gained besides HTTP: syslog
//! over TCP (octet-counted), TLS, UDP and RELP, and a watched folder of Zeek
//! logs — one after the other, against the release binary on loopback with
//! every detector on (the SigmaHQ rules of ../shared/data, the network and
//! EHR analytics).
//!
//! Messages are RFC 5424 lines of about 200 bytes, every tenth a Winlogbeat
//! JSON payload (a Windows process creation). Each listener is fed by one
//! connection for VAKT_LOAD_SECS (default 10) as fast as it takes them; the
//! figure is events acknowledged (in the write-ahead log) per second. UDP
//! is offered as fast as the client can send; received, dropped and stored
//! are printed.
//!
//! `cargo bench -p vakt --bench syslog_load`. The client runs on the same
//! 2 cores.

mod common;

use common::{get, metric};
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpStream, UdpSocket};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::pem::PemObject;

/// Message `n`.
fn message(n: u64) -> Vec<u8> {
    let secs = n / 1000;
    let ts = format!(
        "2026-12-01T{:02}:{:02}:{:02}.{:03}Z",
        secs / 3600 % 24,
        secs / 60 % 60,
        secs % 60,
        n % 1000
    );
    if n.is_multiple_of(10) {
        format!(
            "<14>1 {ts} ws{}.ahus.example winlogbeat - - - {{\"@timestamp\":\"{ts}\",\"winlog\":{{\"channel\":\"Security\",\"event_id\":4688,\"computer_name\":\"ws{}.ahus.example\",\"record_id\":{n},\"event_data\":{{\"NewProcessName\":\"C:\\\\Windows\\\\System32\\\\svchost.exe\",\"CommandLine\":\"svchost.exe -k netsvcs\",\"SubjectUserName\":\"user{}\"}}}}}}",
            n % 500,
            n % 500,
            n % 300
        )
        .into_bytes()
    } else {
        format!(
            "<86>1 {ts} srv{}.ahus.example sshd {} - [origin ip=\"10.1.{}.{}\"] Accepted publickey for user{} from 10.2.{}.{} port {} ssh2",
            n % 50,
            1000 + n % 30000,
            n % 200,
            n % 250,
            n % 300,
            n % 200,
            n % 250,
            40000 + n % 20000
        )
        .into_bytes()
    }
}

fn frames(from: u64, count: u64) -> Vec<u8> {
    let mut b = Vec::with_capacity(count as usize * 240);
    for n in from..from + count {
        let m = message(n);
        b.extend_from_slice(m.len().to_string().as_bytes());
        b.push(b' ');
        b.extend_from_slice(&m);
    }
    b
}

/// Waits until everything taken is stored and through the detectors.
fn drain(http: &str) {
    loop {
        let m = get(http, "/metrics");
        if metric(&m, "vakt_store_queue_batches") == 0.0
            && metric(&m, "vakt_detect_queue_batches") == 0.0
            && metric(&m, "vakt_inflight_bytes") == 0.0
        {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn accepted(http: &str) -> f64 {
    metric(&get(http, "/metrics"), "vakt_events_accepted_total{")
}

/// Feeds a stream for `secs`; returns messages written.
fn stream(w: &mut dyn Write, secs: u64, next: &mut u64) -> u64 {
    let t0 = Instant::now();
    let mut sent = 0;
    while t0.elapsed() < Duration::from_secs(secs) {
        let b = frames(*next, 500);
        if let Err(e) = w.write_all(&b) {
            eprintln!("syslog_load: the stream broke: {e}");
            break;
        }
        *next += 500;
        sent += 500;
    }
    let _ = w.flush();
    sent
}

fn report(what: &str, http: &str, before: f64, t0: Instant) {
    // Acknowledged: in the log, as the senders are told (RELP) or not (TCP, TLS).
    let mut last = accepted(http);
    loop {
        std::thread::sleep(Duration::from_millis(1000));
        let now = accepted(http);
        if now == last {
            break;
        }
        last = now;
    }
    let secs = t0.elapsed().as_secs_f64() - 1.0;
    let n = last - before;
    drain(http);
    let all = t0.elapsed().as_secs_f64();
    println!(
        "syslog_load {what}: {n} events in {secs:.1} s: {:.0} events/s acknowledged; {:.0} events/s stored and detected",
        n / secs,
        n / all
    );
}

fn main() {
    let secs: u64 = std::env::var("VAKT_LOAD_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10);
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let rules = root.join("../shared/data/sigma/rules");
    let bin = env!("CARGO_BIN_EXE_vakt");
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    let made = Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
        ])
        .args([
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost",
            "-addext",
            "basicConstraints=critical,CA:FALSE",
            "-keyout",
        ])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .unwrap();
    assert!(made.status.success());
    let zeek = dir.path().join("zeek");
    std::fs::create_dir_all(&zeek).unwrap();
    let config = dir.path().join("serve.yml");
    std::fs::write(
        &config,
        format!(
            "syslog:\n  - {{protocol: tcp, listen: 127.0.0.1:0, tenant: ahus}}\n  - {{protocol: tls, listen: 127.0.0.1:0, tenant: ahus, tls_cert: {c}, tls_key: {k}}}\n  - {{protocol: udp, listen: 127.0.0.1:0, tenant: ahus}}\n  - {{protocol: relp, listen: 127.0.0.1:0, tenant: ahus}}\nwatch:\n  - {{dir: {z}, tenant: ahus, format: zeek}}\n",
            c = cert.display(),
            k = key.display(),
            z = zeek.display()
        ),
    )
    .unwrap();
    let mut child = Command::new(bin)
        .args([
            "serve",
            "--dir",
            data.to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
        ])
        .arg("--config")
        .arg(&config)
        .arg("--rules")
        .arg(&rules)
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let listening = loop {
        if let Ok(l) = std::fs::read_to_string(data.join("listening"))
            && l.lines().count() >= 5
        {
            break l;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "vakt serve did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let at = |p: &str| {
        listening
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{p}://")))
            .unwrap()
            .to_owned()
    };
    let http = at("http");
    let mut next = 0u64;

    // TCP, octet-counted.
    let before = accepted(&http);
    let t0 = Instant::now();
    let mut tcp = TcpStream::connect(at("tcp")).unwrap();
    stream(&mut tcp, secs, &mut next);
    drop(tcp);
    report("tcp", &http, before, t0);

    // TLS.
    let mut roots = rustls::RootCertStore::empty();
    for c in rustls::pki_types::CertificateDer::pem_file_iter(&cert).unwrap() {
        roots.add(c.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let cfg = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let conn =
        rustls::ClientConnection::new(Arc::new(cfg), "localhost".try_into().unwrap()).unwrap();
    let mut tls = rustls::StreamOwned::new(conn, TcpStream::connect(at("tls")).unwrap());
    let before = accepted(&http);
    let t0 = Instant::now();
    stream(&mut tls, secs, &mut next);
    tls.conn.send_close_notify();
    let _ = tls.flush();
    drop(tls);
    report("tls", &http, before, t0);

    // RELP: a window of 128 unanswered messages, as librelp keeps.
    let before = accepted(&http);
    let t0 = Instant::now();
    let relp = TcpStream::connect(at("relp")).unwrap();
    let mut w = relp.try_clone().unwrap();
    let mut r = BufReader::new(relp);
    let offer = "relp_version=0\nrelp_software=syslog_load\ncommands=syslog";
    w.write_all(format!("1 open {} {offer}\n", offer.len()).as_bytes())
        .unwrap();
    let mut line = String::new();
    // The open answer: a header line and its offers.
    r.read_line(&mut line).unwrap();
    for _ in 0..3 {
        line.clear();
        r.read_line(&mut line).unwrap();
    }
    let (mut txnr, mut unanswered, mut acked) = (1u64, 0u64, 0u64);
    let mut buf = Vec::new();
    while t0.elapsed() < Duration::from_secs(secs) {
        buf.clear();
        while unanswered < 128 {
            txnr += 1;
            let m = message(next);
            next += 1;
            buf.extend_from_slice(format!("{txnr} syslog {} ", m.len()).as_bytes());
            buf.extend_from_slice(&m);
            buf.push(b'\n');
            unanswered += 1;
        }
        w.write_all(&buf).unwrap();
        // Half the window answered before the next is sent.
        while unanswered > 64 {
            line.clear();
            r.read_line(&mut line).unwrap();
            assert!(line.contains(" rsp 6 200 OK"), "{line}");
            unanswered -= 1;
            acked += 1;
        }
    }
    while unanswered > 0 {
        line.clear();
        r.read_line(&mut line).unwrap();
        unanswered -= 1;
        acked += 1;
    }
    let relp_secs = t0.elapsed().as_secs_f64();
    w.write_all(format!("{} close 0\n", txnr + 1).as_bytes())
        .unwrap();
    println!(
        "syslog_load relp: {acked} messages answered 200 OK in {relp_secs:.1} s: {:.0} messages/s acknowledged",
        acked as f64 / relp_secs
    );
    report("relp", &http, before, t0);

    // UDP, offered as fast as one client sends.
    let m0 = get(&http, "/metrics");
    let before = metric(&m0, "vakt_events_accepted_total{");
    let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    let to = at("udp");
    let t0 = Instant::now();
    let mut offered = 0u64;
    while t0.elapsed() < Duration::from_secs(secs) {
        for _ in 0..100 {
            let _ = udp.send_to(&message(next), &to);
            next += 1;
            offered += 1;
        }
    }
    let offered_secs = t0.elapsed().as_secs_f64();
    std::thread::sleep(Duration::from_millis(500));
    let m = get(&http, "/metrics");
    let received = metric(&m, "vakt_syslog_received_total{listener=\"udp")
        - metric(&m0, "vakt_syslog_received_total{listener=\"udp");
    let dropped = metric(&m, "vakt_syslog_dropped_total{listener=\"udp")
        - metric(&m0, "vakt_syslog_dropped_total{listener=\"udp");
    println!(
        "syslog_load udp: {offered} datagrams offered ({:.0}/s); {received} received, {dropped} dropped by vakt (no room), {} lost before vakt read them (kernel buffer)",
        offered as f64 / offered_secs,
        offered as f64 - received
    );
    report("udp", &http, before, t0);

    // A watched folder: 500,000 Zeek conn JSON lines appended to a live file.
    let before = accepted(&http);
    let t0 = Instant::now();
    let mut f = std::fs::File::create(zeek.join("conn.log")).unwrap();
    let mut lines = 0u64;
    while lines < 500_000 {
        let mut b = String::with_capacity(500 * 300);
        for _ in 0..500 {
            let n = next;
            next += 1;
            lines += 1;
            let ts = 1_764_568_800.0 + n as f64 * 0.001;
            b.push_str(&format!(
                "{{\"ts\":{ts:.3},\"uid\":\"C{n}\",\"id.orig_h\":\"10.{}.{}.{}\",\"id.orig_p\":{},\"id.resp_h\":\"198.51.{}.{}\",\"id.resp_p\":443,\"proto\":\"tcp\",\"service\":\"ssl\",\"duration\":0.5,\"orig_bytes\":1200,\"resp_bytes\":5400,\"conn_state\":\"SF\",\"_path\":\"conn\"}}\n",
                n / 65536 % 256,
                n / 256 % 256,
                n % 256,
                40_000 + n % 20_000,
                n % 200,
                1 + n % 250
            ));
        }
        f.write_all(b.as_bytes()).unwrap();
    }
    drop(f);
    println!(
        "syslog_load watch: {lines} Zeek lines written in {:.1} s",
        t0.elapsed().as_secs_f64()
    );
    report("watch (zeek conn.log)", &http, before, t0);

    // Debian's rsyslog as the sender (if installed): a file of 200,000
    // messages read by imfile and forwarded by omrelp, then by omfwd (TCP).
    if Path::new("/usr/sbin/rsyslogd").exists() {
        let input = dir.path().join("rsyslog-input.log");
        let mut text = String::with_capacity(200_000 * 200);
        for n in next..next + 200_000 {
            text.push_str(&format!(
                "Accepted publickey for user{} from 10.2.{}.{} port {} ssh2 #{n}\n",
                n % 300,
                n % 200,
                n % 250,
                40000 + n % 20000
            ));
        }
        std::fs::write(&input, text).unwrap();
        for (what, action) in [
            (
                "rsyslog omrelp",
                format!(
                    "action(type=\"omrelp\" target=\"127.0.0.1\" port=\"{}\")",
                    port_of(&at("relp"))
                ),
            ),
            (
                "rsyslog omfwd tcp",
                format!(
                    "action(type=\"omfwd\" target=\"127.0.0.1\" port=\"{}\" protocol=\"tcp\" TCP_Framing=\"octet-counted\")",
                    port_of(&at("tcp"))
                ),
            ),
        ] {
            let work = dir.path().join(format!("rsyslog-{}", what.len()));
            std::fs::create_dir_all(&work).unwrap();
            let conf = work.join("rsyslog.conf");
            std::fs::write(
                &conf,
                format!(
                    "global(workDirectory=\"{}\")\nmodule(load=\"imfile\")\nmodule(load=\"omrelp\")\ninput(type=\"imfile\" File=\"{}\" Tag=\"sshd:\" ruleset=\"ship\")\nruleset(name=\"ship\") {{\n  {action}\n}}\n",
                    work.display(),
                    input.display()
                ),
            )
            .unwrap();
            drain(&http);
            let before = accepted(&http);
            let t0 = Instant::now();
            let mut rs = Command::new("/usr/sbin/rsyslogd")
                .args(["-n", "-i"])
                .arg(work.join("pid"))
                .arg("-f")
                .arg(&conf)
                .stderr(Stdio::null())
                .spawn()
                .unwrap();
            while accepted(&http) - before < 200_000.0 && t0.elapsed() < Duration::from_secs(300) {
                std::thread::sleep(Duration::from_millis(50));
            }
            let took = t0.elapsed().as_secs_f64();
            let _ = rs.kill();
            let _ = rs.wait();
            println!(
                "syslog_load {what}: {} messages in {took:.1} s (rsyslog starting and reading its file included): {:.0} events/s acknowledged",
                accepted(&http) - before,
                (accepted(&http) - before) / took
            );
        }
    }

    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
}

fn port_of(addr: &str) -> &str {
    addr.rsplit(':').next().unwrap_or(addr)
}
