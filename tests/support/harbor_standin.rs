//! **Stand-in for Harbor's v2.0 API — not the product.** It implements exactly the endpoints
//! `ferry setup --flavor harbor` and `ferry push --flavor harbor` call, with the paths, bodies,
//! status codes and name rules of goharbor/harbor (`api/v2.0/swagger.yaml`,
//! `src/server/v2.0/handler/robot.go`, `project.go`): Basic auth (401 otherwise), the `sid`
//! session cookie on every API answer and a 403 "CSRF token invalid" for any POST, PUT, PATCH
//! or DELETE that sends it back (`src/server/middleware/csrf`).
//!
//! Registry traffic (`/v2/...`) goes through a streaming proxy to a real `docker-registry` with
//! token auth; the challenge announces the stand-in's `/service/token` (as Harbor does), which
//! is forwarded to the registry's token issuer. A push into a project that does not exist
//! fails with 404 `NOT_FOUND` "project … not found" before reaching the registry. Robots become
//! issuer users restricted to `PROJECT/...` with the actions of their `repository` access, so
//! least privilege is checked by the real registry.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use serde_json::{json, Value};

use super::registry::TestRegistry;
use super::standin::{
    header, random_hex, random_secret, read_json, repository_of, respond_json, start_standin,
    Served, Upstream,
};
use super::token::IssuerUsers;

/// The configured `robot_name_prefix` (Harbor's default).
pub const ROBOT_PREFIX: &str = "robot$";

struct Robot {
    id: i64,
    /// Stored without the prefix: `PROJECT+NAME`.
    name: String,
    project_id: i64,
    secret: String,
    permissions: Value,
    description: String,
}

struct Project {
    id: i64,
}

#[derive(Default)]
struct Data {
    projects: BTreeMap<String, Project>,
    robots: Vec<Robot>,
    next_id: i64,
}

struct State {
    admin: (String, String),
    data: Mutex<Data>,
    users: IssuerUsers,
    upstream: Upstream,
    calls: Mutex<Vec<(String, String, u16)>>,
}

/// A running Harbor stand-in in front of a real registry.
pub struct HarborStandin {
    served: Option<Served>,
    state: Arc<State>,
    registry: TestRegistry,
}

impl HarborStandin {
    /// Starts the stand-in and its registry (plain HTTP, token auth).
    pub fn start() -> HarborStandin {
        let (registry, served, state) = start_standin(
            "/service/token",
            move |upstream, users| State {
                admin: ("admin".into(), random_secret()),
                data: Mutex::new(Data {
                    next_id: 1,
                    ..Default::default()
                }),
                users,
                upstream,
                calls: Mutex::new(Vec::new()),
            },
            handle,
        );
        HarborStandin {
            served: Some(served),
            state,
            registry,
        }
    }

    /// `127.0.0.1:PORT` of the stand-in (API and registry).
    pub fn host(&self) -> String {
        self.served.as_ref().expect("running").host()
    }

    /// `admin:PASSWORD`.
    pub fn admin_creds(&self) -> String {
        format!("{}:{}", self.state.admin.0, self.state.admin.1)
    }

    /// The real registry behind the stand-in.
    pub fn registry(&self) -> &TestRegistry {
        &self.registry
    }

    /// Every API call answered: (method, path with query, status).
    pub fn api_calls(&self) -> Vec<(String, String, u16)> {
        self.state.calls.lock().expect("calls").clone()
    }

    /// Project names.
    pub fn projects(&self) -> Vec<String> {
        let data = self.state.data.lock().expect("data");
        data.projects.keys().cloned().collect()
    }

    /// Robot login names (with the prefix).
    pub fn robots(&self) -> Vec<String> {
        let data = self.state.data.lock().expect("data");
        data.robots
            .iter()
            .map(|r| format!("{ROBOT_PREFIX}{}", r.name))
            .collect()
    }
}

impl Drop for HarborStandin {
    fn drop(&mut self) {
        self.served.take();
    }
}

fn harbor_error(status: u16, message: &str) -> Value {
    let code = match status {
        400 => "BAD_REQUEST",
        401 => "UNAUTHORIZED",
        403 => "FORBIDDEN",
        404 => "NOT_FOUND",
        409 => "CONFLICT",
        _ => "UNKNOWN",
    };
    json!({"errors":[{"code": code, "message": message}]})
}

/// `^[a-z0-9]+(?:[._-][a-z0-9]+)*$` (`src/pkg/project/manager.go`, `handler/robot.go`).
fn valid_name(name: &str) -> bool {
    regex::Regex::new(r"^[a-z0-9]+(?:[._-][a-z0-9]+)*$")
        .expect("regex")
        .is_match(name)
}

enum Who {
    Admin,
    Robot(String),
}

fn authenticate(state: &State, request: &tiny_http::Request) -> Option<Who> {
    let encoded = header(request, "Authorization")?.strip_prefix("Basic ")?;
    let raw = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let (user, pass) = std::str::from_utf8(&raw).ok()?.split_once(':')?;
    if (user, pass) == (state.admin.0.as_str(), state.admin.1.as_str()) {
        return Some(Who::Admin);
    }
    let data = state.data.lock().expect("data");
    data.robots
        .iter()
        .find(|r| format!("{ROBOT_PREFIX}{}", r.name) == user && r.secret == pass)
        .map(|r| Who::Robot(r.name.clone()))
}

fn handle(state: &State, mut request: tiny_http::Request) {
    let url = request.url().to_string();
    let path = url.split('?').next().unwrap_or("").to_string();
    if path == "/service/token" {
        return state.upstream.forward_token(request);
    }
    if path.starts_with("/v2/") || path == "/v2" {
        if let Some(repo) = repository_of(&url) {
            let project = repo.split('/').next().unwrap_or("");
            let exists = state
                .data
                .lock()
                .expect("data")
                .projects
                .contains_key(project);
            if !exists {
                return respond_json(
                    request,
                    404,
                    &json!({"errors":[{"code":"NOT_FOUND","message":format!("project {project} not found")}]}),
                    &[],
                );
            }
        }
        return state.upstream.forward_registry(request);
    }
    let method = request.method().as_str().to_string();
    let sid_cookie = format!("sid={}; Path=/; HttpOnly", random_hex(16));
    let set_cookie = [("Set-Cookie", sid_cookie.as_str())];
    let sent_sid = header(&request, "Cookie").is_some_and(|c| c.contains("sid="));
    let (status, body, location) = if !path.starts_with("/api/v2.0/") {
        (404, harbor_error(404, "not found"), None)
    } else if sent_sid && method != "GET" && method != "HEAD" {
        (403, harbor_error(403, "CSRF token invalid"), None)
    } else {
        match authenticate(state, &request) {
            None => (401, harbor_error(401, "unauthorized"), None),
            Some(who) => {
                let body = read_json(&mut request);
                let is_name = header(&request, "X-Is-Resource-Name") == Some("true");
                api(state, &who, &method, &url, body, is_name)
            }
        }
    };
    state
        .calls
        .lock()
        .expect("calls")
        .push((method.clone(), url.clone(), status));
    let body = if method == "HEAD" { Value::Null } else { body };
    let mut headers: Vec<(&str, &str)> = set_cookie.to_vec();
    if let Some(l) = &location {
        headers.push(("Location", l.as_str()));
    }
    respond_json(request, status, &body, &headers);
}

fn query_param(url: &str, key: &str) -> Option<String> {
    let q = url.split_once('?')?.1;
    url::form_urlencoded::parse(q.as_bytes())
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
}

fn robot_json(r: &Robot) -> Value {
    json!({
        "id": r.id,
        "name": format!("{ROBOT_PREFIX}{}", r.name),
        "description": r.description,
        "level": "project",
        "duration": -1,
        "expires_at": -1,
        "disable": false,
        "editable": true,
        "permissions": r.permissions,
    })
}

/// The issuer actions a robot's permissions grant in its project.
fn robot_actions(permissions: &Value) -> Vec<&'static str> {
    let mut actions = Vec::new();
    for p in permissions.as_array().into_iter().flatten() {
        for a in p["access"].as_array().into_iter().flatten() {
            if a["resource"] == "repository" {
                match a["action"].as_str() {
                    Some("pull") => actions.push("pull"),
                    Some("push") => actions.push("push"),
                    Some("delete") => actions.push("delete"),
                    _ => {}
                }
            }
        }
    }
    actions
}

fn api(
    state: &State,
    who: &Who,
    method: &str,
    url: &str,
    body: Option<Value>,
    is_name: bool,
) -> (u16, Value, Option<String>) {
    let path = url.split('?').next().unwrap_or("");
    let parts: Vec<&str> = path
        .trim_start_matches("/api/v2.0/")
        .trim_end_matches('/')
        .split('/')
        .collect();
    let Some(body) = body else {
        return (400, harbor_error(400, "invalid JSON body"), None);
    };
    let admin = matches!(who, Who::Admin);
    let forbidden = (403, harbor_error(403, "forbidden"), None);
    let mut data = state.data.lock().expect("data");
    match (method, parts.as_slice()) {
        ("GET", ["users", "current"]) if admin => (
            200,
            json!({"user_id": 1, "username": state.admin.0, "sysadmin_flag": true}),
            None,
        ),
        // Any authenticated principal, robots included.
        ("HEAD", ["projects"]) => match query_param(url, "project_name") {
            None => (400, harbor_error(400, "project_name is required"), None),
            Some(name) if data.projects.contains_key(&name) => (200, Value::Null, None),
            Some(_) => (404, Value::Null, None),
        },
        ("POST", ["projects"]) if admin => {
            let name = body["project_name"].as_str().unwrap_or("");
            if !valid_name(name) || name.len() > 255 {
                return (
                    400,
                    harbor_error(
                        400,
                        "project name is not in lower case or contains illegal characters",
                    ),
                    None,
                );
            }
            if let Some(p) = body.get("metadata").and_then(|m| m.get("public")) {
                if !matches!(p.as_str(), Some("true" | "false")) {
                    return (
                        400,
                        harbor_error(400, "metadata.public must be \"true\" or \"false\""),
                        None,
                    );
                }
            }
            if data.projects.contains_key(name) {
                return (
                    409,
                    harbor_error(409, &format!("The project named {name} already exists")),
                    None,
                );
            }
            let id = data.next_id;
            data.next_id += 1;
            data.projects.insert(name.to_string(), Project { id });
            (201, Value::Null, Some(format!("/api/v2.0/projects/{id}")))
        }
        ("GET", ["projects", key]) if admin => {
            let found = data.projects.iter().find(|(n, p)| {
                if is_name {
                    n.as_str() == *key
                } else {
                    key.parse::<i64>().ok() == Some(p.id)
                }
            });
            match found {
                Some((n, p)) => (
                    200,
                    json!({"project_id": p.id, "name": n, "metadata": {"public": "false"}}),
                    None,
                ),
                None => (
                    404,
                    harbor_error(404, &format!("project {key} not found")),
                    None,
                ),
            }
        }
        ("GET", ["robots"]) if admin => {
            let q = query_param(url, "q").unwrap_or_default();
            let kv: BTreeMap<&str, &str> = q.split(',').filter_map(|p| p.split_once('=')).collect();
            if kv.get("Level") == Some(&"project") {
                let Some(pid) = kv.get("ProjectID").and_then(|v| v.parse::<i64>().ok()) else {
                    return (
                        400,
                        harbor_error(400, "must with project ID when to query project robots"),
                        None,
                    );
                };
                let list: Vec<Value> = data
                    .robots
                    .iter()
                    .filter(|r| r.project_id == pid)
                    .map(robot_json)
                    .collect();
                (200, Value::Array(list), None)
            } else {
                // System robots: this stand-in never has any.
                (200, json!([]), None)
            }
        }
        ("POST", ["robots"]) if admin => {
            let name = body["name"].as_str().unwrap_or("");
            if !valid_name(name) {
                return (
                    400,
                    harbor_error(
                        400,
                        "robot name is not in lower case or contains illegal characters",
                    ),
                    None,
                );
            }
            let duration = body["duration"].as_i64().unwrap_or(0);
            if duration < -1 {
                return (
                    400,
                    harbor_error(
                        400,
                        &format!("bad request error duration input: {duration}"),
                    ),
                    None,
                );
            }
            let level = body["level"].as_str().unwrap_or("");
            if level != "project" && level != "system" {
                return (
                    400,
                    harbor_error(400, &format!("bad request error level input: {level}")),
                    None,
                );
            }
            let perms = body["permissions"].as_array().cloned().unwrap_or_default();
            if perms.is_empty() {
                return (400, harbor_error(400, "bad request empty permission"), None);
            }
            if perms
                .iter()
                .any(|p| p["access"].as_array().is_none_or(|a| a.is_empty()))
            {
                return (400, harbor_error(400, "bad request empty access"), None);
            }
            if level == "project" && perms.len() > 1 {
                return (400, harbor_error(400, "bad request permission"), None);
            }
            if level != "project" {
                return (
                    400,
                    harbor_error(400, "this stand-in only implements project robots"),
                    None,
                );
            }
            let ns = perms[0]["namespace"].as_str().unwrap_or("");
            let Some(project_id) = data.projects.get(ns).map(|p| p.id) else {
                return (
                    404,
                    harbor_error(404, &format!("project {ns} not found")),
                    None,
                );
            };
            let stored = format!("{ns}+{name}");
            if data.robots.iter().any(|r| r.name == stored) {
                return (
                    409,
                    harbor_error(
                        409,
                        &format!("robot account {ROBOT_PREFIX}{stored} already exists"),
                    ),
                    None,
                );
            }
            let id = data.next_id;
            data.next_id += 1;
            let secret = random_secret();
            let robot = Robot {
                id,
                name: stored.clone(),
                project_id,
                secret: secret.clone(),
                permissions: body["permissions"].clone(),
                description: body["description"].as_str().unwrap_or("").to_string(),
            };
            state.users.add(
                &format!("{ROBOT_PREFIX}{stored}"),
                &secret,
                ns,
                &robot_actions(&robot.permissions),
            );
            data.robots.push(robot);
            (
                201,
                json!({"id": id, "name": format!("{ROBOT_PREFIX}{stored}"), "secret": secret,
                       "creation_time": "2024-01-01T00:00:00.000Z", "expires_at": -1}),
                Some(format!("/api/v2.0/robots/{id}")),
            )
        }
        ("PATCH", ["robots", id]) if admin => {
            let Some(r) = data
                .robots
                .iter_mut()
                .find(|r| id.parse::<i64>().ok() == Some(r.id))
            else {
                return (
                    404,
                    harbor_error(404, &format!("robot {id} not found")),
                    None,
                );
            };
            let given = body["secret"].as_str().unwrap_or("").to_string();
            let answer = if given.is_empty() {
                r.secret = random_secret();
                r.secret.clone()
            } else {
                let ok = given.len() >= 8
                    && given.bytes().any(|c| c.is_ascii_lowercase())
                    && given.bytes().any(|c| c.is_ascii_uppercase())
                    && given.bytes().any(|c| c.is_ascii_digit());
                if !ok {
                    return (400, harbor_error(400, "the secret must longer than 8 chars with at least 1 uppercase letter, 1 lowercase letter and 1 number"), None);
                }
                r.secret = given;
                String::new()
            };
            state
                .users
                .set_password(&format!("{ROBOT_PREFIX}{}", r.name), &r.secret);
            (200, json!({"secret": answer}), None)
        }
        _ if !admin => forbidden,
        _ => (404, harbor_error(404, "not found"), None),
    }
}
