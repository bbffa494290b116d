//! Quay (and mirror-registry) set-up through Quay's v1 API, authorized with an OAuth access
//! token (`Authorization: Bearer`, scopes `org:admin` and `user:admin`).
//!
//! 1. `GET /api/v1/user/` — the token works (401 otherwise).
//! 2. `GET /api/v1/organization/{org}` — 200 reuse (the token must administer it), 404 create
//!    with `POST /api/v1/organization/` `{"name": org}` (201).
//! 3. `GET /api/v1/organization/{org}/robots/{name}` — 200 reuse, with its `token`; otherwise
//!    `PUT` the same path (201, `{"name":"org+name","token":…}`). Quay answers 400 to a `PUT` of
//!    an existing robot, hence the `GET` first.
//! 4. Team [`TEAM`] with role `creator` (`PUT /api/v1/organization/{org}/team/{team}`, which
//!    creates or updates), so that the robot may create repositories by pushing; Quay gives the
//!    creator admin rights on the repositories it creates, and nothing outside the organization.
//! 5. The robot in the team (`GET …/team/{team}/members`, then
//!    `PUT …/team/{team}/members/{org+name}` when missing).

use serde_json::{json, Value};

use super::{FlavorError, Outcome, RobotOutcome, Step};
use crate::registry::{AdminClient, Credential};

/// The team ferry puts its robots in: role `creator` in the organization.
pub const TEAM: &str = "ferrypushers";

const HINT: &str =
    "give an OAuth access token with org:admin and user:admin scopes (--admin-token-file)";

/// The robot's login name: `ORG+NAME`.
pub fn robot_login(org: &str, robot: &str) -> String {
    format!("{org}+{robot}")
}

/// Sets up organization, robot, team and membership; returns the robot credential.
pub(crate) fn setup(
    admin: &AdminClient,
    org: &str,
    robot: &str,
) -> Result<RobotOutcome, FlavorError> {
    let fail = |step: &str| FlavorError::at_step(step, HINT);
    let mut steps = Vec::new();

    admin
        .call("GET", "/api/v1/user/", &[], None)
        .and_then(|r| r.expect(&[200]))
        .map_err(fail("checking the admin token"))?;

    // Organization.
    let org_path = format!("/api/v1/organization/{org}");
    let mut org_view = admin
        .call("GET", &org_path, &[], None)
        .map_err(fail("looking up the organization"))?;
    if org_view.status == 404 {
        let created = admin
            .call(
                "POST",
                "/api/v1/organization/",
                &[],
                Some(&json!({ "name": org })),
            )
            .map_err(fail("creating the organization"))?;
        if created.status == 400 {
            return Err(FlavorError::Conflict(format!(
                "cannot create organization {org:?}: {} (a user of that name owns the namespace? choose another --prefix)",
                crate::registry::api_message(&created.body)
            )));
        }
        created
            .expect(&[200, 201])
            .map_err(fail("creating the organization"))?;
        steps.push(Step::new("organization", org, Outcome::Created));
        org_view = admin
            .call("GET", &org_path, &[], None)
            .map_err(fail("reading the organization"))?;
    } else {
        steps.push(Step::new("organization", org, Outcome::Reused));
    }
    let org_view = org_view
        .expect(&[200])
        .map_err(fail("reading the organization"))?;
    if org_view.body.get("is_admin").and_then(Value::as_bool) == Some(false) {
        return Err(FlavorError::Conflict(format!(
            "the admin token's user does not administer organization {org:?}; use a token of one of its admins, or another --prefix"
        )));
    }

    // Robot.
    let login = robot_login(org, robot);
    let robot_path = format!("/api/v1/organization/{org}/robots/{robot}");
    let existing = admin
        .call("GET", &robot_path, &[], None)
        .map_err(fail("looking up the robot"))?;
    let (view, outcome) = match existing.status {
        200 => (existing, Outcome::Reused),
        400 | 404 => (
            admin
                .call(
                    "PUT",
                    &robot_path,
                    &[],
                    Some(&json!({ "description": "ferry push robot (ferry setup)" })),
                )
                .and_then(|r| r.expect(&[200, 201]))
                .map_err(fail("creating the robot"))?,
            Outcome::Created,
        ),
        _ => return Err(fail("looking up the robot")(existing.into_error())),
    };
    let token = view
        .body
        .get("token")
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| view.protocol_error("the robot view has no token"))?;
    let name = view.body.get("name").and_then(Value::as_str);
    if name.is_some_and(|n| n != login) {
        return Err(view
            .protocol_error(format!("expected robot {login}, got {name:?}"))
            .into());
    }
    let credential = Credential::new(login.clone(), token);
    steps.push(Step::new("robot", &login, outcome));

    // Team with the creator role.
    let team_role = org_view
        .body
        .get("teams")
        .and_then(|t| t.get(TEAM))
        .and_then(|t| t.get("role"))
        .and_then(Value::as_str)
        .map(str::to_string);
    let team_path = format!("/api/v1/organization/{org}/team/{TEAM}");
    if team_role.as_deref() != Some("creator") {
        admin
            .call(
                "PUT",
                &team_path,
                &[],
                Some(&json!({
                    "role": "creator",
                    "description": "Robots that ferry pushes with: may create repositories in this organization"
                })),
            )
            .and_then(|r| r.expect(&[200, 201]))
            .map_err(fail("creating the team"))?;
        let outcome = if team_role.is_some() {
            Outcome::Updated
        } else {
            Outcome::Created
        };
        steps.push(Step::new("team", format!("{TEAM} (creator)"), outcome));
    } else {
        steps.push(Step::new(
            "team",
            format!("{TEAM} (creator)"),
            Outcome::Reused,
        ));
    }

    // Membership.
    let members = admin
        .call("GET", &format!("{team_path}/members"), &[], None)
        .and_then(|r| r.expect(&[200]))
        .map_err(fail("listing the team's members"))?;
    let is_member = members
        .body
        .get("members")
        .and_then(Value::as_array)
        .is_some_and(|m| {
            m.iter()
                .any(|x| x.get("name").and_then(Value::as_str) == Some(login.as_str()))
        });
    if is_member {
        steps.push(Step::new("team membership", &login, Outcome::Reused));
    } else {
        admin
            .call("PUT", &format!("{team_path}/members/{login}"), &[], None)
            .and_then(|r| r.expect(&[200, 201]))
            .map_err(fail("adding the robot to the team"))?;
        steps.push(Step::new("team membership", &login, Outcome::Created));
    }
    Ok(RobotOutcome {
        credential,
        steps,
        warnings: Vec::new(),
        write: true,
    })
}
