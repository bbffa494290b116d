//! Registry credentials: the `--creds` value and the containers/docker auth files.

use std::collections::BTreeMap;
use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};

use base64::Engine as _;

use super::helper::{self, HelperError};

/// A user name and password for one registry. `Debug` never shows the password.
#[derive(Clone, PartialEq, Eq)]
pub struct Credential {
    /// The user name.
    pub username: String,
    password: String,
}

impl Credential {
    /// A credential from its parts.
    pub fn new(username: impl Into<String>, password: impl Into<String>) -> Self {
        Credential {
            username: username.into(),
            password: password.into(),
        }
    }

    /// The password (or token) — handle with care, never log it.
    pub fn password(&self) -> &str {
        &self.password
    }

    /// Parses `USER:PASS` (the password may itself contain `:`).
    pub fn parse(s: &str) -> Result<Self, CredentialError> {
        match s.split_once(':') {
            Some((u, p)) if !u.is_empty() => Ok(Credential::new(u, p)),
            _ => Err(CredentialError::Malformed),
        }
    }

    /// The value of an `Authorization: Basic ...` header for this credential.
    pub(crate) fn basic_header(&self) -> String {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD
                .encode(format!("{}:{}", self.username, self.password))
        )
    }
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credential")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// Why credentials could not be obtained. Never carries a secret.
#[derive(Debug, thiserror::Error)]
pub enum CredentialError {
    /// A `--creds` value without `USER:` in front.
    #[error(
        "credentials must be given as USER:PASSWORD (the value given has no user name or no ':')"
    )]
    Malformed,
    /// An auth file could not be read or written.
    #[error("auth file {path}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// An auth file is not the JSON ferry expects.
    #[error("auth file {path} is not valid JSON of the form {{\"auths\":{{...}}}}: {message}")]
    Format {
        /// The file.
        path: PathBuf,
        /// What the parser said.
        message: String,
    },
    /// A credential helper named in an auth file gave no usable answer.
    #[error(transparent)]
    Helper(#[from] HelperError),
    /// The entry for a registry cannot be decoded.
    #[error("auth file {path}: the entry for {key} is not base64 of USER:PASSWORD")]
    BadEntry {
        /// The file.
        path: PathBuf,
        /// The `auths` key of the entry.
        key: String,
    },
}

#[derive(serde::Deserialize, Default)]
struct AuthFile {
    #[serde(default)]
    auths: BTreeMap<String, AuthEntry>,
    /// Credential helper per registry (`docker-credential-NAME`).
    #[serde(default, rename = "credHelpers")]
    cred_helpers: BTreeMap<String, String>,
    /// The credential helper for every registry without its own.
    #[serde(default, rename = "credsStore")]
    creds_store: Option<String>,
}

/// The credential helper an auth file names for `host`: its `credHelpers` entry, else
/// `credsStore`.
fn helper_for<'a>(file: &'a AuthFile, host: &str) -> Option<&'a str> {
    file.cred_helpers
        .iter()
        .map(|(k, v)| (key_matches(k, host), v))
        .filter(|(score, _)| *score > 0)
        .max_by_key(|(score, _)| *score)
        .map(|(_, v)| v.as_str())
        .or(file.creds_store.as_deref())
        .filter(|n| !n.is_empty())
}

/// The credential for `host` in the auth file `path` (text `text`): from its credential helper
/// when it names one that has it, else from its `auths`. Returns where it came from, in words.
fn from_file(
    text: &str,
    path: &Path,
    host: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Option<(Credential, String)>, CredentialError> {
    let file = parse_authfile(text, path)?;
    if let Some(name) = helper_for(&file, host) {
        let path_var = env("PATH");
        if let Some((u, p)) = helper::get(name, host, path_var.as_deref(), path)? {
            let origin = format!(
                "credential helper docker-credential-{name} named in {} (user {u})",
                path.display()
            );
            return Ok(Some((Credential::new(u, p), origin)));
        }
    }
    Ok(entry_for(&file, path, host)?.map(|c| {
        let origin = format!("auth file {} (user {})", path.display(), c.username);
        (c, origin)
    }))
}

#[derive(serde::Deserialize, Default)]
struct AuthEntry {
    #[serde(default)]
    auth: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
}

/// The auth files searched when no `--authfile` is given, in order: `$REGISTRY_AUTH_FILE`,
/// `$XDG_RUNTIME_DIR/containers/auth.json`, `$HOME/.docker/config.json`.
pub fn default_authfiles(env: &dyn Fn(&str) -> Option<String>) -> Vec<PathBuf> {
    let mut v = Vec::new();
    let set = |k: &str| env(k).filter(|s| !s.is_empty());
    if let Some(f) = set("REGISTRY_AUTH_FILE") {
        v.push(PathBuf::from(f));
    }
    if let Some(d) = set("XDG_RUNTIME_DIR") {
        v.push(Path::new(&d).join("containers/auth.json"));
    }
    if let Some(h) = set("HOME") {
        v.push(Path::new(&h).join(".docker/config.json"));
    }
    v
}

/// Finds credentials for `host` (`HOST[:PORT]`): `creds` first, then `authfile` when given
/// (it must exist), else the first of [`default_authfiles`] that has one for the host — from
/// the credential helper it names for the host (`credHelpers`, else `credsStore`; `PATH` from
/// `env`), else from its `auths` entry.
pub fn lookup(
    host: &str,
    creds: Option<&Credential>,
    authfile: Option<&Path>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Option<Credential>, CredentialError> {
    lookup_with_origin(host, creds, authfile, env).map(|(c, _)| c)
}

/// [`lookup`], and where the credential came from in words, for messages: `--creds`, `auth
/// file PATH (user NAME)`, or that none was found and where ferry looked.
pub fn lookup_with_origin(
    host: &str,
    creds: Option<&Credential>,
    authfile: Option<&Path>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<(Option<Credential>, String), CredentialError> {
    if let Some(c) = creds {
        return Ok((Some(c.clone()), format!("--creds (user {})", c.username)));
    }
    if let Some(f) = authfile {
        let text = std::fs::read_to_string(f).map_err(|source| CredentialError::Io {
            path: f.to_path_buf(),
            source,
        })?;
        return Ok(match from_file(&text, f, host, env)? {
            Some((c, origin)) => (Some(c), origin),
            None => (
                None,
                format!("none: auth file {} has no entry for {host}", f.display()),
            ),
        });
    }
    let files = default_authfiles(env);
    for f in &files {
        let text = match std::fs::read_to_string(f) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(source) => {
                return Err(CredentialError::Io {
                    path: f.clone(),
                    source,
                })
            }
        };
        if let Some((c, origin)) = from_file(&text, f, host, env)? {
            log::debug!("using credentials for {host} from {origin}");
            return Ok((Some(c), origin));
        }
    }
    let looked: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
    Ok((
        None,
        format!(
            "none: no --creds or --authfile, and no entry for {host} in {}",
            if looked.is_empty() {
                "any default auth file".to_string()
            } else {
                looked.join(", ")
            }
        ),
    ))
}

/// The `auths` keys that stand for `host`: the exact key first, then URL forms, and for
/// Docker Hub the legacy `https://index.docker.io/v1/` key.
fn key_matches(key: &str, host: &str) -> u8 {
    if key == host {
        return 3;
    }
    let Some(rest) = key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
    else {
        return 0;
    };
    let key_host = rest.split('/').next().unwrap_or("");
    let docker_hub = ["docker.io", "index.docker.io", "registry-1.docker.io"];
    if key_host == host {
        2
    } else if docker_hub.contains(&host) && docker_hub.contains(&key_host) {
        1
    } else {
        0
    }
}

/// The credential for `host` in the `auths` of an auth file's text (`path` names it in
/// errors). Credential helpers are not consulted here.
pub fn find_in_authfile(
    text: &str,
    path: &Path,
    host: &str,
) -> Result<Option<Credential>, CredentialError> {
    entry_for(&parse_authfile(text, path)?, path, host)
}

fn parse_authfile(text: &str, path: &Path) -> Result<AuthFile, CredentialError> {
    if text.trim().is_empty() {
        return Ok(AuthFile::default());
    }
    serde_json::from_str(text).map_err(|e| CredentialError::Format {
        path: path.to_path_buf(),
        message: e.to_string(),
    })
}

/// The credential in the `auths` entry for `host`.
fn entry_for(
    file: &AuthFile,
    path: &Path,
    host: &str,
) -> Result<Option<Credential>, CredentialError> {
    let best = file
        .auths
        .iter()
        .map(|(k, v)| (key_matches(k, host), k, v))
        .filter(|(score, _, _)| *score > 0)
        .max_by_key(|(score, _, _)| *score);
    let Some((_, key, entry)) = best else {
        return Ok(None);
    };
    let bad = || CredentialError::BadEntry {
        path: path.to_path_buf(),
        key: key.clone(),
    };
    if let Some(auth) = entry.auth.as_deref().filter(|a| !a.is_empty()) {
        let raw = base64::engine::general_purpose::STANDARD
            .decode(auth.trim())
            .map_err(|_| bad())?;
        let s = String::from_utf8(raw).map_err(|_| bad())?;
        return Credential::parse(&s).map(Some).map_err(|_| bad());
    }
    match (&entry.username, &entry.password) {
        (Some(u), Some(p)) if !u.is_empty() => Ok(Some(Credential::new(u, p))),
        _ => Ok(None),
    }
}

/// Adds (or replaces) the entry for `host` in the auth file at `path`, keeping other entries and
/// keys, and writes it back with mode 0600. Creates the file and its directory if needed.
pub fn write_authfile_entry(
    path: &Path,
    host: &str,
    cred: &Credential,
) -> Result<(), CredentialError> {
    let io_err = |source| CredentialError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut doc: serde_json::Value = match std::fs::read_to_string(path) {
        Ok(t) if !t.trim().is_empty() => {
            serde_json::from_str(&t).map_err(|e| CredentialError::Format {
                path: path.to_path_buf(),
                message: e.to_string(),
            })?
        }
        Ok(_) => serde_json::json!({}),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => serde_json::json!({}),
        Err(e) => return Err(io_err(e)),
    };
    let format_err = |m: &str| CredentialError::Format {
        path: path.to_path_buf(),
        message: m.to_string(),
    };
    let obj = doc
        .as_object_mut()
        .ok_or_else(|| format_err("top level is not an object"))?;
    let auths = obj
        .entry("auths")
        .or_insert_with(|| serde_json::json!({}))
        .as_object_mut()
        .ok_or_else(|| format_err("\"auths\" is not an object"))?;
    let encoded = base64::engine::general_purpose::STANDARD.encode(format!(
        "{}:{}",
        cred.username,
        cred.password()
    ));
    auths.insert(host.to_string(), serde_json::json!({ "auth": encoded }));
    let text = serde_json::to_vec_pretty(&doc).expect("JSON value serializes");

    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(io_err)?;
    let tmp = dir.join(format!(
        ".{}.tmp{}",
        path.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "auth.json".into()),
        std::process::id()
    ));
    let write = || -> std::io::Result<()> {
        use std::os::unix::fs::OpenOptionsExt;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(&text)?;
        f.write_all(b"\n")?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    };
    write().map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        io_err(e)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(s: &str) -> String {
        base64::engine::general_purpose::STANDARD.encode(s)
    }

    #[test]
    fn parses_creds_and_redacts() {
        let c = Credential::parse("bob:s3cr:et").unwrap();
        assert_eq!(c.username, "bob");
        assert_eq!(c.password(), "s3cr:et");
        let dbg = format!("{c:?}");
        assert!(!dbg.contains("s3cr"), "{dbg}");
        assert!(dbg.contains("bob"));
        assert!(Credential::parse("nocolon").is_err());
        assert!(Credential::parse(":pass").is_err());
        let msg = Credential::parse("secretvalue").unwrap_err().to_string();
        assert!(!msg.contains("secretvalue"));
    }

    #[test]
    fn finds_entries_in_all_formats() {
        let p = Path::new("auth.json");
        let text = format!(
            r#"{{"auths":{{
                "reg.example:5000":{{"auth":"{}"}},
                "https://other.example/v2/":{{"username":"u2","password":"p2"}},
                "https://index.docker.io/v1/":{{"auth":"{}"}},
                "empty.example":{{}}
            }}, "credsStore":"desktop"}}"#,
            b64("u1:p1"),
            b64("hub:hubpass")
        );
        let c = find_in_authfile(&text, p, "reg.example:5000")
            .unwrap()
            .unwrap();
        assert_eq!((c.username.as_str(), c.password()), ("u1", "p1"));
        let c = find_in_authfile(&text, p, "other.example")
            .unwrap()
            .unwrap();
        assert_eq!((c.username.as_str(), c.password()), ("u2", "p2"));
        let c = find_in_authfile(&text, p, "docker.io").unwrap().unwrap();
        assert_eq!((c.username.as_str(), c.password()), ("hub", "hubpass"));
        assert!(
            find_in_authfile(&text, p, "reg.example").unwrap().is_none(),
            "port matters"
        );
        assert!(find_in_authfile(&text, p, "empty.example")
            .unwrap()
            .is_none());
        assert!(find_in_authfile(&text, p, "nowhere").unwrap().is_none());
    }

    #[test]
    fn exact_key_beats_url_key() {
        let text = format!(
            r#"{{"auths":{{"https://h.example/v1/":{{"auth":"{}"}},"h.example":{{"auth":"{}"}}}}}}"#,
            b64("old:x"),
            b64("new:y")
        );
        let c = find_in_authfile(&text, Path::new("a"), "h.example")
            .unwrap()
            .unwrap();
        assert_eq!(c.username, "new");
    }

    #[test]
    fn bad_entries_are_reported_without_secrets() {
        let text = r#"{"auths":{"h":{"auth":"!!notbase64!!"}}}"#;
        let e = find_in_authfile(text, Path::new("/x/auth.json"), "h").unwrap_err();
        let msg = e.to_string();
        assert!(
            msg.contains("/x/auth.json") && msg.contains("entry for h"),
            "{msg}"
        );
        assert!(find_in_authfile("{not json", Path::new("f"), "h").is_err());
    }

    #[test]
    fn lookup_order() {
        let dir = tempfile::tempdir().unwrap();
        let reg_file = dir.path().join("reg.json");
        let xdg = dir.path().join("xdg");
        let home = dir.path().join("home");
        std::fs::create_dir_all(xdg.join("containers")).unwrap();
        std::fs::create_dir_all(home.join(".docker")).unwrap();
        let entry = |u: &str, host: &str| {
            format!(
                r#"{{"auths":{{"{host}":{{"auth":"{}"}}}}}}"#,
                b64(&format!("{u}:pw"))
            )
        };
        std::fs::write(&reg_file, entry("from-env", "a.example")).unwrap();
        std::fs::write(
            xdg.join("containers/auth.json"),
            entry("from-xdg", "b.example"),
        )
        .unwrap();
        std::fs::write(
            home.join(".docker/config.json"),
            entry("from-docker", "a.example"),
        )
        .unwrap();
        let vars: Vec<(&str, String)> = vec![
            ("REGISTRY_AUTH_FILE", reg_file.display().to_string()),
            ("XDG_RUNTIME_DIR", xdg.display().to_string()),
            ("HOME", home.display().to_string()),
        ];
        let env = |k: &str| vars.iter().find(|(n, _)| *n == k).map(|(_, v)| v.clone());
        let user = |host: &str, creds: Option<&Credential>, file: Option<&Path>| {
            lookup(host, creds, file, &env).unwrap().map(|c| c.username)
        };
        assert_eq!(user("a.example", None, None).as_deref(), Some("from-env"));
        assert_eq!(user("b.example", None, None).as_deref(), Some("from-xdg"));
        assert_eq!(user("c.example", None, None), None);
        let explicit = dir.path().join("explicit.json");
        std::fs::write(&explicit, entry("from-flag", "a.example")).unwrap();
        assert_eq!(
            user("a.example", None, Some(&explicit)).as_deref(),
            Some("from-flag")
        );
        assert_eq!(
            user("b.example", None, Some(&explicit)),
            None,
            "--authfile replaces the search"
        );
        let cli = Credential::new("from-cli", "x");
        assert_eq!(
            user("a.example", Some(&cli), Some(&explicit)).as_deref(),
            Some("from-cli")
        );
        assert!(lookup("a", None, Some(&dir.path().join("missing.json")), &env).is_err());
        // Without REGISTRY_AUTH_FILE the docker config is reached.
        let env2 = |k: &str| {
            if k == "REGISTRY_AUTH_FILE" {
                None
            } else {
                env(k)
            }
        };
        assert_eq!(
            lookup("a.example", None, None, &env2)
                .unwrap()
                .map(|c| c.username)
                .as_deref(),
            Some("from-docker")
        );
    }

    #[test]
    fn writes_entries_mode_0600_and_merges() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("sub/auth.json");
        write_authfile_entry(&f, "one.example", &Credential::new("u1", "p1")).unwrap();
        write_authfile_entry(&f, "two.example:5000", &Credential::new("u2", "p2")).unwrap();
        write_authfile_entry(&f, "one.example", &Credential::new("u3", "p3")).unwrap();
        let mode = std::fs::metadata(&f).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let text = std::fs::read_to_string(&f).unwrap();
        let one = find_in_authfile(&text, &f, "one.example").unwrap().unwrap();
        assert_eq!((one.username.as_str(), one.password()), ("u3", "p3"));
        let two = find_in_authfile(&text, &f, "two.example:5000")
            .unwrap()
            .unwrap();
        assert_eq!((two.username.as_str(), two.password()), ("u2", "p2"));
    }
}
