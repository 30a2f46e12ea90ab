//! Notifications and escalation: notices (a new or escalated incident, a
//! scope's size, a clock's warning or miss, a case's change, a containment
//! request) matched against rules — by kind, severity, stage, exposure
//! size, protected persons, tenant — and queued per channel in SQLite
//! before anything is sent. The delivery thread sends what is due: webhooks
//! signed with HMAC-SHA256 (`X-Vakt-Signature: t=<unix>,v1=<hex>` over
//! `"<t>." + body`, the delivery's id in `X-Vakt-Delivery` so a receiver
//! can drop a repeat), e-mail over SMTP. A failure is retried with
//! exponential back-off; after the last try the delivery is `failed`,
//! kept, shown by the API and retried by hand. Messages say what happened,
//! how big and what is due when — never a clear patient identifier
//! (counts only; the API holds the pseudonyms).

use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::time::Duration;

use crate::sql::{Connection, params};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use vakt_core::{Severity, Timestamp};
use vakt_incident::{Exposure, Incident};

use super::RespondConfig;
use super::cases::{Case, CaseClock};

/// The kinds of notice.
pub const KINDS: [&str; 7] = [
    "incident",
    "escalation",
    "scope",
    "clock-warning",
    "clock-missed",
    "case",
    "containment",
];

/// When to notify whom. Every condition given must hold.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotifyRule {
    /// Its name.
    pub name: String,
    /// Notice kinds (empty: every kind).
    #[serde(default)]
    pub on: Vec<String>,
    /// At least this severity.
    #[serde(default)]
    pub min_severity: Option<Severity>,
    /// Any of these ATT&CK stages reached.
    #[serde(default)]
    pub stages: Vec<String>,
    /// At least this many patients exposed (confirmed and possible).
    #[serde(default)]
    pub min_exposed: Option<usize>,
    /// Only when protected persons are among the exposed.
    #[serde(default)]
    pub protected: bool,
    /// Only these tenants (empty: all).
    #[serde(default)]
    pub tenants: Vec<String>,
    /// Where to send.
    pub channels: Vec<String>,
}

/// Something worth telling someone.
#[derive(Debug, Clone, Serialize)]
pub struct Notice {
    /// One of [`KINDS`].
    pub kind: &'static str,
    /// The tenant.
    pub tenant: String,
    /// How serious.
    pub severity: Severity,
    /// ATT&CK stages reached.
    pub stages: Vec<String>,
    /// Patients exposed, when a scope says.
    pub exposed: Option<usize>,
    /// Protected persons among them.
    pub protected: Option<usize>,
    /// One line.
    pub title: String,
    /// What happened, how big, what is due when.
    pub text: String,
    /// The incident.
    pub incident: Option<String>,
    /// The case.
    pub case: Option<String>,
    /// Clocks due (name, due, state).
    pub due: Vec<(String, String, String)>,
    /// A containment request (action, target), for the IT provider.
    pub request: Option<(String, String)>,
}

impl Notice {
    fn base(kind: &'static str, tenant: &str, severity: Severity, title: String) -> Notice {
        Notice {
            kind,
            tenant: tenant.to_owned(),
            severity,
            stages: Vec::new(),
            exposed: None,
            protected: None,
            title,
            text: String::new(),
            incident: None,
            case: None,
            due: Vec::new(),
            request: None,
        }
    }

    /// A new incident, or one that escalated.
    pub fn incident(i: &Incident, tenant: &str, escalated: bool) -> Notice {
        let kind = if escalated { "escalation" } else { "incident" };
        let stages: Vec<String> = i.stages.iter().map(|s| s.stage.clone()).collect();
        let mut n = Notice::base(
            kind,
            tenant,
            i.severity,
            format!(
                "{} incident {} at {tenant}: {}",
                if escalated { "Escalated" } else { "New" },
                i.id,
                i.title
            ),
        );
        n.text = format!(
            "{}\nSeverity: {}\nStages: {}\nAlerts: {}\nFirst seen: {}\nLast seen: {}\nNext: open a case and scope the incident to see which patients are exposed.",
            n.title,
            i.severity.name(),
            if stages.is_empty() {
                "-".into()
            } else {
                stages.join(" → ")
            },
            i.alerts.len(),
            i.first,
            i.last
        );
        n.stages = stages;
        n.incident = Some(i.id.clone());
        n
    }

    /// A scope's result.
    pub fn scope(i: &Incident, tenant: &str, e: &Exposure) -> Notice {
        let protected = e.by_category.get("protected").copied().unwrap_or(0);
        let mut n = Notice::base(
            "scope",
            tenant,
            i.severity,
            format!(
                "Scope of {}: {} patients confirmed, {} possibly exposed",
                i.id, e.confirmed, e.possible
            ),
        );
        let counties: Vec<String> = e
            .by_county
            .iter()
            .map(|(c, n)| format!("{c} {}", n.confirmed))
            .collect();
        n.text = format!(
            "{}\nProtected persons among them: {protected}\nBy county (confirmed): {}\nWindow: {} to {}\nAwareness: {}\n{}",
            n.title,
            if counties.is_empty() {
                "-".into()
            } else {
                counties.join(", ")
            },
            e.from,
            e.until.map_or_else(|| "now".into(), |u| u.to_string()),
            e.awareness.map_or_else(|| "-".into(), |a| a.to_string()),
            e.clocks
                .iter()
                .map(|c| format!(
                    "Due: {} by {}",
                    c.name,
                    c.due.map_or_else(|| "-".into(), |d| d.to_string())
                ))
                .collect::<Vec<_>>()
                .join("\n")
        );
        n.stages = i.stages.iter().map(|s| s.stage.clone()).collect();
        n.exposed = Some(e.confirmed + e.possible);
        n.protected = Some(protected);
        n.incident = Some(i.id.clone());
        n
    }

    /// Whether a scope differs from the one before it in what a notice
    /// says (patients confirmed, possible, protected): a scope run again
    /// with the same answer is not told again.
    pub fn scope_changed(before: Option<&Exposure>, now: &Exposure) -> bool {
        let key = |e: &Exposure| {
            (
                e.confirmed,
                e.possible,
                e.by_category.get("protected").copied().unwrap_or(0),
                e.until,
            )
        };
        before.is_none_or(|b| key(b) != key(now))
    }

    /// A clock's warning or miss.
    pub fn clock(case: &Case, kind: &'static str, k: &CaseClock, now: Timestamp) -> Notice {
        let mut n = Notice::base(
            kind,
            &case.tenant,
            case.severity,
            if kind == "clock-warning" {
                format!("{}: {} is due {}", case.id, k.name, k.due)
            } else {
                format!("{}: {} was due {} and is not met", case.id, k.name, k.due)
            },
        );
        n.due = case
            .clocks
            .iter()
            .map(|c| {
                (
                    c.name.clone(),
                    c.due.clone(),
                    super::cases::clock_state(c, now).to_owned(),
                )
            })
            .collect();
        n.text = format!(
            "{}\nCase: {} — {} ({}, {})\nClocks:\n{}",
            n.title,
            case.id,
            case.title,
            case.tenant,
            case.status,
            n.due
                .iter()
                .map(|(name, due, state)| format!("  {name}: due {due} ({state})"))
                .collect::<Vec<_>>()
                .join("\n")
        );
        n.case = Some(case.id.clone());
        n.incident = case.incidents.first().cloned();
        n
    }

    /// A case change worth telling (opened, status).
    pub fn case(case: &Case, what: &str) -> Notice {
        let mut n = Notice::base(
            "case",
            &case.tenant,
            case.severity,
            format!("{} ({}): {what}", case.id, case.title),
        );
        n.text = format!(
            "{}\nTenant: {}\nStatus: {}\nAssignee: {}\nIncidents: {}",
            n.title,
            case.tenant,
            case.status,
            case.assignee.as_deref().unwrap_or("-"),
            case.incidents.join(", ")
        );
        n.case = Some(case.id.clone());
        n
    }

    /// A containment request to the IT provider.
    pub fn containment(case: &Case, action: &str, target: &str, note: &str) -> Notice {
        let mut n = Notice::base(
            "containment",
            &case.tenant,
            case.severity,
            format!("{}: please {action} {target}", case.id),
        );
        n.text = format!(
            "{}\nTenant: {}\nWhy: {}\nCase: {} — {}",
            n.title, case.tenant, note, case.id, case.title
        );
        n.case = Some(case.id.clone());
        n.request = Some((action.to_owned(), target.to_owned()));
        n
    }

    /// The webhook's JSON.
    pub fn payload(&self, link: Option<&str>) -> serde_json::Value {
        serde_json::json!({
            "event": self.kind, "tenant": self.tenant, "severity": self.severity,
            "title": self.title, "text": self.text, "stages": self.stages,
            "exposed": self.exposed, "protected": self.protected,
            "incident": self.incident, "case": self.case,
            "due": self.due.iter().map(|(n, d, s)| serde_json::json!({"name": n, "due": d, "state": s})).collect::<Vec<_>>(),
            "request": self.request.as_ref().map(|(a, t)| serde_json::json!({"action": a, "target": t})),
            "link": link, "at": crate::now().to_rfc3339(),
        })
    }
}

impl NotifyRule {
    /// Does the notice match?
    pub fn matches(&self, n: &Notice) -> bool {
        (self.on.is_empty() || self.on.iter().any(|k| k == n.kind))
            && self.min_severity.is_none_or(|m| n.severity >= m)
            && (self.stages.is_empty()
                || n.stages
                    .iter()
                    .any(|s| self.stages.iter().any(|w| w.eq_ignore_ascii_case(s))))
            && self
                .min_exposed
                .is_none_or(|m| n.exposed.is_some_and(|e| e >= m))
            && (!self.protected || n.protected.is_some_and(|p| p > 0))
            && (self.tenants.is_empty() || self.tenants.contains(&n.tenant))
    }
}

/// Queues a notice for every channel a matching rule names (once each);
/// containment requests go to the containment channels. Returns the
/// deliveries' ids.
pub fn enqueue(c: &Connection, cfg: &RespondConfig, n: &Notice) -> crate::sql::Result<Vec<i64>> {
    let mut channels: Vec<&str> = Vec::new();
    if n.kind == "containment" {
        channels.extend(cfg.containment_channels.iter().map(String::as_str));
    }
    for r in cfg.rules.iter().filter(|r| r.matches(n)) {
        for ch in &r.channels {
            if !channels.contains(&ch.as_str()) {
                channels.push(ch);
            }
        }
    }
    let link = cfg.public_url.as_deref().map(|u| {
        let u = u.trim_end_matches('/');
        match (&n.case, &n.incident) {
            (Some(k), _) => format!("{u}/api/v1/cases/{k}"),
            (None, Some(i)) => format!("{u}/api/v1/incidents/{i}"),
            _ => u.to_owned(),
        }
    });
    let payload = n.payload(link.as_deref()).to_string();
    let mut ids = Vec::new();
    for ch in channels {
        ids.push(c.query_row(
            "INSERT INTO deliveries (channel, tenant, kind, subject, payload, created, next_at, status)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'pending') RETURNING id",
            params![
                ch,
                n.tenant,
                n.kind,
                n.title,
                payload,
                crate::now().to_rfc3339(),
                super::unix_now()
            ],
            |r| r.get::<_, i64>(0),
        )?);
    }
    Ok(ids)
}

/// Notices for incidents new since the last call, or escalated (a higher
/// severity, or a stage not reached before); what was told is kept, so a
/// restart tells nothing twice.
pub fn incident_notices(
    c: &Connection,
    incidents: &[(std::sync::Arc<str>, Incident)],
) -> crate::sql::Result<Vec<Notice>> {
    let mut out = Vec::new();
    for (tenant, i) in incidents {
        let stages: Vec<String> = i.stages.iter().map(|s| s.stage.clone()).collect();
        let before: Option<(String, String)> =
            crate::sql::OptionalExtension::optional(c.query_row(
                "SELECT severity, stages FROM incident_notices WHERE id = ?1",
                [&i.id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            ))?;
        let escalated = match &before {
            None => false,
            Some((sev, st)) => {
                let was = super::cases::severity(sev).unwrap_or(Severity::Informational);
                let old: Vec<String> = serde_json::from_str(st).unwrap_or_default();
                i.severity > was || stages.iter().any(|s| !old.contains(s))
            }
        };
        if before.is_some() && !escalated {
            continue;
        }
        c.execute(
            "INSERT INTO incident_notices (id, severity, stages) VALUES (?1, ?2, ?3)
             ON CONFLICT (id) DO UPDATE SET severity = ?2, stages = ?3",
            params![
                i.id,
                i.severity.name(),
                serde_json::to_string(&stages).unwrap_or_default()
            ],
        )?;
        out.push(Notice::incident(i, tenant, escalated));
    }
    Ok(out)
}

/// What sends: one HTTP agent, and SMTP transports made per message.
pub struct Sender {
    agent: ureq::Agent,
}

impl Default for Sender {
    fn default() -> Self {
        Sender::new()
    }
}

/// `host:port` of an SMTP relay.
pub fn smtp_addr(s: &str) -> Result<(String, u16), String> {
    let (h, p) = s
        .rsplit_once(':')
        .ok_or_else(|| format!("`{s}`: the relay is host:port"))?;
    let port = p
        .parse()
        .map_err(|_| format!("`{s}`: the port is a number"))?;
    Ok((h.trim_matches(['[', ']']).to_owned(), port))
}

/// The signature header's value for a body at a time.
pub fn signature(secret: &str, t: i64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap_or_else(|_| {
        // HMAC takes a key of any length.
        Hmac::<Sha256>::new_from_slice(b"-").expect("HMAC key")
    });
    mac.update(format!("{t}.").as_bytes());
    mac.update(body);
    let hex: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("t={t},v1={hex}")
}

impl Sender {
    /// An agent with a 15-second limit per try.
    pub fn new() -> Sender {
        Sender {
            agent: ureq::Agent::config_builder()
                .timeout_global(Some(Duration::from_secs(15)))
                .http_status_as_error(false)
                .build()
                .new_agent(),
        }
    }

    fn webhook(&self, w: &super::Webhook, id: i64, kind: &str, body: &str) -> Result<(), String> {
        let secret = w.secret()?;
        let t = super::unix_now();
        let r = self
            .agent
            .post(&w.url)
            .header("Content-Type", "application/json")
            .header("User-Agent", "vakt")
            .header("X-Vakt-Signature", &signature(&secret, t, body.as_bytes()))
            .header("X-Vakt-Delivery", &id.to_string())
            .header("X-Vakt-Event", kind)
            .send(body)
            .map_err(|e| format!("{}: {e}", w.url))?;
        let s = r.status().as_u16();
        if (200..300).contains(&s) {
            Ok(())
        } else {
            Err(format!("{} answered {s}", w.url))
        }
    }

    fn email(
        &self,
        e: &super::Email,
        from: &str,
        subject: &str,
        body: &str,
        id: i64,
    ) -> Result<(), String> {
        use lettre::message::header::ContentType;
        use lettre::transport::smtp::client::{Tls, TlsParameters};
        use lettre::{Message, SmtpTransport, Transport};
        let from = e.from.as_deref().unwrap_or(from);
        let mut m = Message::builder()
            .from(from.parse().map_err(|x| format!("from `{from}`: {x}"))?)
            .subject(subject)
            .message_id(Some(format!("<vakt-delivery-{id}@vakt>")))
            .header(ContentType::TEXT_PLAIN);
        for to in &e.to {
            m = m.to(to.parse().map_err(|x| format!("to `{to}`: {x}"))?);
        }
        let msg = m.body(body.to_owned()).map_err(|x| x.to_string())?;
        let (host, port) = smtp_addr(&e.smtp)?;
        let tls = |h: &str| TlsParameters::new(h.to_owned()).map_err(|x| x.to_string());
        let mut b = SmtpTransport::builder_dangerous(&host)
            .port(port)
            .timeout(Some(Duration::from_secs(15)));
        b = match e.tls.as_str() {
            "starttls" => b.tls(Tls::Required(tls(&host)?)),
            "tls" => b.tls(Tls::Wrapper(tls(&host)?)),
            _ => b,
        };
        if let (Some(u), Some(p)) = (&e.user, &e.password) {
            b = b.credentials(lettre::transport::smtp::authentication::Credentials::new(
                u.clone(),
                p.clone(),
            ));
        }
        b.build()
            .send(&msg)
            .map(|_| ())
            .map_err(|x| format!("{}: {x}", e.smtp))
    }
}

/// How long to wait before try `attempts + 1` (seconds).
pub fn backoff(cfg: &RespondConfig, attempts: u32) -> i64 {
    let first = cfg.retry_first_seconds.max(1) as i64;
    let wait = first.saturating_mul(1i64 << attempts.saturating_sub(1).min(30));
    wait.min(cfg.retry_max_seconds.max(1) as i64)
}

/// Sends every delivery that is due; records each outcome.
pub fn deliver_due(c: &Connection, cfg: &RespondConfig, s: &Sender, stopping: &AtomicBool) {
    let due: Vec<(i64, String, String, String, String, u32)> = match c
        .prepare(
            "SELECT id, channel, kind, subject, payload, attempts FROM deliveries
             WHERE status = 'pending' AND next_at <= ?1 ORDER BY id LIMIT 100",
        )
        .and_then(|mut q| {
            q.query_map([super::unix_now()], |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                ))
            })?
            .collect()
        }) {
        Ok(v) => v,
        Err(e) => {
            tracing::error!(target: "vakt::respond", "deliveries: {e}");
            return;
        }
    };
    for (id, channel, kind, subject, payload, attempts) in due {
        if stopping.load(Relaxed) {
            return;
        }
        let sent = match cfg.channels.iter().find(|c| c.name == channel) {
            None => Err(format!("no channel `{channel}` in the settings now")),
            Some(ch) => match (&ch.webhook, &ch.email) {
                (Some(w), _) => s.webhook(w, id, &kind, &payload),
                (None, Some(e)) => {
                    let text = serde_json::from_str::<serde_json::Value>(&payload)
                        .ok()
                        .and_then(|v| {
                            let t = v["text"].as_str()?.to_owned();
                            Some(match v["link"].as_str() {
                                Some(l) => format!("{t}\n\n{l}\n"),
                                None => format!("{t}\n"),
                            })
                        })
                        .unwrap_or_default();
                    s.email(e, &cfg.mail_from, &format!("[vakt] {subject}"), &text, id)
                }
                (None, None) => Err("the channel has no webhook or email".into()),
            },
        };
        let attempts = attempts + 1;
        let r = match sent {
            Ok(()) => c.execute(
                "UPDATE deliveries SET status = 'delivered', attempts = ?2, delivered_at = ?3,
                 last_error = '' WHERE id = ?1",
                params![id, attempts, crate::now().to_rfc3339()],
            ),
            Err(err) => {
                let gave_up = attempts >= cfg.retry_attempts.max(1);
                tracing::warn!(target: "vakt::respond", "delivery {id} to {channel}, try {attempts}: {err}{}", if gave_up { " — given up (kept as failed)" } else { "" });
                c.execute(
                    "UPDATE deliveries SET status = ?2, attempts = ?3, next_at = ?4, last_error = ?5
                     WHERE id = ?1",
                    params![
                        id,
                        if gave_up { "failed" } else { "pending" },
                        attempts,
                        super::unix_now() + backoff(cfg, attempts),
                        err.chars().take(500).collect::<String>()
                    ],
                )
            }
        };
        if let Err(e) = r {
            tracing::error!(target: "vakt::respond", "delivery {id}: {e}");
        }
    }
}

/// A delivery as the API shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Delivery {
    /// Its id (`X-Vakt-Delivery`).
    pub id: i64,
    /// The channel.
    pub channel: String,
    /// The tenant.
    pub tenant: String,
    /// The notice's kind.
    pub kind: String,
    /// Its one line.
    pub subject: String,
    /// Queued.
    pub created: String,
    /// Tries so far.
    pub attempts: u32,
    /// `pending`, `delivered`, `failed`.
    pub status: String,
    /// The last failure.
    pub last_error: String,
    /// Delivered.
    pub delivered_at: Option<String>,
    /// Next try (unix seconds), while pending.
    pub next_at: Option<i64>,
}

const DELIVERY_COLUMNS: &str = "id, channel, tenant, kind, subject, created, attempts, status,
     last_error, delivered_at, next_at";

fn delivery_row(r: &crate::sql::Row) -> crate::sql::Result<Delivery> {
    let status: String = r.get(7)?;
    let next: i64 = r.get(10)?;
    Ok(Delivery {
        id: r.get(0)?,
        channel: r.get(1)?,
        tenant: r.get(2)?,
        kind: r.get(3)?,
        subject: r.get(4)?,
        created: r.get(5)?,
        attempts: r.get(6)?,
        next_at: (status == "pending").then_some(next),
        status,
        last_error: r.get(8)?,
        delivered_at: r.get(9)?,
    })
}

/// Deliveries, newest first.
pub fn deliveries(
    c: &Connection,
    sees: impl Fn(&str) -> bool,
    status: Option<&str>,
    limit: usize,
) -> crate::sql::Result<Vec<Delivery>> {
    let mut q = c.prepare(&format!(
        "SELECT {DELIVERY_COLUMNS} FROM deliveries ORDER BY id DESC"
    ))?;
    let mut rows = q.query([])?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        let d = delivery_row(r)?;
        if !sees(&d.tenant) || status.is_some_and(|s| s != d.status) {
            continue;
        }
        out.push(d);
        if out.len() >= limit {
            break;
        }
    }
    Ok(out)
}

/// One delivery by id.
pub fn delivery(c: &Connection, id: i64) -> crate::sql::Result<Option<Delivery>> {
    crate::sql::OptionalExtension::optional(c.query_row(
        &format!("SELECT {DELIVERY_COLUMNS} FROM deliveries WHERE id = ?1"),
        [id],
        delivery_row,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_hmac_sha256_over_time_and_body() {
        // The receiver's check (tests/peers/webhook_sink.py) verifies it
        // independently; here: the layout, and that time and body count.
        let s = signature("s3cret", 1_514_764_800, b"{}");
        assert_eq!(
            s,
            format!("t=1514764800,v1={}", hex_of("s3cret", "1514764800.{}"))
        );
        assert_ne!(s, signature("s3cret", 1_514_764_801, b"{}"));
        assert_ne!(s, signature("s3cret", 1_514_764_800, b"{ }"));
    }

    fn hex_of(key: &str, msg: &str) -> String {
        let mut m = Hmac::<Sha256>::new_from_slice(key.as_bytes()).unwrap();
        m.update(msg.as_bytes());
        m.finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    #[test]
    fn rules_match_on_every_condition_given() {
        let mut n = Notice::base("scope", "ous", Severity::High, "x".into());
        n.exposed = Some(120);
        n.protected = Some(0);
        let mut r = NotifyRule {
            name: "big".into(),
            on: vec!["scope".into()],
            min_severity: Some(Severity::High),
            stages: vec![],
            min_exposed: Some(100),
            protected: false,
            tenants: vec!["ous".into()],
            channels: vec![],
        };
        assert!(r.matches(&n));
        r.protected = true;
        assert!(!r.matches(&n));
        n.protected = Some(2);
        assert!(r.matches(&n));
        r.tenants = vec!["ahus".into()];
        assert!(!r.matches(&n));
    }

    /// A receiver that is not there: each try is counted with its error,
    /// and after the last the delivery is `failed`, kept, and listed.
    #[test]
    fn a_delivery_nobody_takes_is_retried_then_kept_as_failed() {
        let d = tempfile::tempdir().unwrap();
        let c = crate::db::open(&d.path().join("v.db")).unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port(); // closed again: connections are refused
        let cfg = RespondConfig {
            retry_first_seconds: 1,
            retry_max_seconds: 1,
            retry_attempts: 2,
            channels: vec![super::super::Channel {
                name: "soc".into(),
                webhook: Some(super::super::Webhook {
                    url: format!("http://127.0.0.1:{port}/hook"),
                    secret: Some("s".into()),
                    secret_file: None,
                }),
                email: None,
            }],
            rules: vec![NotifyRule {
                name: "all".into(),
                on: vec![],
                min_severity: None,
                stages: vec![],
                min_exposed: None,
                protected: false,
                tenants: vec![],
                channels: vec!["soc".into()],
            }],
            ..RespondConfig::default()
        };
        let n = Notice::base("case", "ous", Severity::High, "CASE-0001 opened".into());
        let ids = enqueue(&c, &cfg, &n).unwrap();
        assert_eq!(ids.len(), 1);
        let s = Sender::new();
        let stop = AtomicBool::new(false);
        deliver_due(&c, &cfg, &s, &stop);
        let first = deliveries(&c, |_| true, None, 10).unwrap();
        assert_eq!(
            (first[0].status.as_str(), first[0].attempts),
            ("pending", 1)
        );
        assert!(!first[0].last_error.is_empty());
        // Not due again until the back-off has passed.
        deliver_due(&c, &cfg, &s, &stop);
        assert_eq!(deliveries(&c, |_| true, None, 10).unwrap()[0].attempts, 1);
        std::thread::sleep(Duration::from_millis(1100));
        deliver_due(&c, &cfg, &s, &stop);
        let last = deliveries(&c, |_| true, Some("failed"), 10).unwrap();
        assert_eq!(last.len(), 1, "given up after two tries, and kept");
        assert_eq!(last[0].attempts, 2);
        assert_eq!(last[0].next_at, None);
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let cfg = RespondConfig {
            retry_first_seconds: 2,
            retry_max_seconds: 10,
            ..RespondConfig::default()
        };
        assert_eq!(
            (1..=5).map(|a| backoff(&cfg, a)).collect::<Vec<_>>(),
            vec![2, 4, 8, 10, 10]
        );
    }
}
