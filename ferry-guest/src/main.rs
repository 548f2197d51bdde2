//! `ferry-guest`: the guest side of ferry's agent channel.
//!
//! - `ferry-guest watch MOUNT` attaches to the virtio-fs mount's agent node and replays every
//!   host change ferryd reports through the guest's own VFS, so that the guest drops what it
//!   cached and fires the inotify events a local change would (see [`replay`]).
//! - `ferry-guest inotify DIR` is a small recursive inotify watcher that prints one line per
//!   event (`<monotonic ms> <EVENTS> <path>`), for tests and for seeing what watchers see.

mod inotify;
mod replay;
mod sys;
mod watch;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Replay host changes into the guest for the virtio-fs mount at MOUNT (foreground)
    Watch {
        mount: PathBuf,
        /// Longest pause between two reads when nothing changes, against a daemon that answers
        /// an empty read at once instead of holding it (ms; at most 1000)
        #[arg(long, default_value_t = 50)]
        idle_ms: u64,
        /// Print each change and what replaying it did
        #[arg(short, long)]
        verbose: bool,
    },
    /// Print inotify events under DIR, recursively, one per line
    Inotify { dir: PathBuf },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let res = match cli.cmd {
        Cmd::Watch {
            mount,
            idle_ms,
            verbose,
        } => watch::run(
            &mount,
            Duration::from_millis(idle_ms.clamp(1, 1000)),
            verbose,
        ),
        Cmd::Inotify { dir } => inotify::run(&dir),
    };
    match res {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ferry-guest: {e}");
            ExitCode::FAILURE
        }
    }
}
