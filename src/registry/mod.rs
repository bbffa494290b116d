//! The OCI distribution registry client and the admin-API client of registry products
//! ([`AdminClient`]): the only code in ferry that speaks HTTP.
//!
//! One [`Registry`] per registry host; it authenticates as the registry asks (anonymous,
//! Basic, or Bearer tokens per repository scope), retries transient failures, verifies every
//! digest it is given, and streams blobs both ways.

// Layering: each module uses only those listed after it (no import loops).
//   referrers  -> client, http, auth, error  (the OCI 1.1 referrers API on `Registry`)
//   catalog    -> client, pages, http, auth, error  (GET /v2/_catalog)
//   client     -> resume, upload, pages, http, wire, transport, auth, credentials, error,
//                 options, source, stats
//   pages      -> error  (one page of a paginated list: its JSON, the next page's URL)
//   resume     -> http, error, retry  (blob downloads resumed after a cut)
//   upload     -> http, journal, auth, error, source, stats  (segments, resumed sessions)
//   journal    -> (leaf) open upload sessions, on disk across runs
//   http       -> journal, wire, transport, auth, credentials, error, options, retry, stats
//   wire       -> transport, error, options, source, stats  (agent per host, redirects,
//                 where Authorization may go)
//   admin      -> transport, credentials, options
//   transport  -> options, tls      (agent, TLS-failure sorting, HTTPS-then-HTTP probe)
//   auth       -> credentials
//   options    -> credentials, retry
//   credentials -> helper            (docker-credential-NAME)
//   retry      -> error
//   error      -> credentials
//   helper, source, stats, tls: leaves
//
// The error carries what an operator needs (host, repository, URL, registry error codes),
// which makes it larger than clippy likes; every call that returns it waits on the network,
// so moving a few more bytes costs nothing measurable.

mod admin;
mod auth;
#[cfg(test)]
mod auth_fuzz;
mod catalog;
mod client;
mod credentials;
mod error;
mod helper;
mod http;
mod journal;
mod options;
mod pages;
mod referrers;
mod resume;
mod retry;
mod source;
mod stats;
mod tls;
mod transport;
mod upload;
mod wire;

pub use admin::{api_message, AdminAuth, AdminClient, AdminError, AdminResponse, Secret};
pub use auth::{parse_challenge, BearerChallenge, Challenge};
pub use client::{FetchedManifest, Registry};
pub use credentials::{find_in_authfile, write_authfile_entry, Credential, CredentialError};
pub use error::{ApiError, ApiErrors, RegistryError};
pub use helper::HelperError;
pub use options::{ClientOptions, DEFAULT_CERTS_DIR, DEFAULT_UPLOAD_SEGMENT};
pub use retry::{Attempts, RetryPolicy, DEFAULT_BUDGET};
pub use source::BlobSource;
pub use stats::StatsSnapshot;
pub use upload::SMALL_BLOB;
