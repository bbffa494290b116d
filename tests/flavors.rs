//! Registry flavors end to end: `ferry setup` against stand-ins for Quay's v1 API and Harbor's
//! v2.0 API (tests/support/{quay,harbor}_standin.rs — stand-ins, not the products), whose
//! registry traffic goes to the real `docker-registry` with token auth; then `ferry push` with
//! the robot credential setup wrote, checked with skopeo.

mod support;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Output;

use ferry::bundle::Bundle;
use ferry::model::Digest;
use ferry::registry::{find_in_authfile, Credential};
use support::harbor_standin::HarborStandin;
use support::quay_standin::{QuayOptions, QuayStandin};
use support::run::*;
use support::*;

struct Packed {
    tmp: tempfile::TempDir,
    dir: PathBuf,
    pubkey: PathBuf,
}

fn pack_small() -> Packed {
    let tmp = tempfile::tempdir().unwrap();
    let (key, pubkey) = keygen(tmp.path(), "k");
    let list = write_list(tmp.path(), "images.txt", &local_lines(fixtures_small()));
    let dir = tmp.path().join("bundle");
    ferry_ok([
        "pack".as_ref(),
        "--images".as_ref(),
        list.as_os_str(),
        "--key".as_ref(),
        key.as_os_str(),
        "--out".as_ref(),
        dir.as_os_str(),
    ]);
    Packed { tmp, dir, pubkey }
}

/// (name, digest) of every bundled image.
fn bundled(p: &Packed) -> Vec<(String, String)> {
    let b = Bundle::open(&p.dir).unwrap();
    b.root()
        .images
        .iter()
        .map(|i| (i.name.clone(), i.digest.to_string()))
        .collect()
}

fn s(p: &Path) -> String {
    p.display().to_string()
}

fn secret_file(dir: &Path, name: &str, value: &str) -> PathBuf {
    let f = dir.join(name);
    std::fs::write(&f, format!("{value}\n")).unwrap();
    std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o600)).unwrap();
    f
}

fn setup_args(flavor: &str, host: &str, authfile: &Path, admin: &[String]) -> Vec<String> {
    let mut v: Vec<String> = vec![
        "setup".into(),
        "--flavor".into(),
        flavor.into(),
        "--to".into(),
        host.into(),
        "--robot".into(),
        "ferry".into(),
        "--authfile-out".into(),
        s(authfile),
        "--insecure-registry".into(),
        host.into(),
    ];
    v.extend_from_slice(admin);
    v
}

fn setup_json(args: &[String], secrets: &[&str]) -> serde_json::Value {
    let mut args = args.to_vec();
    args.push("--json".into());
    let out = ferry(&args);
    assert_no_secret(&out, secrets);
    assert!(out.status.success(), "setup failed: {}", text(&out));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn assert_no_secret(out: &Output, secrets: &[&str]) {
    let all = text(out);
    for secret in secrets {
        assert!(
            !secret.is_empty() && !all.contains(secret),
            "a secret appears in ferry's output:\n{all}"
        );
    }
}

fn robot_credential(authfile: &Path, host: &str) -> Credential {
    let text = std::fs::read_to_string(authfile).unwrap();
    find_in_authfile(&text, authfile, host)
        .unwrap()
        .expect("the auth file holds the robot")
}

fn names(v: &serde_json::Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_str().unwrap().to_string())
        .collect()
}

fn push_args(p: &Packed, host: &str, authfile: &Path, extra: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = vec![
        "push".into(),
        s(&p.dir),
        "--trusted-key".into(),
        s(&p.pubkey),
        "--to".into(),
        host.into(),
        "--authfile".into(),
        s(authfile),
        "--insecure-registry".into(),
        host.into(),
        "--mirrorsets-out".into(),
        s(&p.tmp.path().join("mirrorsets")),
        "--json".into(),
    ];
    v.extend(extra.iter().map(|x| x.to_string()));
    v
}

/// sha256 of the manifest at `docker://REF` as `creds` sees it through `host` (plain HTTP).
fn fetched_digest(reference: &str, creds: &Credential) -> Result<String, String> {
    let out = skopeo_output([
        "inspect".to_string(),
        "--raw".into(),
        "--tls-verify=false".into(),
        "--creds".into(),
        format!("{}:{}", creds.username, creds.password()),
        format!("docker://{reference}"),
    ]);
    if out.status.success() {
        Ok(Digest::sha256_of(&out.stdout).to_string())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

/// Every bundled image is in the registry behind the stand-in under the passthrough name.
fn assert_pushed(registry: &TestRegistry, p: &Packed, prefix: &str) {
    let flags = skopeo_tls_args(registry);
    for (name, digest) in bundled(p) {
        let r = ferry::model::Reference::parse(&name).unwrap();
        let repo = format!("{prefix}/{}/{}", r.registry(), r.repository());
        let mut args = vec!["inspect".to_string(), "--raw".into()];
        args.extend(flags.inspect.clone());
        args.push(format!("docker://{}/{repo}@{digest}", registry.host()));
        assert_eq!(
            Digest::sha256_of(&skopeo(&args)).to_string(),
            digest,
            "{name}"
        );
    }
}

fn all_ok(report: &serde_json::Value) -> bool {
    report["images"]
        .as_array()
        .unwrap()
        .iter()
        .all(|i| i["ok"] == true)
}

#[test]
fn quay_setup_push_and_rerun() {
    let q = QuayStandin::start(QuayOptions::default());
    let tmp = tempfile::tempdir().unwrap();
    let token = secret_file(tmp.path(), "token", q.admin_token());
    let authfile = tmp.path().join("robot-auth.json");
    let admin = vec!["--admin-token-file".to_string(), s(&token)];
    let args = setup_args("quay", &q.host(), &authfile, &admin);

    let first = setup_json(&args, &[q.admin_token()]);
    assert_eq!(first["robot_login"], "mirror+ferry", "{first:#}");
    assert_eq!(first["namespace"], "mirror");
    assert_eq!(
        names(&first["created"]),
        [
            "organization mirror",
            "robot mirror+ferry",
            "team ferrypushers (creator)",
            "team membership mirror+ferry"
        ]
    );
    assert!(names(&first["reused"]).is_empty());
    let mode = std::fs::metadata(&authfile).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let cred = robot_credential(&authfile, &q.host());
    assert_eq!(cred.username, "mirror+ferry");
    assert!(!first.to_string().contains(cred.password()));
    assert_eq!(
        q.team("mirror", "ferrypushers"),
        Some(("creator".to_string(), vec!["mirror+ferry".to_string()]))
    );

    // Second run: everything is reused, nothing is created, the credential is the same.
    let writes_before = q.api_calls().iter().filter(|(m, _, _)| m != "GET").count();
    let second = setup_json(&args, &[q.admin_token(), cred.password()]);
    assert!(names(&second["created"]).is_empty(), "{second:#}");
    assert_eq!(names(&second["reused"]).len(), 4, "{second:#}");
    let writes_after = q.api_calls().iter().filter(|(m, _, _)| m != "GET").count();
    assert_eq!(writes_before, writes_after, "a second run changes nothing");
    assert_eq!(robot_credential(&authfile, &q.host()), cred);
    assert_eq!(q.robots("mirror"), ["ferry"]);
    // Human output says so too, without the secret.
    let out = ferry(&args);
    assert!(out.status.success(), "{}", text(&out));
    assert_no_secret(&out, &[q.admin_token(), cred.password()]);
    assert!(text(&out).contains("exists, reused"), "{}", text(&out));

    // Push with the robot credential, nested names (Quay ≥ 3.7).
    let p = pack_small();
    let out = ferry(push_args(&p, &q.host(), &authfile, &["--flavor", "quay"]));
    assert_no_secret(&out, &[cred.password()]);
    assert!(out.status.success(), "{}", text(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(all_ok(&report), "{report:#}");
    assert_pushed(q.registry(), &p, "mirror");

    // Least privilege: the robot's tokens never reached outside its organization, and a push
    // outside it is refused by the real registry.
    let issuer = q.registry().token_issuer().unwrap();
    let granted: Vec<String> = issuer
        .requests()
        .iter()
        .filter(|r| r.user.as_deref() == Some("mirror+ferry"))
        .flat_map(|r| r.granted.iter().map(|g| g.1.clone()).collect::<Vec<_>>())
        .collect();
    assert!(!granted.is_empty());
    assert!(
        granted.iter().all(|n| n.starts_with("mirror/")),
        "{granted:?}"
    );
    let img = fixtures_small().image("app-a");
    let outside = skopeo_output([
        "copy".to_string(),
        "--dest-tls-verify=false".into(),
        "--dest-creds".into(),
        format!("{}:{}", cred.username, cred.password()),
        format!("oci:{}:{}", img.layout.display(), img.tag),
        format!("docker://{}/other/app:1", q.host()),
    ]);
    assert!(
        !outside.status.success(),
        "the robot must not push outside its organization"
    );
}

#[test]
fn wrong_admin_credentials_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let q = QuayStandin::start(QuayOptions::default());
    let wrong = "not-the-token-0123456789";
    let token = secret_file(tmp.path(), "token", wrong);
    let authfile = tmp.path().join("quay-auth.json");
    let out = ferry(setup_args(
        "quay",
        &q.host(),
        &authfile,
        &["--admin-token-file".into(), s(&token)],
    ));
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert_no_secret(&out, &[wrong, q.admin_token()]);
    let msg = text(&out);
    assert!(
        msg.contains("admin credential was refused") && msg.contains("HTTP 401"),
        "{msg}"
    );
    assert!(msg.contains("--admin-token-file"), "{msg}");
    assert!(!authfile.exists(), "nothing is written");
    assert!(q.api_calls().iter().all(|(_, _, st)| *st == 401));
    assert!(q.robots("mirror").is_empty());

    let h = HarborStandin::start();
    let wrong = "admin:Wr0ngPassword";
    let creds = secret_file(tmp.path(), "harbor-creds", wrong);
    let authfile = tmp.path().join("harbor-auth.json");
    let out = ferry(setup_args(
        "harbor",
        &h.host(),
        &authfile,
        &["--admin-creds-file".into(), s(&creds)],
    ));
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert_no_secret(&out, &["Wr0ngPassword", &h.admin_creds()]);
    let msg = text(&out);
    assert!(
        msg.contains("HTTP 401") && msg.contains("--admin-creds-file"),
        "{msg}"
    );
    assert!(!authfile.exists());
    assert!(h.projects().is_empty() && h.robots().is_empty());

    // A Quay token given to Harbor is a usage mistake ferry names.
    let out = ferry(setup_args(
        "harbor",
        &h.host(),
        &authfile,
        &["--admin-token-file".into(), s(&token)],
    ));
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).contains("--admin-creds-file"), "{}", text(&out));
}

#[test]
fn harbor_setup_push_rerun_and_secret_refresh() {
    let h = HarborStandin::start();
    let tmp = tempfile::tempdir().unwrap();
    let creds = secret_file(tmp.path(), "admin-creds", &h.admin_creds());
    let admin_pass = h.admin_creds().split_once(':').unwrap().1.to_string();
    let authfile = tmp.path().join("robot-auth.json");
    let admin = vec!["--admin-creds-file".to_string(), s(&creds)];
    let args = setup_args("harbor", &h.host(), &authfile, &admin);

    // The stand-in enforces Harbor's CSRF rule: a POST that sends the sid cookie back fails.
    let agent = ureq::AgentBuilder::new().build();
    let csrf = agent
        .post(&format!("http://{}/api/v2.0/projects", h.host()))
        .set("Cookie", "sid=0123456789abcdef")
        .set(
            "Authorization",
            &format!(
                "Basic {}",
                base64::Engine::encode(&base64::engine::general_purpose::STANDARD, h.admin_creds())
            ),
        )
        .send_string(r#"{"project_name":"csrf"}"#);
    assert!(matches!(csrf, Err(ureq::Error::Status(403, _))), "{csrf:?}");

    let first = setup_json(&args, &[&admin_pass]);
    assert_eq!(first["robot_login"], "robot$mirror+ferry", "{first:#}");
    assert_eq!(
        names(&first["created"]),
        [
            "project mirror",
            "robot robot$mirror+ferry",
            "secret robot$mirror+ferry"
        ]
    );
    // Every API answer set a sid cookie; the POSTs still succeeded: ferry never sends it back.
    assert!(h
        .api_calls()
        .iter()
        .any(|(m, _, st)| m == "POST" && *st == 201));
    let refused: Vec<_> = h
        .api_calls()
        .into_iter()
        .filter(|(_, _, st)| *st == 403)
        .collect();
    assert_eq!(
        refused.len(),
        1,
        "only the probe above met the CSRF check: {refused:?}"
    );
    let cred = robot_credential(&authfile, &h.host());
    assert_eq!(cred.username, "robot$mirror+ferry");
    let mode = std::fs::metadata(&authfile).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);

    // Second run: the auth file's credential still works, so it is kept as it is.
    let bytes = std::fs::read(&authfile).unwrap();
    let second = setup_json(&args, &[&admin_pass, cred.password()]);
    assert!(names(&second["created"]).is_empty(), "{second:#}");
    assert!(names(&second["updated"]).is_empty(), "{second:#}");
    assert_eq!(second["authfile_written"], false);
    assert_eq!(std::fs::read(&authfile).unwrap(), bytes);
    assert!(!h.api_calls().iter().any(|(m, _, _)| m == "PATCH"));
    assert_eq!(h.robots(), ["robot$mirror+ferry"]);

    // Push with the robot credential.
    let p = pack_small();
    let out = ferry(push_args(&p, &h.host(), &authfile, &["--flavor", "harbor"]));
    assert_no_secret(&out, &[cred.password()]);
    assert!(out.status.success(), "{}", text(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(all_ok(&report), "{report:#}");
    assert_pushed(h.registry(), &p, "mirror");

    // A fresh auth file: Harbor shows a secret only once, so setup refreshes it and says so.
    let other = tmp.path().join("other-auth.json");
    let args2 = setup_args("harbor", &h.host(), &other, &admin);
    let out = ferry(&args2);
    assert!(out.status.success(), "{}", text(&out));
    let fresh = robot_credential(&other, &h.host());
    assert_no_secret(&out, &[&admin_pass, cred.password(), fresh.password()]);
    assert!(text(&out).contains("refreshed"), "{}", text(&out));
    assert!(h
        .api_calls()
        .iter()
        .any(|(m, _, st)| m == "PATCH" && *st == 200));
    assert_ne!(fresh.password(), cred.password());
    let (name, digest) = bundled(&p).remove(0);
    let r = ferry::model::Reference::parse(&name).unwrap();
    let mirror = format!(
        "{}/mirror/{}/{}@{digest}",
        h.host(),
        r.registry(),
        r.repository()
    );
    assert_eq!(
        fetched_digest(&mirror, &fresh).as_deref(),
        Ok(digest.as_str())
    );
    assert!(
        fetched_digest(&mirror, &cred).is_err(),
        "the old secret no longer works"
    );
}

#[test]
fn harbor_push_into_missing_project_points_to_setup() {
    let h = HarborStandin::start();
    let tmp = tempfile::tempdir().unwrap();
    let creds = secret_file(tmp.path(), "admin-creds", &h.admin_creds());
    let authfile = tmp.path().join("robot-auth.json");
    setup_json(
        &setup_args(
            "harbor",
            &h.host(),
            &authfile,
            &["--admin-creds-file".into(), s(&creds)],
        ),
        &[],
    );
    let p = pack_small();
    let out = ferry(push_args(
        &p,
        &h.host(),
        &authfile,
        &["--flavor", "harbor", "--prefix", "other"],
    ));
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let msg = text(&out);
    assert!(
        msg.contains("Harbor project \"other\" does not exist")
            && msg.contains("ferry setup --flavor harbor")
            && msg.contains("--prefix other"),
        "{msg}"
    );
    // Nothing was pushed: no upload, no manifest.
    let reg = h.registry();
    assert_eq!(reg.count_requests("PUT", "/v2/"), 0);
    assert_eq!(reg.count_requests("POST", "/v2/"), 0);
    assert_eq!(reg.count_requests("PATCH", "/v2/"), 0);
}

#[test]
fn flattened_names_for_registries_without_nested_paths() {
    let q = QuayStandin::start(QuayOptions { nested: false });
    let tmp = tempfile::tempdir().unwrap();
    let token = secret_file(tmp.path(), "token", q.admin_token());
    let authfile = tmp.path().join("robot-auth.json");
    setup_json(
        &setup_args(
            "quay",
            &q.host(),
            &authfile,
            &["--admin-token-file".into(), s(&token)],
        ),
        &[q.admin_token()],
    );
    let cred = robot_credential(&authfile, &q.host());
    let p = pack_small();

    // Nested names are refused by this registry; ferry says what to do.
    let out = ferry(push_args(&p, &q.host(), &authfile, &["--flavor", "quay"]));
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let msg = text(&out);
    assert!(
        msg.contains("Nested repositories are not supported"),
        "{msg}"
    );
    assert!(msg.contains("hint:") && msg.contains("--flatten"), "{msg}");

    // --flatten with a nested prefix is refused before anything is pushed.
    let out = ferry(push_args(
        &p,
        &q.host(),
        &authfile,
        &["--flavor", "quay", "--flatten", "--prefix", "mirror/sub"],
    ));
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("one-component --prefix"),
        "{}",
        text(&out)
    );

    let out = ferry(push_args(
        &p,
        &q.host(),
        &authfile,
        &["--flavor", "quay", "--flatten"],
    ));
    assert_no_secret(&out, &[cred.password()]);
    assert!(out.status.success(), "{}", text(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(all_ok(&report), "{report:#}");
    for img in report["images"].as_array().unwrap() {
        let mirror = img["mirror"].as_str().unwrap();
        let repo = mirror
            .strip_prefix(&format!("{}/", q.host()))
            .unwrap()
            .split('@')
            .next()
            .unwrap();
        assert_eq!(repo.matches('/').count(), 1, "{repo} is not flat");
    }

    // Every bundled reference, resolved through the IDMS entries, is fetched by digest.
    let idms: serde_yaml::Value = serde_yaml::from_str(
        &std::fs::read_to_string(p.tmp.path().join("mirrorsets/imagedigestmirrorset.yaml"))
            .unwrap(),
    )
    .unwrap();
    let entries: Vec<(String, Vec<String>)> = idms["spec"]["imageDigestMirrors"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["source"].as_str().unwrap().to_string(),
                e["mirrors"]
                    .as_sequence()
                    .unwrap()
                    .iter()
                    .map(|m| m.as_str().unwrap().to_string())
                    .collect(),
            )
        })
        .collect();
    let images = bundled(&p);
    assert!(!images.is_empty());
    for (name, digest) in &images {
        let name = &ferry::model::Reference::parse(name).unwrap().name();
        // A source matches the repository itself or a parent path of it (the CRD semantics).
        let (source, mirrors) = entries
            .iter()
            .filter(|(src, _)| name == src || name.starts_with(&format!("{src}/")))
            .max_by_key(|(src, _)| src.len())
            .unwrap_or_else(|| panic!("no IDMS entry redirects {name}"));
        let redirected = format!("{}{}", mirrors[0], &name[source.len()..]);
        assert!(redirected.starts_with(&format!("{}/mirror/", q.host())));
        assert_eq!(
            fetched_digest(&format!("{redirected}@{digest}"), &cred).as_deref(),
            Ok(digest.as_str()),
            "{name} via {redirected}"
        );
    }

    // ferry check finds everything under the flattened names.
    let out = ferry([
        "check".to_string(),
        s(&p.dir),
        "--to".into(),
        q.host(),
        "--flavor".into(),
        "quay".into(),
        "--flatten".into(),
        "--authfile".into(),
        s(&authfile),
        "--insecure-registry".into(),
        q.host(),
    ]);
    assert!(out.status.success(), "{}", text(&out));
}
