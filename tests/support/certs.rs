//! Per-run certificates: a CA and a server certificate for 127.0.0.1 / localhost, and the
//! token issuer's self-signed signing certificate.

use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose, SanType,
    PKCS_ECDSA_P256_SHA256,
};

/// Files of a CA-signed server certificate written into a directory.
#[derive(Debug, Clone)]
pub struct ServerTls {
    /// The CA certificate (PEM) clients must trust.
    pub ca_cert: PathBuf,
    /// The CA certificate in DER, for building TLS clients.
    pub ca_der: Vec<u8>,
    /// The server certificate (PEM).
    pub server_cert: PathBuf,
    /// The server's private key (PEM, PKCS#8).
    pub server_key: PathBuf,
    /// A directory holding only `ca.crt`, as skopeo's `--cert-dir` wants.
    pub skopeo_cert_dir: PathBuf,
}

/// Generates a fresh CA and a server certificate (SAN IP 127.0.0.1, DNS localhost) into `dir`.
pub fn server_tls(dir: &Path) -> ServerTls {
    let ca_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).expect("generating CA key");
    let mut ca = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "ferry test CA");
    ca.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_cert = ca.self_signed(&ca_key).expect("self-signing CA");

    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).expect("generating server key");
    let mut params = CertificateParams::new(vec!["localhost".to_string()]).expect("server params");
    params
        .subject_alt_names
        .push(SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST)));
    params
        .distinguished_name
        .push(DnType::CommonName, "127.0.0.1");
    let cert = params
        .signed_by(&key, &ca_cert, &ca_key)
        .expect("signing server cert");

    let tls = ServerTls {
        ca_cert: dir.join("ca.pem"),
        ca_der: ca_cert.der().to_vec(),
        server_cert: dir.join("server.pem"),
        server_key: dir.join("server-key.pem"),
        skopeo_cert_dir: dir.join("skopeo-certs"),
    };
    std::fs::create_dir_all(&tls.skopeo_cert_dir).expect("creating skopeo cert dir");
    std::fs::write(&tls.ca_cert, ca_cert.pem()).expect("writing CA cert");
    std::fs::write(tls.skopeo_cert_dir.join("ca.crt"), ca_cert.pem())
        .expect("writing skopeo ca.crt");
    std::fs::write(&tls.server_cert, cert.pem()).expect("writing server cert");
    std::fs::write(&tls.server_key, key.serialize_pem()).expect("writing server key");
    tls
}

/// A token-signing key and its self-signed certificate (the registry's `rootcertbundle`).
pub struct SigningCert {
    /// The key pair (PKCS#8 via `serialized_der`).
    pub key: KeyPair,
    /// PEM of the certificate.
    pub cert_pem: String,
}

/// Generates an ECDSA P-256 signing key with a self-signed certificate named `cn`.
pub fn signing_cert(cn: &str) -> SigningCert {
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).expect("generating signing key");
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("signing cert params");
    params.distinguished_name.push(DnType::CommonName, cn);
    let cert = params.self_signed(&key).expect("self-signing signing cert");
    SigningCert {
        key,
        cert_pem: cert.pem(),
    }
}

/// The libtrust key id of a public key: base32 (standard alphabet, no padding) of the first
/// 30 bytes of SHA-256(DER SubjectPublicKeyInfo), in 12 groups of 4 joined by ':'.
pub fn libtrust_key_id(spki_der: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let hash = Sha256::digest(spki_der);
    let mut out = String::new();
    // 30 bytes = 240 bits = exactly 48 base32 characters.
    for chunk in hash[..30].chunks(5) {
        let v = chunk.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
        for i in (0..8).rev() {
            out.push(ALPHABET[((v >> (i * 5)) & 31) as usize] as char);
        }
    }
    let groups: Vec<&str> = (0..12).map(|i| &out[i * 4..i * 4 + 4]).collect();
    groups.join(":")
}
