//! `vakt hunt`: Sigma rules over logs.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use vakt_analytics::network::NetworkAnalytics;
use vakt_core::Entity;
use vakt_core::field::DEVICE_HOSTNAME;
use vakt_core::{Event, Locator, Timestamp, Value};
use vakt_sigma::correlation::Correlator;
use vakt_sigma::{RuleMeta, RuleSet, Scratch};

use crate::cli::{HuntArgs, HuntFormat, Level};
use crate::run::EventWork;

/// Which rule a detection comes from.
#[derive(Debug, Clone, Copy)]
enum Source {
    Rule(u32),
    Correlation(usize),
    /// A behaviour-analytics alert (index into the alerts' metadata).
    Alert(usize),
    /// An indicator match (index of the indicator).
    Intel(u32),
}

/// One detection.
#[derive(Debug, Clone)]
struct Hit {
    time: Timestamp,
    source: Source,
    host: String,
    fields: Vec<(String, String)>,
    path: Arc<str>,
    locator: Locator,
    /// Kept only for rules that correlations read.
    event: Option<Arc<Event>>,
    /// Who acted, and what was reached (for incidents).
    actors: Vec<Entity>,
    targets: Vec<Entity>,
    /// The last evidence, when the detection spans time.
    last: Option<Timestamp>,
}

/// Who acted in an event and what it reached: the source address when the
/// event has one (a logon from elsewhere, a connection), else the host it was
/// logged on, and the accounts; the destination, the logging host when the
/// activity came from elsewhere, and the names asked for.
fn entities(e: &Event) -> (Vec<Entity>, Vec<Entity>) {
    use vakt_core::field::{
        ACTOR_USER_NAME, DST_IP, QUERY_HOSTNAME, SRC_IP, TLS_SNI, URL_HOSTNAME, USER_NAME,
    };
    let mut actors = Vec::new();
    let mut targets = Vec::new();
    let h = host(e);
    let src = e.common(SRC_IP).and_then(Value::as_ip);
    match src {
        Some(ip) if !ip.is_loopback() && !ip.is_unspecified() => {
            actors.push(Entity::Ip(ip));
            if !h.is_empty() {
                targets.push(Entity::Host(h));
            }
        }
        _ => {
            if !h.is_empty() {
                actors.push(Entity::Host(h));
            }
        }
    }
    for f in [ACTOR_USER_NAME, USER_NAME] {
        if let Some(Value::Str(u)) = e.common(f)
            && !u.is_empty()
            && !actors
                .iter()
                .any(|a| matches!(a, Entity::Account(x) if x == &**u))
        {
            actors.push(Entity::Account(u.to_string()));
        }
    }
    if let Some(ip) = e.common(DST_IP).and_then(Value::as_ip) {
        targets.push(Entity::Ip(ip));
    }
    for f in [QUERY_HOSTNAME, TLS_SNI, URL_HOSTNAME] {
        if let Some(Value::Str(n)) = e.common(f)
            && !n.is_empty()
        {
            targets.push(Entity::Domain(n.to_string()));
        }
    }
    (actors, targets)
}

/// An indicator match's targets, a name under a listed domain named by the
/// domain (one node for a tunnel's thousand random subdomains).
fn indicator_targets(targets: &[Entity], ind: &vakt_intel::Indicator) -> Vec<Entity> {
    targets
        .iter()
        .map(|t| match t {
            Entity::Domain(d)
                if ind.kind == vakt_intel::Kind::Domain
                    && d.to_ascii_lowercase().ends_with(&ind.value) =>
            {
                Entity::Domain(ind.value.clone())
            }
            other => other.clone(),
        })
        .collect()
}

/// A behaviour finding's entities as actors and targets.
fn alert_entities(a: &vakt_core::Alert) -> (Vec<Entity>, Vec<Entity>) {
    let (mut actors, mut targets) = (Vec::new(), Vec::new());
    for (i, e) in a.entities.iter().enumerate() {
        let actor = match e {
            Entity::Account(_) => true,
            Entity::Patient(_) | Entity::Domain(_) => false,
            // A DNS tunnel names its domain first, then the clients.
            Entity::Ip(_) if a.detector == "dns-tunnel" => true,
            Entity::Ip(_) | Entity::Host(_) => i == 0,
        };
        if actor {
            actors.push(e.clone());
        } else {
            targets.push(e.clone());
        }
    }
    (actors, targets)
}

struct HuntWork<'a> {
    set: &'a RuleSet,
    analytics: bool,
    /// Stream mode: network events go to the main thread in input order.
    stream: bool,
    /// EHR analytics: AuditEvents go to the main thread in input order.
    ehr: bool,
    /// Indicators to match every event against, and which may alert.
    intel: Option<(&'a vakt_intel::Matcher, &'a [bool])>,
    from: Option<Timestamp>,
    to: Option<Timestamp>,
    /// Rules whose matching events correlations need.
    correlated: Vec<bool>,
}

struct HuntState {
    intel_hits: Vec<vakt_intel::Hit>,
    scratch: Scratch,
    matched: Vec<u32>,
    hits: Vec<Hit>,
    net: Option<NetworkAnalytics>,
}

/// What a worker hands on: detections, or a file's analytics state.
enum Batch {
    Hits(Vec<Hit>),
    Net(Box<NetworkAnalytics>),
    /// Stream mode: one network event, in input order.
    Event(Box<Event>),
}

/// The event kinds the network analytics read.
fn network_event(e: &Event) -> bool {
    matches!(
        &*e.source,
        "zeek:conn" | "zeek:open_conn" | "zeek:dns" | "zeek:ssl" | "zeek:http" | "suricata:eve"
    )
}

const HIT_BATCH: usize = 1024;

fn text(v: &Value) -> String {
    match v {
        Value::Str(s) => s.to_string(),
        Value::List(items) => items.iter().map(text).collect::<Vec<_>>().join(", "),
        Value::Null => String::new(),
        other => serde_json::to_value(other)
            .ok()
            .map(|j| match j {
                serde_json::Value::String(s) => s,
                o => o.to_string(),
            })
            .unwrap_or_default(),
    }
}

fn host(e: &Event) -> String {
    e.common(DEVICE_HOSTNAME)
        .or_else(|| e.get_named("Computer"))
        .map(text)
        .unwrap_or_default()
}

impl EventWork for HuntWork<'_> {
    type Item = Batch;
    type State = HuntState;

    fn start(&self) -> HuntState {
        HuntState {
            intel_hits: Vec::new(),
            scratch: Scratch::default(),
            matched: Vec::new(),
            hits: Vec::new(),
            net: (self.analytics && !self.stream).then(NetworkAnalytics::new),
        }
    }

    fn event(&self, st: &mut HuntState, e: Event, emit: &mut dyn FnMut(Batch)) {
        if self.from.is_some_and(|f| e.time < f) || self.to.is_some_and(|t| e.time >= t) {
            return;
        }
        if let Some(net) = st.net.as_mut() {
            net.observe(&e);
        }
        if let Some((m, alerting)) = self.intel {
            st.intel_hits.clear();
            m.event(&e, &mut st.intel_hits);
            let ents = if st.intel_hits.is_empty() {
                Default::default()
            } else {
                entities(&e)
            };
            for h in st.intel_hits.drain(..) {
                if !alerting[h.indicator as usize] {
                    continue;
                }
                let ind = &m.indicators()[h.indicator as usize];
                let mut who = host(&e);
                if who.is_empty()
                    && let Some(Value::Ip(ip)) = e.common(vakt_core::field::SRC_IP)
                {
                    who = ip.to_string();
                }
                st.hits.push(Hit {
                    time: e.time,
                    source: Source::Intel(h.indicator),
                    host: who,
                    fields: vec![
                        (h.field.name().to_owned(), h.value),
                        ("event_source".into(), e.source.to_string()),
                        ("indicator_source".into(), ind.source.to_string()),
                        ("indicator_id".into(), ind.id.clone()),
                    ],
                    path: e.origin.path.clone(),
                    locator: e.origin.locator,
                    event: None,
                    actors: ents.0.clone(),
                    targets: indicator_targets(&ents.1, ind),
                    last: None,
                });
            }
        }
        if self.analytics
            && ((self.stream && network_event(&e)) || (self.ehr && &*e.source == "fhir:AuditEvent"))
        {
            emit(Batch::Event(Box::new(e.clone())));
        }
        st.matched.clear();
        self.set.matches(&e, &mut st.scratch, &mut st.matched);
        if st.matched.is_empty() {
            return;
        }
        let shared = st
            .matched
            .iter()
            .any(|r| self.correlated[*r as usize])
            .then(|| Arc::new(e.clone()));
        let (actors, targets) = entities(&e);
        for &r in &st.matched {
            let fields = self.set.rule_fields[r as usize]
                .iter()
                .filter_map(|f| {
                    e.get(*f)
                        .or_else(|| e.common(*f))
                        .map(|v| (f.name().to_owned(), text(v)))
                })
                .collect();
            st.hits.push(Hit {
                time: e.time,
                source: Source::Rule(r),
                host: host(&e),
                fields,
                path: e.origin.path.clone(),
                locator: e.origin.locator,
                event: if self.correlated[r as usize] {
                    shared.clone()
                } else {
                    None
                },
                actors: actors.clone(),
                targets: targets.clone(),
                last: None,
            });
        }
        if st.hits.len() >= HIT_BATCH {
            emit(Batch::Hits(std::mem::take(&mut st.hits)));
        }
    }

    fn finish(&self, st: HuntState, emit: &mut dyn FnMut(Batch)) {
        if !st.hits.is_empty() {
            emit(Batch::Hits(st.hits));
        }
        if let Some(net) = st.net {
            emit(Batch::Net(Box::new(net)));
        }
    }
}

fn parse_time(t: Option<&str>) -> anyhow::Result<Option<Timestamp>> {
    t.map(|t| Timestamp::parse(t).map_err(|e| anyhow::anyhow!("{e}")))
        .transpose()
}

/// Runs `vakt hunt`.
pub fn run(args: HuntArgs) -> anyhow::Result<ExitCode> {
    let mut args = args;
    if args.rules.rules.is_empty()
        && let Some((_, c)) = crate::rules::config()?
    {
        args.rules.rules = c.rules;
        args.rules.logsources = args.rules.logsources.or(c.logsources);
        args.rules.placeholders = args.rules.placeholders.or(c.placeholders);
    }
    let quiet = args.input.quiet;
    let analytics_wanted = !args
        .analytics
        .iter()
        .all(|d| d.eq_ignore_ascii_case("none"));
    if args.rules.rules.is_empty() {
        if !analytics_wanted {
            anyhow::bail!(
                "no rules: give --rules DIR, set VAKT_RULES, or name them in a config file (vakt.yml: `rules: [DIR]`)"
            );
        }
        if !quiet {
            eprintln!(
                "vakt: no Sigma rules given (--rules DIR, VAKT_RULES or vakt.yml): running the behaviour analytics only"
            );
        }
    }
    let (set, report, load_secs) = crate::rules::load(
        &args.rules.rules,
        args.rules.logsources.as_deref(),
        args.rules.placeholders.as_deref(),
    )?;
    if !quiet {
        eprintln!(
            "vakt: {} rules loaded in {load_secs:.2} s ({} unsupported: `vakt rules check` says why)",
            report.loaded,
            report.unsupported.len()
        );
    }
    let correlator = Correlator::new(&set.correlations);
    let detectors: Vec<String> = args
        .analytics
        .iter()
        .map(|a| a.to_ascii_lowercase())
        .collect();
    if let Some(bad) = detectors.iter().find(|d| {
        !matches!(d.as_str(), "all" | "none")
            && !vakt_analytics::network::DETECTORS.contains(&d.as_str())
            && !vakt_analytics::ehr::DETECTORS.contains(&d.as_str())
    }) {
        anyhow::bail!(
            "unknown analytics detector `{bad}`: use all, none or a list of {}, {}",
            vakt_analytics::network::DETECTORS.join(", "),
            vakt_analytics::ehr::DETECTORS.join(", ")
        );
    }
    let analytics_on = !detectors.iter().all(|d| d == "none");
    let mut context_problems = 0usize;
    let mut intel_problems = 0usize;
    // EHR access analytics, with their context and the pseudonymiser.
    let mut ehr = if analytics_on && !args.context.is_empty() {
        let ctx = vakt_analytics::ehr::EhrContext::load(&args.context);
        if !quiet {
            let loaded: Vec<String> = ctx.loaded.iter().map(|(k, n)| format!("{n} {k}")).collect();
            eprintln!(
                "vakt: EHR context: {}; {} files passed over (not FHIR context resources)",
                loaded.join(", "),
                ctx.skipped.len()
            );
        }
        for p in &ctx.problems {
            eprintln!("vakt: EHR context: {p}");
        }
        context_problems = ctx.problems.len();
        Some(vakt_analytics::ehr::EhrAnalytics::new(
            Arc::new(ctx),
            vakt_analytics::ehr::EhrConfig::default(),
        ))
    } else {
        None
    };
    let pseudo = crate::keys::pseudonymiser(
        args.pseudonym_key_file.as_deref(),
        &args.input.tenant,
        quiet || ehr.is_none(),
    )?;
    let allow = vakt_analytics::allow::AllowLists::load(&args.allow_lists)?;
    for (path, why) in &allow.unused {
        eprintln!("allow-list {}: not used: {why}", path.display());
    }
    // Indicators.
    let intel = if args.intel.is_empty() {
        None
    } else {
        let (m, alerting, problems) =
            crate::intel::for_matching(&args.intel, &args.warninglists, args.intel_force, quiet)?;
        intel_problems = problems;
        Some((m, alerting))
    };
    let work = HuntWork {
        intel: intel.as_ref().map(|(m, a)| (m, a.as_slice())),
        set: &set,
        analytics: analytics_on,
        stream: args.stream_window.is_some(),
        ehr: ehr.is_some(),
        from: parse_time(args.from.as_deref())?,
        to: parse_time(args.to.as_deref())?,
        correlated: (0..set.rules.len() as u32)
            .map(|r| correlator.wants(r))
            .collect(),
    };
    let started = Instant::now();
    let mut hits: Vec<Hit> = Vec::new();
    let mut net = NetworkAnalytics::new();
    let stream_mode = args.stream_window.is_some();
    // Rotated logs of one period arrive together but not interleaved: events
    // up to a step late are in time.
    let mut stream = args.stream_window.map(|window| {
        vakt_analytics::stream::NetworkStream::new(vakt_analytics::stream::StreamConfig {
            window,
            step: args.stream_step,
            lateness: args.stream_step,
        })
    });
    let mut raised: Vec<(Timestamp, vakt_core::Alert)> = Vec::new();
    let in_time_order = |files: &mut [std::path::PathBuf]| {
        if stream_mode {
            crate::run::time_order(files);
        }
    };
    let summary = crate::run::read_all_in(&args.input, &work, in_time_order, |batch, _| {
        match batch {
            Batch::Hits(h) => hits.extend(h),
            Batch::Net(n) => net.merge(*n),
            Batch::Event(e) => {
                if &*e.source == "fhir:AuditEvent" {
                    if let Some(x) = ehr.as_mut() {
                        x.observe(&e);
                    }
                } else if let Some(s) = stream.as_mut() {
                    raised.extend(s.push(&e).into_iter().map(|r| (r.at, r.alert)));
                }
            }
        }
        Ok(())
    })?;
    // Behaviour analytics, over all files and sources at once (or as the stream raised them).
    let mut alert_meta: Vec<Arc<RuleMeta>> = Vec::new();
    if analytics_on {
        let all = detectors.iter().any(|d| d == "all");
        let found: Vec<vakt_core::Alert> = match stream.as_mut() {
            Some(s) => {
                raised.extend(s.flush().into_iter().map(|r| (r.at, r.alert)));
                if !quiet && (s.late() > 0 || s.dropped() > 0) {
                    eprintln!(
                        "stream: {} events arrived late ({} of them before the window, left out)",
                        s.late(),
                        s.dropped()
                    );
                }
                raised
                    .into_iter()
                    .map(|(at, mut a)| {
                        a.evidence.push(("raised", at.to_rfc3339()));
                        a
                    })
                    .collect()
            }
            None => net.alerts(),
        };
        let mut found = found;
        if let Some(x) = ehr.as_mut() {
            x.flush();
            if !quiet {
                eprintln!(
                    "vakt: EHR analytics: {} AuditEvents ({} without a user or patient; {} reads as approved research exports, not judged); {}",
                    x.events,
                    x.unattributed,
                    x.approved_research,
                    x.footprint()
                );
            }
            if x.invalid_identity_numbers > 0 {
                eprintln!(
                    "vakt: EHR analytics: {} patients named by an identity number that fails its check digits (bad input)",
                    x.invalid_identity_numbers
                );
                context_problems += x.invalid_identity_numbers as usize;
            }
            found.extend(x.alerts(&pseudo, &args.input.tenant));
        }
        let (alerts, aside) = allow.filter(found);
        if !quiet && !aside.is_empty() {
            let lists: Vec<String> = aside.iter().map(|(l, n)| format!("{l} {n}")).collect();
            eprintln!(
                "behaviour findings set aside by allow-lists: {}",
                lists.join(", ")
            );
        }
        for a in alerts {
            if !all && !detectors.iter().any(|d| d == a.detector) {
                continue;
            }
            let first = a.origins.first();
            let (actors, targets) = alert_entities(&a);
            hits.push(Hit {
                time: a.first,
                source: Source::Alert(alert_meta.len()),
                host: a
                    .entities
                    .first()
                    .map(|e| match e {
                        Entity::Ip(ip) => ip.to_string(),
                        Entity::Host(h)
                        | Entity::Account(h)
                        | Entity::Domain(h)
                        | Entity::Patient(h) => h.clone(),
                    })
                    .unwrap_or_default(),
                fields: {
                    let mut f: Vec<(String, String)> = a
                        .evidence
                        .iter()
                        .map(|(k, v)| ((*k).to_owned(), v.clone()))
                        .collect();
                    let patients: Vec<&str> = a
                        .entities
                        .iter()
                        .filter_map(|e| match e {
                            Entity::Patient(p) => Some(p.as_str()),
                            _ => None,
                        })
                        .collect();
                    if !patients.is_empty() {
                        f.push(("patients".into(), patients.join(" ")));
                    }
                    f
                },
                path: first
                    .map(|o| o.path.clone())
                    .unwrap_or_else(|| Arc::from("-")),
                locator: first.map_or(Locator::Record(0), |o| o.locator),
                event: None,
                actors,
                targets,
                last: Some(a.last),
            });
            alert_meta.push(Arc::new(RuleMeta {
                title: a.title.clone(),
                id: Some(format!("vakt-analytics-{}", a.detector)),
                status: Some("vakt-analytics".into()),
                level: Some(a.severity.name().into()),
                tags: a
                    .techniques
                    .iter()
                    .map(|t| format!("attack.{}", t.to_ascii_lowercase()))
                    .collect(),
                author: Some("vakt".into()),
                path: Arc::from("vakt-analytics"),
                ..RuleMeta::default()
            }));
        }
    }
    let scan_secs = started.elapsed().as_secs_f64();

    // Correlations see every match of their rules, across files and sources, in time order.
    hits.sort_by_key(|h| h.time);
    let mut correlator = correlator;
    let mut extra = Vec::new();
    for (i, h) in hits.iter().enumerate() {
        if let (Source::Rule(r), Some(e)) = (h.source, &h.event) {
            for c in correlator.observe(r, e, i) {
                let cr = &set.correlations[c.correlation];
                let mut fields: Vec<(String, String)> = cr
                    .group_by
                    .iter()
                    .cloned()
                    .zip(c.key.iter().cloned())
                    .collect();
                fields.push(("events".into(), c.events.len().to_string()));
                fields.push(("first".into(), c.first.to_rfc3339()));
                extra.push(Hit {
                    time: c.last,
                    source: Source::Correlation(c.correlation),
                    host: h.host.clone(),
                    fields,
                    path: h.path.clone(),
                    locator: h.locator,
                    event: None,
                    actors: h.actors.clone(),
                    targets: h.targets.clone(),
                    last: None,
                });
            }
        }
    }
    // Rules that only feed a correlation do not report on their own.
    let mut silent = vec![false; set.rules.len()];
    for cr in &set.correlations {
        if !cr.generate {
            for r in &cr.rules {
                silent[*r as usize] = true;
            }
        }
    }
    hits.retain(|h| !matches!(h.source, Source::Rule(r) if silent[r as usize]));
    hits.extend(extra);
    hits.sort_by_key(|h| h.time);

    // One description per matched indicator.
    let mut intel_meta: std::collections::HashMap<u32, Arc<RuleMeta>> = Default::default();
    if let Some((m, _)) = &intel {
        for h in &hits {
            if let Source::Intel(i) = h.source {
                intel_meta.entry(i).or_insert_with(|| {
                    let ind = &m.indicators()[i as usize];
                    let level = match ind.confidence {
                        Some(c) if c < 40 => "low",
                        Some(c) if c < 75 => "medium",
                        _ => "high",
                    };
                    Arc::new(RuleMeta {
                        title: format!(
                            "Indicator {} {}{}",
                            ind.kind.name(),
                            ind.value,
                            if ind.name.is_empty() {
                                String::new()
                            } else {
                                format!(" ({})", ind.name)
                            }
                        ),
                        id: Some(format!("vakt-intel-{}-{}", ind.kind.name(), ind.value)),
                        status: Some("vakt-intel".into()),
                        level: Some(level.into()),
                        tags: ind
                            .kill_chain
                            .iter()
                            .map(|k| format!("phase.{}", k.to_ascii_lowercase().replace(' ', "_")))
                            .collect(),
                        author: Some(ind.source.to_string()),
                        description: Some(format!(
                            "confidence {}; TLP {}; valid from {} until {}{}",
                            ind.confidence.map_or("-".into(), |c| c.to_string()),
                            ind.tlp.as_deref().unwrap_or("-"),
                            ind.valid
                                .0
                                .map_or("-".into(), |t| Timestamp(t).to_rfc3339()),
                            ind.valid
                                .1
                                .map_or("-".into(), |t| Timestamp(t).to_rfc3339()),
                            ind.warning
                                .as_ref()
                                .map_or(String::new(), |w| format!("; on warninglist {w}"))
                        )),
                        path: Arc::from("vakt-intel"),
                        ..RuleMeta::default()
                    })
                });
            }
        }
    }
    let meta = |s: Source| -> &Arc<RuleMeta> {
        match s {
            Source::Intel(i) => &intel_meta[&i],
            Source::Rule(r) => &set.rules[r as usize],
            Source::Correlation(c) => &set.correlations[c].meta,
            Source::Alert(a) => &alert_meta[a],
        }
    };
    let min = args.min_level;
    hits.retain(|h| {
        let m = meta(h.source);
        min.is_none_or(|min| Level::of(m.level.as_deref()).is_some_and(|l| l >= min))
            && (args.status.is_empty()
                || m.status
                    .as_ref()
                    .is_some_and(|s| args.status.iter().any(|w| w.eq_ignore_ascii_case(s))))
            && (args.rule_ids.is_empty()
                || m.id.as_ref().is_some_and(|id| args.rule_ids.contains(id)))
            && (args.tags.is_empty()
                || args
                    .tags
                    .iter()
                    .any(|t| m.tags.contains(&t.to_ascii_lowercase())))
    });

    let mut out: Box<dyn Write> = match &args.output {
        Some(p) => Box::new(BufWriter::new(
            File::create(p).with_context(|| format!("cannot create {}", p.display()))?,
        )),
        None => Box::new(BufWriter::new(std::io::stdout().lock())),
    };
    write_hits(&mut out, args.format, &hits, &meta).context("cannot write detections")?;
    out.flush().context("cannot write detections")?;
    if let Some(p) = &args.alerts {
        write_alerts(p, &hits, &meta)?;
    }

    if !quiet {
        let events = summary.total().events;
        let mut per_rule: BTreeMap<(String, String), usize> = BTreeMap::new();
        let mut per_level: BTreeMap<String, usize> = BTreeMap::new();
        for h in &hits {
            let m = meta(h.source);
            let level = m.level.clone().unwrap_or_else(|| "-".into());
            // Behaviour findings each have their own title: count them per detector.
            let title = match (h.source, &m.id) {
                (Source::Alert(_), Some(id)) => format!(
                    "behaviour analytics: {}",
                    id.trim_start_matches("vakt-analytics-")
                ),
                _ => m.title.clone(),
            };
            *per_rule.entry((level.clone(), title)).or_default() += 1;
            *per_level.entry(level).or_default() += 1;
        }
        let mut rules: Vec<_> = per_rule.into_iter().collect();
        rules.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        eprintln!("\ndetections by rule:");
        for ((level, title), n) in rules.iter().take(25) {
            eprintln!("  {n:>7}  {level:<13} {title}");
        }
        if rules.len() > 25 {
            eprintln!("  … and {} more rules", rules.len() - 25);
        }
        let levels: Vec<String> = per_level.iter().map(|(l, n)| format!("{l} {n}")).collect();
        eprintln!(
            "\n{} detections ({}) from {} rules; {} events in {} files scanned in {scan_secs:.2} s ({:.0} events/s); rules loaded in {load_secs:.2} s",
            hits.len(),
            if levels.is_empty() {
                "none".into()
            } else {
                levels.join(", ")
            },
            rules.len(),
            events,
            summary.files,
            events as f64 / scan_secs.max(1e-9),
        );
    }
    // Context records that could not be used are rejected input too.
    if context_problems + intel_problems > 0
        && summary.unreadable.is_empty()
        && summary.rejected == 0
    {
        let _ = summary.exit_code(quiet);
        return Ok(ExitCode::from(2));
    }
    Ok(summary.exit_code(quiet))
}

/// Every detection as an alert record (JSON lines), the input of incidents.
/// An indicator's matches from one actor are one alert (first, last, count):
/// a beacon to a listed address matches every few minutes.
fn write_alerts<'a>(
    path: &std::path::Path,
    hits: &[Hit],
    meta: &dyn Fn(Source) -> &'a Arc<RuleMeta>,
) -> anyhow::Result<()> {
    let mut records: Vec<vakt_incident::AlertRecord> = Vec::new();
    let mut per_indicator: std::collections::HashMap<(u32, &[Entity]), (usize, u64)> =
        Default::default();
    for h in hits {
        let m = meta(h.source);
        if let Source::Intel(i) = h.source
            && let Some((at, n)) = per_indicator.get_mut(&(i, h.actors.as_slice()))
        {
            let r = &mut records[*at];
            *n += 1;
            r.first = r.first.min(h.time);
            r.last = r.last.max(h.time);
            if r.origins.len() < 3 {
                r.origins.push(format!("{}: {}", h.path, h.locator));
            }
            for t in &h.targets {
                if !r.targets.contains(t) && r.targets.len() < 20 {
                    r.targets.push(t.clone());
                }
            }
            continue;
        }
        let engine = match h.source {
            Source::Rule(_) => "sigma",
            Source::Correlation(_) => "correlation",
            Source::Alert(_) => "analytics",
            Source::Intel(i) => {
                per_indicator.insert((i, h.actors.as_slice()), (records.len(), 1));
                "intel"
            }
        };
        let tactics = m
            .tags
            .iter()
            .filter_map(|t| t.strip_prefix("attack."))
            // Tactic names, not technique, group or software ids (t1059, g0016, s0002).
            .filter(|t| {
                let mut c = t.chars();
                !(matches!(c.next(), Some('t' | 'g' | 's'))
                    && c.next().is_some_and(|d| d.is_ascii_digit()))
            })
            .map(|t| t.replace('_', "-"))
            .chain(
                m.tags
                    .iter()
                    .filter_map(|t| t.strip_prefix("phase."))
                    .map(|t| t.replace('_', "-")),
            )
            .collect();
        records.push(vakt_incident::AlertRecord {
            id: String::new(),
            engine: engine.into(),
            rule: m.id.clone().unwrap_or_else(|| m.title.clone()),
            title: m.title.clone(),
            severity: vakt_core::Severity::from_level(m.level.as_deref().unwrap_or("")),
            first: h.time,
            last: h.last.unwrap_or(h.time),
            techniques: m.techniques(),
            tactics,
            actors: h.actors.clone(),
            targets: h.targets.clone(),
            evidence: h.fields.clone(),
            origins: vec![format!("{}: {}", h.path, h.locator)],
        });
    }
    for (at, n) in per_indicator.values() {
        records[*at]
            .evidence
            .push(("matches".into(), n.to_string()));
    }
    let mut out = BufWriter::new(
        File::create(path).with_context(|| format!("cannot create {}", path.display()))?,
    );
    for (i, mut rec) in records.into_iter().enumerate() {
        rec.id = format!("A{:06}", i + 1);
        serde_json::to_writer(&mut out, &rec)?;
        out.write_all(b"\n")?;
    }
    out.flush()
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

fn details(h: &Hit) -> String {
    h.fields
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(" ¦ ")
}

fn csv(field: &str) -> String {
    if field.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", field.replace('"', "\"\""))
    } else {
        field.to_owned()
    }
}

fn cut(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_owned()
    } else {
        let mut t: String = s.chars().take(n.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}

fn json_hit(h: &Hit, m: &RuleMeta) -> serde_json::Value {
    serde_json::json!({
        "time": h.time.to_rfc3339(),
        "rule": {
            "title": m.title, "id": m.id, "level": m.level, "status": m.status,
            "tags": m.tags, "attack": m.techniques(), "author": m.author,
        },
        "host": h.host,
        "fields": h.fields.iter().map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
            .collect::<serde_json::Map<_, _>>(),
        "origin": {"path": &*h.path, "where": h.locator.to_string()},
    })
}

fn write_hits<'a>(
    out: &mut dyn Write,
    format: HuntFormat,
    hits: &[Hit],
    meta: &dyn Fn(Source) -> &'a Arc<RuleMeta>,
) -> std::io::Result<()> {
    match format {
        HuntFormat::Jsonl => {
            for h in hits {
                serde_json::to_writer(&mut *out, &json_hit(h, meta(h.source)))?;
                out.write_all(b"\n")?;
            }
        }
        HuntFormat::Json => {
            let all: Vec<_> = hits.iter().map(|h| json_hit(h, meta(h.source))).collect();
            serde_json::to_writer_pretty(&mut *out, &all)?;
            out.write_all(b"\n")?;
        }
        HuntFormat::Csv => {
            writeln!(out, "time,rule,id,level,attack,host,fields,path,where")?;
            for h in hits {
                let m = meta(h.source);
                writeln!(
                    out,
                    "{},{},{},{},{},{},{},{},{}",
                    h.time.to_rfc3339(),
                    csv(&m.title),
                    csv(m.id.as_deref().unwrap_or("")),
                    csv(m.level.as_deref().unwrap_or("")),
                    csv(&m.techniques().join(" ")),
                    csv(&h.host),
                    csv(&details(h)),
                    csv(&h.path),
                    csv(&h.locator.to_string()),
                )?;
            }
        }
        HuntFormat::Table => {
            writeln!(
                out,
                "{:<24}  {:<8}  {:<50}  {:<18}  {:<60}  origin",
                "time", "level", "rule", "host", "details"
            )?;
            for h in hits {
                let m = meta(h.source);
                let name = h.path.rsplit(['/', '\\']).next().unwrap_or(&h.path);
                writeln!(
                    out,
                    "{:<24}  {:<8}  {:<50}  {:<18}  {:<60}  {}",
                    cut(&h.time.to_rfc3339(), 24),
                    cut(m.level.as_deref().unwrap_or("-"), 8),
                    cut(&m.title, 50),
                    cut(&h.host, 18),
                    cut(&details(h), 60),
                    cut(&format!("{name}: {}", h.locator), 60),
                )?;
            }
        }
    }
    Ok(())
}
