//! `vakt demo --serve` (the newcomer's command) and the web UI in a real
//! browser. The demo's region is streamed into `vakt serve` — each trust's
//! logs of a day posted with the trust's own token, day after day — and
//! raises the attack incident `vakt demo` finds on the same logs:
//! critical, every stage the demo's has, the demo's Sigma, indicator and
//! EHR alerts about it, and the same events stored. Then Playwright
//! (playwright-core from npm, driving Debian's chromium) signs in as each
//! role and works every screen — see `peers/ui_test.mjs` for what it
//! checks. Screenshots go to `target/ui-shots/`. The one-time sign-in link
//! the demo prints is checked too: it signs in once, and never again.

mod support;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::*;

fn shared(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data")
        .join(rel)
}

/// Stops the demo and its service however the test ends.
struct Demo {
    child: std::process::Child,
    case: PathBuf,
}

impl Drop for Demo {
    fn drop(&mut self) {
        if let Ok(pid) = std::fs::read_to_string(self.case.join("serve/serve.pid")) {
            let _ = Command::new("kill").arg(pid.trim()).status();
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn the_ui_works_for_every_role_in_a_real_browser() {
    let modules = node_modules();
    assert!(
        modules.join("playwright-core").exists() && modules.join("axe-core").exists(),
        "playwright-core and axe-core are not installed in {}: run scripts/test",
        modules.display()
    );
    let chromium = ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .expect("Debian's chromium is not installed: run scripts/test");
    let d = tempfile::tempdir().unwrap();
    let case = d.path().join("case");
    let mut child = Command::new(env!("CARGO_BIN_EXE_vakt"))
        .args([
            "demo",
            "--dir",
            case.to_str().unwrap(),
            "--patients",
            "5000",
            "--serve",
            "--listen",
            "127.0.0.1:0",
        ])
        .env("VAKT_RULES", shared("sigma/rules"))
        .env_remove("VAKT_PSEUDONYM_KEY_FILE")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let out = child.stdout.take().unwrap();
    let demo = Demo {
        child,
        case: case.clone(),
    };
    // The demo prints the address and the one-time link once it serves.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            println!("demo: {line}");
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let started = Instant::now();
    let link = loop {
        match rx.recv_timeout(Duration::from_secs(1200)) {
            Ok(l) if l.contains("/api/v1/auth/once?code=") => {
                break l.split_whitespace().last().unwrap().to_owned();
            }
            Ok(_) => {}
            Err(e) => panic!("vakt demo --serve printed no sign-in link: {e}"),
        }
    };
    println!("served after {:.1} s", started.elapsed().as_secs_f64());
    let url = link.split("/api/v1/").next().unwrap().to_owned();
    let addr = url.trim_start_matches("http://").to_owned();
    let path = &link[url.len()..];

    // The one-time link: a session cookie and the UI, once.
    let (code, head, _) = request_full(&addr, "GET", path, &[], b"").unwrap();
    assert_eq!(code, 303, "{head}");
    assert!(head.contains("location: /ui/"), "{head}");
    assert!(head.contains("set-cookie: vakt_session=vakts_"), "{head}");
    assert!(head.contains("httponly"), "{head}");
    let (again, _, _) = request_full(&addr, "GET", path, &[], b"").unwrap();
    assert_eq!(again, 401, "a one-time link works once");
    // The UI's page and its policy.
    let (code, head, page) = request_full(&addr, "GET", "/ui/", &[], b"").unwrap();
    assert_eq!(code, 200);
    assert!(
        head.contains("content-security-policy: default-src 'none'; script-src 'self'"),
        "{head}"
    );
    assert!(page.contains("/ui/assets/"), "{page}");
    // A browser at `/` is sent to the UI; a shipper still gets Elasticsearch's answer.
    let (code, head, _) = request_full(&addr, "GET", "/", &[("Accept", "text/html")], b"").unwrap();
    assert_eq!(code, 303, "{head}");
    let (code, _, body) = request_full(&addr, "GET", "/", &[], b"").unwrap();
    assert_eq!(code, 200);
    assert!(body.contains("You Know, for Search"), "{body}");

    the_served_region_has_the_demos_incident(&case);

    let shots = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/ui-shots");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers/ui_test.mjs");
    let ran = Command::new("node")
        .arg(&script)
        .env("VAKT_URL", &url)
        .env("VAKT_USERS", case.join("serve/demo-users.txt"))
        .env("VAKT_SHOTS", &shots)
        .env("VAKT_NODE_MODULES", &modules)
        .env("VAKT_CHROMIUM", chromium)
        .output()
        .unwrap();
    let said = format!(
        "{}\n{}",
        String::from_utf8_lossy(&ran.stdout),
        String::from_utf8_lossy(&ran.stderr)
    );
    println!("{said}");
    assert!(
        ran.status.success(),
        "the browser test failed:\n{said}\nthe service's log: {}",
        std::fs::read_to_string(case.join("serve/serve.log"))
            .unwrap_or_default()
            .lines()
            .rev()
            .take(40)
            .collect::<Vec<_>>()
            .join("\n")
    );
    drop(demo);
}

/// What `vakt demo` found on the region, `vakt serve` found on the same
/// logs streamed in (checked before the browser changes anything).
fn the_served_region_has_the_demos_incident(case: &Path) {
    let dir = case.join("serve");
    // The same events stored.
    let theirs = stored(case);
    let ours = stored(&dir);
    assert_eq!(ours["events"], theirs["events"]);
    assert_eq!(ours["by_source"], theirs["by_source"]);
    // The most severe incident is the attack, with every stage and every
    // Sigma, indicator and EHR alert the demo saw.
    let c = vakt_server::db::open(&dir.join("vakt.db")).unwrap();
    let incidents = vakt_server::db::incidents(&c).unwrap();
    let compared = has_the_demos_incident(case, &incidents, &alerts(&dir));
    assert!(compared >= 20, "only {compared} alerts compared");
}
