//! Content negotiation for manifests, as the CNCF registry (distribution 2.8) does it: an OCI
//! manifest or index is served only to a client whose `Accept` names its type (else
//! `404 MANIFEST_UNKNOWN`, by tag and by digest alike); a Docker manifest list asked for by
//! tag by a client that does not accept lists is answered with its `linux/amd64` manifest.
//! Where distribution would rewrite a Docker schema 2 manifest into schema 1 for an old
//! client, ferry answers `404 MANIFEST_UNKNOWN` instead: it serves only the signed bytes.

use crate::model::Digest;

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";

/// What to answer a manifest request with.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Negotiated {
    /// The manifest as stored.
    Serve,
    /// `404 MANIFEST_UNKNOWN` with this message.
    Refuse(&'static str),
    /// The `linux/amd64` manifest of a Docker list instead (to be negotiated in turn).
    Platform(Digest),
}

/// The media types an `Accept` header list names (parameters and case dropped; `*/*` names
/// none, as in distribution).
pub(super) fn accepted<'a>(values: impl Iterator<Item = &'a str>) -> Vec<String> {
    values
        .flat_map(|v| v.split(','))
        .map(|t| {
            t.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
        .filter(|t| !t.is_empty())
        .collect()
}

/// What to answer for a manifest of `media_type` (`bytes`), asked for by tag or by digest by a
/// client accepting `accept`.
pub(super) fn negotiate(
    media_type: &str,
    bytes: &[u8],
    by_tag: bool,
    accept: &[String],
) -> Negotiated {
    let takes = |t: &str| accept.iter().any(|a| a == t);
    match media_type {
        OCI_MANIFEST if !takes(OCI_MANIFEST) => Negotiated::Refuse(
            "OCI manifest found, but accept header does not support OCI manifests",
        ),
        OCI_INDEX if !takes(OCI_INDEX) => {
            Negotiated::Refuse("OCI index found, but accept header does not support OCI indexes")
        }
        DOCKER_MANIFEST if by_tag && !takes(DOCKER_MANIFEST) => Negotiated::Refuse(
            "Docker schema 2 manifest found, but accept header does not support it \
             (ferry serve does not rewrite manifests into schema 1)",
        ),
        DOCKER_LIST if by_tag && !takes(DOCKER_LIST) => match amd64_entry(bytes) {
            Some(d) => Negotiated::Platform(d),
            None => Negotiated::Refuse(
                "Docker manifest list found, but accept header does not support manifest \
                 lists, and the list has no linux/amd64 manifest",
            ),
        },
        _ => Negotiated::Serve,
    }
}

/// The digest of the `linux/amd64` entry of a manifest list (distribution's default platform).
fn amd64_entry(bytes: &[u8]) -> Option<Digest> {
    #[derive(serde::Deserialize)]
    struct List {
        manifests: Vec<Entry>,
    }
    #[derive(serde::Deserialize)]
    struct Entry {
        digest: String,
        platform: Option<Platform>,
    }
    #[derive(serde::Deserialize)]
    struct Platform {
        architecture: String,
        os: String,
    }
    let list: List = serde_json::from_slice(bytes).ok()?;
    list.manifests
        .into_iter()
        .find(|e| {
            e.platform
                .as_ref()
                .is_some_and(|p| p.os == "linux" && p.architecture == "amd64")
        })
        .and_then(|e| Digest::parse(&e.digest).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_lists_are_split_and_parameters_dropped() {
        let a = accepted(
            [
                "application/vnd.oci.image.index.v1+json; q=0.5, Application/JSON",
                "*/*",
            ]
            .into_iter(),
        );
        assert_eq!(a, vec![OCI_INDEX, "application/json", "*/*"]);
        assert_eq!(
            negotiate(OCI_MANIFEST, b"", true, &a),
            Negotiated::Refuse(
                "OCI manifest found, but accept header does not support OCI manifests"
            )
        );
        assert_eq!(negotiate(OCI_INDEX, b"", false, &a), Negotiated::Serve);
    }

    #[test]
    fn a_docker_list_by_tag_becomes_its_amd64_manifest_by_digest_it_stays() {
        let d = Digest::sha256_of(b"amd64");
        let list = format!(
            r#"{{"manifests":[{{"digest":"{}","platform":{{"architecture":"arm64","os":"linux"}}}},{{"digest":"{d}","platform":{{"architecture":"amd64","os":"linux"}}}}]}}"#,
            Digest::sha256_of(b"arm64")
        );
        let only_schema2 = vec![DOCKER_MANIFEST.to_string()];
        assert_eq!(
            negotiate(DOCKER_LIST, list.as_bytes(), true, &only_schema2),
            Negotiated::Platform(d)
        );
        assert_eq!(
            negotiate(DOCKER_LIST, list.as_bytes(), false, &only_schema2),
            Negotiated::Serve
        );
        assert!(matches!(
            negotiate(DOCKER_MANIFEST, b"", true, &[]),
            Negotiated::Refuse(_)
        ));
        assert_eq!(
            negotiate(DOCKER_MANIFEST, b"", false, &[]),
            Negotiated::Serve
        );
    }
}
