//! Pushing the artifacts of `ferry_fixtures::attached` (and tiny subject images) into a test
//! registry over the distribution API, as cosign and ORAS do: blobs by a monolithic upload,
//! then the manifest under a tag or its digest.

use ferry_fixtures::attached::Artifact;

use super::TestRegistry;

/// Pushes `artifact`'s blobs and manifest to `repo` at `reference` (a tag or its digest) in
/// the plain-HTTP, anonymous `reg`.
pub fn push_artifact(reg: &TestRegistry, repo: &str, reference: &str, artifact: &Artifact) {
    let agent = reg.agent();
    let base = reg.url();
    for (digest, bytes) in &artifact.blobs {
        let head = agent
            .head(&format!("{base}/v2/{repo}/blobs/{digest}"))
            .call();
        if head.is_ok() {
            continue;
        }
        let resp = agent
            .post(&format!("{base}/v2/{repo}/blobs/uploads/"))
            .send_bytes(&[])
            .unwrap_or_else(|e| panic!("starting an upload to {repo}: {e}"));
        let location = resp
            .header("location")
            .expect("upload location")
            .to_string();
        let location = if location.starts_with('/') {
            format!("{base}{location}")
        } else {
            location
        };
        let sep = if location.contains('?') { '&' } else { '?' };
        agent
            .put(&format!("{location}{sep}digest={digest}"))
            .set("Content-Type", "application/octet-stream")
            .send_bytes(bytes)
            .unwrap_or_else(|e| panic!("uploading blob {digest} to {repo}: {e}"));
    }
    agent
        .put(&format!("{base}/v2/{repo}/manifests/{reference}"))
        .set("Content-Type", &artifact.media_type)
        .send_bytes(&artifact.manifest)
        .unwrap_or_else(|e| panic!("pushing manifest {reference} to {repo}: {e}"));
}

/// `GET /v2/<repo>/manifests/<reference>` from `reg`: the exact bytes, or `None` on 404.
pub fn get_manifest(reg: &TestRegistry, repo: &str, reference: &str) -> Option<Vec<u8>> {
    let accept =
        "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json";
    match reg
        .agent()
        .get(&format!("{}/v2/{repo}/manifests/{reference}", reg.url()))
        .set("Accept", accept)
        .call()
    {
        Ok(r) => {
            let mut v = Vec::new();
            std::io::Read::read_to_end(&mut r.into_reader(), &mut v).unwrap();
            Some(v)
        }
        Err(ureq::Error::Status(404, _)) => None,
        Err(e) => panic!("GET {repo}:{reference}: {e}"),
    }
}
