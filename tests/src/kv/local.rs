//! Spin's default store (`spinframework/spin: crates/key-value-spin`): one
//! SQLite connection behind one mutex, or a map with the same rules.
//!
//! Every call holds the mutex for its whole statement or transaction, so
//! the cost model (one commit per `set`, one per batch) and the
//! interleavings match Spin's.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Mutex;

use rusqlite::{Connection, OptionalExtension, params};

use super::{Fail, KvResult, Swap};

/// The only store label the host opens.
const STORE: &str = "default";

const UPSERT: &str = "INSERT INTO spin_key_value (store, key, value) VALUES ($1, $2, $3)
     ON CONFLICT(store, key) DO UPDATE SET value=$3";

enum Storage {
    Memory(BTreeMap<String, Vec<u8>>),
    Sqlite(Connection),
}

pub(super) struct LocalStore {
    /// `None` until the first call opens it (as Spin creates the file and
    /// table on first use), and again after `close`.
    storage: Mutex<Option<Storage>>,
    /// `None`: in memory.
    path: Option<PathBuf>,
}

fn sql_err(e: rusqlite::Error) -> Fail {
    Fail::Error(format!("{e:?}"))
}

impl LocalStore {
    pub fn memory() -> Self {
        LocalStore {
            storage: Mutex::new(None),
            path: None,
        }
    }

    pub fn sqlite(path: PathBuf) -> Self {
        LocalStore {
            storage: Mutex::new(None),
            path: Some(path),
        }
    }

    pub fn close(&self) {
        if let Ok(mut storage) = self.storage.lock() {
            *storage = None;
        }
    }

    pub fn open(&self) -> KvResult<()> {
        self.with(|_| Ok(()))
    }

    /// Runs `f` on the storage, opening it on first use.
    fn with<R>(&self, f: impl FnOnce(&mut Storage) -> KvResult<R>) -> KvResult<R> {
        let mut guard = self
            .storage
            .lock()
            .map_err(|_| Fail::Trap("host mutex poisoned".into()))?;
        if guard.is_none() {
            *guard = Some(self.connect()?);
        }
        f(guard.as_mut().expect("opened above"))
    }

    fn connect(&self) -> KvResult<Storage> {
        let Some(path) = &self.path else {
            return Ok(Storage::Memory(BTreeMap::new()));
        };
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

    pub fn get(&self, key: &str) -> KvResult<Option<Vec<u8>>> {
        self.with(|s| read(s, key))
    }

    pub fn set(&self, key: &str, value: &[u8]) -> KvResult<()> {
        self.with(|s| write(s, key, value))
    }

    pub fn delete(&self, key: &str) -> KvResult<()> {
        self.with(|s| remove(s, key))
    }

    pub fn keys(&self) -> KvResult<Vec<String>> {
        self.with(|s| match s {
            Storage::Memory(m) => Ok(m.keys().cloned().collect()),
            Storage::Sqlite(c) => {
                let mut st = c
                    .prepare_cached("SELECT key FROM spin_key_value WHERE store=$1")
                    .map_err(sql_err)?;
                let rows = st
                    .query_map([STORE], |row| row.get::<_, String>(0))
                    .map_err(sql_err)?;
                rows.collect::<Result<_, _>>().map_err(sql_err)
            }
        })
    }

    /// Spin's SQL (`key IN rarray(..)`) returns only the keys that exist,
    /// each with `some(..)`.
    pub fn get_many(&self, keys: Vec<String>) -> KvResult<Vec<(String, Option<Vec<u8>>)>> {
        self.with(|s| {
            let mut out = Vec::new();
            for key in keys {
                if let Some(v) = read(s, &key)? {
                    out.push((key, Some(v)));
                }
            }
            Ok(out)
        })
    }

    /// One transaction, one commit.
    pub fn set_many(&self, pairs: Vec<(String, Vec<u8>)>) -> KvResult<()> {
        self.with(|s| match s {
            Storage::Memory(m) => {
                m.extend(pairs);
                Ok(())
            }
            Storage::Sqlite(c) => {
                let tx = c.transaction().map_err(sql_err)?;
                for (k, v) in &pairs {
                    tx.prepare_cached(UPSERT)
                        .and_then(|mut st| st.execute(params![STORE, k, v]))
                        .map_err(sql_err)?;
                }
                tx.commit().map_err(sql_err)
            }
        })
    }

    /// One statement, one commit.
    pub fn delete_many(&self, keys: Vec<String>) -> KvResult<()> {
        self.with(|s| match s {
            Storage::Memory(m) => {
                for k in keys {
                    m.remove(&k);
                }
                Ok(())
            }
            Storage::Sqlite(c) => {
                let tx = c.transaction().map_err(sql_err)?;
                for k in &keys {
                    tx.prepare_cached("DELETE FROM spin_key_value WHERE store=$1 AND key=$2")
                        .and_then(|mut st| st.execute(params![STORE, k]))
                        .map_err(sql_err)?;
                }
                tx.commit().map_err(sql_err)
            }
        })
    }

    /// An 8-byte little-endian i64 read and written in one transaction; on
    /// any other value Spin's `expect("incorrect length")` panics while
    /// holding the connection mutex (a `Trap` here; the caller poisons).
    pub fn increment(&self, key: &str, delta: i64) -> KvResult<i64> {
        self.with(|s| {
            let current = match read(s, key)? {
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
            // Spin's release build adds without an overflow check.
            let new = current.wrapping_add(delta);
            write(s, key, &new.to_le_bytes())?;
            Ok(new)
        })
    }

    /// Spin's SQLite swap: `UPDATE .. WHERE value = <seen>` when `current`
    /// saw a value (so a value changed and changed back passes), an upsert
    /// when it saw none (every racer wins; `races: false` makes it an
    /// insert-if-absent instead).
    pub fn swap(
        &self,
        key: &str,
        seen: Option<&[u8]>,
        value: &[u8],
        races: bool,
    ) -> KvResult<Swap> {
        self.with(|s| {
            let current = read(s, key)?;
            let wins = match seen {
                Some(old) => current.as_deref() == Some(old),
                None => races || current.is_none(),
            };
            if wins {
                write(s, key, value)?;
                Ok(Swap::Done)
            } else {
                Ok(Swap::Failed)
            }
        })
    }
}

fn read(s: &mut Storage, key: &str) -> KvResult<Option<Vec<u8>>> {
    match s {
        Storage::Memory(m) => Ok(m.get(key).cloned()),
        Storage::Sqlite(c) => c
            .prepare_cached("SELECT value FROM spin_key_value WHERE store=$1 AND key=$2")
            .and_then(|mut st| st.query_row(params![STORE, key], |r| r.get(0)).optional())
            .map_err(sql_err),
    }
}

/// One statement, one implicit transaction, one commit: Spin's `set`.
fn write(s: &mut Storage, key: &str, value: &[u8]) -> KvResult<()> {
    match s {
        Storage::Memory(m) => {
            m.insert(key.to_owned(), value.to_vec());
            Ok(())
        }
        Storage::Sqlite(c) => c
            .prepare_cached(UPSERT)
            .and_then(|mut st| st.execute(params![STORE, key, value]))
            .map(drop)
            .map_err(sql_err),
    }
}

fn remove(s: &mut Storage, key: &str) -> KvResult<()> {
    match s {
        Storage::Memory(m) => {
            m.remove(key);
            Ok(())
        }
        Storage::Sqlite(c) => c
            .prepare_cached("DELETE FROM spin_key_value WHERE store=$1 AND key=$2")
            .and_then(|mut st| st.execute(params![STORE, key]))
            .map(drop)
            .map_err(sql_err),
    }
}
