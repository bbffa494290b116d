//! Registry products ("flavors") and what ferry knows about each before it talks to one:
//! name rules, limits, and `ferry setup` — from an admin credential to a least-privilege robot
//! credential in an auth file.
//!
//! - [`Flavor::Distribution`]: the CNCF registry (or anything plain); no admin API, no checks.
//! - [`Flavor::Quay`] / [`Flavor::MirrorRegistry`]: an organization named after the first
//!   component of the prefix, a robot `ORG+NAME`, and a team with the `creator` role holding the
//!   robot so that pushes can create repositories ([`quay`]). mirror-registry is Quay listening
//!   on port 8443 with a self-signed CA (`QUAY_ROOT/quay-rootCA/rootCA.pem`).
//! - [`Flavor::Harbor`]: a project named after the first component of the prefix and a
//!   project-level robot with pull and push on repositories ([`harbor`]); the project must exist
//!   before a push.
//!
//! The robot's secret goes only into the auth file (mode 0600); reports name the robot and the
//! file, never the secret.

pub mod harbor;
mod hint;
pub mod quay;
mod target;

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::naming::Naming;

use crate::registry::{
    write_authfile_entry, AdminAuth, AdminClient, AdminError, ClientOptions, Credential,
    CredentialError, Registry, RegistryError,
};
pub use hint::{hint_for, setup_hint, Hint, NAME_INVALID, QUAY_NESTED_MESSAGE};
pub use target::{Note, Target, TargetError};

/// A registry product.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Flavor {
    /// The CNCF distribution registry or any plain OCI registry.
    #[default]
    Distribution,
    /// Red Hat Quay / project Quay.
    Quay,
    /// quay/mirror-registry: an all-in-one Quay on port 8443 with a self-signed CA.
    MirrorRegistry,
    /// Harbor 2.x.
    Harbor,
}

/// The port mirror-registry listens on unless told otherwise.
pub const MIRROR_REGISTRY_PORT: u16 = 8443;

/// What a product accepts, as far as ferry's pushes are concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Limits {
    /// Whether nested repository paths (`ns/a/b/c`) are accepted out of the box. Quay allows
    /// them since 3.7 (`FEATURE_EXTENDED_REPOSITORY_NAMES`); older or reconfigured ones need
    /// `--flatten`.
    pub nested_by_default: bool,
    /// Whether the first path component names a namespace (organization, project) that the
    /// robot cannot create by pushing.
    pub namespace_required: bool,
    /// Whether the namespace must exist before a push (Harbor projects).
    pub namespace_must_exist: bool,
    /// Whether ferry can create a robot through an admin API.
    pub has_admin_api: bool,
}

impl Flavor {
    /// The product's name as the CLI spells it.
    pub fn name(self) -> &'static str {
        match self {
            Flavor::Distribution => "distribution",
            Flavor::Quay => "quay",
            Flavor::MirrorRegistry => "mirror-registry",
            Flavor::Harbor => "harbor",
        }
    }

    /// The product's limits.
    pub fn limits(self) -> Limits {
        match self {
            Flavor::Distribution => Limits {
                nested_by_default: true,
                namespace_required: false,
                namespace_must_exist: false,
                has_admin_api: false,
            },
            Flavor::Quay | Flavor::MirrorRegistry => Limits {
                nested_by_default: true,
                namespace_required: true,
                namespace_must_exist: false,
                has_admin_api: true,
            },
            Flavor::Harbor => Limits {
                nested_by_default: true,
                namespace_required: true,
                namespace_must_exist: true,
                has_admin_api: true,
            },
        }
    }

    /// `target` with the product's default port added when it has none (mirror-registry: 8443);
    /// `None` when nothing was added.
    pub fn default_port_for(self, target: &str) -> Option<String> {
        let has_port = target
            .rsplit_once(':')
            .is_some_and(|(h, p)| !h.is_empty() && !p.contains(']'));
        (self == Flavor::MirrorRegistry && !has_port && !target.is_empty())
            .then(|| format!("{target}:{MIRROR_REGISTRY_PORT}"))
    }
}

/// Why a flavor-specific step failed, or would fail.
#[derive(Debug, thiserror::Error)]
pub enum FlavorError {
    /// The product has no admin API ferry can use.
    #[error("{flavor} has no admin API ferry can drive; create a user with push rights on the registry and pass it with --authfile or --creds")]
    NoAdminApi {
        /// The product.
        flavor: &'static str,
    },
    /// The prefix does not start with a usable namespace.
    #[error("{flavor} needs a --prefix whose first component is an {kind} name: {reason}")]
    BadNamespace {
        /// The product.
        flavor: &'static str,
        /// `organization` or `project`.
        kind: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// The robot name breaks the product's rules.
    #[error("robot name {name:?} is not valid for {flavor}: {rule}")]
    BadRobotName {
        /// The product.
        flavor: &'static str,
        /// The name given.
        name: String,
        /// The rule.
        rule: &'static str,
    },
    /// With `--flatten`, repositories must sit right under the namespace.
    #[error("with --flatten, {flavor} needs a one-component --prefix (the {kind}), not {prefix:?}: the flattened names would still be nested")]
    FlattenNeedsShortPrefix {
        /// The product.
        flavor: &'static str,
        /// `organization` or `project`.
        kind: &'static str,
        /// The prefix given.
        prefix: String,
    },
    /// The admin credential was refused.
    #[error("the admin credential was refused by {host} ({hint})")]
    AdminRefused {
        /// The registry.
        host: String,
        /// The refusal.
        source: AdminError,
        /// What to check.
        hint: &'static str,
    },
    /// An admin call failed.
    #[error("{step}")]
    Admin {
        /// What ferry was doing.
        step: String,
        /// Why.
        source: AdminError,
    },
    /// A namespace name is taken by something ferry cannot use.
    #[error("{0}")]
    Conflict(String),
    /// The Harbor project does not exist.
    #[error("Harbor project {project:?} does not exist on {target}; create it (and a robot that may push to it) with: ferry setup --flavor harbor --to {target} --prefix {prefix} --robot NAME --authfile-out FILE")]
    ProjectMissing {
        /// The project.
        project: String,
        /// The registry.
        target: String,
        /// The prefix given.
        prefix: String,
    },
    /// No credential for the registry was found for a check that needs one.
    #[error("no credentials for {host}: give --authfile (from `ferry setup`) or --creds")]
    NoCredentials {
        /// The registry.
        host: String,
    },
    /// The auth file could not be read or written.
    #[error(transparent)]
    Credentials(#[from] CredentialError),
    /// Checking a robot credential against the registry failed.
    #[error("checking the robot credential at {host}")]
    Registry {
        /// The registry.
        host: String,
        /// Why.
        source: RegistryError,
    },
}

impl From<AdminError> for FlavorError {
    fn from(source: AdminError) -> Self {
        FlavorError::Admin {
            step: "reading the admin API's answer".into(),
            source,
        }
    }
}

impl FlavorError {
    /// A mapper for the admin failures of one set-up `step`, for `map_err`.
    pub(crate) fn at_step(step: &str, hint: &'static str) -> impl FnOnce(AdminError) -> Self {
        let step = step.to_string();
        move |e| FlavorError::admin(step, hint, e)
    }

    /// Wraps an admin failure: a refused credential gets `hint`, other failures say `step`.
    pub(crate) fn admin(step: impl Into<String>, hint: &'static str, e: AdminError) -> Self {
        match e {
            AdminError::Denied { ref host, .. } => FlavorError::AdminRefused {
                host: host.clone(),
                source: e,
                hint,
            },
            e => FlavorError::Admin {
                step: step.into(),
                source: e,
            },
        }
    }
}

/// `^[a-z0-9]+(?:[._-][a-z0-9]+)*$`: Quay's user, organization and robot names and Harbor's
/// project and robot names.
pub fn matches_name_regex(name: &str) -> bool {
    let is_alnum = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    let b = name.as_bytes();
    if b.is_empty() || !is_alnum(&b[0]) || !is_alnum(&b[b.len() - 1]) {
        return false;
    }
    b.iter()
        .all(|c| is_alnum(c) || matches!(c, b'.' | b'_' | b'-'))
        && !b.windows(2).any(|w| !is_alnum(&w[0]) && !is_alnum(&w[1]))
}

/// The namespace (organization or project) a prefix lives in: its first component, checked
/// against the product's rules.
pub fn namespace_of(flavor: Flavor, prefix: &str) -> Result<String, FlavorError> {
    let kind = namespace_kind(flavor);
    let bad = |reason: String| FlavorError::BadNamespace {
        flavor: flavor.name(),
        kind,
        reason,
    };
    let first = prefix.trim_matches('/').split('/').next().unwrap_or("");
    if first.is_empty() {
        return Err(bad("the prefix is empty".into()));
    }
    let (min, max) = match flavor {
        Flavor::Harbor => (1, 255),
        _ => (2, 255),
    };
    if !matches_name_regex(first) || first.len() < min || first.len() > max {
        return Err(bad(format!(
            "{first:?} must match ^[a-z0-9]+(?:[._-][a-z0-9]+)*$ and be {min} to {max} characters"
        )));
    }
    Ok(first.to_string())
}

fn namespace_kind(flavor: Flavor) -> &'static str {
    match flavor {
        Flavor::Harbor => "project",
        _ => "organization",
    }
}

/// Checks a robot short name against the product's rules.
pub fn check_robot_name(flavor: Flavor, name: &str) -> Result<(), FlavorError> {
    let (ok, rule) = match flavor {
        Flavor::Harbor => (
            matches_name_regex(name),
            "it must match ^[a-z0-9]+(?:[._-][a-z0-9]+)*$",
        ),
        _ => (
            matches_name_regex(name) && (2..=255).contains(&name.len()),
            "it must match ^[a-z0-9]+(?:[._-][a-z0-9]+)*$ and be 2 to 255 characters",
        ),
    };
    if ok {
        Ok(())
    } else {
        Err(FlavorError::BadRobotName {
            flavor: flavor.name(),
            name: name.to_string(),
            rule,
        })
    }
}

/// Checks, without network, that `naming` fits the product: a namespace as first prefix
/// component, and with `--flatten` nothing nested below it.
pub fn check_naming(flavor: Flavor, naming: &Naming) -> Result<(), FlavorError> {
    if !flavor.limits().namespace_required {
        return Ok(());
    }
    namespace_of(flavor, naming.prefix())?;
    if naming.is_flattened() && naming.prefix().contains('/') {
        return Err(FlavorError::FlattenNeedsShortPrefix {
            flavor: flavor.name(),
            kind: namespace_kind(flavor),
            prefix: naming.prefix().to_string(),
        });
    }
    Ok(())
}

/// Checks what a push to the product needs beyond naming, before anything is pushed: for
/// Harbor, that the project exists (asked with the push credential from `opts`).
pub fn preflight_push(
    flavor: Flavor,
    naming: &Naming,
    opts: &ClientOptions,
) -> Result<(), FlavorError> {
    check_naming(flavor, naming)?;
    if flavor != Flavor::Harbor {
        return Ok(());
    }
    let host = naming.target();
    let project = namespace_of(flavor, naming.prefix())?;
    let auth = AdminAuth::from_registry_options(host, opts)?.ok_or_else(|| {
        FlavorError::NoCredentials {
            host: host.to_string(),
        }
    })?;
    let client = AdminClient::new(host, opts, auth)
        .map_err(|e| FlavorError::admin("connecting", ROBOT_HINT, e))?;
    if harbor::project_exists(&client, &project)? {
        Ok(())
    } else {
        Err(FlavorError::ProjectMissing {
            project,
            target: host.to_string(),
            prefix: naming.prefix().to_string(),
        })
    }
}

const ROBOT_HINT: &str =
    "check the robot credential in --authfile (run `ferry setup` again to renew it)";

/// What `ferry setup` is asked to do.
#[derive(Debug, Clone)]
pub struct SetupRequest {
    /// The product.
    pub flavor: Flavor,
    /// The registry, `HOST[:PORT]`.
    pub target: String,
    /// The mirror prefix; its first component names the organization or project.
    pub prefix: String,
    /// The robot's short name.
    pub robot: String,
    /// The auth file to write the robot credential into.
    pub authfile_out: PathBuf,
}

/// What happened to one thing `ferry setup` manages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// It was missing and was created.
    Created,
    /// It existed as needed and was left alone.
    Reused,
    /// It existed and was changed to what is needed.
    Updated,
}

/// One thing `ferry setup` manages and what happened to it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Step {
    /// What it is: `organization`, `robot`, `team`, `team membership`, `project`, `secret`.
    pub kind: &'static str,
    /// Its name.
    pub name: String,
    /// What happened.
    pub outcome: Outcome,
}

impl Step {
    pub(crate) fn new(kind: &'static str, name: impl Into<String>, outcome: Outcome) -> Self {
        Step {
            kind,
            name: name.into(),
            outcome,
        }
    }
}

/// The outcome of `ferry setup`. Never holds the robot's secret.
#[derive(Debug, Clone, Serialize)]
pub struct SetupReport {
    /// The product.
    pub flavor: Flavor,
    /// The registry.
    pub registry: String,
    /// The organization or project.
    pub namespace: String,
    /// The login name of the robot (`ORG+NAME`, `robot$PROJECT+NAME`).
    pub robot_login: String,
    /// The auth file holding the robot credential.
    pub authfile: PathBuf,
    /// Whether the auth file was written (false when it already held a working credential).
    pub authfile_written: bool,
    /// What was created, reused or updated, in order.
    pub steps: Vec<Step>,
    /// Things an admin should know (for example a robot with wider rights than ferry needs).
    pub warnings: Vec<String>,
}

/// A robot credential as the product handed it out.
pub(crate) struct RobotOutcome {
    pub credential: Credential,
    pub steps: Vec<Step>,
    pub warnings: Vec<String>,
    /// Whether the credential must be written (false: the auth file already holds it).
    pub write: bool,
}

/// Runs `ferry setup`: makes sure namespace, robot and rights exist (creating what is missing,
/// reusing what is there) and writes the robot credential into the auth file.
/// `admin` talks to the product's API; `opts` are the trust settings used to check an existing
/// robot credential against the registry.
pub fn setup(
    req: &SetupRequest,
    admin: &AdminClient,
    opts: &ClientOptions,
) -> Result<SetupReport, FlavorError> {
    if !req.flavor.limits().has_admin_api {
        return Err(FlavorError::NoAdminApi {
            flavor: req.flavor.name(),
        });
    }
    let namespace = namespace_of(req.flavor, &req.prefix)?;
    check_robot_name(req.flavor, &req.robot)?;
    let robot = match req.flavor {
        Flavor::Quay | Flavor::MirrorRegistry => quay::setup(admin, &namespace, &req.robot)?,
        Flavor::Harbor => {
            let existing = existing_credential(&req.authfile_out, &req.target)?;
            let works = |c: &Credential| credential_works(&req.target, opts, &namespace, c);
            harbor::setup(admin, &namespace, &req.robot, existing, &works)?
        }
        Flavor::Distribution => unreachable!("checked above"),
    };
    if robot.write {
        write_authfile_entry(&req.authfile_out, &req.target, &robot.credential)?;
    }
    Ok(SetupReport {
        flavor: req.flavor,
        registry: req.target.clone(),
        namespace,
        robot_login: robot.credential.username.clone(),
        authfile: req.authfile_out.clone(),
        authfile_written: robot.write,
        steps: robot.steps,
        warnings: robot.warnings,
    })
}

/// The credential the auth file holds for `host`, if the file exists and has one.
fn existing_credential(path: &Path, host: &str) -> Result<Option<Credential>, FlavorError> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(crate::registry::find_in_authfile(&text, path, host)?),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(CredentialError::Io {
            path: path.to_path_buf(),
            source,
        }
        .into()),
    }
}

/// Whether `cred` may read in `namespace` on the registry: a pull of a manifest that does not
/// exist answers "not found" to a working credential and "denied" to a stale one.
fn credential_works(
    host: &str,
    opts: &ClientOptions,
    namespace: &str,
    cred: &Credential,
) -> Result<bool, FlavorError> {
    let opts = ClientOptions {
        creds: Some(cred.clone()),
        authfile: None,
        ..opts.clone()
    };
    let reg_err = |source| FlavorError::Registry {
        host: host.to_string(),
        source,
    };
    let registry = Registry::new(host, &opts).map_err(reg_err)?;
    match registry.manifest_digest(&format!("{namespace}/ferry-credential-check"), "latest") {
        Ok(_) => Ok(true),
        Err(RegistryError::Auth { .. }) => Ok(false),
        Err(e) => Err(reg_err(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_regex() {
        for ok in ["mirror", "a", "ocp4", "my-org", "a.b_c-d", "0"] {
            assert!(matches_name_regex(ok), "{ok}");
        }
        for bad in [
            "", "Mirror", "-a", "a-", "a--b", "a._b", "a+b", "a/b", "robot$x",
        ] {
            assert!(!matches_name_regex(bad), "{bad}");
        }
    }

    #[test]
    fn namespaces() {
        assert_eq!(namespace_of(Flavor::Quay, "mirror").unwrap(), "mirror");
        assert_eq!(namespace_of(Flavor::Harbor, "ocp/v4").unwrap(), "ocp");
        assert!(namespace_of(Flavor::Quay, "").is_err());
        assert!(
            namespace_of(Flavor::Quay, "m").is_err(),
            "Quay needs 2 characters"
        );
        assert_eq!(namespace_of(Flavor::Harbor, "m").unwrap(), "m");
        let e = namespace_of(Flavor::Harbor, "").unwrap_err().to_string();
        assert!(e.contains("project"), "{e}");
    }

    #[test]
    fn robot_names() {
        assert!(check_robot_name(Flavor::Quay, "ferry").is_ok());
        assert!(check_robot_name(Flavor::Quay, "f").is_err());
        assert!(check_robot_name(Flavor::Harbor, "f").is_ok());
        assert!(check_robot_name(Flavor::Harbor, "a+b").is_err());
        assert!(check_robot_name(Flavor::MirrorRegistry, "Ferry").is_err());
    }

    #[test]
    fn naming_rules() {
        let n = |prefix: &str| Naming::new("r.example:8443", prefix).unwrap();
        assert!(check_naming(Flavor::Quay, &n("mirror")).is_ok());
        assert!(check_naming(Flavor::Quay, &n("ocp/v4")).is_ok());
        assert!(check_naming(Flavor::Quay, &n("mirror").flattened()).is_ok());
        let e = check_naming(Flavor::Quay, &n("ocp/v4").flattened()).unwrap_err();
        assert!(
            matches!(e, FlavorError::FlattenNeedsShortPrefix { .. }),
            "{e}"
        );
        assert!(check_naming(Flavor::Harbor, &n("")).is_err());
        assert!(check_naming(Flavor::Distribution, &n("")).is_ok());
        assert!(check_naming(Flavor::Distribution, &n("a/b").flattened()).is_ok());
    }

    #[test]
    fn mirror_registry_port() {
        let f = Flavor::MirrorRegistry;
        assert_eq!(
            f.default_port_for("registry.local").as_deref(),
            Some("registry.local:8443")
        );
        assert_eq!(f.default_port_for("registry.local:443"), None);
        assert_eq!(Flavor::Quay.default_port_for("registry.local"), None);
    }
}
