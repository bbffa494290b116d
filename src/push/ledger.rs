//! Which blobs this push has already put where, so that parallel images upload a shared blob
//! once and mount it everywhere else.

use std::collections::HashMap;
use std::sync::{Condvar, Mutex};

use crate::model::Digest;

enum State {
    InProgress,
    Done(String),
    Failed,
}

/// What a caller should do about a blob.
pub(super) enum Claim {
    /// Nobody has it: upload it, then call `done` or `failed`.
    Mine,
    /// It is in this repository of the target: mount from there.
    DoneIn(String),
    /// Uploading it failed for another image.
    Failed,
}

/// Blob states shared by the push workers.
#[derive(Default)]
pub(super) struct Ledger {
    states: Mutex<HashMap<Digest, State>>,
    changed: Condvar,
}

impl Ledger {
    /// Claims a blob, waiting while another worker uploads it.
    pub fn claim(&self, d: &Digest) -> Claim {
        let mut g = self.states.lock().expect("lock");
        loop {
            match g.get(d) {
                None => {
                    g.insert(d.clone(), State::InProgress);
                    return Claim::Mine;
                }
                Some(State::InProgress) => g = self.changed.wait(g).expect("lock"),
                Some(State::Done(repo)) => return Claim::DoneIn(repo.clone()),
                Some(State::Failed) => return Claim::Failed,
            }
        }
    }

    /// Whether another worker is uploading the blob right now (so that a caller can do other
    /// work first instead of waiting in [`Ledger::claim`]).
    pub fn busy(&self, d: &Digest) -> bool {
        matches!(
            self.states.lock().expect("lock").get(d),
            Some(State::InProgress)
        )
    }

    /// The blob is now in `repo`.
    pub fn done(&self, d: &Digest, repo: &str) {
        let mut g = self.states.lock().expect("lock");
        if !matches!(g.get(d), Some(State::Done(_))) {
            g.insert(d.clone(), State::Done(repo.to_string()));
        }
        self.changed.notify_all();
    }

    /// Uploading the blob failed.
    pub fn failed(&self, d: &Digest) {
        self.states
            .lock()
            .expect("lock")
            .insert(d.clone(), State::Failed);
        self.changed.notify_all();
    }

    /// Forget where the blob is (a mount was refused), so the next claim uploads it.
    pub fn forget(&self, d: &Digest) {
        let mut g = self.states.lock().expect("lock");
        if matches!(g.get(d), Some(State::Done(_))) {
            g.remove(d);
        }
        self.changed.notify_all();
    }
}
