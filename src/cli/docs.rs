//! `ferry completions SHELL` and `ferry man`: generated from the same clap definitions that parse
//! the arguments, so they never disagree with `--help`.

use anyhow::{bail, Result};
use clap::CommandFactory;

use super::args::{Cli, CompletionsArgs, ManArgs, ShellArg};
use super::common::EXIT_OK;

/// Runs `ferry completions`: the script on stdout.
pub(super) fn completions(a: CompletionsArgs) -> Result<i32> {
    use clap_complete::Shell;
    let shell = match a.shell {
        ShellArg::Bash => Shell::Bash,
        ShellArg::Zsh => Shell::Zsh,
        ShellArg::Fish => Shell::Fish,
    };
    let mut out = std::io::stdout().lock();
    clap_complete::generate(shell, &mut Cli::command(), "ferry", &mut out);
    Ok(EXIT_OK)
}

/// Runs `ferry man`: ferry(1), or ferry-COMMAND(1), as roff on stdout.
pub(super) fn man(a: ManArgs) -> Result<i32> {
    let mut cmd = Cli::command();
    cmd.build();
    let man = match &a.command {
        None => clap_mangen::Man::new(cmd),
        Some(name) => match cmd.find_subcommand(name) {
            Some(sub) => {
                clap_mangen::Man::new(sub.clone()).title(format!("ferry-{}", sub.get_name()))
            }
            None => bail!(
                "no command {name:?}; commands: {}",
                cmd.get_subcommands()
                    .map(|c| c.get_name())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        },
    };
    let mut out = std::io::stdout().lock();
    man.render(&mut out)?;
    Ok(EXIT_OK)
}
