//! The key-value store: every key format, and the few operations the
//! service needs on top of Spin's store.
//!
//! # Key layout
//!
//! | key | value | written by |
//! | --- | --- | --- |
//! | `task/<id>` | the task record, JSON ([`bgtasks_core::Task`], version inside) | `set_many` at submit, compare-and-swap after |
//! | `pos/<n>` | the id of the n-th task submitted (listing index, n from 1) | `set_many` at submit |
//! | `counter/positions` | how many positions were handed out | `increment` only |
//! | `idem/<sha256 of key>` | `{"fingerprint": ..., "task": ...}` | `set_many` at submit |
//! | `counter/idem/<sha256 of key>` | racers for one idempotency key | `increment` only |
//! | `outputs/<id>.json` | a file task's file | `set` by the attempt that wrote it |
//! | `sweep/floor` | below this position every task has ended | `set` by the recovery sweep |
//!
//! Counter keys live under `counter/` and are never `set`: on Spin, an
//! `increment` on a key written by `set` fails and poisons the store. The
//! `no-atomics` build (for platforms without `wasi:keyvalue/atomics`) keeps
//! them as ASCII decimals written with `set` instead, and never increments.

use bgtasks_core::{Task, TaskId};
use futures_util::future::join_all;
use sha2::{Digest, Sha256};
#[cfg(not(feature = "no-atomics"))]
use spin_sdk::experimental::wasi::keyvalue::atomics;
use spin_sdk::experimental::wasi::keyvalue::{batch, store as wasi_store};
use spin_sdk::key_value::Store;

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

    pub const SWEEP_FLOOR: &str = "sweep/floor";
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

/// The default store, through both of Spin's interfaces: `spin:key-value`
/// (async, for single reads and writes) and `wasi:keyvalue` (atomics and
/// batches).
pub struct Kv {
    store: Store,
    bucket: wasi_store::Bucket,
}

impl Kv {
    pub async fn open() -> Result<Kv, StoreError> {
        let store = Store::open_default().await.map_err(fail)?;
        let bucket = wasi_store::open("default").map_err(fail)?;
        Ok(Kv { store, bucket })
    }

    pub async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.store.get(key).await.map_err(fail)
    }

    pub async fn set(&self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        self.store.set(key, value).await.map_err(fail)
    }

    /// Several keys in one commit.
    pub fn set_many(&self, entries: &[(String, Vec<u8>)]) -> Result<(), StoreError> {
        batch::set_many(&self.bucket, entries).map_err(fail)
    }

    /// Reads `keys` at once: one `get` each, all in flight together (on
    /// Redis they share one round trip). Never `batch::get_many`: Spin's
    /// Redis backend sends `KEYS` for it, which fails or panics inside Spin.
    pub async fn get_each(&self, keys: &[String]) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        join_all(keys.iter().map(|key| self.get(key)))
            .await
            .into_iter()
            .collect()
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
        if let Ok(bytes) = <[u8; 8]>::try_from(raw.as_slice()) {
            return Ok(i64::from_le_bytes(bytes).max(0) as u64);
        }
        std::str::from_utf8(&raw)
            .ok()
            .and_then(|s| s.trim().parse::<i64>().ok())
            .map(|n| n.max(0) as u64)
            .ok_or_else(|| StoreError(format!("counter {key} holds no number")))
    }

    /// The tasks at listing positions `positions`, in the same order: two
    /// rounds of reads (index entries, then records), one `get` per key,
    /// whatever the store holds. `None` where a position has no readable
    /// task.
    pub async fn tasks_at(&self, positions: &[u64]) -> Result<Vec<Option<Task>>, StoreError> {
        let pos_keys: Vec<String> = positions.iter().map(|&p| keys::position(p)).collect();
        let ids: Vec<Option<TaskId>> = self
            .get_each(&pos_keys)
            .await?
            .into_iter()
            .map(|raw| TaskId::parse(std::str::from_utf8(&raw?).ok()?))
            .collect();
        let task_keys: Vec<String> = ids.iter().flatten().map(|&id| keys::task(id)).collect();
        let mut records = self.get_each(&task_keys).await?.into_iter();
        Ok(ids
            .iter()
            .map(|id| {
                // One record was read per id, in order.
                let record = id.and_then(|_| records.next().flatten());
                record.and_then(|raw| decode(&raw))
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
    /// win on a missing key (task records always exist before a swap).
    #[cfg(not(feature = "no-atomics"))]
    pub async fn swap(&self, expected: &Task, new: &Task) -> Result<Swap, StoreError> {
        let key = keys::task(expected.id);
        let cas = atomics::Cas::new(&self.bucket, &key).map_err(fail)?;
        let current = cas.current().map_err(fail)?.and_then(|raw| decode(&raw));
        if current.as_ref().map(|t| t.version) != Some(expected.version) {
            return Ok(Swap::Lost);
        }
        let value = encode(new);
        match atomics::swap(cas, &value) {
            Ok(()) => Ok(Swap::Won),
            Err(atomics::CasError::CasFailed(_)) => {
                // Versions only grow, so the new version being there means
                // this write is the one that landed.
                let now = self.get(&key).await?.and_then(|raw| decode(&raw));
                Ok(if now.as_ref() == Some(new) {
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
    pub async fn swap(&self, expected: &Task, new: &Task) -> Result<Swap, StoreError> {
        let current = self.load(expected.id).await?;
        if current.as_ref().map(|t| t.version) != Some(expected.version) {
            return Ok(Swap::Lost);
        }
        self.set(&keys::task(expected.id), &encode(new)).await?;
        Ok(Swap::Won)
    }
}

pub fn encode(task: &Task) -> Vec<u8> {
    serde_json::to_vec(task).unwrap_or_default()
}

/// A stored record; an unreadable one counts as absent rather than trapping.
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
