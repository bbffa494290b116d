//! Where progress and messages go on stderr: chosen once per run (`--progress`), then used by the
//! progress renderer and by every warning, note and error the CLI prints.
//!
//! With `--progress=json` every stderr line is one JSON object (an event): `start`, `progress`,
//! `finish` of a phase, `note` (warnings, notes, hints, errors, with a `level`) and `end` (the
//! exit code), each with the `command` and `elapsed_ms` since the command started.

use std::io::{IsTerminal, Write};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::{Map, Value};

use super::args::ProgressArg;

/// Environment variable: milliseconds between two progress lines (or `progress` events) when
/// stderr is not a terminal. Default [`DEFAULT_INTERVAL`].
pub const INTERVAL_ENV: &str = "FERRY_PROGRESS_INTERVAL_MS";

/// Time between two progress lines without a terminal.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(5);

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Progress bars (indicatif).
    Tty,
    /// A plain line when a phase starts, every interval, and when it ends.
    Plain,
    /// JSON lines events.
    Json,
    /// Nothing.
    None,
}

/// The run's choice, set once by [`init`].
struct Config {
    arg: ProgressArg,
    command: &'static str,
    started: Instant,
    interval: Duration,
}

static CONFIG: OnceLock<Config> = OnceLock::new();

fn config() -> &'static Config {
    CONFIG.get_or_init(|| Config {
        arg: ProgressArg::Auto,
        command: "ferry",
        started: Instant::now(),
        interval: DEFAULT_INTERVAL,
    })
}

/// Records how this run shows progress, the command's name and when it started.
pub fn init(arg: ProgressArg, command: &'static str) {
    let interval = std::env::var(INTERVAL_ENV)
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .filter(|&ms| ms > 0)
        .map(Duration::from_millis)
        .unwrap_or(DEFAULT_INTERVAL);
    let _ = CONFIG.set(Config {
        arg,
        command,
        started: Instant::now(),
        interval,
    });
}

/// The progress mode for a command; `report_on_stdout` (`--json`) makes `auto` show nothing,
/// as the report says everything.
pub fn mode(report_on_stdout: bool) -> Mode {
    match config().arg {
        ProgressArg::Auto if report_on_stdout => Mode::None,
        ProgressArg::Auto if std::io::stderr().is_terminal() => Mode::Tty,
        ProgressArg::Auto | ProgressArg::Plain => Mode::Plain,
        ProgressArg::Tty => Mode::Tty,
        ProgressArg::Json => Mode::Json,
        ProgressArg::None => Mode::None,
    }
}

/// Whether stderr carries JSON lines (`--progress=json`).
pub fn json() -> bool {
    config().arg == ProgressArg::Json
}

/// Time between two progress lines without a terminal.
pub fn interval() -> Duration {
    config().interval
}

/// Time since the command started.
pub fn elapsed() -> Duration {
    config().started.elapsed()
}

/// Writes one event line on stderr: `event`, `command`, `elapsed_ms`, then `fields`.
pub fn emit(event: &str, fields: Value) {
    let mut m = Map::new();
    m.insert("event".into(), event.into());
    m.insert("command".into(), config().command.into());
    m.insert("elapsed_ms".into(), (elapsed().as_millis() as u64).into());
    if let Value::Object(f) = fields {
        m.extend(f);
    }
    line(&Value::Object(m).to_string());
}

/// Writes `text` and a newline on stderr; a closed or failing stderr is ignored (unlike
/// `eprintln!`, which panics), as there is nowhere left to tell.
pub fn line(text: &str) {
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "{text}");
}

/// Tells the user something on stderr: `level: text` (just `text` when `level` is empty), or a
/// `note` event with that level (`info` when empty) under `--progress=json`.
pub fn say(level: &str, text: &str) {
    if json() {
        let level = if level.is_empty() { "info" } else { level };
        emit(
            "note",
            serde_json::json!({ "level": level, "message": text }),
        );
    } else if level.is_empty() {
        line(text);
    } else {
        line(&format!("{level}: {text}"));
    }
}

/// The command is over: an `end` event with its exit code under `--progress=json`.
pub fn end(exit_code: i32) {
    if json() {
        emit("end", serde_json::json!({ "exit_code": exit_code }));
    }
}
