//! The command-line layer: arguments in, library calls, human or JSON output, exit codes.
//! Errors get their context here (anyhow); the library's errors are typed.

mod args;
mod commands;
mod logger;
mod progress;
mod setup;

use clap::Parser;

pub use args::{parse_size, Cli, Command};

/// Exit code: success.
pub const EXIT_OK: i32 = 0;
/// Exit code: an error stopped the work.
pub const EXIT_ERROR: i32 = 1;
/// Exit code: usage error.
pub const EXIT_USAGE: i32 = 2;
/// Exit code: the work ran and found problems (damage, failed images, missing images).
pub const EXIT_PROBLEMS: i32 = 3;

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
    match commands::run(cli.command) {
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
