//! The listener: plain TCP or TLS (rustls), a fixed pool of workers (one connection each at a
//! time, so memory stays flat however many clients come), keep-alive, and a graceful stop:
//! when asked, no new connection is taken, requests in flight finish, idle connections close.

use std::fmt;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde::Serialize;

use super::api::{self, Body, Reply};
use super::catalog::Catalog;
use super::http::{self, Conn, Next, Request};
use super::{Htpasswd, ServeError};
use crate::model::Digest;

/// How long a keep-alive connection may sit idle.
const IDLE: Duration = Duration::from_secs(30);
/// How often a waiting read wakes up to look at the stop flag.
const TICK: Duration = Duration::from_millis(200);

/// The certificate chain and key of `--tls-cert` / `--tls-key` (PEM).
#[derive(Debug, Clone)]
pub struct TlsFiles {
    /// The certificate chain.
    pub cert: PathBuf,
    /// The private key.
    pub key: PathBuf,
}

/// How to serve.
#[derive(Debug, Default)]
pub struct ServeOptions {
    /// TLS, when given.
    pub tls: Option<TlsFiles>,
    /// Basic authentication, when given.
    pub htpasswd: Option<Htpasswd>,
    /// Connections served at once (at least 1).
    pub workers: usize,
}

/// One line of the access log: one per request, without credentials or query strings.
#[derive(Debug, Clone, Serialize)]
pub struct AccessEntry {
    /// The client's address.
    pub peer: String,
    /// The authenticated user, if any.
    pub user: Option<String>,
    /// The method.
    pub method: String,
    /// The path (no query).
    pub path: String,
    /// The status sent.
    pub status: u16,
    /// Body bytes sent.
    pub bytes: u64,
    /// How long it took, in milliseconds.
    pub millis: u64,
    /// Why the response was cut off, if it was (a damaged chunk, a digest mismatch, a write
    /// error).
    pub error: Option<String>,
}

impl fmt::Display for AccessEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} \"{} {}\" {} {} {}ms",
            self.peer,
            self.user.as_deref().unwrap_or("-"),
            self.method,
            self.path,
            self.status,
            self.bytes,
            self.millis
        )?;
        if let Some(e) = &self.error {
            write!(f, " ABORTED: {e}")?;
        }
        Ok(())
    }
}

/// What every worker shares while the server runs.
struct Ctx<'a> {
    stop: &'a AtomicBool,
    queued: &'a AtomicUsize,
    log: &'a (dyn Fn(&AccessEntry) + Sync),
}

/// A bound server, not yet answering.
pub struct Server {
    listener: TcpListener,
    tls: Option<Arc<rustls::ServerConfig>>,
    auth: Option<Htpasswd>,
    workers: usize,
    catalog: Catalog,
}

impl Server {
    /// Binds `addr` (`HOST:PORT`; port 0 picks one) and loads the TLS files.
    pub fn bind(addr: &str, catalog: Catalog, options: ServeOptions) -> Result<Self, ServeError> {
        let tls = options.tls.as_ref().map(tls_config).transpose()?;
        let listener = TcpListener::bind(addr).map_err(|source| ServeError::Listen {
            addr: addr.to_string(),
            source,
        })?;
        Ok(Server {
            listener,
            tls,
            auth: options.htpasswd,
            workers: options.workers.max(1),
            catalog,
        })
    }

    /// The address listened on.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Whether clients must speak TLS.
    pub fn is_tls(&self) -> bool {
        self.tls.is_some()
    }

    /// What is served.
    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    /// Answers until `stop` is set, then finishes the requests in flight and returns. Every
    /// request is passed to `log` once it is answered (or cut off).
    pub fn run(&self, stop: &AtomicBool, log: &(dyn Fn(&AccessEntry) + Sync)) -> io::Result<()> {
        self.listener.set_nonblocking(true)?;
        let (tx, rx) = mpsc::sync_channel::<TcpStream>(self.workers);
        let rx = Mutex::new(rx);
        // Connections accepted and not yet taken by a worker: while there are any, workers
        // close their idle keep-alive connections, so that a new client is not kept waiting.
        let queued = AtomicUsize::new(0);
        let ctx = Ctx {
            stop,
            queued: &queued,
            log,
        };
        std::thread::scope(|s| {
            for _ in 0..self.workers {
                s.spawn(|| loop {
                    let next = rx.lock().unwrap_or_else(|e| e.into_inner()).recv();
                    match next {
                        Ok(tcp) => {
                            queued.fetch_sub(1, Ordering::SeqCst);
                            self.connection(tcp, &ctx)
                        }
                        Err(_) => break,
                    }
                });
            }
            while !stop.load(Ordering::SeqCst) {
                match self.listener.accept() {
                    Ok((mut tcp, _)) => {
                        queued.fetch_add(1, Ordering::SeqCst);
                        loop {
                            match tx.try_send(tcp) {
                                Ok(()) => break,
                                Err(mpsc::TrySendError::Full(back))
                                    if !stop.load(Ordering::SeqCst) =>
                                {
                                    tcp = back;
                                    std::thread::sleep(Duration::from_millis(5));
                                }
                                Err(_) => {
                                    queued.fetch_sub(1, Ordering::SeqCst);
                                    break;
                                }
                            }
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => std::thread::sleep(TICK / 4),
                    Err(e) => {
                        log::warn!("accepting a connection: {e}");
                        std::thread::sleep(TICK / 4);
                    }
                }
            }
            drop(tx);
        });
        Ok(())
    }

    fn connection(&self, tcp: TcpStream, ctx: &Ctx<'_>) {
        let peer = tcp
            .peer_addr()
            .map(|a| a.to_string())
            .unwrap_or_else(|_| "?".into());
        if tcp.set_nonblocking(false).is_err()
            || tcp.set_read_timeout(Some(TICK)).is_err()
            || tcp
                .set_write_timeout(Some(Duration::from_secs(60)))
                .is_err()
        {
            return;
        }
        let _ = tcp.set_nodelay(true);
        match &self.tls {
            Some(cfg) => match rustls::ServerConnection::new(cfg.clone()) {
                Ok(c) => self.serve(Conn::new(rustls::StreamOwned::new(c, tcp)), &peer, ctx),
                Err(e) => log::warn!("TLS session for {peer}: {e}"),
            },
            None => self.serve(Conn::new(tcp), &peer, ctx),
        }
    }

    fn serve<S: Read + Write>(&self, mut conn: Conn<S>, peer: &str, ctx: &Ctx<'_>) {
        let (stop, log) = (ctx.stop, ctx.log);
        let yield_idle = || stop.load(Ordering::SeqCst) || ctx.queued.load(Ordering::SeqCst) > 0;
        loop {
            let req = match conn.next(IDLE, &yield_idle) {
                Next::Request(r) => r,
                Next::Done => return,
                Next::Bad => {
                    let r = api::error(400, "UNSUPPORTED", "malformed request");
                    let _ = send(&mut conn.stream, r, false, false);
                    return;
                }
            };
            let started = Instant::now();
            let keep = req.keep_alive() && !stop.load(Ordering::SeqCst);
            let (user, reply) = self.answer(&req);
            let status = reply.status;
            let outcome = send(&mut conn.stream, reply, req.method == "HEAD", keep);
            let (bytes, error) = match &outcome {
                Ok(n) => (*n, None),
                Err((n, e)) => (*n, Some(e.clone())),
            };
            log(&AccessEntry {
                peer: peer.to_string(),
                user,
                method: req.method.clone(),
                path: req.path.clone(),
                status,
                bytes,
                millis: started.elapsed().as_millis() as u64,
                error,
            });
            if outcome.is_err() || !keep {
                let _ = conn.stream.flush();
                return;
            }
        }
    }

    fn answer(&self, req: &Request) -> (Option<String>, Reply<'_>) {
        let user = match &self.auth {
            None => None,
            Some(h) => match h.check(req.header("authorization")) {
                Some(u) => Some(u),
                None => {
                    let mut r = api::error(401, "UNAUTHORIZED", "authentication required");
                    r.headers
                        .push(("WWW-Authenticate", "Basic realm=\"ferry\"".into()));
                    return (None, r);
                }
            },
        };
        (user, api::route(&self.catalog, req))
    }
}

/// Sends `reply`; the bytes of body sent, or those and why the body was cut off.
fn send(
    out: &mut dyn Write,
    reply: Reply<'_>,
    head_only: bool,
    keep: bool,
) -> Result<u64, (u64, String)> {
    let length = reply.length();
    match reply.body {
        Body::Bytes(b) => {
            http::write_head(out, reply.status, &reply.headers, length, keep)
                .and_then(|()| if head_only { Ok(()) } else { out.write_all(&b) })
                .and_then(|()| out.flush())
                .map_err(|e| (0, e.to_string()))?;
            Ok(if head_only { 0 } else { length })
        }
        Body::Blob { .. } if head_only => {
            http::write_head(out, reply.status, &reply.headers, length, keep)
                .and_then(|()| out.flush())
                .map_err(|e| (0, e.to_string()))?;
            Ok(0)
        }
        Body::Blob {
            digest,
            mut reader,
            size,
            range,
        } => stream_blob(
            out,
            reply.status,
            &reply.headers,
            keep,
            &mut reader,
            &digest,
            size,
            range,
        ),
    }
}

/// Streams a blob (or its `range`), hashing it: the last bytes are held back until the whole
/// blob is read and hashes to `digest`. A failure before anything is sent is a 500; after, the
/// body is cut short and the connection dropped.
#[allow(clippy::too_many_arguments)]
fn stream_blob(
    out: &mut dyn Write,
    status: u16,
    headers: &[(&'static str, String)],
    keep: bool,
    reader: &mut dyn Read,
    digest: &Digest,
    size: u64,
    range: Option<(u64, u64)>,
) -> Result<u64, (u64, String)> {
    let (start, end) = range.unwrap_or((0, size.saturating_sub(1)));
    let length = if size == 0 { 0 } else { end - start + 1 };
    let mut hasher = digest.hasher();
    let mut buf = vec![0u8; 256 * 1024];
    let mut held: Vec<u8> = Vec::new();
    let mut pos = 0u64;
    let mut sent = 0u64;
    let mut head_sent = false;
    loop {
        let n = match read_full(reader, &mut buf) {
            Ok(n) => n,
            Err(e) => {
                let msg = format!("blob {digest}: {e}");
                if !head_sent {
                    let r = api::error(500, "UNKNOWN", &msg);
                    let _ = send(out, r, false, false);
                }
                return Err((sent, msg));
            }
        };
        if !head_sent {
            http::write_head(out, status, headers, length, keep).map_err(|e| (0, e.to_string()))?;
            head_sent = true;
        }
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        out.write_all(&held).map_err(|e| (sent, e.to_string()))?;
        sent += held.len() as u64;
        held.clear();
        let (lo, hi) = (pos, pos + n as u64);
        pos = hi;
        if size > 0 && hi > start && lo <= end {
            let a = start.max(lo) - lo;
            let b = (end + 1).min(hi) - lo;
            held.extend_from_slice(&buf[a as usize..b as usize]);
        }
        if range.is_some() && pos > end {
            // A range ends before the blob does: every chunk of it was checked; the blob's
            // digest cannot be.
            out.write_all(&held).map_err(|e| (sent, e.to_string()))?;
            sent += held.len() as u64;
            return out
                .flush()
                .map(|()| sent)
                .map_err(|e| (sent, e.to_string()));
        }
    }
    if pos != size {
        return Err((
            sent,
            format!("blob {digest}: rebuilt {pos} bytes, expected {size}"),
        ));
    }
    let got = hasher.finish();
    if &got != digest {
        return Err((
            sent,
            format!("blob {digest}: the bytes rebuilt hash to {got}"),
        ));
    }
    out.write_all(&held).map_err(|e| (sent, e.to_string()))?;
    sent += held.len() as u64;
    out.flush()
        .map(|()| sent)
        .map_err(|e| (sent, e.to_string()))
}

/// Reads until `buf` is full or the stream ends.
fn read_full(r: &mut dyn Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

fn tls_config(files: &TlsFiles) -> Result<Arc<rustls::ServerConfig>, ServeError> {
    let certs = read_pem(&files.cert)?;
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&certs)
        .collect::<Result<_, _>>()
        .map_err(|e| pem_error(&files.cert, &format!("bad PEM certificate: {e}")))?;
    if certs.is_empty() {
        return Err(pem_error(&files.cert, "no PEM certificate in the file"));
    }
    let key = PrivateKeyDer::from_pem_slice(&read_pem(&files.key)?)
        .map_err(|_| pem_error(&files.key, "no usable PEM private key in the file"))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(certs, key)?;
    Ok(Arc::new(cfg))
}

fn read_pem(path: &Path) -> Result<Vec<u8>, ServeError> {
    std::fs::read(path).map_err(|source| ServeError::Read {
        path: path.to_path_buf(),
        source,
    })
}

fn pem_error(path: &Path, message: &str) -> ServeError {
    ServeError::Pem {
        path: path.to_path_buf(),
        message: message.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body_of(out: &[u8]) -> (&str, &[u8]) {
        let end = out.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
        (std::str::from_utf8(&out[..end]).unwrap(), &out[end + 4..])
    }

    #[test]
    fn a_blob_that_does_not_hash_to_its_digest_is_cut_short_of_its_length() {
        let data = vec![7u8; 600 * 1024];
        let wrong = Digest::sha256_of(b"something else");
        let mut out = Vec::new();
        let r = stream_blob(
            &mut out,
            200,
            &[],
            true,
            &mut &data[..],
            &wrong,
            data.len() as u64,
            None,
        );
        let (sent, why) = r.unwrap_err();
        assert!(why.contains("hash to"), "{why}");
        let (head, body) = body_of(&out);
        assert!(
            head.contains(&format!("Content-Length: {}", data.len())),
            "{head}"
        );
        assert_eq!(body.len() as u64, sent);
        assert!(body.len() < data.len());

        let right = Digest::sha256_of(&data);
        let mut out = Vec::new();
        let r = stream_blob(
            &mut out,
            200,
            &[],
            true,
            &mut &data[..],
            &right,
            data.len() as u64,
            None,
        );
        assert_eq!(r, Ok(data.len() as u64));
        assert_eq!(body_of(&out).1, &data[..]);
    }

    #[test]
    fn a_range_is_the_slice_and_a_failure_before_any_byte_is_a_500() {
        let data: Vec<u8> = (0..=255u8).cycle().take(700 * 1024).collect();
        let d = Digest::sha256_of(&data);
        let mut out = Vec::new();
        let range = Some((300_000, 300_009));
        let r = stream_blob(
            &mut out,
            206,
            &[],
            true,
            &mut &data[..],
            &d,
            data.len() as u64,
            range,
        );
        assert_eq!(r, Ok(10));
        assert_eq!(body_of(&out).1, &data[300_000..300_010]);

        struct Broken;
        impl Read for Broken {
            fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
                Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "chunk sha256:abc damaged",
                ))
            }
        }
        let mut out = Vec::new();
        let r = stream_blob(&mut out, 200, &[], true, &mut Broken, &d, 10, None);
        assert!(r.unwrap_err().1.contains("chunk sha256:abc"));
        assert!(
            out.starts_with(b"HTTP/1.1 500"),
            "{}",
            String::from_utf8_lossy(&out)
        );
    }
}
