//! `-v`: the library's request traces (method, URL, status; never headers or bodies) on stderr.

use log::{Level, LevelFilter, Metadata, Record};

struct Stderr;

impl log::Log for Stderr {
    fn enabled(&self, m: &Metadata<'_>) -> bool {
        m.target().starts_with("ferry")
    }

    fn log(&self, r: &Record<'_>) {
        if self.enabled(r.metadata()) {
            let level = match r.level() {
                Level::Error => "error",
                Level::Warn => "warning",
                Level::Info => "info",
                Level::Debug => "debug",
                Level::Trace => "trace",
            };
            super::events::say(level, &r.args().to_string());
        }
    }

    fn flush(&self) {}
}

/// Installs the stderr logger: warnings by default, debug with `-v`, trace with `-vv`.
pub fn init(verbosity: u8) {
    static LOGGER: Stderr = Stderr;
    let level = match verbosity {
        0 => LevelFilter::Warn,
        1 => LevelFilter::Debug,
        _ => LevelFilter::Trace,
    };
    if log::set_logger(&LOGGER).is_ok() {
        log::set_max_level(level);
    }
}
