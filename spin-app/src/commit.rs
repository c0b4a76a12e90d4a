//! Group commit: concurrent submits on one instance share their writes.
//!
//! Each `set` or batch is a commit on Spin's store, and commits are the
//! service's budget (on SQLite a commit of changed data costs about as much
//! as serving a request). Submits queue their new task; a writer takes the
//! whole queue and stores it with one `increment` (the listing positions)
//! and one `set_many` (records, index entries, idempotency records, the
//! outputs of attempts that already ran, and the time index entries of
//! scheduled tasks, whose bucket counters take one more `increment` per
//! bucket). Every submit still answers only after its own write is durable.
//!
//! The writer runs as background work of the instance, so a request cut off
//! mid-write strands nobody; if the instance dies, so do the requests
//! waiting on it, and none of them was acknowledged. Between groups it
//! yields rather than sleeps: while a synchronous store call blocks the
//! instance, new requests wait at its door, and they form the next group.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;

use bgtasks_core::{Task, TaskId};
use futures_channel::oneshot;

use crate::store::{
    self, Kv, StoreError, WAKE_BUCKETS_PER_DAY, WAKE_BUCKETS_PER_HOUR, encode, keys, wake_bucket,
};

/// A new task and the other keys its submit writes with it.
pub struct NewTask {
    pub task: Task,
    pub extra: Vec<(String, Vec<u8>)>,
}

/// One submit's writes, waiting for a commit.
struct Waiting {
    new: NewTask,
    done: oneshot::Sender<Result<Task, StoreError>>,
}

/// At most this many submits per commit, to bound one batch's size.
const MAX_GROUP: usize = 64;
/// How long a writer gathers a group while its instance is crowded (its
/// last group had several submits). Commits, not requests, are what the
/// store runs out of: measured under Spin on SQLite, a 10 ms window tripled
/// the submits per second over a 1 ms one, with a p50 near 15 ms.
const GATHER_MS: u64 = 10;

thread_local! {
    // A component instance is single-threaded: plain cells suffice.
    static QUEUE: RefCell<Vec<Waiting>> = const { RefCell::new(Vec::new()) };
    static WRITING: Cell<bool> = const { Cell::new(false) };
    /// Submits inside this instance that have not queued yet.
    static ARRIVING: Cell<u32> = const { Cell::new(0) };
    /// The size of this instance's last group.
    static LAST_GROUP: Cell<usize> = const { Cell::new(0) };
}

/// Marks a submit on its way to the queue until dropped: a writer about to
/// commit waits a moment for such submits rather than commit without them.
pub struct Arriving(());

pub fn arriving() -> Arriving {
    ARRIVING.set(ARRIVING.get() + 1);
    Arriving(())
}

impl Drop for Arriving {
    fn drop(&mut self) {
        ARRIVING.set(ARRIVING.get().saturating_sub(1));
    }
}

/// Stores a new task (with its listing position, which this assigns) and
/// its other keys, and returns the stored task once they are committed.
pub async fn store_submit(new: NewTask) -> Result<Task, StoreError> {
    let (done, result) = oneshot::channel();
    QUEUE.with_borrow_mut(|q| q.push(Waiting { new, done }));
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
        // While every task of the instance waits on the host, the instance
        // takes new requests: one short wait lets the submits at its door in.
        // A lone submit is written after it; a crowded instance gathers for
        // a window, so that each commit carries many submits.
        let started = crate::runner::now();
        let crowded = LAST_GROUP.get() > 1;
        loop {
            spin_sdk::time::sleep(std::time::Duration::from_millis(1)).await;
            let queued = QUEUE.with_borrow(Vec::len);
            let done = if crowded {
                crate::runner::now().since(started) >= GATHER_MS
            } else {
                ARRIVING.get() == 0
            };
            if done || queued >= MAX_GROUP {
                break;
            }
        }
        let group: Vec<Waiting> = QUEUE.with_borrow_mut(|q| {
            let n = q.len().min(MAX_GROUP);
            q.drain(..n).collect()
        });
        if group.is_empty() {
            return;
        }
        LAST_GROUP.set(group.len());
        let (tasks, senders): (Vec<NewTask>, Vec<_>) =
            group.into_iter().map(|w| (w.new, w.done)).unzip();
        match write_group(kv, tasks).await {
            Ok(stored) => {
                for (task, done) in stored.into_iter().zip(senders) {
                    // A waiter that gave up (its request was cut off) needs
                    // no answer.
                    let _ = done.send(Ok(task));
                }
            }
            Err(e) => {
                for done in senders {
                    let _ = done.send(Err(StoreError(e.0.clone())));
                }
            }
        }
    }
}

async fn write_group(kv: &Kv, group: Vec<NewTask>) -> Result<Vec<Task>, StoreError> {
    let count = group.len() as i64;
    let last = kv.increment(keys::POSITIONS, count).await?;
    // Positions first..=last are this group's, in arrival order.
    let first = (last - count + 1).max(1) as u64;
    let mut entries = Vec::with_capacity(group.len() * 3);
    let mut wakes: BTreeMap<u64, Vec<TaskId>> = BTreeMap::new();
    let mut stored = Vec::with_capacity(group.len());
    for (offset, new) in group.into_iter().enumerate() {
        let mut task = new.task;
        task.position = first + offset as u64;
        if task.indexed
            && let Some(due) = task.due_at()
        {
            wakes.entry(wake_bucket(due)).or_default().push(task.id);
        }
        entries.push((keys::task(task.id), encode(&task)));
        entries.push((
            keys::position(task.position),
            task.id.to_string().into_bytes(),
        ));
        entries.extend(new.extra);
        stored.push(task);
    }
    for (bucket, ids) in wakes {
        entries.extend(wake_entries(kv, bucket, &ids).await?);
    }
    kv.set_many(&entries)?;
    Ok(stored)
}

/// Reserves slots for `ids` in time-index bucket `bucket` (and counts them
/// in its hour) and returns the entries to write.
pub async fn wake_entries(
    kv: &Kv,
    bucket: u64,
    ids: &[TaskId],
) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
    let n = ids.len() as i64;
    let last = kv.increment(&keys::wake_count(bucket), n).await?;
    kv.increment(&keys::wake_hour(bucket / WAKE_BUCKETS_PER_HOUR), n)
        .await?;
    kv.increment(&keys::wake_day(bucket / WAKE_BUCKETS_PER_DAY), n)
        .await?;
    if kv.increment(keys::WAKE_TOTAL, n).await? == n {
        // The first entries ever: the index's walk starts at their bucket
        // (a racer doing the same writes a floor just as early).
        kv.replace(keys::WAKE_FLOOR, None, format!("{bucket}:0").as_bytes())
            .await?;
    }
    let first = (last - n + 1).max(1) as u64;
    Ok(ids
        .iter()
        .enumerate()
        .map(|(i, id)| {
            (
                keys::wake(bucket, first + i as u64),
                id.to_string().into_bytes(),
            )
        })
        .collect())
}

/// Adds one task to the time index at `due` (for a transition stored by
/// compare-and-swap, outside a group).
pub async fn index_wake(kv: &Kv, id: TaskId, due: bgtasks_core::Millis) -> Result<(), StoreError> {
    let entries = wake_entries(kv, store::wake_bucket(due), &[id]).await?;
    kv.set_many(&entries)
}
