//! The key-value store behind the host, with Spin's semantics and flaws.
//!
//! One [`KvShared`] serves every instance of one host, as one Spin process
//! has one connection per backing store. Every operation goes through one
//! mutex, like Spin's single mutex-guarded SQLite connection, so the cost
//! model (one commit per `set`) and the interleavings match.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use rusqlite::{Connection, OptionalExtension, params};

/// Which storage the key-value interfaces use.
#[derive(Clone, Debug)]
pub enum Kv {
    /// Lost when the host stops (Spin's `:memory:` store, or a fresh `.spin/`).
    Memory,
    /// A SQLite file laid out exactly as Spin lays out
    /// `.spin/sqlite_key_value.db`; a new host on the same file sees the data,
    /// as a restarted `spin up` does.
    Sqlite(PathBuf),
}

impl Kv {
    /// A SQLite-backed store at `path` (created on first use, as Spin does).
    pub fn sqlite(path: impl AsRef<Path>) -> Self {
        Kv::Sqlite(path.as_ref().to_path_buf())
    }
}

/// Behaviours of real Spin backends that a correct component must survive.
///
/// The default is Spin 4.1 on its default SQLite store. Fields are public so
/// a test writes `Flaws { redis: true, ..Flaws::default() }`.
#[derive(Clone, Debug)]
pub struct Flaws {
    /// CAS on a key that does not exist yet succeeds for every racer (last
    /// write wins), as Spin's SQLite CAS does. `false` gives a correct
    /// insert-if-absent.
    pub cas_missing_key_races: bool,
    /// Spin on Redis: `swap` always reports `cas-failed`, even when it wrote
    /// (a losing racer is still blocked, as Redis `WATCH` does, and any write
    /// in between counts as a change); `increment` stores ASCII decimal.
    pub redis: bool,
    /// `increment` on a value that is not an 8-byte counter panics inside
    /// Spin's SQLite store and poisons its connection mutex. Reproduced as a
    /// trap of the calling instance, and every later key-value call (except
    /// `open`) traps until the host is restarted. `false`: the call returns
    /// `other(..)` and nothing is poisoned. Ignored in `redis` mode, where
    /// Redis answers such an `INCRBY` with an error.
    pub increment_poisons: bool,
    /// A platform without `wasi:keyvalue/atomics` support (e.g. Akamai
    /// Functions): every atomics call returns `other(..)`.
    pub no_atomics: bool,
}

impl Default for Flaws {
    fn default() -> Self {
        Flaws {
            cas_missing_key_races: true,
            redis: false,
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

/// What a CAS handle saw at `current`, needed by `swap`.
#[derive(Clone, Debug, Default)]
pub(crate) struct CasSeen {
    /// The value read by `current` (`None`: missing, or `current` not called).
    pub value: Option<Vec<u8>>,
    /// Redis mode: the key's write count at `current` (Redis `WATCH`).
    pub watched: Option<u64>,
}

/// Result of a swap, before mapping to `cas-error`.
pub(crate) enum Swap {
    Done,
    Failed,
}

enum Storage {
    Memory(BTreeMap<(String, String), Vec<u8>>),
    Sqlite(Connection),
}

struct Inner {
    storage: Option<Storage>,
    location: Kv,
    /// Redis mode: writes per key, to emulate `WATCH`.
    writes: HashMap<(String, String), u64>,
}

/// The key-value state shared by every instance of one host.
pub(crate) struct KvShared {
    inner: Mutex<Inner>,
    pub flaws: Flaws,
    pub faults: crate::Faults,
    poisoned: AtomicBool,
    /// Set by `Host::kill`: late calls from dying instances must not write.
    closed: AtomicBool,
}

const UPSERT: &str = "INSERT INTO spin_key_value (store, key, value) VALUES ($1, $2, $3)
     ON CONFLICT(store, key) DO UPDATE SET value=$3";

fn sql_err(e: rusqlite::Error) -> Fail {
    Fail::Error(format!("{e:?}"))
}

impl KvShared {
    pub fn new(location: Kv, flaws: Flaws, faults: crate::Faults) -> Self {
        KvShared {
            inner: Mutex::new(Inner {
                storage: None,
                location,
                writes: HashMap::new(),
            }),
            flaws,
            faults,
            poisoned: AtomicBool::new(false),
            closed: AtomicBool::new(false),
        }
    }

    /// Stops all further calls and closes the SQLite connection, so that a
    /// new host can take the file over as a restarted Spin would.
    pub fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
        if let Ok(mut inner) = self.inner.lock() {
            inner.storage = None;
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

    /// Atomics calls also fail on a platform without atomics.
    fn enter_atomics(&self) -> KvResult<()> {
        if self.flaws.no_atomics {
            return Err(Fail::Error(
                "atomics are not supported by this platform".into(),
            ));
        }
        self.enter()
    }

    /// Runs `f` on the storage, opening it on first use as Spin does (the
    /// table appears with the first key-value call).
    fn with<R>(
        &self,
        f: impl FnOnce(&mut Storage, &mut HashMap<(String, String), u64>) -> KvResult<R>,
    ) -> KvResult<R> {
        let mut inner = self
            .inner
            .lock()
            .map_err(|_| Fail::Trap("host mutex poisoned".into()))?;
        let inner = &mut *inner;
        if inner.storage.is_none() {
            inner.storage = Some(open_storage(&inner.location)?);
        }
        let storage = inner.storage.as_mut().expect("opened above");
        f(storage, &mut inner.writes)
    }

    /// `open` checks the label and, like Spin's, opens the database (and
    /// creates the table) on first use. It takes no lock on the connection,
    /// which is why it keeps working on a poisoned store.
    pub fn open(&self, label: &str) -> Result<(), OpenError> {
        if label != "default" {
            return Err(OpenError::AccessDenied);
        }
        if self.closed.load(Ordering::SeqCst) {
            return Err(OpenError::Other("host was killed".into()));
        }
        let mut inner = self
            .inner
            .lock()
            .map_err(|_| OpenError::Other("host mutex poisoned".into()))?;
        if inner.storage.is_none() {
            let storage = open_storage(&inner.location).map_err(|f| match f {
                Fail::Error(m) | Fail::Trap(m) => OpenError::Other(m),
            })?;
            inner.storage = Some(storage);
        }
        Ok(())
    }

    pub fn get(&self, store: &str, key: &str) -> KvResult<Option<Vec<u8>>> {
        self.enter()?;
        self.with(|s, _| read(s, store, key))
    }

    pub fn set(&self, store: &str, key: &str, value: &[u8]) -> KvResult<()> {
        self.enter()?;
        self.faults.count_write();
        self.with(|s, w| {
            bump(w, store, key);
            write(s, store, key, value)
        })
    }

    pub fn delete(&self, store: &str, key: &str) -> KvResult<()> {
        self.enter()?;
        self.faults.count_write();
        self.with(|s, w| {
            bump(w, store, key);
            match s {
                Storage::Memory(m) => {
                    m.remove(&(store.to_owned(), key.to_owned()));
                    Ok(())
                }
                Storage::Sqlite(c) => c
                    .prepare_cached("DELETE FROM spin_key_value WHERE store=$1 AND key=$2")
                    .and_then(|mut st| st.execute(params![store, key]))
                    .map(drop)
                    .map_err(sql_err),
            }
        })
    }

    pub fn exists(&self, store: &str, key: &str) -> KvResult<bool> {
        Ok(self.get(store, key)?.is_some())
    }

    pub fn keys(&self, store: &str) -> KvResult<Vec<String>> {
        self.enter()?;
        self.with(|s, _| match s {
            Storage::Memory(m) => Ok(m
                .keys()
                .filter(|(st, _)| st == store)
                .map(|(_, k)| k.clone())
                .collect()),
            Storage::Sqlite(c) => {
                let mut st = c
                    .prepare_cached("SELECT key FROM spin_key_value WHERE store=$1")
                    .map_err(sql_err)?;
                let rows = st
                    .query_map([store], |row| row.get::<_, String>(0))
                    .map_err(sql_err)?;
                rows.collect::<Result<_, _>>().map_err(sql_err)
            }
        })
    }

    pub fn get_many(
        &self,
        store: &str,
        keys: Vec<String>,
    ) -> KvResult<Vec<(String, Option<Vec<u8>>)>> {
        self.enter()?;
        // Spin's SQL returns only the keys that exist, each with `some(..)`.
        self.with(|s, _| {
            let mut out = Vec::new();
            for key in keys {
                if let Some(v) = read(s, store, &key)? {
                    out.push((key, Some(v)));
                }
            }
            Ok(out)
        })
    }

    /// One transaction, one commit, as Spin's `set_many` on SQLite.
    pub fn set_many(&self, store: &str, pairs: Vec<(String, Vec<u8>)>) -> KvResult<()> {
        self.enter()?;
        self.faults.count_write();
        self.with(|s, w| {
            for (k, _) in &pairs {
                bump(w, store, k);
            }
            match s {
                Storage::Memory(m) => {
                    for (k, v) in pairs {
                        m.insert((store.to_owned(), k), v);
                    }
                    Ok(())
                }
                Storage::Sqlite(c) => {
                    let tx = c.transaction().map_err(sql_err)?;
                    for (k, v) in &pairs {
                        tx.prepare_cached(UPSERT)
                            .and_then(|mut st| st.execute(params![store, k, v]))
                            .map_err(sql_err)?;
                    }
                    tx.commit().map_err(sql_err)
                }
            }
        })
    }

    pub fn delete_many(&self, store: &str, keys: Vec<String>) -> KvResult<()> {
        self.enter()?;
        self.faults.count_write();
        self.with(|s, w| {
            for k in &keys {
                bump(w, store, k);
            }
            match s {
                Storage::Memory(m) => {
                    for k in keys {
                        m.remove(&(store.to_owned(), k));
                    }
                    Ok(())
                }
                Storage::Sqlite(c) => {
                    let tx = c.transaction().map_err(sql_err)?;
                    for k in &keys {
                        tx.prepare_cached("DELETE FROM spin_key_value WHERE store=$1 AND key=$2")
                            .and_then(|mut st| st.execute(params![store, k]))
                            .map_err(sql_err)?;
                    }
                    tx.commit().map_err(sql_err)
                }
            }
        })
    }

    pub fn increment(&self, store: &str, key: &str, delta: i64) -> KvResult<i64> {
        self.enter_atomics()?;
        self.faults.count_write();
        let redis = self.flaws.redis;
        let poisons = self.flaws.increment_poisons;
        let result = self.with(|s, w| {
            let old = read(s, store, key)?;
            let (current, encoded): (i64, fn(i64) -> Vec<u8>) = if redis {
                // Redis INCRBY: ASCII decimal, an error on anything else.
                let n = match &old {
                    None => 0,
                    Some(v) => std::str::from_utf8(v)
                        .ok()
                        .and_then(|t| t.parse::<i64>().ok())
                        .ok_or_else(|| {
                            Fail::Error(
                                "ERR value is not an integer or out of range".into(),
                            )
                        })?,
                };
                (n, |n| n.to_string().into_bytes())
            } else {
                // Spin's SQLite store: an 8-byte little-endian i64, and an
                // `expect("incorrect length")` panic on anything else.
                let n = match old {
                    None => 0,
                    Some(v) => match <[u8; 8]>::try_from(v.as_slice()) {
                        Ok(b) => i64::from_le_bytes(b),
                        Err(_) => {
                            return Err(Fail::Trap(format!(
                                "increment of {key:?}: value of {} bytes is not a counter (Spin panics: incorrect length)",
                                v.len()
                            )));
                        }
                    },
                };
                (n, |n| n.to_le_bytes().to_vec())
            };
            let new = current.checked_add(delta).ok_or_else(|| {
                Fail::Error("increment overflow".into())
            })?;
            bump(w, store, key);
            write(s, store, key, &encoded(new))?;
            Ok(new)
        });
        match result {
            Err(Fail::Trap(msg)) if poisons => {
                self.poisoned.store(true, Ordering::SeqCst);
                Err(Fail::Trap(msg))
            }
            Err(Fail::Trap(msg)) => Err(Fail::Error(msg)),
            other => other,
        }
    }

    /// `cas.new`: Spin's SQLite store only records the key.
    pub fn cas_new(&self) -> KvResult<()> {
        self.enter_atomics()
    }

    /// `cas.current`: reads the value and remembers it (and, in Redis mode,
    /// the key's write count, as `WATCH` does).
    pub fn cas_current(
        &self,
        store: &str,
        key: &str,
        seen: &mut CasSeen,
    ) -> KvResult<Option<Vec<u8>>> {
        self.enter_atomics()?;
        self.with(|s, w| {
            let value = read(s, store, key)?;
            seen.value = value.clone();
            seen.watched = Some(*w.get(&(store.to_owned(), key.to_owned())).unwrap_or(&0));
            Ok(value)
        })
    }

    pub fn cas_swap(&self, store: &str, key: &str, seen: &CasSeen, value: &[u8]) -> KvResult<Swap> {
        self.enter_atomics()?;
        self.faults.count_write();
        let flaws = self.flaws.clone();
        self.with(|s, w| {
            if flaws.redis {
                // MULTI/SET/EXEC under WATCH: written only if nothing wrote
                // the key since `current`; then the failing UNWATCH makes
                // Spin report cas-failed either way.
                let now = *w.get(&(store.to_owned(), key.to_owned())).unwrap_or(&0);
                if seen.watched.is_none_or(|at| at == now) {
                    bump(w, store, key);
                    write(s, store, key, value)?;
                }
                return Ok(Swap::Failed);
            }
            let current = read(s, store, key)?;
            let wins = match &seen.value {
                // Spin compares values (so ABA passes).
                Some(old) => current.as_deref() == Some(old.as_slice()),
                // Spin upserts when it saw no value: every racer wins.
                None if flaws.cas_missing_key_races => true,
                None => current.is_none(),
            };
            if wins {
                bump(w, store, key);
                write(s, store, key, value)?;
                Ok(Swap::Done)
            } else {
                Ok(Swap::Failed)
            }
        })
    }
}

pub(crate) enum OpenError {
    AccessDenied,
    Other(String),
}

fn bump(writes: &mut HashMap<(String, String), u64>, store: &str, key: &str) {
    *writes
        .entry((store.to_owned(), key.to_owned()))
        .or_insert(0) += 1;
}

fn open_storage(location: &Kv) -> KvResult<Storage> {
    match location {
        Kv::Memory => Ok(Storage::Memory(BTreeMap::new())),
        Kv::Sqlite(path) => {
            let c = Connection::open(path).map_err(sql_err)?;
            // Spin's schema, verbatim in meaning; default rollback journal.
            c.execute(
                "CREATE TABLE IF NOT EXISTS spin_key_value (
                    store TEXT NOT NULL,
                    key   TEXT NOT NULL,
                    value BLOB NOT NULL,
                    PRIMARY KEY (store, key)
                )",
                [],
            )
            .map_err(sql_err)?;
            Ok(Storage::Sqlite(c))
        }
    }
}

fn read(s: &mut Storage, store: &str, key: &str) -> KvResult<Option<Vec<u8>>> {
    match s {
        Storage::Memory(m) => Ok(m.get(&(store.to_owned(), key.to_owned())).cloned()),
        Storage::Sqlite(c) => c
            .prepare_cached("SELECT value FROM spin_key_value WHERE store=$1 AND key=$2")
            .and_then(|mut st| st.query_row(params![store, key], |r| r.get(0)).optional())
            .map_err(sql_err),
    }
}

/// One statement, one implicit transaction, one commit: Spin's `set`.
fn write(s: &mut Storage, store: &str, key: &str, value: &[u8]) -> KvResult<()> {
    match s {
        Storage::Memory(m) => {
            m.insert((store.to_owned(), key.to_owned()), value.to_vec());
            Ok(())
        }
        Storage::Sqlite(c) => c
            .prepare_cached(UPSERT)
            .and_then(|mut st| st.execute(params![store, key, value]))
            .map(drop)
            .map_err(sql_err),
    }
}

/// Shared handle so bindings can hold the state cheaply.
pub(crate) type KvHandle = Arc<KvShared>;
