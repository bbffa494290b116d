//! Running the real `ferry` binary from tests, and the inputs it needs: keys, image lists,
//! auth files and registry flags for each test registry.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use super::{FixtureImage, FixtureSet, TestRegistry};

/// The ferry binary cargo built for this test run.
pub fn ferry_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_ferry"))
}

/// The ferry binary as a command, its upload journal in this test process's own directory
/// (never the user's state directory).
pub fn ferry_command() -> Command {
    let journal = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("ferry-upload-journal-{}", std::process::id()));
    let mut c = Command::new(ferry_bin());
    c.env_remove("SOURCE_DATE_EPOCH")
        .env("FERRY_UPLOAD_JOURNAL", journal);
    c
}

/// Runs ferry with `args` and returns its output, whatever the exit code.
pub fn ferry<I, S>(args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    ferry_command().args(args).output().expect("running ferry")
}

/// Runs ferry and panics (with its stderr) unless it exits 0; returns stdout.
pub fn ferry_ok<I, S>(args: I) -> String
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    let args: Vec<std::ffi::OsString> = args.into_iter().map(|a| a.as_ref().to_owned()).collect();
    let out = ferry(&args);
    assert!(
        out.status.success(),
        "ferry {:?} failed ({}):\nstdout:\n{}\nstderr:\n{}",
        args,
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 stdout")
}

/// Both output streams as text, for assertions on messages.
pub fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// A fresh key pair in `dir`: (secret key, public key).
pub fn keygen(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    let key = dir.join(name);
    ferry_ok(["keygen".as_ref(), "--out".as_ref(), key.as_os_str()]);
    let mut p = key.clone().into_os_string();
    p.push(".pub");
    (key, PathBuf::from(p))
}

/// Writes an image list and returns its path.
pub fn write_list(dir: &Path, name: &str, lines: &[String]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, lines.join("\n") + "\n").expect("writing list");
    p
}

/// The registry reference of a fixture loaded into `reg`: by tag for `tag-only`, else by digest.
pub fn registry_ref(reg: &TestRegistry, img: &FixtureImage) -> String {
    if img.slug == "tag-only" {
        format!("{}/{}:{}", reg.host(), img.repository, img.tag)
    } else {
        format!("{}/{}@{}", reg.host(), img.repository, img.digest)
    }
}

/// List lines reading every image of `set` from `reg`.
pub fn registry_lines(reg: &TestRegistry, set: &FixtureSet) -> Vec<String> {
    set.images.iter().map(|i| registry_ref(reg, i)).collect()
}

/// List lines reading every image of `set` from its OCI layout, named `quay.io/<repository>:<tag>`,
/// plus the docker archive.
pub fn local_lines(set: &FixtureSet) -> Vec<String> {
    let mut v: Vec<String> = set.images.iter().map(oci_line).collect();
    v.push(format!("docker-archive:{}", set.docker_archive.display()));
    v
}

/// Writes a containers auth file (mode 0600) with `reg`'s read-write credentials.
pub fn authfile(dir: &Path, reg: &TestRegistry) -> PathBuf {
    use base64::Engine as _;
    use std::os::unix::fs::OpenOptionsExt;
    let p = dir.join(format!("auth-{}.json", reg.port()));
    let creds = reg.credentials().expect("registry has credentials");
    let auth = base64::engine::general_purpose::STANDARD.encode(creds.colon_joined());
    let body = serde_json::json!({ "auths": { reg.host(): { "auth": auth } } });
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&p)
        .expect("writing auth file");
    std::io::Write::write_all(&mut f, body.to_string().as_bytes()).expect("writing auth file");
    p
}

/// Flags that let ferry reach `reg`: `--insecure-registry` for plain HTTP, `--ca-file` for TLS,
/// and `--authfile` when it needs credentials (written into `dir`).
pub fn registry_flags(reg: &TestRegistry, dir: &Path) -> Vec<String> {
    let mut v = Vec::new();
    if reg.is_tls() {
        v.push("--ca-file".into());
        v.push(reg.ca_cert_path().display().to_string());
    } else {
        v.push("--insecure-registry".into());
        v.push(reg.host());
    }
    if let Some(issuer) = reg.token_issuer() {
        // The issuer speaks plain HTTP: credentials go there only when it is listed.
        v.push("--insecure-registry".into());
        v.push(issuer.host());
    }
    if reg.credentials().is_some() {
        v.push("--authfile".into());
        v.push(authfile(dir, reg).display().to_string());
    }
    v
}

/// The volume files of a bundle directory, sorted.
pub fn volumes(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("listing bundle")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "tar"))
        .collect();
    v.sort();
    v
}

/// Where a tar member's data starts in `volume`, and its size.
pub fn member(volume: &Path, name: &str) -> (u64, u64) {
    let f = std::fs::File::open(volume).expect("opening volume");
    let mut a = tar::Archive::new(f);
    for e in a.entries().expect("tar entries") {
        let e = e.expect("tar entry");
        if e.path().expect("path").to_string_lossy() == name {
            return (e.raw_file_position(), e.size());
        }
    }
    panic!("{name} not in {}", volume.display())
}

/// Flips one bit of the byte at `offset` in `path`.
pub fn flip_byte(path: &Path, offset: u64) {
    use std::io::{Read, Seek, SeekFrom, Write};
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .expect("opening for tamper");
    let mut b = [0u8; 1];
    f.seek(SeekFrom::Start(offset)).unwrap();
    f.read_exact(&mut b).unwrap();
    b[0] ^= 0x01;
    f.seek(SeekFrom::Start(offset)).unwrap();
    f.write_all(&b).unwrap();
}

/// The list line reading a fixture from its OCI layout, mirrored as `quay.io/<repository>:<tag>`.
pub fn oci_line(img: &FixtureImage) -> String {
    format!(
        "oci:{}:{} quay.io/{}:{}",
        img.layout.display(),
        img.tag,
        img.repository,
        img.tag
    )
}

/// A bundle packed into a temporary directory, with its keys.
pub struct Packed {
    /// Holds everything; removed on drop.
    pub tmp: tempfile::TempDir,
    /// The bundle directory.
    pub dir: PathBuf,
    /// The secret key.
    pub key: PathBuf,
    /// The public key.
    pub pubkey: PathBuf,
}

/// `ferry pack` arguments for `list` into `out` signed with `key`, plus `extra`.
pub fn pack_args(list: &Path, key: &Path, out: &Path, extra: &[String]) -> Vec<String> {
    let mut args: Vec<String> = vec![
        "pack".into(),
        "--images".into(),
        list.display().to_string(),
        "--key".into(),
        key.display().to_string(),
        "--out".into(),
        out.display().to_string(),
    ];
    args.extend_from_slice(extra);
    args
}

/// Packs `lines` with a fresh key (panics on failure).
pub fn pack(lines: &[String], extra: &[String]) -> Packed {
    let tmp = tempfile::tempdir().unwrap();
    let (key, pubkey) = keygen(tmp.path(), "k");
    let list = write_list(tmp.path(), "images.txt", lines);
    let dir = tmp.path().join("bundle");
    ferry_ok(pack_args(&list, &key, &dir, extra));
    Packed {
        tmp,
        dir,
        key,
        pubkey,
    }
}

/// `ferry check` arguments for `dir` against `target`, trusting the key `scratch/k.pub` that
/// [`pack`] signs with.
pub fn check_args(dir: &Path, target: &TestRegistry, scratch: &Path) -> Vec<String> {
    let mut args = vec![
        "check".to_string(),
        dir.display().to_string(),
        "--to".into(),
        target.host(),
        "--trusted-key".into(),
        scratch.join("k.pub").display().to_string(),
    ];
    args.extend(registry_flags(target, scratch));
    args
}

/// Whether every image of a push report succeeded.
pub fn all_ok(report: &serde_json::Value) -> bool {
    report["images"]
        .as_array()
        .is_some_and(|a| a.iter().all(|i| i["ok"] == true))
}

/// Runs `ferry verify DIR --trusted-key PUB [extra…]` and panics unless it succeeds.
pub fn verify_ok(dir: &Path, pubkey: &Path, extra: &[&str]) -> String {
    let mut args = vec![
        "verify".to_string(),
        dir.display().to_string(),
        "--trusted-key".into(),
        pubkey.display().to_string(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    ferry_ok(args)
}

/// `ferry push` arguments for bundle `p` into `target` (mirror sets into the bundle's scratch
/// directory, JSON output), plus `extra`.
pub fn registry_push_args(p: &Packed, target: &TestRegistry, extra: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = vec![
        "push".into(),
        p.dir.display().to_string(),
        "--trusted-key".into(),
        p.pubkey.display().to_string(),
        "--to".into(),
        target.host(),
        "--mirrorsets-out".into(),
        p.tmp.path().join("mirrorsets").display().to_string(),
        "--json".into(),
    ];
    args.extend(registry_flags(target, p.tmp.path()));
    args.extend(extra.iter().map(|s| s.to_string()));
    args
}

/// Pushes bundle `p` into `target` (panics on failure) and returns the JSON report.
pub fn registry_push_json(p: &Packed, target: &TestRegistry) -> serde_json::Value {
    serde_json::from_str(&ferry_ok(registry_push_args(p, target, &[]))).unwrap()
}

/// The one file in `dir` named `STEM-<bundle id, 12 digits>.EXT` for a mirror-set file name
/// `STEM.EXT` (`imagedigestmirrorset.yaml`): where a bundle's mirror sets are written.
pub fn bundle_mirrorset_file(dir: &Path, file: &str) -> PathBuf {
    let (stem, ext) = file
        .rsplit_once('.')
        .expect("a file name with an extension");
    let found: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.strip_prefix(&format!("{stem}-")))
                .and_then(|n| n.strip_suffix(&format!(".{ext}")))
                .is_some_and(|id| id.len() == 12 && id.bytes().all(|b| b.is_ascii_hexdigit()))
        })
        .collect();
    assert_eq!(
        found.len(),
        1,
        "one {stem}-ID.{ext} in {}: {found:?}",
        dir.display()
    );
    found[0].clone()
}

/// Panics unless every segment of the command's error line (split at ": ") occurs once: an
/// error names each cause once.
pub fn assert_no_repeated_segment(out: &Output) {
    let err = String::from_utf8_lossy(&out.stderr);
    let line = err
        .lines()
        .find(|l| l.starts_with("error: "))
        .unwrap_or_else(|| panic!("no error line in:\n{err}"));
    let segments: Vec<&str> = line.trim_start_matches("error: ").split(": ").collect();
    for (i, seg) in segments.iter().enumerate() {
        assert!(
            !segments[i + 1..].contains(seg),
            "segment {seg:?} repeats in {line:?}"
        );
    }
}
