//! What the detectors of a hunt are built from, loaded from what the
//! command line names: Sigma rules, indicators, the EHR care context and the
//! pseudonym keys, allow-lists. Each loader says what it loaded and what it
//! could not use; problems in the inputs count towards exit code 2.

use std::path::PathBuf;
use std::sync::Arc;

use vakt_analytics::stream::StreamConfig;
use vakt_context::EhrContext;
use vakt_detect::detectors::{Indicators, SigmaRules};
use vakt_detect::{Analytics, EhrSetup, Setup};

use crate::cli::RuleArgs;

/// A setup, with how long the rules took to load and how many context and
/// indicator records could not be used.
pub struct Loaded {
    /// The setup.
    pub setup: Setup,
    /// Seconds loading the rules.
    pub rules_secs: f64,
    /// Records of the context and indicators that could not be used.
    pub problems: usize,
}

/// Where the rules are: the rule folders, the logsource mapping and the
/// placeholder values (from the arguments, else the config file).
pub type RuleSources = (Vec<PathBuf>, Option<PathBuf>, Option<PathBuf>);

/// The rule folders and files of the arguments (or the config file).
pub fn rule_sources(args: &RuleArgs) -> anyhow::Result<RuleSources> {
    let (mut dirs, mut logsources, mut placeholders) = (
        args.rules.clone(),
        args.logsources.clone(),
        args.placeholders.clone(),
    );
    if dirs.is_empty()
        && let Some((_, c)) = crate::rules::config()?
    {
        dirs = c.rules;
        logsources = logsources.or(c.logsources);
        placeholders = placeholders.or(c.placeholders);
    }
    Ok((dirs, logsources, placeholders))
}

/// Sigma rules from the rule arguments (or the config file), if any.
pub fn rules(args: &RuleArgs, quiet: bool) -> anyhow::Result<(Option<Arc<SigmaRules>>, f64)> {
    let (dirs, logsources, placeholders) = rule_sources(args)?;
    if dirs.is_empty() {
        return Ok((None, 0.0));
    }
    let (set, report, secs) = crate::rules::load(
        &dirs,
        logsources.as_deref(),
        placeholders.as_deref(),
        args.no_pack,
    )?;
    if !quiet {
        eprintln!(
            "vakt: {} rules loaded in {secs:.2} s ({} unsupported: `vakt rules check` says why)",
            report.loaded,
            report.unsupported.len()
        );
    }
    Ok((Some(Arc::new(SigmaRules::new(set))), secs))
}

/// Which analytics: `all`, `none`, or a list of findings (refused when one is unknown).
pub fn analytics(names: &[String]) -> anyhow::Result<Analytics> {
    let names: Vec<String> = names.iter().map(|a| a.to_ascii_lowercase()).collect();
    if names.iter().all(|d| d == "none") {
        return Ok(Analytics::None);
    }
    if names.iter().any(|d| d == "all") {
        return Ok(Analytics::All);
    }
    let (network, ehr) = (
        vakt_analytics::network::detectors(),
        vakt_analytics::ehr::detectors(),
    );
    let known =
        |d: &str| network.contains(&d) || ehr.contains(&d) || d == "suricata" || d == "zeek-notice";
    if let Some(bad) = names.iter().find(|d| d.as_str() != "none" && !known(d)) {
        anyhow::bail!(
            "unknown analytics detector `{bad}`: use all, none or a list of {}, suricata, zeek-notice, {}",
            network.join(", "),
            ehr.join(", ")
        );
    }
    Ok(Analytics::Only(
        names.into_iter().filter(|d| d != "none").collect(),
    ))
}

/// The EHR care context, its loaded counts and problems said.
pub fn context(paths: &[PathBuf], quiet: bool) -> (EhrContext, usize) {
    let ctx = EhrContext::load(paths);
    if !quiet {
        let loaded: Vec<String> = ctx.loaded.iter().map(|(k, n)| format!("{n} {k}")).collect();
        eprintln!(
            "vakt: EHR context: {}; {} files passed over (not FHIR context resources)",
            loaded.join(", "),
            ctx.skipped.len()
        );
    }
    for p in &ctx.problems {
        tracing::warn!(target: "vakt::context", "EHR context: {p}");
    }
    let n = ctx.problems.len();
    (ctx, n)
}

/// Indicators for matching, and how many could not be used.
pub fn indicators(
    paths: &[PathBuf],
    warninglists: &[PathBuf],
    force: bool,
    quiet: bool,
) -> anyhow::Result<(Arc<Indicators>, usize)> {
    let (matcher, alerting, problems) =
        crate::intel::for_matching(paths, warninglists, force, quiet)?;
    Ok((Arc::new(Indicators::new(matcher, alerting)), problems))
}

/// What `vakt hunt` needs to build its detectors.
pub struct HuntSetup<'a> {
    /// Rule arguments.
    pub rules: &'a RuleArgs,
    /// `--analytics`.
    pub analytics: &'a [String],
    /// `--context`.
    pub context: &'a [PathBuf],
    /// `--intel`.
    pub intel: &'a [PathBuf],
    /// `--warninglist`.
    pub warninglists: &'a [PathBuf],
    /// `--intel-force`.
    pub intel_force: bool,
    /// `--pseudonym-key-file`.
    pub key_file: Option<&'a std::path::Path>,
    /// The tenant whose key is said to be missing.
    pub tenant: &'a str,
    /// `--site`.
    pub site: Option<&'a std::path::Path>,
    /// Asset registers: record systems, administrators' hosts and scanners
    /// they name join the site model of their trust.
    pub assets: &'a [PathBuf],
    /// The network analytics as a stream.
    pub stream: Option<StreamConfig>,
    /// Events come from the store: patients are pseudonyms already.
    pub from_store: bool,
    /// No summaries.
    pub quiet: bool,
}

/// Loads everything a hunt's detectors need.
pub fn hunt(h: &HuntSetup<'_>) -> anyhow::Result<Loaded> {
    let analytics = analytics(h.analytics)?;
    let (rules, rules_secs) = rules(h.rules, h.quiet)?;
    if rules.is_none() {
        if analytics == Analytics::None {
            anyhow::bail!(
                "no rules: give --rules DIR, set VAKT_RULES, or name them in a config file (vakt.yml: `rules: [DIR]`)"
            );
        }
        if !h.quiet {
            eprintln!(
                "vakt: no Sigma rules given (--rules DIR, VAKT_RULES or vakt.yml): running the behaviour analytics only"
            );
        }
    }
    let mut problems = 0;
    let ehr = if analytics != Analytics::None && !h.context.is_empty() {
        let (ctx, n) = context(h.context, h.quiet);
        problems += n;
        let pseudo = crate::keys::pseudonymiser(h.key_file, h.tenant, h.quiet)?;
        Some(EhrSetup {
            context: Arc::new(ctx),
            pseudonymiser: Arc::new(pseudo),
            patients_pseudonymised: h.from_store,
        })
    } else {
        None
    };
    let indicators = if h.intel.is_empty() {
        None
    } else {
        let (i, n) = indicators(h.intel, h.warninglists, h.intel_force, h.quiet)?;
        problems += n;
        Some(i)
    };
    let mut sites = sites(h.site, analytics != Analytics::None && !h.quiet)?;
    if !h.assets.is_empty() {
        let register = vakt_context::Assets::load(h.assets);
        learn_assets(&mut sites, &register);
    }
    let sites = Arc::new(sites);
    Ok(Loaded {
        setup: Setup {
            rules,
            indicators,
            analytics,
            ehr,
            stream: h.stream,
            sites,
        },
        rules_secs,
        problems,
    })
}

/// The site model of `--site`, or what is assumed without one; said on
/// standard error when `say`.
pub fn sites(path: Option<&std::path::Path>, say: bool) -> anyhow::Result<vakt_core::site::Sites> {
    let sites = match path {
        Some(p) => {
            vakt_core::site::Sites::load(p).map_err(|e| anyhow::anyhow!("site model: {e}"))?
        }
        None => vakt_core::site::Sites::default(),
    };
    if say {
        for line in sites.describe() {
            eprintln!("vakt: {line}");
        }
    }
    Ok(sites)
}

/// What an asset register says of its hosts, into the site model: hosts
/// holding patient records are record systems; jump hosts, administrators'
/// workstations and scanners (by `kind`) are what they say.
pub fn learn_assets(sites: &mut vakt_core::site::Sites, register: &vakt_context::Assets) {
    use vakt_core::site::Role;
    for a in &register.hosts {
        let Some(ip) = a.ip else { continue };
        let tenant = if a.trust.is_empty() {
            "default"
        } else {
            &a.trust
        };
        let role = if a.holds_patients_of.is_some() {
            Some(Role::RecordSystem)
        } else {
            Role::of_kind(&a.kind)
        };
        if let Some(role) = role {
            sites.learn(tenant, ip, role);
        }
    }
}

/// Allow-lists for behaviour findings (lists not usable are said).
pub fn allow_lists(paths: &[PathBuf]) -> anyhow::Result<vakt_detect::AllowLists> {
    let lists = vakt_intel::Warninglists::load(paths)?;
    for (path, why) in &lists.unused {
        tracing::warn!(target: "vakt::allow", "allow-list {}: not used: {why}", path.display());
    }
    Ok(vakt_detect::AllowLists::new(lists))
}
