//! More ways into `vakt serve`: Debian's rsyslog forwarding over TCP, TLS
//! and RELP (omfwd, omfwd with gtls, omrelp), syslog limits and quarantine,
//! kill -9 during a RELP stream, and folders of Zeek and Suricata logs
//! followed through rotation and compression while the service is killed
//! and restarted.
//!
//! `scripts/test` installs rsyslog, rsyslog-relp and rsyslog-gnutls. CI runs
//! a short round of the kill tests (`VAKT_CRASH_ROUNDS`, default 3);
//! `scripts/syslog-crash` runs 10 and more.

mod support;

use std::io::Write;
use std::net::{TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use support::*;

fn rsyslog_module(name: &str) {
    let found = std::fs::read_dir("/usr/lib")
        .into_iter()
        .flatten()
        .flatten()
        .any(|e| e.path().join(format!("rsyslog/{name}.so")).exists());
    assert!(
        found,
        "rsyslog's {name} is not installed: run scripts/test, which installs rsyslog, rsyslog-relp and rsyslog-gnutls"
    );
}

fn wait_for(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(started.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(300));
    }
}

fn tenant_count(dir: &Path, tenant: &str) -> u64 {
    let (store, _) = vakt_store::Store::open(&dir.join("store")).unwrap();
    let q = vakt_store::EventQuery::default();
    let mut n = 0;
    for seg in store.event_segments(&q) {
        vakt_store::read_segment(&seg, &q, &mut |e| {
            if &*e.tenant == tenant {
                n += 1;
            }
        })
        .unwrap();
    }
    n
}

/// Debian's rsyslog forwards a file of Winlogbeat JSON lines three ways at
/// once — omfwd over TCP (octet-counted, RFC 5424), omfwd over TLS (gtls,
/// the certificate checked by name; traditional format, LF-framed) and
/// omrelp with a structured-data element — and each lands in its tenant,
/// read by content as Windows events (the whoami rule alerts on each).
#[test]
fn rsyslog_forwards_over_tcp_tls_and_relp_to_the_right_tenants() {
    rsyslog_module("omrelp");
    rsyslog_module("lmnsd_gtls");
    let d = tempfile::tempdir().unwrap();
    let (cert, key) = self_signed(d.path());
    let dir = d.path().join("data");
    let config = d.path().join("serve.yml");
    std::fs::write(
        &config,
        format!(
            r#"syslog:
  - protocol: tcp
    listen: 127.0.0.1:0
    tenant: ahus
  - protocol: tls
    listen: 127.0.0.1:0
    tenant: ous
    tls_cert: {cert}
    tls_key: {key}
  - protocol: relp
    listen: 127.0.0.1:0
    tenant: si
    rules:
      - tenant: nowhere
        network: 10.0.0.0/8
      - tenant: vestre-viken
        sd_id: vakt@32473
        sd_param: trust
        sd_value: vv
"#,
            cert = cert.display(),
            key = key.display()
        ),
    )
    .unwrap();
    let s = Server::start_with_rule(&dir, d.path(), &["--config", config.to_str().unwrap()]);
    let port = |p: &str| s.syslog(p).rsplit(':').next().unwrap().to_owned();
    let work = d.path().join("rsyslog");
    std::fs::create_dir_all(&work).unwrap();
    let input = d.path().join("winlog.json");
    const N: u64 = 100;
    let lines: String = (0..N).map(|n| winlogbeat_doc(n, "ws-rs") + "\n").collect();
    std::fs::write(&input, lines).unwrap();
    let mut rs = rsyslogd(
        d.path(),
        &format!(
            r#"global(workDirectory="{work}" DefaultNetstreamDriverCAFile="{cert}")
module(load="imfile")
module(load="omrelp")
template(name="sd" type="string" string="<%PRI%>1 %TIMESTAMP:::date-rfc3339% %HOSTNAME% %APP-NAME% - - [vakt@32473 trust=\"vv\"] %msg%")
input(type="imfile" File="{input}" Tag="winlog:" ruleset="ship")
ruleset(name="ship") {{
  action(type="omfwd" target="127.0.0.1" port="{tcp}" protocol="tcp" TCP_Framing="octet-counted"
         template="RSYSLOG_SyslogProtocol23Format" action.resumeRetryCount="-1")
  action(type="omfwd" target="127.0.0.1" port="{tls}" protocol="tcp" StreamDriver="gtls"
         StreamDriverMode="1" StreamDriverAuthMode="x509/name" StreamDriverPermittedPeers="localhost"
         action.resumeRetryCount="-1")
  action(type="omrelp" target="127.0.0.1" port="{relp}" template="sd" action.resumeRetryCount="-1")
}}
"#,
            work = work.display(),
            cert = cert.display(),
            input = input.display(),
            tcp = port("tcp"),
            tls = port("tls"),
            relp = port("relp"),
        ),
    );
    let done = || {
        ["ahus", "ous", "vestre-viken"]
            .iter()
            .all(|t| tenant_count(&dir, t) >= N)
    };
    let started = Instant::now();
    while !done() && started.elapsed() < Duration::from_secs(90) {
        std::thread::sleep(Duration::from_millis(300));
    }
    let _ = rs.kill();
    let _ = rs.wait();
    let said = std::fs::read_to_string(d.path().join("rsyslog.err")).unwrap_or_default();
    s.stop();
    let st = stored(&dir);
    for t in ["ahus", "ous", "vestre-viken"] {
        assert_eq!(st["by_tenant"][t], N, "{t}: {st}\nrsyslog said: {said}");
    }
    assert!(st["by_tenant"].get("si").is_none(), "{st}");
    assert!(st["by_tenant"].get("nowhere").is_none(), "{st}");
    assert_eq!(st["by_source"]["evtx:Security"], 3 * N, "{st}");
    // Every record, once per way in, each in its own tenant.
    let ids = stored_values(&dir, "EventRecordID");
    assert_eq!(ids.len() as u64, N);
    assert!(ids.values().all(|(n, _)| *n == 3), "{ids:?}");
    // The syslog header is kept beside the Windows fields.
    let apps = stored_values(&dir, "syslog.app_name");
    assert_eq!(
        apps.get("winlog").map(|x| x.0),
        Some(3 * N as u32),
        "{apps:?}"
    );
    let whoami = alerts(&dir)
        .iter()
        .filter(|a| a.title.contains("Whoami"))
        .count();
    assert_eq!(whoami as u64, 3 * N);
}

/// Plain syslog over TCP and UDP: framing either way, structured data kept,
/// limits and malformed messages quarantined and counted while the rest is
/// taken, a rules-only listener refusing what it cannot place.
#[test]
fn syslog_limits_malformed_and_placement() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().join("data");
    let config = d.path().join("serve.yml");
    std::fs::write(
        &config,
        r#"max_message_bytes: 2000
syslog:
  - protocol: tcp
    listen: 127.0.0.1:0
    rules:
      - tenant: ahus
        sd_id: origin
        sd_param: ip
  - protocol: udp
    listen: 127.0.0.1:0
    tenant: ous
"#,
    )
    .unwrap();
    let s = Server::start_with_rule(&dir, d.path(), &["--config", config.to_str().unwrap()]);
    let mut tcp = TcpStream::connect(s.syslog("tcp")).unwrap();
    let good = r#"<13>1 2026-12-01T06:00:00Z h1 app 7 ID1 [origin ip="10.1.2.3"] first"#;
    let mut out = format!("{} {good}", good.len());
    out.push_str("<999>1 - - - - - - bad pri\n");
    out.push_str("<14>Dec  1 06:00:01 h2 sshd[5]: no tenant rule places me\n");
    out.push_str(&format!(
        "<13>1 - h3 a - - [origin ip=\"10.1.2.4\"] {}\n",
        "x".repeat(5000)
    ));
    out.push_str("<13>1 2026-12-01T06:00:02Z h4 app - - [origin ip=\"10.9.9.9\"] last\n");
    tcp.write_all(out.as_bytes()).unwrap();
    drop(tcp);
    let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    for i in 0..20 {
        udp.send_to(
            format!("<134>Dec  1 06:00:{i:02} fw01 filterlog: packet {i}").as_bytes(),
            s.syslog("udp"),
        )
        .unwrap();
    }
    let url = s.addr.clone();
    wait_for("the messages", Duration::from_secs(30), || {
        let m = request(&url, "GET", "/metrics", &[], b"").unwrap().1;
        m.contains("vakt_events_accepted_total{tenant=\"ahus\"} 2")
            && m.contains("vakt_events_accepted_total{tenant=\"ous\"} 20")
    });
    let m = request(&url, "GET", "/metrics", &[], b"").unwrap().1;
    // Bad PRI, unplaced and too long: three rejected, counted.
    let rejected = metric_sum(&m, "vakt_records_rejected_total{");
    assert_eq!(rejected, 3, "{m}");
    assert!(
        m.contains("vakt_syslog_received_total{listener=\"udp"),
        "{m}"
    );
    s.stop();
    let q = std::fs::read_to_string(dir.join("quarantine").join("index.jsonl")).unwrap();
    assert!(q.contains("PRI 999 is over 191"), "{q}");
    assert!(q.contains("no rule of the listener"), "{q}");
    assert!(q.contains("over the 2000-byte limit"), "{q}");
    let ips = stored_values(&dir, "origin.ip");
    assert_eq!(ips.get("10.1.2.3").map(|x| x.1.as_str()), Some("ahus"));
    assert!(ips.contains_key("10.9.9.9"));
    let hosts = stored_values(&dir, "hostname");
    assert_eq!(hosts.get("fw01").map(|x| x.0), Some(20));
    let msgids = stored_values(&dir, "msgid");
    assert_eq!(msgids.get("ID1").map(|x| x.0), Some(1));
}

/// A numbered Winlogbeat line for the RELP stream.
fn relp_line(n: u64) -> String {
    winlogbeat_doc(n, "ws-relp") + "\n"
}

/// kill -9 of `vakt serve` while rsyslog streams over RELP: after every
/// round the service comes back on the same port, rsyslog resends what was
/// not acknowledged, and every message ends up stored (RELP delivers at
/// least once: a message stored but not yet answered is sent again).
#[test]
fn relp_survives_kill9() {
    rsyslog_module("omrelp");
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().join("data");
    let port = free_port();
    let relp = format!("relp://127.0.0.1:{port}/si");
    let tmp = d.path().to_owned();
    let start = || Server::start_with_rule(&dir, &tmp, &["--syslog", &relp]);
    let mut s = start();
    let work = d.path().join("rsyslog");
    std::fs::create_dir_all(&work).unwrap();
    let input = d.path().join("stream.json");
    std::fs::write(&input, "").unwrap();
    let mut rs = rsyslogd(
        d.path(),
        &format!(
            r#"global(workDirectory="{work}")
module(load="imfile")
module(load="omrelp")
input(type="imfile" File="{input}" Tag="winlog:" ruleset="ship")
ruleset(name="ship") {{
  action(type="omrelp" target="127.0.0.1" port="{port}" action.resumeRetryCount="-1"
         action.resumeInterval="1" timeout="5")
}}
"#,
            work = work.display(),
            input = input.display(),
        ),
    );
    const PER_ROUND: u64 = 3_000;
    let rounds = rounds() as u64;
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&input)
        .unwrap();
    for r in 0..rounds {
        let writer = {
            let input = input.clone();
            std::thread::spawn(move || {
                let mut f = std::fs::OpenOptions::new()
                    .append(true)
                    .open(&input)
                    .unwrap();
                for chunk in (r * PER_ROUND..(r + 1) * PER_ROUND).step_by(100) {
                    let text: String = (chunk..chunk + 100).map(relp_line).collect();
                    f.write_all(text.as_bytes()).unwrap();
                    std::thread::sleep(Duration::from_millis(30));
                }
            })
        };
        // Mostly mid-stream (the writer takes about a second).
        std::thread::sleep(Duration::from_millis(100 + jitter(900)));
        let taken = metric_sum(&metrics(&s.addr), "vakt_events_accepted_total{");
        eprintln!(
            "round {r}: killed with {taken} messages taken since it started, {} sent in all by the end of the round",
            (r + 1) * PER_ROUND
        );
        s.kill9();
        writer.join().unwrap();
        std::thread::sleep(Duration::from_millis(jitter(500)));
        s = start();
    }
    f.flush().unwrap();
    let total = rounds * PER_ROUND;
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(180) {
        std::thread::sleep(Duration::from_millis(500));
        if stored_records(&dir).len() as u64 >= total {
            break;
        }
    }
    let _ = rs.kill();
    let _ = rs.wait();
    s.stop();
    let have = stored_records(&dir);
    let said = std::fs::read_to_string(d.path().join("rsyslog.err")).unwrap_or_default();
    let missing: Vec<u64> = (0..total)
        .filter(|n| !have.contains_key(n))
        .take(20)
        .collect();
    assert!(
        missing.is_empty(),
        "{} of {total} messages missing (first: {missing:?})\nrsyslog said: {said}",
        total - have.len() as u64
    );
    let again: u32 = have.values().map(|n| n - 1).sum();
    eprintln!(
        "RELP kill -9: {rounds} rounds, {total} messages, all stored; {again} stored twice (sent again after a kill, as RELP does)"
    );
}

/// Writes Zeek and Suricata logs like the real sensors: Zeek's live files
/// (conn JSON, dns TSV) in `current/`, moved each "hour" into a dated
/// folder and compressed; Suricata's `eve.json` renamed by logrotate
/// (every other one compressed). Every line has its own id.
struct Sensors {
    zeek: PathBuf,
    eve: PathBuf,
    conn: u64,
    dns: u64,
    flows: u64,
    rotation: u64,
}

impl Sensors {
    fn new(root: &Path) -> Sensors {
        let s = Sensors {
            zeek: root.join("zeek"),
            eve: root.join("suricata"),
            conn: 0,
            dns: 0,
            flows: 0,
            rotation: 0,
        };
        std::fs::create_dir_all(s.zeek.join("current")).unwrap();
        std::fs::create_dir_all(&s.eve).unwrap();
        s
    }

    fn append(path: &Path, text: &str) {
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .unwrap();
        f.write_all(text.as_bytes()).unwrap();
    }

    fn dns_header(&self) -> String {
        format!(
            "#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n#unset_field\t-\n#path\tdns\n#open\t2026-12-01-{:02}-00-00.{}\n#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\tquery\n#types\ttime\tstring\taddr\tport\taddr\tport\tenum\tstring\n",
            self.rotation % 24,
            self.rotation
        )
    }

    /// Writes a burst of lines to every log.
    fn burst(&mut self, n: u64) {
        let cur = self.zeek.join("current");
        let mut conn = String::new();
        let mut dns = String::new();
        let mut eve = String::new();
        for _ in 0..n {
            let t = 1_764_568_800 + self.conn;
            conn.push_str(&format!(
                "{{\"ts\":{t}.5,\"uid\":\"C{}\",\"id.orig_h\":\"10.0.0.1\",\"id.orig_p\":{},\"id.resp_h\":\"10.0.0.2\",\"id.resp_p\":443,\"proto\":\"tcp\"}}\n",
                self.conn,
                1024 + self.conn % 60000
            ));
            self.conn += 1;
            dns.push_str(&format!(
                "{t}.25\tD{}\t10.0.0.1\t5353\t10.0.0.53\t53\tudp\thost{}.example.org\n",
                self.dns, self.dns
            ));
            self.dns += 1;
            eve.push_str(&format!(
                "{{\"timestamp\":\"2026-12-01T06:00:00.000000+0000\",\"flow_id\":{},\"event_type\":\"flow\",\"src_ip\":\"10.0.0.1\",\"dest_ip\":\"10.0.0.2\",\"proto\":\"TCP\"}}\n",
                1_000_000 + self.flows
            ));
            self.flows += 1;
        }
        if !cur.join("dns.log").exists() {
            Self::append(&cur.join("dns.log"), &self.dns_header());
        }
        Self::append(&cur.join("conn.log"), &conn);
        Self::append(&cur.join("dns.log"), &dns);
        Self::append(&self.eve.join("eve.json"), &eve);
    }

    /// Rotates every log.
    fn rotate(&mut self) {
        self.rotation += 1;
        let r = self.rotation;
        let cur = self.zeek.join("current");
        let day = self.zeek.join(format!("2026-12-{:02}", 1 + r / 24));
        std::fs::create_dir_all(&day).unwrap();
        Self::append(&cur.join("dns.log"), "#close\t2026-12-01-07-00-00\n");
        for log in ["conn", "dns"] {
            let to = day.join(format!(
                "{log}.{:02}:00:00-{:02}:00:00.{r}.log",
                r % 24,
                (r + 1) % 24
            ));
            if cur.join(format!("{log}.log")).exists() {
                std::fs::rename(cur.join(format!("{log}.log")), &to).unwrap();
                let st = Command::new("gzip").arg(&to).status().unwrap();
                assert!(st.success());
            }
        }
        let to = self.eve.join(format!("eve.json.{r}"));
        if self.eve.join("eve.json").exists() {
            std::fs::rename(self.eve.join("eve.json"), &to).unwrap();
            if r.is_multiple_of(2) {
                assert!(Command::new("gzip").arg(&to).status().unwrap().success());
            }
        }
    }
}

/// Fails, saying where they came from and what the service said of their
/// files, if any value of `field` is stored more than once.
fn once(dir: &Path, field: &str, seen: &std::collections::BTreeMap<String, (u32, String)>) {
    let twice: Vec<_> = seen.iter().filter(|(_, (n, _))| *n != 1).take(10).collect();
    if twice.is_empty() {
        return;
    }
    let first = twice[0].0.clone();
    let origins: Vec<_> = stored_origins(dir, field)
        .into_iter()
        .filter(|(u, _, _)| *u == first)
        .collect();
    let log = std::fs::read_to_string(dir.join("serve.log")).unwrap_or_default();
    let said: Vec<&str> = log
        .lines()
        .filter(|l| {
            origins.iter().any(|(_, p, _)| {
                let name = p.rsplit('/').next().unwrap_or(p);
                let stem = name.split('.').next().unwrap_or(name);
                l.contains(stem)
            }) || l.contains("listening")
                || l.contains("replayed")
        })
        .collect();
    panic!(
        "stored more than once: {twice:?}; {first} from {origins:?}\n{}",
        said.join("\n")
    );
}

/// Folder tailing under kill -9: a writer appends to and rotates Zeek and
/// EVE logs while `vakt serve --watch` is killed and restarted at random
/// moments; in the end every line is stored exactly once.
#[test]
fn watched_folders_survive_kill9_exactly_once() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().join("data");
    let mut sensors = Sensors::new(d.path());
    let zeek = format!("zeek:ahus:{}", sensors.zeek.display());
    let eve = format!("eve:ous:{}", sensors.eve.display());
    let tmp = d.path().to_owned();
    let start = || Server::start_with_rule(&dir, &tmp, &["--watch", &zeek, "--watch", &eve]);
    let stop = Arc::new(AtomicBool::new(false));
    let written = Arc::new(AtomicU64::new(0));
    let writer = {
        let (stop, written) = (stop.clone(), written.clone());
        std::thread::spawn(move || {
            let mut k = 0u64;
            while !stop.load(Relaxed) {
                sensors.burst(1 + jitter(40));
                k += 1;
                if k.is_multiple_of(40) {
                    sensors.rotate();
                }
                written.store(sensors.conn, Relaxed);
                std::thread::sleep(Duration::from_millis(5));
            }
            sensors.burst(10);
            sensors.rotate();
            sensors.burst(10);
            written.store(sensors.conn, Relaxed);
        })
    };
    let mut s = start();
    for _ in 0..rounds() {
        std::thread::sleep(Duration::from_millis(200 + jitter(1500)));
        s.kill9();
        std::thread::sleep(Duration::from_millis(jitter(700)));
        s = start();
    }
    stop.store(true, Relaxed);
    writer.join().unwrap();
    let total = written.load(Relaxed);
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(120) {
        std::thread::sleep(Duration::from_millis(500));
        if stored_values(&dir, "uid").len() as u64 >= 2 * total
            && stored_values(&dir, "flow_id").len() as u64 >= total
        {
            break;
        }
    }
    s.stop();
    let uids = stored_values(&dir, "uid");
    let flows = stored_values(&dir, "flow_id");
    let missing: Vec<String> = (0..total)
        .flat_map(|n| [format!("C{n}"), format!("D{n}")])
        .filter(|u| !uids.contains_key(u))
        .take(10)
        .collect();
    assert!(missing.is_empty(), "{total} written; missing {missing:?}");
    once(&dir, "uid", &uids);
    assert!(uids.values().all(|(_, t)| t == "ahus"));
    assert_eq!(flows.len() as u64, total);
    once(&dir, "flow_id", &flows);
    assert!(flows.values().all(|(_, t)| t == "ous"));
    eprintln!(
        "folder tailing kill -9: {} rounds, {} Zeek and {} EVE lines, each stored once",
        rounds(),
        2 * total,
        total
    );
}

/// Every stored event's `field` with its origin (path, locator).
fn stored_origins(dir: &Path, field: &str) -> Vec<(String, String, vakt_core::Locator)> {
    let (store, _) = vakt_store::Store::open(&dir.join("store")).unwrap();
    let q = vakt_store::EventQuery::default();
    let mut out = Vec::new();
    for seg in store.event_segments(&q) {
        vakt_store::read_segment(&seg, &q, &mut |e| {
            if let Some(v) = e.get_named(field) {
                out.push((
                    vakt_detect::entities::text(v).to_string(),
                    e.origin.path.to_string(),
                    e.origin.locator,
                ));
            }
        })
        .unwrap();
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// The ways sensors move their logs, each while vakt is stopped: logrotate's
/// `copytruncate` of `eve.json` (lines written before the copy are read from
/// the copy, new ones from the emptied file), zeekctl archiving `conn.log`
/// into a dated folder and compressing it (the lines after the last read
/// are read from the `.gz`), and a Zeek TSV log read on from its middle
/// (the header put back; events keep the file's line numbers).
#[test]
fn watched_folders_follow_copytruncate_gzip_and_tsv_headers() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().join("data");
    let (eve, zeek) = (d.path().join("suricata"), d.path().join("zeek"));
    std::fs::create_dir_all(&eve).unwrap();
    std::fs::create_dir_all(zeek.join("current")).unwrap();
    let flow = |n: u64| {
        format!(
            "{{\"timestamp\":\"2026-12-01T06:00:{n:02}.000000+0000\",\"flow_id\":{n},\"event_type\":\"flow\",\"src_ip\":\"10.0.0.1\",\"dest_ip\":\"10.0.0.2\",\"proto\":\"TCP\"}}\n"
        )
    };
    let conn = |n: u64| {
        format!(
            "{{\"ts\":{}.5,\"uid\":\"C{n}\",\"id.orig_h\":\"10.0.0.1\",\"id.orig_p\":{},\"id.resp_h\":\"10.0.0.2\",\"id.resp_p\":443,\"proto\":\"tcp\"}}\n",
            1_764_568_800 + n,
            2000 + n
        )
    };
    let dns = |n: u64| {
        format!("1764568800.{n}\tD{n}\t10.0.0.1\t5353\t10.0.0.53\t53\tudp\thost{n}.example.org\n")
    };
    let header = "#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n#unset_field\t-\n#path\tdns\n#open\t2026-12-01-06-00-00\n#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\tquery\n#types\ttime\tstring\taddr\tport\taddr\tport\tenum\tstring\n";
    let append = |p: &Path, text: String| {
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(p)
            .unwrap();
        f.write_all(text.as_bytes()).unwrap();
    };
    append(
        &eve.join("eve.json"),
        (1..=10).map(flow).collect::<String>() + &"x".repeat(5000) + "\n",
    );
    append(&zeek.join("current/conn.log"), (1..=5).map(conn).collect());
    append(
        &zeek.join("current/dns.log"),
        header.to_owned() + &(1..=5).map(dns).collect::<String>(),
    );
    let config = d.path().join("serve.yml");
    std::fs::write(&config, "max_line_bytes: 2000\n").unwrap();
    let watches = [
        "--config".to_owned(),
        config.display().to_string(),
        "--watch".to_owned(),
        format!("eve:ous:{}", eve.display()),
        "--watch".to_owned(),
        format!("zeek:ahus:{}", zeek.display()),
    ];
    let args: Vec<&str> = watches.iter().map(String::as_str).collect();
    let accepted = |s: &Server| metric_sum(&metrics(&s.addr), "vakt_events_accepted_total{");
    let s = Server::start_with_rule(&dir, d.path(), &args);
    wait_for("the first lines", Duration::from_secs(30), || {
        accepted(&s) == 20
    });
    s.stop();

    // While vakt is stopped: lines written, then copied and truncated (EVE),
    // archived and compressed (Zeek conn), appended (Zeek dns).
    append(&eve.join("eve.json"), (11..=13).map(flow).collect());
    std::fs::copy(eve.join("eve.json"), eve.join("eve.json.1")).unwrap();
    std::fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(eve.join("eve.json"))
        .unwrap();
    append(&eve.join("eve.json"), (14..=15).map(flow).collect());
    append(&zeek.join("current/conn.log"), (6..=7).map(conn).collect());
    let day = zeek.join("2026-12-01");
    std::fs::create_dir_all(&day).unwrap();
    let archived = day.join("conn.06:00:00-07:00:00.log");
    std::fs::rename(zeek.join("current/conn.log"), &archived).unwrap();
    assert!(
        Command::new("gzip")
            .arg(&archived)
            .status()
            .unwrap()
            .success()
    );
    append(&zeek.join("current/dns.log"), (6..=10).map(dns).collect());

    let s = Server::start_with_rule(&dir, d.path(), &args);
    wait_for("the rest", Duration::from_secs(30), || {
        accepted(&s) == 5 + 2 + 5
    });
    // Nothing more comes, however long it looks.
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(accepted(&s), 12);
    s.stop();

    let flows = stored_values(&dir, "flow_id");
    assert_eq!(flows.len(), 15, "{flows:?}");
    assert!(
        flows.values().all(|(n, t)| *n == 1 && t == "ous"),
        "{flows:?}"
    );
    let uids = stored_values(&dir, "uid");
    assert_eq!(uids.len(), 7 + 10, "{uids:?}");
    assert!(
        uids.values().all(|(n, t)| *n == 1 && t == "ahus"),
        "{uids:?}"
    );
    // Lines keep their file's numbers: the header is 8 lines.
    for (uid, path, at) in stored_origins(&dir, "uid") {
        if let Some(n) = uid.strip_prefix('D') {
            let n: u64 = n.parse().unwrap();
            assert!(path.ends_with("current/dns.log"), "{path}");
            assert_eq!(at, vakt_core::Locator::Line(8 + n), "{uid}");
        }
        if uid == "C7" {
            assert!(path.ends_with("conn.06:00:00-07:00:00.log.gz"), "{path}");
            assert_eq!(at, vakt_core::Locator::Line(7));
        }
    }
    let copied = stored_origins(&dir, "flow_id");
    assert!(
        copied
            .iter()
            .any(|(f, p, _)| f == "12" && p.ends_with("eve.json.1")),
        "{copied:?}"
    );
}

/// Under a slow store with little room, TCP stops reading rather than drop
/// (every message arrives, none counted dropped), while UDP, which cannot be
/// slowed, drops what finds no room and counts it.
#[test]
fn a_full_service_slows_tcp_and_counts_udp_drops() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().join("data");
    let config = d.path().join("serve.yml");
    std::fs::write(
        &config,
        "test_store_delay_ms: 40\nmax_inflight_bytes: 100000\nsyslog:\n  - {protocol: tcp, listen: \"127.0.0.1:0\", tenant: ahus}\n  - {protocol: udp, listen: \"127.0.0.1:0\", tenant: ous}\n",
    )
    .unwrap();
    let s = Server::start_with_rule(&dir, d.path(), &["--config", config.to_str().unwrap()]);
    const N: u64 = 60_000;
    let mut out = Vec::new();
    for n in 0..N {
        let m = format!(
            "<13>1 2026-12-01T06:00:00Z h app - - - tcp message {n} {}",
            "p".repeat(100)
        );
        out.extend_from_slice(format!("{} {m}", m.len()).as_bytes());
    }
    let mut tcp = TcpStream::connect(s.syslog("tcp")).unwrap();
    let t0 = Instant::now();
    tcp.write_all(&out).unwrap();
    drop(tcp);
    let sent = t0.elapsed();
    let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    for n in 0..N {
        let _ = udp.send_to(
            format!("<13>1 - h app - - - udp message {n} {}", "p".repeat(100)).as_bytes(),
            s.syslog("udp"),
        );
    }
    let value = metric_sum;
    let metrics = || metrics(&s.addr);
    wait_for("every TCP message", Duration::from_secs(120), || {
        value(&metrics(), "vakt_events_accepted_total{tenant=\"ahus\"}") == N
    });
    std::thread::sleep(Duration::from_secs(1));
    let m = metrics();
    assert_eq!(
        value(&m, "vakt_syslog_dropped_total{listener=\"tcp"),
        0,
        "{m}"
    );
    let (received, dropped, taken) = (
        value(&m, "vakt_syslog_received_total{listener=\"udp"),
        value(&m, "vakt_syslog_dropped_total{listener=\"udp"),
        value(&m, "vakt_events_accepted_total{tenant=\"ous\"}"),
    );
    assert!(dropped > 0, "the slow store should have made UDP drop: {m}");
    assert_eq!(received, taken + dropped, "{m}");
    s.stop();
    eprintln!(
        "TCP: {N} messages written in {sent:?} against a slow store, all taken; UDP: {received} received, {taken} taken, {dropped} dropped and counted"
    );
}

/// A syslog file is read as such (sniffed: traditional lines without PRI,
/// RFC 5424 lines) and SigmaHQ's Linux rules apply to it: `service: sshd`
/// matches sshd's messages only.
#[test]
fn syslog_files_are_hunted_with_linux_rules() {
    let d = tempfile::tempdir().unwrap();
    let rules = d.path().join("rules");
    std::fs::create_dir_all(&rules).unwrap();
    let shared = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data/sigma/rules/linux/builtin");
    let rule = files_under(&shared)
        .into_iter()
        .find(|p| {
            std::fs::read_to_string(p)
                .is_ok_and(|t| t.contains("title: Suspicious OpenSSH Daemon Error"))
        })
        .expect("SigmaHQ's sshd rule in ../shared/data");
    std::fs::copy(&rule, rules.join("sshd.yml")).unwrap();
    let log = d.path().join("auth.log");
    std::fs::write(
        &log,
        "Dec  1 06:00:00 web01 sshd[811]: Accepted publickey for alice from 10.0.0.5 port 52113 ssh2\n\
         Dec  1 06:00:04 web01 sshd[812]: Corrupted MAC on input.\n\
         Dec  1 06:00:05 web01 kernel: Corrupted MAC on input (not sshd)\n\
         <38>1 2026-12-01T06:00:06Z web02 sshd 900 - - error in libcrypto\n",
    )
    .unwrap();
    let (code, out, err) = vakt(&[
        "hunt",
        log.to_str().unwrap(),
        "--rules",
        rules.to_str().unwrap(),
        "--analytics",
        "none",
        "--format",
        "json",
    ]);
    assert_eq!(code, 0, "{err}");
    let hits: Vec<serde_json::Value> = serde_json::from_str(&out).unwrap();
    let hosts: Vec<String> = hits
        .iter()
        .filter(|h| h["rule"]["title"] == "Suspicious OpenSSH Daemon Error")
        .map(|h| h.to_string())
        .collect();
    assert_eq!(hosts.len(), 2, "{out}");
    assert!(
        hosts.iter().any(|h| h.contains("web01")) && hosts.iter().any(|h| h.contains("web02")),
        "{out}"
    );
}

/// RELP as librelp speaks it: `open` answered with the offers, every
/// `syslog` answered `200 OK` in order once stored (a malformed one once
/// quarantined), an unknown command refused, `close` answered and the
/// connection closed.
#[test]
fn relp_sessions_are_answered_in_order() {
    use std::io::{BufRead, BufReader};
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().join("data");
    let s = Server::start_with_rule(&dir, d.path(), &["--syslog", "relp://127.0.0.1:0/si"]);
    let stream = TcpStream::connect(s.syslog("relp")).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut w = stream.try_clone().unwrap();
    let mut r = BufReader::new(stream);
    let offer = "relp_version=0\nrelp_software=test\ncommands=syslog";
    let mut out = format!("1 open {} {offer}\n", offer.len());
    for t in 2..=40u64 {
        let m = if t == 20 {
            "<999>1 - - - - - - bad".to_owned()
        } else {
            format!("<13>1 2026-12-01T06:00:00Z h app - - - relp message {t}")
        };
        out.push_str(&format!("{t} syslog {} {m}\n", m.len()));
    }
    out.push_str("41 starttls 0\n42 close 0\n");
    w.write_all(out.as_bytes()).unwrap();
    let mut line = String::new();
    r.read_line(&mut line).unwrap();
    assert!(
        line.starts_with("1 rsp ") && line.ends_with("200 OK\n"),
        "{line}"
    );
    let mut offers = String::new();
    for _ in 0..3 {
        r.read_line(&mut offers).unwrap();
    }
    assert!(offers.contains("commands=syslog"), "{offers}");
    for t in 2..=40u64 {
        line.clear();
        r.read_line(&mut line).unwrap();
        assert_eq!(line, format!("{t} rsp 6 200 OK\n"));
    }
    line.clear();
    r.read_line(&mut line).unwrap();
    assert!(
        line.starts_with("41 rsp ") && line.contains("500"),
        "{line}"
    );
    line.clear();
    r.read_line(&mut line).unwrap();
    assert_eq!(line, "42 rsp 0\n");
    line.clear();
    assert_eq!(
        r.read_line(&mut line).unwrap(),
        0,
        "closed after close: {line}"
    );
    let url = s.addr.clone();
    let m = request(&url, "GET", "/metrics", &[], b"").unwrap().1;
    assert!(
        m.contains("vakt_events_accepted_total{tenant=\"si\"} 38"),
        "{m}"
    );
    assert!(
        m.contains("vakt_records_rejected_total{tenant=\"si\"} 1"),
        "{m}"
    );
    s.stop();
}
