//! Spin's Redis store (`spinframework/spin: crates/key-value-redis/src/
//! store.rs`), call by call, on a real `redis-server`.
//!
//! The same `redis` crate, at the version Spin 4.1 locks, sends the same
//! commands Spin sends, so what a component sees here is what it sees under
//! `spin up` with a Redis runtime config, flaws included:
//!
//! - `get_many` sends `KEYS k1 k2 ..` (not `MGET`): Redis refuses more than
//!   one key, and the answer for one existing key makes the crate hit
//!   `unreachable!()`, a panic inside the host.
//! - compare-and-swap opens a new connection per swap (`WATCH`, `GET`, then
//!   `MULTI`/`SET`/`EXEC`), and its `UNWATCH key` is refused by Redis, so
//!   every swap reports `cas-failed`, whether or not it wrote.
//! - `increment` is `INCRBY` (an ASCII decimal value).

use redis::aio::ConnectionManager;
use redis::{AsyncCommands, Client, RedisError};
use tokio::sync::OnceCell;

use super::{Fail, KvResult, Swap};

/// Spin's `log_error`: the error's debug text becomes `other(..)`.
fn other(e: impl std::fmt::Debug) -> Fail {
    Fail::Error(format!("{e:?}"))
}

pub(super) struct RedisStore {
    client: Client,
    /// One multiplexed connection for the whole host, made on first `open`.
    connection: OnceCell<ConnectionManager>,
}

/// A swap's own connection, as Spin's `CompareAndSwap` holds one.
pub(crate) struct RedisCas {
    key: String,
    connection: ConnectionManager,
}

impl RedisStore {
    pub fn new(url: &str) -> anyhow::Result<Self> {
        let url = redis::parse_redis_url(url)
            .ok_or_else(|| anyhow::anyhow!("Invalid Redis URL: {url}"))?;
        Ok(RedisStore {
            client: Client::open(url)?,
            connection: OnceCell::new(),
        })
    }

    async fn connection(&self) -> KvResult<ConnectionManager> {
        self.connection
            .get_or_try_init(|| self.client.get_connection_manager())
            .await
            .cloned()
            .map_err(other)
    }

    /// Spin's `StoreManager::get` plus `after_open`: connect once, then a
    /// `PING` whose failure is ignored.
    pub async fn open(&self) -> KvResult<()> {
        let mut connection = self.connection().await?;
        let _ = connection.ping::<()>().await;
        Ok(())
    }

    pub async fn get(&self, key: &str) -> KvResult<Option<Vec<u8>>> {
        let mut c = self.connection().await?;
        c.get::<_, Option<Vec<u8>>>(key).await.map_err(other)
    }

    pub async fn set(&self, key: &str, value: &[u8]) -> KvResult<()> {
        let mut c = self.connection().await?;
        c.set::<_, _, ()>(key, value).await.map_err(other)
    }

    pub async fn delete(&self, key: &str) -> KvResult<()> {
        let mut c = self.connection().await?;
        c.del::<_, ()>(key).await.map_err(other)
    }

    pub async fn exists(&self, key: &str) -> KvResult<bool> {
        let mut c = self.connection().await?;
        c.exists::<_, bool>(key).await.map_err(other)
    }

    pub async fn keys(&self) -> KvResult<Vec<String>> {
        let mut c = self.connection().await?;
        c.keys::<_, Vec<String>>("*").await.map_err(other)
    }

    /// Exactly Spin's call: `KEYS` with the list of keys.
    pub async fn get_many(&self, keys: Vec<String>) -> KvResult<Vec<(String, Option<Vec<u8>>)>> {
        let mut c = self.connection().await?;
        c.keys::<_, Vec<(String, Option<Vec<u8>>)>>(keys)
            .await
            .map_err(other)
    }

    pub async fn set_many(&self, pairs: Vec<(String, Vec<u8>)>) -> KvResult<()> {
        let mut c = self.connection().await?;
        c.mset::<_, _, ()>(&pairs).await.map_err(other)
    }

    pub async fn delete_many(&self, keys: Vec<String>) -> KvResult<()> {
        let mut c = self.connection().await?;
        c.del::<_, ()>(keys).await.map_err(other)
    }

    pub async fn increment(&self, key: &str, delta: i64) -> KvResult<i64> {
        let mut c = self.connection().await?;
        c.incr::<_, _, i64>(key, delta).await.map_err(other)
    }

    /// A new connection for this swap: Redis transactions are scoped to a
    /// connection.
    pub async fn cas_new(&self, key: &str) -> KvResult<RedisCas> {
        let connection = self.client.get_connection_manager().await.map_err(other)?;
        Ok(RedisCas {
            key: key.to_owned(),
            connection,
        })
    }
}

impl RedisCas {
    /// `WATCH key`, then `GET key`.
    pub async fn current(&self) -> KvResult<Option<Vec<u8>>> {
        redis::cmd("WATCH")
            .arg(&self.key)
            .exec_async(&mut self.connection.clone())
            .await
            .map_err(other)?;
        self.connection
            .clone()
            .get::<_, Option<Vec<u8>>>(&self.key)
            .await
            .map_err(other)
    }

    /// `MULTI`/`SET`/`EXEC`, then `UNWATCH key`, which Redis refuses (it
    /// takes no argument): reported as `cas-failed`, whatever `EXEC` did.
    pub async fn swap(&self, value: Vec<u8>) -> KvResult<Swap> {
        let mut transaction = redis::pipe();
        let res: Result<(), RedisError> = transaction
            .atomic()
            .set(&self.key, value)
            .query_async(&mut self.connection.clone())
            .await;
        if redis::cmd("UNWATCH")
            .arg(&self.key)
            .exec_async(&mut self.connection.clone())
            .await
            .is_err()
        {
            return Ok(Swap::Failed);
        }
        Ok(match res {
            Ok(()) => Swap::Done,
            Err(_) => Swap::Failed,
        })
    }
}
