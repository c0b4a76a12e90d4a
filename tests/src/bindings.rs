//! Host side of `spin:key-value/key-value@3.0.0` and
//! `wasi:keyvalue/{store,atomics,batch}@0.2.0-draft2`, generated from the WIT
//! that spin-sdk 7.0.0 ships (copied under `tests/wit/`).
//!
//! As in Spin (`crates/factor-key-value/src/host.rs`), every import is an
//! async host function: the `wasi:keyvalue` ones are synchronous to the
//! guest, so while one runs its whole instance waits.

use wasmtime::component::{
    Accessor, FutureReader, HasData, Linker, Resource, ResourceTable, StreamReader,
};

use crate::kv::{CasState, Fail, KvHandle, OpenError, Swap};

wasmtime::component::bindgen!({
    path: "wit",
    world: "bgtasks:test-host/key-value-host",
    imports: { default: async | trappable },
    with: {
        "spin:key-value/key-value.store": SpinStore,
        "wasi:keyvalue/store.bucket": Bucket,
        "wasi:keyvalue/atomics.cas": CasHandle,
    },
});

use spin::key_value::key_value as v3;
use spin::variables::variables as vars;
use wasi::keyvalue::{atomics, batch, store as wstore};

/// An open `spin:key-value` store. Only `default` opens, so it holds
/// nothing.
pub struct SpinStore;

/// An open `wasi:keyvalue` bucket (only `default` opens).
pub struct Bucket;

/// A CAS handle: the key and the backend's state.
pub struct CasHandle {
    key: String,
    state: CasState,
}

/// Per-instance key-value state: the resource table for the handles above
/// and the host-wide store.
pub struct KvCtx {
    table: ResourceTable,
    kv: KvHandle,
    /// The component's variables.
    variables: std::sync::Arc<std::collections::HashMap<String, String>>,
    /// Handles the guest gave up to `swap`. Spin never removes them from
    /// its table, so their state (on Redis, an open connection) lives as
    /// long as the instance does.
    spent: Vec<CasState>,
}

impl KvCtx {
    pub fn new(
        kv: KvHandle,
        variables: std::sync::Arc<std::collections::HashMap<String, String>>,
    ) -> Self {
        KvCtx {
            table: ResourceTable::new(),
            kv,
            variables,
            spent: Vec::new(),
        }
    }
}

/// Marker for the generated `HasData`-based traits.
pub struct KvData;

impl HasData for KvData {
    type Data<'a> = &'a mut KvCtx;
}

/// Adds the key-value interfaces to `linker`, reaching `KvCtx` through `get`.
pub fn add_to_linker<T: Send + 'static>(
    linker: &mut Linker<T>,
    get: fn(&mut T) -> &mut KvCtx,
) -> wasmtime::Result<()> {
    KeyValueHost::add_to_linker::<T, KvData>(linker, get)
}

/// A trap is an `Err` of the outer result; an error is the interface's own.
fn split<T, E>(
    r: Result<T, Fail>,
    other: impl FnOnce(String) -> E,
) -> wasmtime::Result<Result<T, E>> {
    match r {
        Ok(v) => Ok(Ok(v)),
        Err(Fail::Error(msg)) => Ok(Err(other(msg))),
        Err(Fail::Trap(msg)) => Err(wasmtime::format_err!("{msg}")),
    }
}

fn table_err(e: wasmtime::component::ResourceTableError) -> wasmtime::Error {
    wasmtime::format_err!("{e}")
}

// ---- spin:key-value@3.0.0 (async functions, reached through an Accessor) ----

impl v3::Host for KvCtx {}

impl v3::HostStore for KvCtx {
    async fn drop(&mut self, rep: Resource<SpinStore>) -> wasmtime::Result<()> {
        self.table.delete(rep).map_err(table_err)?;
        Ok(())
    }
}

/// The shared store behind a `spin:key-value` handle (checking the handle).
fn spin_store<T>(
    accessor: &Accessor<T, KvData>,
    store: &Resource<SpinStore>,
) -> wasmtime::Result<KvHandle> {
    accessor.with(|mut access| {
        let ctx = access.get();
        ctx.table.get(store).map_err(table_err)?;
        Ok(ctx.kv.clone())
    })
}

impl<T> v3::HostStoreWithStore<T> for KvData {
    async fn open(
        accessor: &Accessor<T, Self>,
        label: String,
    ) -> wasmtime::Result<Result<Resource<SpinStore>, v3::Error>> {
        let kv = accessor.with(|mut access| access.get().kv.clone());
        match kv.open(&label).await {
            Ok(()) => accessor.with(|mut access| {
                Ok(Ok(access.get().table.push(SpinStore).map_err(table_err)?))
            }),
            Err(OpenError::AccessDenied) => Ok(Err(v3::Error::AccessDenied)),
            Err(OpenError::Other(m)) => Ok(Err(v3::Error::Other(m))),
        }
    }

    async fn get(
        accessor: &Accessor<T, Self>,
        store: Resource<SpinStore>,
        key: String,
    ) -> wasmtime::Result<Result<Option<Vec<u8>>, v3::Error>> {
        let kv = spin_store(accessor, &store)?;
        split(kv.get(&key).await, v3::Error::Other)
    }

    async fn set(
        accessor: &Accessor<T, Self>,
        store: Resource<SpinStore>,
        key: String,
        value: Vec<u8>,
    ) -> wasmtime::Result<Result<(), v3::Error>> {
        let kv = spin_store(accessor, &store)?;
        split(kv.set(&key, &value).await, v3::Error::Other)
    }

    async fn delete(
        accessor: &Accessor<T, Self>,
        store: Resource<SpinStore>,
        key: String,
    ) -> wasmtime::Result<Result<(), v3::Error>> {
        let kv = spin_store(accessor, &store)?;
        split(kv.delete(&key).await, v3::Error::Other)
    }

    async fn exists(
        accessor: &Accessor<T, Self>,
        store: Resource<SpinStore>,
        key: String,
    ) -> wasmtime::Result<Result<bool, v3::Error>> {
        let kv = spin_store(accessor, &store)?;
        split(kv.exists(&key).await, v3::Error::Other)
    }

    async fn get_keys(
        accessor: &Accessor<T, Self>,
        store: Resource<SpinStore>,
    ) -> wasmtime::Result<(StreamReader<String>, FutureReader<Result<(), v3::Error>>)> {
        let kv = spin_store(accessor, &store)?;
        // Spin streams from the database; reading all keys first gives the
        // guest the same sequence (and the same O(n) cost).
        let (keys, result) = match split(kv.keys().await, v3::Error::Other)? {
            Ok(keys) => (keys, Ok(())),
            Err(e) => (Vec::new(), Err(e)),
        };
        accessor.with(|mut access| {
            let stream = StreamReader::new(&mut access, keys)?;
            let future = FutureReader::new(&mut access, async move {
                wasmtime::Result::<_, wasmtime::Error>::Ok(result)
            })?;
            Ok((stream, future))
        })
    }
}

// ---- spin:variables@3.0.0 ----

impl vars::Host for KvCtx {}

impl<T> vars::HostWithStore<T> for KvData {
    /// As Spin's variables factor: a name must be a valid key (lowercase
    /// letters, digits and underscores, starting with a letter), and one the
    /// component does not define is `undefined`.
    async fn get(
        accessor: &Accessor<T, Self>,
        name: String,
    ) -> wasmtime::Result<Result<String, vars::Error>> {
        let valid = name.starts_with(|c: char| c.is_ascii_lowercase())
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if !valid {
            return Ok(Err(vars::Error::InvalidName(name)));
        }
        let value = accessor.with(|mut access| access.get().variables.get(&name).cloned());
        Ok(value.ok_or_else(|| vars::Error::Undefined(format!("no variable for {name:?}"))))
    }
}

// ---- wasi:keyvalue@0.2.0-draft2 (synchronous to the guest) ----

impl KvCtx {
    fn bucket(&self, bucket: &Resource<Bucket>) -> wasmtime::Result<KvHandle> {
        self.table.get(bucket).map_err(table_err)?;
        Ok(self.kv.clone())
    }
}

fn wasi_other(msg: String) -> wstore::Error {
    wstore::Error::Other(msg)
}

impl wstore::Host for KvCtx {
    async fn open(
        &mut self,
        identifier: String,
    ) -> wasmtime::Result<Result<Resource<Bucket>, wstore::Error>> {
        match self.kv.clone().open(&identifier).await {
            Ok(()) => Ok(Ok(self.table.push(Bucket).map_err(table_err)?)),
            Err(OpenError::AccessDenied) => Ok(Err(wstore::Error::AccessDenied)),
            Err(OpenError::Other(m)) => Ok(Err(wstore::Error::Other(m))),
        }
    }
}

impl wstore::HostBucket for KvCtx {
    async fn get(
        &mut self,
        bucket: Resource<Bucket>,
        key: String,
    ) -> wasmtime::Result<Result<Option<Vec<u8>>, wstore::Error>> {
        let kv = self.bucket(&bucket)?;
        split(kv.get(&key).await, wasi_other)
    }

    async fn set(
        &mut self,
        bucket: Resource<Bucket>,
        key: String,
        value: Vec<u8>,
    ) -> wasmtime::Result<Result<(), wstore::Error>> {
        let kv = self.bucket(&bucket)?;
        split(kv.set(&key, &value).await, wasi_other)
    }

    async fn delete(
        &mut self,
        bucket: Resource<Bucket>,
        key: String,
    ) -> wasmtime::Result<Result<(), wstore::Error>> {
        let kv = self.bucket(&bucket)?;
        split(kv.delete(&key).await, wasi_other)
    }

    async fn exists(
        &mut self,
        bucket: Resource<Bucket>,
        key: String,
    ) -> wasmtime::Result<Result<bool, wstore::Error>> {
        let kv = self.bucket(&bucket)?;
        split(kv.exists(&key).await, wasi_other)
    }

    async fn list_keys(
        &mut self,
        bucket: Resource<Bucket>,
        cursor: Option<String>,
    ) -> wasmtime::Result<Result<wstore::KeyResponse, wstore::Error>> {
        let kv = self.bucket(&bucket)?;
        if cursor.is_some() {
            return Ok(Err(wasi_other("list_keys: cursor not supported".into())));
        }
        split(
            kv.keys()
                .await
                .map(|keys| wstore::KeyResponse { keys, cursor: None }),
            wasi_other,
        )
    }

    async fn drop(&mut self, rep: Resource<Bucket>) -> wasmtime::Result<()> {
        self.table.delete(rep).map_err(table_err)?;
        Ok(())
    }
}

impl batch::Host for KvCtx {
    async fn get_many(
        &mut self,
        bucket: Resource<Bucket>,
        keys: Vec<String>,
    ) -> wasmtime::Result<Result<Vec<(String, Option<Vec<u8>>)>, wstore::Error>> {
        let kv = self.bucket(&bucket)?;
        if keys.is_empty() {
            // Spin returns before touching the store.
            return Ok(Ok(Vec::new()));
        }
        split(kv.get_many(keys).await, wasi_other)
    }

    async fn set_many(
        &mut self,
        bucket: Resource<Bucket>,
        key_values: Vec<(String, Vec<u8>)>,
    ) -> wasmtime::Result<Result<(), wstore::Error>> {
        let kv = self.bucket(&bucket)?;
        if key_values.is_empty() {
            return Ok(Ok(()));
        }
        split(kv.set_many(key_values).await, wasi_other)
    }

    async fn delete_many(
        &mut self,
        bucket: Resource<Bucket>,
        keys: Vec<String>,
    ) -> wasmtime::Result<Result<(), wstore::Error>> {
        let kv = self.bucket(&bucket)?;
        if keys.is_empty() {
            return Ok(Ok(()));
        }
        split(kv.delete_many(keys).await, wasi_other)
    }
}

impl atomics::Host for KvCtx {
    async fn increment(
        &mut self,
        bucket: Resource<Bucket>,
        key: String,
        delta: i64,
    ) -> wasmtime::Result<Result<i64, wstore::Error>> {
        let kv = self.bucket(&bucket)?;
        split(kv.increment(&key, delta).await, wasi_other)
    }

    async fn swap(
        &mut self,
        cas: Resource<CasHandle>,
        value: Vec<u8>,
    ) -> wasmtime::Result<Result<(), atomics::CasError>> {
        // `swap` consumes the guest's handle; its state stays with the
        // instance (see `spent`).
        let handle = self.table.delete(cas).map_err(table_err)?;
        let kv = self.kv.clone();
        let swapped = kv.cas_swap(&handle.key, &handle.state, value).await;
        self.spent.push(handle.state);
        match split(swapped, wasi_other)? {
            Ok(Swap::Done) => Ok(Ok(())),
            Err(e) => Ok(Err(atomics::CasError::StoreError(e))),
            Ok(Swap::Failed) => {
                // As Spin does: a new handle (on Redis, a new connection)
                // that has already read the latest value, so the guest can
                // retry from it.
                let mut state = match split(kv.cas_new(&handle.key).await, wasi_other)? {
                    Ok(state) => state,
                    Err(e) => return Ok(Err(atomics::CasError::StoreError(e))),
                };
                let read = kv.cas_current(&handle.key, &mut state).await;
                if let Err(e) = split(read, wasi_other)? {
                    return Ok(Err(atomics::CasError::StoreError(e)));
                }
                let fresh = self
                    .table
                    .push(CasHandle {
                        key: handle.key,
                        state,
                    })
                    .map_err(table_err)?;
                Ok(Err(atomics::CasError::CasFailed(fresh)))
            }
        }
    }
}

impl atomics::HostCas for KvCtx {
    async fn new(
        &mut self,
        bucket: Resource<Bucket>,
        key: String,
    ) -> wasmtime::Result<Result<Resource<CasHandle>, wstore::Error>> {
        let kv = self.bucket(&bucket)?;
        let state = match split(kv.cas_new(&key).await, wasi_other)? {
            Ok(state) => state,
            Err(e) => return Ok(Err(e)),
        };
        Ok(Ok(self
            .table
            .push(CasHandle { key, state })
            .map_err(table_err)?))
    }

    async fn current(
        &mut self,
        cas: Resource<CasHandle>,
    ) -> wasmtime::Result<Result<Option<Vec<u8>>, wstore::Error>> {
        let kv = self.kv.clone();
        let handle = self.table.get_mut(&cas).map_err(table_err)?;
        let read = kv.cas_current(&handle.key, &mut handle.state).await;
        split(read, wasi_other)
    }

    async fn drop(&mut self, rep: Resource<CasHandle>) -> wasmtime::Result<()> {
        self.table.delete(rep).map_err(table_err)?;
        Ok(())
    }
}
