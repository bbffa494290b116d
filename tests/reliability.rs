//! Issue 14 items 9 and 10: push and pack through a registry that misbehaves on purpose (the
//! chaos proxy of `ferry_fixtures` in front of the real registry), uploads resumed where the
//! registry says they stand, blobs the target already holds mounted, SIGKILL and rerun. The
//! full counts are `scripts/reliability.sh`'s; these are small versions of the same checks.

mod support;

use std::collections::BTreeSet;
use std::time::Duration;

use ferry::model::Digest;
use ferry::registry::{ClientOptions, Registry, RetryPolicy};
use ferry_fixtures::chaos::{ChaosProxy, Fault, Mix};
use support::run::*;
use support::*;

fn proxy(target: &TestRegistry, mix: Mix, seed: &str) -> ChaosProxy {
    ChaosProxy::start("127.0.0.1:0", &target.host(), mix, seed, None).expect("chaos proxy")
}

fn proxy_with(
    target: &TestRegistry,
    rule: impl Fn(&str, &str, usize) -> Option<Fault> + Send + Sync + 'static,
) -> ChaosProxy {
    ChaosProxy::start(
        "127.0.0.1:0",
        &target.host(),
        Mix::NONE,
        "rule",
        Some(Box::new(rule)),
    )
    .expect("chaos proxy")
}

fn counter(c: &std::sync::atomic::AtomicU64) -> u64 {
    c.load(std::sync::atomic::Ordering::SeqCst)
}

/// `ferry push` arguments for bundle `p` to `host` (plain HTTP), JSON output, plus `extra`.
fn push_args_to(p: &Packed, host: &str, extra: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = vec![
        "push".into(),
        p.dir.display().to_string(),
        "--trusted-key".into(),
        p.pubkey.display().to_string(),
        "--to".into(),
        host.into(),
        "--insecure-registry".into(),
        host.into(),
        "--mirrorsets-out".into(),
        p.tmp.path().join("mirrorsets").display().to_string(),
        "--json".into(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    args
}

#[test]
fn one_default_push_completes_through_the_issue_fault_mix() {
    let set = fixtures_small();
    // Four images (an index, a Docker list, two sharing blobs) keep this test near a minute;
    // scripts/reliability.sh pushes every fixture image.
    let lines: Vec<String> = ["app-a", "app-b", "multiarch", "docker-list"]
        .iter()
        .map(|s| oci_line(set.image(s)))
        .collect();
    let p = pack(&lines, &[]);
    let target = TestRegistry::plain();
    let chaos = proxy(&target, Mix::ISSUE_14, "push-mix");
    let out = ferry_ok(push_args_to(&p, &chaos.host(), &[]));
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert!(all_ok(&report), "{report:#}");
    let c = chaos.counters();
    assert!(
        counter(&c.status_503) > 0 && counter(&c.status_429) > 0 && c.faults() >= 10,
        "the mix was applied: {}",
        c.to_json()
    );
    // Every image and digest is at the registry itself, checked without the proxy.
    ferry_ok(check_args(&p.dir, &target, p.tmp.path()));
}

#[test]
fn one_default_pack_completes_through_faults_in_front_of_the_source() {
    let set = fixtures_small();
    let source = TestRegistry::plain();
    load_fixtures(&source, set);
    let chaos = proxy(&source, Mix::ISSUE_14, "pack-mix");
    let lines: Vec<String> = registry_lines(&source, set)
        .into_iter()
        .map(|l| l.replacen(&source.host(), &chaos.host(), 1))
        .collect();
    let flags = vec!["--insecure-registry".to_string(), chaos.host()];
    let p = pack(&lines, &flags);
    assert!(
        chaos.counters().faults() >= 5,
        "{}",
        chaos.counters().to_json()
    );
    verify_ok(&p.dir, &p.pubkey, &[]);
    let key = ferry::sign::read_public_key(&p.pubkey).unwrap();
    let b = ferry::bundle::Bundle::open(&p.dir)
        .unwrap()
        .verify(&key)
        .unwrap();
    let digests: BTreeSet<String> = b
        .root()
        .images
        .iter()
        .map(|i| i.digest.to_string())
        .collect();
    for img in &set.images {
        assert!(digests.contains(&img.digest), "{} carried", img.slug);
    }
}

/// Deterministic bytes that do not compress, `len` long.
fn blob(len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len);
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

fn client(host: &str, journal: Option<&std::path::Path>, attempts: u32) -> Registry {
    let opts = ClientOptions {
        insecure: vec![host.to_string()],
        retry: RetryPolicy {
            attempts,
            base_delay: Duration::from_millis(10),
            max_delay: Duration::from_millis(50),
            ..RetryPolicy::default()
        },
        upload_segment: 1024 * 1024,
        upload_journal: journal.map(std::path::Path::to_path_buf),
        ..ClientOptions::default()
    };
    Registry::new(host, &opts).unwrap()
}

/// A connection dropped during the third segment: the retry asks the registry where the
/// session stands (`GET` → `Range: 0-N`) and sends only the rest; the registry receives each
/// byte once.
#[test]
fn upload_cut_off_resumes_where_the_registry_says_within_a_run() {
    let target = TestRegistry::plain();
    let chaos = proxy_with(&target, |m, _, n| {
        (m == "PATCH" && n == 2).then_some(Fault::Drop)
    });
    let data = blob(5 * 1024 * 1024 + 123);
    let d = Digest::sha256_of(&data);
    let reg = client(&chaos.host(), None, u32::MAX);
    reg.push_blob("resume/within", &d, data.len() as u64, &data)
        .unwrap();
    let s = reg.stats();
    assert_eq!(s.uploads_resumed, 1, "{s:?}");
    assert_eq!(counter(&chaos.counters().dropped), 1);
    assert_eq!(
        counter(&chaos.counters().upload_bytes),
        data.len() as u64,
        "the registry received every byte once"
    );
    assert_eq!(
        client(&target.host(), None, 1)
            .blob_exists("resume/within", &d)
            .unwrap(),
        Some(data.len() as u64)
    );
    assert_eq!(target.count_requests("GET", "/blobs/uploads/"), 1);
}

/// The first run gives up during the fourth segment (as a killed run stops); the second run,
/// a new client with the same journal, continues the session and sends only the rest.
#[test]
fn upload_left_by_an_earlier_run_is_continued_from_the_journal() {
    let target = TestRegistry::plain();
    let chaos = proxy_with(&target, |m, _, n| {
        (m == "PATCH" && n == 3).then_some(Fault::Drop)
    });
    let journal = tempfile::tempdir().unwrap();
    let data = blob(6 * 1024 * 1024);
    let d = Digest::sha256_of(&data);
    let first = client(&chaos.host(), Some(journal.path()), 1);
    first
        .push_blob("resume/rerun", &d, data.len() as u64, &data)
        .expect_err("the first run gives up");
    drop(first);
    assert_eq!(std::fs::read_dir(journal.path()).unwrap().count(), 1);
    let second = client(&chaos.host(), Some(journal.path()), 1);
    second
        .push_blob("resume/rerun", &d, data.len() as u64, &data)
        .unwrap();
    assert_eq!(second.stats().uploads_resumed, 1);
    assert_eq!(
        second.stats().upload_bytes_sent,
        3 * 1024 * 1024,
        "only the segments the registry did not have"
    );
    assert_eq!(
        counter(&chaos.counters().upload_bytes),
        data.len() as u64,
        "the registry received every byte once"
    );
    assert_eq!(std::fs::read_dir(journal.path()).unwrap().count(), 0);
}

/// The registry commits the blob but its answer is lost: ferry asks (`HEAD`) before sending
/// the blob again, and does not.
#[test]
fn a_lost_answer_to_the_final_put_is_checked_before_the_blob_is_sent_again() {
    let target = TestRegistry::plain();
    let chaos = proxy_with(&target, |m, _, n| {
        (m == "PUT" && n == 0).then_some(Fault::Lose)
    });
    let data = blob(300 * 1024);
    let d = Digest::sha256_of(&data);
    let reg = client(&chaos.host(), None, u32::MAX);
    reg.push_blob("lost/answer", &d, data.len() as u64, &data)
        .unwrap();
    assert_eq!(counter(&chaos.counters().lost), 1);
    assert_eq!(target.count_requests("PUT", "/blobs/uploads/"), 1);
    assert_eq!(counter(&chaos.counters().upload_bytes), data.len() as u64);
}

/// A blob the target already holds in another repository of the bundle (an earlier push of
/// the smaller image) is mounted into the larger image's repository, not uploaded, even when
/// the larger image goes first.
#[test]
fn blobs_the_target_holds_in_another_repository_are_mounted_not_uploaded() {
    let set = fixtures_small();
    let blobs = |slug: &str| -> BTreeSet<String> {
        set.image(slug).blobs.iter().map(|b| b.0.clone()).collect()
    };
    let weight = |slug: &str| -> u64 { set.image(slug).blobs.iter().map(|b| b.1).sum() };
    let (small, large) = set
        .images
        .iter()
        .flat_map(|a| set.images.iter().map(move |b| (a, b)))
        .find(|(a, b)| {
            a.slug != b.slug
                && weight(&a.slug) < weight(&b.slug)
                && a.foreign.is_empty()
                && b.foreign.is_empty()
                && !blobs(&a.slug).is_disjoint(&blobs(&b.slug))
        })
        .map(|(a, b)| (a.slug.clone(), b.slug.clone()))
        .expect("two fixture images sharing a blob");
    let target = TestRegistry::plain();
    let first = pack(&[oci_line(set.image(&small))], &[]);
    let r1: serde_json::Value =
        serde_json::from_str(&ferry_ok(push_args_to(&first, &target.host(), &[]))).unwrap();
    assert!(all_ok(&r1), "{r1:#}");
    let both = pack(
        &[oci_line(set.image(&small)), oci_line(set.image(&large))],
        &[],
    );
    let r2: serde_json::Value = serde_json::from_str(&ferry_ok(push_args_to(
        &both,
        &target.host(),
        &["--jobs", "1"],
    )))
    .unwrap();
    assert!(all_ok(&r2), "{r2:#}");
    let own = blobs(&large).difference(&blobs(&small)).count();
    assert_eq!(r2["blobs_uploaded"], own as u64, "{r2:#}");
    assert!(r2["blobs_mounted"].as_u64().unwrap() > 0, "{r2:#}");
}

/// The digests of the blobs whose upload the registry committed (`PUT …?digest=` → 201).
fn committed(target: &TestRegistry) -> Vec<String> {
    target
        .access_log()
        .into_iter()
        .filter(|e| e.method == "PUT" && e.status == 201 && e.path.contains("/blobs/uploads/"))
        .filter_map(|e| {
            e.path
                .split("digest=")
                .nth(1)
                .map(|d| d.split('&').next().unwrap_or("").replace("%3A", ":"))
        })
        .collect()
}

/// SIGKILL at a few points of a push, then a rerun: it completes, sends no blob the registry
/// had finished again, and no tag ever pointed at an image that was not complete.
#[test]
fn killed_pushes_rerun_to_completion_without_sending_a_finished_blob_again() {
    let set = fixtures_small();
    let p = pack(&local_lines(set), &[]);
    let key = ferry::sign::read_public_key(&p.pubkey).unwrap();
    let bundle = ferry::bundle::Bundle::open(&p.dir)
        .unwrap()
        .verify(&key)
        .unwrap();
    for (i, delay_ms) in [150u64, 400, 900].into_iter().enumerate() {
        let target = TestRegistry::plain();
        let naming = ferry::naming::Naming::new(&target.host(), "mirror").unwrap();
        let mut child = ferry_command()
            .args(push_args_to(&p, &target.host(), &[]))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(delay_ms));
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
        // Any tag present points at the bundle's (complete) image.
        for img in &bundle.root().images {
            let name = ferry::model::Reference::parse(&img.name).unwrap();
            let repo = naming.repository(&name).unwrap();
            for tag in &img.tags {
                let url = format!("{}/v2/{repo}/manifests/{tag}", target.url());
                if let Ok(r) = target
                    .agent()
                    .head(&url)
                    .set("Accept", "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.docker.distribution.manifest.v2+json")
                    .call()
                {
                    assert_eq!(
                        r.header("docker-content-digest"),
                        Some(img.digest.to_string().as_str()),
                        "kill {i}: {repo}:{tag}"
                    );
                }
            }
        }
        let finished: BTreeSet<String> = committed(&target).into_iter().collect();
        let before = committed(&target).len();
        let out = ferry(push_args_to(&p, &target.host(), &[]));
        assert!(out.status.success(), "rerun {i}: {}", text(&out));
        let again: Vec<String> = committed(&target)[before..]
            .iter()
            .filter(|d| finished.contains(*d))
            .cloned()
            .collect();
        assert!(again.is_empty(), "kill {i}: sent again: {again:?}");
        ferry_ok(check_args(&p.dir, &target, p.tmp.path()));
    }
}

/// 100 random single-bit flips on covered bytes of a bundle's volumes (tar headers and member
/// content; the script does 1,000 anywhere): each is found by `ferry verify` and by `ferry verify --volume` of the damaged volume, and none makes
/// ferry panic.
#[test]
fn random_bit_flips_are_all_detected_and_none_panics() {
    let set = fixtures_small();
    let p = pack(&local_lines(set), &[]);
    let vols = volumes(&p.dir);
    let sizes: Vec<u64> = vols
        .iter()
        .map(|v| std::fs::metadata(v).unwrap().len())
        .collect();
    let total: u64 = sizes.iter().sum();
    // Every member's header and content; tar padding and the end-of-archive blocks carry
    // nothing (scripts/reliability.sh counts flips there apart).
    let covered: Vec<Vec<(u64, u64)>> = vols
        .iter()
        .map(|v| {
            let mut a = tar::Archive::new(std::fs::File::open(v).unwrap());
            a.entries()
                .unwrap()
                .map(|e| {
                    let e = e.unwrap();
                    (e.raw_header_position(), e.raw_file_position() + e.size())
                })
                .collect()
        })
        .collect();
    let mut x: u64 = 0x1414_1414_dead_beef;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let mut missed = Vec::new();
    for _ in 0..100 {
        let (i, pos) = loop {
            let (mut pos, mut i) = (next() % total, 0);
            while pos >= sizes[i] {
                pos -= sizes[i];
                i += 1;
            }
            if covered[i].iter().any(|&(a, b)| a <= pos && pos < b) {
                break (i, pos);
            }
        };
        let bit = 1u8 << (next() % 8);
        let flip = |path: &std::path::Path| {
            use std::io::{Read, Seek, SeekFrom, Write};
            let mut f = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open(path)
                .unwrap();
            let mut b = [0u8; 1];
            f.seek(SeekFrom::Start(pos)).unwrap();
            f.read_exact(&mut b).unwrap();
            f.seek(SeekFrom::Start(pos)).unwrap();
            f.write_all(&[b[0] ^ bit]).unwrap();
        };
        flip(&vols[i]);
        let base = [
            "verify".to_string(),
            p.dir.display().to_string(),
            "--trusted-key".into(),
            p.pubkey.display().to_string(),
        ];
        let full = ferry(&base);
        let mut one = base.to_vec();
        one.extend(["--volume".to_string(), vols[i].display().to_string()]);
        let volume = ferry(&one);
        flip(&vols[i]); // restore
        for out in [&full, &volume] {
            assert_ne!(
                out.status.code(),
                Some(101),
                "panic at {pos}: {}",
                text(out)
            );
            if out.status.success() {
                missed.push((i, pos, bit));
            }
        }
    }
    assert!(missed.is_empty(), "flips not detected: {missed:?}");
    verify_ok(&p.dir, &p.pubkey, &[]);
}
