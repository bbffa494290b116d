//! Progress renderers: bars on a terminal, plain lines otherwise, nothing when asked.

use std::io::IsTerminal;
use std::sync::Mutex;

use indicatif::{ProgressBar, ProgressStyle};

use ferry::progress::Progress;

/// Renders progress on stderr.
pub struct Renderer {
    bar: Mutex<Option<ProgressBar>>,
    tty: bool,
    quiet: bool,
}

impl Renderer {
    /// A renderer: bars when stderr is a terminal, lines otherwise; `quiet` (with `--json`,
    /// whose report says everything) shows nothing.
    pub fn new(quiet: bool) -> Self {
        Renderer {
            bar: Mutex::new(None),
            tty: std::io::stderr().is_terminal(),
            quiet,
        }
    }
}

impl Progress for Renderer {
    fn start(&self, phase: &str, total: Option<u64>) {
        if self.quiet {
            return;
        }
        if self.tty {
            let bar = match total {
                Some(t) => ProgressBar::new(t),
                None => ProgressBar::new_spinner(),
            };
            let style = if phase == "resolve" {
                "{prefix:>8} [{bar:30}] {pos}/{len} {msg}"
            } else {
                "{prefix:>8} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta} {msg}"
            };
            bar.set_style(
                ProgressStyle::with_template(style)
                    .unwrap_or_else(|_| ProgressStyle::default_bar())
                    .progress_chars("=> "),
            );
            bar.set_prefix(phase.to_string());
            *self.bar.lock().expect("lock") = Some(bar);
        } else {
            match total {
                Some(t) => eprintln!("{phase}: {t} to do"),
                None => eprintln!("{phase}"),
            }
        }
    }

    fn advance(&self, n: u64) {
        if let Some(b) = self.bar.lock().expect("lock").as_ref() {
            b.inc(n);
        }
    }

    fn note(&self, message: &str) {
        if self.quiet {
            return;
        }
        match self.bar.lock().expect("lock").as_ref() {
            Some(b) => b.println(message),
            None => eprintln!("{message}"),
        }
    }

    fn finish(&self) {
        if let Some(b) = self.bar.lock().expect("lock").take() {
            b.finish_and_clear();
        }
    }
}
