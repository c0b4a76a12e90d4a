//! The `no-atomics` build, for platforms without `wasi:keyvalue/atomics`:
//! it does not import them, and the service works at-least-once.

mod common;

use std::time::Duration;

use bgtasks_tests::{Flaws, Host, HostConfig, Kv};
use common::*;
use serde_json::json;

fn wasm() -> std::path::PathBuf {
    bgtasks_tests::build_component_with_features("bgtasks-spin", &["no-atomics"])
}

async fn start_without_atomics() -> Host {
    let flaws = Flaws {
        no_atomics: true,
        ..Flaws::default()
    };
    Host::start(HostConfig::new(wasm()).kv(Kv::Memory).flaws(flaws))
        .await
        .expect("host starts")
}

#[test]
fn the_build_imports_no_atomics() {
    let mut config = wasmtime::Config::new();
    config.wasm_component_model_async(true);
    let engine = wasmtime::Engine::new(&config).unwrap();
    let component = wasmtime::component::Component::from_file(&engine, wasm()).unwrap();
    let imports: Vec<String> = component
        .component_type()
        .imports(&engine)
        .map(|(name, _)| name.to_owned())
        .collect();
    assert!(
        imports.iter().any(|i| i.starts_with("wasi:keyvalue/batch")),
        "{imports:?}"
    );
    assert!(
        !imports
            .iter()
            .any(|i| i.starts_with("wasi:keyvalue/atomics")),
        "{imports:?}"
    );
    // ...while the default build does import them.
    let default = wasmtime::component::Component::from_file(&engine, service_wasm()).unwrap();
    let default_imports: Vec<String> = default
        .component_type()
        .imports(&engine)
        .map(|(n, _)| n.to_owned())
        .collect();
    assert!(
        default_imports
            .iter()
            .any(|i| i.starts_with("wasi:keyvalue/atomics"))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn tasks_run_retry_and_list_without_atomics() {
    let host = start_without_atomics().await;
    let addr = host.addr();
    let ok = submit(
        addr,
        "/file/",
        &json!({"content": {"a": 1}, "simulate": {"delay_ms": 50}}),
    )
    .await;
    let failing = submit(addr, "/notify/", &notification(50, 1)).await;
    let task = poll_until(addr, &ok, Duration::from_secs(5), finished).await;
    assert_eq!(task["status"], "success");
    assert_eq!(get(addr, &format!("/outputs/{ok}.json")).await.status, 200);
    let task = poll_until(addr, &failing, Duration::from_secs(5), finished).await;
    assert_eq!(task["status"], "failed");

    // Racing retries: without compare-and-swap both may pass (at-least-once),
    // but at least one does, and the task ends in success.
    let (a, b) = tokio::join!(retry(addr, &failing), retry(addr, &failing));
    assert!(
        a.status == 200 || b.status == 200,
        "{} {}",
        a.status,
        b.status
    );
    assert!([a.status, b.status].iter().all(|s| *s == 200 || *s == 400));
    let task = poll_until(addr, &failing, Duration::from_secs(5), finished).await;
    assert_eq!(task["status"], "success");
    assert!(task["retries"].as_u64().unwrap() >= 1);

    let listed = get(addr, "/tasks").await.json();
    let ids: Vec<&str> = listed["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [failing.as_str(), ok.as_str()]);
}
