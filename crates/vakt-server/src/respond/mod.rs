//! Respond: what the CERT does with an answer, and the proof it did.
//!
//! - [`cases`]: cases (from an incident or by hand) with their status
//!   workflow, tasks, notes, observables, links, merge and split, and the
//!   notification clocks from awareness; [`templates`]: the health-data
//!   breach template that ships, and the operator's own.
//! - [`exceptions`]: triage exceptions (tenant, detector/rule, entity or a
//!   field condition; owner, reason, expiry), applied live in the detect
//!   thread and over the alerts already stored.
//! - [`notify`]: escalation rules and their channels — HMAC-signed
//!   webhooks and e-mail over SMTP — with a durable delivery queue (kept in
//!   SQLite before anything is sent; retried with back-off; failures kept
//!   and visible).
//! - [`contain`]: what the trusts' defences read (Suricata datasets, a Zeek
//!   Intel file, a plain blocklist) and containment requests by webhook.
//! - [`taxii`]: TAXII 2.1 — collections pulled on a schedule (then
//!   retro-hunted) and the CERT's own indicators and sightings served.
//!
//! One thread (`vakt-respond`) runs the clocks and delivers; a second pulls
//! TAXII collections. Every change of a case is in the audit trail.

pub mod cases;
pub mod contain;
pub mod exceptions;
pub mod notify;
pub mod taxii;
pub mod templates;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::sql::Connection;
use serde::Deserialize;

use crate::audit::{Act, AuditTrail};

/// The `respond:` part of the service's settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RespondConfig {
    /// How often the clocks are checked (seconds).
    pub tick_seconds: u64,
    /// The first retry of a failed delivery after this many seconds; each
    /// next one waits twice as long.
    pub retry_first_seconds: u64,
    /// The longest wait between two tries.
    pub retry_max_seconds: u64,
    /// Tries before a delivery is given up as failed (kept, retried by hand).
    pub retry_attempts: u32,
    /// Where notifications go.
    pub channels: Vec<Channel>,
    /// When to notify whom.
    pub rules: Vec<notify::NotifyRule>,
    /// The channels containment requests (disable an account, isolate a
    /// host) are sent to: the IT provider's automation.
    pub containment_channels: Vec<String>,
    /// TAXII 2.1 collections to pull.
    pub taxii: Vec<taxii::TaxiiPull>,
    /// The service's address as people reach it, for links in messages.
    pub public_url: Option<String>,
    /// Who sends the e-mails (`From:`), unless a channel says.
    pub mail_from: String,
}

impl Default for RespondConfig {
    fn default() -> Self {
        RespondConfig {
            tick_seconds: 30,
            retry_first_seconds: 30,
            retry_max_seconds: 3600,
            retry_attempts: 10,
            channels: Vec::new(),
            rules: Vec::new(),
            containment_channels: Vec::new(),
            taxii: Vec::new(),
            public_url: None,
            mail_from: "vakt@localhost".into(),
        }
    }
}

/// A notification channel.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Channel {
    /// Its name (rules name it).
    pub name: String,
    /// A webhook.
    #[serde(default)]
    pub webhook: Option<Webhook>,
    /// E-mail.
    #[serde(default)]
    pub email: Option<Email>,
}

/// A webhook: JSON posted, signed with HMAC-SHA256.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Webhook {
    /// Where to post.
    pub url: String,
    /// The shared secret of the signature.
    #[serde(default)]
    pub secret: Option<String>,
    /// A file holding the secret (instead of `secret`).
    #[serde(default)]
    pub secret_file: Option<PathBuf>,
}

impl Webhook {
    /// The secret, from the setting or its file.
    pub fn secret(&self) -> Result<String, String> {
        match (&self.secret, &self.secret_file) {
            (Some(s), _) => Ok(s.clone()),
            (None, Some(f)) => std::fs::read_to_string(f)
                .map(|s| s.trim().to_owned())
                .map_err(|e| format!("{}: {e}", f.display())),
            (None, None) => Err("a webhook needs a secret (secret or secret_file)".into()),
        }
    }
}

/// E-mail over SMTP.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Email {
    /// The relay, `host:port`.
    pub smtp: String,
    /// `none` (a relay on the local network), `starttls` or `tls`.
    #[serde(default = "default_tls")]
    pub tls: String,
    /// Sender; else the `mail_from` setting.
    #[serde(default)]
    pub from: Option<String>,
    /// Recipients.
    pub to: Vec<String>,
    /// SMTP user, if the relay wants one.
    #[serde(default)]
    pub user: Option<String>,
    /// Its password.
    #[serde(default)]
    pub password: Option<String>,
}

fn default_tls() -> String {
    "none".into()
}

impl RespondConfig {
    /// Refuses settings that cannot work: unknown channels named by rules,
    /// channels with no or two kinds, secrets missing, bad addresses.
    pub fn check(&self) -> Result<(), String> {
        let mut names = std::collections::BTreeSet::new();
        for c in &self.channels {
            if !names.insert(c.name.as_str()) {
                return Err(format!("respond: two channels named `{}`", c.name));
            }
            match (&c.webhook, &c.email) {
                (Some(w), None) => {
                    w.secret()
                        .map_err(|e| format!("channel `{}`: {e}", c.name))?;
                    if !(w.url.starts_with("http://") || w.url.starts_with("https://")) {
                        return Err(format!(
                            "channel `{}`: the webhook url is http(s)://…",
                            c.name
                        ));
                    }
                }
                (None, Some(e)) => {
                    if !matches!(e.tls.as_str(), "none" | "starttls" | "tls") {
                        return Err(format!(
                            "channel `{}`: tls is none, starttls or tls",
                            c.name
                        ));
                    }
                    if e.to.is_empty() {
                        return Err(format!("channel `{}`: no recipients (to)", c.name));
                    }
                    notify::smtp_addr(&e.smtp).map_err(|m| format!("channel `{}`: {m}", c.name))?;
                }
                _ => {
                    return Err(format!(
                        "channel `{}`: give either webhook or email",
                        c.name
                    ));
                }
            }
        }
        for r in &self.rules {
            for ch in &r.channels {
                if !names.contains(ch.as_str()) {
                    return Err(format!("rule `{}`: no channel named `{ch}`", r.name));
                }
            }
            for k in &r.on {
                if !notify::KINDS.contains(&k.as_str()) {
                    return Err(format!(
                        "rule `{}`: `{k}` is not a notice kind ({})",
                        r.name,
                        notify::KINDS.join(", ")
                    ));
                }
            }
        }
        for ch in &self.containment_channels {
            match self.channels.iter().find(|c| &c.name == ch) {
                Some(c) if c.webhook.is_some() => {}
                _ => {
                    return Err(format!(
                        "containment_channels: `{ch}` is not a webhook channel"
                    ));
                }
            }
        }
        for t in &self.taxii {
            t.check()?;
        }
        Ok(())
    }
}

/// What the API and the threads of respond share.
pub struct Respond {
    /// The settings.
    pub cfg: RespondConfig,
    /// The database.
    pub db: crate::sql::Database,
    /// The audit trail (the clocks' warnings and misses are in it).
    pub audit: Arc<AuditTrail>,
    /// Wakes the delivery thread (a notice was queued).
    pub wake: Mutex<Sender<()>>,
    /// Bumped when the exceptions change (the detect thread reloads them).
    pub exceptions_changed: AtomicU64,
    /// The data folder's `templates/` (the operator's templates).
    pub templates_dir: PathBuf,
    /// The data folder's `intel/` (pulled TAXII collections go there).
    pub intel_dir: PathBuf,
    /// The retro-hunts (a pull starts one).
    pub hunts: Arc<Mutex<crate::intel::Hunts>>,
    /// The event store (retro-hunts read it).
    pub store_dir: PathBuf,
    /// The service is stopping.
    pub stopping: AtomicBool,
}

impl Respond {
    /// Wakes the delivery thread.
    pub fn poke(&self) {
        let _ = self.wake.lock().unwrap_or_else(|p| p.into_inner()).send(());
    }

    /// Queues a notice to the channels its rules name, and wakes the
    /// delivery thread. Returns the deliveries made.
    pub fn notice(&self, c: &Connection, n: &notify::Notice) -> Vec<i64> {
        match notify::enqueue(c, &self.cfg, n) {
            Ok(ids) => {
                if !ids.is_empty() {
                    self.poke();
                }
                ids
            }
            Err(e) => {
                tracing::error!(target: "vakt::respond", "cannot queue a notification: {e}");
                Vec::new()
            }
        }
    }

    /// Appends what the service itself did to the audit trail.
    pub fn audit_system(&self, tenant: &str, action: &str, object: &str, detail: String) {
        let act = Act {
            who: "vakt".into(),
            role: "system".into(),
            tenant: tenant.to_owned(),
            action: action.into(),
            object: object.into(),
            outcome: "done".into(),
            detail,
        };
        if let Err(e) = self.audit.append(act) {
            tracing::error!(target: "vakt::audit", "{e}");
        }
    }
}

/// Creates respond's tables.
pub fn create(c: &Connection) -> crate::sql::Result<()> {
    c.execute_batch(
        "CREATE TABLE IF NOT EXISTS cases (
             seq INTEGER PRIMARY KEY AUTOINCREMENT,
             id TEXT NOT NULL UNIQUE,
             tenant TEXT NOT NULL,
             status TEXT NOT NULL,
             updated TEXT NOT NULL,
             doc TEXT NOT NULL
         );
         CREATE TABLE IF NOT EXISTS templates (
             name TEXT PRIMARY KEY,
             doc TEXT NOT NULL,
             by TEXT NOT NULL,
             at TEXT NOT NULL
         );
         CREATE TABLE IF NOT EXISTS exceptions (
             seq INTEGER PRIMARY KEY AUTOINCREMENT,
             id TEXT NOT NULL UNIQUE,
             tenant TEXT NOT NULL,
             revoked INTEGER NOT NULL DEFAULT 0,
             doc TEXT NOT NULL
         );
         CREATE TABLE IF NOT EXISTS deliveries (
             id INTEGER PRIMARY KEY AUTOINCREMENT,
             channel TEXT NOT NULL,
             tenant TEXT NOT NULL,
             kind TEXT NOT NULL,
             subject TEXT NOT NULL,
             payload TEXT NOT NULL,
             created TEXT NOT NULL,
             attempts INTEGER NOT NULL DEFAULT 0,
             next_at INTEGER NOT NULL,
             status TEXT NOT NULL,
             last_error TEXT NOT NULL DEFAULT '',
             delivered_at TEXT
         );
         CREATE INDEX IF NOT EXISTS deliveries_due ON deliveries (status, next_at);
         CREATE TABLE IF NOT EXISTS incident_notices (
             id TEXT PRIMARY KEY,
             severity TEXT NOT NULL,
             stages TEXT NOT NULL
         );
         CREATE TABLE IF NOT EXISTS taxii_pulls (
             name TEXT PRIMARY KEY,
             added_after TEXT,
             at TEXT NOT NULL,
             objects INTEGER NOT NULL,
             error TEXT NOT NULL DEFAULT ''
         );",
    )
}

/// A change's text as the audit trail keeps it: at most 2,000 characters,
/// any run of 11 digits (an identity number's shape) masked.
pub fn audit_detail(what: &str) -> String {
    crate::api::masked(&what.chars().take(2000).collect::<String>())
}

/// An RFC 3339 time, if it is one.
pub fn ts(s: &str) -> Option<vakt_core::Timestamp> {
    vakt_core::Timestamp::parse(s).ok()
}

/// Seconds since the epoch, now.
pub fn unix_now() -> i64 {
    crate::now().0 / 1_000_000_000
}

/// Runs the clocks and the deliveries until `stop` is set or the sender
/// of `wake` is gone.
pub fn run(respond: Arc<Respond>, wake: Receiver<()>) {
    let mut c = match respond.db.connect() {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(target: "vakt::respond", "{e}: no clocks, no notifications");
            return;
        }
    };
    let mailer = notify::Sender::new();
    let tick = Duration::from_secs(respond.cfg.tick_seconds.max(1));
    let mut last_tick: Option<Instant> = None;
    loop {
        if respond.stopping.load(Relaxed) {
            break;
        }
        if last_tick.is_none_or(|t| t.elapsed() >= tick) {
            last_tick = Some(Instant::now());
            for (tenant, case, what, notice) in cases::tick(&mut c, crate::now()) {
                respond.audit_system(&tenant, "clock", &format!("case {case}"), what);
                respond.notice(&c, &notice);
            }
        }
        notify::deliver_due(&c, &respond.cfg, &mailer, &respond.stopping);
        match wake.recv_timeout(Duration::from_millis(500)) {
            Ok(()) | Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => break,
        }
    }
}
