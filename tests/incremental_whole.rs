//! Issue #13, item 3: "where regeneration is not exact it ships the whole blob and `inspect`
//! says which layers and why". N+1 of four images packed against an inventory of the N
//! bundle: a changed gzip layer goes as changes; a changed zstd layer (not gzip), a changed
//! layer written as two gzip members (the engine cannot regenerate it) and the layer of an
//! image the site has never held (no base layer) go whole, and the root, the pack summary and
//! `ferry inspect` (human and `--json`) say why for each.

mod support;

#[path = "support/layers.rs"]
mod layers;

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;

use ferry::bundle::{Bundle, WholeCode};
use ferry::model::Digest;
use ferry_fixtures::media;
use support::run::*;
use support::site_images::*;
use support::*;

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut w = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(6));
    w.write_all(data).unwrap();
    w.finish().unwrap()
}

/// Pushes a one-layer image and returns its layer's digest.
fn push_layer(
    reg: &TestRegistry,
    dir: &Path,
    repo: &str,
    tag: &str,
    layer: &[u8],
    mt: &str,
) -> Digest {
    push_image(reg, dir, repo, tag, &[layer], mt).1.remove(0)
}

#[test]
fn issue_13_layers_carried_whole_say_why_in_the_root_the_summary_and_inspect() {
    let tmp = tempfile::tempdir().unwrap();
    let source = TestRegistry::plain();
    let files = layers::files(7, 120, 1 << 20);
    let (tar_n, tar_n1) = (
        layers::tar(&files),
        layers::tar(&layers::patched(&files, 3)),
    );
    let zstd = |t: &[u8]| zstd::encode_all(t, 3).unwrap();
    // Two gzip members, one per half: a valid gzip stream the engine does not regenerate.
    let two_members = {
        let mut v = gzip(&tar_n1[..tar_n1.len() / 2]);
        v.extend(gzip(&tar_n1[tar_n1.len() / 2..]));
        v
    };
    let d = tmp.path();
    let gz = media::OCI_LAYER_GZIP;
    push_layer(&source, d, "ns/g", "v1", &gzip(&tar_n), gz);
    push_layer(
        &source,
        d,
        "ns/z",
        "v1",
        &zstd(&tar_n),
        media::OCI_LAYER_ZSTD,
    );
    push_layer(&source, d, "ns/m", "v1", &gzip(&tar_n), gz);
    let mut expect: HashMap<Digest, Option<WholeCode>> = HashMap::new();
    expect.insert(
        push_layer(&source, d, "ns/g", "v2", &gzip(&tar_n1), gz),
        None,
    );
    let z = push_layer(
        &source,
        d,
        "ns/z",
        "v2",
        &zstd(&tar_n1),
        media::OCI_LAYER_ZSTD,
    );
    expect.insert(z, Some(WholeCode::NotGzip));
    let m = push_layer(&source, d, "ns/m", "v2", &two_members, gz);
    expect.insert(m, Some(WholeCode::NotRegenerable));
    let new = push_layer(&source, d, "ns/new", "v2", &gzip(&tar_n1[..200_000]), gz);
    expect.insert(new, Some(WholeCode::NoBaseLayer));

    let (key, pubkey) = keygen(d, "k");
    let flags = registry_flags(&source, d);
    let line = |repo: &str, tag: &str| format!("{}/{repo}:{tag}", source.host());
    let n = d.join("n");
    let list = write_list(d, "n.txt", &["ns/g", "ns/z", "ns/m"].map(|r| line(r, "v1")));
    ferry_ok(pack_args(&list, &key, &n, &flags));
    let inv = d.join("n.inventory");
    ferry_ok([
        "inventory",
        "--bundle",
        n.to_str().unwrap(),
        "--trusted-key",
        pubkey.to_str().unwrap(),
        "--out",
        inv.to_str().unwrap(),
    ]);

    let list = write_list(
        d,
        "n1.txt",
        &["ns/g", "ns/z", "ns/m", "ns/new"].map(|r| line(r, "v2")),
    );
    let inc = d.join("n1");
    let mut extra = flags.clone();
    extra.extend(["--base".into(), inv.display().to_string(), "--json".into()]);
    let packed: serde_json::Value =
        serde_json::from_str(&ferry_ok(pack_args(&list, &key, &inc, &extra))).unwrap();
    let changes = &packed["base"]["changes"];
    assert_eq!(changes["layers_as_changes"], 1, "{packed:#}");
    assert_eq!(changes["layers_whole"], 3, "{packed:#}");
    for code in ["not-gzip", "not-regenerable", "no-base-layer"] {
        assert_eq!(changes["whole_reasons"][code], 1, "{code}: {packed:#}");
    }

    // The signed root records the reason on each layer carried whole, and only there.
    let b = Bundle::open(&inc)
        .unwrap()
        .verify(&ferry::sign::read_public_key(&pubkey).unwrap())
        .unwrap();
    for (digest, code) in &expect {
        let blob = b.root().blobs.iter().find(|x| &x.digest == digest).unwrap();
        assert_eq!(
            blob.whole.as_ref().map(|w| w.reason.clone()),
            *code,
            "{digest}"
        );
        assert_eq!(blob.layer.is_some(), code.is_none(), "{digest}");
    }
    let configs = b
        .root()
        .blobs
        .iter()
        .filter(|x| !x.in_base && x.layer.is_none());
    assert_eq!(
        configs.filter(|x| x.whole.is_none()).count(),
        4,
        "the configs"
    );

    // inspect --json: every blob with its reason; the counts by reason.
    let info: serde_json::Value =
        serde_json::from_str(&ferry_ok(["inspect", inc.to_str().unwrap(), "--json"])).unwrap();
    assert_eq!(info["layers_as_changes"], 1, "{info:#}");
    assert_eq!(info["layers_whole"]["not-gzip"], 1, "{info:#}");
    let blobs = info["blob_encodings"].as_array().unwrap();
    for (digest, code) in &expect {
        let b = blobs
            .iter()
            .find(|b| b["digest"] == digest.to_string())
            .unwrap();
        match code {
            Some(c) => {
                assert_eq!(b["whole"]["reason"], c.to_string(), "{b:#}");
                assert!(!b["whole"]["detail"].as_str().unwrap().is_empty(), "{b:#}");
            }
            None => assert!(
                b.get("whole").is_none() && b["encoding"] == "gzip-tar",
                "{b:#}"
            ),
        }
    }
    // inspect, for people: which layers and why.
    let out = ferry_ok(["inspect", inc.to_str().unwrap()]);
    assert!(out.contains("carried whole: 3"), "{out}");
    for (digest, code) in &expect {
        let at = out.find(&digest.to_string()).unwrap();
        let next = out[at..].lines().nth(1).unwrap_or("");
        match code {
            Some(c) => assert!(next.contains(&format!("whole, {c}: ")), "{digest}: {out}"),
            None => assert!(!next.contains("whole,"), "{out}"),
        }
    }
    assert!(out.contains("multi-member gzip"), "{out}");
}
