//! What `ferry pack` does with input it cannot carry as asked (issue 12): two packs into one
//! directory, one `name:tag` claimed twice, `--platform` that does not apply, unknown list keys,
//! many bad lines at once; and its flags: SI and binary sizes, skopeo's TLS spellings, shell
//! completions and the man page.

mod support;

use std::process::{Command, Stdio};
use std::time::Duration;

use support::run::*;
use support::*;

/// A scratch directory with a key pair and a list of `lines`: (tmp, key, pubkey, list).
fn setup(
    lines: &[String],
) -> (
    tempfile::TempDir,
    std::path::PathBuf,
    std::path::PathBuf,
    std::path::PathBuf,
) {
    let tmp = tempfile::tempdir().unwrap();
    let (key, pubkey) = keygen(tmp.path(), "k");
    let list = write_list(tmp.path(), "images.txt", lines);
    (tmp, key, pubkey, list)
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

// (3) Two packs started together into one --out: one bundle that verifies, one clear refusal.
#[test]
fn two_packs_into_one_out_leave_one_bundle_and_one_refusal() {
    let set = fixtures_small();
    let reg = TestRegistry::plain();
    let img = set.image("app-a");
    load_fixture(&reg, img);
    // Manifest reads take a second, so the first pack still runs when the second starts.
    let proxy = support::proxy::FaultProxy::start(&reg.host(), |method, url| {
        if method == "GET" && url.contains("/manifests/") {
            std::thread::sleep(Duration::from_millis(1500));
        }
        support::proxy::Action::Forward
    });
    let line = format!("{}/{}@{}", proxy.host(), img.repository, img.digest);
    let (tmp, key, pubkey, list) = setup(&[line]);
    let out = tmp.path().join("bundle");
    let args = pack_args(
        &list,
        &key,
        &out,
        &strings(&["--insecure-registry", &proxy.host()]),
    );
    let spawn = || {
        Command::new(ferry_bin())
            .args(&args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (spawn(), spawn());
    let (pid_a, pid_b) = (a.id(), b.id());
    let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    let (ok, refused, winner) = match (a.status.success(), b.status.success()) {
        (true, false) => (a, b, pid_a),
        (false, true) => (b, a, pid_b),
        _ => panic!(
            "expected one success and one refusal:\nA {}: {}\nB {}: {}",
            a.status,
            text(&a),
            b.status,
            text(&b)
        ),
    };
    assert_eq!(refused.status.code(), Some(1), "{}", text(&refused));
    let t = text(&refused);
    assert!(
        t.contains(&format!(
            "another ferry pack (pid {winner}) is writing into"
        )),
        "{t}"
    );
    assert!(text(&ok).contains("1 images"), "{}", text(&ok));
    verify_ok(&out, &pubkey, &[]);
    assert!(
        !out.join(".ferry-pack.lock").exists(),
        "the lock goes with its pack"
    );
}

// (4) Two images claiming one name:tag are refused, naming both lines and digests.
#[test]
fn two_images_claiming_one_name_tag_are_refused_naming_both_lines() {
    let set = fixtures_small();
    let (a, b) = (set.image("app-a"), set.image("app-b"));
    let lines = [
        format!("oci:{}:{} quay.io/ferry/same:1", a.layout.display(), a.tag),
        "# the same name again, another image".to_string(),
        format!("oci:{}:{} quay.io/ferry/same:1", b.layout.display(), b.tag),
    ];
    let (tmp, key, _, list) = setup(&lines);
    let out = tmp.path().join("bundle");
    let r = ferry(pack_args(&list, &key, &out, &[]));
    let t = text(&r);
    assert_eq!(r.status.code(), Some(1), "{t}");
    for needle in [
        "quay.io/ferry/same:1 is claimed by two images",
        &format!("{}:1 ", list.display()),
        &format!("{}:3 ", list.display()),
        &a.digest,
        &b.digest,
    ] {
        assert!(t.contains(needle), "{needle:?} missing from:\n{t}");
    }
    assert!(!out.exists(), "no bundle written");
}

#[test]
fn the_same_image_listed_twice_is_packed_once_with_a_note() {
    let set = fixtures_small();
    let a = set.image("app-a");
    let (tmp, key, pubkey, list) = setup(&[oci_line(a), oci_line(a)]);
    let out = tmp.path().join("bundle");
    let r = ferry(pack_args(&list, &key, &out, &strings(&["--json"])));
    let t = text(&r);
    assert!(r.status.success(), "{t}");
    let summary: serde_json::Value = serde_json::from_slice(&r.stdout).unwrap();
    assert_eq!(
        summary["images"].as_array().unwrap().len(),
        1,
        "{summary:#}"
    );
    assert!(t.contains(&format!("{}:2", list.display())), "{t}");
    assert!(t.contains("packed once"), "{t}");
    verify_ok(&out, &pubkey, &[]);
}

// (5) --platform that does not apply, and unknown keys, are never dropped silently.
#[test]
fn platform_without_an_os_is_a_usage_error() {
    let set = fixtures_small();
    let (tmp, key, _, list) = setup(&[oci_line(set.image("app-a"))]);
    let out = tmp.path().join("bundle");
    let r = ferry(pack_args(
        &list,
        &key,
        &out,
        &strings(&["--platform", "arm64"]),
    ));
    let t = text(&r);
    assert_eq!(r.status.code(), Some(2), "{t}");
    assert!(t.contains("linux/arm64"), "{t}");
    assert!(!out.exists());
}

#[test]
fn single_platform_image_of_another_platform_is_refused_and_a_match_kept() {
    let set = fixtures_small();
    let a = set.image("app-a"); // linux/amd64 only
    let (tmp, key, _, list) = setup(&[oci_line(a)]);
    let out = tmp.path().join("arm");
    let r = ferry(pack_args(
        &list,
        &key,
        &out,
        &strings(&["--platform", "linux/arm64"]),
    ));
    let t = text(&r);
    assert_eq!(r.status.code(), Some(1), "{t}");
    assert!(
        t.contains("single-platform image for linux/amd64") && t.contains("--platform linux/arm64"),
        "{t}"
    );
    assert!(!out.exists(), "no bundle written");
    let out = tmp.path().join("amd");
    let r = ferry(pack_args(
        &list,
        &key,
        &out,
        &strings(&["--platform", "linux/amd64"]),
    ));
    let t = text(&r);
    assert!(r.status.success(), "{t}");
    assert!(t.contains("linux/amd64") && t.contains("kept"), "{t}");
}

#[test]
fn platform_an_index_lacks_is_warned_about() {
    let set = fixtures_small();
    let multi = set.image("multiarch"); // linux/amd64 and linux/arm64
    let (tmp, key, pubkey, list) = setup(&[oci_line(multi)]);
    let out = tmp.path().join("bundle");
    let extra = strings(&["--platform", "linux/arm64", "--platform", "linux/s390x"]);
    let r = ferry(pack_args(&list, &key, &out, &extra));
    let t = text(&r);
    assert!(r.status.success(), "{t}");
    assert!(
        t.contains("warning:") && t.contains("has no linux/s390x"),
        "{t}"
    );
    verify_ok(&out, &pubkey, &[]);
}

#[test]
fn unknown_image_set_configuration_keys_are_refused_with_file_line_and_key() {
    let set = fixtures_small();
    let a = set.image("app-a");
    let tmp = tempfile::tempdir().unwrap();
    let (key, _) = keygen(tmp.path(), "k");
    let isc = tmp.path().join("isc.yaml");
    std::fs::write(
        &isc,
        format!(
            "kind: ImageSetConfiguration\napiVersion: mirror.openshift.io/v2alpha1\nmirror:\n  \
             additionalImages:\n  - name: {}\n  operators:\n  - catalog: registry.redhat.io/x:1\n    \
             targetName: old\n",
            oci_line(a).split(' ').next().unwrap()
        ),
    )
    .unwrap();
    let out = tmp.path().join("bundle");
    let r = ferry(pack_args(&isc, &key, &out, &[]));
    let t = text(&r);
    assert_eq!(r.status.code(), Some(1), "{t}");
    // targetName is a v1alpha2 key oc-mirror v2 does not know.
    assert!(t.contains(&format!("{}:8:", isc.display())), "{t}");
    assert!(t.contains("targetName"), "{t}");
}

// (10) Every bad line is reported at once, and nothing is written.
#[test]
fn every_bad_line_is_reported_at_once_and_no_bundle_is_written() {
    let set = fixtures_small();
    let lines = [
        oci_line(set.image("app-a")),
        "oci:/nonexistent/layout-one:1 quay.io/ferry/missing-one:1".to_string(),
        oci_line(set.image("app-b")),
        "docker-archive:/nonexistent/two.tar quay.io/ferry/missing-two:1".to_string(),
    ];
    let (tmp, key, _, list) = setup(&lines);
    let out = tmp.path().join("bundle");
    let r = ferry(pack_args(&list, &key, &out, &[]));
    let t = text(&r);
    assert_eq!(r.status.code(), Some(1), "{t}");
    assert!(t.contains("2 problem(s) with the 4 image(s)"), "{t}");
    for needle in [
        format!("{}:2: oci:/nonexistent/layout-one:1", list.display()),
        format!("{}:4: docker-archive:/nonexistent/two.tar", list.display()),
    ] {
        assert!(t.contains(&needle), "{needle:?} missing from:\n{t}");
    }
    assert!(!out.exists(), "no bundle written");
}

#[test]
fn every_malformed_line_is_reported_at_once() {
    let set = fixtures_small();
    let lines = [
        "quay.io/Upper/case:1".to_string(),
        oci_line(set.image("app-a")),
        "quay.io/ferry/a:1 quay.io/ferry/b:1 extra".to_string(),
    ];
    let (tmp, key, _, list) = setup(&lines);
    let r = ferry(pack_args(&list, &key, &tmp.path().join("bundle"), &[]));
    let t = text(&r);
    assert_eq!(r.status.code(), Some(1), "{t}");
    assert!(t.contains("2 lines of the list do not parse"), "{t}");
    assert!(t.contains(&format!("{}:1:", list.display())), "{t}");
    assert!(t.contains(&format!("{}:3:", list.display())), "{t}");
}

// (14) Sizes, skopeo's TLS flags, completions and the man page.
#[test]
fn volume_size_units_mean_what_they_say() {
    let set = fixtures_small();
    let (tmp, key, pubkey, list) = setup(&[oci_line(set.image("app-a"))]);
    // 16MB is 16,000,000 bytes: under the 16 MiB minimum, where 16MiB is not.
    let r = ferry(pack_args(
        &list,
        &key,
        &tmp.path().join("si"),
        &strings(&["--volume-size", "16MB"]),
    ));
    let t = text(&r);
    // An unusable flag value is a usage error.
    assert_eq!(r.status.code(), Some(2), "{t}");
    assert!(t.contains("--volume-size 16000000 is too small"), "{t}");
    let out = tmp.path().join("binary");
    ferry_ok(pack_args(
        &list,
        &key,
        &out,
        &strings(&["--volume-size", "16MiB"]),
    ));
    verify_ok(&out, &pubkey, &[]);
    // fat32 names the default; 4GiB is accepted but said to be one byte too many for FAT32.
    ferry_ok(pack_args(
        &list,
        &key,
        &tmp.path().join("fat32"),
        &strings(&["--volume-size", "fat32"]),
    ));
    let r = ferry(pack_args(
        &list,
        &key,
        &tmp.path().join("4gib"),
        &strings(&["--volume-size", "4GiB"]),
    ));
    let t = text(&r);
    assert!(r.status.success(), "{t}");
    assert!(t.contains("one byte over") && t.contains("fat32"), "{t}");
}

#[test]
fn skopeo_tls_verify_false_reaches_a_plain_http_registry() {
    let set = fixtures_small();
    let reg = TestRegistry::plain();
    let img = set.image("app-a");
    load_fixture(&reg, img);
    let (tmp, key, pubkey, list) = setup(&[registry_ref(&reg, img)]);
    // Without it (or --insecure-registry) ferry insists on TLS and fails.
    let r = ferry(pack_args(
        &list,
        &key,
        &tmp.path().join("refused"),
        &strings(&["--retry-times", "0"]),
    ));
    assert_eq!(r.status.code(), Some(1), "{}", text(&r));
    let out = tmp.path().join("bundle");
    ferry_ok(pack_args(
        &list,
        &key,
        &out,
        &strings(&["--tls-verify=false"]),
    ));
    verify_ok(&out, &pubkey, &[]);
    // push: --tls-verify=false addresses --to.
    let target = TestRegistry::plain();
    let push = ferry([
        "push",
        out.to_str().unwrap(),
        "--trusted-key",
        pubkey.to_str().unwrap(),
        "--to",
        target.host().as_str(),
        "--tls-verify=false",
        "--mirrorsets-out",
        tmp.path().join("ms").to_str().unwrap(),
    ]);
    assert!(push.status.success(), "{}", text(&push));
    assert!(target.count_requests("PUT", "/manifests/") >= 1);
}

#[test]
fn skopeo_cert_dir_trusts_its_ca() {
    let set = fixtures_small();
    let reg = TestRegistry::tls_htpasswd();
    let img = set.image("app-a");
    load_fixture(&reg, img);
    let (tmp, key, pubkey, list) = setup(&[registry_ref(&reg, img)]);
    let auth = authfile(tmp.path(), &reg).display().to_string();
    let out = tmp.path().join("bundle");
    let cert_dir = reg.skopeo_cert_dir().unwrap().display().to_string();
    ferry_ok(pack_args(
        &list,
        &key,
        &out,
        &strings(&["--authfile", &auth, "--cert-dir", &cert_dir]),
    ));
    verify_ok(&out, &pubkey, &[]);
}

#[test]
fn completions_and_man_page_come_from_the_clap_definitions() {
    for shell in ["bash", "zsh", "fish"] {
        let s = ferry_ok(["completions", shell]);
        for word in [
            "pack",
            "push",
            "verify",
            "completions",
            "volume-size",
            "tls-verify",
        ] {
            assert!(s.contains(word), "{shell} completions lack {word}");
        }
    }
    let man = ferry_ok(["man"]);
    assert!(man.contains(".TH ferry 1"), "{man}");
    assert!(man.contains("pack") && man.contains("push"), "{man}");
    let pack_man = ferry_ok(["manpage", "pack"]);
    assert!(pack_man.contains(".TH ferry-pack 1"), "{pack_man}");
    assert!(pack_man.contains("volume\\-size"), "{pack_man}");
    let r = ferry(["completions", "tcsh"]);
    assert_eq!(r.status.code(), Some(2), "{}", text(&r));
}
