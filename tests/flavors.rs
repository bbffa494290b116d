//! Registry flavors end to end: `ferry setup` against stand-ins for Quay's v1 API and Harbor's
//! v2.0 API (tests/support/{quay,harbor}_standin.rs — stand-ins, not the products), whose
//! registry traffic goes to the real `docker-registry` with token auth; then `ferry push` with
//! the robot credential setup wrote, checked with skopeo.

mod support;

use std::os::unix::fs::PermissionsExt;

use support::flavor_cli::*;
use support::harbor_standin::HarborStandin;
use support::quay_standin::{QuayOptions, QuayStandin};
use support::run::*;
use support::*;

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
    let idms: serde_norway::Value = serde_norway::from_str(
        &std::fs::read_to_string(bundle_mirrorset_file(
            &p.tmp.path().join("mirrorsets"),
            "imagedigestmirrorset.yaml",
        ))
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
        "--trusted-key".into(),
        s(&p.pubkey),
    ]);
    assert!(out.status.success(), "{}", text(&out));
}

#[test]
fn mirror_registry_is_quay_on_port_8443() {
    // Same API as Quay: setup works against the Quay stand-in (its port given explicitly).
    let q = QuayStandin::start(QuayOptions::default());
    let tmp = tempfile::tempdir().unwrap();
    let token = secret_file(tmp.path(), "token", q.admin_token());
    let authfile = tmp.path().join("robot-auth.json");
    let report = setup_json(
        &setup_args(
            "mirror-registry",
            &q.host(),
            &authfile,
            &["--admin-token-file".into(), s(&token)],
        ),
        &[q.admin_token()],
    );
    assert_eq!(report["flavor"], "mirror-registry");
    assert_eq!(report["robot_login"], "mirror+ferry");
    assert_eq!(report["registry"], q.host());

    // Without a port, mirror-registry's 8443 is used, and ferry says so.
    let p = pack_small();
    let out_dir = tmp.path().join("sets");
    let out = ferry([
        "mirrorsets".to_string(),
        s(&p.dir),
        "--to".into(),
        "registry.local".into(),
        "--flavor".into(),
        "mirror-registry".into(),
        "--out".into(),
        s(&out_dir),
        "--trusted-key".into(),
        s(&p.pubkey),
    ]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("port 8443"), "{}", text(&out));
    let idms =
        std::fs::read_to_string(bundle_mirrorset_file(&out_dir, "imagedigestmirrorset.yaml"))
            .unwrap();
    assert!(
        idms.contains("registry.local:8443/mirror/quay.io"),
        "{idms}"
    );
}
