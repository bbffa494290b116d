//! Harbor set-up through Harbor's v2.0 API (`/api/v2.0`, Basic auth as an admin user, no
//! session cookie ever sent back: Harbor answers a POST carrying its `sid` cookie with a CSRF
//! error).
//!
//! 1. `GET /api/v2.0/users/current` — the credential works (401 otherwise).
//! 2. `HEAD /api/v2.0/projects?project_name=P` — 200 reuse, 404 create with
//!    `POST /api/v2.0/projects` `{"project_name":P,"metadata":{"public":"false"},"storage_limit":-1}`
//!    (201; 409 means someone created it meanwhile).
//! 3. `GET /api/v2.0/projects/P` (`X-Is-Resource-Name: true`) for its `project_id`, then
//!    `GET /api/v2.0/robots?q=Level=project,ProjectID=ID` for an existing robot `…P+NAME`.
//! 4. A missing robot is created with `POST /api/v2.0/robots`: level `project`, never expiring,
//!    one permission for the project with `repository` `pull` and `push` and nothing else. The
//!    answer (201) holds the login name (`robot$P+NAME` with the default prefix) and the secret,
//!    which Harbor never shows again.
//! 5. An existing robot: the auth file's credential for the robot is kept when it still works;
//!    otherwise the secret is refreshed with `PATCH /api/v2.0/robots/{id}` `{"secret": NEW}`
//!    (200), which invalidates other copies of the old secret.

use serde_json::{json, Value};

use super::{FlavorError, Outcome, RobotOutcome, Step};
use crate::registry::{AdminClient, Credential};

const HINT: &str = "give a Harbor admin (or project admin) user as USER:PASS (--admin-creds-file)";

/// The access a ferry robot gets: pull and push on the project's repositories.
pub const ROBOT_ACCESS: [(&str, &str); 2] = [("repository", "pull"), ("repository", "push")];

/// Whether `name` (as Harbor lists it, with its configurable prefix such as `robot$`) is the
/// project robot `NAME` of `project`.
pub fn is_robot_named(name: &str, project: &str, robot: &str) -> bool {
    let suffix = format!("{project}+{robot}");
    name == suffix || name.strip_suffix(&suffix).is_some_and(|p| p.ends_with('$'))
}

/// The body of `POST /api/v2.0/robots` for a least-privilege project robot.
pub fn robot_request(project: &str, robot: &str) -> Value {
    let access: Vec<Value> = ROBOT_ACCESS
        .iter()
        .map(|(resource, action)| json!({ "resource": resource, "action": action }))
        .collect();
    json!({
        "name": robot,
        "description": "ferry push robot (ferry setup)",
        "level": "project",
        "duration": -1,
        "disable": false,
        "permissions": [{ "kind": "project", "namespace": project, "access": access }],
    })
}

/// Why an existing robot's permissions differ from what ferry would create, if they do.
pub fn permission_warning(robot: &Value, project: &str) -> Option<String> {
    let perms = robot.get("permissions").and_then(Value::as_array)?;
    let mut wider = Vec::new();
    for p in perms {
        let ns = p.get("namespace").and_then(Value::as_str).unwrap_or("");
        for a in p
            .get("access")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let res = a.get("resource").and_then(Value::as_str).unwrap_or("");
            let act = a.get("action").and_then(Value::as_str).unwrap_or("");
            if ns != project || !ROBOT_ACCESS.contains(&(res, act)) {
                wider.push(format!("{act} on {res} in {ns}"));
            }
        }
    }
    (!wider.is_empty()).then(|| {
        format!(
            "the existing robot may do more than pull and push in project {project}: {}; recreate it for least privilege",
            wider.join(", ")
        )
    })
}

/// A fresh robot secret: 32 letters and digits with at least one upper-case letter, one
/// lower-case letter and one digit (Harbor's rule).
pub fn new_secret() -> String {
    const UPPER: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ";
    const LOWER: &[u8] = b"abcdefghijkmnopqrstuvwxyz";
    const DIGIT: &[u8] = b"23456789";
    loop {
        let mut bytes = [0u8; 32];
        getrandom::getrandom(&mut bytes).expect("the OS random generator works");
        let all: Vec<u8> = [UPPER, LOWER, DIGIT].concat();
        let s: String = bytes
            .iter()
            .map(|b| all[*b as usize % all.len()] as char)
            .collect();
        if s.bytes().any(|c| c.is_ascii_uppercase())
            && s.bytes().any(|c| c.is_ascii_lowercase())
            && s.bytes().any(|c| c.is_ascii_digit())
        {
            return s;
        }
    }
}

/// Whether the project exists (`HEAD /api/v2.0/projects?project_name=`), asked with whatever
/// credential `client` carries (an admin, or the push robot).
pub fn project_exists(client: &AdminClient, project: &str) -> Result<bool, FlavorError> {
    let r = client
        .call(
            "HEAD",
            &format!("/api/v2.0/projects?project_name={project}"),
            &[],
            None,
        )
        .map_err(|e| FlavorError::admin("checking the project", HINT, e))?;
    match r.status {
        200 => Ok(true),
        404 => Ok(false),
        _ => Err(FlavorError::admin(
            "checking the project",
            "check the credential in --authfile or --creds (run `ferry setup` to renew it)",
            r.into_error(),
        )),
    }
}

/// Sets up project and robot; keeps `existing` (the auth file's credential for this registry)
/// when it is the robot's and `works` says it still does.
pub(crate) fn setup(
    admin: &AdminClient,
    project: &str,
    robot: &str,
    existing: Option<Credential>,
    works: &dyn Fn(&Credential) -> Result<bool, FlavorError>,
) -> Result<RobotOutcome, FlavorError> {
    let fail = |step: &str| FlavorError::at_step(step, HINT);
    let mut steps = Vec::new();
    admin
        .call("GET", "/api/v2.0/users/current", &[], None)
        .and_then(|r| r.expect(&[200]))
        .map_err(fail("checking the admin credential"))?;

    if project_exists(admin, project)? {
        steps.push(Step::new("project", project, Outcome::Reused));
    } else {
        let body = json!({
            "project_name": project,
            "metadata": { "public": "false" },
            "storage_limit": -1,
        });
        let r = admin
            .call("POST", "/api/v2.0/projects", &[], Some(&body))
            .map_err(fail("creating the project"))?;
        let outcome = if r.status == 409 {
            Outcome::Reused
        } else {
            r.expect(&[201]).map_err(fail("creating the project"))?;
            Outcome::Created
        };
        steps.push(Step::new("project", project, outcome));
    }

    let view = admin
        .call(
            "GET",
            &format!("/api/v2.0/projects/{project}"),
            &[("X-Is-Resource-Name", "true")],
            None,
        )
        .and_then(|r| r.expect(&[200]))
        .map_err(fail("reading the project"))?;
    let project_id = view
        .body
        .get("project_id")
        .and_then(Value::as_i64)
        .ok_or_else(|| view.protocol_error("the project has no project_id"))?;

    let list = admin
        .call(
            "GET",
            &format!("/api/v2.0/robots?q=Level%3Dproject%2CProjectID%3D{project_id}&page_size=100"),
            &[],
            None,
        )
        .and_then(|r| r.expect(&[200]))
        .map_err(fail("listing the project's robots"))?;
    let found = list
        .body
        .as_array()
        .into_iter()
        .flatten()
        .find(|r| {
            r.get("name")
                .and_then(Value::as_str)
                .is_some_and(|n| is_robot_named(n, project, robot))
        })
        .cloned();

    let Some(found) = found else {
        let r = admin
            .call(
                "POST",
                "/api/v2.0/robots",
                &[],
                Some(&robot_request(project, robot)),
            )
            .and_then(|r| r.expect(&[201]))
            .map_err(fail("creating the robot"))?;
        let login = r.body.get("name").and_then(Value::as_str);
        let secret = r.body.get("secret").and_then(Value::as_str);
        let (Some(login), Some(secret)) = (login, secret.filter(|s| !s.is_empty())) else {
            return Err(r
                .protocol_error("the created robot has no name or secret")
                .into());
        };
        steps.push(Step::new("robot", login, Outcome::Created));
        steps.push(Step::new("secret", login, Outcome::Created));
        return Ok(RobotOutcome {
            credential: Credential::new(login, secret),
            steps,
            warnings: Vec::new(),
            write: true,
        });
    };

    let login = found
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    steps.push(Step::new("robot", &login, Outcome::Reused));
    let mut warnings: Vec<String> = permission_warning(&found, project).into_iter().collect();
    if found.get("disable").and_then(Value::as_bool) == Some(true) {
        warnings.push(format!(
            "robot {login} is disabled; enable it in Harbor before pushing"
        ));
    }
    if let Some(c) = existing.filter(|c| c.username == login) {
        if works(&c)? {
            steps.push(Step::new("secret", &login, Outcome::Reused));
            return Ok(RobotOutcome {
                credential: c,
                steps,
                warnings,
                write: false,
            });
        }
    }
    let id = found
        .get("id")
        .and_then(Value::as_i64)
        .ok_or_else(|| list.protocol_error("the robot has no id"))?;
    let secret = new_secret();
    admin
        .call(
            "PATCH",
            &format!("/api/v2.0/robots/{id}"),
            &[],
            Some(&json!({ "secret": secret })),
        )
        .and_then(|r| r.expect(&[200]))
        .map_err(fail("refreshing the robot's secret"))?;
    steps.push(Step::new("secret", &login, Outcome::Updated));
    warnings.push(format!(
        "the secret of robot {login} was refreshed (Harbor shows a secret only once and the auth file held no working one); other copies of the old secret no longer work"
    ));
    Ok(RobotOutcome {
        credential: Credential::new(login, secret),
        steps,
        warnings,
        write: true,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn robot_names() {
        assert!(is_robot_named("robot$mirror+ferry", "mirror", "ferry"));
        assert!(is_robot_named("bot$mirror+ferry", "mirror", "ferry"));
        assert!(is_robot_named("mirror+ferry", "mirror", "ferry"));
        assert!(!is_robot_named("robot$mirror+ferry2", "mirror", "ferry"));
        assert!(!is_robot_named("robot$xmirror+ferry", "mirror", "ferry"));
        assert!(!is_robot_named("robot$ferry", "mirror", "ferry"));
    }

    #[test]
    fn least_privilege_request() {
        let body = robot_request("mirror", "ferry");
        assert_eq!(body["level"], "project");
        assert_eq!(body["duration"], -1);
        let perms = body["permissions"].as_array().unwrap();
        assert_eq!(
            perms.len(),
            1,
            "a project robot takes exactly one permission"
        );
        assert_eq!(perms[0]["namespace"], "mirror");
        assert_eq!(
            perms[0]["access"],
            json!([
                {"resource":"repository","action":"pull"},
                {"resource":"repository","action":"push"}
            ])
        );
        assert_eq!(permission_warning(&body, "mirror"), None);
        let wide = json!({"permissions":[{"kind":"project","namespace":"mirror","access":[
            {"resource":"repository","action":"pull"},{"resource":"repository","action":"delete"}]}]});
        let w = permission_warning(&wide, "mirror").unwrap();
        assert!(w.contains("delete on repository"), "{w}");
    }

    #[test]
    fn secrets_follow_harbors_rule() {
        let a = new_secret();
        let b = new_secret();
        assert_ne!(a, b);
        assert_eq!(a.len(), 32);
        assert!(a.bytes().any(|c| c.is_ascii_uppercase()));
        assert!(a.bytes().any(|c| c.is_ascii_lowercase()));
        assert!(a.bytes().any(|c| c.is_ascii_digit()));
    }
}
