//! Tests of the test harness itself: the three registry variants, the token issuer, cleanup
//! on drop, and loading the fixture images with digests preserved.

mod support;

use std::net::TcpStream;

use base64::Engine as _;
use support::{
    fixtures, load_fixture, raw_digest, skopeo, skopeo_output, skopeo_tls_args, skopeo_tls_args_as,
    TestRegistry,
};

fn status(result: Result<ureq::Response, ureq::Error>) -> u16 {
    match result {
        Ok(r) => r.status(),
        Err(ureq::Error::Status(code, _)) => code,
        Err(e) => panic!("no HTTP answer: {e}"),
    }
}

fn basic(user: &str, pass: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"))
    )
}

#[test]
fn plain_registry_answers_v2_and_logs_requests() {
    let reg = TestRegistry::plain();
    assert!(reg.url().starts_with("http://127.0.0.1:"));
    let before = reg.count_requests("GET", "/v2/");
    assert_eq!(
        status(reg.agent().get(&format!("{}/v2/", reg.url())).call()),
        200
    );
    assert_eq!(
        status(
            reg.agent()
                .get(&format!("{}/v2/ferry/none/manifests/x", reg.url()))
                .call()
        ),
        404
    );
    assert_eq!(
        reg.wait_for_requests("GET", "/v2/", before + 2),
        before + 2,
        "log:\n{}",
        reg.log()
    );
    assert_eq!(reg.count_requests("GET", "/manifests/x"), 1);
    assert!(reg
        .access_log()
        .iter()
        .any(|e| e.path == "/v2/ferry/none/manifests/x" && e.status == 404));
    assert!(reg.storage_dir().is_dir());
}

#[test]
fn tls_htpasswd_registry_requires_credentials_over_trusted_tls() {
    let reg = TestRegistry::tls_htpasswd();
    assert!(reg.url().starts_with("https://127.0.0.1:"));
    assert!(reg.ca_cert_path().is_file());
    let url = format!("{}/v2/", reg.url());
    let agent = reg.agent();
    assert_eq!(status(agent.get(&url).call()), 401);
    assert_eq!(
        status(
            agent
                .get(&url)
                .set("Authorization", &basic(reg.username(), "wrong"))
                .call()
        ),
        401
    );
    assert_eq!(
        status(
            agent
                .get(&url)
                .set("Authorization", &basic(reg.username(), reg.password()))
                .call()
        ),
        200
    );
    // A client that does not trust the per-run CA gets no HTTP answer at all.
    assert!(matches!(
        ureq::get(&url).call(),
        Err(ureq::Error::Transport(_))
    ));
    // skopeo with the generated cert dir and credentials.
    let image = fixtures().image("tag-only");
    load_fixture(&reg, image);
    assert_eq!(raw_digest(&reg, image, ":latest"), image.digest);
    assert!(
        !reg.log().contains(reg.password()),
        "the password must not be logged"
    );
    assert!(!format!("{reg:?}").contains(reg.password()));
}

#[test]
fn token_registry_grants_writer_push_and_reader_only_pull() {
    let reg = TestRegistry::token_auth();
    let url = format!("{}/v2/", reg.url());
    let Err(ureq::Error::Status(401, resp)) = reg.agent().get(&url).call() else {
        panic!("expected 401 without token")
    };
    let challenge = resp
        .header("WWW-Authenticate")
        .expect("challenge")
        .to_string();
    assert!(
        challenge.starts_with("Bearer realm=\"http://127.0.0.1:"),
        "{challenge}"
    );
    assert!(challenge.contains("service=\"ferry-test\""), "{challenge}");

    let image = fixtures().image("app-a");
    load_fixture(&reg, image);
    let reader = reg.reader_credentials().expect("reader").clone();
    let reader_flags = skopeo_tls_args_as(&reg, &reader);
    let mut args = vec!["inspect".to_string(), "--raw".into()];
    args.extend(reader_flags.inspect.clone());
    args.push(format!(
        "docker://{}/{}:{}",
        reg.host(),
        image.repository,
        image.tag
    ));
    let raw = skopeo(&args);
    assert_eq!(
        format!(
            "sha256:{}",
            hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&raw))
        ),
        image.digest
    );

    let other = fixtures().image("tag-only");
    let mut push = vec!["copy".to_string()];
    push.extend(reader_flags.dest.clone());
    push.push(other.skopeo_source.clone());
    push.push(format!(
        "docker://{}/{}:{}",
        reg.host(),
        other.repository,
        other.tag
    ));
    let out = skopeo_output(&push);
    assert!(!out.status.success(), "the reader must not be able to push");
    let stderr = String::from_utf8_lossy(&out.stderr).to_lowercase();
    assert!(
        stderr.contains("denied") || stderr.contains("unauthorized"),
        "{stderr}"
    );

    let requests = reg.token_issuer().expect("issuer").requests();
    let reader_grants: Vec<_> = requests
        .iter()
        .filter(|r| r.user.as_deref() == Some("reader"))
        .flat_map(|r| r.granted.clone())
        .collect();
    assert!(
        reader_grants.iter().any(|g| g.1 == other.repository),
        "reader asked for the push repo: {requests:?}"
    );
    assert!(
        reader_grants.iter().all(|g| g.2 == ["pull"]),
        "reader only ever gets pull: {reader_grants:?}"
    );
    let writer_grants: Vec<_> = requests
        .iter()
        .filter(|r| r.user.as_deref() == Some("ferry"))
        .flat_map(|r| r.granted.clone())
        .collect();
    assert!(
        writer_grants
            .iter()
            .any(|g| g.1 == image.repository && g.2.contains(&"push".to_string())),
        "{requests:?}"
    );
    assert!(requests.iter().all(|r| r.service == "ferry-test"));
}

#[test]
fn plain_token_registry_works_with_skopeo() {
    let reg = TestRegistry::token_auth_plain();
    assert!(reg.url().starts_with("http://"));
    let image = fixtures().image("zstd-layer");
    load_fixture(&reg, image);
    assert_eq!(
        raw_digest(&reg, image, &format!(":{}", image.tag)),
        image.digest
    );
}

#[test]
fn dropping_a_registry_stops_it_and_removes_its_storage() {
    for reg in [TestRegistry::plain(), TestRegistry::token_auth()] {
        let host = reg.host();
        let storage = reg.storage_dir().to_path_buf();
        let realm_host = reg.token_issuer().map(|i| {
            i.realm()
                .trim_start_matches("http://")
                .trim_end_matches("/token")
                .to_string()
        });
        assert!(TcpStream::connect(&host).is_ok());
        assert!(storage.is_dir());
        drop(reg);
        assert!(
            TcpStream::connect(&host).is_err(),
            "{host} still accepts connections"
        );
        assert!(!storage.exists(), "{} still exists", storage.display());
        if let Some(realm_host) = realm_host {
            // tiny_http closes its listening socket from its own thread, shortly after the
            // server is dropped: give it a moment.
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
            while TcpStream::connect(&realm_host).is_ok() && std::time::Instant::now() < deadline {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            assert!(
                TcpStream::connect(&realm_host).is_err(),
                "token issuer {realm_host} still runs"
            );
        }
    }
}

#[test]
fn every_fixture_loads_with_digests_preserved() {
    let set = fixtures();
    let reg = TestRegistry::plain();
    ferry_fixtures::load_with_skopeo(set, &reg.host()).expect("loading fixtures");
    let agent = reg.agent();
    for image in &set.images {
        assert_eq!(
            raw_digest(&reg, image, &format!(":{}", image.tag)),
            image.digest,
            "{}",
            image.slug
        );
        for child in &image.children {
            assert_eq!(
                &raw_digest(&reg, image, &format!("@{child}")),
                child,
                "{} child",
                image.slug
            );
        }
        for (digest, size, _) in &image.blobs {
            let resp = agent
                .head(&format!(
                    "{}/v2/{}/blobs/{digest}",
                    reg.url(),
                    image.repository
                ))
                .call()
                .expect("blob is in the registry");
            assert_eq!(
                resp.header("Content-Length"),
                Some(size.to_string().as_str()),
                "{} {digest}",
                image.slug
            );
        }
        for digest in &image.foreign {
            assert_eq!(
                status(
                    agent
                        .head(&format!(
                            "{}/v2/{}/blobs/{digest}",
                            reg.url(),
                            image.repository
                        ))
                        .call()
                ),
                404
            );
        }
    }
    let large = set.image("large");
    assert!(large.blobs.iter().any(|b| b.1 > 64 * 1024 * 1024));
    let flags = skopeo_tls_args(&reg);
    let mut args = vec!["copy".to_string()];
    args.extend(flags.dest);
    args.push(format!("docker-archive:{}", set.docker_archive.display()));
    args.push(format!("docker://{}/ferry/docker-archive:1", reg.host()));
    skopeo(&args);
    assert!(reg.count_requests("PUT", "/v2/ferry/docker-archive/manifests/1") == 1);
}
