//! Case templates: the health-data-breach template ships; operators add
//! their own (POST /api/v1/templates, or JSON files in the data folder's
//! `templates/`).
//!
//! ```json
//! {"name": "ransomware", "description": "…", "severity": "high", "tags": ["ransomware"],
//!  "clocks": [{"id": "board", "name": "Tell the board", "hours": 4, "warn_hours": 1}],
//!  "tasks": [{"title": "Tell the board", "clock": "board"}, {"title": "Image the hosts", "due_hours": 12}]}
//! ```

use std::path::Path;

use chrono::{DateTime, Months, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use vakt_core::{Severity, Timestamp};

/// A clock a template sets, from awareness.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClockSpec {
    /// Its id in the case.
    pub id: String,
    /// What is due.
    pub name: String,
    /// Due this many hours after awareness …
    #[serde(default)]
    pub hours: Option<f64>,
    /// … or this many calendar months.
    #[serde(default)]
    pub months: Option<u32>,
    /// Warn this many hours before it is due.
    #[serde(default = "default_warn")]
    pub warn_hours: f64,
}

fn default_warn() -> f64 {
    6.0
}

impl ClockSpec {
    /// When it is due, for an awareness time.
    pub fn due(&self, awareness: Timestamp) -> Result<Timestamp, String> {
        match (self.hours, self.months) {
            (Some(h), None) if h > 0.0 && h < 24.0 * 3660.0 => {
                Ok(Timestamp(awareness.0 + (h * 3.6e12) as i64))
            }
            (None, Some(m)) if (1..=120).contains(&m) => {
                let secs = awareness.0.div_euclid(1_000_000_000);
                let nanos = awareness.0.rem_euclid(1_000_000_000) as u32;
                let t: DateTime<Utc> =
                    DateTime::from_timestamp(secs, nanos).ok_or("awareness is out of range")?;
                let due = t
                    .checked_add_months(Months::new(m))
                    .ok_or("the due time is out of range")?;
                Ok(Timestamp(due.timestamp_nanos_opt().ok_or("out of range")?))
            }
            _ => Err(format!(
                "clock `{}`: give hours (0 < h < ten years) or months (1-120), one of them",
                self.id
            )),
        }
    }
}

/// A task a template adds.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TaskSpec {
    /// What to do.
    pub title: String,
    /// How.
    #[serde(default)]
    pub description: String,
    /// Who does it.
    #[serde(default)]
    pub owner: Option<String>,
    /// The clock its completion meets (its due time is the clock's).
    #[serde(default)]
    pub clock: Option<String>,
    /// Else due this many hours after awareness.
    #[serde(default)]
    pub due_hours: Option<f64>,
}

/// A case template.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Template {
    /// Its name.
    pub name: String,
    /// What it is for.
    #[serde(default)]
    pub description: String,
    /// The least severity of a case made with it.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub severity: Option<Severity>,
    /// Tags it adds.
    #[serde(default)]
    pub tags: Vec<String>,
    /// Clocks.
    #[serde(default)]
    pub clocks: Vec<ClockSpec>,
    /// Tasks.
    #[serde(default)]
    pub tasks: Vec<TaskSpec>,
    /// Shipped with vakt (not the operator's).
    #[serde(default)]
    pub builtin: bool,
}

impl Template {
    /// Refuses a template that cannot be applied.
    pub fn check(&self) -> Result<(), String> {
        let ok_name = |s: &str| {
            !s.is_empty()
                && s.len() <= 64
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
        };
        if !ok_name(&self.name) {
            return Err("a template's name is 1-64 letters, digits, '-', '_' or '.'".into());
        }
        let mut ids = std::collections::BTreeSet::new();
        for c in &self.clocks {
            if !ok_name(&c.id) || !ids.insert(c.id.as_str()) {
                return Err(format!("clock id `{}` is not a name, or twice", c.id));
            }
            c.due(Timestamp(0))?;
            if !(0.0..=24.0 * 366.0).contains(&c.warn_hours) {
                return Err(format!("clock `{}`: warn_hours is 0 to a year", c.id));
            }
        }
        for t in &self.tasks {
            if t.title.trim().is_empty() {
                return Err("a task has no title".into());
            }
            if let Some(c) = &t.clock
                && !ids.contains(c.as_str())
            {
                return Err(format!("task `{}`: no clock `{c}`", t.title));
            }
            if t.due_hours
                .is_some_and(|h| !(0.0..24.0 * 3660.0).contains(&h))
            {
                return Err(format!("task `{}`: due_hours is out of range", t.title));
            }
        }
        if self.tasks.len() > 200 || self.clocks.len() > 50 {
            return Err("at most 200 tasks and 50 clocks".into());
        }
        Ok(())
    }
}

/// The template that ships: a breach of health data at a trust, with the
/// duties of Norwegian and EU law.
pub fn health_data_breach() -> Template {
    let clock =
        |id: &str, name: &str, hours: Option<f64>, months: Option<u32>, warn: f64| ClockSpec {
            id: id.into(),
            name: name.into(),
            hours,
            months,
            warn_hours: warn,
        };
    let task = |title: &str, description: &str, clock: Option<&str>, due: Option<f64>| TaskSpec {
        title: title.into(),
        description: description.into(),
        owner: None,
        clock: clock.map(Into::into),
        due_hours: due,
    };
    Template {
        name: "health-data-breach".into(),
        description: "A breach of patient data at a trust: contain, scope, and the notifications the law requires (GDPR Art. 33/34, the Security Act, NIS2).".into(),
        severity: Some(Severity::High),
        tags: vec!["health-data".into(), "personal-data-breach".into()],
        clocks: vec![
            clock("gdpr-33", "Notify the Data Protection Authority (GDPR Art. 33)", Some(72.0), None, 12.0),
            clock("nis2-early-warning", "NIS2 early warning", Some(24.0), None, 6.0),
            clock("nis2-notification", "NIS2 incident notification", Some(72.0), None, 12.0),
            clock("nis2-final", "NIS2 final report", None, Some(1), 7.0 * 24.0),
        ],
        tasks: vec![
            task("Contain", "Stop the attacker: isolate hosts, disable accounts, block the infrastructure (containment exports and requests). Record when containment took hold: it closes the scope window.", None, Some(24.0)),
            task("Scope the exposure", "Run the scope of every linked incident up to containment: which patients, which counties, which categories (protected persons).", None, Some(48.0)),
            task("Notify the trust", "Tell the trust's management and data protection officer what happened, how big, and what is due when.", None, Some(12.0)),
            task("Notify the Data Protection Authority (Datatilsynet)", "GDPR Art. 33: within 72 hours of awareness; what is not known yet may follow in phases.", Some("gdpr-33"), None),
            task("Report to the police", "A criminal complaint (Kripos / the local police district).", None, Some(72.0)),
            task("Report to the national security authority (NSM NorCERT)", "The Security Act and the health sector's reporting line.", None, Some(24.0)),
            task("NIS2 early warning", "Within 24 hours: suspected unlawful or malicious cause, cross-border impact.", Some("nis2-early-warning"), None),
            task("NIS2 incident notification", "Within 72 hours: initial assessment, severity, impact, indicators.", Some("nis2-notification"), None),
            task("NIS2 final report", "Within one month: root cause, mitigation, cross-border impact.", Some("nis2-final"), None),
            task("Notify the patients where GDPR Art. 34 applies", "When the breach is likely to result in a high risk to the patients' rights (protected persons always): the notification list from the scope, by the trust.", None, Some(24.0 * 7.0)),
        ],
        builtin: true,
    }
}

/// The shipped templates and the operator's (files first, then the
/// database's; a later one of the same name wins, never over a shipped one).
pub fn all(dir: &Path, c: &crate::sql::Connection) -> Vec<Template> {
    let mut out = vec![health_data_breach()];
    let mut add = |t: Template| {
        if t.check().is_err() || out.iter().any(|x| x.builtin && x.name == t.name) {
            return;
        }
        out.retain(|x| x.name != t.name);
        out.push(t);
    };
    if let Ok(rd) = std::fs::read_dir(dir) {
        let mut files: Vec<_> = rd.flatten().map(|e| e.path()).collect();
        files.sort();
        for f in files
            .iter()
            .filter(|f| f.extension().is_some_and(|e| e == "json"))
        {
            match std::fs::read_to_string(f)
                .map_err(|e| e.to_string())
                .and_then(|t| serde_json::from_str::<Template>(&t).map_err(|e| e.to_string()))
            {
                Ok(mut t) => {
                    t.builtin = false;
                    add(t)
                }
                Err(e) => tracing::warn!(target: "vakt::respond", "template {}: {e}", f.display()),
            }
        }
    }
    if let Ok(mut q) = c.prepare("SELECT doc FROM templates ORDER BY name") {
        let rows: Vec<String> = q
            .query_map([], |r| r.get(0))
            .map(|r| r.flatten().collect())
            .unwrap_or_default();
        for d in rows {
            if let Ok(mut t) = serde_json::from_str::<Template>(&d) {
                t.builtin = false;
                add(t);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_template_is_valid_and_its_month_is_a_calendar_month() {
        let t = health_data_breach();
        t.check().unwrap();
        let jan31 = crate::respond::ts("2018-01-31T10:00:00Z").unwrap();
        let nis = t.clocks.iter().find(|c| c.id == "nis2-final").unwrap();
        assert_eq!(nis.due(jan31).unwrap().to_rfc3339(), "2018-02-28T10:00:00Z");
        let gdpr = t.clocks.iter().find(|c| c.id == "gdpr-33").unwrap();
        assert_eq!(
            gdpr.due(jan31).unwrap().to_rfc3339(),
            "2018-02-03T10:00:00Z"
        );
    }

    #[test]
    fn operators_templates_come_from_files_and_the_database_never_over_the_shipped_one() {
        let d = tempfile::tempdir().unwrap();
        let dir = d.path().join("templates");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("ransomware.json"),
            r#"{"name": "ransomware", "clocks": [{"id": "board", "name": "Tell the board", "hours": 4}],
                "tasks": [{"title": "Tell the board", "clock": "board"}]}"#,
        )
        .unwrap();
        std::fs::write(dir.join("broken.json"), "{").unwrap();
        std::fs::write(dir.join("shadow.json"), r#"{"name": "health-data-breach"}"#).unwrap();
        let c = crate::db::open(&d.path().join("v.db")).unwrap();
        c.execute(
            "INSERT INTO templates (name, doc, by, at) VALUES ('phishing', ?1, 'kari', 'now')",
            [r#"{"name": "phishing", "tasks": [{"title": "Purge the mails", "due_hours": 2}]}"#],
        )
        .unwrap();
        let all = all(&dir, &c);
        let names: Vec<&str> = all.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["health-data-breach", "ransomware", "phishing"]);
        assert!(
            all[0].builtin && all[0].tasks.len() == 10,
            "the shipped one stands"
        );
    }

    #[test]
    fn a_template_naming_a_missing_clock_is_refused() {
        let mut t = health_data_breach();
        t.name = "mine".into();
        t.tasks[0].clock = Some("nope".into());
        assert!(t.check().unwrap_err().contains("nope"));
    }
}
