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
pub mod inspect;
pub mod mirrorset;
pub mod model;
pub mod naming;
pub mod pack;
pub mod parallel;
pub mod progress;
pub mod push;
pub mod registry;
pub mod sign;
pub mod source;
pub mod target;
