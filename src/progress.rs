//! Progress reporting, as the library sees it: a small trait the CLI implements with progress
//! bars on a terminal, plain lines otherwise, or nothing at all.

/// Receives progress of long work.
pub trait Progress: Sync {
    /// A phase starts, with a total in bytes (or items) when known.
    fn start(&self, phase: &str, total: Option<u64>);
    /// `n` more units of the current phase are done.
    fn advance(&self, n: u64);
    /// A line worth telling the user (an image done, a retry).
    fn note(&self, message: &str);
    /// The current phase is over.
    fn finish(&self);
}

/// Progress that goes nowhere.
#[derive(Debug, Default, Clone, Copy)]
pub struct Silent;

impl Progress for Silent {
    fn start(&self, _: &str, _: Option<u64>) {}
    fn advance(&self, _: u64) {}
    fn note(&self, _: &str) {}
    fn finish(&self) {}
}
