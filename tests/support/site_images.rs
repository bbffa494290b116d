//! Small images built in a test and copied into a registry with skopeo, and the `ferry push`
//! arguments of the incremental tests.

use std::path::Path;

use ferry::model::Digest;
use ferry_fixtures::media;
use serde_json::json;

use super::registry::TestRegistry;
use super::run::registry_flags;
use super::skopeo::{skopeo, skopeo_tls_args};

/// Stores `bytes` in the OCI layout `root` and returns their descriptor.
pub fn put(root: &Path, bytes: &[u8], mt: &str) -> serde_json::Value {
    let digest = Digest::sha256_of(bytes);
    let blobs = root.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).unwrap();
    std::fs::write(blobs.join(digest.hex()), bytes).unwrap();
    json!({"mediaType": mt, "digest": digest.to_string(), "size": bytes.len()})
}

/// An image of `layers` (all of media type `mt`), written as an OCI layout under `dir` and
/// copied into `reg` as `repo:tag` with skopeo. Returns the manifest digest and the layers'
/// digests.
pub fn push_image(
    reg: &TestRegistry,
    dir: &Path,
    repo: &str,
    tag: &str,
    layers: &[&[u8]],
    mt: &str,
) -> (String, Vec<Digest>) {
    let root = dir.join(format!("{}-{tag}", repo.replace('/', "_")));
    let diff_ids: Vec<String> = (0..layers.len())
        .map(|i| format!("{repo}:{tag}:{i}"))
        .collect();
    let config = json!({"architecture": "amd64", "os": "linux",
                        "rootfs": {"type": "layers", "diff_ids": diff_ids}});
    let config = put(&root, config.to_string().as_bytes(), media::OCI_CONFIG);
    let layers: Vec<_> = layers.iter().map(|l| put(&root, l, mt)).collect();
    let digests = layers
        .iter()
        .map(|l| Digest::parse(l["digest"].as_str().unwrap()).unwrap())
        .collect();
    let manifest = json!({"schemaVersion": 2, "mediaType": media::OCI_MANIFEST,
                          "config": config, "layers": layers});
    let mut top = put(&root, manifest.to_string().as_bytes(), media::OCI_MANIFEST);
    top["annotations"] = json!({"org.opencontainers.image.ref.name": tag});
    let index = json!({"schemaVersion": 2, "manifests": [top]});
    std::fs::write(root.join("index.json"), index.to_string()).unwrap();
    std::fs::write(root.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    let mut args = vec!["copy".to_string(), "-q".into(), "--preserve-digests".into()];
    args.extend(skopeo_tls_args(reg).dest);
    args.push(format!("oci:{}:{tag}", root.display()));
    args.push(format!("docker://{}/{repo}:{tag}", reg.host()));
    skopeo(&args);
    (top["digest"].as_str().unwrap().to_string(), digests)
}

/// `ferry push DIR` onto `target` with the trusted key `pubkey`, mirror sets under `scratch`,
/// `--json`, and the registry's own flags.
pub fn push_args(dir: &Path, pubkey: &Path, target: &TestRegistry, scratch: &Path) -> Vec<String> {
    let mut args = vec![
        "push".to_string(),
        dir.display().to_string(),
        "--trusted-key".into(),
        pubkey.display().to_string(),
        "--to".into(),
        target.host(),
        "--mirrorsets-out".into(),
        scratch.join("mirrorsets").display().to_string(),
        "--json".into(),
    ];
    args.extend(registry_flags(target, scratch));
    args
}
