//! Test infrastructure for bgtasks: a host that runs the bgtasks component
//! (or any spin-sdk 7 HTTP component) the way Spin 4.1 runs it, so that the
//! project's tests see Spin's behaviour without installing Spin.
//!
//! It reproduces what was measured of Spin 4.1 (spin-sdk 7 components):
//! shared instances (16 concurrent, 128 in all, 1 s idle), background work
//! that outlives the response, a trap failing every request on its instance,
//! Spin's SQLite key-value file, atomics with Spin's encodings and flaws,
//! the spin-* request headers, hyper's 100-header limit, and an abrupt stop.
//! It is not a Spin replacement and is used for nothing but these tests.
//!
//! # Use
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! use bgtasks_tests::{Flaws, Host, HostConfig, Kv};
//! let wasm = bgtasks_tests::build_component("bgtasks-probe");
//! let host = Host::start(HostConfig::new(wasm).kv(Kv::sqlite("/tmp/kv.db")).flaws(Flaws::default())).await?;
//! let resp = host.call(http::Request::get("/hello").body(bytes::Bytes::new())?).await;
//! assert_eq!(resp.body().as_ref(), b"hello");
//! host.faults().fail_next(3);   // the next 3 key-value calls fail
//! host.kill().await;            // SIGTERM: background work is dropped
//! # Ok(()) }
//! ```
//!
//! [`Host::url`] gives `http://127.0.0.1:PORT` for a real HTTP client.
//! Tests should run on a multi-threaded runtime
//! (`#[tokio::test(flavor = "multi_thread")]`): key-value calls block their
//! thread briefly on SQLite, as they do in Spin.
//!
//! # Where it differs from Spin
//!
//! - Only the store label `default` opens (others: `access-denied`, as for
//!   a label missing from `spin.toml`). Outgoing HTTP is plain `http` only.
//! - The Redis backend is a real `redis-server` driven with Spin's own
//!   calls (see `kv`), so it differs from Spin only where Redis does.
//! - A poisoned store traps the calling instance instead of panicking a
//!   host thread; either way every request on that instance fails.
//! - No request timeout (Spin's default); limits are fixed values where
//!   Spin may draw them from configured ranges.
//! - Component output goes to the test's stdout/stderr, not `.spin/logs/`.
//! - [`Host::call`] reports client address `127.0.0.1:0`, and answers 500
//!   where an HTTP client would see its connection cut (trap, kill).
//! - Like Spin, the server does not set `TCP_NODELAY`, so keep-alive
//!   connections may stall about 40 ms around a key-value call.

mod bindings;
mod faults;
mod host;
mod kv;
mod manifest;
pub mod receiver;
pub mod redis_server;
pub mod server;
pub mod spin;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, OnceLock};

use wasmtime::component::Component;
use wasmtime::{Config, Engine};

pub use faults::Faults;
pub use host::{Host, HostConfig, now_ms};
pub use kv::{Flaws, Kv};
pub use server::{Runtime, Server, StoreKind};

/// The workspace root: this crate lives in `<root>/tests`.
fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// The workspace's target directory (`CARGO_TARGET_DIR` if set).
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"))
}

/// Builds workspace package `package` as a release `wasm32-wasip2`
/// component and returns the path of its `.wasm`. Each package is built at
/// most once per test process (cargo itself skips an up-to-date build).
///
/// Panics with cargo's output if the build fails, and says how to install
/// the target if that is why.
pub fn build_component(package: &str) -> PathBuf {
    build_component_with_features(package, &[])
}

/// [`build_component`] with cargo features enabled. The result is copied to
/// `target/bgtasks-tests-cache/`, named after the package and features,
/// because every feature set of a package overwrites the same `.wasm` in
/// `target/wasm32-wasip2/release/`.
pub fn build_component_with_features(package: &str, features: &[&str]) -> PathBuf {
    static BUILT: OnceLock<Mutex<HashMap<String, PathBuf>>> = OnceLock::new();
    let name = std::iter::once(package)
        .chain(features.iter().copied())
        .collect::<Vec<_>>()
        .join("+");
    // Held during the build: one cargo at a time, and the copy below reads
    // the `.wasm` before another feature set can overwrite it.
    let mut built = BUILT
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    if let Some(path) = built.get(&name) {
        return path.clone();
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .current_dir(workspace_root())
        .args([
            "build",
            "--release",
            "--target",
            "wasm32-wasip2",
            "-p",
            package,
        ])
        .env("CARGO_TARGET_DIR", target_dir());
    if !features.is_empty() {
        command.args(["--features", &features.join(",")]);
    }
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("cannot run cargo to build {package}: {e}"));
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let hint = if stderr.contains("target may not be installed")
            || stderr.contains("can't find crate for `core`")
            || stderr.contains("can't find crate for `std`")
        {
            "\nThe wasm32-wasip2 target is missing: run `rustup target add wasm32-wasip2` \
             (rust-toolchain.toml lists it, so a rustup-managed toolchain installs it itself)."
        } else {
            ""
        };
        panic!("building component {package} for wasm32-wasip2 failed:\n{stderr}{hint}");
    }
    let out = target_dir()
        .join("wasm32-wasip2/release")
        .join(format!("{}.wasm", package.replace('-', "_")));
    let dir = target_dir().join("bgtasks-tests-cache");
    let copy = dir.join(format!("{name}.wasm"));
    std::fs::create_dir_all(&dir)
        .and_then(|()| std::fs::copy(&out, &copy))
        .unwrap_or_else(|e| {
            panic!(
                "cargo built {package} but copying {} failed: {e}",
                out.display()
            )
        });
    built.insert(name, copy.clone());
    copy
}

/// One engine per test process: compiled components are tied to it.
pub(crate) fn engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| {
        let mut config = Config::new();
        config.wasm_component_model_async(true);
        Engine::new(&config).expect("wasmtime engine config is valid")
    })
}

/// The compiled component for `wasm`, from memory, from the on-disk cache
/// under `target/bgtasks-tests-cache/`, or compiled now. A debug-built host
/// takes seconds to compile a component; the cache makes that once per
/// distinct wasm file.
pub(crate) fn load_component(wasm: &Path) -> anyhow::Result<Component> {
    static LOADED: OnceLock<Mutex<HashMap<u64, Component>>> = OnceLock::new();
    let bytes = std::fs::read(wasm)
        .map_err(|e| anyhow::anyhow!("cannot read component {}: {e}", wasm.display()))?;
    let hash = fnv1a(&bytes);
    let loaded = LOADED.get_or_init(Default::default);
    if let Some(c) = loaded.lock().unwrap_or_else(|e| e.into_inner()).get(&hash) {
        return Ok(c.clone());
    }
    let dir = target_dir().join("bgtasks-tests-cache");
    let file = dir.join(format!("{hash:016x}.cwasm"));
    // SAFETY: the file was written by `Component::serialize` below, in this
    // target directory; wasmtime checks that it matches this engine's
    // version and settings, and a mismatch falls back to compiling.
    let cached = unsafe { Component::deserialize_file(engine(), &file) };
    let component = match cached {
        Ok(c) => c,
        Err(_) => {
            let c = Component::new(engine(), &bytes)?;
            std::fs::create_dir_all(&dir)?;
            // Write then rename, so a parallel test never reads half a file.
            // Unique per process and per call: test threads of one process
            // may compile the same component at once.
            static WRITES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
            let n = WRITES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let tmp = file.with_extension(format!("tmp{}-{n}", std::process::id()));
            std::fs::write(&tmp, c.serialize()?)?;
            std::fs::rename(&tmp, &file)?;
            c
        }
    };
    loaded
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(hash, component.clone());
    Ok(component)
}

/// FNV-1a: a stable content hash (std's hasher is not stable across builds).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}
