//! Issue 10 item 3: cosign signatures, attestations and OCI 1.1 referrers travel with the
//! images. Fixture images with `.sig`/`.att` tags and a referrer listed by the fallback tag
//! live on the real registry (Debian's docker-registry has no referrers API); a stand-in in
//! front of it answers the referrers API. After pack and push, each artifact is at the mirror
//! with its digest unchanged, attached to the same subject digest (skopeo and the fallback tag
//! say so).

mod support;

use ferry_fixtures::attached::{
    cosign_attestation, cosign_signature, fallback_index, referrer, subject_image, subject_index,
    Artifact,
};
use ferry_fixtures::media;
use support::attached::{get_manifest, push_artifact};
use support::proxy::{Action, FaultProxy};
use support::run::*;
use support::*;

fn tag(digest: &str, suffix: &str) -> String {
    let t = digest.replace(':', "-");
    if suffix.is_empty() {
        t
    } else {
        format!("{t}.{suffix}")
    }
}

/// What was loaded into the source registry.
struct Loaded {
    single: Artifact,
    sig: Artifact,
    att: Artifact,
    sbom: Artifact,
    amd64: Artifact,
    index: Artifact,
    index_sig: Artifact,
    child_sig: Artifact,
}

/// `ferry/signed:1.0` with a `.sig`, an `.att` and an SBOM referrer in the fallback tag;
/// `ferry/multi:2.0`, an index with a `.sig` of its own and one of its amd64 child.
fn load(reg: &TestRegistry) -> Loaded {
    let single = subject_image("signed", "amd64");
    push_artifact(reg, "ferry/signed", "1.0", &single);
    let sig = cosign_signature(&single.digest, &format!("{}/ferry/signed:1.0", reg.host()));
    push_artifact(reg, "ferry/signed", &tag(&single.digest, "sig"), &sig);
    let att = cosign_attestation(&single.digest, "ferry/signed");
    push_artifact(reg, "ferry/signed", &tag(&single.digest, "att"), &att);
    let sbom = referrer(
        &single.digest,
        media::OCI_MANIFEST,
        single.manifest.len() as u64,
        "application/spdx+json",
        br#"{"spdxVersion":"SPDX-2.3","name":"signed"}"#,
    );
    push_artifact(reg, "ferry/signed", &sbom.digest, &sbom);
    push_artifact(
        reg,
        "ferry/signed",
        &tag(&single.digest, ""),
        &fallback_index(&[&sbom]),
    );
    let amd64 = subject_image("multi", "amd64");
    let arm64 = subject_image("multi", "arm64");
    push_artifact(reg, "ferry/multi", &amd64.digest, &amd64);
    push_artifact(reg, "ferry/multi", &arm64.digest, &arm64);
    let index = subject_index(&[(&amd64, "amd64"), (&arm64, "arm64")]);
    push_artifact(reg, "ferry/multi", "2.0", &index);
    let index_sig = cosign_signature(&index.digest, &format!("{}/ferry/multi:2.0", reg.host()));
    push_artifact(reg, "ferry/multi", &tag(&index.digest, "sig"), &index_sig);
    let child_sig = cosign_signature(&amd64.digest, &format!("{}/ferry/multi:2.0", reg.host()));
    push_artifact(reg, "ferry/multi", &tag(&amd64.digest, "sig"), &child_sig);
    Loaded {
        single,
        sig,
        att,
        sbom,
        amd64,
        index,
        index_sig,
        child_sig,
    }
}

fn pack_json(lines: &[String], extra: &[String]) -> (Packed, serde_json::Value) {
    let tmp = tempfile::tempdir().unwrap();
    let (key, pubkey) = keygen(tmp.path(), "k");
    let list = write_list(tmp.path(), "images.txt", lines);
    let dir = tmp.path().join("bundle");
    let mut extra = extra.to_vec();
    extra.push("--json".into());
    let out = ferry_ok(pack_args(&list, &key, &dir, &extra));
    let summary = serde_json::from_str(&out).unwrap();
    (
        Packed {
            tmp,
            dir,
            key,
            pubkey,
        },
        summary,
    )
}

fn mirror_repo(source_host: &str, repo: &str) -> String {
    format!("mirror/{}/{repo}", source_host.replace(':', "_"))
}

/// The digests a referrers list (an index) names.
fn listed(index: &[u8]) -> Vec<String> {
    let v: serde_json::Value = serde_json::from_slice(index).unwrap();
    v["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["digest"].as_str().unwrap().to_string())
        .collect()
}

fn subject_of(manifest: &[u8]) -> String {
    let v: serde_json::Value = serde_json::from_slice(manifest).unwrap();
    v["subject"]["digest"].as_str().unwrap().to_string()
}

#[test]
fn signatures_attestations_and_fallback_referrers_travel_with_their_images() {
    let source = TestRegistry::plain();
    let target = TestRegistry::plain();
    let l = load(&source);
    let lines = vec![
        format!("{}/ferry/signed:1.0", source.host()),
        // The docker:// form oc-mirror's lists use reads the same.
        format!("docker://{}/ferry/multi:2.0", source.host()),
    ];
    let (p, summary) = pack_json(&lines, &registry_flags(&source, &std::env::temp_dir()));
    assert_eq!(
        summary["images"].as_array().unwrap().len(),
        2,
        "{summary:#}"
    );
    let att = &summary["attached"];
    assert_eq!(att["signatures"], 3, "{summary:#}");
    assert_eq!(att["attestations"], 1, "{summary:#}");
    assert_eq!(att["sboms"], 0, "{summary:#}");
    assert_eq!(att["referrers"], 1, "{summary:#}");

    // inspect lists them under their image.
    let info: serde_json::Value =
        serde_json::from_str(&ferry_ok(["inspect", p.dir.to_str().unwrap(), "--json"])).unwrap();
    let images = info["images"].as_array().unwrap();
    assert_eq!(images.len(), 2, "{info:#}");
    let signed = images
        .iter()
        .find(|i| i["digest"] == l.single.digest.as_str())
        .unwrap();
    let mut kinds: Vec<(String, String)> = signed["attached"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["kind"].as_str().unwrap().to_string(),
                a["digest"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    kinds.sort();
    let mut want = vec![
        ("att".to_string(), l.att.digest.clone()),
        ("referrer".to_string(), l.sbom.digest.clone()),
        ("sig".to_string(), l.sig.digest.clone()),
    ];
    want.sort();
    assert_eq!(kinds, want, "{info:#}");
    let multi = images
        .iter()
        .find(|i| i["digest"] == l.index.digest.as_str())
        .unwrap();
    let subjects: Vec<&str> = multi["attached"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["subject"].as_str().unwrap())
        .collect();
    assert!(subjects.contains(&l.index.digest.as_str()), "{info:#}");
    assert!(subjects.contains(&l.amd64.digest.as_str()), "{info:#}");
    let text = ferry_ok(["inspect", p.dir.to_str().unwrap()]);
    assert!(
        text.contains("signature") && text.contains("referrer"),
        "{text}"
    );

    let report = registry_push_json(&p, &target);
    assert!(all_ok(&report), "{report:#}");

    // Each at the mirror, in its subject's repository, digest unchanged.
    let signed_repo = mirror_repo(&source.host(), "ferry/signed");
    let multi_repo = mirror_repo(&source.host(), "ferry/multi");
    for (repo, reference, want) in [
        (&signed_repo, tag(&l.single.digest, "sig"), &l.sig.digest),
        (&signed_repo, tag(&l.single.digest, "att"), &l.att.digest),
        (&signed_repo, l.sbom.digest.clone(), &l.sbom.digest),
        (
            &multi_repo,
            tag(&l.index.digest, "sig"),
            &l.index_sig.digest,
        ),
        (
            &multi_repo,
            tag(&l.amd64.digest, "sig"),
            &l.child_sig.digest,
        ),
    ] {
        assert_eq!(
            &mirrored_digest(&target, repo, &reference),
            want,
            "{repo}:{reference}"
        );
    }
    // The referrer names the same subject, and the fallback tag at the mirror lists it.
    let pushed = get_manifest(&target, &signed_repo, &l.sbom.digest).unwrap();
    assert_eq!(subject_of(&pushed), l.single.digest);
    let list = get_manifest(&target, &signed_repo, &tag(&l.single.digest, "")).unwrap();
    assert_eq!(listed(&list), vec![l.sbom.digest.clone()]);
    // The signature's payload still names the subject digest.
    let sig = get_manifest(&target, &signed_repo, &tag(&l.single.digest, "sig")).unwrap();
    assert_eq!(sig, l.sig.manifest);

    // A second push changes nothing: the fallback tag lists the referrer once.
    let again = registry_push_json(&p, &target);
    assert!(all_ok(&again), "{again:#}");
    let list = get_manifest(&target, &signed_repo, &tag(&l.single.digest, "")).unwrap();
    assert_eq!(listed(&list), vec![l.sbom.digest.clone()]);
}

#[test]
fn signatures_none_carries_none_and_says_so() {
    let source = TestRegistry::plain();
    let l = load(&source);
    let lines = vec![format!("{}/ferry/signed:1.0", source.host())];
    let tmp = tempfile::tempdir().unwrap();
    let (key, _) = keygen(tmp.path(), "k");
    let list = write_list(tmp.path(), "images.txt", &lines);
    let dir = tmp.path().join("bundle");
    let mut extra = registry_flags(&source, tmp.path());
    extra.extend(["--signatures".to_string(), "none".to_string()]);
    let out = ferry(pack_args(&list, &key, &dir, &extra));
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("--signatures none: no signatures"),
        "{}",
        text(&out)
    );
    let info: serde_json::Value =
        serde_json::from_str(&ferry_ok(["inspect", dir.to_str().unwrap(), "--json"])).unwrap();
    let images = info["images"].as_array().unwrap();
    assert_eq!(images.len(), 1, "{info:#}");
    assert_eq!(images[0]["digest"], l.single.digest.as_str());
    assert_eq!(images[0]["attached"], serde_json::json!([]), "{info:#}");
    // Nothing of them in the bundle at all.
    assert_eq!(
        info["format"], "1.1",
        "a bundle without attachments stays 1.1"
    );
}

#[test]
fn referrers_api_of_a_standin_is_read_and_the_target_lists_them() {
    let source = TestRegistry::plain();
    let target = TestRegistry::plain();
    let single = subject_image("api", "amd64");
    push_artifact(&source, "ferry/api", "1.0", &single);
    let sbom = referrer(
        &single.digest,
        media::OCI_MANIFEST,
        single.manifest.len() as u64,
        "application/vnd.example.sbom+json",
        br#"{"sbom":"api"}"#,
    );
    // Pushed by digest only: no fallback tag; only the stand-in's API lists it.
    push_artifact(&source, "ferry/api", &sbom.digest, &sbom);
    let answer = fallback_index(&[&sbom]).manifest;
    let path = format!("/v2/ferry/api/referrers/{}", single.digest);
    let proxy = FaultProxy::start(&source.host(), move |method, url| {
        if method == "GET" && url.split('?').next() == Some(path.as_str()) {
            Action::Reply(200, answer.clone())
        } else {
            Action::Forward
        }
    });
    let tmp = tempfile::tempdir().unwrap();
    let lines = vec![format!("{}/ferry/api:1.0", proxy.host())];
    let flags = vec!["--insecure-registry".to_string(), proxy.host()];
    let (p, summary) = pack_json(&lines, &flags);
    assert_eq!(summary["attached"]["referrers"], 1, "{summary:#}");
    assert!(
        proxy
            .seen()
            .iter()
            .any(|s| s.url.contains("/referrers/") && s.answered == Some(200)),
        "the referrers API was asked"
    );
    let report = registry_push_json(&p, &target);
    assert!(all_ok(&report), "{report:#}");
    let repo = mirror_repo(&proxy.host(), "ferry/api");
    assert_eq!(mirrored_digest(&target, &repo, &sbom.digest), sbom.digest);
    let pushed = get_manifest(&target, &repo, &sbom.digest).unwrap();
    assert_eq!(subject_of(&pushed), single.digest);
    // The target has no referrers API either: the fallback tag lists it.
    let list = get_manifest(&target, &repo, &tag(&single.digest, "")).unwrap();
    assert_eq!(listed(&list), vec![sbom.digest.clone()]);
    drop(tmp);
}

#[test]
fn a_target_whose_referrers_api_lists_the_referrer_gets_no_fallback_tag() {
    let source = TestRegistry::plain();
    let target = TestRegistry::plain();
    let l = load(&source);
    let lines = vec![format!("{}/ferry/signed:1.0", source.host())];
    let (p, _) = pack_json(&lines, &registry_flags(&source, &std::env::temp_dir()));
    // The target's stand-in answers the referrers API as a registry that indexed the pushed
    // manifest's `subject` itself would.
    let repo = mirror_repo(&source.host(), "ferry/signed");
    let path = format!("/v2/{repo}/referrers/{}", l.single.digest);
    let answer = fallback_index(&[&l.sbom]).manifest;
    let front = FaultProxy::start(&target.host(), move |method, url| {
        if method == "GET" && url.split('?').next() == Some(path.as_str()) {
            Action::Reply(200, answer.clone())
        } else {
            Action::Forward
        }
    });
    let args = vec![
        "push".to_string(),
        p.dir.display().to_string(),
        "--trusted-key".into(),
        p.pubkey.display().to_string(),
        "--to".into(),
        front.host(),
        "--insecure-registry".into(),
        front.host(),
        "--mirrorsets-out".into(),
        p.tmp.path().join("mirrorsets").display().to_string(),
        "--json".into(),
    ];
    let report: serde_json::Value = serde_json::from_str(&ferry_ok(&args)).unwrap();
    assert!(all_ok(&report), "{report:#}");
    assert!(
        front
            .seen()
            .iter()
            .any(|s| s.url.contains("/referrers/") && s.answered == Some(200)),
        "the target's referrers API was asked"
    );
    assert_eq!(
        mirrored_digest(&target, &repo, &l.sbom.digest),
        l.sbom.digest
    );
    assert_eq!(
        get_manifest(&target, &repo, &tag(&l.single.digest, "")),
        None,
        "no fallback tag where the API lists the referrer"
    );
}
