//! The vocabulary shared by every part of ferry: digests, image references, media types.

pub mod civil;
mod digest;
pub mod graph;
pub mod labels;
pub mod manifest;
pub mod media_type;
mod reference;
pub mod referrers;

pub use digest::{Digest, DigestAlgorithm, DigestError, DigestingReader, Hasher};
pub use media_type::MediaType;
pub use reference::{Reference, ReferenceError, DEFAULT_REGISTRY, MAX_NAME_LEN};

/// Whether `c` is a valid repository path component (`[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`).
pub fn reference_component_is_valid(c: &str) -> bool {
    reference::valid_component(c)
}
