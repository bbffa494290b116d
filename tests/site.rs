//! A site lives on many bundles (issue 12): the mirror sets of successive bundles add up, and an
//! older bundle does not roll tags back. Through the real binary, against a real registry,
//! checked with skopeo.

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use ferry::bundle::Bundle;
use ferry::model::{Digest, Reference};
use support::run::*;
use support::*;

/// Packs `lines` with the secret key `key` into `tmp/name`.
fn pack_with(tmp: &Path, key: &Path, name: &str, lines: &[String]) -> PathBuf {
    let list = write_list(tmp, &format!("{name}.txt"), lines);
    let dir = tmp.join(name);
    ferry_ok(pack_args(&list, key, &dir, &[]));
    dir
}

fn bundle_id(dir: &Path) -> String {
    Bundle::open(dir)
        .unwrap()
        .unverified_root()
        .unwrap()
        .bundle_id
}

/// `ferry push` of `dir` into `target`, mirror sets into `sets`, plus `extra`.
fn push_args(
    dir: &Path,
    pubkey: &Path,
    target: &TestRegistry,
    sets: &Path,
    scratch: &Path,
    extra: &[&str],
) -> Vec<String> {
    let mut args: Vec<String> = vec![
        "push".into(),
        dir.display().to_string(),
        "--trusted-key".into(),
        pubkey.display().to_string(),
        "--to".into(),
        target.host(),
        "--mirrorsets-out".into(),
        sets.display().to_string(),
    ];
    args.extend(registry_flags(target, scratch));
    args.extend(extra.iter().map(|s| s.to_string()));
    args
}

/// What `skopeo inspect --raw` of `reference` at `target` hashes to.
fn digest_at(target: &TestRegistry, reference: &str) -> Digest {
    let mut a = vec!["inspect".to_string(), "--raw".to_string()];
    a.extend(skopeo_tls_args(target).inspect);
    a.push(format!("docker://{reference}"));
    Digest::sha256_of(&skopeo(&a))
}

/// The cluster's objects as `oc apply` leaves them: by (kind, name), a later object replacing
/// an earlier one of the same name.
#[derive(Default)]
struct Cluster {
    objects: BTreeMap<(String, String), serde_norway::Value>,
}

impl Cluster {
    /// `oc apply -f` of every resource file in `dir`.
    fn apply_dir(&mut self, dir: &Path) {
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
            .collect();
        files.sort();
        assert!(!files.is_empty(), "no resource in {}", dir.display());
        for f in files {
            let v: serde_norway::Value =
                serde_norway::from_str(&std::fs::read_to_string(&f).unwrap()).unwrap();
            let kind = v["kind"].as_str().unwrap().to_string();
            let name = v["metadata"]["name"].as_str().unwrap().to_string();
            self.objects.insert((kind, name), v);
        }
    }

    /// Every (source, mirrors) of the objects of `kind` under `list`.
    fn entries(&self, kind: &str, list: &str) -> Vec<(String, Vec<String>)> {
        let mut out = Vec::new();
        for ((k, _), v) in &self.objects {
            if k != kind {
                continue;
            }
            for e in v["spec"][list].as_sequence().into_iter().flatten() {
                let mirrors = e["mirrors"]
                    .as_sequence()
                    .unwrap()
                    .iter()
                    .map(|m| m.as_str().unwrap().to_string())
                    .collect();
                out.push((e["source"].as_str().unwrap().to_string(), mirrors));
            }
        }
        out
    }

    /// Where a pull of repository `name` goes through the objects of `kind`: the mirror of the
    /// longest matching source (the repository itself or a parent path).
    fn redirect(&self, kind: &str, list: &str, name: &str) -> String {
        let entries = self.entries(kind, list);
        let (source, mirrors) = entries
            .iter()
            .filter(|(src, _)| name == src || name.starts_with(&format!("{src}/")))
            .max_by_key(|(src, _)| src.len())
            .unwrap_or_else(|| panic!("no {kind} entry redirects {name}"));
        format!("{}{}", mirrors[0], &name[source.len()..])
    }
}

#[test]
fn mirror_sets_of_successive_bundles_add_up() {
    let set = fixtures_small();
    let target = TestRegistry::plain();
    let tmp = tempfile::tempdir().unwrap();
    let (key, pubkey) = keygen(tmp.path(), "k");
    let lines: Vec<String> = set.images.iter().map(oci_line).collect();
    let (first, second) = lines.split_at(lines.len() / 2);
    assert!(!first.is_empty() && !second.is_empty());
    let b1 = pack_with(tmp.path(), &key, "b1", first);
    let b2 = pack_with(tmp.path(), &key, "b2", second);
    let sets = tmp.path().join("mirrorsets");
    let mut cluster = Cluster::default();
    // The monthly cycle: push a bundle, apply what it wrote; then the next bundle.
    for b in [&b1, &b2] {
        ferry_ok(push_args(
            b,
            &pubkey,
            &target,
            &sets,
            tmp.path(),
            &["--mirrorset-scope", "repository"],
        ));
        cluster.apply_dir(&sets);
    }
    let mut checked = 0;
    for b in [&b1, &b2] {
        let root = Bundle::open(b).unwrap().unverified_root().unwrap();
        for img in &root.images {
            let name = Reference::parse(&img.name).unwrap();
            let repo = name.name();
            let by_digest = cluster.redirect("ImageDigestMirrorSet", "imageDigestMirrors", &repo);
            assert_eq!(
                digest_at(&target, &format!("{by_digest}@{}", img.digest)),
                img.digest,
                "{} through the IDMS",
                img.name
            );
            let icsp =
                cluster.redirect("ImageContentSourcePolicy", "repositoryDigestMirrors", &repo);
            assert_eq!(icsp, by_digest, "{} through the ICSP", img.name);
            for tag in &img.tags {
                let by_tag = cluster.redirect("ImageTagMirrorSet", "imageTagMirrors", &repo);
                assert_eq!(
                    digest_at(&target, &format!("{by_tag}:{tag}")),
                    img.digest,
                    "{}:{tag} through the ITMS",
                    img.name
                );
            }
            checked += 1;
        }
    }
    assert_eq!(checked, lines.len());
    // The registries.conf drop-in holds both bundles' repositories.
    let conf = std::fs::read_to_string(sets.join("registries.conf")).unwrap();
    for line in &lines {
        let repo = line.split(' ').nth(1).unwrap().rsplit_once(':').unwrap().0;
        assert!(
            conf.contains(&format!("prefix = \"{repo}\"")),
            "{repo}:\n{conf}"
        );
    }
    // Pushing bundle 1 again leaves its files as they are and says so.
    let out = ferry(push_args(
        &b1,
        &pubkey,
        &target,
        &sets,
        tmp.path(),
        &["--mirrorset-scope", "repository"],
    ));
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("unchanged"), "{}", text(&out));
    // A file of the bundle's name with other content is never replaced.
    let b1_tag = &bundle_id(&b1)[..12];
    let b1_idms = sets.join(format!("imagedigestmirrorset-{b1_tag}.yaml"));
    std::fs::write(&b1_idms, "edited by hand\n").unwrap();
    let out = ferry(push_args(
        &b1,
        &pubkey,
        &target,
        &sets,
        tmp.path(),
        &["--mirrorset-scope", "repository"],
    ));
    assert!(!out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("already exists"), "{}", text(&out));
    assert_eq!(
        std::fs::read_to_string(&b1_idms).unwrap(),
        "edited by hand\n"
    );
}

#[test]
fn an_older_bundle_does_not_roll_tags_back() {
    let set = fixtures_small();
    let target = TestRegistry::plain();
    let tmp = tempfile::tempdir().unwrap();
    let (key, pubkey) = keygen(tmp.path(), "k");
    // Two bundles of the same key carry the same upstream tags with other content each.
    let images: Vec<_> = set
        .images
        .iter()
        .filter(|i| i.slug != "tag-only")
        .take(2)
        .collect();
    assert_eq!(images.len(), 2);
    let line =
        |img: &FixtureImage, name: &str| format!("oci:{}:{} {name}", img.layout.display(), img.tag);
    let names = ["quay.io/ferry/app:1.0", "quay.io/ferry/tools:stable"];
    let old_lines: Vec<String> = names.iter().map(|n| line(images[0], n)).collect();
    let new_lines: Vec<String> = names.iter().map(|n| line(images[1], n)).collect();
    let old = pack_with(tmp.path(), &key, "old", &old_lines);
    let new = pack_with(tmp.path(), &key, "new", &new_lines);
    let (old_id, new_id) = (bundle_id(&old), bundle_id(&new));
    let sets = tmp.path().join("mirrorsets");
    ferry_ok(push_args(&new, &pubkey, &target, &sets, tmp.path(), &[]));
    let tag_digests = || -> Vec<Digest> {
        [
            "mirror/quay.io/ferry/app:1.0",
            "mirror/quay.io/ferry/tools:stable",
        ]
        .iter()
        .map(|r| digest_at(&target, &format!("{}/{r}", target.host())))
        .collect()
    };
    let new_digest: Digest = images[1].digest.parse().unwrap();
    assert_eq!(tag_digests(), vec![new_digest.clone(); 2]);

    // The older bundle is refused, naming both bundles, and no tag moves.
    let out = ferry(push_args(&old, &pubkey, &target, &sets, tmp.path(), &[]));
    let said = text(&out);
    assert!(!out.status.success(), "{said}");
    assert!(said.contains(&old_id) && said.contains(&new_id), "{said}");
    assert!(said.contains("--allow-rollback"), "{said}");
    assert_eq!(tag_digests(), vec![new_digest.clone(); 2]);

    // A newer bundle (or the same one again) goes through.
    ferry_ok(push_args(&new, &pubkey, &target, &sets, tmp.path(), &[]));

    // On purpose, the tags go back, with a warning naming them.
    let out = ferry(push_args(
        &old,
        &pubkey,
        &target,
        &sets,
        tmp.path(),
        &["--allow-rollback"],
    ));
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("mirror/quay.io/ferry/app:1.0"),
        "{}",
        text(&out)
    );
    let old_digest: Digest = images[0].digest.parse().unwrap();
    assert_eq!(tag_digests(), vec![old_digest; 2]);
}

#[test]
fn a_key_rotation_trusts_either_key() {
    let set = fixtures_small();
    let tmp = tempfile::tempdir().unwrap();
    let (old_key, old_pub) = keygen(tmp.path(), "old");
    let (new_key, new_pub) = keygen(tmp.path(), "new");
    let lines = vec![oci_line(&set.images[0])];
    let a = pack_with(tmp.path(), &old_key, "a", &lines);
    let b = pack_with(tmp.path(), &new_key, "b", &lines[..]);
    for dir in [&a, &b] {
        verify_ok(dir, &old_pub, &["--trusted-key", new_pub.to_str().unwrap()]);
    }
    // Only the other key: refused.
    let out = ferry([
        "verify",
        b.to_str().unwrap(),
        "--trusted-key",
        old_pub.to_str().unwrap(),
    ]);
    assert!(!out.status.success(), "{}", text(&out));
}
