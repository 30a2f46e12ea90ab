//! The command line.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

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
}

/// Input options shared by every command that reads logs.
#[derive(Debug, Args)]
pub struct InputArgs {
    /// Files or folders (walked recursively); .gz and .zip are opened transparently.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// The input format; `auto` sniffs each file's content.
    #[arg(long, value_enum, default_value_t = InputFormat::Auto)]
    pub input_format: InputFormat,
    /// Write the raw bytes of rejected records to this folder, with an index.jsonl saying where each came from.
    #[arg(long, value_name = "DIR")]
    pub quarantine: Option<PathBuf>,
    /// The tenant (health trust) these logs belong to.
    #[arg(long, default_value = "default")]
    pub tenant: String,
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
