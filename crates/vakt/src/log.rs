//! Diagnostics through `tracing`: for a person, one line each on standard
//! error (`vakt: rejected: conn.log: line 67: …`); for machines, with
//! `--log-format json`, one JSON object each (time, level, target,
//! message). `--quiet` keeps only errors. Summaries of what a command did
//! are not diagnostics: they stay plain text.

use std::fmt;

use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::{FormatEvent, FormatFields, Writer};
use tracing_subscriber::fmt::{FmtContext, FormattedFields};
use tracing_subscriber::registry::LookupSpan;

/// How diagnostics are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// `vakt: …` lines for people.
    Text,
    /// One JSON object per line.
    Json,
}

/// `vakt: message`, as the command line has always said it.
struct Plain;

impl<S, N> FormatEvent<S, N> for Plain
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut w: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        write!(w, "vakt: ")?;
        if let Some(scope) = ctx.event_scope() {
            for span in scope.from_root() {
                if let Some(f) = span.extensions().get::<FormattedFields<N>>()
                    && !f.is_empty()
                {
                    write!(w, "{f}: ")?;
                }
            }
        }
        ctx.field_format().format_fields(w.by_ref(), event)?;
        writeln!(w)
    }
}

/// Starts writing diagnostics; `quiet` keeps only errors.
pub fn init(format: LogFormat, quiet: bool) {
    let level = if quiet {
        tracing::Level::ERROR
    } else {
        tracing::Level::INFO
    };
    let builder = tracing_subscriber::fmt()
        .with_max_level(level)
        .with_writer(std::io::stderr)
        .with_ansi(false);
    let _ = match format {
        LogFormat::Text => builder.event_format(Plain).try_init(),
        LogFormat::Json => builder.json().with_current_span(false).try_init(),
    };
}
