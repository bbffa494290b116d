//! Tests of the bundle writer's group commits.

use super::*;
use crate::bundle::journal::Journal;

fn blob(i: u32) -> (Digest, Vec<u8>) {
    let data = format!("blob {i}").into_bytes();
    (Digest::sha256_of(&data), data)
}

/// Stores `n` one-chunk blobs; returns the writer.
fn store(dir: &Path, n: u32) -> BundleWriter {
    let (mut w, resumed) = BundleWriter::open(dir, "plan", None).unwrap();
    assert_eq!(resumed.blobs_done, 0);
    let mt = MediaType::from("application/octet-stream");
    for i in 0..n {
        let (d, data) = blob(i);
        let c = w
            .add_chunk(&d, data.len() as u64, Compression::None, &data)
            .unwrap();
        w.finish_blob(&d, data.len() as u64, &mt, vec![c]).unwrap();
    }
    w
}

/// Issue 16: thousands of small blobs are made durable in groups, not with two syncs each.
#[test]
fn issue16_small_blobs_are_committed_in_groups() {
    let dir = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let n = 1000;
    let w = store(dir.path(), n);
    // By count, at most one commit per COMMIT_BLOBS blobs; the time bound may add one a second.
    let bound = n as usize / COMMIT_BLOBS + 1 + started.elapsed().as_secs() as usize;
    assert!(
        w.commits() <= bound,
        "{} commits for {n} blobs (bound {bound})",
        w.commits()
    );
    assert!(w.commits() >= n as usize / COMMIT_BLOBS);
}

/// A writer dropped without finishing (a pack that stopped on an error) leaves every completed
/// blob in the journal, and a rerun resumes after all of them.
#[test]
fn dropped_writer_journals_every_completed_blob() {
    let dir = tempfile::tempdir().unwrap();
    let n = COMMIT_BLOBS as u32 + 10;
    drop(store(dir.path(), n));
    let (_, records) = Journal::load(&dir.path().join(STAGING_DIR))
        .unwrap()
        .unwrap();
    assert_eq!(records.len(), n as usize);
    let (w, resumed) = BundleWriter::open(dir.path(), "plan", None).unwrap();
    assert_eq!(resumed.blobs_done, n as usize);
    for i in 0..n {
        assert!(w.has_blob(&blob(i).0));
    }
}

/// Issue 16: commits are made durable on the syncer's thread; once it has caught up, the
/// journal holds every committed blob, in order, while the writer is still open.
#[test]
fn issue16_background_commits_reach_the_journal() {
    let dir = tempfile::tempdir().unwrap();
    let n = 40;
    let mut w = store(dir.path(), n);
    let staging = dir.path().join(STAGING_DIR);
    w.commit().unwrap();
    w.syncer.wait().unwrap();
    let (_, records) = Journal::load(&staging).unwrap().unwrap();
    assert_eq!(records.len(), n as usize);
    for (i, r) in records.iter().enumerate() {
        assert_eq!(r.blob.digest, blob(i as u32).0, "record {i} out of order");
    }
}

/// Issue 13: the data cap lowered once the layers carried as changes are known applies to the
/// volumes written after, and is refused when a volume already holds more; a reason noted
/// for a layer lands on its entry.
#[test]
fn a_lowered_data_cap_rolls_volumes_earlier_and_a_noted_reason_lands_on_the_blob() {
    let dir = tempfile::tempdir().unwrap();
    let (mut w, _) = BundleWriter::open(dir.path(), "plan", Some(1000)).unwrap();
    let mt = MediaType::from("application/vnd.oci.image.layer.v1.tar+zstd");
    let (d, _) = blob(0);
    w.add_chunk(&d, 600, Compression::None, &[0u8; 600])
        .unwrap();
    assert_eq!(w.lower_data_cap(500), Err(600));
    assert_eq!(w.lower_data_cap(700), Ok(()));
    w.note_whole(
        &d,
        WholeLayer::new(crate::bundle::WholeCode::NotGzip, "zstd"),
    );
    w.finish_blob(&d, 600, &mt, vec![0]).unwrap();
    let (d2, _) = blob(1);
    // 600 + 200 fits the first cap but not the lowered one: a second volume.
    w.add_chunk(&d2, 200, Compression::None, &[1u8; 200])
        .unwrap();
    assert_eq!(w.done_volumes, vec![600]);
    assert_eq!(w.lower_data_cap(900), Ok(()));
    assert_eq!(w.data_cap, Some(700), "never raised");
    let b = w.blobs().next().unwrap();
    assert_eq!(b.whole.as_ref().unwrap().detail, "zstd");
    assert!(!w.is_gzip_tar(&d));
}
