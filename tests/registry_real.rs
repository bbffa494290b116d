//! The registry client against the real registry (`/usr/bin/docker-registry`, CNCF
//! distribution) on 127.0.0.1: blob and manifest round trips, cross-repository mounts,
//! Basic authentication, and `skopeo` reading back what ferry wrote.

use std::io::{Read, Write};

use std::path::{Path, PathBuf};
use std::process::Command;

use ferry::model::{Digest, DigestAlgorithm, Hasher, MediaType};
use ferry::registry::{ClientOptions, Credential, Registry, RegistryError};

mod support;

use support::TestRegistry;

fn plain_options(reg: &TestRegistry) -> ClientOptions {
    ClientOptions {
        insecure: vec![reg.host()],
        ..ClientOptions::default()
    }
}

fn tls_options(reg: &TestRegistry) -> ClientOptions {
    ClientOptions {
        ca_files: vec![reg.ca_cert_path().to_path_buf()],
        ..ClientOptions::default()
    }
}

/// Writes `len` deterministic pseudo-random bytes to `path`, returning their digest.
fn write_pseudo_random(path: &Path, len: u64, seed: u64) -> Digest {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    let mut h = Hasher::new(DigestAlgorithm::Sha256);
    let mut x = seed | 1;
    let mut left = len;
    let mut buf = vec![0u8; 64 * 1024];
    while left > 0 {
        for chunk in buf.chunks_mut(8) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let b = x.to_le_bytes();
            chunk.copy_from_slice(&b[..chunk.len()]);
        }
        let n = left.min(buf.len() as u64) as usize;
        f.write_all(&buf[..n]).unwrap();
        h.update(&buf[..n]);
        left -= n as u64;
    }
    f.flush().unwrap();
    h.finish()
}

/// Reads a blob back through the client, returning (digest of what arrived, byte count).
fn read_back(reg: &Registry, repo: &str, d: &Digest, size: u64) -> (Digest, u64) {
    let mut r = reg.get_blob(repo, d, Some(size)).unwrap();
    let mut h = Hasher::new(DigestAlgorithm::Sha256);
    let mut n = 0u64;
    let mut buf = vec![0u8; 128 * 1024];
    loop {
        let k = r.read(&mut buf).unwrap();
        if k == 0 {
            break;
        }
        h.update(&buf[..k]);
        n += k as u64;
    }
    (h.finish(), n)
}

fn skopeo_raw(host: &str, repo: &str, digest: &Digest) -> Vec<u8> {
    let out = Command::new("skopeo")
        .args(["inspect", "--raw", "--tls-verify=false"])
        .arg(format!("docker://{host}/{repo}@{digest}"))
        .output()
        .expect("skopeo is missing: scripts/test.sh installs it");
    assert!(
        out.status.success(),
        "skopeo failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

#[test]
fn push_pull_mount_round_trip() {
    let local = TestRegistry::plain();
    let reg = Registry::new(&local.host(), &plain_options(&local)).unwrap();
    reg.ping().unwrap();
    let repo = "mirror/quay.io/app";

    // Small blob: one PUT.
    let small: Vec<u8> = b"small layer, pushed in one request\n".repeat(10);
    let small_d = Digest::sha256_of(&small);
    assert_eq!(reg.blob_exists(repo, &small_d).unwrap(), None);
    reg.push_blob(repo, &small_d, small.len() as u64, &small)
        .unwrap();
    assert_eq!(
        reg.blob_exists(repo, &small_d).unwrap(),
        Some(small.len() as u64)
    );

    // Large blob: streamed from a file.
    let tmp = tempfile::tempdir().unwrap();
    let big_path: PathBuf = tmp.path().join("big.bin");
    let big_len = 20 * 1024 * 1024 + 123;
    let big_d = write_pseudo_random(&big_path, big_len, 0x5eed);
    reg.push_blob(repo, &big_d, big_len, &big_path).unwrap();
    assert_eq!(reg.blob_exists(repo, &big_d).unwrap(), Some(big_len));
    assert_eq!(
        read_back(&reg, repo, &big_d, big_len),
        (big_d.clone(), big_len)
    );
    assert_eq!(
        read_back(&reg, repo, &small_d, small.len() as u64),
        (small_d.clone(), small.len() as u64)
    );

    let s = reg.stats();
    assert_eq!(s.blob_uploads_started, 2);
    assert_eq!(s.blob_bytes_uploaded, big_len + small.len() as u64);
    assert_eq!(s.retries, 0);

    // Config and manifest.
    let config =
        br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#;
    let config_d = Digest::sha256_of(config);
    reg.push_blob(repo, &config_d, config.len() as u64, &&config[..])
        .unwrap();
    let manifest = format!(
        r#"{{"schemaVersion":2,"mediaType":"{}","config":{{"mediaType":"{}","digest":"{}","size":{}}},"layers":[{{"mediaType":"{}","digest":"{}","size":{}}},{{"mediaType":"{}","digest":"{}","size":{}}}]}}"#,
        MediaType::OciManifest,
        MediaType::OciConfig,
        config_d,
        config.len(),
        MediaType::OciLayerTar,
        small_d,
        small.len(),
        MediaType::OciLayerTar,
        big_d,
        big_len
    );
    let manifest = manifest.as_bytes();
    let manifest_d = Digest::sha256_of(manifest);
    assert_eq!(reg.manifest_digest(repo, "v1").unwrap(), None);
    assert_eq!(
        reg.put_manifest(repo, "v1", &MediaType::OciManifest, manifest)
            .unwrap(),
        manifest_d
    );
    assert_eq!(
        reg.put_manifest(
            repo,
            &manifest_d.to_string(),
            &MediaType::OciManifest,
            manifest
        )
        .unwrap(),
        manifest_d
    );
    assert_eq!(
        reg.manifest_digest(repo, "v1").unwrap(),
        Some(manifest_d.clone())
    );
    for reference in ["v1".to_string(), manifest_d.to_string()] {
        let m = reg.get_manifest(repo, &reference).unwrap();
        assert_eq!(m.bytes, manifest);
        assert_eq!(m.digest, manifest_d);
        assert_eq!(m.media_type, MediaType::OciManifest);
    }
    let raw = skopeo_raw(&local.host(), repo, &manifest_d);
    assert_eq!(
        Digest::sha256_of(&raw),
        manifest_d,
        "skopeo sees the same bytes"
    );

    // A manifest whose bytes do not match the digest it is put under is refused locally.
    let wrong = reg
        .put_manifest(
            repo,
            &small_d.to_string(),
            &MediaType::OciManifest,
            manifest,
        )
        .unwrap_err();
    assert!(
        matches!(wrong, RegistryError::DigestMismatch { .. }),
        "{wrong:?}"
    );

    // Mount into a second repository.
    let other = "mirror/quay.io/other";
    assert_eq!(reg.blob_exists(other, &big_d).unwrap(), None);
    assert!(reg.mount_blob(other, &big_d, repo).unwrap());
    assert_eq!(reg.stats().mounts_succeeded, 1);
    assert_eq!(reg.blob_exists(other, &big_d).unwrap(), Some(big_len));

    // A mount the registry cannot do (blob absent) is declined; the push that follows works.
    let fresh = b"not in any repository yet".to_vec();
    let fresh_d = Digest::sha256_of(&fresh);
    assert!(!reg.mount_blob(other, &fresh_d, repo).unwrap());
    assert_eq!(reg.stats().mounts_succeeded, 1);
    reg.push_blob(other, &fresh_d, fresh.len() as u64, &fresh)
        .unwrap();
    assert_eq!(
        reg.blob_exists(other, &fresh_d).unwrap(),
        Some(fresh.len() as u64)
    );

    // A missing manifest is NotFound, with the registry's code.
    let err = reg.get_manifest(repo, "missing").unwrap_err();
    assert!(matches!(err, RegistryError::NotFound { .. }), "{err:?}");
    assert!(err.to_string().contains("MANIFEST_UNKNOWN"), "{err}");
}

#[test]
fn blob_pushed_with_a_wrong_digest_is_refused_by_the_registry() {
    let local = TestRegistry::plain();
    let reg = Registry::new(&local.host(), &plain_options(&local)).unwrap();
    let data = b"these bytes".to_vec();
    let claimed = Digest::sha256_of(b"other bytes");
    let err = reg
        .push_blob("app", &claimed, data.len() as u64, &data)
        .unwrap_err();
    assert!(!err.is_retryable());
    assert!(err.to_string().contains("DIGEST_INVALID"), "{err}");
    assert_eq!(reg.blob_exists("app", &claimed).unwrap(), None);
}

#[test]
fn basic_auth_with_htpasswd() {
    let tmp = tempfile::tempdir().unwrap();
    let local = TestRegistry::tls_htpasswd();
    let host = local.host();
    let user = local.username().to_string();
    let pass = local.password().to_string();

    let data = b"authenticated blob".to_vec();
    let d = Digest::sha256_of(&data);

    // Anonymous: refused, and the message says what to do.
    let anon = Registry::new(&host, &tls_options(&local)).unwrap();
    let err = anon
        .push_blob("app", &d, data.len() as u64, &data)
        .unwrap_err();
    assert!(
        matches!(err, RegistryError::Auth { status: 401, .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("--creds"), "{err}");

    // Wrong password: refused, password not shown anywhere.
    let bad_opts = ClientOptions {
        creds: Some(Credential::new(user.clone(), "WrongPassw0rd")),
        ..tls_options(&local)
    };
    let bad = Registry::new(&host, &bad_opts).unwrap();
    let err = bad.blob_exists("app", &d).unwrap_err();
    assert!(
        matches!(err, RegistryError::Auth { status: 401, .. }),
        "{err:?}"
    );
    for text in [
        err.to_string(),
        format!("{err:?}"),
        format!("{bad:?}"),
        format!("{bad_opts:?}"),
    ] {
        assert!(!text.contains("WrongPassw0rd"), "secret leaked: {text}");
    }

    // Right password, from an auth file written by ferry.
    let authfile = tmp.path().join("auth.json");
    ferry::registry::write_authfile_entry(
        &authfile,
        &host,
        &Credential::new(user.clone(), pass.clone()),
    )
    .unwrap();
    let good_opts = ClientOptions {
        authfile: Some(authfile),
        ..tls_options(&local)
    };
    let good = Registry::new(&host, &good_opts).unwrap();
    good.push_blob("app", &d, data.len() as u64, &data).unwrap();
    assert_eq!(
        good.blob_exists("app", &d).unwrap(),
        Some(data.len() as u64)
    );
    assert_eq!(
        read_back(&good, "app", &d, data.len() as u64),
        (d.clone(), data.len() as u64)
    );
    assert!(!format!("{good:?}").contains(&pass));
}

#[test]
fn chunked_upload_refused_falls_back_to_a_monolithic_put() {
    let local = TestRegistry::plain();
    // A registry that mishandles chunked uploads: every PATCH is refused.
    let proxy = support::proxy::FaultProxy::start(&local.host(), |method, _| {
        if method == "PATCH" {
            support::proxy::Action::Reply(
                400,
                br#"{"errors":[{"code":"UNSUPPORTED","message":"chunked uploads are not supported"}]}"#.to_vec(),
            )
        } else {
            support::proxy::Action::Forward
        }
    });
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("blob");
    let d = write_pseudo_random(&path, 3 * 1024 * 1024, 7);
    let reg = Registry::new(
        &proxy.host(),
        &ClientOptions {
            insecure: vec![proxy.host()],
            ..ClientOptions::default()
        },
    )
    .unwrap();
    reg.push_blob("app", &d, 3 * 1024 * 1024, &path).unwrap();
    let seen = proxy.seen();
    assert!(
        seen.iter()
            .any(|s| s.method == "PATCH" && s.answered == Some(400)),
        "{seen:?}"
    );
    assert!(
        seen.iter()
            .any(|s| s.method == "PUT" && s.url.contains("digest=") && s.answered.is_none()),
        "{seen:?}"
    );
    // The blob really is in the registry, with the right bytes.
    let direct = Registry::new(&local.host(), &plain_options(&local)).unwrap();
    assert_eq!(read_back(&direct, "app", &d, 3 * 1024 * 1024).0, d);
}

#[test]
fn certs_d_convention_trusts_a_registry_ca() {
    let local = TestRegistry::tls_htpasswd();
    let creds = Credential::new(local.username().to_string(), local.password().to_string());
    // Without the CA: a TLS error that says so.
    let plain = Registry::new(
        &local.host(),
        &ClientOptions {
            creds: Some(creds.clone()),
            certs_dir: tempfile::tempdir().unwrap().path().to_path_buf(),
            ..ClientOptions::default()
        },
    )
    .unwrap();
    let err = plain.ping().unwrap_err();
    assert!(
        matches!(
            err,
            RegistryError::Tls { .. } | RegistryError::Transport { .. }
        ),
        "{err:?}"
    );
    // With /etc/containers/certs.d/HOST:PORT/ca.crt (here a temporary certs.d): trusted.
    let certs_d = tempfile::tempdir().unwrap();
    let dir = certs_d.path().join(local.host());
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(local.ca_cert_path(), dir.join("ca.crt")).unwrap();
    let reg = Registry::new(
        &local.host(),
        &ClientOptions {
            creds: Some(creds),
            certs_dir: certs_d.path().to_path_buf(),
            ..ClientOptions::default()
        },
    )
    .unwrap();
    reg.ping().unwrap();
    assert_eq!(
        reg.blob_exists("app", &Digest::sha256_of(b"none")).unwrap(),
        None
    );
}
