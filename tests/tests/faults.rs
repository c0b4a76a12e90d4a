//! Store failures, injected on the test host (Spin offers no switch for
//! them): the service answers 503, acknowledges nothing it did not store,
//! and loses nothing it acknowledged.

mod common;

use std::time::Duration;

use bgtasks_tests::{Flaws, Kv};
use common::*;
use serde_json::json;

#[tokio::test(flavor = "multi_thread")]
async fn health_answers_503_while_the_store_fails() {
    let svc = host_service(Kv::Memory, Flaws::default()).await;
    let addr = svc.addr();
    assert_eq!(get(addr, "/healthz").await.status, 200);
    svc.host().faults().fail_next(5);
    let resp = get(addr, "/healthz").await;
    assert_eq!(resp.status, 503);
}

#[tokio::test(flavor = "multi_thread")]
async fn store_faults_answer_503_and_lose_no_acknowledged_task() {
    let svc = host_service(Kv::Memory, Flaws::default()).await;
    let addr = svc.addr();
    svc.host().faults().fail_next(1);
    let refused = post(addr, "/notify/", &notification(10, 0)).await;
    assert_eq!(refused.status, 503);
    assert!(refused.json()["detail"].is_string());
    assert_eq!(
        get(addr, "/tasks").await.json()["tasks"],
        json!([]),
        "nothing stored"
    );

    svc.host().faults().fail_with_probability(0.3, 7);
    let mut acknowledged = Vec::new();
    let mut refusals = 0;
    for _ in 0..40 {
        let resp = post(addr, "/notify/", &notification(50, 0)).await;
        match resp.status {
            202 => acknowledged.push(resp.json()["task_id"].as_str().unwrap().to_owned()),
            503 => refusals += 1,
            other => panic!("unexpected {other}: {:?}", resp.body),
        }
    }
    assert!(
        refusals > 0 && !acknowledged.is_empty(),
        "{refusals} refusals"
    );
    svc.host().faults().clear();
    for id in &acknowledged {
        let task = poll_until(addr, id, Duration::from_secs(10), finished).await;
        assert_eq!(task["status"], "success", "{task}");
    }
    let listed = get(addr, "/tasks?limit=200").await.json();
    assert_eq!(
        listed["tasks"].as_array().unwrap().len(),
        acknowledged.len()
    );
}

/// The runtime enforces its own `allowed_outbound_hosts` (here narrower than
/// what the service permits at submit, which only the host can arrange):
/// the attempt fails at once, naming the refusal.
#[tokio::test(flavor = "multi_thread")]
async fn a_destination_the_runtime_refuses_fails_the_task_at_once() {
    let receiver = bgtasks_tests::receiver::Receiver::start(vec![])
        .await
        .unwrap();
    let config = config(Kv::Memory)
        .variable("http_destinations", "http://127.0.0.1:*")
        .allowed_outbound_hosts(&["https://*.example.com"]);
    let server = bgtasks_tests::Server::start(bgtasks_tests::Runtime::Host, config)
        .await
        .unwrap();
    let id = submit(
        server.addr(),
        "/http/",
        &json!({"url": receiver.url("/"), "retry_policy": {"max_attempts": 3}}),
    )
    .await;
    let task = poll_until(server.addr(), &id, Duration::from_secs(5), finished).await;
    assert_eq!(task["status"], "failed", "{task}");
    assert_eq!(task["error"], "destination not allowed");
    assert_eq!(task["attempts"], 1, "not retried");
    assert!(receiver.requests().is_empty());
}
