//! Checked-in expected output (golden files, test vectors) and the variable that rewrites it.
//!
//! A test that rewrites its own expectations has checked nothing, so in update mode a file
//! that differs is rewritten and the test then FAILS naming it (run again without the
//! variable to check the new files); a file that is already equal passes as usual. Under CI
//! (`CI` set) the variable is refused outright.

#![allow(dead_code)]

use std::path::Path;

/// Expected-output files of one test, compared or (with `var=1`) rewritten.
pub struct Expected {
    var: &'static str,
    update: bool,
    rewritten: Vec<String>,
}

impl Expected {
    /// Reads `var`; panics when it is set under CI.
    pub fn new(var: &'static str) -> Self {
        let update = std::env::var(var).is_ok_and(|v| v == "1");
        if update && std::env::var_os("CI").is_some() {
            panic!("{var}=1 under CI: expected output is never rewritten there; unset it");
        }
        Expected {
            var,
            update,
            rewritten: Vec::new(),
        }
    }

    /// Whether files that differ are rewritten.
    pub fn updating(&self) -> bool {
        self.update
    }

    /// Whether the file at `path` holds exactly `got`; in update mode a file that does not is
    /// rewritten (and [`Expected::finish`] fails).
    pub fn matches(&mut self, path: &Path, got: &[u8]) -> bool {
        if std::fs::read(path).is_ok_and(|want| want == got) {
            return true;
        }
        if self.update {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, got).unwrap();
            self.record(path);
            return true;
        }
        false
    }

    /// Notes a file or directory rewritten by the caller in update mode.
    pub fn record(&mut self, path: &Path) {
        self.rewritten.push(path.display().to_string());
    }

    /// Fails when anything was rewritten: the new files are to be reviewed, and the test run
    /// again without the variable.
    pub fn finish(self) {
        assert!(
            self.rewritten.is_empty(),
            "{}=1 rewrote {}: review the change (git diff), then run again without {}",
            self.var,
            self.rewritten.join(", "),
            self.var
        );
    }
}
