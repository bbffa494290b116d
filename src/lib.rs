//! ferry: carry container images across an air gap.
//!
//! The library holds everything the `ferry` binary does, with typed errors; the binary (whose
//! `cli` module is not part of the library) only parses arguments, calls into it, prints the
//! outcome and maps it to an exit code. Lints are set in `Cargo.toml`.

pub mod bundle;
pub mod check;
pub mod chunk;
pub mod export;
pub mod flavor;
#[cfg(test)]
mod fuzz;
pub mod inspect;
pub mod inventory;
pub mod layerdelta;
pub mod mirrorset;
pub mod model;
pub mod naming;
pub mod pack;
pub mod parallel;
pub mod progress;
pub mod push;
pub mod regen;
pub mod registry;
pub mod serve;
pub mod sign;
pub mod source;
pub mod target;
pub mod units;

/// An error and its causes in one line, `error: cause: cause`, each cause once (an error
/// either shows its cause in its message or returns it as its source, never both): for
/// reports that carry an error as text, such as a failed image's `error`.
pub fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut s = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cause = c.source();
    }
    s
}

/// An I/O error without the name of the temporary file that `tempfile` adds to it (`… at
/// path "/dir/.tmpXYZ"`): messages name the file the user knows, and what the system said.
pub(crate) fn hide_temp_path(e: std::io::Error) -> std::io::Error {
    if e.raw_os_error().is_some() {
        return e;
    }
    let text = e.to_string();
    match text.find(" at path \"") {
        Some(at) => std::io::Error::new(e.kind(), text[..at].to_string()),
        None => e,
    }
}
