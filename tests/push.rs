//! The disconnected side end to end: `ferry push` into real registries (TLS + htpasswd, token
//! auth), checked independently with skopeo; interrupted pushes; damaged bundles; `ferry check`.

mod support;

use std::path::Path;

use ferry::bundle::Bundle;
use ferry::model::Digest;
use support::run::*;
use support::*;

fn check_every_image_by_skopeo(
    target: &TestRegistry,
    set: &FixtureSet,
    upstream_host: &str,
    copy_dir: &Path,
) {
    let seg = upstream_host.replace(':', "_");
    for img in &set.images {
        let repo = format!("mirror/{seg}/{}", img.repository);
        assert_eq!(
            mirrored_digest(target, &repo, &img.digest),
            img.digest,
            "{}",
            img.slug
        );
        for child in &img.children {
            assert_eq!(
                &mirrored_digest(target, &repo, child),
                child,
                "{} child",
                img.slug
            );
        }
        if img.foreign.is_empty() {
            let flags = skopeo_tls_args(target);
            let mut args = vec!["copy".to_string(), "--all".to_string(), "-q".to_string()];
            args.extend(flags.src.clone());
            args.push(format!("docker://{}/{repo}@{}", target.host(), img.digest));
            args.push(format!(
                "oci:{}:{}",
                copy_dir.join(&img.slug).display(),
                img.tag
            ));
            skopeo(&args);
        }
    }
}

fn end_to_end(target: TestRegistry) {
    let set = fixtures_small();
    let source = TestRegistry::plain();
    load_fixtures(&source, set);
    let tmp_flags = tempfile::tempdir().unwrap();
    let p = pack(
        &registry_lines(&source, set),
        &registry_flags(&source, tmp_flags.path()),
    );
    let report = registry_push_json(&p, &target);
    assert!(all_ok(&report), "{report:#}");
    assert!(
        report["blobs_mounted"].as_u64().unwrap() > 0,
        "shared blobs are mounted: {report:#}"
    );
    let copies = tempfile::tempdir().unwrap();
    check_every_image_by_skopeo(&target, set, &source.host(), copies.path());
    // ferry check agrees.
    let args = check_args(&p.dir, &target, p.tmp.path());
    ferry_ok(&args);
    // The tag-only image is reachable by its tag too.
    let tag_only = set.image("tag-only");
    let repo = format!(
        "mirror/{}/{}",
        source.host().replace(':', "_"),
        tag_only.repository
    );
    let flags = skopeo_tls_args(&target);
    let mut a = vec!["inspect".to_string(), "--raw".to_string()];
    a.extend(flags.inspect);
    a.push(format!(
        "docker://{}/{repo}:{}",
        target.host(),
        tag_only.tag
    ));
    assert_eq!(Digest::sha256_of(&skopeo(&a)).to_string(), tag_only.digest);
    // Mirror sets were written.
    let sets = p.tmp.path().join("mirrorsets");
    for f in [
        "imagedigestmirrorset.yaml",
        "imagecontentsourcepolicy.yaml",
        "imagetagmirrorset.yaml",
        "mapping.txt",
    ] {
        assert!(bundle_mirrorset_file(&sets, f).is_file(), "{f}");
    }
    assert!(sets.join("registries.conf").is_file());
    let idms =
        std::fs::read_to_string(bundle_mirrorset_file(&sets, "imagedigestmirrorset.yaml")).unwrap();
    assert!(
        idms.contains(&format!(
            "{}/mirror/{}",
            target.host(),
            source.host().replace(':', "_")
        )),
        "{idms}"
    );
}

#[test]
fn push_to_tls_htpasswd_registry() {
    end_to_end(TestRegistry::tls_htpasswd());
}

#[test]
fn push_to_token_auth_registry() {
    end_to_end(TestRegistry::token_auth());
}

#[test]
fn second_push_uploads_nothing() {
    let set = fixtures_small();
    let p = pack(&local_lines(set), &[]);
    let target = TestRegistry::plain();
    let first = registry_push_json(&p, &target);
    assert!(first["bytes_uploaded"].as_u64().unwrap() > 0);
    let uploads = target.count_requests("PUT", "/blobs/uploads/");
    let second = registry_push_json(&p, &target);
    assert_eq!(second["bytes_uploaded"], 0, "{second:#}");
    assert_eq!(second["blobs_uploaded"], 0);
    assert_eq!(
        target.count_requests("PUT", "/blobs/uploads/"),
        uploads,
        "no blob upload on the second run"
    );
}

#[test]
fn killed_push_resumes_and_third_run_uploads_nothing() {
    let set = fixtures();
    let p = pack(&local_lines(set), &[]);
    let target = TestRegistry::plain();
    let total: u64 = {
        let key = ferry::sign::read_public_key(&p.pubkey).unwrap();
        let b = Bundle::open(&p.dir).unwrap().verify(&key).unwrap();
        b.root().blobs.iter().map(|b| b.size).sum()
    };
    let mut child = ferry_command()
        .args(registry_push_args(&p, &target, &["--jobs", "1"]))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Kill it once the registry has completed at least one blob upload.
    target.wait_for_requests("PUT", "/blobs/uploads/", 1);
    child.kill().unwrap(); // SIGKILL
    let status = child.wait().unwrap();
    assert!(!status.success(), "the push was killed before it finished");
    let second = registry_push_json(&p, &target);
    assert!(all_ok(&second), "{second:#}");
    let resumed = second["bytes_uploaded"].as_u64().unwrap();
    assert!(
        resumed < total,
        "the second run uploads less ({resumed}) than everything ({total})"
    );
    let uploads = target.count_requests("PUT", "/blobs/uploads/");
    let third = registry_push_json(&p, &target);
    assert_eq!(third["bytes_uploaded"], 0, "{third:#}");
    assert_eq!(target.count_requests("PUT", "/blobs/uploads/"), uploads);
    let args = check_args(&p.dir, &target, p.tmp.path());
    ferry_ok(&args);
}

#[test]
fn corrupted_chunk_fails_exactly_the_images_that_use_it() {
    let set = fixtures_small();
    let p = pack(&local_lines(set), &[]);
    // Find a chunk of a blob only app-a uses.
    let key = ferry::sign::read_public_key(&p.pubkey).unwrap();
    let (path, offset, victim_users) = {
        let b = Bundle::open(&p.dir).unwrap().verify(&key).unwrap();
        let root = b.root();
        let users = root.blob_users();
        let (blob, names) = users
            .iter()
            .find(|(_, u)| u.len() == 1 && u[0].contains("app-a"))
            .expect("a blob only app-a uses");
        let entry = root.blobs.iter().find(|x| &x.digest == blob).unwrap();
        let ci = entry.chunks[0];
        assert_eq!(
            root.blobs.iter().filter(|x| x.chunks.contains(&ci)).count(),
            1
        );
        let c = &root.chunks[ci as usize];
        let v = b.volumes().find(|v| v.index == c.volume()).unwrap();
        (
            v.path.clone(),
            512 + c.offset() + c.stored_len() / 2,
            names.clone(),
        )
    };
    flip_byte(&path, offset);
    let target = TestRegistry::plain();
    let out = ferry(registry_push_args(&p, &target, &[]));
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let failed: Vec<&str> = report["images"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["ok"] != true)
        .map(|i| i["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        failed,
        victim_users.iter().map(String::as_str).collect::<Vec<_>>()
    );
    let err = report["images"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["ok"] != true)
        .unwrap()["error"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        err.contains("chunk") && err.contains(path.file_name().unwrap().to_str().unwrap()),
        "{err}"
    );
    // Nothing visible under the failed image's tag.
    let a = set.image("app-a");
    let flags = skopeo_tls_args(&target);
    let mut args = vec!["inspect".to_string(), "--raw".to_string()];
    args.extend(flags.inspect);
    args.push(format!(
        "docker://{}/mirror/quay.io/{}:{}",
        target.host(),
        a.repository,
        a.tag
    ));
    assert!(
        !skopeo_output(&args).status.success(),
        "the failed image's tag must not exist"
    );
    // The others landed.
    let b = set.image("app-b");
    assert_eq!(
        mirrored_digest(
            &target,
            &format!("mirror/quay.io/{}", b.repository),
            &b.digest
        ),
        b.digest
    );
    // check names what is missing.
    let args = check_args(&p.dir, &target, p.tmp.path());
    let out = ferry(&args);
    assert_eq!(out.status.code(), Some(3));
    assert!(text(&out).contains("MISSING"), "{}", text(&out));
}

#[test]
fn wrong_key_pushes_nothing() {
    let set = fixtures_small();
    let p = pack(&local_lines(set)[..2], &[]);
    let other = tempfile::tempdir().unwrap();
    let (_, other_pub) = keygen(other.path(), "o");
    let target = TestRegistry::plain();
    let mut args = registry_push_args(&p, &target, &[]);
    args[3] = other_pub.display().to_string();
    let out = ferry(&args);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out).contains("not signed by a trusted key"),
        "{}",
        text(&out)
    );
    assert_eq!(target.count_requests("PUT", "/"), 0);
    assert_eq!(target.count_requests("POST", "/"), 0);
}

#[test]
fn registry_answering_500_fails_that_image_only_and_a_rerun_finishes() {
    let set = fixtures_small();
    let p = pack(&local_lines(set), &[]);
    let target = TestRegistry::plain();
    let b = set.image("app-b");
    let broken_repo = format!("/v2/mirror/quay.io/{}/manifests/", b.repository);
    let proxy = support::proxy::FaultProxy::start(&target.host(), move |method, url| {
        if method == "PUT" && url.starts_with(&broken_repo) {
            support::proxy::Action::Reply(
                500,
                br#"{"errors":[{"code":"UNKNOWN","message":"disk quota exceeded"}]}"#.to_vec(),
            )
        } else {
            support::proxy::Action::Forward
        }
    });
    let args: Vec<String> = vec![
        "push".into(),
        p.dir.display().to_string(),
        "--trusted-key".into(),
        p.pubkey.display().to_string(),
        "--to".into(),
        proxy.host(),
        "--insecure-registry".into(),
        proxy.host(),
        "--retry-times".into(),
        "1".into(),
        "--mirrorsets-out".into(),
        p.tmp.path().join("ms").display().to_string(),
    ];
    let out = ferry(&args);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(3), "{t}");
    assert!(
        t.contains(&format!("FAILED quay.io/{}:{}", b.repository, b.tag)),
        "{t}"
    );
    assert!(
        t.contains("500") && t.contains("disk quota exceeded"),
        "the registry's own message is shown: {t}"
    );
    assert_eq!(
        t.matches("FAILED").count(),
        1,
        "only the image whose manifests fail: {t}"
    );
    // Nothing of app-b is visible under its tag; app-a landed.
    let direct = |suffix: &str, repo: &str| {
        let mut a = vec![
            "inspect".to_string(),
            "--raw".to_string(),
            "--tls-verify=false".to_string(),
        ];
        a.push(format!(
            "docker://{}/mirror/quay.io/{repo}{suffix}",
            target.host()
        ));
        skopeo_output(&a).status.success()
    };
    assert!(!direct(&format!(":{}", b.tag), &b.repository));
    let a = set.image("app-a");
    assert!(direct(&format!("@{}", a.digest), &a.repository));
    // Once the registry is healthy, the same push finishes.
    drop(proxy);
    let report = registry_push_json(&p, &target);
    assert!(all_ok(&report), "{report:#}");
}

#[test]
fn platform_filtered_index_pushes_its_platforms_and_explains_the_refused_index() {
    let set = fixtures_small();
    let multi = set.image("multiarch");
    let p = pack(
        &[oci_line(multi)],
        &["--platform".to_string(), "linux/arm64".to_string()],
    );
    let target = TestRegistry::plain();
    let out = ferry(registry_push_args(&p, &target, &[]));
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let err = report["images"][0]["error"].as_str().unwrap();
    assert!(
        err.contains("--platform") && err.contains("linux/amd64"),
        "{err}"
    );
    // The carried platform is in the registry by digest.
    let key = ferry::sign::read_public_key(&p.pubkey).unwrap();
    let b = Bundle::open(&p.dir).unwrap().verify(&key).unwrap();
    let arm = b.root().images[0]
        .platforms
        .iter()
        .find(|x| x.present)
        .unwrap()
        .digest
        .to_string();
    assert_eq!(
        mirrored_digest(
            &target,
            &format!("mirror/quay.io/{}", multi.repository),
            &arm
        ),
        arm
    );
}
