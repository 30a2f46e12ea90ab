//! `vakt demo --serve`: after the demo, the same region served by
//! `vakt serve` with its web UI on loopback — each trust's logs posted to
//! the ingest API with the trust's own token (so each trust is a tenant,
//! as in a real deployment), detected live, the most severe incident opened
//! as a case on the health-data-breach template and scoped — then the
//! address and a one-time sign-in link are printed, and it serves until
//! Ctrl-C.

use std::collections::BTreeSet;
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

/// A user the demo makes.
struct DemoUser {
    name: String,
    role: &'static str,
    tenant: String,
    password: String,
}

/// The trusts of the case (its `tenants/` folders).
fn trusts(case: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(case.join("tenants"))
        .map(|rd| {
            rd.flatten()
                .map(|e| e.path())
                .filter(|p| p.is_dir())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// Every file under a trust's day, in name order.
fn files_under(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    vakt_core::files::walk(dir, &|_| true, &mut out)
        .with_context(|| format!("cannot read {}", dir.display()))?;
    Ok(out)
}

fn name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// The server as a child process; stopped when dropped.
struct Served {
    child: Child,
    url: String,
}

impl Drop for Served {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            // SIGTERM: a clean stop (the write-ahead log and store closed).
            let _ = Command::new("kill")
                .arg(self.child.id().to_string())
                .status();
            let _ = self.child.wait();
        }
    }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(300)))
        .http_status_as_error(false)
        .build()
        .new_agent()
}

fn call(
    a: &ureq::Agent,
    method: &str,
    url: &str,
    token: &str,
    body: Option<&serde_json::Value>,
) -> anyhow::Result<serde_json::Value> {
    let auth = format!("Bearer {token}");
    let mut r = match (method, body) {
        ("GET", _) => a.get(url).header("Authorization", &auth).call(),
        (_, b) => a
            .post(url)
            .header("Authorization", &auth)
            .header("Content-Type", "application/json")
            .send(b.map(|b| b.to_string()).unwrap_or_else(|| "{}".into())),
    }
    .with_context(|| format!("{method} {url}"))?;
    let status = r.status().as_u16();
    let text = r.body_mut().read_to_string().unwrap_or_default();
    if !(200..300).contains(&status) {
        bail!("{method} {url} answered {status}: {text}");
    }
    Ok(serde_json::from_str(&text).unwrap_or(serde_json::Value::Null))
}

fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(name) && !l.starts_with('#'))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// Runs the service over the case folder `case` and serves until stopped.
pub fn run(
    case: &Path,
    rules: &[PathBuf],
    listen: SocketAddr,
    json_out: bool,
) -> anyhow::Result<ExitCode> {
    let dir = case.join("serve");
    // Derived from the case: made again on every run.
    if dir.exists() {
        std::fs::remove_dir_all(&dir).with_context(|| format!("cannot clear {}", dir.display()))?;
    }
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let trusts = trusts(case);
    if trusts.is_empty() {
        bail!("{} holds no trusts' logs (tenants/)", case.display());
    }
    // Tokens and users, before the service opens the database.
    let db = vakt_server::db::open(&dir.join("vakt.db"))?;
    let mut ingest = Vec::new();
    for t in &trusts {
        let (tok, _) = vakt_server::tokens::create(&db, &name(t), "ingest", "vakt demo", None)
            .map_err(anyhow::Error::msg)?;
        ingest.push((t.clone(), tok));
    }
    let (setup_token, _) =
        vakt_server::tokens::create(&db, "", "cert-analyst", "vakt demo set-up", None)
            .map_err(anyhow::Error::msg)?;
    let password = || -> anyhow::Result<String> {
        vakt_server::tokens::random_secret("")
            .map(|s| s.chars().take(20).collect())
            .map_err(anyhow::Error::msg)
    };
    let mut users = vec![
        DemoUser {
            name: "cert".into(),
            role: "cert-analyst",
            tenant: String::new(),
            password: password()?,
        },
        DemoUser {
            name: "admin".into(),
            role: "admin",
            tenant: String::new(),
            password: password()?,
        },
        DemoUser {
            name: "privacy".into(),
            role: "privacy-officer",
            tenant: String::new(),
            password: password()?,
        },
    ];
    for t in &trusts {
        users.push(DemoUser {
            name: format!("{}-analyst", name(t)),
            role: "trust-analyst",
            tenant: name(t),
            password: password()?,
        });
    }
    let mut list =
        String::from("# vakt demo --serve: the demo's users (name role tenant password)\n");
    for u in &users {
        vakt_server::auth::add_user(&db, &u.name, &u.password, u.role, &u.tenant)
            .map_err(anyhow::Error::msg)?;
        list.push_str(&format!(
            "{} {} {} {}\n",
            u.name,
            u.role,
            if u.tenant.is_empty() { "-" } else { &u.tenant },
            u.password
        ));
    }
    let users_file = dir.join("demo-users.txt");
    {
        let mut f = std::fs::File::create(&users_file)?;
        f.write_all(list.as_bytes())?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let _ = std::fs::set_permissions(&users_file, std::fs::Permissions::from_mode(0o600));
        }
    }
    drop(db);

    // The service, as `vakt serve` with the case's context.
    let mut cmd = Command::new(std::env::current_exe().context("cannot find vakt itself")?);
    cmd.arg("serve")
        .arg("--dir")
        .arg(&dir)
        .arg("--listen")
        .arg(listen.to_string())
        .arg("--intel")
        .arg(case.join("intel"))
        .arg("--context")
        .arg(case.join("registers"))
        .arg("--assets")
        .arg(case.join("registers"))
        .arg("--pseudonym-key-file")
        .arg(case.join("pseudonym.key"));
    for r in rules {
        cmd.arg("--rules").arg(r);
    }
    for t in &trusts {
        cmd.arg("--context").arg(t.join("fhir"));
    }
    let log = std::fs::File::create(dir.join("serve.log"))?;
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::from(log))
        .env_remove("VAKT_PSEUDONYM_KEY_FILE");
    let child = cmd.spawn().context("cannot start vakt serve")?;
    let _ = std::fs::write(dir.join("serve.pid"), format!("{}\n", child.id()));
    let mut served = Served {
        child,
        url: String::new(),
    };
    let started = Instant::now();
    let listening = dir.join("listening");
    loop {
        if let Ok(s) = std::fs::read_to_string(&listening)
            && let Some(first) = s.lines().next()
        {
            served.url = first.trim().to_owned();
            break;
        }
        if let Ok(Some(status)) = served.child.try_wait() {
            bail!(
                "vakt serve stopped ({status}); see {}",
                dir.join("serve.log").display()
            );
        }
        if started.elapsed() > Duration::from_secs(120) {
            bail!(
                "vakt serve did not start in 2 minutes; see {}",
                dir.join("serve.log").display()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let url = served.url.clone();
    let a = agent();
    // Each trust ships its days, day by day, as it would have.
    let days: BTreeSet<String> = trusts
        .iter()
        .flat_map(|t| std::fs::read_dir(t).into_iter().flatten().flatten())
        .map(|e| name(&e.path()))
        .filter(|n| n.starts_with("day-"))
        .collect();
    eprintln!(
        "vakt demo --serve: {} trusts' logs of {} days posted to {url} …",
        trusts.len(),
        days.len()
    );
    let mut posted = 0usize;
    for day in &days {
        for (t, tok) in &ingest {
            let day_dir = t.join(day);
            if !day_dir.exists() {
                continue;
            }
            for f in files_under(&day_dir)? {
                let body =
                    std::fs::read(&f).with_context(|| format!("cannot read {}", f.display()))?;
                let mut r = a
                    .post(&format!("{url}/api/v1/ingest"))
                    .header("Authorization", &format!("Bearer {tok}"))
                    .send(&body[..])
                    .with_context(|| format!("posting {}", f.display()))?;
                let s = r.status().as_u16();
                if s != 200 {
                    let text = r.body_mut().read_to_string().unwrap_or_default();
                    bail!("{} was refused ({s}): {text}", f.display());
                }
                posted += 1;
            }
        }
    }
    // Until the store and the detectors have taken in everything, and the
    // store has committed it (every checkpoint interval: then the API sees it).
    let read_metrics = || -> anyhow::Result<String> {
        let mut r = a.get(&format!("{url}/metrics")).call()?;
        Ok(r.body_mut().read_to_string().unwrap_or_default())
    };
    let mut calm = 0;
    let mut checkpoints = 0.0;
    let waiting = Instant::now();
    while calm < 3 {
        if waiting.elapsed() > Duration::from_secs(3600) {
            bail!(
                "vakt serve has not taken in the logs after an hour; see {}",
                dir.join("serve.log").display()
            );
        }
        std::thread::sleep(Duration::from_millis(500));
        let m = read_metrics()?;
        let busy = metric(&m, "vakt_inflight_bytes")
            + metric(&m, "vakt_store_queue_batches")
            + metric(&m, "vakt_detect_queue_batches");
        let behind =
            metric(&m, "vakt_events_accepted_total") - metric(&m, "vakt_events_stored_total");
        calm = if busy == 0.0 && behind <= 0.0 {
            calm + 1
        } else {
            0
        };
        checkpoints = metric(&m, "vakt_checkpoints_total");
    }
    let calm_at = Instant::now();
    while calm_at.elapsed() < Duration::from_secs(10) {
        if metric(&read_metrics()?, "vakt_checkpoints_total") > checkpoints {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    eprintln!(
        "vakt demo --serve: {posted} files taken in, detected live ({:.1} s)",
        started.elapsed().as_secs_f64()
    );
    // The most severe incident becomes a case, scoped.
    let incidents = call(
        &a,
        "GET",
        &format!("{url}/api/v1/incidents?limit=1"),
        &setup_token,
        None,
    )?;
    let mut case_line = String::new();
    if let Some(top) = incidents.as_array().and_then(|v| v.first()) {
        let id = top["id"].as_str().unwrap_or_default();
        let _ = call(
            &a,
            "POST",
            &format!("{url}/api/v1/incidents/{id}/scope"),
            &setup_token,
            None,
        )?;
        let c = call(
            &a,
            "POST",
            &format!("{url}/api/v1/cases"),
            &setup_token,
            Some(&serde_json::json!({"incident": id, "template": "health-data-breach"})),
        )?;
        case_line = format!(
            "  the most severe incident, {id}, is case {} on the health-data-breach template\n",
            c["id"].as_str().unwrap_or("?")
        );
    }
    let db = vakt_server::db::open(&dir.join("vakt.db"))?;
    let code = vakt_server::auth::one_time_code(&db, "cert", 60).map_err(anyhow::Error::msg)?;
    drop(db);
    let say = format!(
        "\nvakt demo --serve: the web UI of this case is at {url}/ui/\n\
         \x20 sign in (once, within an hour, as the CERT analyst `cert`): {url}/api/v1/auth/once?code={code}\n\
         {case_line}\
         \x20 the demo's other users (admin, privacy officer, each trust's analyst) and passwords: {}\n\
         \x20 Ctrl-C stops it; the service's log is {}\n",
        users_file.display(),
        dir.join("serve.log").display()
    );
    if json_out {
        eprint!("{say}");
    } else {
        print!("{say}");
        let _ = std::io::stdout().flush();
    }
    let status = served.child.wait()?;
    Ok(if status.success() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
