//! Progress renderers on stderr: bars on a terminal; without one, a line when a phase starts,
//! one every interval (percent, bytes, rate, ETA; `FERRY_PROGRESS_INTERVAL_MS`, default 5 s)
//! and one when it ends; JSON lines events with `--progress=json`; or nothing.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressState, ProgressStyle};

use super::events::{self, Mode};
use super::human;
use ferry::progress::Progress;

/// The phase under way.
struct Phase {
    name: String,
    total: Option<u64>,
    started: Instant,
    /// What the phase counts, when not bytes (`images` for `resolve`).
    items: Option<&'static str>,
}

/// What the renderer and its ticker share.
struct Shared {
    mode: Mode,
    phase: Mutex<Option<Phase>>,
    done: AtomicU64,
    /// Bytes of every phase so far (not items).
    bytes: AtomicU64,
    bar: Mutex<Option<ProgressBar>>,
    stop: Mutex<bool>,
    wake: Condvar,
}

/// Renders progress on stderr.
pub struct Renderer {
    shared: Arc<Shared>,
    ticker: Option<JoinHandle<()>>,
}

impl Renderer {
    /// A renderer in the mode `--progress` asks for; `report_on_stdout` (`--json`, whose report
    /// says everything) shows nothing unless `--progress` names a mode.
    pub fn new(report_on_stdout: bool) -> Self {
        let mode = events::mode(report_on_stdout);
        let shared = Arc::new(Shared {
            mode,
            phase: Mutex::new(None),
            done: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            bar: Mutex::new(None),
            stop: Mutex::new(false),
            wake: Condvar::new(),
        });
        let ticker = matches!(mode, Mode::Plain | Mode::Json).then(|| {
            let s = Arc::clone(&shared);
            std::thread::spawn(move || s.tick_every(events::interval()))
        });
        Renderer { shared, ticker }
    }

    /// Bytes done over every phase so far (phases that count items left out).
    pub fn bytes(&self) -> u64 {
        self.shared.bytes.load(Ordering::Relaxed)
    }
}

impl Drop for Renderer {
    fn drop(&mut self) {
        *self.shared.stop.lock().expect("lock") = true;
        self.shared.wake.notify_all();
        if let Some(t) = self.ticker.take() {
            let _ = t.join();
        }
    }
}

/// What a phase counts when not bytes.
fn items_of(phase: &str) -> Option<&'static str> {
    (phase == "resolve").then_some("images")
}

impl Shared {
    /// Reports the current phase every `interval` until stopped.
    fn tick_every(&self, interval: Duration) {
        loop {
            let stop = self.stop.lock().expect("lock");
            let (stop, _) = self
                .wake
                .wait_timeout_while(stop, interval, |s| !*s)
                .expect("lock");
            if *stop {
                return;
            }
            drop(stop);
            if let Some(p) = self.phase.lock().expect("lock").as_ref() {
                self.report(p);
            }
        }
    }

    /// One progress line or event for phase `p`.
    fn report(&self, p: &Phase) {
        let done = self.done.load(Ordering::Relaxed);
        let elapsed = p.started.elapsed();
        if self.mode == Mode::Json {
            let mut f = counts(p, done);
            if p.items.is_none() {
                f["bytes_per_sec"] = human::per_second(done, elapsed).into();
            }
            if let Some(t) = p.total {
                f["percent"] = human::percent(done, t).into();
                if let Some(eta) = human::eta_secs(done, t, elapsed) {
                    f["eta_secs"] = eta.into();
                }
            }
            events::emit("progress", f);
            return;
        }
        let line = match (p.items, p.total) {
            (Some(unit), Some(t)) => format!(
                "{}: {}% {done} of {t} {unit}, {} elapsed",
                p.name,
                human::percent(done, t),
                human::duration(elapsed)
            ),
            (Some(unit), None) => format!("{}: {done} {unit}", p.name),
            (None, Some(t)) => format!(
                "{}: {}% {} of {}, {}, {}",
                p.name,
                human::percent(done, t),
                human::size(done),
                human::size(t),
                human::rate(done, elapsed),
                human::eta(done, t, elapsed)
            ),
            (None, None) => format!(
                "{}: {}, {}",
                p.name,
                human::size(done),
                human::rate(done, elapsed)
            ),
        };
        events::line(&line);
    }
}

/// The fields every event of phase `p` carries: phase, unit, done and total.
fn counts(p: &Phase, done: u64) -> serde_json::Value {
    let mut f = serde_json::json!({
        "phase": p.name,
        "unit": p.items.unwrap_or("bytes"),
        "done": done,
    });
    if let Some(t) = p.total {
        f["total"] = t.into();
    }
    f
}

/// The bar for a phase on a terminal, sizes and rates in [`human`]'s units.
fn bar(phase: &str, total: Option<u64>) -> ProgressBar {
    let bar = match total {
        Some(t) => ProgressBar::new(t),
        None => ProgressBar::new_spinner(),
    };
    let template = if items_of(phase).is_some() {
        "{prefix:>8} [{bar:30}] {pos}/{len} {msg}"
    } else {
        "{prefix:>8} [{bar:30}] {hbytes}/{htotal} {hrate} eta {eta} {msg}"
    };
    let style = ProgressStyle::with_template(template)
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .with_key(
            "hbytes",
            |s: &ProgressState, w: &mut dyn std::fmt::Write| {
                let _ = w.write_str(&human::size(s.pos()));
            },
        )
        .with_key(
            "htotal",
            |s: &ProgressState, w: &mut dyn std::fmt::Write| {
                let _ = w.write_str(&human::size(s.len().unwrap_or(0)));
            },
        )
        .with_key("hrate", |s: &ProgressState, w: &mut dyn std::fmt::Write| {
            let _ = w.write_str(&human::rate(s.pos(), s.elapsed()));
        })
        .progress_chars("=> ");
    bar.set_style(style);
    bar.set_prefix(phase.to_string());
    bar
}

impl Progress for Renderer {
    fn start(&self, phase: &str, total: Option<u64>) {
        let s = &self.shared;
        let p = Phase {
            name: phase.to_string(),
            total,
            started: Instant::now(),
            items: items_of(phase),
        };
        s.done.store(0, Ordering::Relaxed);
        match s.mode {
            Mode::None => {}
            Mode::Tty => *s.bar.lock().expect("lock") = Some(bar(phase, total)),
            Mode::Json => events::emit("start", counts(&p, 0)),
            _ => match (p.items, total) {
                (Some(unit), Some(t)) => events::line(&format!("{phase}: {t} {unit} to do")),
                (None, Some(t)) => events::line(&format!("{phase}: {} to do", human::size(t))),
                _ => events::line(phase),
            },
        }
        *s.phase.lock().expect("lock") = Some(p);
    }

    fn advance(&self, n: u64) {
        let s = &self.shared;
        s.done.fetch_add(n, Ordering::Relaxed);
        if let Some(b) = s.bar.lock().expect("lock").as_ref() {
            b.inc(n);
        }
    }

    fn note(&self, message: &str) {
        let s = &self.shared;
        match s.mode {
            Mode::None => {}
            Mode::Json => events::say("", message),
            _ => match s.bar.lock().expect("lock").as_ref() {
                Some(b) => b.println(message),
                None => events::line(message),
            },
        }
    }

    fn finish(&self) {
        let s = &self.shared;
        if let Some(b) = s.bar.lock().expect("lock").take() {
            b.finish_and_clear();
        }
        let Some(p) = s.phase.lock().expect("lock").take() else {
            return;
        };
        let done = s.done.load(Ordering::Relaxed);
        if p.items.is_none() {
            s.bytes.fetch_add(done, Ordering::Relaxed);
        }
        let elapsed = p.started.elapsed();
        match (s.mode, p.items) {
            (Mode::Json, _) => {
                let mut f = counts(&p, done);
                f["phase_ms"] = (elapsed.as_millis() as u64).into();
                events::emit("finish", f);
            }
            (Mode::None, _) => {}
            (_, Some(unit)) => events::line(&format!(
                "{}: done, {done} {unit} in {}",
                p.name,
                human::duration(elapsed)
            )),
            (_, None) => events::line(&format!(
                "{}: done, {} in {} ({})",
                p.name,
                human::size(done),
                human::duration(elapsed),
                human::rate(done, elapsed)
            )),
        }
    }
}
