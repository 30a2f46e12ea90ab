//! The command line.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

pub use crate::log::LogFormat;

const EXIT_CODES: &str = "\
Exit codes:
  0  every input was read and every record in it was accepted
  2  some records were rejected (each is reported with its file and record or line;
     with --quarantine its raw bytes are kept); everything else was read
  1  a path could not be read at all (missing, unreadable, not the archive it claims to be),
     or the command itself failed";

/// vakt watches hospital networks for advanced attackers and answers how big a breach is.
#[derive(Debug, Parser)]
#[command(name = "vakt", version, about, after_help = EXIT_CODES)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
    /// How diagnostics (rejected records, unreadable inputs, problems in
    /// context and indicators) are written on standard error: text for
    /// people, json (one object per line) for log collectors.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

impl Command {
    /// Whether the command was asked to be quiet (diagnostics: errors only).
    pub fn quiet(&self) -> bool {
        match self {
            Command::Ingest(a) => a.input.quiet,
            Command::Stats(a) => a.input.quiet,
            Command::Hunt(a) => a.input.quiet,
            Command::Beacons(a) => a.input.quiet,
            Command::Sim(a) => a.quiet,
            _ => false,
        }
    }
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Read logs and write them as normalised events, one JSON object per line.
    #[command(after_help = EXIT_CODES)]
    Ingest(IngestArgs),
    /// Count the events in logs, per source kind, with their time range and rejected records.
    #[command(after_help = EXIT_CODES)]
    Stats(StatsArgs),
    /// Run Sigma rules and behaviour analytics over logs and report the detections.
    #[command(after_help = EXIT_CODES)]
    Hunt(Box<HuntArgs>),
    /// Work with Sigma rules.
    #[command(subcommand)]
    Rules(RulesCommand),
    /// Simulate a health region under attack, store and hunt it with every detector, correlate incidents, scope the breach, write the report, and compare with the truth.
    Demo(DemoArgs),
    /// Simulate a health region (under attack) and write its logs, with ground truth.
    Sim(SimArgs),
    /// List beacons as RITA v5 would for the same Zeek logs (its filter, window and scores).
    #[command(after_help = EXIT_CODES)]
    Beacons(BeaconsArgs),
    /// The event store: statistics, retention.
    #[command(subcommand)]
    Store(StoreCommand),
    /// Threat intelligence: add indicators (retro-hunting the stored history), list, stats, export sightings.
    #[command(subcommand)]
    Intel(IntelCommand),
    /// Correlate a case's alerts into incidents (entity graph, ATT&CK stages, patient zero).
    Incidents(IncidentsArgs),
    /// Scope an incident: the patients whose records were exposed, by county, trust and category, and the clocks.
    Scope(ScopeArgs),
    /// Write an incident's report: self-contained HTML (or JSON).
    Report(ReportArgs),
    /// Run the always-on service: HTTP ingest, every detector live, alerts and incidents kept.
    Serve(Box<crate::serve::ServeArgs>),
    /// Tokens of the service (ingest, and the API's roles).
    #[command(subcommand)]
    Token(crate::serve::TokenCommand),
    /// Users of the service's API (sign-in with a password).
    #[command(subcommand)]
    User(crate::serve::UserCommand),
    /// The service's audit trail.
    #[command(subcommand)]
    Audit(crate::serve::AuditCommand),
    /// Cluster mode (`vakt serve --cluster CONFIG`): status, drain a node, ingest tokens.
    #[command(subcommand)]
    Cluster(crate::cluster::ClusterCommand),
}

/// `vakt incidents`.
#[derive(Debug, Args)]
#[command(
    after_help = "A case folder holds case.json (store, alerts, incidents, context, assets, tenant, key, clocks);\n`vakt demo --dir DIR` makes one. Writes the incidents to the case's incidents file."
)]
pub struct IncidentsArgs {
    /// The case folder.
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub case: PathBuf,
    /// Alerts sharing an entity join when at most this long apart (30m, 24h, 2d).
    #[arg(long, default_value = "24h", value_parser = parse_duration)]
    pub gap: i64,
    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
    pub format: OutputFormat,
}

/// `vakt scope`.
#[derive(Debug, Args)]
pub struct ScopeArgs {
    /// The incident id (`INC-20180101-001`), or `top` for the most severe.
    pub incident: String,
    /// The case folder.
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub case: PathBuf,
    /// Containment: accesses after this time (RFC 3339) are out of scope.
    #[arg(long, value_name = "TIME")]
    pub until: Option<String>,
    /// A notification clock besides GDPR Art. 33's 72 hours: `NAME=HOURS` (repeatable).
    #[arg(long = "clock", value_name = "NAME=HOURS")]
    pub clocks: Vec<String>,
    /// Also write the notification list (pseudonyms, by trust) as CSV here.
    #[arg(long, value_name = "FILE")]
    pub notification_list: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
    pub format: OutputFormat,
}

/// `vakt report`.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// The incident id, or `top` for the most severe.
    pub incident: String,
    /// The case folder.
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub case: PathBuf,
    /// Where to write (default: the case folder's report-<incident>.html or .json).
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Containment time (RFC 3339), as for `vakt scope`.
    #[arg(long, value_name = "TIME")]
    pub until: Option<String>,
    /// html (self-contained, no network needed to view) or json.
    #[arg(long, value_enum, default_value_t = ReportFormat::Html)]
    pub format: ReportFormat,
}

/// Report formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ReportFormat {
    /// Self-contained HTML.
    Html,
    /// JSON.
    Json,
}

/// `vakt store …`.
#[derive(Debug, Subcommand)]
pub enum StoreCommand {
    /// Events, segments, bytes and time range of a store.
    Stats(StoreStatsArgs),
    /// Delete day partitions older than an age, then the oldest while over a size.
    Retain(StoreRetainArgs),
}

/// `vakt store stats`.
#[derive(Debug, Args)]
pub struct StoreStatsArgs {
    /// The store.
    pub dir: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
    pub format: OutputFormat,
}

/// `vakt store retain`.
#[derive(Debug, Args)]
pub struct StoreRetainArgs {
    /// The store.
    pub dir: PathBuf,
    /// Keep this long back from now (e.g. 90d).
    #[arg(long, value_parser = parse_duration)]
    pub max_age: Option<i64>,
    /// Keep at most this many bytes (e.g. 500000000000).
    #[arg(long)]
    pub max_bytes: Option<u64>,
}

/// `vakt intel …`.
#[derive(Debug, Subcommand)]
pub enum IntelCommand {
    /// Add indicator files (STIX 2.1, MISP, CSV/plain lists) to a store and retro-hunt them over its history.
    #[command(after_help = EXIT_CODES)]
    Add(IntelAddArgs),
    /// The indicators held by a store.
    List(IntelStoreArgs),
    /// Indicators per kind and source, and sightings, of a store.
    Stats(IntelStoreArgs),
    /// Export the recorded sightings as STIX 2.1 Sighting objects or MISP sightings.
    Export(IntelExportArgs),
}

/// `vakt intel add`.
#[derive(Debug, Args)]
pub struct IntelAddArgs {
    /// Indicator files or folders.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// The store.
    #[arg(long, value_name = "DIR")]
    pub store: PathBuf,
    /// MISP warninglists: indicators on them are kept but not hunted (unless --force).
    #[arg(long = "warninglist", value_name = "PATH")]
    pub warninglists: Vec<PathBuf>,
    /// Hunt warninglisted indicators and those not meant for detection too.
    #[arg(long)]
    pub force: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
    pub format: OutputFormat,
}

/// `vakt intel list` / `stats`.
#[derive(Debug, Args)]
pub struct IntelStoreArgs {
    /// The store.
    #[arg(long, value_name = "DIR")]
    pub store: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
    pub format: OutputFormat,
}

/// `vakt intel export`.
#[derive(Debug, Args)]
pub struct IntelExportArgs {
    /// The store.
    #[arg(long, value_name = "DIR")]
    pub store: PathBuf,
    /// STIX 2.1 bundle of Sighting objects, or MISP sightings.
    #[arg(long, value_enum, default_value_t = ExportFormat::Stix)]
    pub format: ExportFormat,
}

/// `vakt intel export --format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExportFormat {
    /// A STIX 2.1 bundle of Sighting objects (with their indicators).
    Stix,
    /// MISP sightings (`/sightings/add` payloads).
    Misp,
}

/// `vakt beacons`.
#[derive(Debug, Args)]
pub struct BeaconsArgs {
    #[command(flatten)]
    pub input: InputArgs,
    /// Another internal subnet or address besides RFC 1918 and fc00::/7 (repeatable).
    #[arg(long, value_name = "CIDR")]
    pub internal: Vec<String>,
    /// Keep connections from external to internal addresses (RITA filters them by default).
    #[arg(long)]
    pub keep_external_to_internal: bool,
    /// List only beacons scoring at least this (RITA: 0.5 medium, 0.7 high, 0.9 critical).
    #[arg(long, default_value_t = 0.0)]
    pub min_score: f64,
    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
    pub format: OutputFormat,
}

/// `vakt demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// The case folder: the simulated region, its store, alerts, incidents and report (default: a new folder under the system's temp folder).
    #[arg(long, alias = "out", value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// Patients in the region.
    #[arg(long, default_value_t = 20_000)]
    pub patients: usize,
    /// Days to simulate.
    #[arg(long, default_value_t = 2)]
    pub days: u32,
    /// Seed.
    #[arg(long, default_value_t = 2018)]
    pub seed: u64,
    /// How hard the attacker tries not to be seen.
    #[arg(long, value_enum, default_value_t = StealthArg::Medium)]
    pub stealth: StealthArg,
    /// The site model (YAML): internal networks, services offered to the
    /// Internet, sensors, NAT and proxies, administrators' and jump hosts,
    /// the site's own scanners, record systems; per tenant under `tenants:`
    /// (docs/NETWORK.md). Without it: private ranges are internal, nothing
    /// is offered, and the run says so.
    #[arg(long, value_name = "FILE", env = "VAKT_SITE")]
    pub site: Option<PathBuf>,

    /// How fast the attack unfolds (default: fast, so that it fits in the simulated days).
    #[arg(long, value_enum)]
    pub speed: Option<SpeedArg>,
    /// Recorded attacks to replay into the intrusion (as `vakt sim --replay`).
    #[arg(long, value_name = "DIR")]
    pub replay: Vec<PathBuf>,
    /// Sigma rules (default: $VAKT_RULES, the config file, else ../shared/data/sigma/rules).
    #[arg(long, value_name = "DIR", env = "VAKT_RULES")]
    pub rules: Vec<PathBuf>,
    /// table: a short summary for people; json: one JSON object (incidents, exposure, truth).
    #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
    pub format: OutputFormat,
    /// Then serve the case with the web UI on loopback (each trust's logs
    /// posted to `vakt serve`, the top incident opened as a case), print
    /// the address and a one-time sign-in link, and serve until Ctrl-C.
    #[arg(long)]
    pub serve: bool,
    /// Where `--serve` listens (port 0: any free port).
    #[arg(
        long,
        value_name = "ADDR",
        default_value = "127.0.0.1:8080",
        requires = "serve"
    )]
    pub listen: std::net::SocketAddr,
}

/// `vakt sim`.
#[derive(Debug, Args)]
#[command(
    after_help = "Example:\n  vakt sim --out /tmp/region --seed 2018 --patients 100000 --days 3 --scenario apt2018\n\nWrites tenants/<trust>/day-NNN/{windows/events.jsonl, zeek/*.log, ehr/auditevent.ndjson},\ntenants/<trust>/fhir/*.ndjson, registers/*-protected-persons.csv, registers/assets.csv,\nintel/partner-cert-indicators.json (with the attack) and truth/."
)]
pub struct SimArgs {
    /// Output folder (created).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Seed: the same seed gives the same files, byte for byte.
    #[arg(long, default_value_t = 2018)]
    pub seed: u64,
    /// Patients in the region.
    #[arg(long, default_value_t = 10_000)]
    pub patients: usize,
    /// Staff (default: one per twenty patients, at least 80).
    #[arg(long)]
    pub staff: Option<usize>,
    /// Days to simulate, from Monday 1 January 2018.
    #[arg(long, default_value_t = 1)]
    pub days: u32,
    /// Attack scenario: apt2018, or none.
    #[arg(long, default_value = "apt2018")]
    pub scenario: String,
    /// How quiet the attacker is.
    #[arg(long, value_enum, default_value_t = StealthArg::Medium)]
    pub stealth: StealthArg,
    /// How fast the attacker moves between stages (default: fast for one or two days, else normal).
    #[arg(long, value_enum)]
    pub speed: Option<SpeedArg>,
    /// Hours after the start when the attack begins (default: 08:30 on the first day of the middle third).
    #[arg(long)]
    pub attack_start: Option<f64>,
    /// Share of clinicians' reads without a recorded care relationship.
    #[arg(long, default_value_t = 0.05)]
    pub no_relationship_share: f64,
    /// Recorded attacks (Windows JSON lines or EVTX, alone or zipped; files
    /// or folders) re-timed and re-hosted onto the attacked trust during the
    /// intrusion; their truth is their own scope (docs/SIMULATOR.md).
    #[arg(long, value_name = "DIR")]
    pub replay: Vec<PathBuf>,
    /// No insiders misusing their access.
    #[arg(long)]
    pub no_insiders: bool,
    /// No summary on standard error.
    #[arg(long, short)]
    pub quiet: bool,
}

/// `--stealth`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StealthArg {
    /// Noisy.
    Low,
    /// Careful.
    Medium,
    /// Patient.
    High,
}

/// `--speed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SpeedArg {
    /// Minutes between stages.
    Fast,
    /// Hours between stages.
    Normal,
    /// Days between stages.
    Slow,
}

/// `vakt rules …`.
#[derive(Debug, Subcommand)]
pub enum RulesCommand {
    /// Load rules and report how many load, which cannot, and why.
    Check(RulesCheckArgs),
}

/// Where rules come from and how they are mapped.
#[derive(Debug, Clone, Args)]
pub struct RuleArgs {
    /// Rule files or folders (default: $VAKT_RULES, else `rules:` in the config file).
    #[arg(long, value_name = "DIR", env = "VAKT_RULES")]
    pub rules: Vec<PathBuf>,
    /// The logsource mapping (default: the one shipped with vakt).
    #[arg(long, value_name = "FILE")]
    pub logsources: Option<PathBuf>,
    /// Values for `expand` placeholders: a YAML map of name to list of values.
    #[arg(long, value_name = "FILE")]
    pub placeholders: Option<PathBuf>,
    /// Leave out vakt's own rule pack (built in; loaded with any rules given).
    #[arg(long)]
    pub no_pack: bool,
}

/// `vakt rules check`.
#[derive(Debug, Args)]
pub struct RulesCheckArgs {
    /// Rule files or folders.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// The logsource mapping (default: the one shipped with vakt).
    #[arg(long, value_name = "FILE")]
    pub logsources: Option<PathBuf>,
    /// Values for `expand` placeholders.
    #[arg(long, value_name = "FILE")]
    pub placeholders: Option<PathBuf>,
    /// Leave out vakt's own rule pack (built in; loaded and listed by default).
    #[arg(long)]
    pub no_pack: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
    pub format: OutputFormat,
    /// List every unsupported rule, not only the counts by reason.
    #[arg(long, short)]
    pub verbose: bool,
}

/// `vakt hunt`.
#[derive(Debug, Args)]
#[command(
    after_help = "Every detector over logs, or with --store over the stored history (only the\npartitions of --tenant and the days of --from/--to are read)."
)]
pub struct HuntArgs {
    #[command(flatten)]
    pub input: InputArgs,
    /// Hunt the events of this event store instead of files (`--tenant`,
    /// `--from` and `--to` choose which; without --tenant, every tenant's).
    #[arg(long, value_name = "DIR", conflicts_with = "paths")]
    pub store: Option<PathBuf>,
    #[command(flatten)]
    pub rules: RuleArgs,
    /// Only detections of rules at this level or above.
    #[arg(long, value_enum)]
    pub min_level: Option<Level>,
    /// Only rules with one of these statuses (stable, test, experimental, …).
    #[arg(long, value_delimiter = ',')]
    pub status: Vec<String>,
    /// Only events at or after this time (RFC 3339).
    #[arg(long, value_name = "TIME")]
    pub from: Option<String>,
    /// Only events before this time (RFC 3339).
    #[arg(long, value_name = "TIME")]
    pub to: Option<String>,
    /// Only these rule ids.
    #[arg(long = "rule-id", value_delimiter = ',')]
    pub rule_ids: Vec<String>,
    /// Only rules with one of these tags (e.g. attack.t1003, attack.credential_access).
    #[arg(long = "tag", value_delimiter = ',')]
    pub tags: Vec<String>,
    /// Behaviour analytics to run alongside the rules: all, none, or a list of
    /// findings (beacon, strobe, long-connection, dns-tunnel, exfiltration,
    /// scan, lateral-movement, rare-destination, ehr-bulk, …).
    #[arg(long, value_delimiter = ',', default_value = "all")]
    pub analytics: Vec<String>,
    /// Allow-lists (MISP warninglist JSON files, or folders of them): behaviour
    /// findings involving an address or name on one are set aside and counted.
    /// Choose the lists: the whole MISP set includes documentation ranges and
    /// public clouds, where attackers host too.
    #[arg(long = "allow-list", value_name = "PATH")]
    pub allow_lists: Vec<std::path::PathBuf>,
    /// The site model (YAML): internal networks, services offered to the
    /// Internet, sensors, NAT and proxies, administrators' and jump hosts,
    /// the site's own scanners, record systems; per tenant under `tenants:`
    /// (docs/NETWORK.md). Without it: private ranges are internal, nothing
    /// is offered, and the run says so.
    #[arg(long, value_name = "FILE", env = "VAKT_SITE")]
    pub site: Option<std::path::PathBuf>,
    /// Indicator files or folders (STIX 2.1, MISP events, abuse.ch CSV, plain
    /// lists; repeatable): every event is matched against all of them, and
    /// each match is a detection naming the indicator, its source and
    /// confidence.
    #[arg(long = "intel", value_name = "PATH")]
    pub intel: Vec<std::path::PathBuf>,
    /// MISP warninglists (files or folders): indicators on them are loaded
    /// but do not alert (unless --intel-force).
    #[arg(long = "warninglist", value_name = "PATH")]
    pub warninglists: Vec<std::path::PathBuf>,
    /// Alert on warninglisted indicators and on MISP attributes not meant for detection (to_ids off) too.
    #[arg(long)]
    pub intel_force: bool,
    /// EHR context for the EHR access analytics: FHIR Patient, Practitioner,
    /// PractitionerRole, Organization, Encounter, EpisodeOfCare and CareTeam
    /// resources (NDJSON, Bundle or single resources) and CSV registers of
    /// protected persons, in files or folders (repeatable). Without it the
    /// EHR analytics do not run (nothing to tell care relationships from).
    #[arg(long = "context", value_name = "PATH")]
    pub context: Vec<std::path::PathBuf>,
    /// A file holding the secret key (16 bytes or more) that pseudonymises
    /// patient identifiers in findings; without it a random key is used and
    /// pseudonyms hold for this run only.
    #[arg(long, value_name = "FILE", env = "VAKT_PSEUDONYM_KEY_FILE")]
    pub pseudonym_key_file: Option<std::path::PathBuf>,
    /// Run the behaviour analytics as a stream over the events in input order
    /// (rotated logs given in time order), keeping state for this long back
    /// (e.g. 24h, 90m, 3600s, 7d), as a live sensor feed would; each finding
    /// says when the stream raised it (`raised`).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub stream_window: Option<i64>,
    /// With --stream-window: evaluate this often (stream time).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "1h")]
    pub stream_step: i64,
    /// Output format: table (for people), csv, json (one array of alerts),
    /// jsonl (one alert per line), or any other writer vakt has (the error
    /// for an unknown one lists them).
    #[arg(long, default_value = "table", value_parser = writer_format)]
    pub format: String,
    /// Write the detections here instead of standard output.
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Also write every alert as a JSON line (what `--format jsonl` writes:
    /// rule, severity, ATT&CK, who acted and what was reached, evidence and
    /// where it is): the input of `vakt incidents`.
    #[arg(long, value_name = "FILE")]
    pub alerts: Option<PathBuf>,
}

/// Sigma levels, lowest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, ValueEnum)]
pub enum Level {
    /// informational
    Informational,
    /// low
    Low,
    /// medium
    Medium,
    /// high
    High,
    /// critical
    Critical,
}

impl Level {
    /// The severity of alerts at this level.
    pub fn severity(self) -> vakt_core::Severity {
        match self {
            Level::Informational => vakt_core::Severity::Informational,
            Level::Low => vakt_core::Severity::Low,
            Level::Medium => vakt_core::Severity::Medium,
            Level::High => vakt_core::Severity::High,
            Level::Critical => vakt_core::Severity::Critical,
        }
    }
}

/// An output format the writers' registry knows.
fn writer_format(s: &str) -> Result<String, String> {
    let names: Vec<&str> = vakt_detect::sinks::WRITERS
        .iter()
        .map(|(n, _)| *n)
        .collect();
    if names.contains(&s) {
        Ok(s.to_owned())
    } else {
        Err(format!(
            "`{s}` is not an output format: use one of {}",
            names.join(", ")
        ))
    }
}

/// Input options shared by every command that reads logs.
#[derive(Debug, Args)]
pub struct InputArgs {
    /// Files or folders (walked recursively); .gz and .zip are opened transparently.
    pub paths: Vec<PathBuf>,
    /// The input format; `auto` sniffs each file's content.
    #[arg(long, value_enum, default_value_t = InputFormat::Auto)]
    pub input_format: InputFormat,
    /// Write the raw bytes of rejected records to this folder, with an index.jsonl saying where each came from.
    #[arg(long, value_name = "DIR")]
    pub quarantine: Option<PathBuf>,
    /// The tenant (health trust) these logs belong to (default: `default`;
    /// with `vakt hunt --store`: only this tenant's events, default every tenant's).
    #[arg(long)]
    pub tenant: Option<String>,
    /// For JSON Lines: the field holding each record's time (default: @timestamp, timestamp, time or ts).
    #[arg(long, value_name = "FIELD")]
    pub timestamp_field: Option<String>,
    /// No progress bar and no summary on standard error.
    #[arg(long, short)]
    pub quiet: bool,
    /// Worker threads (default: one per core).
    #[arg(long)]
    pub threads: Option<usize>,
}

/// `vakt ingest`.
#[derive(Debug, Args)]
pub struct IngestArgs {
    #[command(flatten)]
    pub input: InputArgs,
    /// Store the events in this event store (Parquet segments) instead of writing them out.
    #[arg(long, value_name = "DIR")]
    pub store: Option<PathBuf>,
    /// Events per segment (with --store).
    #[arg(long, default_value_t = 65_536)]
    pub segment_events: usize,
    /// A file holding the secret key that pseudonymises patients in the store (see `vakt hunt`).
    #[arg(long, value_name = "FILE", env = "VAKT_PSEUDONYM_KEY_FILE")]
    pub pseudonym_key_file: Option<PathBuf>,
    /// With --store: match every event against these indicators as it is
    /// stored; each indicator's matches from one actor are one alert, a JSON
    /// line on standard output (as `vakt hunt --intel --format jsonl`).
    #[arg(long = "intel", value_name = "PATH")]
    pub intel: Vec<PathBuf>,
    /// MISP warninglists for --intel.
    #[arg(long = "warninglist", value_name = "PATH")]
    pub warninglists: Vec<PathBuf>,
    /// Alert on warninglisted indicators too.
    #[arg(long)]
    pub intel_force: bool,
    /// Write the events here instead of standard output.
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

/// `vakt stats`.
#[derive(Debug, Args)]
pub struct StatsArgs {
    #[command(flatten)]
    pub input: InputArgs,
    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
    pub format: OutputFormat,
    /// List every skipped file with its reason (the table shows counts by reason).
    #[arg(long)]
    pub show_skipped: bool,
}

/// `--input-format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum InputFormat {
    /// Sniff each input.
    Auto,
    /// Windows EVTX.
    Evtx,
    /// Windows events as JSON (evtx_dump, or flat Logstash/NXLog exports).
    EvtxJson,
    /// Zeek TSV or JSON logs.
    Zeek,
    /// Suricata EVE JSON.
    Eve,
    /// HL7 FHIR AuditEvent (R4, R5; resource, Bundle or NDJSON).
    Fhir,
    /// JSON Lines with a timestamp field.
    Jsonl,
    /// Syslog (RFC 5424, RFC 3164), a line or an octet-counted frame per message.
    Syslog,
}

impl InputFormat {
    /// The fixed format, or `None` for auto.
    pub fn fixed(self) -> Option<vakt_ingest::Format> {
        use vakt_ingest::Format;
        Some(match self {
            InputFormat::Auto => return None,
            InputFormat::Evtx => Format::Evtx,
            InputFormat::EvtxJson => Format::EvtxJson,
            InputFormat::Zeek => Format::Zeek,
            InputFormat::Eve => Format::Eve,
            InputFormat::Fhir => Format::Fhir,
            InputFormat::Jsonl => Format::Jsonl,
            InputFormat::Syslog => Format::Syslog,
        })
    }
}

/// `--format` for reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// A table for people.
    Table,
    /// One JSON object, for scripts.
    Json,
}

/// A duration in seconds from `90s`, `30m`, `24h`, `7d` or a plain number of seconds.
pub fn parse_duration(s: &str) -> Result<i64, String> {
    let s = s.trim();
    let (num, unit) = match s.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((i, _)) => s.split_at(i),
        None => (s, "s"),
    };
    let n: i64 = num
        .parse()
        .map_err(|_| format!("`{s}` is not a duration (e.g. 90s, 30m, 24h, 7d)"))?;
    let mult = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(format!("`{s}`: the unit must be s, m, h or d")),
    };
    match n.checked_mul(mult) {
        Some(v) if v > 0 => Ok(v),
        _ => Err(format!("`{s}` must be a positive duration")),
    }
}
