//! Group commit: concurrent submits on one instance share their writes.
//!
//! Each `set` or batch is a commit on Spin's store, and commits are the
//! service's budget. Submits that arrive while another is being written
//! queue up; the next writer takes the whole queue and stores it with one
//! `increment` (their listing positions) and one `set_many` (records and
//! index entries). Every submit still answers only after its own write is
//! durable. The writer runs as background work of the instance, so a
//! request cut off mid-write strands nobody; if the instance dies, so do the
//! requests waiting on it, and none of them was acknowledged.

use std::cell::{Cell, RefCell};
use std::time::Duration;

use bgtasks_core::TaskId;
use futures_channel::oneshot;

use crate::store::{Kv, StoreError, keys};

/// One submit's writes, waiting for a commit.
struct Waiting {
    id: TaskId,
    entries: Vec<(String, Vec<u8>)>,
    done: oneshot::Sender<Result<(), StoreError>>,
}

/// At most this many submits per commit, to bound one batch's size.
const MAX_GROUP: usize = 64;
/// How long a writer waits for a group to gather, at most.
const GATHER_MAX_MS: u32 = 5;

thread_local! {
    // A component instance is single-threaded: plain cells suffice.
    static QUEUE: RefCell<Vec<Waiting>> = const { RefCell::new(Vec::new()) };
    static WRITING: Cell<bool> = const { Cell::new(false) };
}

/// Stores a new task's `entries` (its record, and its idempotency record if
/// any) together with its listing index entry, and returns once they are
/// committed.
pub async fn store_submit(id: TaskId, entries: Vec<(String, Vec<u8>)>) -> Result<(), StoreError> {
    let (done, result) = oneshot::channel();
    QUEUE.with_borrow_mut(|q| q.push(Waiting { id, entries, done }));
    if !WRITING.replace(true) {
        spin_sdk::wasip3::spawn(async {
            match Kv::open().await {
                Ok(kv) => write_queue(&kv).await,
                Err(e) => fail_queue(&e),
            }
            WRITING.set(false);
        });
    }
    result
        .await
        .unwrap_or_else(|_| Err(StoreError("the writer went away".into())))
}

fn fail_queue(error: &StoreError) {
    for waiting in QUEUE.take() {
        let _ = waiting.done.send(Err(StoreError(error.0.clone())));
    }
}

/// Writes groups until the queue is empty.
async fn write_queue(kv: &Kv) {
    loop {
        // Give the instance's other requests a moment to join this group
        // (store calls block the instance, so they could not queue while it
        // wrote): wait while they keep arriving, a few milliseconds at most.
        let mut seen = 0;
        for _ in 0..GATHER_MAX_MS {
            spin_sdk::time::sleep(Duration::from_millis(1)).await;
            let queued = QUEUE.with_borrow(Vec::len);
            if queued == seen || queued >= MAX_GROUP {
                break;
            }
            seen = queued;
        }
        let group: Vec<Waiting> = QUEUE.with_borrow_mut(|q| {
            let n = q.len().min(MAX_GROUP);
            q.drain(..n).collect()
        });
        if group.is_empty() {
            return;
        }
        let outcome = write_group(kv, &group).await;
        for waiting in group {
            let result = outcome
                .as_ref()
                .map(|_| ())
                .map_err(|e| StoreError(e.0.clone()));
            // A waiter that gave up (its request was cut off) needs no answer.
            let _ = waiting.done.send(result);
        }
    }
}

async fn write_group(kv: &Kv, group: &[Waiting]) -> Result<(), StoreError> {
    let count = group.len() as i64;
    let last = kv.increment(keys::POSITIONS, count).await?;
    // Positions first..=last are this group's, in arrival order.
    let first = (last - count + 1).max(1) as u64;
    let mut entries = Vec::with_capacity(group.len() * 3);
    for (offset, waiting) in group.iter().enumerate() {
        entries.extend(waiting.entries.iter().cloned());
        let position = keys::position(first + offset as u64);
        entries.push((position, waiting.id.to_string().into_bytes()));
    }
    kv.set_many(&entries)
}
