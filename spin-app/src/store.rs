//! The key-value store: every key format, and the few operations the
//! service needs on top of Spin's store.
//!
//! # Key layout
//!
//! | key | value | written by |
//! | --- | --- | --- |
//! | `task/<id>` | the task record, JSON ([`bgtasks_core::Task`]: version, listing position, idempotency key hash inside) | `set_many` at submit, compare-and-swap after |
//! | `pos/<n>` | the id of the n-th task submitted (listing index, n from 1) | `set_many` at submit |
//! | `counter/positions` | how many positions were handed out | `increment` only |
//! | `idem/<sha256 of key>` | `{"fingerprint": ..., "task": ...}` | `set_many` at submit |
//! | `counter/idem/<sha256 of key>` | racers for one idempotency key | `increment` only |
//! | `outputs/<id>.json` | a file task's file | the attempt that wrote it (in the submit's `set_many` when it ran at once) |
//! | `wake/<b>/<n>` | the id of the n-th task with something due in 10-second bucket `b` | `set_many` at submit, `set` after |
//! | `counter/wake/<b>` | entries in bucket `b` | `increment` only |
//! | `counter/wake-total` | entries ever written to the time index (0: sweeps skip it) | `increment` only |
//! | `counter/wake-hour/<h>`, `counter/wake-day/<d>` | entries in the buckets of hour `h`, of day `d` (let a sweep skip empty hours, and tell whether anything lies ahead) | `increment` only |
//! | `sweep/floor` | below this position every task has ended or is indexed | `set` by the recovery sweep |
//! | `sweep/settled` | `<settled>:<head>:<when>`: positions up to `settled` were handed out 30 s ago or more, so an empty one stays empty | `set` by the recovery sweep |
//! | `sweep/wake` | `<b>:<n>`: the time index is handled up to entry n of bucket b | `set` by the recovery sweep |
//! | `sweep/retention` | below this position every task was deleted or is indexed | `set` by the recovery sweep |
//! | `sweep/timer` | `<token>:<until>`: the instance that walks the time index every second holds it until then | compare-and-swap by that instance |
//!
//! Counter keys live under `counter/` and are never `set`: on Spin, an
//! `increment` on a key written by `set` fails and poisons the store. The
//! `no-atomics` build (for platforms without `wasi:keyvalue/atomics`) keeps
//! them as ASCII decimals written with `set` instead, and never increments.
//!
//! A deleted task's record is first swapped for a tombstone (so a racing
//! retry cannot survive the delete), then every key of the task goes in one
//! `delete_many`.

use bgtasks_core::{Millis, Task, TaskId};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
#[cfg(not(feature = "no-atomics"))]
use spin_sdk::experimental::wasi::keyvalue::atomics;
use spin_sdk::experimental::wasi::keyvalue::{batch, store as wasi_store};

pub mod keys {
    use bgtasks_core::TaskId;

    pub fn task(id: TaskId) -> String {
        format!("task/{id}")
    }

    pub fn position(n: u64) -> String {
        format!("pos/{n}")
    }

    pub const POSITIONS: &str = "counter/positions";

    pub fn idempotency(key_hash: &str) -> String {
        format!("idem/{key_hash}")
    }

    pub fn idempotency_race(key_hash: &str) -> String {
        format!("counter/idem/{key_hash}")
    }

    pub fn output(id: TaskId) -> String {
        bgtasks_core::work::output_path(id)
    }

    pub fn wake(bucket: u64, n: u64) -> String {
        format!("wake/{bucket}/{n}")
    }

    pub fn wake_count(bucket: u64) -> String {
        format!("counter/wake/{bucket}")
    }

    pub fn wake_hour(hour: u64) -> String {
        format!("counter/wake-hour/{hour}")
    }

    pub fn wake_day(day: u64) -> String {
        format!("counter/wake-day/{day}")
    }

    /// Entries ever written to the time index: 0 lets sweeps skip it.
    pub const WAKE_TOTAL: &str = "counter/wake-total";

    pub const SWEEP_FLOOR: &str = "sweep/floor";
    pub const SETTLED: &str = "sweep/settled";
    pub const WAKE_FLOOR: &str = "sweep/wake";
    pub const RETENTION_FLOOR: &str = "sweep/retention";
    pub const INDEX_TIMER: &str = "sweep/timer";
}

/// The time index's bucket width.
pub const WAKE_BUCKET_MS: u64 = 10_000;
/// Buckets per hour and per day, for the index's skip counters.
pub const WAKE_BUCKETS_PER_HOUR: u64 = 3_600_000 / WAKE_BUCKET_MS;
pub const WAKE_BUCKETS_PER_DAY: u64 = 24 * WAKE_BUCKETS_PER_HOUR;

/// The bucket a time falls in.
pub fn wake_bucket(at: Millis) -> u64 {
    at.0 / WAKE_BUCKET_MS
}

/// A store call failed; the request answers 503 and nothing it did not
/// finish is acknowledged.
#[derive(Debug)]
pub struct StoreError(pub String);

fn fail(e: impl std::fmt::Debug) -> StoreError {
    StoreError(format!("{e:?}"))
}

/// How a compare-and-swap ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Swap {
    Won,
    /// Someone else changed the record first; it is unchanged by us.
    Lost,
}

/// The value of an `idem/...` key.
#[derive(Serialize, Deserialize)]
pub struct IdempotencyRecord {
    pub fingerprint: String,
    pub task: TaskId,
}

/// What a deleted task's record holds until its keys are gone.
#[derive(Serialize, Deserialize)]
struct Tombstone {
    deleted: TaskId,
    #[serde(default)]
    idempotency: Option<String>,
    /// When the delete began: a sweep finishes only deletes older than
    /// [`STRANDED_MS`], not one still under way.
    #[serde(default)]
    at: Millis,
}

/// How old a tombstone must be before a sweep takes it for a delete that
/// was cut short.
pub const STRANDED_MS: u64 = 60_000;

/// The default store, through `wasi:keyvalue` only: every call is
/// synchronous, so an instance has at most one store call in flight.
///
/// Spin's `spin:key-value` interface is async, and mixing its calls with the
/// synchronous ones deadlocks on Redis under load: Spin's Redis client queues
/// calls for its one shared connection in a bounded queue (50) that hands
/// free slots to waiting calls in arrival order. While an instance is
/// blocked in a synchronous call, its async calls are not polled, so a slot
/// handed to one of them is never used; once every slot sits with such a
/// call, every instance waits for ever (the test of a thousand tasks due in
/// one second, in `tests/tests/control.rs`, hung this way on Redis, on the
/// test host and under `spin up`). A blocked synchronous call is always
/// polled, so it always takes its slot.
pub struct Kv {
    bucket: wasi_store::Bucket,
}

impl Kv {
    pub async fn open() -> Result<Kv, StoreError> {
        let bucket = wasi_store::open("default").map_err(fail)?;
        Ok(Kv { bucket })
    }

    pub async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.bucket.get(key).map_err(fail)
    }

    pub async fn set(&self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        self.bucket.set(key, value).map_err(fail)
    }

    /// Several keys in one commit.
    pub fn set_many(&self, entries: &[(String, Vec<u8>)]) -> Result<(), StoreError> {
        batch::set_many(&self.bucket, entries).map_err(fail)
    }

    /// Several keys gone in one commit.
    pub fn delete_many(&self, keys: &[String]) -> Result<(), StoreError> {
        batch::delete_many(&self.bucket, keys).map_err(fail)
    }

    /// Reads `keys`, one `get` each. Never `batch::get_many`: Spin's Redis
    /// backend sends `KEYS` for it, which fails or panics inside Spin.
    pub async fn get_each(&self, keys: &[String]) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        let mut values = Vec::with_capacity(keys.len());
        for key in keys {
            values.push(self.get(key).await?);
        }
        Ok(values)
    }

    /// Adds `delta` to a counter and returns the new value: exact under
    /// concurrency with atomics; without them (the `no-atomics` build) a
    /// read-modify-write that racing instances can interleave.
    pub async fn increment(&self, key: &str, delta: i64) -> Result<i64, StoreError> {
        #[cfg(not(feature = "no-atomics"))]
        {
            atomics::increment(&self.bucket, key, delta).map_err(fail)
        }
        #[cfg(feature = "no-atomics")]
        {
            let value = self.counter(key).await? as i64 + delta;
            self.set(key, value.to_string().as_bytes()).await?;
            Ok(value)
        }
    }

    /// Reads a counter without changing it: 8 bytes little-endian on SQLite,
    /// ASCII decimal on Redis; missing is 0.
    pub async fn counter(&self, key: &str) -> Result<u64, StoreError> {
        let Some(raw) = self.get(key).await? else {
            return Ok(0);
        };
        Ok(parse_counter(&raw).unwrap_or(0))
    }

    /// Reads several counters (see [`Kv::counter`]).
    pub async fn counters(&self, keys: &[String]) -> Result<Vec<u64>, StoreError> {
        Ok(self
            .get_each(keys)
            .await?
            .into_iter()
            .map(|raw| raw.and_then(|r| parse_counter(&r)).unwrap_or(0))
            .collect())
    }

    /// A number stored with `set` (a floor), 0 when missing.
    pub async fn number(&self, key: &str) -> Result<u64, StoreError> {
        Ok(self
            .get(key)
            .await?
            .and_then(|raw| std::str::from_utf8(&raw).ok()?.trim().parse().ok())
            .unwrap_or(0))
    }

    /// The tasks at listing positions `positions`, in the same order: two
    /// rounds of reads (index entries, then records), one `get` per key,
    /// whatever the store holds. For each: the id the index names (if any)
    /// and its readable record (if any).
    pub async fn tasks_at(
        &self,
        positions: &[u64],
    ) -> Result<Vec<(Option<TaskId>, Option<Task>)>, StoreError> {
        let pos_keys: Vec<String> = positions.iter().map(|&p| keys::position(p)).collect();
        let ids: Vec<Option<TaskId>> = self
            .get_each(&pos_keys)
            .await?
            .into_iter()
            .map(|raw| TaskId::parse(std::str::from_utf8(&raw?).ok()?))
            .collect();
        self.tasks_of(ids).await
    }

    /// The records of `ids`, in the same order.
    pub async fn tasks_of(
        &self,
        ids: Vec<Option<TaskId>>,
    ) -> Result<Vec<(Option<TaskId>, Option<Task>)>, StoreError> {
        let task_keys: Vec<String> = ids.iter().flatten().map(|&id| keys::task(id)).collect();
        let mut records = self.get_each(&task_keys).await?.into_iter();
        Ok(ids
            .into_iter()
            .map(|id| {
                // One record was read per id, in order.
                let record = id.and_then(|_| records.next().flatten());
                (id, record.and_then(|raw| decode(&raw)))
            })
            .collect())
    }

    pub async fn load(&self, id: TaskId) -> Result<Option<Task>, StoreError> {
        Ok(self
            .get(&keys::task(id))
            .await?
            .and_then(|raw| decode(&raw)))
    }

    /// Replaces the record of `expected.id` with `new` if the stored one is
    /// still `expected` (same version). Safe on Spin's three behaviours:
    /// SQLite (exact), Redis (reports failure even when it wrote: read back
    /// to see whose value is there) and stores whose CAS lets every racer
    /// win on a missing key (a missing record is never swapped: the version
    /// check refuses it first).
    #[cfg(not(feature = "no-atomics"))]
    pub async fn swap(&self, expected: &Task, new: &[u8]) -> Result<Swap, StoreError> {
        let key = keys::task(expected.id);
        let cas = atomics::Cas::new(&self.bucket, &key).map_err(fail)?;
        let current = cas.current().map_err(fail)?.and_then(|raw| decode(&raw));
        if current.as_ref().map(|t| t.version) != Some(expected.version) {
            return Ok(Swap::Lost);
        }
        self.swap_in(cas, &key, new).await
    }

    /// Swaps `new` in through `cas` (whose `current` was checked). Spin on
    /// Redis reports every swap as failed, even one that wrote, so a failure
    /// is read back: every value swapped in differs from all the key held
    /// before (records are stamped, see `Kv::store`), so finding it there
    /// means this write is the one that landed.
    #[cfg(not(feature = "no-atomics"))]
    async fn swap_in(&self, cas: atomics::Cas, key: &str, new: &[u8]) -> Result<Swap, StoreError> {
        match atomics::swap(cas, new) {
            Ok(()) => Ok(Swap::Won),
            Err(atomics::CasError::CasFailed(_)) => {
                let now = self.get(key).await?;
                Ok(if now.as_deref() == Some(new) {
                    Swap::Won
                } else {
                    Swap::Lost
                })
            }
            Err(atomics::CasError::StoreError(e)) => Err(fail(e)),
        }
    }

    /// Without atomics: compare the version, then write. Two workers can
    /// both pass the check, so an attempt may run twice (at-least-once);
    /// outputs are keyed by task id, so the second run rewrites the first's.
    #[cfg(feature = "no-atomics")]
    pub async fn swap(&self, expected: &Task, new: &[u8]) -> Result<Swap, StoreError> {
        let current = self.load(expected.id).await?;
        if current.as_ref().map(|t| t.version) != Some(expected.version) {
            return Ok(Swap::Lost);
        }
        self.set(&keys::task(expected.id), new).await?;
        Ok(Swap::Won)
    }

    /// Replaces the value of `key` with `new` if it still is `expected`
    /// (`None`: missing), read back after a reported failure as in
    /// [`Kv::swap`]. `new` must differ from every value the key held.
    #[cfg(not(feature = "no-atomics"))]
    pub async fn replace(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        new: &[u8],
    ) -> Result<Swap, StoreError> {
        let cas = atomics::Cas::new(&self.bucket, key).map_err(fail)?;
        if cas.current().map_err(fail)?.as_deref() != expected {
            return Ok(Swap::Lost);
        }
        self.swap_in(cas, key, new).await
    }

    /// Without atomics: compare, then write.
    #[cfg(feature = "no-atomics")]
    pub async fn replace(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        new: &[u8],
    ) -> Result<Swap, StoreError> {
        if self.get(key).await?.as_deref() != expected {
            return Ok(Swap::Lost);
        }
        self.set(key, new).await?;
        Ok(Swap::Won)
    }

    /// Stores the transition from `before` to `after` (compare-and-swap).
    /// The value written is stamped with a random number: two writers
    /// making the same transition at the same millisecond (two cancels)
    /// would write equal records, and on Redis, where every swap reports a
    /// failure, each would read its own value back and think it won.
    pub async fn store(&self, before: &Task, after: &Task) -> Result<Swap, StoreError> {
        self.swap(before, &stamped(encode(after))).await
    }

    /// Deletes `task` and every key it has: first its record becomes a
    /// tombstone (compare-and-swap, so that a racing retry or cancel wins or
    /// loses cleanly), then all its keys go in one commit.
    pub async fn delete_task(&self, task: &Task, now: Millis) -> Result<Swap, StoreError> {
        let tombstone = Tombstone {
            deleted: task.id,
            idempotency: task.idempotency.clone(),
            at: now,
        };
        let value = stamped(serde_json::to_vec(&tombstone).unwrap_or_default());
        if self.swap(task, &value).await? == Swap::Lost {
            // A record already gone was deleted by a racer: so it is.
            if self.get(&keys::task(task.id)).await?.is_none() {
                return Ok(Swap::Won);
            }
            return Ok(Swap::Lost);
        }
        self.delete_many(&task_keys(
            task.id,
            task.position,
            task.idempotency.as_deref(),
        ))?;
        Ok(Swap::Won)
    }

    /// Every key of the tasks in `doomed` gone in one commit, without a
    /// tombstone: only for tasks no request can change any more (expired).
    pub fn purge(&self, doomed: &[&Task]) -> Result<(), StoreError> {
        let keys: Vec<String> = doomed
            .iter()
            .flat_map(|t| task_keys(t.id, t.position, t.idempotency.as_deref()))
            .collect();
        if keys.is_empty() {
            return Ok(());
        }
        self.delete_many(&keys)
    }

    /// Finishes a delete whose tombstone was left behind more than
    /// [`STRANDED_MS`] ago (or cleans a position whose task is gone): every
    /// key it names. Returns whether it did (a fresh tombstone is a delete
    /// under way, left alone).
    pub async fn clear_remains(
        &self,
        position: u64,
        id: TaskId,
        now: Millis,
    ) -> Result<bool, StoreError> {
        let record = self.get(&keys::task(id)).await?;
        let tombstone = record
            .as_deref()
            .and_then(|raw| serde_json::from_slice::<Tombstone>(raw).ok());
        if tombstone
            .as_ref()
            .is_some_and(|t| now.since(t.at) < STRANDED_MS)
        {
            return Ok(false);
        }
        let idempotency = tombstone.and_then(|t| t.idempotency);
        self.delete_many(&task_keys(id, position, idempotency.as_deref()))?;
        Ok(true)
    }
}

/// Every key a task may have.
fn task_keys(id: TaskId, position: u64, idempotency: Option<&str>) -> Vec<String> {
    let mut keys = vec![keys::task(id), keys::output(id)];
    if position > 0 {
        keys.push(keys::position(position));
    }
    if let Some(hash) = idempotency {
        keys.push(keys::idempotency(hash));
        keys.push(keys::idempotency_race(hash));
    }
    keys
}

fn parse_counter(raw: &[u8]) -> Option<u64> {
    if let Ok(bytes) = <[u8; 8]>::try_from(raw) {
        return Some(i64::from_le_bytes(bytes).max(0) as u64);
    }
    std::str::from_utf8(raw)
        .ok()?
        .trim()
        .parse::<i64>()
        .ok()
        .map(|n| n.max(0) as u64)
}

pub fn encode(task: &Task) -> Vec<u8> {
    serde_json::to_vec(task).unwrap_or_default()
}

/// A JSON object with a `"stamp"` field of random value first (readers
/// ignore it).
fn stamped(json: Vec<u8>) -> Vec<u8> {
    let Some(rest) = json.strip_prefix(b"{") else {
        return json;
    };
    let stamp = spin_sdk::wasip3::random::random::get_random_u64();
    let mut out = format!("{{\"stamp\":{stamp}").into_bytes();
    if rest != b"}" {
        out.push(b',');
    }
    out.extend_from_slice(rest);
    out
}

/// A stored record; an unreadable one (or a tombstone) counts as absent
/// rather than trapping.
pub fn decode(raw: &[u8]) -> Option<Task> {
    serde_json::from_slice(raw).ok()
}

/// Hex SHA-256 of an idempotency key: a fixed-size, tidy store key.
pub fn key_hash(key: &str) -> String {
    hex(&Sha256::digest(key.as_bytes()))
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
