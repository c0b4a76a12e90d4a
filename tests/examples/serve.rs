//! Serves the built service component on the test host, for benchmarks and
//! manual poking where the Spin CLI is not installed:
//!
//! ```sh
//! cargo run --release -p bgtasks-tests --example serve -- [SQLITE_FILE | redis://HOST:PORT/DB]
//! ```
//!
//! Prints the URL, then serves until interrupted. Without an argument the
//! store is in memory. The built playground (`web-demo/dist`, from
//! `web-demo/build.sh`) is mounted as spin.toml mounts it, when present.

use bgtasks_tests::{Flaws, Host, HostConfig, Kv};

#[tokio::main(flavor = "multi_thread")]
async fn main() -> anyhow::Result<()> {
    let kv = match std::env::args().nth(1) {
        Some(url) if url.starts_with("redis://") => Kv::Redis(url),
        Some(path) => Kv::sqlite(path),
        None => Kv::Memory,
    };
    let wasm = bgtasks_tests::build_component("bgtasks-spin");
    let mut config = HostConfig::new(wasm).kv(kv).flaws(Flaws::default());
    let dist = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../web-demo/dist");
    if dist.is_dir() {
        config = config.files(dist, "/playground");
    }
    let host = Host::start(config).await?;
    println!("{}", host.url());
    tokio::signal::ctrl_c().await?;
    host.kill().await;
    Ok(())
}
