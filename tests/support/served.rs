//! Running `ferry serve` from tests: start with `--json` on port 0, raw HTTP exchanges, stop
//! with SIGTERM.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use ferry::bundle::{Bundle, Root};

use super::run::{ferry_bin, Packed};

/// A running `ferry serve`, stopped with SIGTERM (or killed on drop).
pub struct Served {
    child: Option<Child>,
    /// `HOST:PORT` listened on.
    pub addr: String,
    /// The `--json` start-up line.
    pub start: serde_json::Value,
    log: PathBuf,
    _tmp: tempfile::TempDir,
}

impl Served {
    /// Starts `ferry serve BUNDLES --listen 127.0.0.1:0 --json` plus `extra`, and reads the
    /// start-up line.
    pub fn start(bundles: &[&Path], keys: &[&Path], extra: &[String]) -> Served {
        Served::start_env(bundles, keys, extra, &[])
    }

    /// [`Served::start`] with environment variables set for the server.
    pub fn start_env(
        bundles: &[&Path],
        keys: &[&Path],
        extra: &[String],
        env: &[(&str, &Path)],
    ) -> Served {
        let tmp = tempfile::tempdir().unwrap();
        let log = tmp.path().join("stderr.log");
        let mut cmd = Command::new(ferry_bin());
        cmd.arg("serve").args(bundles);
        for k in keys {
            cmd.arg("--trusted-key").arg(k);
        }
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.args(["--listen", "127.0.0.1:0", "--json"])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).unwrap());
        let mut child = cmd.spawn().expect("starting ferry serve");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let start: serde_json::Value = serde_json::from_str(&line).unwrap_or_else(|e| {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "{e}: {line:?}; stderr: {}",
                std::fs::read_to_string(&log).unwrap()
            )
        });
        Served {
            addr: start["address"].as_str().unwrap().to_string(),
            child: Some(child),
            start,
            log,
            _tmp: tmp,
        }
    }

    /// The access log and messages so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap()
    }

    /// Sends SIGTERM; the server must exit 0. Returns its stderr.
    pub fn stop(mut self) -> String {
        let mut child = self.child.take().unwrap();
        let status = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let exit = child.wait().unwrap();
        let log = self.log();
        assert!(exit.success(), "ferry serve exited {exit}: {log}");
        log
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A raw HTTP/1.1 exchange (`Connection: close`): status, head, body as far as it came.
pub fn raw(addr: &str, method: &str, path: &str, headers: &[&str]) -> (u16, String, Vec<u8>) {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for h in headers {
        req.push_str(h);
        req.push_str("\r\n");
    }
    if method == "PUT" || method == "POST" || method == "PATCH" {
        req.push_str("Content-Length: 2\r\n\r\n{}");
    } else {
        req.push_str("\r\n");
    }
    s.write_all(req.as_bytes()).unwrap();
    let mut all = Vec::new();
    // A connection cut off may end in a reset: what came before it counts.
    let _ = s.read_to_end(&mut all);
    let end = all
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no head: {:?}", String::from_utf8_lossy(&all)));
    let head = String::from_utf8_lossy(&all[..end]).to_string();
    let status = head[9..12].parse().unwrap();
    (status, head, all[end + 4..].to_vec())
}

/// A header's value in a reply head.
pub fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

/// The verified root of a packed bundle.
pub fn root_of(p: &Packed) -> Root {
    let key = ferry::sign::read_public_key(&p.pubkey).unwrap();
    Bundle::open(&p.dir)
        .unwrap()
        .verify(&key)
        .unwrap()
        .root()
        .clone()
}

/// The repository paths an image answers under: upstream and mirror (prefix `mirror`).
pub fn repositories(name: &str) -> [String; 2] {
    let r = ferry::model::Reference::parse(name).unwrap();
    let mirror = ferry::naming::Naming::new("localhost", "mirror")
        .unwrap()
        .repository(&r)
        .unwrap();
    [r.name(), mirror]
}
