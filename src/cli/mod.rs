//! The command-line layer: arguments in, library calls, human or JSON output, exit codes.
//! Errors get their context here (anyhow); the library's errors are typed.
//!
//! Modules depend one way: this one dispatches to the commands; the commands use `args`,
//! `common` and `progress`, never each other.

mod args;
mod commands;
mod common;
mod docs;
mod export;
mod logger;
mod progress;
mod push;
mod setup;

use anyhow::Result;
use clap::Parser;

use args::{Cli, Command};
use common::{EXIT_ERROR, EXIT_OK, EXIT_USAGE};

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
    logger::init(cli.verbose);
    match run(cli.command) {
        Ok(code) => code,
        Err(e) => {
            // A closed pipe (`ferry inspect | head`) is not an error worth a message.
            if e.chain().any(|c| {
                c.downcast_ref::<std::io::Error>()
                    .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            }) {
                return EXIT_OK;
            }
            eprintln!("error: {e:#}");
            EXIT_ERROR
        }
    }
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
        Command::Export(a) => export::export(a),
        Command::Setup(a) => setup::setup(a),
        Command::Completions(a) => docs::completions(a),
        Command::Man(a) => docs::man(a),
    }
}
