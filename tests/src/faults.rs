//! Injected key-value failures, switchable while the host runs.

use std::sync::{Arc, Mutex};

/// The fault switch of one host: makes key-value calls fail with
/// `other("injected fault")`. Clones share the switch.
///
/// Every key-value call counts except `open` and resource drops (Spin's
/// `open` does no I/O on SQLite).
#[derive(Clone, Default)]
pub struct Faults(Arc<Mutex<State>>);

#[derive(Default)]
struct State {
    next: u64,
    probability: f64,
    rng: fastrand::Rng,
    injected: u64,
    calls: u64,
    writes: u64,
}

impl Faults {
    /// The next `n` key-value calls fail (added to any already pending).
    pub fn fail_next(&self, n: u64) {
        self.lock().next += n;
    }

    /// Every key-value call fails with probability `p` (0 to 1), drawn from a
    /// generator seeded with `seed`, so a failing run can be replayed.
    pub fn fail_with_probability(&self, p: f64, seed: u64) {
        let mut s = self.lock();
        s.probability = p.clamp(0.0, 1.0);
        s.rng = fastrand::Rng::with_seed(seed);
    }

    /// Stops injecting faults (pending `fail_next` ones included).
    pub fn clear(&self) {
        let mut s = self.lock();
        s.next = 0;
        s.probability = 0.0;
    }

    /// How many calls have failed by injection so far.
    pub fn injected(&self) -> u64 {
        self.lock().injected
    }

    /// How many key-value calls were made so far (the same calls that can
    /// fail): what a request costs the store.
    pub fn calls(&self) -> u64 {
        self.lock().calls
    }

    /// How many of those calls were writes (`set`, `delete`, the batches,
    /// `increment`, `swap`): each is a commit on Spin's SQLite store.
    pub fn writes(&self) -> u64 {
        self.lock().writes
    }

    pub(crate) fn count_write(&self) {
        self.lock().writes += 1;
    }

    pub(crate) fn should_fail(&self) -> bool {
        let mut s = self.lock();
        s.calls += 1;
        let fail = if s.next > 0 {
            s.next -= 1;
            true
        } else if s.probability > 0.0 {
            let draw = s.rng.f64();
            draw < s.probability
        } else {
            false
        };
        if fail {
            s.injected += 1;
        }
        fail
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panicking test thread must not disable the switch for the rest.
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}
