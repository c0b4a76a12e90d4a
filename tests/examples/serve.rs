//! Serves a component for benchmarks and manual poking: the service (or
//! the probe component) on the test host, or under `spin up` when asked:
//!
//! ```sh
//! cargo run --release -p bgtasks-tests --example serve -- [--spin] [--probe] [STORE]
//! ```
//!
//! STORE is a SQLite file, a `redis://HOST:PORT/DB` URL, or nothing (in
//! memory). Prints the URL, then serves until interrupted (Ctrl-C or
//! SIGTERM). The built playground (`web-demo/dist`, from
//! `web-demo/build.sh`) is mounted as spin.toml mounts it, when present.
//! `BGTASKS_API_TOKEN` and `BGTASKS_HTTP_DESTINATIONS`, when set, become
//! the `api_token` and `http_destinations` variables (the playground's
//! token prompt is tested against such a service).

use bgtasks_tests::{HostConfig, Kv, Runtime, Server};

#[tokio::main(flavor = "multi_thread")]
async fn main() -> anyhow::Result<()> {
    let mut runtime = Runtime::Host;
    let mut package = "bgtasks-spin";
    let mut kv = Kv::Memory;
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "--spin" => runtime = Runtime::Spin,
            "--probe" => package = "bgtasks-probe",
            url if url.starts_with("redis://") => kv = Kv::Redis(url.to_owned()),
            path => kv = Kv::sqlite(path),
        }
    }
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut config = HostConfig::new(bgtasks_tests::build_component(package)).kv(kv);
    for (env, variable) in [
        ("BGTASKS_API_TOKEN", "api_token"),
        ("BGTASKS_HTTP_DESTINATIONS", "http_destinations"),
    ] {
        if let Ok(value) = std::env::var(env) {
            config = config.variable(variable, &value);
        }
    }
    if package == "bgtasks-spin" {
        config = config.spin_manifest(root.join("spin.toml"));
        let dist = root.join("web-demo/dist");
        if dist.is_dir() {
            config = config.files(dist, "/playground");
        }
    }
    let server = Server::start(runtime, config).await?;
    println!("{}", server.url());
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    server.kill().await;
    Ok(())
}
