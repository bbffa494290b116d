//! Analysis: a gzip layer in, its uncompressed content out to a sink, and its [`Recipe`].

use std::io::{Read, Write};
use std::panic::{catch_unwind, AssertUnwindSafe};

use preflate_rs::{ExitCode, PreflateConfig, PreflateStreamProcessor};

use super::gzip::{check_end, fill, read_header, read_trailer, short_read};
use super::recipe::{Recipe, RecipePiece, ENGINE};
use super::{RegenError, MAX_TAR_SIZE, PIECE_PLAIN_LIMIT};
use crate::model::{DigestAlgorithm, DigestingReader, Hasher};

/// How much compressed input is buffered for one analysis step, at first (64 MiB): enough that
/// a piece usually ends at [`PIECE_PLAIN_LIMIT`] rather than at the end of the buffered input
/// (gzip layers are 2-4x smaller than their tar), because every piece boundary is a chance for
/// the engine's continuation to fail (measured in docs/performance.md before 2026-11-30; see
/// its git history).
const INPUT_STEP: usize = 64 << 20;
/// The most compressed input buffered when a single DEFLATE block is larger than a step.
const INPUT_MAX: usize = 256 << 20;

/// The engine's configuration, the same for every analysis: the chain-depth limit is the
/// patched estimator's (vendor/preflate-rs/FERRY.md), and the engine's own verification is off
/// because every recipe is proven by a full rebuild against the layer digest.
fn config(plain_text_limit: usize) -> PreflateConfig {
    PreflateConfig {
        max_chain_length: 65535,
        plain_text_limit,
        verify_compression: false,
    }
}

/// Analyses the gzip layer `gz`: writes its uncompressed content to `tar_sink` as it goes and
/// returns the recipe that rebuilds the exact layer bytes from that content.
///
/// Refused (the caller ships the whole blob): anything not gzip ([`RegenError::NotGzip`], a
/// zstd layer for one), a gzip stream of several members ([`RegenError::MultiMember`]), content
/// over [`MAX_TAR_SIZE`], and any piece of the DEFLATE stream the engine cannot model
/// ([`RegenError::Engine`], naming the offset). The recipe is not proven here: see
/// [`super::prove`].
pub fn analyze(gz: impl Read, tar_sink: impl Write) -> Result<Recipe, RegenError> {
    analyze_in_pieces(gz, tar_sink, PIECE_PLAIN_LIMIT, INPUT_STEP)
}

/// [`analyze`] with pieces of at most `plain_limit` uncompressed bytes, reading compressed
/// input `step` bytes at a time (small values let the tests make many pieces of little data).
pub(super) fn analyze_in_pieces(
    gz: impl Read,
    mut tar_sink: impl Write,
    plain_limit: usize,
    step: usize,
) -> Result<Recipe, RegenError> {
    let mut input = DigestingReader::new(gz, DigestAlgorithm::Sha256);
    let header = read_header(&mut input)?;
    let mut processor = PreflateStreamProcessor::new(&config(plain_limit));
    let mut tar_hash = Hasher::new(DigestAlgorithm::Sha256);
    let mut pending: Vec<u8> = Vec::new();
    let mut step = step;
    let mut eof = false;
    let mut tar_size = 0u64;
    let mut pieces = Vec::new();
    while !processor.is_done() {
        if pending.len() < step && !eof {
            eof = fill(&mut input, &mut pending, step)?;
        }
        let result = catch_unwind(AssertUnwindSafe(|| processor.decompress(&pending)));
        let chunk = match result {
            Ok(Ok(chunk)) => chunk,
            Ok(Err(e)) if e.exit_code() == ExitCode::ShortRead => {
                short_read(eof, pending.len(), &mut step, INPUT_MAX, tar_size)?;
                continue;
            }
            Ok(Err(e)) => return Err(engine(tar_size, &e.to_string())),
            Err(_) => return Err(engine(tar_size, "the engine panicked")),
        };
        let text = processor.plain_text().text();
        tar_size += text.len() as u64;
        if tar_size > MAX_TAR_SIZE {
            return Err(RegenError::TooLarge);
        }
        tar_hash.update(text);
        tar_sink.write_all(text)?;
        pieces.push(RecipePiece {
            plain_len: text.len() as u64,
            data: chunk.corrections,
        });
        pending.drain(..chunk.compressed_size);
        processor.shrink_to_dictionary();
    }
    tar_sink.flush()?;
    // The trailer follows the last deflate byte; some of it may already be buffered.
    let (trailer, rest) = read_trailer(&pending, &mut input)?;
    let (layer_digest, layer_size) = input.finish();
    check_end(&trailer, rest, layer_size, tar_size)?;
    Ok(Recipe {
        engine: ENGINE.to_string(),
        layer_digest,
        layer_size,
        tar_digest: tar_hash.finish(),
        tar_size,
        header,
        trailer,
        pieces,
    })
}

fn engine(offset: u64, message: &str) -> RegenError {
    RegenError::Engine {
        offset,
        message: message.to_string(),
    }
}
