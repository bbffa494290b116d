//! Where artifacts attached to an image are found, and how a referrers list is read and
//! extended: cosign's tags (`sha256-<hex>.sig`, `.att`, `.sbom`) and the OCI 1.1 referrers
//! list, from the API or the fallback tag `sha256-<hex>` (distribution-spec §Referrers).

use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::{Digest, MediaType};

/// The media type of a referrers list: an OCI image index.
pub const INDEX_TYPE: &str = "application/vnd.oci.image.index.v1+json";

/// The fallback tag of `digest`: `sha256-<hex>`.
pub fn fallback_tag(digest: &Digest) -> String {
    format!("{}-{}", digest.algorithm().name(), digest.hex())
}

/// A cosign tag of `digest`: `sha256-<hex>.<suffix>` (`sig`, `att`, `sbom`).
pub fn cosign_tag(digest: &Digest, suffix: &str) -> String {
    format!("{}.{suffix}", fallback_tag(digest))
}

/// One entry of a referrers list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReferrerEntry {
    /// The referrer manifest's digest.
    pub digest: Digest,
    /// Its media type.
    pub media_type: MediaType,
    /// Its `artifactType` as listed.
    pub artifact_type: Option<String>,
}

#[derive(Deserialize)]
struct ListDescriptor {
    #[serde(rename = "mediaType", default)]
    media_type: String,
    digest: String,
    #[serde(rename = "artifactType")]
    artifact_type: Option<String>,
}

#[derive(Deserialize)]
struct List {
    #[serde(default)]
    manifests: Vec<ListDescriptor>,
}

/// The entries of a referrers list (an image index); `None` when `bytes` is not an index (the
/// spec then says to assume no referrers). Entries whose digest does not parse are skipped.
pub fn parse_list(bytes: &[u8]) -> Option<Vec<ReferrerEntry>> {
    let list: List = serde_json::from_slice(bytes).ok()?;
    Some(
        list.manifests
            .into_iter()
            .filter_map(|d| {
                Some(ReferrerEntry {
                    digest: Digest::parse(&d.digest).ok()?,
                    media_type: MediaType::from(d.media_type.as_str()),
                    artifact_type: d.artifact_type,
                })
            })
            .collect(),
    )
}

/// The `subject` digest a manifest names, if any.
pub fn subject_of(bytes: &[u8]) -> Option<Digest> {
    let v: Value = serde_json::from_slice(bytes).ok()?;
    Digest::parse(v.get("subject")?.get("digest")?.as_str()?).ok()
}

/// The artifact type a referrers list shows for a manifest: its `artifactType`, else its
/// config's media type.
pub fn artifact_type_of(bytes: &[u8]) -> Option<String> {
    let v: Value = serde_json::from_slice(bytes).ok()?;
    v.get("artifactType")
        .or_else(|| v.get("config").and_then(|c| c.get("mediaType")))
        .and_then(Value::as_str)
        .map(str::to_string)
}

/// The descriptor of a referrer manifest in a referrers list: media type, digest, size,
/// `artifactType` and the manifest's annotations.
pub fn descriptor_of(media_type: &MediaType, bytes: &[u8]) -> Value {
    let mut d = Map::new();
    d.insert("mediaType".into(), json!(media_type.as_str()));
    d.insert("digest".into(), json!(Digest::sha256_of(bytes).to_string()));
    d.insert("size".into(), json!(bytes.len()));
    if let Some(t) = artifact_type_of(bytes) {
        d.insert("artifactType".into(), json!(t));
    }
    let annotations = serde_json::from_slice::<Value>(bytes)
        .ok()
        .and_then(|v| v.get("annotations").cloned());
    if let Some(a) = annotations {
        d.insert("annotations".into(), a);
    }
    Value::Object(d)
}

/// `existing` (a fallback-tag index, or `None` when the tag is absent or not an index) with
/// `descriptor` added; `None` when it lists that digest already (nothing to write).
pub fn add_to_list(existing: Option<&[u8]>, descriptor: Value) -> Option<Vec<u8>> {
    let mut index = existing
        .and_then(|b| serde_json::from_slice::<Value>(b).ok())
        .filter(|v| v.get("manifests").is_some_and(Value::is_array))
        .unwrap_or_else(|| json!({"schemaVersion": 2, "mediaType": INDEX_TYPE, "manifests": []}));
    let manifests = index["manifests"].as_array_mut()?;
    if manifests
        .iter()
        .any(|m| m.get("digest") == descriptor.get("digest"))
    {
        return None;
    }
    manifests.push(descriptor);
    serde_json::to_vec(&index).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_and_lists() {
        let d = Digest::sha256_of(b"x");
        assert_eq!(fallback_tag(&d), format!("sha256-{}", d.hex()));
        assert_eq!(cosign_tag(&d, "sig"), format!("sha256-{}.sig", d.hex()));
        let subject = Digest::sha256_of(b"subject");
        let m = json!({"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",
            "artifactType":"application/spdx+json",
            "config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":d.to_string(),"size":2},
            "layers":[],"subject":{"mediaType":"application/vnd.oci.image.manifest.v1+json",
            "digest":subject.to_string(),"size":1},"annotations":{"a":"b"}});
        let bytes = serde_json::to_vec(&m).unwrap();
        assert_eq!(subject_of(&bytes), Some(subject));
        let mt = MediaType::from("application/vnd.oci.image.manifest.v1+json");
        let desc = descriptor_of(&mt, &bytes);
        assert_eq!(desc["artifactType"], "application/spdx+json");
        assert_eq!(desc["annotations"]["a"], "b");
        let list = add_to_list(None, desc.clone()).unwrap();
        let entries = parse_list(&list).unwrap();
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0].digest, Digest::sha256_of(&bytes));
        assert_eq!(
            entries[0].artifact_type.as_deref(),
            Some("application/spdx+json")
        );
        assert!(add_to_list(Some(&list), desc).is_none(), "listed once");
        let other = json!({"digest": d.to_string(), "mediaType": mt.as_str(), "size": 1});
        let two = add_to_list(Some(&list), other).unwrap();
        assert_eq!(parse_list(&two).unwrap().len(), 2);
        assert!(parse_list(b"not json").is_none());
        // A fallback tag holding something else than an index is replaced by a new list.
        assert_eq!(
            parse_list(&add_to_list(Some(b"{}"), desc_of(&d)).unwrap())
                .unwrap()
                .len(),
            1
        );
    }

    fn desc_of(d: &Digest) -> Value {
        json!({"digest": d.to_string(), "mediaType": INDEX_TYPE, "size": 1})
    }
}
