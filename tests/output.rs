//! What the binary prints when nobody watches a terminal (issue 12, item 13): progress lines
//! every interval, summaries in human sizes with how long they took, one JSON object per
//! `--json`, push's next step, and `--progress=json` events on stderr.

mod support;

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use regex::Regex;
use serde_json::Value;
use support::run::*;
use support::*;

fn s(p: &Path) -> String {
    p.display().to_string()
}

/// A size as ferry prints it (`512 B`, `24.3 MiB`).
const SIZE: &str = r"\d+(\.\d)? (B|KiB|MiB|GiB)";
/// A duration as ferry prints it (`0.4s`, `3m 05s`).
const DURATION: &str = r"(\d+\.\ds|\d+m \d\ds|\d+h \d\dm)";

fn assert_summary(line: &str, with_size: bool) {
    let took = Regex::new(&format!(r"\bin {DURATION}")).unwrap();
    assert!(took.is_match(line), "no duration in {line:?}");
    if with_size {
        let size = Regex::new(SIZE).unwrap();
        assert!(size.is_match(line), "no human size in {line:?}");
        assert!(!line.contains(" bytes"), "raw byte count in {line:?}");
    }
}

/// stdout as exactly one JSON object, with how long the command took.
fn one_object(what: &str, out: &str) -> serde_json::Map<String, Value> {
    let v: Value = serde_json::from_str(out)
        .unwrap_or_else(|e| panic!("{what} --json is not one JSON value ({e}):\n{out}"));
    let Value::Object(m) = v else {
        panic!("{what} --json is not an object:\n{out}")
    };
    assert!(m["elapsed_seconds"].is_f64(), "{what}: {m:?}");
    m
}

fn push_args(p: &Packed, target: &TestRegistry) -> Vec<String> {
    let mut args = registry_push_args(p, target, &[]);
    args.retain(|a| a != "--json");
    args
}

fn export_args(p: &Packed) -> Vec<String> {
    vec![
        "export".into(),
        s(&p.dir),
        "--trusted-key".into(),
        s(&p.pubkey),
        "--to".into(),
        format!("oci:{}", p.tmp.path().join("layout").display()),
    ]
}

#[test]
fn every_command_json_is_one_object() {
    let tmp = tempfile::tempdir().unwrap();
    let key = tmp.path().join("k");
    one_object("keygen", &ferry_ok(["keygen", "--out", &s(&key), "--json"]));
    let list = write_list(
        tmp.path(),
        "images.txt",
        &local_lines(fixtures_small())[..2],
    );
    let dir = tmp.path().join("bundle");
    let mut args = pack_args(&list, &key, &dir, &["--json".into()]);
    one_object("pack", &ferry_ok(&args));
    let p = Packed {
        tmp,
        dir,
        key: key.clone(),
        pubkey: key.with_file_name("k.pub"),
    };
    one_object("verify", &verify_ok(&p.dir, &p.pubkey, &["--json"]));
    one_object("inspect", &ferry_ok(["inspect", &s(&p.dir), "--json"]));
    let target = TestRegistry::plain();
    let push = one_object("push", &ferry_ok(registry_push_args(&p, &target, &[])));
    assert!(push["images"].is_array(), "{push:?}");
    let ms = ferry_ok([
        "mirrorsets",
        &s(&p.dir),
        "--to",
        &target.host(),
        "--trusted-key",
        &s(&p.pubkey),
        "--out",
        &s(&p.tmp.path().join("ms")),
        "--json",
    ]);
    let ms = one_object("mirrorsets", &ms);
    assert!(
        ms["files"].as_array().is_some_and(|f| !f.is_empty()),
        "{ms:?}"
    );
    args = check_args(&p.dir, &target, p.tmp.path());
    args.push("--json".into());
    one_object("check", &ferry_ok(&args));
    args = export_args(&p);
    args.push("--json".into());
    one_object("export", &ferry_ok(&args));
}

#[test]
fn summaries_give_human_sizes_rates_and_durations() {
    let tmp = tempfile::tempdir().unwrap();
    let (key, pubkey) = keygen(tmp.path(), "k");
    let list = write_list(
        tmp.path(),
        "images.txt",
        &local_lines(fixtures_small())[..2],
    );
    let dir = tmp.path().join("bundle");
    let out = ferry(pack_args(&list, &key, &dir, &[]));
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_summary(stdout.lines().next().unwrap(), true);
    assert!(stdout.contains("/s)"), "no rate in {stdout}");
    // Without a terminal, the phase's start and end lines speak human sizes too.
    let start = Regex::new(&format!(r"(?m)^pack: {SIZE} to do$")).unwrap();
    assert!(start.is_match(&stderr), "{stderr}");
    let done = Regex::new(&format!(r"(?m)^pack: done, {SIZE} in {DURATION} \(")).unwrap();
    assert!(done.is_match(&stderr), "{stderr}");

    let verify = verify_ok(&dir, &pubkey, &[]);
    assert!(verify.contains(" OK: "), "{verify}");
    assert_summary(&verify, true);

    let p = Packed {
        tmp,
        dir,
        key,
        pubkey,
    };
    let target = TestRegistry::plain();
    let push = ferry_ok(push_args(&p, &target));
    assert_summary(push.lines().next().unwrap(), true);
    let check = ferry_ok(check_args(&p.dir, &target, p.tmp.path()));
    let last = check.lines().last().unwrap();
    assert!(last.contains("2 of 2 images complete"), "{check}");
    assert_summary(last, false);
    let export = ferry_ok(export_args(&p));
    assert_summary(export.lines().next().unwrap(), true);
}

#[test]
fn push_ends_with_oc_apply_of_the_mirror_sets_written() {
    let p = pack(&local_lines(fixtures_small())[..2], &[]);
    let target = TestRegistry::plain();
    let out = ferry_ok(push_args(&p, &target));
    let last = out.lines().last().unwrap();
    let sets = p.tmp.path().join("mirrorsets");
    let idms = bundle_mirrorset_file(&sets, "imagedigestmirrorset.yaml");
    let icsp = bundle_mirrorset_file(&sets, "imagecontentsourcepolicy.yaml");
    assert!(
        last.starts_with(&format!("next: oc apply -f {}", idms.display())),
        "{out}"
    );
    assert!(last.contains(&format!("-f {}", icsp.display())), "{out}");
    assert!(!last.contains("mapping.txt") && !last.contains("registries.conf"));
}

/// Runs ferry with `env` set, stdout and stderr pipes (never a terminal).
fn ferry_env(args: &[String], env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(ferry_bin());
    c.args(args).env_remove("SOURCE_DATE_EPOCH");
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().expect("running ferry")
}

/// Packs two images from a registry behind a proxy that holds every blob GET for 300 ms, so
/// the pack lasts well over a 100 ms progress interval; `extra` flags added.
fn slow_pack(extra: &[&str]) -> (Output, tempfile::TempDir) {
    let set = fixtures_small();
    let reg = TestRegistry::plain();
    let images = &set.images[..2];
    for img in images {
        load_fixture(&reg, img);
    }
    let proxy = support::proxy::FaultProxy::start(&reg.host(), |method, url| {
        if method == "GET" && url.contains("/blobs/") {
            std::thread::sleep(Duration::from_millis(300));
        }
        support::proxy::Action::Forward
    });
    let lines: Vec<String> = images
        .iter()
        .map(|i| format!("{}/{}@{}", proxy.host(), i.repository, i.digest))
        .collect();
    let tmp = tempfile::tempdir().unwrap();
    let (key, _) = keygen(tmp.path(), "k");
    let list = write_list(tmp.path(), "images.txt", &lines);
    let mut flags: Vec<String> = vec![
        "--jobs".into(),
        "1".into(),
        "--insecure-registry".into(),
        proxy.host(),
    ];
    flags.extend(extra.iter().map(|e| e.to_string()));
    let args = pack_args(&list, &key, &tmp.path().join("bundle"), &flags);
    let out = ferry_env(&args, &[("FERRY_PROGRESS_INTERVAL_MS", "100")]);
    assert!(out.status.success(), "{}", text(&out));
    (out, tmp)
}

#[test]
fn without_a_terminal_progress_is_a_line_every_interval() {
    let (out, _tmp) = slow_pack(&[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let line = Regex::new(&format!(
        r"(?m)^pack: \d+% {SIZE} of {SIZE}, {SIZE}/s, eta (\?|{DURATION})$"
    ))
    .unwrap();
    let n = line.find_iter(&stderr).count();
    assert!(n >= 3, "{n} progress lines in:\n{stderr}");
    let with_eta = Regex::new(&format!(r"(?m)^pack: \d+% .* eta {DURATION}$")).unwrap();
    assert!(
        with_eta.is_match(&stderr),
        "no ETA once bytes moved:\n{stderr}"
    );
}

#[test]
fn progress_json_writes_events_on_stderr() {
    let (out, _tmp) = slow_pack(&["--progress=json"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let events: Vec<serde_json::Map<String, Value>> = stderr
        .lines()
        .map(|l| match serde_json::from_str(l) {
            Ok(Value::Object(m)) => m,
            _ => panic!("not a JSON object: {l:?}\n{stderr}"),
        })
        .collect();
    for e in &events {
        assert_eq!(e["command"], "pack", "{e:?}");
        assert!(e["elapsed_ms"].is_u64(), "{e:?}");
    }
    let of = |kind: &str| -> Vec<&serde_json::Map<String, Value>> {
        events.iter().filter(|e| e["event"] == kind).collect()
    };
    assert!(of("start").iter().any(|e| e["phase"] == "pack"), "{stderr}");
    let progress: Vec<_> = of("progress")
        .into_iter()
        .filter(|e| e["phase"] == "pack")
        .collect();
    assert!(progress.len() >= 3, "{stderr}");
    for e in &progress {
        assert_eq!(e["unit"], "bytes");
        assert!(e["done"].as_u64().unwrap() <= e["total"].as_u64().unwrap());
        assert!(
            e["bytes_per_sec"].is_u64() && e["percent"].is_u64(),
            "{e:?}"
        );
    }
    assert!(!of("note").is_empty(), "{stderr}");
    let finish = of("finish");
    let pack = finish
        .iter()
        .find(|e| e["phase"] == "pack")
        .expect("finish");
    assert_eq!(pack["done"], pack["total"], "{pack:?}");
    assert_eq!(of("end").last().unwrap()["exit_code"], 0);
    // The summary stays on stdout, for people.
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("bundle "));
}

#[test]
fn progress_json_turns_errors_into_events() {
    let tmp = tempfile::tempdir().unwrap();
    let out = ferry([
        "verify",
        &s(&tmp.path().join("nowhere")),
        "--trusted-key",
        &s(&tmp.path().join("k.pub")),
        "--progress=json",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let events: Vec<Value> = String::from_utf8_lossy(&out.stderr)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l:?}")))
        .collect();
    assert!(
        events
            .iter()
            .any(|e| e["event"] == "note" && e["level"] == "error"),
        "{events:?}"
    );
    assert_eq!(events.last().unwrap()["event"], "end");
    assert_eq!(events.last().unwrap()["exit_code"], 1);
}
