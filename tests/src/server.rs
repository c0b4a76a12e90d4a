//! A server under test: the test host, or the real `spin up`.
//!
//! The integration tests that need nothing but HTTP run on either, chosen
//! by the environment, so the same assertions hold the component to Spin
//! itself wherever Spin is installed:
//!
//! - `BGTASKS_RUNTIME`: `host` (the default) or `spin` (`spin` 4.1 or
//!   later on `PATH`, or the binary `BGTASKS_SPIN` names);
//! - `BGTASKS_STORE`: `sqlite` (the default, Spin's own) or `redis` (a
//!   database on the test process's private `redis-server`).

use std::net::SocketAddr;

use anyhow::bail;

use crate::spin::SpinProcess;
use crate::{Host, HostConfig, Kv};

/// Where servers run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Runtime {
    Host,
    Spin,
}

impl Runtime {
    /// The runtime `BGTASKS_RUNTIME` names. Panics on anything else, and
    /// when it names Spin and no Spin 4.1 or later is installed: a pass
    /// that was asked for must not quietly run elsewhere.
    pub fn from_env() -> Runtime {
        match std::env::var("BGTASKS_RUNTIME").as_deref() {
            Err(_) | Ok("") | Ok("host") => Runtime::Host,
            Ok("spin") => {
                assert!(
                    crate::spin::spin_binary().is_some(),
                    "BGTASKS_RUNTIME=spin, but no spin 4.1 or later is installed"
                );
                Runtime::Spin
            }
            Ok(other) => panic!("BGTASKS_RUNTIME={other}: expected `host` or `spin`"),
        }
    }
}

/// Which store a test's servers use when it does not insist on one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StoreKind {
    Sqlite,
    Redis,
}

impl StoreKind {
    pub fn from_env() -> StoreKind {
        match std::env::var("BGTASKS_STORE").as_deref() {
            Err(_) | Ok("") | Ok("sqlite") => StoreKind::Sqlite,
            Ok("redis") => StoreKind::Redis,
            Ok(other) => panic!("BGTASKS_STORE={other}: expected `sqlite` or `redis`"),
        }
    }
}

/// One running server.
pub enum Server {
    Host(Host),
    Spin(SpinProcess),
}

impl Server {
    /// Starts a server for `config` on `runtime`.
    pub async fn start(runtime: Runtime, config: HostConfig) -> anyhow::Result<Server> {
        match runtime {
            Runtime::Host => Ok(Server::Host(Host::start(config).await?)),
            Runtime::Spin => Ok(Server::Spin(SpinProcess::start(&config).await?)),
        }
    }

    pub fn addr(&self) -> SocketAddr {
        match self {
            Server::Host(host) => host.addr(),
            Server::Spin(spin) => spin.addr(),
        }
    }

    /// `http://127.0.0.1:PORT`, no trailing slash.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr())
    }

    /// The test host behind this server, for what only it can do (faults,
    /// counters); an error under Spin.
    pub fn host(&self) -> anyhow::Result<&Host> {
        match self {
            Server::Host(host) => Ok(host),
            Server::Spin(_) => bail!("this needs the test host, not Spin"),
        }
    }

    /// Stops the server as SIGTERM stops Spin: in-flight requests are cut
    /// off and background work is dropped.
    pub async fn kill(self) {
        match self {
            Server::Host(host) => host.kill().await,
            Server::Spin(spin) => spin.kill().await,
        }
    }
}

/// A value in `kv`, read behind the service's back: from Spin's SQLite
/// file, or from Redis. `None` for a missing key (or an in-memory store).
pub fn read_store(kv: &Kv, key: &str) -> Option<Vec<u8>> {
    match kv {
        Kv::Memory => None,
        Kv::Sqlite(path) => {
            let conn = rusqlite::Connection::open(path).ok()?;
            conn.query_row(
                "SELECT value FROM spin_key_value WHERE store = 'default' AND key = ?1",
                [key],
                |row| row.get(0),
            )
            .ok()
        }
        Kv::Redis(url) => {
            let mut conn = redis::Client::open(url.as_str())
                .ok()?
                .get_connection()
                .ok()?;
            redis::cmd("GET").arg(key).query(&mut conn).ok()?
        }
    }
}

/// How many keys `kv` holds, read behind the service's back.
pub fn count_keys(kv: &Kv) -> Option<u64> {
    match kv {
        Kv::Memory => None,
        Kv::Sqlite(path) => {
            let conn = rusqlite::Connection::open(path).ok()?;
            conn.query_row(
                "SELECT count(*) FROM spin_key_value WHERE store = 'default'",
                [],
                |row| row.get(0),
            )
            .ok()
        }
        Kv::Redis(url) => {
            let mut conn = redis::Client::open(url.as_str())
                .ok()?
                .get_connection()
                .ok()?;
            redis::cmd("DBSIZE").query(&mut conn).ok()
        }
    }
}
