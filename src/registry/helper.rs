//! Docker credential helpers (`credHelpers` / `credsStore` in an auth file): runs
//! `docker-credential-NAME get` as the containers tools do — the server on stdin, JSON
//! `{"ServerURL","Username","Secret"}` on stdout, "credentials not found" when it has none.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Why a credential helper gave no usable answer. Never carries what the helper printed (it
/// may hold the secret).
#[derive(Debug, thiserror::Error)]
pub enum HelperError {
    /// `docker-credential-NAME` is not on `PATH`.
    #[error("credential helper {program} (named in {source_file} for {host}) is not on PATH: install it, remove the entry, or give --creds USER:PASS")]
    Missing {
        /// `docker-credential-NAME`.
        program: String,
        /// The auth file naming it.
        source_file: PathBuf,
        /// The registry.
        host: String,
    },
    /// The helper could not be run, failed, or printed something that is not its JSON answer.
    #[error("credential helper {program} (named in {source_file}) failed for {host}: {message}; run `echo {host} | {program} get` to see why, or give --creds USER:PASS")]
    Failed {
        /// `docker-credential-NAME`.
        program: String,
        /// The auth file naming it.
        source_file: PathBuf,
        /// The registry.
        host: String,
        /// What went wrong (never the helper's output).
        message: String,
    },
}

#[derive(serde::Deserialize)]
struct Answer {
    #[serde(rename = "Username", default)]
    username: String,
    #[serde(rename = "Secret", default)]
    secret: String,
}

/// The server name a helper is asked about: Docker Hub's legacy URL, else the host.
pub fn server_url(host: &str) -> String {
    match host {
        "docker.io" | "index.docker.io" | "registry-1.docker.io" => {
            "https://index.docker.io/v1/".to_string()
        }
        _ => host.to_string(),
    }
}

/// `program` in the directories of `path` (a `PATH` value).
fn find_program(program: &str, path: Option<&str>) -> Option<PathBuf> {
    std::env::split_paths(path?)
        .map(|d| d.join(program))
        .find(|p| p.is_file())
}

/// Asks helper `name` for the credentials of `host`: `Ok(None)` when it has none. `path` is
/// the `PATH` to look for it in; `source_file` is the auth file naming it (for messages).
pub fn get(
    name: &str,
    host: &str,
    path: Option<&str>,
    source_file: &Path,
) -> Result<Option<(String, String)>, HelperError> {
    let program = format!("docker-credential-{name}");
    let failed = |message: String| HelperError::Failed {
        program: program.clone(),
        source_file: source_file.to_path_buf(),
        host: host.to_string(),
        message,
    };
    if name.is_empty() || name.contains(['/', '\\']) {
        return Err(failed("not a helper name".into()));
    }
    let Some(exe) = find_program(&program, path) else {
        return Err(HelperError::Missing {
            program: program.clone(),
            source_file: source_file.to_path_buf(),
            host: host.to_string(),
        });
    };
    let mut child = Command::new(&exe)
        .arg("get")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| failed(format!("cannot run {}: {e}", exe.display())))?;
    if let Some(mut stdin) = child.stdin.take() {
        // A helper that exits without reading is judged by its exit status below.
        let _ = stdin.write_all(server_url(host).as_bytes());
    }
    let out = child
        .wait_with_output()
        .map_err(|e| failed(format!("waiting for it: {e}")))?;
    if !out.status.success() {
        let said = |b: &[u8]| {
            String::from_utf8_lossy(b)
                .to_lowercase()
                .contains("credentials not found")
        };
        if said(&out.stdout) || said(&out.stderr) {
            log::debug!("{program} has no credentials for {host}");
            return Ok(None);
        }
        return Err(failed(format!("it exited with {}", out.status)));
    }
    let answer: Answer = serde_json::from_slice(&out.stdout)
        .map_err(|_| failed("its answer is not JSON with Username and Secret".into()))?;
    if answer.username == "<token>" {
        return Err(failed(
            "it holds an identity token, which ferry does not support; log in with a user \
             name and password"
                .into(),
        ));
    }
    if answer.username.is_empty() {
        return Err(failed("its answer has no Username".into()));
    }
    Ok(Some((answer.username, answer.secret)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_hub_is_asked_by_its_legacy_url() {
        assert_eq!(server_url("docker.io"), "https://index.docker.io/v1/");
        assert_eq!(server_url("reg.example:5000"), "reg.example:5000");
    }

    #[test]
    fn a_missing_helper_is_named() {
        let e = get(
            "nope",
            "h.example",
            Some("/nonexistent"),
            Path::new("/a.json"),
        )
        .unwrap_err();
        let msg = e.to_string();
        assert!(
            msg.contains("docker-credential-nope") && msg.contains("/a.json"),
            "{msg}"
        );
        assert!(get("../x", "h", None, Path::new("a")).is_err());
    }
}
