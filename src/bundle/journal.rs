//! The pack journal: what an interrupted `ferry pack` had finished, so that a rerun resumes.
//!
//! The journal lives in `DIR/.ferry-pack/journal.jsonl` beside the partial volumes. Its first
//! line names the plan (a digest of the inputs); every later line records one completed blob:
//! its entry, the chunks it added, and the data length of every volume at that moment. A line is
//! written only after the volume data it describes has reached the disk.

use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::root::{BlobEntry, ChunkEntry};

/// Journal file name inside the staging directory.
pub const JOURNAL_FILE: &str = "journal.jsonl";

/// The first line: what is being packed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JournalHeader {
    /// A digest of the plan (images, manifests, options); a rerun with another plan starts over.
    pub plan: String,
    /// The per-volume data cap in use.
    pub data_cap: Option<u64>,
}

/// One completed blob.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JournalRecord {
    /// The blob.
    pub blob: BlobEntry,
    /// Chunks this blob stored for the first time, with their index in the root's chunk list.
    pub new_chunks: Vec<(u32, ChunkEntry)>,
    /// Data length of each volume (1-based order) after this blob.
    pub volumes: Vec<u64>,
}

/// An open journal, appending.
pub struct Journal {
    path: PathBuf,
    file: File,
}

impl Journal {
    /// Starts a new journal with `header`, replacing any old one.
    pub fn create(dir: &Path, header: &JournalHeader) -> io::Result<Journal> {
        let path = dir.join(JOURNAL_FILE);
        let mut file = File::create(&path)?;
        serde_json::to_writer(&mut file, header)?;
        file.write_all(b"\n")?;
        file.sync_data()?;
        Ok(Journal { path, file })
    }

    /// Reads an existing journal: its header and every complete record. A torn last line (the
    /// pack was killed while writing it) is ignored.
    pub fn load(dir: &Path) -> io::Result<Option<(JournalHeader, Vec<JournalRecord>)>> {
        let path = dir.join(JOURNAL_FILE);
        let f = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        let mut lines = BufReader::new(f).lines();
        let header: JournalHeader = match lines.next() {
            Some(Ok(l)) => match serde_json::from_str(&l) {
                Ok(h) => h,
                Err(_) => return Ok(None),
            },
            _ => return Ok(None),
        };
        let mut records = Vec::new();
        for line in lines {
            let line = line?;
            match serde_json::from_str::<JournalRecord>(&line) {
                Ok(r) => records.push(r),
                Err(_) => break,
            }
        }
        Ok(Some((header, records)))
    }

    /// Reopens an existing journal for appending, rewriting it with exactly `records` so that a
    /// torn last line is dropped.
    pub fn reopen(
        dir: &Path,
        header: &JournalHeader,
        records: &[JournalRecord],
    ) -> io::Result<Journal> {
        let mut j = Journal::create(dir, header)?;
        j.append_all(records)?;
        let file = OpenOptions::new().append(true).open(&j.path)?;
        j.file = file;
        Ok(j)
    }

    /// Appends one record and makes it durable.
    pub fn append(&mut self, record: &JournalRecord) -> io::Result<()> {
        self.append_all(std::slice::from_ref(record))
    }

    /// Appends records, one line each, and makes them durable with one sync.
    pub fn append_all(&mut self, records: &[JournalRecord]) -> io::Result<()> {
        let mut lines = Vec::new();
        for r in records {
            serde_json::to_writer(&mut lines, r)?;
            lines.push(b'\n');
        }
        self.file.write_all(&lines)?;
        self.file.sync_data()
    }
}
