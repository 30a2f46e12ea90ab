//! TAXII 2.1.
//!
//! Pulling: each configured collection is read on a schedule (`GET
//! {api_root}collections/{id}/objects/` with `added_after` the last
//! pull's newest `X-TAXII-Date-Added-Last`, paged with `next` while
//! `more`); what is new is written as a STIX bundle into the data folder's
//! `intel/` — matched live from then on and retro-hunted over the store,
//! as any indicator file dropped there.
//!
//! Serving (`/taxii2/`, [`crate::api`]): the CERT's own indicators (case
//! observables marked as indicators, and the indicators it holds — never
//! TLP:RED) and its sightings, as two collections.

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use crate::sql::params;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::Deserialize;

use super::Respond;

/// The TAXII media type.
pub const TAXII: &str = "application/taxii+json;version=2.1";
/// The STIX media type.
pub const STIX: &str = "application/stix+json;version=2.1";

/// A collection to pull.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaxiiPull {
    /// Its name (the file it is written to, the retro-hunt it starts).
    pub name: String,
    /// The API root (`https://taxii.example/api1/`).
    pub api_root: String,
    /// The collection's id.
    pub collection: String,
    /// HTTP Basic user …
    #[serde(default)]
    pub user: Option<String>,
    /// … and password.
    #[serde(default)]
    pub password: Option<String>,
    /// Or a bearer token.
    #[serde(default)]
    pub token: Option<String>,
    /// How often (minutes; fractions allowed).
    #[serde(default = "default_every")]
    pub every_minutes: f64,
}

fn default_every() -> f64 {
    60.0
}

impl TaxiiPull {
    /// Refuses settings that cannot work.
    pub fn check(&self) -> Result<(), String> {
        let ok = |s: &str| {
            !s.is_empty()
                && s.len() <= 64
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        };
        if !ok(&self.name) {
            return Err(format!(
                "taxii `{}`: the name is letters, digits, - and _",
                self.name
            ));
        }
        if !(self.api_root.starts_with("http://") || self.api_root.starts_with("https://")) {
            return Err(format!("taxii `{}`: api_root is http(s)://…", self.name));
        }
        if self.every_minutes.is_nan() || self.every_minutes <= 0.0 {
            return Err(format!("taxii `{}`: every_minutes is above 0", self.name));
        }
        Ok(())
    }

    fn objects_url(&self) -> String {
        format!(
            "{}/collections/{}/objects/",
            self.api_root.trim_end_matches('/'),
            self.collection
        )
    }
}

/// One pull's outcome.
#[derive(Debug, Clone, Default)]
pub struct Pulled {
    /// Objects read.
    pub objects: usize,
    /// Pages read.
    pub pages: usize,
    /// The newest `date_added` seen.
    pub last: Option<String>,
}

/// Reads what is new in a collection (after `added_after`).
pub fn pull(
    agent: &ureq::Agent,
    p: &TaxiiPull,
    added_after: Option<&str>,
) -> Result<(Vec<serde_json::Value>, Pulled), String> {
    let mut out = Vec::new();
    let mut info = Pulled::default();
    let mut next: Option<String> = None;
    loop {
        let mut req = agent
            .get(&p.objects_url())
            .header("Accept", TAXII)
            .query("limit", "100");
        if let Some(a) = added_after {
            req = req.query("added_after", a);
        }
        if let Some(n) = &next {
            req = req.query("next", n);
        }
        if let (Some(u), Some(pw)) = (&p.user, &p.password) {
            req = req.header(
                "Authorization",
                &format!("Basic {}", STANDARD.encode(format!("{u}:{pw}"))),
            );
        } else if let Some(t) = &p.token {
            req = req.header("Authorization", &format!("Bearer {t}"));
        }
        let mut r = req
            .call()
            .map_err(|e| format!("{}: {e}", p.objects_url()))?;
        let status = r.status().as_u16();
        if status != 200 {
            return Err(format!("{} answered {status}", p.objects_url()));
        }
        let ct = r
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_ascii_lowercase();
        if !ct.starts_with("application/taxii+json") {
            return Err(format!("{}: not a TAXII answer ({ct})", p.objects_url()));
        }
        if let Some(l) = r
            .headers()
            .get("x-taxii-date-added-last")
            .and_then(|v| v.to_str().ok())
        {
            info.last = Some(l.to_owned());
        }
        let body = r
            .body_mut()
            .with_config()
            .limit(256 << 20)
            .read_to_string()
            .map_err(|e| format!("{}: {e}", p.objects_url()))?;
        let env: serde_json::Value = serde_json::from_str(&body)
            .map_err(|e| format!("{}: not JSON: {e}", p.objects_url()))?;
        info.pages += 1;
        if let Some(objs) = env["objects"].as_array() {
            out.extend(objs.iter().cloned());
        }
        match (env["more"].as_bool(), env["next"].as_str()) {
            (Some(true), Some(n)) if info.pages < 10_000 => next = Some(n.to_owned()),
            _ => break,
        }
    }
    info.objects = out.len();
    Ok((out, info))
}

/// Pulls each collection when it is due, until the service stops.
pub fn run(respond: Arc<Respond>) {
    if respond.cfg.taxii.is_empty() {
        return;
    }
    let agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(60)))
        .http_status_as_error(false)
        .build()
        .new_agent();
    let mut last: Vec<Option<Instant>> = vec![None; respond.cfg.taxii.len()];
    while !respond.stopping.load(Relaxed) {
        for (i, p) in respond.cfg.taxii.iter().enumerate() {
            let every = Duration::from_secs_f64((p.every_minutes * 60.0).max(1.0));
            if last[i].is_some_and(|t| t.elapsed() < every) {
                continue;
            }
            last[i] = Some(Instant::now());
            if let Err(e) = pull_once(&respond, &agent, p) {
                tracing::warn!(target: "vakt::respond", "taxii `{}`: {e}", p.name);
                if let Ok(c) = respond.db.connect() {
                    let _ = c.execute(
                        "INSERT INTO taxii_pulls (name, at, objects, error) VALUES (?1, ?2, 0, ?3)
                         ON CONFLICT (name) DO UPDATE SET at = ?2, error = ?3",
                        params![p.name, crate::now().to_rfc3339(), e],
                    );
                }
            }
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// One pull: new objects into `intel/` and a retro-hunt over them.
pub fn pull_once(respond: &Respond, agent: &ureq::Agent, p: &TaxiiPull) -> Result<usize, String> {
    let c = respond.db.connect().map_err(|e| e.to_string())?;
    let after: Option<String> = crate::sql::OptionalExtension::optional(c.query_row(
        "SELECT added_after FROM taxii_pulls WHERE name = ?1",
        [&p.name],
        |r| r.get(0),
    ))
    .map_err(|e| e.to_string())?
    .flatten();
    let (objects, info) = pull(agent, p, after.as_deref())?;
    let mut indicators = 0;
    if !objects.is_empty() {
        let bundle = serde_json::json!({
            "type": "bundle",
            "id": format!("bundle--{}", vakt_intel::export::uuid_like(&format!("{}|{}", p.name, crate::now().0))),
            "objects": objects,
        });
        let incoming = respond.intel_dir.with_file_name(".intel-incoming");
        std::fs::create_dir_all(&incoming).map_err(|e| e.to_string())?;
        std::fs::create_dir_all(&respond.intel_dir).map_err(|e| e.to_string())?;
        let file = format!("taxii-{}-{}.json", p.name, crate::now().0);
        let tmp = incoming.join(&file);
        std::fs::write(&tmp, bundle.to_string()).map_err(|e| e.to_string())?;
        indicators = vakt_intel::load(std::slice::from_ref(&tmp))
            .indicators
            .len();
        if indicators > 0 {
            respond.hunts.lock().unwrap_or_else(|x| x.into_inner()).add(
                file.clone(),
                format!("taxii:{}", p.name),
                indicators,
            );
        }
        std::fs::rename(&tmp, respond.intel_dir.join(&file)).map_err(|e| e.to_string())?;
        respond.audit_system(
            "",
            "taxii-pull",
            &p.objects_url(),
            format!(
                "{} objects, {indicators} indicators, into intel/{file}",
                info.objects
            ),
        );
    }
    let newest = info.last.or(after);
    c.execute(
        "INSERT INTO taxii_pulls (name, added_after, at, objects, error) VALUES (?1, ?2, ?3, ?4, '')
         ON CONFLICT (name) DO UPDATE SET added_after = ?2, at = ?3, objects = objects + ?4, error = ''",
        params![p.name, newest, crate::now().to_rfc3339(), info.objects as i64],
    )
    .map_err(|e| e.to_string())?;
    tracing::info!(target: "vakt::respond", "taxii `{}`: {} new objects ({indicators} indicators)", p.name, info.objects);
    Ok(indicators)
}
