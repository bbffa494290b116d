//! `ferry serve`: verified bundles answered as a read-only OCI distribution registry.
//!
//! Nothing is extracted: manifests come from the signed roots (exact bytes), blobs are rebuilt
//! from their chunks as they are sent, every chunk checked and the whole blob hashed on the way,
//! and a blob that does not hash to its digest is cut off before its last bytes, so a client
//! never holds wrong bytes that look complete. Each image answers under its upstream name
//! (`quay.io/org/app`) and under its passthrough mirror name (`mirror/quay.io/org/app`, from
//! [`crate::naming`]). Anything that writes answers 405.
//!
//! Files depend one way: `server` (listener, TLS, workers, stop) → `api` (the distribution
//! routes) → `accept` (manifest content negotiation, as distribution does it), `catalog`
//! (repositories → bundles), `http` (request heads, replies), `auth` (htpasswd).

mod accept;
mod api;
mod auth;
mod catalog;
mod http;
mod server;
mod spool;

use std::path::PathBuf;

pub use auth::Htpasswd;
pub use catalog::{Catalog, SpoolConfig, DEFAULT_SPOOL_LIMIT};
pub use server::{AccessEntry, ServeOptions, Server, TlsFiles};

/// Why the server cannot start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// A file could not be read.
    #[error("reading {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// An htpasswd line is not a bcrypt entry.
    #[error("{path} line {line}: {message}")]
    Htpasswd {
        /// The htpasswd file.
        path: PathBuf,
        /// Its 1-based line number.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// The TLS certificate or key is unusable.
    #[error("{path}: {message}")]
    Pem {
        /// The PEM file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// rustls refused the certificate and key.
    #[error("TLS certificate and key: {0}")]
    Tls(#[from] rustls::Error),
    /// The listening socket could not be opened.
    #[error("listening on {addr}: {source}")]
    Listen {
        /// The address asked for.
        addr: String,
        /// Why.
        source: std::io::Error,
    },
    /// An image of a bundle cannot be served.
    #[error("bundle {bundle}, image {image}: {message}")]
    Image {
        /// The bundle id.
        bundle: String,
        /// The image's upstream name.
        image: String,
        /// Why.
        message: String,
    },
    /// An incremental bundle's base is not among the bundles served.
    #[error("{}", base_missing_message(.bundle, .missing))]
    BaseMissing {
        /// The incremental bundle.
        bundle: String,
        /// Every blob it leaves to the site that no served bundle carries.
        missing: Vec<crate::push::base::MissingBase>,
    },
    /// The prefix is not a valid repository path.
    #[error(transparent)]
    Naming(#[from] crate::naming::NamingError),
}

fn base_missing_message(bundle: &str, missing: &[crate::push::base::MissingBase]) -> String {
    let mut images: Vec<&str> = missing
        .iter()
        .filter_map(|m| m.base_image.as_deref())
        .collect();
    images.sort();
    images.dedup();
    let mut from: Vec<&str> = missing.iter().map(|m| m.from.as_str()).collect();
    from.sort();
    from.dedup();
    let mut m = format!(
        "bundle {bundle} is incremental: {} blob(s) it leaves to the site are in none of the \
         bundles served. Missing base images: {}; they came from {}:",
        missing.len(),
        if images.is_empty() {
            "(not named)".to_string()
        } else {
            images.join(", ")
        },
        from.join("; ")
    );
    for b in missing {
        m.push_str(&format!("\n  {b}"));
    }
    m.push_str("\nserve the base bundle (the one the inventory was taken of) with it, before it");
    m
}
