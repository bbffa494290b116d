//! The command-line layer: arguments in, library calls, human or JSON output, exit codes.
//! Errors get their context here (anyhow); the library's errors are typed.
//!
//! Modules depend one way: this one dispatches to the commands; the commands use `args`,
//! `common`, `events`, `human` and `progress`, never each other.

/// `println!` that never panics on a closed stdout (see [`common::write_stdout`]); evaluates
/// to an `io::Result<()>`.
macro_rules! outln {
    ($($arg:tt)*) => {
        $crate::cli::common::write_stdout(format_args!("{}\n", format_args!($($arg)*)))
    };
}

mod args;
mod commands;
mod common;
mod docs;
mod events;
mod export;
mod human;
mod inventory;
mod logger;
mod progress;
mod push;
mod serve;
mod setup;

use anyhow::Result;
use clap::Parser;

use args::{Cli, Command};
use common::{UsageError, EXIT_ERROR, EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE};

/// Runs the CLI with the process's arguments and returns the exit code.
pub fn main() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { EXIT_USAGE } else { EXIT_OK };
            let _ = e.print();
            return code;
        }
    };
    events::init(cli.progress, command_name(&cli.command));
    logger::init(cli.verbose);
    let code = match run(cli.command) {
        Ok(code) => code,
        Err(e) => {
            // A closed stdout is not an error (`common::write_stdout`): nothing to catch here.
            events::say("error", &format!("{e:#}"));
            exit_code(&e)
        }
    };
    events::end(code);
    code
}

/// The command's name, as events name it.
fn command_name(cmd: &Command) -> &'static str {
    match cmd {
        Command::Keygen(_) => "keygen",
        Command::Pack(_) => "pack",
        Command::Verify(_) => "verify",
        Command::Inspect(_) => "inspect",
        Command::Push(_) => "push",
        Command::Mirrorsets(_) => "mirrorsets",
        Command::Check(_) => "check",
        Command::Inventory(_) => "inventory",
        Command::Export(_) => "export",
        Command::Serve(_) => "serve",
        Command::Setup(_) => "setup",
        Command::Completions(_) => "completions",
        Command::Man(_) => "man",
    }
}

/// The exit code of an error: 2 for an unusable value on the command line, 3 for damage to
/// the bundle's files (a volume missing, truncated or malformed: copy it again), else 1.
fn exit_code(e: &anyhow::Error) -> i32 {
    for c in e.chain() {
        if c.is::<UsageError>()
            || matches!(
                c.downcast_ref::<ferry::pack::PackError>(),
                Some(ferry::pack::PackError::Options(_))
            )
        {
            return EXIT_USAGE;
        }
        if c.downcast_ref::<ferry::bundle::BundleError>()
            .is_some_and(|b| b.is_damage())
            || c.downcast_ref::<ferry::bundle::volume::VolumeError>()
                .is_some_and(|v| !matches!(v, ferry::bundle::volume::VolumeError::Io { .. }))
        {
            return EXIT_PROBLEMS;
        }
    }
    EXIT_ERROR
}

/// Runs one command; returns the exit code.
fn run(cmd: Command) -> Result<i32> {
    match cmd {
        Command::Keygen(a) => commands::keygen(a),
        Command::Pack(a) => commands::pack(a),
        Command::Verify(a) => commands::verify(a),
        Command::Inspect(a) => commands::inspect(a),
        Command::Push(a) => push::push(a),
        Command::Mirrorsets(a) => commands::mirrorsets(a),
        Command::Check(a) => commands::check(a),
        Command::Inventory(a) => inventory::inventory(a),
        Command::Export(a) => export::export(a),
        Command::Serve(a) => serve::serve(a),
        Command::Setup(a) => setup::setup(a),
        Command::Completions(a) => docs::completions(a),
        Command::Man(a) => docs::man(a),
    }
}
