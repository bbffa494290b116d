//! `ferry setup`: admin credential in, robot credential in an auth file out.

use anyhow::{bail, Context, Result};
use serde::Serialize;

use super::args::SetupArgs;
use super::common::{print_json, print_notes, say, user_agent, EXIT_OK};
use ferry::flavor::{self, Flavor, Outcome, SetupRequest, Target};
use ferry::naming::Naming;
use ferry::registry::{AdminAuth, AdminClient, ClientOptions, Credential, Secret};

/// Reads a secret from a file (trimmed), naming the file (never the content) on failure.
fn read_secret_file(path: &std::path::Path) -> Result<Secret> {
    let s = std::fs::read_to_string(path)
        .with_context(|| format!("reading admin credential file {}", path.display()))?;
    let s = Secret::new(s);
    if s.is_empty() {
        bail!("admin credential file {} is empty", path.display());
    }
    Ok(s)
}

/// The admin credential the flavor needs, from file, flag or environment.
fn admin_auth(a: &SetupArgs, flavor: Flavor) -> Result<AdminAuth> {
    match flavor {
        Flavor::Quay | Flavor::MirrorRegistry => {
            if a.admin_creds_file.is_some() {
                bail!("--admin-creds-file is for Harbor; {} takes an OAuth access token (--admin-token-file)", flavor.name());
            }
            let token = match (&a.admin_token_file, &a.admin_token) {
                (Some(f), _) => read_secret_file(f)?,
                (None, Some(t)) if !t.trim().is_empty() => Secret::new(t.clone()),
                _ => bail!(
                    "{} needs an OAuth access token with org:admin and user:admin scopes: --admin-token-file FILE (or --admin-token / FERRY_ADMIN_TOKEN)",
                    flavor.name()
                ),
            };
            Ok(AdminAuth::Bearer(token))
        }
        Flavor::Harbor => {
            if a.admin_token_file.is_some() {
                bail!(
                    "--admin-token-file is for Quay; Harbor takes USER:PASS (--admin-creds-file)"
                );
            }
            let raw = match (&a.admin_creds_file, &a.admin_creds) {
                (Some(f), _) => read_secret_file(f)?,
                (None, Some(c)) if !c.trim().is_empty() => Secret::new(c.clone()),
                _ => bail!(
                    "harbor needs an admin user: --admin-creds-file FILE holding USER:PASS (or --admin-creds / FERRY_ADMIN_CREDS)"
                ),
            };
            let cred = Credential::parse(raw.expose())
                .context("the Harbor admin credential must be USER:PASS")?;
            Ok(AdminAuth::Basic(cred))
        }
        Flavor::Distribution => Err(flavor::FlavorError::NoAdminApi {
            flavor: flavor.name(),
        }
        .into()),
    }
}

/// Runs `ferry setup`.
pub(super) fn setup(a: SetupArgs) -> Result<i32> {
    let flavor = a.flavor.flavor();
    let t = Target::new(flavor, &a.to, &a.prefix, false);
    print_notes(&t);
    let target = t.host().to_string();
    // Validates the target and prefix the same way push will.
    Naming::new(&target, &a.prefix)?;
    let auth = admin_auth(&a, flavor)?;
    let opts = ClientOptions {
        ca_files: a.ca_files.clone(),
        insecure: a.insecure.clone(),
        user_agent: user_agent(),
        ..Default::default()
    };
    let admin = AdminClient::new(&target, &opts, auth)?;
    let req = SetupRequest {
        flavor,
        target: target.clone(),
        prefix: a.prefix.clone(),
        robot: a.robot.clone(),
        authfile_out: a.authfile_out.clone(),
    };
    let report = flavor::setup(&req, &admin, &opts).map_err(|e| {
        let hint = flavor::setup_hint(flavor, &e)
            .map(|h| format!(" ({h})"))
            .unwrap_or_default();
        anyhow::anyhow!(
            "setting up {} at {target}: {}{hint}",
            flavor.name(),
            ferry::error_chain(&e)
        )
    })?;
    if a.json {
        #[derive(Serialize)]
        struct Out<'a> {
            #[serde(flatten)]
            report: &'a flavor::SetupReport,
            created: Vec<String>,
            reused: Vec<String>,
            updated: Vec<String>,
        }
        let pick = |o: Outcome| {
            report
                .steps
                .iter()
                .filter(|s| s.outcome == o)
                .map(|s| format!("{} {}", s.kind, s.name))
                .collect()
        };
        print_json(&Out {
            report: &report,
            created: pick(Outcome::Created),
            reused: pick(Outcome::Reused),
            updated: pick(Outcome::Updated),
        })?;
    } else {
        for s in &report.steps {
            let what = match s.outcome {
                Outcome::Created => "created",
                Outcome::Reused => "exists, reused",
                Outcome::Updated => "updated",
            };
            outln!("{:<16} {:<40} {what}", s.kind, s.name)?;
        }
        if report.authfile_written {
            outln!(
                "robot {} credential written to {} (mode 0600)",
                report.robot_login,
                report.authfile.display()
            )?;
        } else {
            outln!(
                "robot {} credential in {} still works; file left unchanged",
                report.robot_login,
                report.authfile.display()
            )?;
        }
        outln!(
            "next: ferry push BUNDLE --trusted-key KEY.pub --to {target} --prefix {} --flavor {} --authfile {}",
            a.prefix,
            flavor.name(),
            report.authfile.display()
        )?;
    }
    for w in &report.warnings {
        say("warning", w);
    }
    Ok(EXIT_OK)
}
