//! `ferry serve` negotiates manifests on `Accept` as the real registry does (issue 15),
//! compared request by request with Debian's docker-registry holding the same images.

mod support;

use support::run::*;
use support::served::*;
use support::*;

/// Each manifest type asked for by tag and by digest with `Accept` lists that leave out some
/// types: `ferry serve` answers as the real registry (distribution 2.8) does — status, error
/// code and message, `Content-Type`, `Docker-Content-Digest` — except where the registry
/// rewrites a Docker schema 2 manifest into schema 1, which ferry refuses with `404
/// MANIFEST_UNKNOWN`.
#[test]
fn manifest_requests_honour_accept_as_the_real_registry_does() {
    let set = fixtures_small();
    let p = pack(&local_lines(set), &[]);
    let root = root_of(&p);
    let s = Served::start(&[&p.dir], &[&p.pubkey], &[]);
    let registry = TestRegistry::plain();
    const OI: &str = "application/vnd.oci.image.index.v1+json";
    const OM: &str = "application/vnd.oci.image.manifest.v1+json";
    const DL: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
    const DM: &str = "application/vnd.docker.distribution.manifest.v2+json";
    let accepts = [
        String::new(),
        format!("Accept: {DM}"),
        format!("Accept: {DM}, {DL}"),
        format!("Accept: {OM}"),
        format!("Accept: {OM}, {DM}"),
        format!("Accept: {OI}"),
        format!("Accept: {OI}; q=0.9, {OM}, {DL}, {DM}"),
        "Accept: */*".to_string(),
    ];
    let (mut compared, mut refused, mut schema1) = (0, 0, 0);
    for fx in set.images.iter().filter(|i| i.foreign.is_empty()) {
        load_fixture(&registry, fx);
        let img = root
            .images
            .iter()
            .find(|i| i.digest.to_string() == fx.digest)
            .expect("fixture packed");
        let upstream = ferry::model::Reference::parse(&img.name).unwrap().name();
        for reference in [fx.tag.clone(), fx.digest.clone()] {
            for accept in &accepts {
                let headers: Vec<&str> = [accept.as_str()]
                    .into_iter()
                    .filter(|h| !h.is_empty())
                    .collect();
                let ours = raw(
                    &s.addr,
                    "GET",
                    &format!("/v2/{upstream}/manifests/{reference}"),
                    &headers,
                );
                let theirs = raw(
                    &registry.host(),
                    "GET",
                    &format!("/v2/{}/manifests/{reference}", fx.repository),
                    &headers,
                );
                let what = format!("{} {reference} [{accept}]", fx.slug);
                let error_of = |body: &[u8]| -> (String, String) {
                    let v: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
                    let e = &v["errors"][0];
                    (
                        e["code"].as_str().unwrap_or("").to_string(),
                        e["message"].as_str().unwrap_or("").to_string(),
                    )
                };
                if header(&theirs.1, "Content-Type")
                    == Some("application/vnd.docker.distribution.manifest.v1+prettyjws")
                {
                    assert_eq!(ours.0, 404, "{what}");
                    assert_eq!(error_of(&ours.2).0, "MANIFEST_UNKNOWN", "{what}");
                    schema1 += 1;
                    continue;
                }
                assert_eq!(ours.0, theirs.0, "{what}: {}", ours.1);
                if theirs.0 == 200 {
                    for h in ["Content-Type", "Docker-Content-Digest"] {
                        assert_eq!(header(&ours.1, h), header(&theirs.1, h), "{what}: {h}");
                    }
                    assert_eq!(ours.2, theirs.2, "{what}: the same bytes");
                } else {
                    assert_eq!(error_of(&ours.2), error_of(&theirs.2), "{what}");
                    refused += 1;
                }
                compared += 1;
            }
        }
    }
    assert!(
        refused >= 10,
        "OCI types refused to clients without them: {refused}"
    );
    assert!(schema1 >= 1, "schema 1 rewrites seen: {schema1}");
    assert!(compared >= 50, "{compared}");
}
