//! Volume files: the tar layout of one volume (bundle-format/SPEC.md §3).
//!
//! ```text
//! offset 0    GNU tar header of `ferry-data`
//! offset 512  stored chunks, back to back, then zero padding to 512
//!             `volume.json`, `root.json`, `root.json.minisig` (tar members)
//!             two zero blocks (end of archive)
//! ```

use std::fs::File;
use std::io::{self, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::model::Digest;

/// Name of the data member, always the first member of a volume.
pub const DATA_MEMBER: &str = "ferry-data";
/// Name of the per-volume label member.
pub const LABEL_MEMBER: &str = "volume.json";
/// Name of the root member.
pub const ROOT_MEMBER: &str = "root.json";
/// Name of the signature member.
pub const SIG_MEMBER: &str = "root.json.minisig";
/// Where the data of the first member starts.
pub const DATA_OFFSET: u64 = 512;
/// Largest root.json a reader accepts (and a writer writes): 256 MiB holds the chunk list of
/// well over a terabyte of unique content. It is read before its signature is checked, so it
/// must be bounded.
pub const MAX_ROOT_LEN: u64 = 256 << 20;
/// Largest `volume.json` a reader accepts: a label is under 200 bytes.
pub const MAX_LABEL_LEN: u64 = 4096;
/// Largest `root.json.minisig` a reader accepts: a signature file is a few hundred bytes, its
/// trusted comment at most 8 KiB.
pub const MAX_SIGNATURE_LEN: u64 = crate::sign::MAX_SIGNATURE_FILE_LEN as u64;
/// File name suffix of a complete volume.
pub const VOLUME_SUFFIX: &str = ".tar";

/// Problems with one volume file.
#[derive(Debug, thiserror::Error)]
pub enum VolumeError {
    /// Reading or writing failed.
    #[error("{path}")]
    Io {
        /// The volume file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// The file is not a ferry volume at all (its first block is no `ferry-data` tar header):
    /// a reader skips it.
    #[error("{path} is not a ferry volume: {reason}")]
    NotAVolume {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// A ferry volume whose trailer is not what the format allows: a member missing, out of
    /// order or unreadable, or an entry the format does not know.
    #[error("{path}: {reason}; copy the volume again from the original media")]
    Malformed {
        /// The file.
        path: PathBuf,
        /// What is wrong, naming the entry and its offset.
        reason: String,
    },
    /// A tar header's checksum does not match.
    #[error("{path}: tar header at offset {offset} is damaged (checksum mismatch); the volume must be copied again")]
    DamagedHeader {
        /// The file.
        path: PathBuf,
        /// Offset of the header.
        offset: u64,
    },
    /// The file ends early.
    #[error("{path} is truncated: {reason}; copy the volume again from the original media")]
    Truncated {
        /// The file.
        path: PathBuf,
        /// What is missing.
        reason: String,
    },
}

/// The per-volume label, `volume.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VolumeLabel {
    /// Format version of the bundle.
    pub format: String,
    /// The bundle this volume belongs to.
    pub bundle_id: String,
    /// 1-based volume number.
    pub volume: u32,
    /// How many volumes the bundle has.
    pub volume_count: u32,
    /// Digest of the root.json this volume carries.
    pub root_digest: Digest,
}

/// What the end of a volume carries.
#[derive(Debug, Clone)]
pub struct VolumeTrailer {
    /// The file.
    pub path: PathBuf,
    /// Length of the data member.
    pub data_size: u64,
    /// The label.
    pub label: VolumeLabel,
    /// Exact bytes of root.json (empty once a reader has dropped them: only one copy of a
    /// bundle's root is kept, the others are compared by digest).
    pub root: Vec<u8>,
    /// The digest of the `root.json` member's bytes, computed as they were read.
    pub root_digest: Digest,
    /// Text of root.json.minisig.
    pub signature: String,
}

/// The file name of volume `index` of `count` in bundle `bundle_id` (its first 12 characters,
/// whatever they are).
pub fn volume_file_name(bundle_id: &str, index: u32, count: u32) -> String {
    let short: String = bundle_id.chars().take(12).collect();
    format!("ferry-{short}-{index:03}-of-{count:03}{VOLUME_SUFFIX}")
}

/// Whether `id` has the form of a bundle id: 32 lower-case hex digits (SPEC.md §2).
pub fn is_bundle_id(id: &str) -> bool {
    id.len() == 32 && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

fn pad512(n: u64) -> u64 {
    n.div_ceil(512) * 512
}

/// Bytes a volume needs besides its data: headers, padding, label, root, signature and the end
/// of archive, for a root of `root_len` bytes and a signature of `sig_len` bytes.
pub fn overhead(root_len: u64, sig_len: u64) -> u64 {
    const LABEL_MAX: u64 = 512; // a label is far below 512 bytes
    512 + 511 + (512 + LABEL_MAX) + (512 + pad512(root_len)) + (512 + pad512(sig_len)) + 1024
}

fn header(name: &str, size: u64, mtime: u64) -> io::Result<tar::Header> {
    let mut h = tar::Header::new_gnu();
    h.set_path(name)?;
    h.set_size(size);
    h.set_mode(0o644);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(mtime);
    h.set_entry_type(tar::EntryType::Regular);
    h.set_cksum();
    Ok(h)
}

/// Writes the data of one volume, then its trailer.
pub struct VolumeWriter {
    path: PathBuf,
    out: BufWriter<File>,
    data_len: u64,
}

impl VolumeWriter {
    /// Creates (or truncates) `path` and leaves room for the data member's header.
    pub fn create(path: &Path) -> Result<Self, VolumeError> {
        let io_err = |source| VolumeError::Io {
            path: path.to_path_buf(),
            source,
        };
        let mut f = File::create(path).map_err(io_err)?;
        f.write_all(&[0u8; 512]).map_err(io_err)?;
        Ok(VolumeWriter {
            path: path.to_path_buf(),
            out: BufWriter::with_capacity(1 << 20, f),
            data_len: 0,
        })
    }

    /// Reopens a partly written volume whose data is known good up to `data_len` bytes,
    /// dropping anything after it (a resumed pack).
    pub fn reopen(path: &Path, data_len: u64) -> Result<Self, VolumeError> {
        let io_err = |source| VolumeError::Io {
            path: path.to_path_buf(),
            source,
        };
        let mut f = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .map_err(io_err)?;
        let have = f.metadata().map_err(io_err)?.len();
        if have < DATA_OFFSET + data_len {
            return Err(VolumeError::Truncated {
                path: path.to_path_buf(),
                reason: format!(
                    "expected at least {} bytes, found {have}",
                    DATA_OFFSET + data_len
                ),
            });
        }
        f.set_len(DATA_OFFSET + data_len).map_err(io_err)?;
        f.seek(SeekFrom::End(0)).map_err(io_err)?;
        Ok(VolumeWriter {
            path: path.to_path_buf(),
            out: BufWriter::with_capacity(1 << 20, f),
            data_len,
        })
    }

    /// The file being written.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Bytes of data written so far.
    pub fn data_len(&self) -> u64 {
        self.data_len
    }

    /// Appends stored chunk bytes and returns their offset within the data member.
    pub fn append(&mut self, bytes: &[u8]) -> Result<u64, VolumeError> {
        let at = self.data_len;
        self.out
            .write_all(bytes)
            .map_err(|source| VolumeError::Io {
                path: self.path.clone(),
                source,
            })?;
        self.data_len += bytes.len() as u64;
        Ok(at)
    }

    /// Flushes data to the file and to disk (a resume point).
    pub fn sync(&mut self) -> Result<(), VolumeError> {
        let path = self.path.clone();
        self.out
            .flush()
            .and_then(|_| self.out.get_ref().sync_data())
            .map_err(|source| VolumeError::Io { path, source })
    }

    /// Writes what is buffered into the file and returns its path and a second handle to it,
    /// for a sync on another thread (everything written so far is in the file).
    pub fn flushed_file(&mut self) -> Result<(PathBuf, File), VolumeError> {
        let path = self.path.clone();
        self.out
            .flush()
            .and_then(|_| self.out.get_ref().try_clone())
            .map(|f| (path.clone(), f))
            .map_err(|source| VolumeError::Io { path, source })
    }

    /// Writes the data member's header and the trailer members, ending the archive.
    pub fn finish(
        mut self,
        label: &VolumeLabel,
        root: &[u8],
        signature: &str,
        mtime: u64,
    ) -> Result<u64, VolumeError> {
        let path = self.path.clone();
        let io_err = |source| VolumeError::Io {
            path: path.clone(),
            source,
        };
        self.out.flush().map_err(io_err)?;
        let mut f = self.out.into_inner().map_err(|e| io_err(e.into_error()))?;
        // A finish may be repeated (a resumed pack that stopped while finishing).
        f.set_len(DATA_OFFSET + self.data_len).map_err(io_err)?;
        let h = header(DATA_MEMBER, self.data_len, mtime).map_err(io_err)?;
        f.seek(SeekFrom::Start(0)).map_err(io_err)?;
        f.write_all(h.as_bytes()).map_err(io_err)?;
        f.seek(SeekFrom::Start(DATA_OFFSET + self.data_len))
            .map_err(io_err)?;
        let pad = pad512(self.data_len) - self.data_len;
        f.write_all(&vec![0u8; pad as usize]).map_err(io_err)?;
        let mut b = tar::Builder::new(BufWriter::new(f));
        let label_json = serde_json::to_vec(label).expect("label serialises");
        for (name, data) in [
            (LABEL_MEMBER, &label_json[..]),
            (ROOT_MEMBER, root),
            (SIG_MEMBER, signature.as_bytes()),
        ] {
            let mut h = header(name, data.len() as u64, mtime).map_err(io_err)?;
            b.append_data(&mut h, name, data).map_err(io_err)?;
        }
        let w = b.into_inner().map_err(io_err)?;
        let f = w.into_inner().map_err(|e| io_err(e.into_error()))?;
        f.sync_all().map_err(io_err)?;
        let len = f.metadata().map_err(io_err)?.len();
        Ok(len)
    }
}

fn checksum_ok(block: &[u8; 512]) -> bool {
    let h = tar::Header::from_byte_slice(block);
    let stored = match h.cksum() {
        Ok(c) => c,
        Err(_) => return false,
    };
    let sum: u32 = block
        .iter()
        .enumerate()
        .map(|(i, &b)| {
            if (148..156).contains(&i) {
                32
            } else {
                b as u32
            }
        })
        .sum();
    sum == stored
}

/// Whether a header block carries the tar magic (`ustar`), so that a bad checksum means a
/// damaged header rather than a file that is no tar at all.
fn has_tar_magic(block: &[u8; 512]) -> bool {
    &block[257..262] == b"ustar"
}

/// A tar entry type, in words.
fn entry_kind(h: &tar::Header) -> String {
    use tar::EntryType as T;
    match h.entry_type() {
        T::Regular | T::Continuous => "file".into(),
        T::Link => "hard link".into(),
        T::Symlink => "symbolic link".into(),
        T::Directory => "directory".into(),
        T::Char | T::Block | T::Fifo => "device or fifo".into(),
        T::GNULongName | T::GNULongLink => "GNU long name".into(),
        T::XHeader | T::XGlobalHeader => "pax header".into(),
        other => format!("entry type {:?}", other.as_byte() as char),
    }
}

/// The members of a volume's trailer, in the order the format prescribes.
const TRAILER_MEMBERS: [&str; 3] = [LABEL_MEMBER, ROOT_MEMBER, SIG_MEMBER];

/// Reads the data member's header and the trailer of a volume file. The tar structure must be
/// exactly the format's: `ferry-data`, `volume.json`, `root.json`, `root.json.minisig` (regular
/// files), two zero blocks, and nothing after them.
pub fn read_trailer(path: &Path) -> Result<VolumeTrailer, VolumeError> {
    let io_err = |source| VolumeError::Io {
        path: path.to_path_buf(),
        source,
    };
    let truncated = |reason: String| VolumeError::Truncated {
        path: path.to_path_buf(),
        reason,
    };
    let malformed = |reason: String| VolumeError::Malformed {
        path: path.to_path_buf(),
        reason,
    };
    let not_a_volume = |reason: &str| VolumeError::NotAVolume {
        path: path.to_path_buf(),
        reason: reason.to_string(),
    };
    let mut f = File::open(path).map_err(io_err)?;
    let len = f.metadata().map_err(io_err)?.len();
    let mut block = [0u8; 512];
    if len == 0 {
        return Err(not_a_volume("it is empty"));
    }
    if len < 512 {
        return Err(not_a_volume(&format!(
            "it is {len} bytes, shorter than one tar header"
        )));
    }
    f.read_exact(&mut block).map_err(io_err)?;
    if !checksum_ok(&block) {
        if block.iter().all(|&b| b == 0) {
            return Err(not_a_volume(
                "it starts with an empty tar block (an unfinished pack?)",
            ));
        }
        if !has_tar_magic(&block) {
            return Err(not_a_volume("it is not a tar file"));
        }
        return Err(VolumeError::DamagedHeader {
            path: path.to_path_buf(),
            offset: 0,
        });
    }
    let h = tar::Header::from_byte_slice(&block);
    let name = h.path_bytes();
    if &name[..] != DATA_MEMBER.as_bytes() {
        return Err(not_a_volume(&format!(
            "it is a tar file whose first member is {:?}, not {DATA_MEMBER}",
            String::from_utf8_lossy(&name)
        )));
    }
    if !h.entry_type().is_file() {
        return Err(malformed(format!(
            "{DATA_MEMBER} at offset 0 is a {}, not a file",
            entry_kind(h)
        )));
    }
    let data_size = h.entry_size().map_err(io_err)?;
    // The size comes from the file: compare before any arithmetic on it.
    if data_size > len {
        return Err(truncated(format!(
            "its data member is {data_size} bytes but the file ends at {len}"
        )));
    }
    let trailer_at = DATA_OFFSET + pad512(data_size);
    if len < trailer_at + 3 * 512 {
        return Err(truncated(format!(
            "its data member is {data_size} bytes but the file ends at {len}"
        )));
    }
    f.seek(SeekFrom::Start(trailer_at)).map_err(io_err)?;
    let mut members: Vec<Vec<u8>> = Vec::new();
    let mut offset = trailer_at;
    let read_block = |f: &mut File, offset: u64, what: &str| {
        let mut block = [0u8; 512];
        match f.read_exact(&mut block) {
            Ok(()) => Ok(block),
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Err(truncated(format!(
                "the file ends inside its {what} at offset {offset}"
            ))),
            Err(e) => Err(io_err(e)),
        }
    };
    loop {
        let block = read_block(&mut f, offset, "trailer")?;
        if block.iter().all(|&b| b == 0) {
            break;
        }
        if !checksum_ok(&block) {
            return Err(VolumeError::DamagedHeader {
                path: path.to_path_buf(),
                offset,
            });
        }
        let h = tar::Header::from_byte_slice(&block);
        let size = h.entry_size().map_err(io_err)?;
        let name = String::from_utf8_lossy(&h.path_bytes()).into_owned();
        let expected = TRAILER_MEMBERS.get(members.len());
        if expected != Some(&name.as_str()) || !h.entry_type().is_file() {
            return Err(malformed(format!(
                "unexpected tar entry {name:?} ({}) at offset {offset}: {}",
                entry_kind(h),
                match expected {
                    Some(e) => format!("{e} belongs there"),
                    None => format!(
                        "a volume ends after {SIG_MEMBER}; it holds only {DATA_MEMBER}, {}",
                        TRAILER_MEMBERS.join(", ")
                    ),
                }
            )));
        }
        // Nothing here is signed yet: every member is read with a bound of its own.
        let limit = match members.len() {
            0 => MAX_LABEL_LEN,
            1 => MAX_ROOT_LEN,
            _ => MAX_SIGNATURE_LEN,
        };
        if size > limit {
            return Err(malformed(format!(
                "member {name} at offset {offset} is {size} bytes, more than the {limit} bytes \
                 it may have"
            )));
        }
        if offset + 512 + size > len {
            return Err(truncated(format!(
                "member {name} at {offset} runs past the end"
            )));
        }
        let mut data = vec![0u8; size as usize];
        f.read_exact(&mut data).map_err(io_err)?;
        let skip = pad512(size) - size;
        f.seek(SeekFrom::Current(skip as i64)).map_err(io_err)?;
        offset += 512 + pad512(size);
        members.push(data);
    }
    if members.len() < TRAILER_MEMBERS.len() {
        return Err(malformed(format!(
            "member {} is missing (the archive ends at offset {offset})",
            TRAILER_MEMBERS[members.len()]
        )));
    }
    // The end of archive is two zero blocks, and the file ends there.
    let second = read_block(&mut f, offset + 512, "end-of-archive blocks")?;
    if second.iter().any(|&b| b != 0) {
        return Err(malformed(format!(
            "the end-of-archive block at offset {} is not zero",
            offset + 512
        )));
    }
    let end = offset + 1024;
    if len > end {
        let mut next = [0u8; 512];
        let n = len - end;
        let what = if len >= end + 512 && f.read_exact(&mut next).is_ok() && checksum_ok(&next) {
            let h = tar::Header::from_byte_slice(&next);
            format!(
                "a tar entry {:?} ({}, {n} bytes in all)",
                String::from_utf8_lossy(&h.path_bytes()),
                entry_kind(h)
            )
        } else {
            format!("{n} bytes")
        };
        return Err(malformed(format!(
            "{what} after the end of the archive at offset {end}: a volume ends there"
        )));
    }
    let mut members = members.into_iter();
    let (label, root, signature) = (
        members.next().unwrap_or_default(),
        members.next().unwrap_or_default(),
        members.next().unwrap_or_default(),
    );
    let label: VolumeLabel = serde_json::from_slice(&label)
        .map_err(|e| malformed(format!("{LABEL_MEMBER} does not parse: {e}")))?;
    if !is_bundle_id(&label.bundle_id) {
        return Err(malformed(format!(
            "{LABEL_MEMBER} names bundle {:?}, which is not a bundle id (32 lower-case hex \
             digits)",
            label.bundle_id
        )));
    }
    if label.volume == 0 || label.volume > label.volume_count {
        return Err(malformed(format!(
            "{LABEL_MEMBER} says volume {} of {}",
            label.volume, label.volume_count
        )));
    }
    let root_digest = Digest::sha256_of(&root);
    let signature =
        String::from_utf8(signature).map_err(|_| malformed(format!("{SIG_MEMBER} is not text")))?;
    Ok(VolumeTrailer {
        path: path.to_path_buf(),
        data_size,
        label,
        root,
        root_digest,
        signature,
    })
}

/// One volume file of a bundle, as found on disk.
#[derive(Debug, Clone)]
pub struct VolumeFile {
    /// The file.
    pub path: PathBuf,
    /// Its 1-based number.
    pub index: u32,
    /// Length of its data member.
    pub data_size: u64,
}
