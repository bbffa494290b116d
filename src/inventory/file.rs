//! The inventory file: zstd-compressed JSON (plain JSON is read too), bounded on reading.

use std::fs;
use std::io::Read;
use std::path::Path;

use super::{Inventory, InventoryError, INVENTORY_FORMAT};

/// The largest inventory JSON read (uncompressed): a mirror of a million blobs fits.
pub const MAX_INVENTORY_LEN: u64 = 512 * 1024 * 1024;
const ZSTD_MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];

/// Writes `inventory` to `path` (zstd level 19, via a temporary file renamed into place);
/// returns the file's size.
pub fn write(inventory: &Inventory, path: &Path) -> Result<u64, InventoryError> {
    let io = |source| InventoryError::Io {
        path: path.to_path_buf(),
        source,
    };
    let json = inventory.to_json();
    let packed = zstd::bulk::compress(&json, 19).map_err(io)?;
    let tmp = path.with_extension("ferry-tmp");
    fs::write(&tmp, &packed).map_err(io)?;
    fs::rename(&tmp, path).map_err(io)?;
    Ok(packed.len() as u64)
}

/// Reads an inventory written by [`write`] (or plain JSON), checking its format.
pub fn read(path: &Path) -> Result<Inventory, InventoryError> {
    let io = |source| InventoryError::Io {
        path: path.to_path_buf(),
        source,
    };
    let malformed = |reason: String| InventoryError::Malformed {
        path: path.to_path_buf(),
        reason,
    };
    let mut file = fs::File::open(path).map_err(io)?;
    let mut head = [0u8; 4];
    let n = file.read(&mut head).map_err(io)?;
    let rest = head[..n].chain(file);
    let mut json = Vec::new();
    if n == 4 && head == ZSTD_MAGIC {
        zstd::stream::read::Decoder::new(rest)
            .map_err(io)?
            .take(MAX_INVENTORY_LEN + 1)
            .read_to_end(&mut json)
            .map_err(|e| malformed(format!("its zstd stream is damaged: {e}")))?;
    } else {
        rest.take(MAX_INVENTORY_LEN + 1)
            .read_to_end(&mut json)
            .map_err(io)?;
    }
    if json.len() as u64 > MAX_INVENTORY_LEN {
        return Err(malformed(format!(
            "it is larger than {MAX_INVENTORY_LEN} bytes"
        )));
    }
    #[derive(serde::Deserialize)]
    struct FormatOnly {
        format: String,
    }
    let f: FormatOnly =
        serde_json::from_slice(&json).map_err(|e| malformed(format!("not JSON: {e}")))?;
    if f.format != INVENTORY_FORMAT {
        return Err(malformed(format!(
            "its format is {:?}; this ferry reads {INVENTORY_FORMAT:?}",
            f.format
        )));
    }
    serde_json::from_slice(&json).map_err(|e| malformed(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::super::{InventoryBlob, InventorySource, Listing};
    use super::*;
    use crate::model::Digest;

    fn sample() -> Inventory {
        let mut inv = Inventory::new(
            InventorySource {
                listing: Listing::Catalog,
                registry: Some("registry.local:5000".into()),
                prefix: Some("mirror".into()),
                flattened: false,
                bundles: vec![],
            },
            1_700_000_000,
        );
        inv.blobs.push(InventoryBlob {
            digest: Digest::sha256_of(b"layer"),
            size: 5,
            media_type: "application/vnd.oci.image.layer.v1.tar+gzip".into(),
        });
        inv
    }

    #[test]
    fn an_inventory_round_trips_through_its_file_and_keeps_its_digest() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("site.inventory");
        let inv = sample();
        write(&inv, &path).unwrap();
        let back = read(&path).unwrap();
        assert_eq!(back, inv);
        assert_eq!(back.digest(), inv.digest());
        assert_eq!(&fs::read(&path).unwrap()[..4], &ZSTD_MAGIC);
        // Plain JSON is read too.
        fs::write(&path, inv.to_json()).unwrap();
        assert_eq!(read(&path).unwrap(), inv);
    }

    #[test]
    fn another_format_or_damage_is_refused_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x");
        let mut v: serde_json::Value = serde_json::from_slice(&sample().to_json()).unwrap();
        v["format"] = "ferry-inventory/9".into();
        fs::write(&path, serde_json::to_vec(&v).unwrap()).unwrap();
        let e = read(&path).unwrap_err().to_string();
        assert!(
            e.contains("ferry-inventory/9") && e.contains("x is not"),
            "{e}"
        );
        let mut z = zstd::bulk::compress(&sample().to_json(), 3).unwrap();
        let n = z.len();
        z.truncate(n - 6);
        fs::write(&path, z).unwrap();
        assert!(read(&path).is_err());
    }
}
