//! The TLS configuration for one registry host: system roots, extra CA files, the host's
//! `certs.d` directory, optional client certificate, or no verification for insecure hosts.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

/// Why the TLS configuration could not be built.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A certificate or key file could not be read.
    #[error("cannot read {path}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A file holds no usable PEM certificate or key.
    #[error("{path}: {message}")]
    Pem {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// rustls refused the configuration.
    #[error("TLS configuration")]
    Rustls(#[from] rustls::Error),
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The operating system's trusted roots, loaded once per process.
fn native_roots() -> &'static [CertificateDer<'static>] {
    static ROOTS: OnceLock<Vec<CertificateDer<'static>>> = OnceLock::new();
    ROOTS.get_or_init(|| {
        let r = rustls_native_certs::load_native_certs();
        for e in &r.errors {
            log::debug!("while loading system certificates: {e}");
        }
        r.certs
    })
}

fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let data = std::fs::read(path).map_err(|source| TlsError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let certs = CertificateDer::pem_slice_iter(&data)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::Pem {
            path: path.to_path_buf(),
            message: format!("bad PEM certificate: {e}"),
        })?;
    if certs.is_empty() {
        return Err(TlsError::Pem {
            path: path.to_path_buf(),
            message: "no PEM certificate in the file".into(),
        });
    }
    Ok(certs)
}

fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    let data = std::fs::read(path).map_err(|source| TlsError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    PrivateKeyDer::from_pem_slice(&data)
        .ok()
        .ok_or_else(|| TlsError::Pem {
            path: path.to_path_buf(),
            message: "no usable PEM private key in the file".into(),
        })
}

/// Files in `dir` ending with `.ext`, sorted; none when the directory does not exist.
fn files_with_ext(dir: &Path, ext: &str) -> Result<Vec<PathBuf>, TlsError> {
    let rd = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(TlsError::Read {
                path: dir.to_path_buf(),
                source,
            })
        }
    };
    let mut v: Vec<PathBuf> = rd
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == ext))
        .collect();
    v.sort();
    Ok(v)
}

/// Builds the client configuration for `host`: roots from the system, `ca_files` and
/// `certs_dir/HOST/*.crt`; a client certificate from `certs_dir/HOST/NAME.cert` + `NAME.key`;
/// and, when `insecure`, a verifier that accepts any server certificate.
pub fn client_config(
    host: &str,
    ca_files: &[PathBuf],
    certs_dir: &Path,
    insecure: bool,
) -> Result<Arc<ClientConfig>, TlsError> {
    let builder =
        ClientConfig::builder_with_provider(provider()).with_safe_default_protocol_versions()?;
    let host_dir = certs_dir.join(host);
    let builder = if insecure {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyCert(provider())))
    } else {
        let mut roots = RootCertStore::empty();
        let (added, ignored) = roots.add_parsable_certificates(native_roots().iter().cloned());
        log::debug!("{added} system roots ({ignored} unusable)");
        let mut extra: Vec<PathBuf> = ca_files.to_vec();
        extra.extend(files_with_ext(&host_dir, "crt")?);
        for f in &extra {
            for c in read_certs(f)? {
                roots.add(c).map_err(|e| TlsError::Pem {
                    path: f.clone(),
                    message: format!("unusable CA certificate: {e}"),
                })?;
            }
            log::debug!("trusting CA certificates from {}", f.display());
        }
        builder.with_root_certificates(roots)
    };
    let client_cert = files_with_ext(&host_dir, "cert")?.into_iter().next();
    let config = match client_cert {
        Some(cert) => {
            let key = cert.with_extension("key");
            log::debug!("client certificate {} for {host}", cert.display());
            builder.with_client_auth_cert(read_certs(&cert)?, read_key(&key)?)?
        }
        None => builder.with_no_client_auth(),
    };
    Ok(Arc::new(config))
}

/// Accepts every server certificate: only for hosts the operator listed as insecure.
#[derive(Debug)]
struct AcceptAnyCert(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAnyCert {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_ca_file_is_named() {
        let e = client_config(
            "h.example",
            &[PathBuf::from("/nonexistent/ca.pem")],
            Path::new("/nonexistent/certs.d"),
            false,
        )
        .unwrap_err();
        assert!(e.to_string().contains("/nonexistent/ca.pem"), "{e}");
    }

    #[test]
    fn non_pem_ca_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("ca.crt");
        std::fs::write(&f, "not a certificate").unwrap();
        let e = client_config("h", std::slice::from_ref(&f), dir.path(), false).unwrap_err();
        assert!(e.to_string().contains("no PEM certificate"), "{e}");
        // Insecure hosts skip root loading altogether.
        assert!(client_config("h", &[], dir.path(), true).is_ok());
    }
}
