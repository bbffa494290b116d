//! `ferry serve`: verified bundles as a read-only OCI registry, until SIGTERM or SIGINT.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use anyhow::{Context, Result};
use serde::Serialize;

use super::args::ServeArgs;
use super::common::{open_verified, say, EXIT_OK};
use ferry::serve::{Catalog, Htpasswd, ServeOptions, Server, SpoolConfig, TlsFiles};

/// The start-up line.
#[derive(Serialize)]
struct Listening<'a> {
    event: &'static str,
    address: String,
    url: String,
    tls: bool,
    auth: bool,
    bundles: Vec<&'a str>,
    images: usize,
    repositories: usize,
}

/// Runs `ferry serve`.
pub(super) fn serve(a: ServeArgs) -> Result<i32> {
    let htpasswd = a
        .htpasswd
        .as_deref()
        .map(Htpasswd::read)
        .transpose()
        .context("reading --htpasswd")?;
    let mut bundles = Vec::new();
    for dir in &a.bundles {
        bundles.push(open_verified(dir, &a.trusted_key)?);
    }
    let spool = SpoolConfig {
        dir: std::env::temp_dir(),
        limit: a.spool_size,
    };
    let catalog = Catalog::new(bundles, &a.prefix, spool).context("indexing the bundles")?;
    let tls = match (a.tls_cert, a.tls_key) {
        (Some(cert), Some(key)) => Some(TlsFiles { cert, key }),
        _ => None,
    };
    let auth = htpasswd.is_some();
    let options = ServeOptions {
        tls,
        htpasswd,
        workers: a.jobs,
    };
    let server = Server::bind(&a.listen, catalog, options).context("starting the server")?;
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        signal_hook::flag::register(sig, Arc::clone(&stop)).context("handling signals")?;
    }
    let addr = server
        .local_addr()
        .context("reading the listening address")?;
    let c = server.catalog();
    let line = Listening {
        event: "listening",
        address: addr.to_string(),
        url: format!(
            "{}://{addr}",
            if server.is_tls() { "https" } else { "http" }
        ),
        tls: server.is_tls(),
        auth,
        bundles: c
            .bundles()
            .iter()
            .map(|b| b.root().bundle_id.as_str())
            .collect(),
        images: c.image_count(),
        repositories: c.repositories().count(),
    };
    if a.json {
        outln!("{}", serde_json::to_string(&line)?)?;
    } else {
        outln!(
            "serving {} images ({} repositories) from {} bundle(s) on {}{}",
            line.images,
            line.repositories,
            line.bundles.len(),
            line.url,
            if auth { " (Basic authentication)" } else { "" }
        )?;
    }
    let json = a.json;
    let log = move |e: &ferry::serve::AccessEntry| {
        let text = if json {
            serde_json::to_string(e).unwrap_or_default()
        } else {
            e.to_string()
        };
        if e.error.is_some() {
            say("error", &text);
        } else {
            super::events::line(&text);
        }
    };
    server.run(&stop, &log).context("serving")?;
    say("", "stopped: every request in flight answered");
    Ok(EXIT_OK)
}
