//! Issue #13, incremental bundles: push version N of an image set, take an inventory of the
//! site, pack N+1 against it (`pack --base`), push that; every N+1 image lands with its
//! original digest. An incremental bundle pushed where its base is missing pushes nothing and
//! names the base. `inventory --bundle` describes what bundles carried.

mod support;

use std::collections::HashSet;
use std::fs;
use std::path::{Path, PathBuf};

use ferry::bundle::Bundle;
use ferry::model::Digest;
use ferry_fixtures::corpus::plan::Plan;
use support::run::*;
use support::site_images::*;
use support::versions::*;
use support::*;

/// Packs `lines` with the key `key` into `tmp/NAME`, plus `extra` flags.
fn pack_into(tmp: &Path, key: &Path, name: &str, lines: &[String], extra: &[String]) -> PathBuf {
    let list = write_list(tmp, &format!("{name}.txt"), lines);
    let out = tmp.join(name);
    ferry_ok(pack_args(&list, key, &out, extra));
    out
}

fn bundle_bytes(dir: &Path) -> u64 {
    volumes(dir)
        .iter()
        .map(|v| fs::metadata(v).unwrap().len())
        .sum()
}

#[test]
fn issue_13_n_plus_1_packed_against_an_inventory_of_the_site_carries_only_what_it_lacks() {
    let tmp = tempfile::tempdir().unwrap();
    let source = TestRegistry::plain();
    let site = TestRegistry::plain();
    let plan = Plan::tiny(varied_tree(&tmp.path().join("src"), 400), 1000);
    let (n, n1) = load_versions(tmp.path(), &source, plan);
    let (key, pubkey) = keygen(tmp.path(), "k");
    let src_flags = registry_flags(&source, tmp.path());

    // Month 1: the whole of N goes to the site.
    let full_n = pack_into(tmp.path(), &key, "n", &lines(&source, &n), &src_flags);
    let report: serde_json::Value =
        serde_json::from_str(&ferry_ok(push_args(&full_n, &pubkey, &site, tmp.path()))).unwrap();
    assert!(all_ok(&report), "{report:#}");

    // The site's inventory, carried back.
    let inv = tmp.path().join("site.inventory");
    let mut args = vec![
        "inventory".to_string(),
        "--from".into(),
        site.host(),
        "--out".into(),
        inv.display().to_string(),
        "--json".into(),
    ];
    args.extend(registry_flags(&site, tmp.path()));
    let summary: serde_json::Value = serde_json::from_str(&ferry_ok(&args)).unwrap();
    assert_eq!(summary["source"]["listing"], "catalog", "{summary:#}");
    assert_eq!(summary["repositories"], n.images.len(), "{summary:#}");
    let inventory = ferry::inventory::read(&inv).unwrap();
    assert_eq!(
        inventory.source.registry.as_deref(),
        Some(site.host().as_str())
    );
    assert_eq!(inventory.source.prefix.as_deref(), Some("mirror"));
    let upstreams: HashSet<&str> = inventory
        .repositories
        .iter()
        .map(|r| r.upstream.as_str())
        .collect();
    for img in &n.images {
        assert!(
            upstreams.contains(format!("{}/{}", source.host(), img.repository).as_str()),
            "{} maps back to its upstream name: {upstreams:?}",
            img.repository
        );
    }
    let site_has: HashSet<Digest> = inventory.blobs.iter().map(|b| b.digest.clone()).collect();
    for img in &n.images {
        for (d, _, _) in &img.blobs {
            assert!(site_has.contains(&Digest::parse(d).unwrap()), "{d}");
        }
    }

    // The site's layers a changed N+1 layer may be rebuilt from (same repository, same
    // position first), read at pack time from upstream and checked against their digests.
    let index = ferry::inventory::BaseIndex::new(std::slice::from_ref(&inventory));
    let a = n.images.iter().find(|i| i.repository == "ns/a").unwrap();
    let candidates = index.candidates(&format!("{}/ns/a:v2", source.host()), 1);
    assert!(!candidates.is_empty());
    assert_eq!(candidates[0].position, 1);
    assert!(a
        .blobs
        .iter()
        .any(|(d, _, _)| *d == candidates[0].digest.to_string()));
    let registries = ferry::pack::Registries::new(
        ferry::registry::ClientOptions {
            insecure: vec![source.host()],
            ..Default::default()
        },
        Vec::new(),
    );
    let mut layer = Vec::new();
    std::io::Read::read_to_end(
        &mut ferry::pack::base::open_base_layer(&registries, &candidates[0]).unwrap(),
        &mut layer,
    )
    .unwrap();
    assert_eq!(Digest::sha256_of(&layer), candidates[0].digest);

    // Month 2: N+1 packed against the inventory, and whole for comparison.
    let mut extra = src_flags.clone();
    extra.extend([
        "--base".to_string(),
        inv.display().to_string(),
        "--json".into(),
    ]);
    let list = write_list(tmp.path(), "n1.txt", &lines(&source, &n1));
    let inc = tmp.path().join("n1-inc");
    let packed: serde_json::Value =
        serde_json::from_str(&ferry_ok(pack_args(&list, &key, &inc, &extra))).unwrap();
    let whole = pack_into(
        tmp.path(),
        &key,
        "n1-whole",
        &lines(&source, &n1),
        &src_flags,
    );
    let b = Bundle::open(&inc)
        .unwrap()
        .verify(&read_pub(&pubkey))
        .unwrap();
    let root = b.root();
    assert_eq!(root.format, "1.3");
    let base = root
        .base
        .as_ref()
        .expect("an incremental root names its base");
    assert_eq!(base.inventories.len(), 1);
    assert_eq!(base.inventories[0].digest, inventory.digest());
    assert_eq!(
        base.inventories[0].registry.as_deref(),
        Some(site.host().as_str())
    );
    let in_base: Vec<_> = root.blobs.iter().filter(|b| b.in_base).collect();
    let carried: Vec<_> = root.blobs.iter().filter(|b| !b.in_base).collect();
    assert!(!in_base.is_empty() && !carried.is_empty());
    for b in &carried {
        assert!(
            !site_has.contains(&b.digest),
            "{} is at the site yet carried",
            b.digest
        );
    }
    for b in &in_base {
        assert!(site_has.contains(&b.digest) && b.chunks.is_empty());
        assert!(b.base.as_ref().unwrap().image.contains(&source.host()));
    }
    assert_eq!(packed["base"]["blobs_in_base"], in_base.len(), "{packed:#}");
    let (inc_bytes, whole_bytes) = (bundle_bytes(&inc), bundle_bytes(&whole));
    assert!(
        inc_bytes < whole_bytes,
        "incremental {inc_bytes} bytes, whole {whole_bytes}"
    );
    // Changed gzip layers travel as changes (`gzip-tar` blobs): a bundle much smaller than
    // the whole-blob delta (every blob the site lacks, carried whole).
    let as_changes: Vec<_> = carried.iter().filter(|b| b.layer.is_some()).collect();
    assert!(
        !as_changes.is_empty(),
        "no gzip-tar blob: {:?}",
        carried
            .iter()
            .map(|b| (&b.media_type, b.size))
            .collect::<Vec<_>>()
    );
    assert_eq!(
        packed["base"]["changes"]["layers_as_changes"],
        as_changes.len(),
        "{packed:#}"
    );
    for b in &as_changes {
        assert!(!b.layer.as_ref().unwrap().bases.is_empty());
        assert!(b
            .layer
            .as_ref()
            .unwrap()
            .bases
            .iter()
            .all(|d| site_has.contains(d)));
    }
    let whole_delta: u64 = carried.iter().map(|b| b.size).sum();
    eprintln!(
        "whole-blob delta {whole_delta} bytes, incremental bundle {inc_bytes} bytes \
         ({} layers as changes), whole N+1 bundle {whole_bytes} bytes",
        as_changes.len()
    );
    assert!(
        inc_bytes * 4 < whole_delta,
        "incremental {inc_bytes} bytes against a whole-blob delta of {whole_delta}"
    );
    // Manifests are always carried.
    assert_eq!(root.manifests.len(), {
        let w = Bundle::open(&whole)
            .unwrap()
            .verify(&read_pub(&pubkey))
            .unwrap();
        w.root().manifests.len()
    });

    // verify checks what it carries and says where the rest is checked.
    let out = verify_ok(&inc, &pubkey, &[]);
    assert!(
        out.contains("left to the site") && out.contains("ferry push checks them"),
        "{out}"
    );
    let out = ferry_ok(["inspect", inc.to_str().unwrap()]);
    assert!(
        out.contains("in-base") && out.contains("incremental:"),
        "{out}"
    );

    // An OCI layout is not the site: export refuses, saying why.
    let out = ferry([
        "export",
        inc.to_str().unwrap(),
        "--trusted-key",
        pubkey.to_str().unwrap(),
        "--to",
        &format!("oci:{}", tmp.path().join("layout").display()),
    ]);
    assert!(!out.status.success());
    assert!(text(&out).contains("pack without --base"), "{}", text(&out));

    // Pushed where its base is missing: nothing is pushed, and the base is named.
    let empty = TestRegistry::plain();
    let out = ferry(push_args(&inc, &pubkey, &empty, tmp.path()));
    assert!(!out.status.success());
    let err = text(&out);
    assert!(
        err.contains("so nothing was pushed")
            && err.contains("Missing base images")
            && err.contains(&format!("{}/ns/d:v1", source.host()))
            && err.contains(&inventory.digest().to_string()),
        "{err}"
    );
    // Every blob the site must hold is named: in-base blobs and the base layers that layers
    // carried as changes are rebuilt from.
    for need in ferry::push::base::base_needs(root) {
        assert!(
            err.contains(&need.digest.to_string()),
            "{}: {err}",
            need.digest
        );
    }
    assert!(err.contains("a base layer that a layer carried as changes is rebuilt from"));
    let catalog: serde_json::Value = empty
        .agent()
        .get(&format!("{}/v2/_catalog", empty.url()))
        .call()
        .unwrap()
        .into_json()
        .unwrap();
    assert_eq!(
        catalog["repositories"].as_array().map_or(0, Vec::len),
        0,
        "{catalog}"
    );

    // Pushed onto the site: every N+1 image at its mirror name with its original digest.
    let report: serde_json::Value =
        serde_json::from_str(&ferry_ok(push_args(&inc, &pubkey, &site, tmp.path()))).unwrap();
    assert!(all_ok(&report), "{report:#}");
    let seg = source.host().replace(':', "_");
    fs::create_dir_all(tmp.path().join("copies")).unwrap();
    for img in &n1.images {
        let repo = format!("mirror/{seg}/{}", img.repository);
        assert_eq!(
            mirrored_digest(&site, &repo, &img.digest),
            img.digest,
            "{}",
            img.slug
        );
        let flags = skopeo_tls_args(&site);
        let mut a = vec!["copy".to_string(), "--all".to_string(), "-q".to_string()];
        a.extend(flags.src.clone());
        a.push(format!("docker://{}/{repo}:{}", site.host(), img.tag));
        a.push(format!(
            "oci:{}:x",
            tmp.path().join("copies").join(&img.slug).display()
        ));
        skopeo(&a);
    }
    // The base blobs, found at the site and streamed back from it (what rebuilding a layer
    // against its base reads), hash to their digests.
    let registry = ferry::registry::Registry::new(
        &site.host(),
        &ferry::registry::ClientOptions {
            insecure: vec![site.host()],
            ..Default::default()
        },
    )
    .unwrap();
    let naming = ferry::naming::Naming::new(&site.host(), "mirror").unwrap();
    let bases = ferry::push::base::find_base_blobs(&b, &registry, &naming, 2)
        .unwrap()
        .unwrap_or_else(|missing| panic!("{missing:?}"));
    // The in-base blobs and the base layers the gzip-tar blobs are rebuilt from.
    let needs = ferry::push::base::base_needs(root);
    assert!(needs.len() > in_base.len(), "{}", needs.len());
    for b in &as_changes {
        for d in &b.layer.as_ref().unwrap().bases {
            assert!(needs.iter().any(|n| &n.digest == d), "{d} is not a need");
        }
    }
    assert_eq!(bases.len(), needs.len());
    let mut open = bases.opener();
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(&mut open(&in_base[0].digest).unwrap(), &mut bytes).unwrap();
    assert_eq!(Digest::sha256_of(&bytes), in_base[0].digest);
    assert!(
        open(&carried[0].digest).is_err(),
        "only base blobs are opened"
    );
    drop(open);

    let mut args = vec![
        "check".to_string(),
        inc.display().to_string(),
        "--to".into(),
        site.host(),
        "--trusted-key".into(),
        pubkey.display().to_string(),
    ];
    args.extend(registry_flags(&site, tmp.path()));
    ferry_ok(&args);

    // inventory --bundle: what the N bundle carried, the same blobs the site listed.
    let of_bundle = tmp.path().join("bundle.inventory");
    ferry_ok([
        "inventory",
        "--bundle",
        full_n.to_str().unwrap(),
        "--trusted-key",
        pubkey.to_str().unwrap(),
        "--out",
        of_bundle.to_str().unwrap(),
    ]);
    let from_bundle = ferry::inventory::read(&of_bundle).unwrap();
    let bundle_blobs: HashSet<Digest> =
        from_bundle.blobs.iter().map(|b| b.digest.clone()).collect();
    assert_eq!(bundle_blobs, site_has);
    let id = Bundle::open(&full_n)
        .unwrap()
        .unverified_root()
        .unwrap()
        .bundle_id;
    assert_eq!(from_bundle.source.bundles, vec![id]);
    let mut extra = src_flags.clone();
    extra.extend(["--base".to_string(), of_bundle.display().to_string()]);
    let inc2 = pack_into(tmp.path(), &key, "n1-inc2", &lines(&source, &n1), &extra);
    let b2 = Bundle::open(&inc2)
        .unwrap()
        .verify(&read_pub(&pubkey))
        .unwrap();
    assert_eq!(
        b2.root().blobs.iter().filter(|b| b.in_base).count(),
        in_base.len()
    );
}

fn read_pub(p: &Path) -> ferry::sign::PublicKey {
    ferry::sign::read_public_key(p).unwrap()
}

/// A registry without a catalog (Quay and Harbor answer robots so): the inventory lists the
/// site from ferry's push history instead, and says so; with no history either it says what
/// is needed. An N+1 image under a new name gets the site's layers mounted from the
/// repositories that hold them.
#[test]
fn issue_13_without_a_catalog_the_inventory_comes_from_the_push_history() {
    let tmp = tempfile::tempdir().unwrap();
    let source = TestRegistry::plain();
    let site = TestRegistry::plain();
    let (n, n1) = corpus_versions(tmp.path(), &source);
    let (key, pubkey) = keygen(tmp.path(), "k");
    let src_flags = registry_flags(&source, tmp.path());
    let proxy = support::proxy::FaultProxy::start(&site.host(), |_, url| {
        if url.contains("/_catalog") {
            support::proxy::Action::Reply(404, br#"{"errors":[{"code":"UNSUPPORTED"}]}"#.to_vec())
        } else {
            support::proxy::Action::Forward
        }
    });
    let site_flags = vec!["--insecure-registry".to_string(), proxy.host()];
    let inventory_args = |out: &Path| {
        let mut a = vec![
            "inventory".to_string(),
            "--from".into(),
            proxy.host(),
            "--out".into(),
            out.display().to_string(),
        ];
        a.extend(site_flags.clone());
        a
    };
    // Nothing pushed yet: no catalog and no history, and the message says what would do.
    let out = ferry(inventory_args(&tmp.path().join("none")));
    assert!(!out.status.success());
    let err = text(&out);
    assert!(
        err.contains("no repository catalog") && err.contains("ferry-state"),
        "{err}"
    );

    let full_n = pack_into(tmp.path(), &key, "n", &lines(&source, &n), &src_flags);
    let mut push = vec![
        "push".to_string(),
        full_n.display().to_string(),
        "--trusted-key".into(),
        pubkey.display().to_string(),
        "--to".into(),
        proxy.host(),
        "--mirrorsets-out".into(),
        tmp.path().join("ms").display().to_string(),
    ];
    push.extend(site_flags.clone());
    ferry_ok(&push);
    let inv = tmp.path().join("site.inventory");
    let out = ferry_ok(inventory_args(&inv));
    assert!(out.contains("History"), "{out}");
    let inventory = ferry::inventory::read(&inv).unwrap();
    assert_eq!(inventory.source.listing, ferry::inventory::Listing::History);
    assert!(inventory
        .notes
        .iter()
        .any(|n| n.contains("offers no catalog")));
    assert_eq!(inventory.repositories.len(), n.images.len());

    // N+1, plus one N+1 image under a name the site has never seen.
    let a = n1.images.iter().find(|i| i.repository == "ns/a").unwrap();
    let mut list = lines(&source, &n1);
    list.push(format!(
        "{}/ns/a:v2 example.com/renamed/a:v2",
        source.host()
    ));
    let mut extra = src_flags.clone();
    extra.extend(["--base".to_string(), inv.display().to_string()]);
    let inc = pack_into(tmp.path(), &key, "n1", &list, &extra);
    let mut push = vec![
        "push".to_string(),
        inc.display().to_string(),
        "--trusted-key".into(),
        pubkey.display().to_string(),
        "--to".into(),
        proxy.host(),
        "--mirrorsets-out".into(),
        tmp.path().join("ms").display().to_string(),
        "--json".into(),
    ];
    push.extend(site_flags.clone());
    let report: serde_json::Value = serde_json::from_str(&ferry_ok(&push)).unwrap();
    assert!(all_ok(&report), "{report:#}");
    let renamed = report["images"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["name"] == "example.com/renamed/a:v2")
        .unwrap();
    assert!(
        renamed["blobs_mounted"].as_u64().unwrap() > 0,
        "{renamed:#}"
    );
    assert_eq!(
        mirrored_digest(&site, "mirror/example.com/renamed/a", &a.digest),
        a.digest
    );
    let seg = source.host().replace(':', "_");
    for img in &n1.images {
        let repo = format!("mirror/{seg}/{}", img.repository);
        assert_eq!(mirrored_digest(&site, &repo, &img.digest), img.digest);
    }
}
