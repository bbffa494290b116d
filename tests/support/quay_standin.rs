//! **Stand-in for Quay's v1 API — not the product.** It implements exactly the endpoints
//! `ferry setup --flavor quay` calls, with the paths, bodies, status codes and name rules of
//! quay/quay (`endpoints/api/organization.py`, `robot.py`, `team.py`, `util/validation.py`),
//! and refuses any API call without the admin OAuth token (`Authorization: Bearer`, 401).
//!
//! Registry traffic (`/v2/...`) goes through a streaming proxy to a real `docker-registry` with
//! token auth; the challenge announces the stand-in's `/v2/auth` (as Quay does), which is
//! forwarded to the registry's token issuer. Robots become issuer users restricted to
//! `ORG/...`: without a `creator` team they get nothing, with one they get pull and push, so
//! least privilege is checked by the real registry. With [`QuayOptions::nested`] off the token
//! endpoint refuses nested repository names like Quay without `FEATURE_EXTENDED_REPOSITORY_NAMES`
//! ("Nested repositories are not supported").

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use serde_json::{json, Value};

use super::registry::TestRegistry;
use super::standin::{
    header, random_hex, read_json, respond_json, start_standin, Served, Upstream,
};
use super::token::IssuerUsers;

/// How the stand-in behaves.
#[derive(Debug, Clone, Copy)]
pub struct QuayOptions {
    /// `FEATURE_EXTENDED_REPOSITORY_NAMES` (Quay ≥ 3.7 default: on).
    pub nested: bool,
}

impl Default for QuayOptions {
    fn default() -> Self {
        QuayOptions { nested: true }
    }
}

#[derive(Default)]
struct Org {
    robots: BTreeMap<String, String>,
    teams: BTreeMap<String, Team>,
}

struct Team {
    role: String,
    description: String,
    members: BTreeSet<String>,
}

struct State {
    admin_user: String,
    admin_token: String,
    orgs: Mutex<BTreeMap<String, Org>>,
    users: IssuerUsers,
    upstream: Upstream,
    options: QuayOptions,
    calls: Mutex<Vec<(String, String, u16)>>,
}

/// A running Quay stand-in in front of a real registry.
pub struct QuayStandin {
    served: Option<Served>,
    state: Arc<State>,
    registry: TestRegistry,
}

impl QuayStandin {
    /// Starts the stand-in and its registry (plain HTTP, token auth).
    pub fn start(options: QuayOptions) -> QuayStandin {
        let (registry, served, state) = start_standin(
            "/v2/auth",
            move |upstream, users| State {
                admin_user: "quayadmin".into(),
                admin_token: random_hex(20),
                orgs: Mutex::new(BTreeMap::new()),
                users,
                upstream,
                options,
                calls: Mutex::new(Vec::new()),
            },
            handle,
        );
        QuayStandin {
            served: Some(served),
            state,
            registry,
        }
    }

    /// `127.0.0.1:PORT` of the stand-in (API and registry).
    pub fn host(&self) -> String {
        self.served.as_ref().expect("running").host()
    }

    /// The admin's OAuth access token.
    pub fn admin_token(&self) -> &str {
        &self.state.admin_token
    }

    /// The real registry behind the stand-in.
    pub fn registry(&self) -> &TestRegistry {
        &self.registry
    }

    /// Every API call answered: (method, path, status).
    pub fn api_calls(&self) -> Vec<(String, String, u16)> {
        self.state.calls.lock().expect("calls").clone()
    }

    /// The robots of `org`, by short name.
    pub fn robots(&self, org: &str) -> Vec<String> {
        let orgs = self.state.orgs.lock().expect("orgs");
        orgs.get(org)
            .map(|o| o.robots.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// The role and members of a team, if it exists.
    pub fn team(&self, org: &str, team: &str) -> Option<(String, Vec<String>)> {
        let orgs = self.state.orgs.lock().expect("orgs");
        let t = orgs.get(org)?.teams.get(team)?;
        Some((t.role.clone(), t.members.iter().cloned().collect()))
    }
}

impl Drop for QuayStandin {
    fn drop(&mut self) {
        // Stop serving before the registry goes away.
        self.served.take();
    }
}

/// `^([a-z0-9]+(?:[._-][a-z0-9]+)*)$`, 2 to 255 characters (`util/validation.py`).
fn valid_username(name: &str) -> bool {
    let re = regex::Regex::new(r"^([a-z0-9]+(?:[._-][a-z0-9]+)*)$").expect("regex");
    re.is_match(name) && (2..=255).contains(&name.len())
}

fn quay_error(status: u16, message: &str) -> Value {
    let kind = match status {
        401 => "invalid_token",
        404 => "not_found",
        _ => "invalid_request",
    };
    json!({
        "status": status,
        "error_message": message,
        "title": kind,
        "error_type": kind,
        "detail": message,
        "type": format!("http://quay.example/api/v1/error/{kind}"),
    })
}

fn handle(state: &State, mut request: tiny_http::Request) {
    let url = request.url().to_string();
    let path = url.split('?').next().unwrap_or("").to_string();
    if path == "/v2/auth" {
        return token(state, request, &url);
    }
    if path.starts_with("/v2/") || path == "/v2" {
        return state.upstream.forward_registry(request);
    }
    let method = request.method().as_str().to_string();
    let authorized = header(&request, "Authorization")
        .and_then(|h| h.strip_prefix("Bearer "))
        .is_some_and(|t| t.trim() == state.admin_token);
    let (status, body) = if !path.starts_with("/api/v1/") {
        (404, quay_error(404, "Not Found"))
    } else if !authorized {
        (401, quay_error(401, "Requires authentication"))
    } else {
        let body = read_json(&mut request);
        api(state, &method, &path, body)
    };
    state
        .calls
        .lock()
        .expect("calls")
        .push((method, path, status));
    respond_json(request, status, &body, &[]);
}

/// The token endpoint: Quay refuses nested names here when extended names are off.
fn token(state: &State, request: tiny_http::Request, url: &str) {
    if !state.options.nested {
        let query = url.split_once('?').map(|(_, q)| q).unwrap_or("");
        let nested = url::form_urlencoded::parse(query.as_bytes())
            .filter(|(k, _)| k == "scope")
            .flat_map(|(_, v)| v.split(' ').map(str::to_string).collect::<Vec<String>>())
            .any(|scope| {
                scope
                    .strip_prefix("repository:")
                    .and_then(|r| r.rsplit_once(':'))
                    .is_some_and(|(name, _)| name.matches('/').count() > 1)
            });
        if nested {
            return respond_json(
                request,
                400,
                &json!({"errors":[{"code":"NAME_INVALID","message":"Nested repositories are not supported","detail":{}}]}),
                &[],
            );
        }
    }
    state.upstream.forward_token(request);
}

fn api(state: &State, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    let Some(body) = body else {
        return (400, quay_error(400, "Invalid JSON"));
    };
    let parts: Vec<&str> = path
        .trim_start_matches("/api/v1/")
        .trim_end_matches('/')
        .split('/')
        .collect();
    let mut orgs = state.orgs.lock().expect("orgs");
    match (method, parts.as_slice()) {
        ("GET", ["user"]) => (
            200,
            json!({"anonymous": false, "username": state.admin_user, "organizations": []}),
        ),
        ("POST", ["organization"]) => {
            let Some(name) = body.get("name").and_then(Value::as_str) else {
                return (400, quay_error(400, "'name' is a required property"));
            };
            if !valid_username(name) {
                return (400, quay_error(400, "Invalid namespace name"));
            }
            if orgs.contains_key(name) || name == state.admin_user {
                return (
                    400,
                    quay_error(400, "A user or organization with this name already exists"),
                );
            }
            let mut org = Org::default();
            org.teams.insert(
                "owners".into(),
                Team {
                    role: "admin".into(),
                    description: String::new(),
                    members: [state.admin_user.clone()].into(),
                },
            );
            orgs.insert(name.to_string(), org);
            (201, json!("Created"))
        }
        ("GET", ["organization", org]) => match orgs.get(*org) {
            None => (404, quay_error(404, "Not Found")),
            Some(o) => {
                let teams: serde_json::Map<String, Value> = o
                    .teams
                    .iter()
                    .map(|(n, t)| {
                        (
                            n.clone(),
                            json!({"name": n, "description": t.description, "role": t.role,
                                   "member_count": t.members.len(), "can_view": true}),
                        )
                    })
                    .collect();
                (
                    200,
                    json!({"name": org, "is_admin": true, "is_member": true, "teams": teams}),
                )
            }
        },
        (m, ["organization", org, "robots", short]) => {
            let Some(o) = orgs.get_mut(*org) else {
                return (404, quay_error(404, "Not Found"));
            };
            let login = format!("{org}+{short}");
            match m {
                "GET" => match o.robots.get(*short) {
                    Some(token) => (200, robot_view(&login, token)),
                    None => (
                        400,
                        quay_error(400, &format!("Could not find robot with username: {login}")),
                    ),
                },
                "PUT" => {
                    if !valid_username(short) {
                        return (
                            400,
                            quay_error(
                                400,
                                &format!("The name for the robot '{short}' is invalid: Namespace must match expression ^([a-z0-9]+(?:[._-][a-z0-9]+)*)$"),
                            ),
                        );
                    }
                    if o.robots.contains_key(*short) {
                        return (
                            400,
                            quay_error(400, &format!("Existing robot with name: {login}")),
                        );
                    }
                    let token = random_hex(32).to_uppercase();
                    o.robots.insert(short.to_string(), token.clone());
                    // A robot without team or repository permissions may do nothing.
                    state.users.add(&login, &token, org, &[]);
                    (201, robot_view(&login, &token))
                }
                _ => (405, quay_error(405, "Method Not Allowed")),
            }
        }
        ("PUT", ["organization", org, "team", team]) => {
            let Some(o) = orgs.get_mut(*org) else {
                return (404, quay_error(404, "Not Found"));
            };
            let role = body.get("role").and_then(Value::as_str).unwrap_or("");
            if !["member", "creator", "admin"].contains(&role) {
                return (
                    400,
                    quay_error(
                        400,
                        &format!("'{role}' is not one of ['member', 'creator', 'admin']"),
                    ),
                );
            }
            let description = body
                .get("description")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            let new_team = !o.teams.contains_key(*team);
            let t = o.teams.entry(team.to_string()).or_insert(Team {
                role: role.into(),
                description: description.clone(),
                members: BTreeSet::new(),
            });
            t.role = role.to_string();
            t.description = description;
            let members: Vec<String> = t.members.iter().cloned().collect();
            for m in members {
                grant(state, o, &m);
            }
            (
                200,
                json!({"name": team, "description": o.teams[*team].description, "can_view": true,
                       "role": role, "avatar": {}, "new_team": new_team}),
            )
        }
        ("GET", ["organization", org, "team", team, "members"]) => {
            let Some(t) = orgs.get(*org).and_then(|o| o.teams.get(*team)) else {
                return (404, quay_error(404, "Not Found"));
            };
            let members: Vec<Value> = t
                .members
                .iter()
                .map(|m| json!({"name": m, "kind": "user", "is_robot": m.contains('+'), "invited": false}))
                .collect();
            (
                200,
                json!({"name": team, "members": members, "can_edit": true}),
            )
        }
        ("PUT", ["organization", org, "team", team, "members", member]) => {
            let Some(o) = orgs.get_mut(*org) else {
                return (404, quay_error(404, "Not Found"));
            };
            if !o.teams.contains_key(*team) {
                return (404, quay_error(404, "Not Found"));
            }
            let known = member
                .split_once('+')
                .is_some_and(|(ns, short)| ns == *org && o.robots.contains_key(short))
                || *member == state.admin_user;
            if !known {
                return (400, quay_error(400, "Unknown user"));
            }
            o.teams
                .get_mut(*team)
                .expect("checked")
                .members
                .insert(member.to_string());
            grant(state, o, member);
            (
                200,
                json!({"name": member, "kind": "user", "is_robot": member.contains('+'), "invited": false}),
            )
        }
        _ => (404, quay_error(404, "Not Found")),
    }
}

/// What a robot may do in its organization: pull and push (create) when it is in a team with
/// the `creator` or `admin` role, nothing otherwise.
fn grant(state: &State, o: &Org, member: &str) {
    if !member.contains('+') {
        return;
    }
    let creates = o
        .teams
        .values()
        .any(|t| t.members.contains(member) && (t.role == "creator" || t.role == "admin"));
    let actions: &[&str] = if creates { &["pull", "push"] } else { &[] };
    state.users.set_actions(member, actions);
}

fn robot_view(login: &str, token: &str) -> Value {
    json!({
        "name": login,
        "created": "Mon, 01 Jan 2024 00:00:00 -0000",
        "last_accessed": null,
        "description": "",
        "token": token,
        "unstructured_metadata": {},
    })
}
