//! `ferry serve`: verified bundles answered as a read-only OCI registry, through the real
//! binary, pulled by skopeo (issue 15).

mod support;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

use ferry::bundle::{Bundle, Root};
use ferry::model::Digest;
use support::run::*;
use support::served::*;
use support::*;

fn pack_fixtures() -> Packed {
    let set = fixtures_small();
    let mut lines = local_lines(set);
    lines.push(oci_line(&set.nested_index));
    pack(&lines, &[])
}

fn is_nested(root: &Root, img: &ferry::bundle::ImageEntry) -> bool {
    root.image_graph(img)
        .unwrap()
        .nodes
        .iter()
        .any(|n| n.depth > 0 && n.is_index())
}

#[test]
fn skopeo_copies_every_image_by_either_name_by_tag_and_by_digest() {
    let p = pack_fixtures();
    let root = root_of(&p);
    let s = Served::start(&[&p.dir], &[&p.pubkey], &[]);
    assert_eq!(s.start["event"], "listening");
    assert_eq!(s.start["images"], root.images.len());
    let layout = p.tmp.path().join("pulled");
    let mut copies = 0;
    for img in &root.images {
        let tag = img.tags.first().expect("fixture images have tags");
        for repo in repositories(&img.name) {
            for reference in [format!("{repo}:{tag}"), format!("{repo}@{}", img.digest)] {
                let src = format!("docker://{}/{reference}", s.addr);
                let raw_manifest = skopeo(["inspect", "--raw", "--tls-verify=false", &src]);
                assert_eq!(Digest::sha256_of(&raw_manifest), img.digest, "{src}");
                if is_nested(&root, img) {
                    // skopeo copies no index of indexes: its top manifest is checked above.
                    continue;
                }
                let dest = format!("oci:{}:image{copies}", layout.display());
                let out =
                    skopeo_output(["copy", "--all", "-q", "--src-tls-verify=false", &src, &dest]);
                assert!(
                    out.status.success(),
                    "skopeo copy {src}: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
                copies += 1;
            }
        }
    }
    assert!(copies >= 4 * (root.images.len() - 1), "{copies}");
    let log = s.stop();
    assert!(
        log.contains("\"method\":\"GET\""),
        "an access log line per request:\n{log}"
    );
    assert!(
        !log.contains("ABORTED") && !log.contains("\"error\":\""),
        "{log}"
    );
}

#[test]
fn skopeo_copies_every_image_into_a_registry_keeping_its_digests() {
    let p = pack_fixtures();
    let root = root_of(&p);
    let s = Served::start(&[&p.dir], &[&p.pubkey], &[]);
    let target = TestRegistry::plain();
    let dest = skopeo_tls_args(&target);
    for (i, img) in root.images.iter().enumerate() {
        if is_nested(&root, img) {
            continue;
        }
        let [_, mirror] = repositories(&img.name);
        let src = format!("docker://{}/{mirror}:{}", s.addr, img.tags[0]);
        let to = format!("docker://{}/served/image{i}:x", target.host());
        let mut args = vec![
            "copy".to_string(),
            "--all".into(),
            "--preserve-digests".into(),
            "-q".into(),
            "--src-tls-verify=false".into(),
        ];
        args.extend(dest.dest.clone());
        args.extend([src.clone(), to]);
        let out = skopeo_output(&args);
        assert!(
            out.status.success(),
            "skopeo copy {src}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut inspect = vec!["inspect".to_string(), "--raw".into()];
        inspect.extend(dest.inspect.clone());
        inspect.push(format!(
            "docker://{}/served/image{i}@{}",
            target.host(),
            img.digest
        ));
        assert_eq!(
            Digest::sha256_of(&skopeo(&inspect)),
            img.digest,
            "{}",
            img.name
        );
    }
    s.stop();
}

#[test]
fn the_api_answers_reads_and_refuses_writes_with_405() {
    let p = pack(&[oci_line(fixtures_small().image("app-a"))], &[]);
    let root = root_of(&p);
    let s = Served::start(&[&p.dir], &[&p.pubkey], &[]);
    let img = &root.images[0];
    let [upstream, mirror] = repositories(&img.name);

    let (status, head, body) = raw(&s.addr, "GET", "/v2/", &[]);
    assert_eq!(status, 200, "{head}");
    assert_eq!(
        header(&head, "Docker-Distribution-API-Version"),
        Some("registry/2.0")
    );
    assert_eq!(body, b"{}");

    let (status, _, body) = raw(&s.addr, "GET", "/v2/_catalog", &[]);
    assert_eq!(status, 200);
    let catalog: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        catalog["repositories"],
        serde_json::json!([mirror, upstream])
    );

    let (status, _, body) = raw(&s.addr, "GET", &format!("/v2/{mirror}/tags/list"), &[]);
    assert_eq!(status, 200);
    let tags: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(tags["tags"], serde_json::json!(img.tags));

    for method in ["GET", "HEAD"] {
        let path = format!("/v2/{upstream}/manifests/{}", img.tags[0]);
        let accept = format!("Accept: {}", img.media_type);
        let (status, head, body) = raw(&s.addr, method, &path, &[&accept]);
        assert_eq!(status, 200, "{head}");
        assert_eq!(header(&head, "Content-Type"), Some(img.media_type.as_str()));
        assert_eq!(
            header(&head, "Docker-Content-Digest"),
            Some(img.digest.to_string().as_str())
        );
        let len: usize = header(&head, "Content-Length").unwrap().parse().unwrap();
        if method == "GET" {
            assert_eq!(Digest::sha256_of(&body), img.digest);
            assert_eq!(len, body.len());
        } else {
            assert!(body.is_empty());
        }
    }

    // A blob in full, then a range of it (206, the same bytes).
    let graph = root.image_graph(img).unwrap();
    let blob = graph.blobs.iter().max_by_key(|b| b.size).unwrap();
    let path = format!("/v2/{mirror}/blobs/{}", blob.digest);
    let (status, head, full) = raw(&s.addr, "GET", &path, &[]);
    assert_eq!(status, 200, "{head}");
    assert_eq!(Digest::sha256_of(&full), blob.digest);
    let (status, head, part) = raw(&s.addr, "GET", &path, &["Range: bytes=10-99"]);
    assert_eq!(status, 206, "{head}");
    assert_eq!(part, &full[10..100]);
    assert_eq!(
        header(&head, "Content-Range"),
        Some(format!("bytes 10-99/{}", full.len()).as_str())
    );
    let (status, head, body) = raw(&s.addr, "HEAD", &path, &[]);
    assert_eq!((status, body.len()), (200, 0));
    assert_eq!(
        header(&head, "Content-Length"),
        Some(full.len().to_string().as_str())
    );

    let (status, _, body) = raw(&s.addr, "GET", &format!("/v2/{mirror}/manifests/nope"), &[]);
    assert_eq!(status, 404);
    assert!(String::from_utf8_lossy(&body).contains("MANIFEST_UNKNOWN"));
    let (status, _, _) = raw(&s.addr, "GET", "/v2/not/served/tags/list", &[]);
    assert_eq!(status, 404);

    for (method, path) in [
        ("PUT", format!("/v2/{mirror}/manifests/new")),
        ("POST", format!("/v2/{mirror}/blobs/uploads/")),
        ("PATCH", format!("/v2/{mirror}/blobs/uploads/x")),
        ("DELETE", format!("/v2/{upstream}/manifests/{}", img.digest)),
        ("DELETE", path.clone()),
    ] {
        let (status, head, body) = raw(&s.addr, method, &path, &[]);
        assert_eq!(status, 405, "{method} {path}: {head}");
        let e: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(e["errors"][0]["code"], "UNSUPPORTED", "{e}");
        assert_eq!(header(&head, "Content-Type"), Some("application/json"));
    }
    let log = s.stop();
    assert_eq!(log.matches("\"method\":\"PUT\"").count(), 1, "{log}");
}

#[test]
fn a_damaged_chunk_cuts_off_its_blob_names_the_chunk_and_other_blobs_still_serve() {
    let p = pack(&[oci_line(fixtures_small().image("app-a"))], &[]);
    let root = root_of(&p);
    let img = &root.images[0];
    let [_, mirror] = repositories(&img.name);
    // The largest blob's last chunk: the damage lies past the first bytes sent, when the blob
    // has more than one chunk.
    let blob = root.blobs.iter().max_by_key(|b| b.size).unwrap();
    assert!(
        blob.chunks.len() > 1,
        "the blob must span chunks: {}",
        blob.chunks.len()
    );
    let index = *blob.chunks.last().unwrap();
    let chunk = &root.chunks[index as usize];
    let key = ferry::sign::read_public_key(&p.pubkey).unwrap();
    let volume = {
        let b = Bundle::open(&p.dir).unwrap().verify(&key).unwrap();
        b.volume_of(chunk).unwrap().path.clone()
    };
    flip_byte(&volume, 512 + chunk.offset() + chunk.stored_len() / 2);
    let other = root
        .blobs
        .iter()
        .find(|b| !b.chunks.contains(&index))
        .expect("a blob without the damaged chunk");

    let s = Served::start(&[&p.dir], &[&p.pubkey], &[]);
    let (status, head, body) = raw(
        &s.addr,
        "GET",
        &format!("/v2/{mirror}/blobs/{}", blob.digest),
        &[],
    );
    // The head went out with the first chunk; the body stops short of its declared length.
    assert_eq!(status, 200, "{head}");
    let declared: usize = header(&head, "Content-Length").unwrap().parse().unwrap();
    assert!(body.len() < declared, "{} of {declared} bytes", body.len());
    let (status, _, body) = raw(
        &s.addr,
        "GET",
        &format!("/v2/{mirror}/blobs/{}", other.digest),
        &[],
    );
    assert_eq!(status, 200);
    assert_eq!(Digest::sha256_of(&body), other.digest);
    let log = s.stop();
    assert!(
        log.contains(&chunk.digest().to_string()),
        "the log names the chunk:\n{log}"
    );
}

/// An htpasswd file with `user:password` as bcrypt (`htpasswd -B`), or MD5 with `-m`.
fn htpasswd_file(dir: &Path, kind: &str) -> PathBuf {
    let path = dir.join(format!("htpasswd{kind}"));
    let tool = require_tool("htpasswd");
    let out = Command::new(tool)
        .args([
            "-c",
            "-b",
            kind,
            path.to_str().unwrap(),
            "puller",
            "s3cret-pw",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    path
}

#[test]
fn with_htpasswd_a_wrong_password_gets_a_basic_challenge_and_the_right_one_pulls() {
    let p = pack(&[oci_line(fixtures_small().image("app-a"))], &[]);
    let root = root_of(&p);
    let img = &root.images[0];
    let file = htpasswd_file(p.tmp.path(), "-B");
    let s = Served::start(
        &[&p.dir],
        &[&p.pubkey],
        &["--htpasswd".into(), file.display().to_string()],
    );
    assert_eq!(s.start["auth"], true);
    use base64::Engine as _;
    let wrong = base64::engine::general_purpose::STANDARD.encode("puller:wrong");
    for auth in [vec![], vec![format!("Authorization: Basic {wrong}")]] {
        let auth: Vec<&str> = auth.iter().map(|s| s.as_str()).collect();
        let (status, head, _) = raw(&s.addr, "GET", "/v2/", &auth);
        assert_eq!(status, 401, "{head}");
        let challenge = header(&head, "WWW-Authenticate").unwrap();
        assert!(challenge.starts_with("Basic "), "{challenge}");
    }
    let src = format!(
        "docker://{}/{}:{}",
        s.addr,
        repositories(&img.name)[1],
        img.tags[0]
    );
    let denied = skopeo_output([
        "inspect",
        "--raw",
        "--tls-verify=false",
        "--creds",
        "puller:wrong",
        &src,
    ]);
    assert!(!denied.status.success());
    let layout = p.tmp.path().join("pulled");
    skopeo([
        "copy",
        "-q",
        "--src-tls-verify=false",
        "--src-creds",
        "puller:s3cret-pw",
        &src,
        &format!("oci:{}:x", layout.display()),
    ]);
    let log = s.stop();
    assert!(log.contains("\"user\":\"puller\""), "{log}");
    assert!(
        !log.contains("s3cret-pw") && !log.contains(&wrong),
        "no secret in the log"
    );
}

#[test]
fn an_htpasswd_file_with_another_hash_kind_is_refused_at_start() {
    let p = pack(&[oci_line(fixtures_small().image("app-a"))], &[]);
    let file = htpasswd_file(p.tmp.path(), "-m");
    let out = ferry([
        "serve".to_string(),
        p.dir.display().to_string(),
        "--trusted-key".into(),
        p.pubkey.display().to_string(),
        "--listen".into(),
        "127.0.0.1:0".into(),
        "--htpasswd".into(),
        file.display().to_string(),
    ]);
    assert!(!out.status.success());
    let t = text(&out);
    assert!(t.contains("not bcrypt") && t.contains("htpasswd -B"), "{t}");
}

#[test]
fn with_tls_skopeo_pulls_trusting_the_ca() {
    let p = pack(&[oci_line(fixtures_small().image("app-a"))], &[]);
    let root = root_of(&p);
    let img = &root.images[0];
    let tls = support::certs::server_tls(p.tmp.path());
    let s = Served::start(
        &[&p.dir],
        &[&p.pubkey],
        &[
            "--tls-cert".into(),
            tls.server_cert.display().to_string(),
            "--tls-key".into(),
            tls.server_key.display().to_string(),
        ],
    );
    assert!(s.start["url"].as_str().unwrap().starts_with("https://"));
    let cert_dir = tls.skopeo_cert_dir.display().to_string();
    let src = format!(
        "docker://{}/{}@{}",
        s.addr,
        repositories(&img.name)[0],
        img.digest
    );
    let raw_manifest = skopeo(["inspect", "--raw", "--cert-dir", &cert_dir, &src]);
    assert_eq!(Digest::sha256_of(&raw_manifest), img.digest);
    let layout = p.tmp.path().join("pulled");
    skopeo([
        "copy",
        "-q",
        "--src-cert-dir",
        &cert_dir,
        &src,
        &format!("oci:{}:x", layout.display()),
    ]);
    // Without the CA the client refuses the server.
    let refused = skopeo_output(["inspect", "--raw", &src]);
    assert!(!refused.status.success());
    s.stop();
}

#[test]
fn several_bundles_add_up() {
    let set = fixtures_small();
    let a = pack(&[oci_line(set.image("app-a"))], &[]);
    let b = pack(&[oci_line(set.image("app-b"))], &[]);
    let s = Served::start(&[&a.dir, &b.dir], &[&a.pubkey, &b.pubkey], &[]);
    assert_eq!(s.start["bundles"].as_array().unwrap().len(), 2);
    for p in [&a, &b] {
        let img = &root_of(p).images[0];
        let src = format!(
            "docker://{}/{}:{}",
            s.addr,
            repositories(&img.name)[1],
            img.tags[0]
        );
        let raw_manifest = skopeo(["inspect", "--raw", "--tls-verify=false", &src]);
        assert_eq!(Digest::sha256_of(&raw_manifest), img.digest);
    }
    s.stop();
}

#[test]
fn sigterm_stops_promptly_with_an_idle_connection_open_and_exits_zero() {
    let p = pack(&[oci_line(fixtures_small().image("app-a"))], &[]);
    let root = root_of(&p);
    let [_, mirror] = repositories(&root.images[0].name);
    let blob = root.blobs.iter().max_by_key(|b| b.size).unwrap();
    let s = Served::start(&[&p.dir], &[&p.pubkey], &[]);
    // An idle keep-alive connection, and a request whose reply is not read yet.
    let idle = std::net::TcpStream::connect(&s.addr).unwrap();
    let mut busy = std::net::TcpStream::connect(&s.addr).unwrap();
    write!(
        busy,
        "GET /v2/{mirror}/blobs/{} HTTP/1.1\r\nHost: x\r\n\r\n",
        blob.digest
    )
    .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));
    let started = std::time::Instant::now();
    let log = s.stop();
    assert!(
        started.elapsed().as_secs() < 10,
        "stopped in {:?}",
        started.elapsed()
    );
    let mut all = Vec::new();
    busy.read_to_end(&mut all).unwrap();
    let end = all.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    assert!(all.starts_with(b"HTTP/1.1 200"), "{log}");
    assert_eq!(Digest::sha256_of(&all[end + 4..]), blob.digest);
    drop(idle);
}

#[test]
fn an_idle_keep_alive_connection_yields_its_worker_to_a_waiting_client() {
    let p = pack(&[oci_line(fixtures_small().image("app-a"))], &[]);
    let s = Served::start(&[&p.dir], &[&p.pubkey], &["-j".into(), "1".into()]);
    // The only worker answers a keep-alive request, then the connection sits idle.
    let mut first = std::net::TcpStream::connect(&s.addr).unwrap();
    write!(first, "GET /v2/ HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut got = [0u8; 12];
    first.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"HTTP/1.1 200");
    let started = std::time::Instant::now();
    let (status, _, _) = raw(&s.addr, "GET", "/v2/", &[]);
    assert_eq!(status, 200);
    assert!(
        started.elapsed() < std::time::Duration::from_secs(5),
        "the second client waited {:?}",
        started.elapsed()
    );
    drop(first);
    s.stop();
}

/// A container engine's own storage pulls from the server. podman is not installed here, so
/// the client is skopeo writing into `containers-storage:` (containers/storage, the library
/// podman and CRI-O store images with; vfs driver in a scratch root), and the image is then
/// listed from that storage's own image index.
#[test]
fn a_container_storage_pulls_an_image_by_its_mirror_name_and_lists_it() {
    let set = fixtures_small();
    let img = set.image("multiarch");
    let p = pack(&[oci_line(img)], &[]);
    let s = Served::start(&[&p.dir], &[&p.pubkey], &[]);
    let storage = p.tmp.path().join("storage");
    let conf = p.tmp.path().join("storage.conf");
    std::fs::write(
        &conf,
        format!(
            "[storage]\ndriver = \"vfs\"\ngraphroot = \"{0}/graph\"\nrunroot = \"{0}/run\"\n",
            storage.display()
        ),
    )
    .unwrap();
    let name = format!("quay.io/{}:{}", img.repository, img.tag);
    let out = Command::new(require_tool("skopeo"))
        .env("CONTAINERS_STORAGE_CONF", &conf)
        .args(["copy", "-q", "--src-tls-verify=false"])
        .arg(format!("docker://{}/mirror/{name}", s.addr))
        .arg(format!("containers-storage:{name}"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // containers/storage lists its images in vfs-images/images.json: the pulled image is there
    // under its name, recorded with the digest of the index it was pulled through.
    let listed: serde_json::Value = serde_json::from_slice(
        &std::fs::read(storage.join("graph/vfs-images/images.json")).unwrap(),
    )
    .unwrap();
    let entry = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|i| {
            i["names"]
                .as_array()
                .is_some_and(|n| n.iter().any(|n| n == &name))
        })
        .unwrap_or_else(|| panic!("{name} not listed: {listed}"));
    assert_eq!(
        entry["digest"].as_str(),
        Some(img.digest.as_str()),
        "{entry}"
    );
}
