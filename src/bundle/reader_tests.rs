//! Opening bundles: the order of the checks (signature over the raw root bytes before any
//! parse), bounds on what is read before it, and every label field held against the signed
//! root.

use super::*;
use crate::bundle::root::FORMAT_VERSION;
use crate::bundle::volume::{VolumeLabel, VolumeWriter, SIG_MEMBER};
use crate::sign::SecretKey;

const ID: &str = "0123456789abcdef0123456789abcdef";

fn root_value(edit: impl FnOnce(&mut serde_json::Value)) -> serde_json::Value {
    let root = Root::empty_for_tests(ID, None);
    let mut v = serde_json::to_value(&root).unwrap();
    edit(&mut v);
    v
}

fn root_json(edit: impl FnOnce(&mut serde_json::Value)) -> Vec<u8> {
    serde_json::to_vec(&root_value(edit)).unwrap()
}

/// The label a writer would give volume `index` of `root` (its format, id and volume count
/// taken from the root where they are well-formed).
fn label_for(root: &[u8], index: u32) -> VolumeLabel {
    let v: serde_json::Value = serde_json::from_slice(root).unwrap_or_default();
    let id = v["bundle_id"]
        .as_str()
        .filter(|id| volume::is_bundle_id(id));
    VolumeLabel {
        format: v["format"].as_str().unwrap_or(FORMAT_VERSION).into(),
        bundle_id: id.unwrap_or(ID).into(),
        volume: index,
        volume_count: v["volumes"].as_array().map_or(1, |a| a.len() as u32),
        root_digest: Digest::sha256_of(root),
    }
}

fn write_with(dir: &Path, name: &str, label: &VolumeLabel, root: &[u8], signature: &str) {
    let w = VolumeWriter::create(&dir.join(name)).unwrap();
    w.finish(label, root, signature, 0).unwrap();
}

fn write_volume(dir: &Path, root: &[u8]) {
    write_with(
        dir,
        "v.tar",
        &label_for(root, 1),
        root,
        "untrusted comment: x\nAAAA\n",
    );
}

/// A root signed the way the writer signs it.
fn signed(key: &SecretKey, root: &[u8]) -> String {
    let parsed = Root::from_json(root).unwrap();
    let comment = parsed.trusted_comment(&Digest::sha256_of(root));
    key.sign(root, &comment).unwrap().to_file_string()
}

#[test]
fn an_absent_base_bundle_is_named() {
    let dir = tempfile::tempdir().unwrap();
    write_volume(
        dir.path(),
        &root_json(
            |v| v["base"] = serde_json::json!({"bundle_id": "feedfacefeedfacefeedfacefeedface", "root_digest": Digest::sha256_of(b"base").to_string()}),
        ),
    );
    let e = Bundle::open(dir.path())
        .unwrap()
        .unverified_root()
        .unwrap_err();
    assert!(matches!(e, BundleError::BaseMissing { .. }), "{e}");
    assert!(
        e.to_string().contains("feedfacefeedfacefeedfacefeedface"),
        "{e}"
    );
}

/// Format 1.2 (`pack --base`): a base of inventories is the site itself, so a 1.2 reader opens
/// the bundle (push checks the base against its target); a base bundle is still refused.
#[test]
fn a_base_of_inventories_opens_and_an_in_base_blob_names_its_inventory() {
    use crate::bundle::root::{BaseRef, InventoryRef};
    let base = BaseRef::of_inventories(vec![InventoryRef {
        digest: Digest::sha256_of(b"inventory"),
        registry: Some("site.example:5000".into()),
        prefix: Some("mirror".into()),
        bundles: vec![],
        taken: "2026-01-01T00:00:00Z".into(),
    }]);
    let blob = |inventory: u32| {
        serde_json::json!({
            "digest": Digest::sha256_of(b"layer").to_string(), "size": 5,
            "media_type": "application/vnd.oci.image.layer.v1.tar+gzip",
            "encoding": "plain", "chunks": [], "in_base": true,
            "base": {"inventory": inventory, "image": "quay.io/org/app:1.0"}
        })
    };
    for (inventory, ok) in [(0, true), (1, false)] {
        let dir = tempfile::tempdir().unwrap();
        write_volume(
            dir.path(),
            &root_json(|v| {
                v["format"] = "1.2".into();
                v["base"] = serde_json::to_value(&base).unwrap();
                v["blobs"] = serde_json::json!([blob(inventory)]);
            }),
        );
        let r = Bundle::open(dir.path()).unwrap().unverified_root();
        match (r, ok) {
            (Ok(root), true) => {
                assert!(root.base.unwrap().is_inventory());
                assert!(root.blobs[0].in_base);
            }
            (Err(e), false) => {
                let e = crate::error_chain(&e);
                assert!(e.contains("base inventory #1"), "{e}")
            }
            (r, _) => panic!("{inventory}: {r:?}"),
        }
    }
}

/// What a 1.1 reader does with a 1.2 incremental root: the base object still has the 1.1
/// fields (`bundle_id`, `root_digest`; the new `inventories` is an unknown field, ignored), so a
/// 1.1 reader finds a base it is not given and refuses the bundle naming the base's id (SPEC
/// §8, the rule `an_absent_base_bundle_is_named` pins) rather than misreading it.
#[test]
fn a_1_1_reader_refuses_an_incremental_1_2_root_naming_its_base() {
    use crate::bundle::root::{BaseRef, InventoryRef};
    let base = BaseRef::of_inventories(vec![InventoryRef {
        digest: Digest::sha256_of(b"inventory"),
        registry: None,
        prefix: None,
        bundles: vec!["feedfacefeedfacefeedfacefeedface".into()],
        taken: "2026-01-01T00:00:00Z".into(),
    }]);
    // The 1.1 shape of `base`, exactly as ferry 0.1 (format 1.1) declares it.
    #[derive(serde::Deserialize)]
    struct BaseRef11 {
        bundle_id: String,
        #[allow(dead_code)]
        root_digest: Digest,
    }
    let as_11: BaseRef11 = serde_json::from_value(serde_json::to_value(&base).unwrap()).unwrap();
    assert_eq!(as_11.bundle_id, base.bundle_id);
    // With the inventories left out (what a 1.1 reader keeps), the bundle is refused by name.
    let dir = tempfile::tempdir().unwrap();
    write_volume(
        dir.path(),
        &root_json(|v| {
            v["base"] = serde_json::json!({
                "bundle_id": as_11.bundle_id, "root_digest": base.root_digest.to_string()
            })
        }),
    );
    let e = Bundle::open(dir.path())
        .unwrap()
        .unverified_root()
        .unwrap_err();
    assert!(matches!(e, BundleError::BaseMissing { .. }), "{e}");
    assert!(e.to_string().contains(&base.bundle_id), "{e}");
}

#[test]
fn an_unknown_major_format_is_refused_clearly() {
    let dir = tempfile::tempdir().unwrap();
    write_volume(dir.path(), &root_json(|v| v["format"] = "2.0".into()));
    let e = Bundle::open(dir.path()).and_then(|b| b.unverified_root());
    let e = crate::error_chain(&e.unwrap_err());
    assert!(
        e.contains("bundle format 2.0 is not supported") && e.contains("upgrade ferry"),
        "{e}"
    );
}

#[test]
fn a_newer_minor_format_with_unknown_fields_is_read() {
    let dir = tempfile::tempdir().unwrap();
    write_volume(
        dir.path(),
        &root_json(|v| {
            v["format"] = "1.7".into();
            v["future_field"] = serde_json::json!({"x": 1});
        }),
    );
    Bundle::open(dir.path()).unwrap().unverified_root().unwrap();
}

#[test]
fn an_unknown_blob_encoding_is_named() {
    let dir = tempfile::tempdir().unwrap();
    write_volume(
        dir.path(),
        &root_json(|v| {
            v["blobs"] = serde_json::json!([{
                "digest": Digest::sha256_of(b"x").to_string(), "size": 1,
                "media_type": "application/vnd.oci.image.layer.v1.tar+gzip",
                "encoding": "zstd-chunked-frames", "chunks": []
            }])
        }),
    );
    let e = Bundle::open(dir.path()).and_then(|b| b.unverified_root());
    let e = crate::error_chain(&e.unwrap_err());
    assert!(
        e.contains("encoding \"zstd-chunked-frames\"") && e.contains("does not know"),
        "{e}"
    );
}

/// Format 1.2: a `gzip-tar` blob must carry its `layer` object, and its pieces must add up.
#[test]
fn a_gzip_tar_blob_without_a_consistent_layer_is_refused() {
    let blob = |layer: serde_json::Value| {
        let mut b = serde_json::json!({
            "digest": Digest::sha256_of(b"x").to_string(), "size": 1,
            "media_type": "application/vnd.oci.image.layer.v1.tar+gzip",
            "encoding": "gzip-tar", "chunks": []
        });
        if !layer.is_null() {
            b["layer"] = layer;
        }
        b
    };
    let cases = [
        (serde_json::Value::Null, "not a layer object"),
        (
            serde_json::json!({"tar_size": 10, "tar_digest": Digest::sha256_of(b"t").to_string(),
                "bases": [], "pieces": [{"chunk": 0}]}),
            "names chunk #0",
        ),
        (
            serde_json::json!({"tar_size": 10, "tar_digest": Digest::sha256_of(b"t").to_string(),
                "bases": [Digest::sha256_of(b"b").to_string()],
                "pieces": [{"base": 0, "offset": 0, "length": 9,
                            "digest": Digest::sha256_of(b"p").to_string()}]}),
            "add up to 9",
        ),
    ];
    for (layer, expected) in cases {
        let dir = tempfile::tempdir().unwrap();
        write_volume(
            dir.path(),
            &root_json(|v| v["blobs"] = serde_json::json!([blob(layer.clone())])),
        );
        let e = Bundle::open(dir.path()).and_then(|b| b.unverified_root());
        let e = crate::error_chain(&e.unwrap_err());
        assert!(e.contains(expected), "{expected:?} not in {e}");
    }
}

/// A root that does not even parse is not looked at before its signature: the signature
/// fails first, so nothing unsigned reaches the parser.
#[test]
fn the_signature_is_checked_before_the_root_is_parsed() {
    let dir = tempfile::tempdir().unwrap();
    let key = crate::sign::generate();
    let root = b"{\"format\":\"1.1\", this is not json".to_vec();
    write_volume(dir.path(), &root);
    let e = Bundle::open(dir.path())
        .and_then(|b| b.verify(&key.public_key()))
        .unwrap_err();
    assert!(matches!(e, BundleError::Signature { .. }), "{e:?}");
}

/// A signature member larger than a signature file can be is refused from its tar header,
/// before it is read.
#[test]
fn an_oversized_signature_member_is_refused_before_it_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let root = root_json(|_| {});
    let huge = "\n".repeat(volume::MAX_SIGNATURE_LEN as usize + 1);
    write_with(dir.path(), "v.tar", &label_for(&root, 1), &root, &huge);
    let e = Bundle::open(dir.path()).unwrap_err();
    assert!(
        matches!(&e, BundleError::Volume(VolumeError::Malformed { reason, .. }) if reason.contains(SIG_MEMBER)),
        "{e:?}"
    );
}

/// Every label field that the signature does not cover is held against the signed root, in
/// a full verify and for a single volume.
#[test]
fn a_label_that_differs_from_the_signed_root_is_refused() {
    let key = crate::sign::generate();
    let root = root_json(|_| {});
    let sig = signed(&key, &root);
    type Edit = fn(&mut VolumeLabel);
    let edits: [(&str, Edit); 3] = [
        ("format", |l| l.format = "9.1".into()),
        ("bundle_id", |l| l.bundle_id = ID.replace('0', "1")),
        ("volume_count", |l| l.volume_count = 2),
    ];
    for (field, edit) in edits {
        let dir = tempfile::tempdir().unwrap();
        let mut label = label_for(&root, 1);
        edit(&mut label);
        write_with(dir.path(), "v.tar", &label, &root, &sig);
        let full = Bundle::open(dir.path()).and_then(|b| b.verify(&key.public_key()));
        let one = Bundle::open_volume(&dir.path().join("v.tar"))
            .and_then(|b| b.verify(&key.public_key()));
        for e in [full.unwrap_err(), one.unwrap_err()] {
            assert!(
                matches!(&e, BundleError::LabelMismatch { field: f, .. } if *f == field),
                "{field}: {e:?}"
            );
            assert!(e.is_damage(), "{e}");
        }
    }
    // The untouched label verifies.
    let dir = tempfile::tempdir().unwrap();
    write_with(dir.path(), "v.tar", &label_for(&root, 1), &root, &sig);
    let b = Bundle::open(dir.path())
        .unwrap()
        .verify(&key.public_key())
        .unwrap();
    assert!(b.is_complete());
}

/// A root whose bundle id is not ASCII, with a volume missing: the missing volume's file name
/// is built from the id without slicing it.
#[test]
fn a_non_ascii_bundle_id_is_refused_without_a_panic() {
    assert_eq!(
        volume::volume_file_name("aéééééééééé", 1, 2),
        "ferry-aéééééééééé-001-of-002.tar"
    );
    let dir = tempfile::tempdir().unwrap();
    let root = root_json(|v| {
        v["bundle_id"] = "aéééééééééééééééééééééééééééééé".into();
        v["volumes"] =
            serde_json::json!([{"index": 1, "data_size": 0}, {"index": 2, "data_size": 0}]);
    });
    write_volume(dir.path(), &root);
    let e = Bundle::open(dir.path()).and_then(|b| b.unverified_root());
    assert!(matches!(&e, Err(BundleError::Root { .. })), "{e:?}");
}

/// Volume number 0 in a label is malformed, not an index underflow.
#[test]
fn volume_zero_is_malformed() {
    let dir = tempfile::tempdir().unwrap();
    let root = root_json(|_| {});
    let mut label = label_for(&root, 1);
    label.volume = 0;
    write_with(dir.path(), "v.tar", &label, &root, "untrusted comment: x\n");
    let e = Bundle::open(dir.path()).and_then(|b| b.unverified_root());
    assert!(
        matches!(&e, Err(BundleError::Volume(VolumeError::Malformed { .. }))),
        "{e:?}"
    );
}
