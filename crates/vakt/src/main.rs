//! `vakt`: the one binary of the vakt detection and breach-response engine.
//! Argument handling, the terminal and output; everything else is in the
//! library crates (`vakt-detect`'s pipeline above all).

#![forbid(unsafe_code)]

mod beacons;
mod case;
mod cli;
mod cluster;
mod demo;
mod demo_serve;
mod hunt;
mod ingest;
mod input;
mod intel;
mod keys;
mod log;
mod rules;
mod serve;
mod setup;
mod sim;
mod stats;
mod store;

use std::process::ExitCode;

use clap::Parser;

use crate::cli::{Cli, Command};

fn main() -> ExitCode {
    let cli = Cli::parse();
    log::init(cli.log_format, cli.command.quiet());
    match dispatch(cli.command) {
        Ok(code) => code,
        // A reader that went away (`vakt ingest … | head`) is not an error.
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}

/// Runs a subcommand.
fn dispatch(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Ingest(args) => ingest::run(args),
        Command::Stats(args) => stats::run(args),
        Command::Hunt(args) => hunt::run(*args),
        Command::Rules(cli::RulesCommand::Check(args)) => rules::check(args),
        Command::Sim(args) => sim::run(args),
        Command::Demo(args) => demo::run(args),
        Command::Beacons(args) => beacons::run(args),
        Command::Store(c) => store::run(c),
        Command::Intel(c) => intel::run(c),
        Command::Incidents(a) => case::run_incidents(a),
        Command::Scope(a) => case::run_scope(a),
        Command::Report(a) => case::run_report(a),
        Command::Serve(a) => serve::run(*a),
        Command::Token(c) => serve::run_token(c),
        Command::User(c) => serve::run_user(c),
        Command::Audit(c) => serve::run_audit(c),
        Command::Cluster(c) => cluster::run(c),
    }
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
