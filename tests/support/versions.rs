//! Versions N and N+1 of a small image set (`ferry_fixtures::corpus`) with real gzip layers,
//! loaded into a source registry: what incremental bundles (`pack --base`) are made of.

use std::fs;
use std::path::Path;

use ferry_fixtures::corpus::plan::{Plan, Pool, Root, Version};
use ferry_fixtures::corpus::{self, Corpus};

use super::TestRegistry;

/// Three pools of text-like files (a stand-in for a machine's files, so that the test does not
/// depend on what is installed).
pub fn source_tree(dir: &Path, files: u32) -> Vec<Pool> {
    let mut pools = Vec::new();
    for (p, name) in ["lib", "usr", "opt"].iter().enumerate() {
        let root = dir.join(name);
        for f in 0..files {
            let sub = root.join(format!("d{}", f % 4));
            fs::create_dir_all(&sub).unwrap();
            let line = format!("pool {name} file {f}: words that repeat, as text does.\n");
            fs::write(
                sub.join(format!("f{f:03}.txt")),
                line.repeat(200 + (f as usize * 37) % 300),
            )
            .unwrap();
        }
        pools.push(Pool {
            name: name.to_string(),
            roots: vec![Root {
                host: root,
                image: format!("srv/{p}"),
                exclude: Vec::new(),
            }],
        });
    }
    pools
}

/// Pools of `files` files each of 4-12 KB of words drawn at random (deterministically): text
/// that compresses about as real files do, in layers of `kb` KB with a few files patched in
/// N+1 (a stand-in for a z-stream update).
pub fn varied_tree(dir: &Path, files: u32) -> Vec<Pool> {
    let pools = source_tree(dir, 0);
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for pool in &pools {
        let root = &pool.roots[0].host;
        for f in 0..files {
            let sub = root.join(format!("d{}", f % 8));
            fs::create_dir_all(&sub).unwrap();
            let mut text = String::new();
            while text.len() < 4096 + (f as usize * 997) % 8192 {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                text.push_str(&format!("w{} ", x % 3000));
                if x.is_multiple_of(11) {
                    text.push('\n');
                }
            }
            fs::write(sub.join(format!("v{f:04}.txt")), text).unwrap();
        }
    }
    pools
}

/// Versions N and N+1 of the tiny corpus, loaded into `source` (tags v1 and v2).
pub fn corpus_versions(dir: &Path, source: &TestRegistry) -> (Corpus, Corpus) {
    load_versions(
        dir,
        source,
        Plan::tiny(source_tree(&dir.join("src"), 60), 60),
    )
}

/// Versions N and N+1 of `plan`, loaded into `source` (tags v1 and v2).
pub fn load_versions(dir: &Path, source: &TestRegistry, plan: Plan) -> (Corpus, Corpus) {
    let out = dir.join("corpus");
    let n = corpus::build(&out, &plan, Version::N, 2, &|_| {}).unwrap();
    let n1 = corpus::build(&out, &plan, Version::Next, 2, &|_| {}).unwrap();
    corpus::load(&n, &source.host(), 2).unwrap();
    corpus::load(&n1, &source.host(), 2).unwrap();
    (n, n1)
}

pub fn lines(source: &TestRegistry, c: &Corpus) -> Vec<String> {
    c.images
        .iter()
        .map(|i| format!("{}/{}:{}", source.host(), i.repository, i.tag))
        .collect()
}
