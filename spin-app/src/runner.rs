//! Running attempts in the background of an invocation, and recovering the
//! ones nobody is running.
//!
//! A submit or retry claims its task before answering and then runs it in
//! the background (`spawn`, `sleep`). Spin drops background work on SIGTERM,
//! so nothing depends on it: a read of a task that is due, or whose lease
//! ran out, claims and runs it again, and every request may start a small
//! bounded sweep over the oldest unfinished tasks.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bgtasks_core::{Claim, Millis, Output, Sink, Task, work};

use crate::store::{Kv, StoreError, Swap, keys};

/// The wall clock, as the engine wants it.
pub fn now() -> Millis {
    let t = spin_sdk::wasip3::clocks::system_clock::now();
    let ms = t.seconds.max(0) as u64 * 1000 + u64::from(t.nanoseconds / 1_000_000);
    Millis(ms)
}

/// A lease token: random, so two instances never hand out the same one.
pub fn token() -> u64 {
    spin_sdk::wasip3::random::random::get_random_u64()
}

async fn sleep_until(at: Millis) {
    let wait = at.since(now());
    if wait > 0 {
        spin_sdk::time::sleep(Duration::from_millis(wait)).await;
    }
}

/// Claims `task` if a worker should act on it now, storing the claim with
/// compare-and-swap. Returns the stored task (claimed or as found) and the
/// claim when this caller won it.
pub async fn claim_if_due(kv: &Kv, task: Task) -> Result<(Task, Option<Claim>), StoreError> {
    let at = now();
    if task.due_at().is_none_or(|due| due > at) {
        return Ok((task, None));
    }
    let mut claimed = task.clone();
    let Ok(claim) = claimed.claim(at, token()) else {
        return Ok((task, None));
    };
    match kv.swap(&task, &claimed).await? {
        Swap::Won => Ok((claimed, Some(claim))),
        // Someone else moved it first: show what is there now.
        Swap::Lost => {
            let current = kv.load(task.id).await?.unwrap_or(task);
            Ok((current, None))
        }
    }
}

/// Runs a claimed attempt to its end, then any automatic retries the policy
/// grants, as long as this worker keeps winning its compare-and-swaps.
pub async fn run(mut task: Task, mut claim: Claim) {
    let Ok(kv) = Kv::open().await else { return };
    loop {
        sleep_until(claim.finishes_at).await;
        let at = now().max(claim.finishes_at);
        let mut outputs = StoreSink::default();
        let outcome = work::execute(&task, &claim, at, &mut outputs);
        // Outputs first, keyed by task id: a rerun rewrites the same key.
        for (key, contents) in &outputs.files {
            if kv.set(key, contents).await.is_err() {
                return; // the lease runs out and a later read retries
            }
        }
        let before = task.clone();
        if task.finish(at, claim.token, outcome).is_err() {
            return;
        }
        if !matches!(kv.swap(&before, &task).await, Ok(Swap::Won)) {
            return;
        }
        let Some(due) = task.next_attempt_at() else {
            return;
        };
        sleep_until(due).await;
        let Ok((claimed, Some(next))) = claim_if_due(&kv, task).await else {
            return;
        };
        task = claimed;
        claim = next;
    }
}

/// Starts `run` in the background of this invocation.
pub fn spawn_run(task: Task, claim: Claim) {
    spin_sdk::wasip3::spawn(run(task, claim));
}

#[derive(Default)]
struct StoreSink {
    files: Vec<(String, Vec<u8>)>,
}

impl Sink for StoreSink {
    fn emit(&mut self, output: Output<'_>) {
        // Notifications and reports are simulated: their record is the
        // task's result. Files are real outputs, read back over HTTP.
        if let Output::File { path, contents, .. } = output {
            self.files.push((path, contents));
        }
    }
}

/// How many positions one sweep looks at.
const SWEEP_SPAN: u64 = 16;
/// One sweep per instance per this many milliseconds at most.
const SWEEP_EVERY_MS: u64 = 1_000;

/// When this instance last swept. Instances are shared by chance between
/// requests: this only spreads the cost, it holds no truth.
static LAST_SWEEP: AtomicU64 = AtomicU64::new(0);

/// Starts a recovery sweep in the background unless this instance swept
/// recently: finds unfinished tasks that are due (or whose worker vanished)
/// among a few of the oldest positions and runs them.
pub fn maybe_sweep() {
    let at = now().0;
    let last = LAST_SWEEP.load(Ordering::Relaxed);
    if at.saturating_sub(last) < SWEEP_EVERY_MS
        || LAST_SWEEP
            .compare_exchange(last, at, Ordering::Relaxed, Ordering::Relaxed)
            .is_err()
    {
        return;
    }
    spin_sdk::wasip3::spawn(async {
        let _ = sweep().await;
    });
}

async fn sweep() -> Result<(), StoreError> {
    let kv = Kv::open().await?;
    let head = kv.counter(keys::POSITIONS).await?;
    let floor = match kv.get(keys::SWEEP_FLOOR).await? {
        Some(raw) => std::str::from_utf8(&raw)
            .ok()
            .and_then(|s| s.parse::<u64>().ok())
            .unwrap_or(1),
        None => 1,
    }
    .max(1);
    if floor > head {
        return Ok(());
    }
    // The span at the floor (to move the floor on), and one at a random
    // place above it, so that a task waiting long at the floor does not hide
    // the ones after it from sweeps (instances are short-lived: a counter in
    // the instance would restart at the floor every time).
    let offset = token() % (head - floor + 1);
    let mut positions: Vec<u64> = (floor..=head).take(SWEEP_SPAN as usize).collect();
    positions.extend((floor + offset..=head).take(SWEEP_SPAN as usize));
    positions.sort_unstable();
    positions.dedup();
    let tasks = kv.tasks_at(&positions).await?;
    let mut new_floor = floor;
    for (&position, task) in positions.iter().zip(tasks) {
        // A position with no task is a submit that never completed (or has
        // not yet: its submitter holds a lease on it and reads recover it).
        let ended = task.as_ref().is_none_or(|t| t.due_at().is_none());
        if ended && position == new_floor {
            new_floor += 1;
        }
        if let Some(task) = task
            && let (claimed, Some(claim)) = claim_if_due(&kv, task).await?
        {
            spawn_run(claimed, claim);
        }
    }
    if new_floor > floor {
        kv.set(keys::SWEEP_FLOOR, new_floor.to_string().as_bytes())
            .await?;
    }
    Ok(())
}
