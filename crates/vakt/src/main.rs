//! `vakt`: the one binary of the vakt detection and breach-response engine.

#![forbid(unsafe_code)]

mod beacons;
mod case;
mod cli;
mod demo;
mod hunt;
mod ingest;
mod intel;
mod keys;
mod ordered;
mod quarantine;
mod rules;
mod run;
mod sim;
mod stats;
mod store;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    match run::dispatch(cli) {
        Ok(code) => code,
        // A reader that went away (`vakt ingest … | head`) is not an error.
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("vakt: error: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
