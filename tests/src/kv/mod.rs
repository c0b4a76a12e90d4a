//! The key-value store behind the host, with Spin's semantics and flaws.
//!
//! One [`KvShared`] serves every instance of one host, as one Spin process
//! has one store manager per backing store. Two backends, as in Spin:
//!
//! - [`local`]: Spin's default store (`spinframework/spin:
//!   crates/key-value-spin`): one SQLite connection behind one mutex, every
//!   call blocking its thread (`block_in_place`), one commit per `set`. The
//!   in-memory variant keeps the same rules over a map.
//! - [`redis`]: Spin's Redis store (`crates/key-value-redis`), talking to a
//!   real `redis-server` with the same `redis` crate and the same commands,
//!   so its flaws are Spin's own: `get_many` sends `KEYS`, compare-and-swap
//!   opens a connection per swap and always reports `cas-failed`.
//!
//! Every call first passes the gate of [`KvShared`]: a killed host, a
//! poisoned store, injected faults, and the call and write counters.

mod local;
mod redis;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use local::LocalStore;
use redis::{RedisCas, RedisStore};

/// Which storage the key-value interfaces use.
#[derive(Clone, Debug)]
pub enum Kv {
    /// Lost when the host stops (Spin's `:memory:` store, or a fresh `.spin/`).
    Memory,
    /// A SQLite file laid out exactly as Spin lays out
    /// `.spin/sqlite_key_value.db`; a new host on the same file sees the data,
    /// as a restarted `spin up` does.
    Sqlite(PathBuf),
    /// A Redis server, as `type = "redis"` in a Spin runtime config: the URL
    /// Spin would be given (`redis://127.0.0.1:PORT/DB`). Several hosts on
    /// one URL share one store, as several `spin up` processes do.
    Redis(String),
}

impl Kv {
    /// A SQLite-backed store at `path` (created on first use, as Spin does).
    pub fn sqlite(path: impl AsRef<Path>) -> Self {
        Kv::Sqlite(path.as_ref().to_path_buf())
    }

    /// A fresh, empty database on this process's private `redis-server`
    /// (started on first use; see [`crate::redis_server`]).
    pub fn redis() -> Self {
        Kv::Redis(crate::redis_server::fresh_database())
    }
}

/// Behaviours of Spin's default (SQLite) store and of platforms that a
/// correct component must survive. Redis needs no switch: the Redis backend
/// is a real server driven exactly as Spin drives it.
///
/// The default is Spin 4.1 on its default SQLite store. Fields are public so
/// a test writes `Flaws { no_atomics: true, ..Flaws::default() }`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Flaws {
    /// CAS on a key that does not exist yet succeeds for every racer (last
    /// write wins), as Spin's SQLite CAS does. `false` gives a correct
    /// insert-if-absent.
    pub cas_missing_key_races: bool,
    /// `increment` on a value that is not an 8-byte counter panics inside
    /// Spin's SQLite store and poisons its connection mutex. Reproduced as a
    /// trap of the calling instance, and every later key-value call (except
    /// `open`) traps until the host is restarted. `false`: the call returns
    /// `other(..)` and nothing is poisoned.
    pub increment_poisons: bool,
    /// A platform without `wasi:keyvalue/atomics` support (e.g. Akamai
    /// Functions): every atomics call returns `other(..)`.
    pub no_atomics: bool,
}

impl Default for Flaws {
    fn default() -> Self {
        Flaws {
            cas_missing_key_races: true,
            increment_poisons: true,
            no_atomics: false,
        }
    }
}

/// How a key-value call fails.
#[derive(Debug)]
pub(crate) enum Fail {
    /// The call returns the interface's `other(..)` error.
    Error(String),
    /// The host panicked in Spin: the instance traps.
    Trap(String),
}

pub(crate) type KvResult<T> = Result<T, Fail>;

/// Result of a swap, before mapping to `cas-error`.
pub(crate) enum Swap {
    Done,
    Failed,
}

pub(crate) enum OpenError {
    AccessDenied,
    Other(String),
}

/// What a CAS handle holds between `new`, `current` and `swap`.
pub(crate) enum CasState {
    /// Spin's SQLite CAS: the value `current` read (`None`: missing, or
    /// `current` never called).
    Local { seen: Option<Vec<u8>> },
    /// Spin's Redis CAS: its own connection, on which `current` ran `WATCH`.
    Redis(RedisCas),
}

enum Backend {
    Local(LocalStore),
    Redis(RedisStore),
}

/// The key-value state shared by every instance of one host.
pub(crate) struct KvShared {
    backend: Backend,
    pub flaws: Flaws,
    pub faults: crate::Faults,
    poisoned: AtomicBool,
    /// Set by `Host::kill`: late calls from dying instances must not write.
    closed: AtomicBool,
}

/// Shared handle so bindings can hold the state cheaply.
pub(crate) type KvHandle = Arc<KvShared>;

/// Runs a blocking store call as Spin's SQLite store does: on the calling
/// runtime thread, with the runtime told to move its other work elsewhere.
fn blocking<R>(f: impl FnOnce() -> R) -> R {
    match tokio::runtime::Handle::try_current() {
        Ok(handle) if handle.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(f)
        }
        _ => f(),
    }
}

impl KvShared {
    pub fn new(location: Kv, flaws: Flaws, faults: crate::Faults) -> anyhow::Result<Self> {
        let backend = match location {
            Kv::Memory => Backend::Local(LocalStore::memory()),
            Kv::Sqlite(path) => Backend::Local(LocalStore::sqlite(path)),
            Kv::Redis(url) => Backend::Redis(RedisStore::new(&url)?),
        };
        Ok(KvShared {
            backend,
            flaws,
            faults,
            poisoned: AtomicBool::new(false),
            closed: AtomicBool::new(false),
        })
    }

    /// Stops all further calls and closes the SQLite connection, so that a
    /// new host can take the file over as a restarted Spin would.
    pub fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
        if let Backend::Local(local) = &self.backend {
            local.close();
        }
    }

    /// Gate every data call: closed host, poisoned store, injected faults.
    fn enter(&self) -> KvResult<()> {
        if self.closed.load(Ordering::SeqCst) {
            return Err(Fail::Trap("host was killed".into()));
        }
        if self.poisoned.load(Ordering::SeqCst) {
            return Err(Fail::Trap(
                "key-value connection poisoned by an earlier panic (PoisonError)".into(),
            ));
        }
        if self.faults.should_fail() {
            return Err(Fail::Error("injected fault".into()));
        }
        Ok(())
    }

    fn enter_write(&self) -> KvResult<()> {
        self.enter()?;
        self.faults.count_write();
        Ok(())
    }

    /// Atomics calls also fail on a platform without atomics.
    fn enter_atomics(&self) -> KvResult<()> {
        if self.flaws.no_atomics {
            return Err(Fail::Error(
                "atomics are not supported by this platform".into(),
            ));
        }
        self.enter()
    }

    /// `open` checks the label and, like Spin's, connects on first use: the
    /// SQLite file and its table appear, or the Redis connection is made
    /// (and pinged, ignoring the answer). It does not pass the gate, which
    /// is why it keeps working on a poisoned store.
    pub async fn open(&self, label: &str) -> Result<(), OpenError> {
        if label != "default" {
            return Err(OpenError::AccessDenied);
        }
        if self.closed.load(Ordering::SeqCst) {
            return Err(OpenError::Other("host was killed".into()));
        }
        match &self.backend {
            Backend::Local(local) => blocking(|| local.open()),
            Backend::Redis(redis) => redis.open().await,
        }
        .map_err(|f| match f {
            Fail::Error(m) | Fail::Trap(m) => OpenError::Other(m),
        })
    }

    pub async fn get(&self, key: &str) -> KvResult<Option<Vec<u8>>> {
        self.enter()?;
        match &self.backend {
            Backend::Local(local) => blocking(|| local.get(key)),
            Backend::Redis(redis) => redis.get(key).await,
        }
    }

    pub async fn set(&self, key: &str, value: &[u8]) -> KvResult<()> {
        self.enter_write()?;
        match &self.backend {
            Backend::Local(local) => blocking(|| local.set(key, value)),
            Backend::Redis(redis) => redis.set(key, value).await,
        }
    }

    pub async fn delete(&self, key: &str) -> KvResult<()> {
        self.enter_write()?;
        match &self.backend {
            Backend::Local(local) => blocking(|| local.delete(key)),
            Backend::Redis(redis) => redis.delete(key).await,
        }
    }

    pub async fn exists(&self, key: &str) -> KvResult<bool> {
        self.enter()?;
        match &self.backend {
            Backend::Local(local) => blocking(|| local.get(key)).map(|v| v.is_some()),
            Backend::Redis(redis) => redis.exists(key).await,
        }
    }

    pub async fn keys(&self) -> KvResult<Vec<String>> {
        self.enter()?;
        match &self.backend {
            Backend::Local(local) => blocking(|| local.keys()),
            Backend::Redis(redis) => redis.keys().await,
        }
    }

    pub async fn get_many(&self, keys: Vec<String>) -> KvResult<Vec<(String, Option<Vec<u8>>)>> {
        self.enter()?;
        match &self.backend {
            Backend::Local(local) => blocking(|| local.get_many(keys)),
            Backend::Redis(redis) => redis.get_many(keys).await,
        }
    }

    pub async fn set_many(&self, pairs: Vec<(String, Vec<u8>)>) -> KvResult<()> {
        self.enter_write()?;
        match &self.backend {
            Backend::Local(local) => blocking(|| local.set_many(pairs)),
            Backend::Redis(redis) => redis.set_many(pairs).await,
        }
    }

    pub async fn delete_many(&self, keys: Vec<String>) -> KvResult<()> {
        self.enter_write()?;
        match &self.backend {
            Backend::Local(local) => blocking(|| local.delete_many(keys)),
            Backend::Redis(redis) => redis.delete_many(keys).await,
        }
    }

    pub async fn increment(&self, key: &str, delta: i64) -> KvResult<i64> {
        self.enter_atomics()?;
        self.faults.count_write();
        match &self.backend {
            Backend::Local(local) => match blocking(|| local.increment(key, delta)) {
                Err(Fail::Trap(msg)) if self.flaws.increment_poisons => {
                    self.poisoned.store(true, Ordering::SeqCst);
                    Err(Fail::Trap(msg))
                }
                Err(Fail::Trap(msg)) => Err(Fail::Error(msg)),
                other => other,
            },
            Backend::Redis(redis) => redis.increment(key, delta).await,
        }
    }

    /// `cas.new`: Spin's SQLite store only records the key; its Redis store
    /// opens a new connection for this one swap.
    pub async fn cas_new(&self, key: &str) -> KvResult<CasState> {
        self.enter_atomics()?;
        match &self.backend {
            Backend::Local(_) => Ok(CasState::Local { seen: None }),
            Backend::Redis(redis) => redis.cas_new(key).await.map(CasState::Redis),
        }
    }

    /// `cas.current`: SQLite reads and remembers the value; Redis sends
    /// `WATCH key` and `GET key` on the swap's connection.
    pub async fn cas_current(&self, key: &str, cas: &mut CasState) -> KvResult<Option<Vec<u8>>> {
        self.enter_atomics()?;
        match cas {
            CasState::Local { seen } => {
                let Backend::Local(local) = &self.backend else {
                    return Err(Fail::Error("compare and swap not found".into()));
                };
                let value = blocking(|| local.get(key))?;
                seen.clone_from(&value);
                Ok(value)
            }
            CasState::Redis(redis_cas) => redis_cas.current().await,
        }
    }

    pub async fn cas_swap(&self, key: &str, cas: &CasState, value: Vec<u8>) -> KvResult<Swap> {
        self.enter_atomics()?;
        self.faults.count_write();
        match cas {
            CasState::Local { seen } => {
                let Backend::Local(local) = &self.backend else {
                    return Err(Fail::Error("compare and swap not found".into()));
                };
                let races = self.flaws.cas_missing_key_races;
                blocking(|| local.swap(key, seen.as_deref(), &value, races))
            }
            CasState::Redis(redis_cas) => redis_cas.swap(value).await,
        }
    }
}
