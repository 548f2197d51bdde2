//! `ferry`: the ferry command-line tool. Its one subcommand, `ferry bench`, drives
//! vhost-user-fs daemons through ferry-guest-client (no VM) and compares them.

mod cli;
mod daemon;
mod engine;
mod ops;
mod plot;
mod prepare;
mod procfs;
mod report;
mod run;
mod workloads;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    let res = match cli.command {
        cli::Command::Bench(args) => run::bench(*args),
    };
    match res {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ferry: {e}");
            ExitCode::FAILURE
        }
    }
}
