//! `vakt`: the one binary of the vakt detection and breach-response engine.

#![forbid(unsafe_code)]

mod cli;
mod ingest;
mod ordered;
mod quarantine;
mod run;
mod stats;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    match run::dispatch(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("vakt: error: {e:#}");
            ExitCode::from(1)
        }
    }
}
