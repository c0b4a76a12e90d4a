//! Host side of `spin:key-value/key-value@3.0.0` and
//! `wasi:keyvalue/{store,atomics,batch}@0.2.0-draft2`, generated from the WIT
//! that spin-sdk 7.0.0 ships (copied under `tests/wit/`).

use wasmtime::component::{
    Accessor, FutureReader, HasData, Linker, Resource, ResourceTable, StreamReader,
};

use crate::kv::{CasSeen, Fail, KvHandle, OpenError, Swap};

wasmtime::component::bindgen!({
    path: "wit",
    world: "bgtasks:test-host/key-value-host",
    imports: { default: trappable },
    with: {
        "spin:key-value/key-value.store": SpinStore,
        "wasi:keyvalue/store.bucket": Bucket,
        "wasi:keyvalue/atomics.cas": CasHandle,
    },
});

use spin::key_value::key_value as v3;
use wasi::keyvalue::{atomics, batch, store as wstore};

/// An open `spin:key-value` store: just its label, as in Spin.
pub struct SpinStore {
    label: String,
}

/// An open `wasi:keyvalue` bucket.
pub struct Bucket {
    label: String,
}

/// A CAS handle: the key and what `current` saw.
pub struct CasHandle {
    label: String,
    key: String,
    seen: CasSeen,
}

/// Per-instance key-value state: the resource table for the handles above
/// and the host-wide store.
pub struct KvCtx {
    table: ResourceTable,
    kv: KvHandle,
}

impl KvCtx {
    pub fn new(kv: KvHandle) -> Self {
        KvCtx {
            table: ResourceTable::new(),
            kv,
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
    fn drop(&mut self, rep: Resource<SpinStore>) -> wasmtime::Result<()> {
        self.table.delete(rep).map_err(table_err)?;
        Ok(())
    }
}

/// The label and shared store behind a `spin:key-value` handle.
fn spin_store<T>(
    accessor: &Accessor<T, KvData>,
    store: &Resource<SpinStore>,
) -> wasmtime::Result<(String, KvHandle)> {
    accessor.with(|mut access| {
        let ctx = access.get();
        let label = ctx.table.get(store).map_err(table_err)?.label.clone();
        Ok((label, ctx.kv.clone()))
    })
}

impl<T> v3::HostStoreWithStore<T> for KvData {
    async fn open(
        accessor: &Accessor<T, Self>,
        label: String,
    ) -> wasmtime::Result<Result<Resource<SpinStore>, v3::Error>> {
        accessor.with(|mut access| {
            let ctx = access.get();
            match ctx.kv.open(&label) {
                Ok(()) => Ok(Ok(ctx
                    .table
                    .push(SpinStore { label })
                    .map_err(table_err)?)),
                Err(OpenError::AccessDenied) => Ok(Err(v3::Error::AccessDenied)),
                Err(OpenError::Other(m)) => Ok(Err(v3::Error::Other(m))),
            }
        })
    }

    async fn get(
        accessor: &Accessor<T, Self>,
        store: Resource<SpinStore>,
        key: String,
    ) -> wasmtime::Result<Result<Option<Vec<u8>>, v3::Error>> {
        let (label, kv) = spin_store(accessor, &store)?;
        split(kv.get(&label, &key), v3::Error::Other)
    }

    async fn set(
        accessor: &Accessor<T, Self>,
        store: Resource<SpinStore>,
        key: String,
        value: Vec<u8>,
    ) -> wasmtime::Result<Result<(), v3::Error>> {
        let (label, kv) = spin_store(accessor, &store)?;
        split(kv.set(&label, &key, &value), v3::Error::Other)
    }

    async fn delete(
        accessor: &Accessor<T, Self>,
        store: Resource<SpinStore>,
        key: String,
    ) -> wasmtime::Result<Result<(), v3::Error>> {
        let (label, kv) = spin_store(accessor, &store)?;
        split(kv.delete(&label, &key), v3::Error::Other)
    }

    async fn exists(
        accessor: &Accessor<T, Self>,
        store: Resource<SpinStore>,
        key: String,
    ) -> wasmtime::Result<Result<bool, v3::Error>> {
        let (label, kv) = spin_store(accessor, &store)?;
        split(kv.exists(&label, &key), v3::Error::Other)
    }

    async fn get_keys(
        accessor: &Accessor<T, Self>,
        store: Resource<SpinStore>,
    ) -> wasmtime::Result<(StreamReader<String>, FutureReader<Result<(), v3::Error>>)> {
        let (label, kv) = spin_store(accessor, &store)?;
        // Spin streams from the database; reading all keys first gives the
        // guest the same sequence (and the same O(n) cost).
        let (keys, result) = match split(kv.keys(&label), v3::Error::Other)? {
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

// ---- wasi:keyvalue@0.2.0-draft2 (synchronous functions) ----

impl KvCtx {
    fn bucket(&self, bucket: &Resource<Bucket>) -> wasmtime::Result<String> {
        Ok(self.table.get(bucket).map_err(table_err)?.label.clone())
    }
}

fn wasi_other(msg: String) -> wstore::Error {
    wstore::Error::Other(msg)
}

impl wstore::Host for KvCtx {
    fn open(
        &mut self,
        identifier: String,
    ) -> wasmtime::Result<Result<Resource<Bucket>, wstore::Error>> {
        match self.kv.open(&identifier) {
            Ok(()) => Ok(Ok(self
                .table
                .push(Bucket { label: identifier })
                .map_err(table_err)?)),
            Err(OpenError::AccessDenied) => Ok(Err(wstore::Error::AccessDenied)),
            Err(OpenError::Other(m)) => Ok(Err(wstore::Error::Other(m))),
        }
    }
}

impl wstore::HostBucket for KvCtx {
    fn get(
        &mut self,
        bucket: Resource<Bucket>,
        key: String,
    ) -> wasmtime::Result<Result<Option<Vec<u8>>, wstore::Error>> {
        let label = self.bucket(&bucket)?;
        split(self.kv.get(&label, &key), wasi_other)
    }

    fn set(
        &mut self,
        bucket: Resource<Bucket>,
        key: String,
        value: Vec<u8>,
    ) -> wasmtime::Result<Result<(), wstore::Error>> {
        let label = self.bucket(&bucket)?;
        split(self.kv.set(&label, &key, &value), wasi_other)
    }

    fn delete(
        &mut self,
        bucket: Resource<Bucket>,
        key: String,
    ) -> wasmtime::Result<Result<(), wstore::Error>> {
        let label = self.bucket(&bucket)?;
        split(self.kv.delete(&label, &key), wasi_other)
    }

    fn exists(
        &mut self,
        bucket: Resource<Bucket>,
        key: String,
    ) -> wasmtime::Result<Result<bool, wstore::Error>> {
        let label = self.bucket(&bucket)?;
        split(self.kv.exists(&label, &key), wasi_other)
    }

    fn list_keys(
        &mut self,
        bucket: Resource<Bucket>,
        _cursor: Option<String>,
    ) -> wasmtime::Result<Result<wstore::KeyResponse, wstore::Error>> {
        let label = self.bucket(&bucket)?;
        // Spin ignores the cursor and returns every key in one page.
        split(
            self.kv
                .keys(&label)
                .map(|keys| wstore::KeyResponse { keys, cursor: None }),
            wasi_other,
        )
    }

    fn drop(&mut self, rep: Resource<Bucket>) -> wasmtime::Result<()> {
        self.table.delete(rep).map_err(table_err)?;
        Ok(())
    }
}

impl batch::Host for KvCtx {
    fn get_many(
        &mut self,
        bucket: Resource<Bucket>,
        keys: Vec<String>,
    ) -> wasmtime::Result<Result<Vec<(String, Option<Vec<u8>>)>, wstore::Error>> {
        let label = self.bucket(&bucket)?;
        split(self.kv.get_many(&label, keys), wasi_other)
    }

    fn set_many(
        &mut self,
        bucket: Resource<Bucket>,
        key_values: Vec<(String, Vec<u8>)>,
    ) -> wasmtime::Result<Result<(), wstore::Error>> {
        let label = self.bucket(&bucket)?;
        if key_values.is_empty() {
            // Spin returns before touching the store.
            return Ok(Ok(()));
        }
        split(self.kv.set_many(&label, key_values), wasi_other)
    }

    fn delete_many(
        &mut self,
        bucket: Resource<Bucket>,
        keys: Vec<String>,
    ) -> wasmtime::Result<Result<(), wstore::Error>> {
        let label = self.bucket(&bucket)?;
        split(self.kv.delete_many(&label, keys), wasi_other)
    }
}

impl atomics::Host for KvCtx {
    fn increment(
        &mut self,
        bucket: Resource<Bucket>,
        key: String,
        delta: i64,
    ) -> wasmtime::Result<Result<i64, wstore::Error>> {
        let label = self.bucket(&bucket)?;
        split(self.kv.increment(&label, &key, delta), wasi_other)
    }

    fn swap(
        &mut self,
        cas: Resource<CasHandle>,
        value: Vec<u8>,
    ) -> wasmtime::Result<Result<(), atomics::CasError>> {
        // `swap` consumes the handle.
        let handle = self.table.delete(cas).map_err(table_err)?;
        let swapped = self
            .kv
            .cas_swap(&handle.label, &handle.key, &handle.seen, &value);
        match split(swapped, wasi_other)? {
            Ok(Swap::Done) => Ok(Ok(())),
            Err(e) => Ok(Err(atomics::CasError::StoreError(e))),
            Ok(Swap::Failed) => {
                // Like Spin: a fresh handle that has already read the latest
                // value, so the guest can retry from it.
                let mut seen = CasSeen::default();
                let read = self.kv.cas_current(&handle.label, &handle.key, &mut seen);
                if let Err(e) = split(read, wasi_other)? {
                    return Ok(Err(atomics::CasError::StoreError(e)));
                }
                let fresh = self
                    .table
                    .push(CasHandle {
                        label: handle.label,
                        key: handle.key,
                        seen,
                    })
                    .map_err(table_err)?;
                Ok(Err(atomics::CasError::CasFailed(fresh)))
            }
        }
    }
}

impl atomics::HostCas for KvCtx {
    fn new(
        &mut self,
        bucket: Resource<Bucket>,
        key: String,
    ) -> wasmtime::Result<Result<Resource<CasHandle>, wstore::Error>> {
        let label = self.bucket(&bucket)?;
        if let Err(e) = split(self.kv.cas_new(), wasi_other)? {
            return Ok(Err(e));
        }
        Ok(Ok(self
            .table
            .push(CasHandle {
                label,
                key,
                seen: CasSeen::default(),
            })
            .map_err(table_err)?))
    }

    fn current(
        &mut self,
        cas: Resource<CasHandle>,
    ) -> wasmtime::Result<Result<Option<Vec<u8>>, wstore::Error>> {
        let handle = self.table.get_mut(&cas).map_err(table_err)?;
        let (label, key) = (handle.label.clone(), handle.key.clone());
        let mut seen = CasSeen::default();
        let read = self.kv.cas_current(&label, &key, &mut seen);
        self.table.get_mut(&cas).map_err(table_err)?.seen = seen;
        split(read, wasi_other)
    }

    fn drop(&mut self, rep: Resource<CasHandle>) -> wasmtime::Result<()> {
        self.table.delete(rep).map_err(table_err)?;
        Ok(())
    }
}
