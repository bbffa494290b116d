//! The generated registries.conf, read by the real containers/image (skopeo) and served by the
//! real registry: digest pulls and tag pulls go to the mirror exactly as `pull-from-mirror` says.

use std::fs;
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use ferry::mirrorset::{build, MirrorInput, Options};
use ferry::model::{Digest, Reference};
use ferry::naming::Naming;

const REGISTRY: &str = "/usr/bin/docker-registry";

struct Registry {
    child: Child,
    addr: String,
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_registry(dir: &Path) -> Registry {
    assert!(
        Path::new(REGISTRY).exists(),
        "{REGISTRY} is missing; scripts/test.sh installs it (Debian package docker-registry)"
    );
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let config = dir.join("config.yml");
    fs::write(
        &config,
        format!(
            "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: {addr}\n",
            dir.join("storage").display()
        ),
    )
    .unwrap();
    let child = Command::new(REGISTRY)
        .arg("serve")
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let registry = Registry { child, addr };
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if ureq::get(&format!("http://{}/v2/", registry.addr))
            .call()
            .is_ok()
        {
            return registry;
        }
        assert!(
            Instant::now() < deadline,
            "registry did not start on {}",
            registry.addr
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn skopeo(conf: &Path, args: &[&str]) -> Output {
    // skopeo 1.9 ignores CONTAINERS_REGISTRIES_CONF; its (hidden) --registries-conf works.
    Command::new("skopeo")
        .arg("--registries-conf")
        .arg(conf)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run skopeo ({e}); scripts/test.sh installs it"))
}

fn write_blob(layout: &Path, bytes: &[u8]) -> Digest {
    let d = Digest::sha256_of(bytes);
    let hex = d.to_string()["sha256:".len()..].to_string();
    fs::write(layout.join("blobs/sha256").join(hex), bytes).unwrap();
    d
}

/// A one-layer OCI image layout tagged `v1`.
fn oci_image(layout: &Path) {
    fs::create_dir_all(layout.join("blobs/sha256")).unwrap();
    fs::write(
        layout.join("oci-layout"),
        r#"{"imageLayoutVersion":"1.0.0"}"#,
    )
    .unwrap();
    let layer = vec![0u8; 1024]; // an empty tar archive
    let layer_digest = write_blob(layout, &layer);
    let config = format!(
        r#"{{"architecture":"amd64","os":"linux","rootfs":{{"type":"layers","diff_ids":["{layer_digest}"]}}}}"#
    );
    let config_digest = write_blob(layout, config.as_bytes());
    let manifest = format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{config_digest}","size":{}}},"layers":[{{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"{layer_digest}","size":{}}}]}}"#,
        config.len(),
        layer.len()
    );
    let manifest_digest = write_blob(layout, manifest.as_bytes());
    fs::write(
        layout.join("index.json"),
        format!(
            r#"{{"schemaVersion":2,"manifests":[{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{manifest_digest}","size":{},"annotations":{{"org.opencontainers.image.ref.name":"v1"}}}}]}}"#,
            manifest.len()
        ),
    )
    .unwrap();
}

#[test]
fn registries_conf_redirects_pulls_as_pull_from_mirror_says() {
    let tmp = tempfile::tempdir().unwrap();
    let registry = start_registry(tmp.path());
    let layout = tmp.path().join("oci");
    oci_image(&layout);
    let naming = Naming::new(&registry.addr, "mirror").unwrap();

    // upstream.invalid is bundled by tag, other.invalid by digest only. Both exist on the mirror
    // under the passthrough names, with the tag. skopeo may rewrite the manifest on the way, so
    // the digest is the one it reports having pushed.
    let mut digest = None;
    for upstream in ["upstream.invalid/org/app:v1", "other.invalid/org/pinned:v1"] {
        let dest = naming.mirror(&Reference::parse(upstream).unwrap()).unwrap();
        let digest_file = tmp.path().join("digest");
        let out = Command::new("skopeo")
            .args(["copy", "--dest-tls-verify=false", "--digestfile"])
            .arg(&digest_file)
            .arg(format!("oci:{}:v1", layout.display()))
            .arg(format!("docker://{dest}"))
            .output()
            .unwrap_or_else(|e| panic!("cannot run skopeo ({e}); scripts/test.sh installs it"));
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let pushed = Digest::parse(fs::read_to_string(&digest_file).unwrap().trim()).unwrap();
        assert_eq!(*digest.get_or_insert(pushed.clone()), pushed);
    }
    let digest = digest.unwrap();
    let tagged = Reference::parse(&format!("upstream.invalid/org/app:v1@{digest}")).unwrap();
    let pinned = Reference::parse(&format!("other.invalid/org/pinned:v1@{digest}")).unwrap();

    let inputs = [
        MirrorInput {
            source: tagged.clone(),
            by_tag: true,
        },
        MirrorInput {
            source: pinned.clone(),
            by_tag: false,
        },
    ];
    let sets = build(&inputs, &naming, &Options::default()).unwrap();
    // The test registry speaks plain HTTP, which containers/image allows only for a mirror
    // marked insecure; a TLS mirror needs no such line.
    let conf_text = sets
        .registries_conf
        .replace("\npull-from-mirror", "\ninsecure = true\npull-from-mirror");
    let conf = tmp.path().join("registries.conf");
    fs::write(&conf, &conf_text).unwrap();

    let inspect =
        |image: String| skopeo(&conf, &["inspect", "--raw", &format!("docker://{image}")]);
    let check_ok = |image: String| {
        let out = inspect(image.clone());
        assert!(
            out.status.success(),
            "{image} not served through the mirror:\n{}\n{conf_text}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(Digest::sha256_of(&out.stdout), digest, "{image}");
    };
    // Digest pulls go to the mirror for both sources; tag pulls only where tags are mirrored.
    check_ok(format!("upstream.invalid/org/app@{digest}"));
    check_ok("upstream.invalid/org/app:v1".to_string());
    check_ok(format!("other.invalid/org/pinned@{digest}"));
    let out = inspect("other.invalid/org/pinned:v1".to_string());
    assert!(
        !out.status.success(),
        "a tag pull of a digest-only source must not use the mirror:\n{conf_text}"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("other.invalid"), "{stderr}");
}
