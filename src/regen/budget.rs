//! The memory rebuilds may use at once, shared by every rebuild in the process.
//!
//! One rebuild holds about [`PER_PLAIN_BYTE`] times its largest piece of content (the engine's
//! copy of the piece, the tokens it recreates, the compressed output): with pieces of up to
//! [`super::PIECE_PLAIN_LIMIT`] that is several hundred MiB, so the number of rebuilds running
//! side by side is set by memory, not by `--jobs`. A rebuild reserves its estimate from
//! [`REBUILD_BUDGET`] before it starts and gives it back when it ends; small layers rebuild
//! side by side, large ones one after another. A rebuild larger than the whole budget runs
//! alone.

use std::sync::{Condvar, Mutex};

use super::recipe::Recipe;

/// The memory all rebuilds of the process may hold at once (640 MiB), so that a push or a
/// serve that rebuilds layers stays within 1 GiB with everything else it holds.
pub const REBUILD_BUDGET: u64 = 640 << 20;

/// Bytes of memory one rebuild holds per byte of its largest piece of content (measured with
/// pieces of 128 MiB: the engine's copy of the piece, its tokens and the compressed output).
pub const PER_PLAIN_BYTE: u64 = 4;

/// Memory a rebuild holds besides its pieces (buffers, the engine's tables).
const FIXED: u64 = 8 << 20;

static RESERVED: Mutex<u64> = Mutex::new(0);
static RELEASED: Condvar = Condvar::new();

/// A share of [`REBUILD_BUDGET`], held while a rebuild runs and given back on drop.
#[derive(Debug)]
pub struct Reservation {
    bytes: u64,
}

/// The memory a rebuild of `recipe` holds, by its largest piece.
pub fn estimate(recipe: &Recipe) -> u64 {
    if recipe.engine == super::shape::SHAPE_ENGINE {
        // One block's tokens and the readers' buffers, whatever the layer's size.
        return FIXED + SHAPE_BYTES;
    }
    let largest = recipe.pieces.iter().map(|p| p.plain_len).max().unwrap_or(0);
    largest.saturating_mul(PER_PLAIN_BYTE).saturating_add(FIXED)
}

/// What a shape rebuild holds besides [`FIXED`]: its readers' buffers and one block (8 MiB).
const SHAPE_BYTES: u64 = 8 << 20;

/// Waits until `bytes` fit in the budget beside the rebuilds running, and reserves them; a
/// reservation larger than the budget waits until nothing else is reserved.
pub fn reserve(bytes: u64) -> Reservation {
    let bytes = bytes.min(REBUILD_BUDGET);
    let mut reserved = RESERVED.lock().unwrap_or_else(|e| e.into_inner());
    while *reserved + bytes > REBUILD_BUDGET {
        reserved = RELEASED.wait(reserved).unwrap_or_else(|e| e.into_inner());
    }
    *reserved += bytes;
    Reservation { bytes }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        let mut reserved = RESERVED.lock().unwrap_or_else(|e| e.into_inner());
        *reserved -= self.bytes;
        RELEASED.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Arc;
    use std::thread;
    use std::time::Duration;

    use super::*;

    #[test]
    fn reservations_never_exceed_the_budget_and_all_complete() {
        let held = Arc::new(AtomicU64::new(0));
        let peak = Arc::new(AtomicU64::new(0));
        let sizes = [
            REBUILD_BUDGET / 2,
            REBUILD_BUDGET,
            REBUILD_BUDGET * 3,
            1 << 20,
        ];
        let threads: Vec<_> = (0..8)
            .map(|i| {
                let (held, peak) = (held.clone(), peak.clone());
                let want = sizes[i % sizes.len()];
                thread::spawn(move || {
                    let r = reserve(want);
                    let now = held.fetch_add(r.bytes, Ordering::SeqCst) + r.bytes;
                    peak.fetch_max(now, Ordering::SeqCst);
                    thread::sleep(Duration::from_millis(5));
                    held.fetch_sub(r.bytes, Ordering::SeqCst);
                })
            })
            .collect();
        for t in threads {
            t.join().expect("no reservation thread panics");
        }
        let peak = peak.load(Ordering::SeqCst);
        assert!(peak <= REBUILD_BUDGET, "peak {peak} over the budget");
        assert!(peak >= REBUILD_BUDGET / 2, "nothing ran: peak {peak}");
        // Everything was given back: the whole budget can be reserved again.
        drop(reserve(REBUILD_BUDGET));
    }
}
