//! What each request costs the store, counted in key-value calls: writes are
//! the budget on Spin (each is a commit), reads come next.

mod common;

use std::time::Duration;

use common::*;
use serde_json::json;

#[tokio::test(flavor = "multi_thread")]
async fn requests_cost_a_bounded_number_of_store_calls() {
    let host = start_memory().await;
    let addr = host.addr();
    // The first request of an instance starts a recovery sweep; let it pass
    // so that it is not counted below (it runs at most once a second).
    assert_eq!(get(addr, "/healthz").await.status, 200);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let calls = || host.faults().calls();

    let before = calls();
    let id = submit(addr, "/notify/", &notification(5_000, 0)).await;
    // One increment for its listing position, one batch (one commit) with
    // the record and the index entry.
    assert_eq!(calls() - before, 2, "submit");

    let before = calls();
    assert_eq!(status(addr, &id).await["status"], "pending");
    assert_eq!(
        calls() - before,
        1,
        "status of a task that is not due: one get"
    );

    let before = calls();
    assert_eq!(
        get(addr, "/status/6f1c2a9e-8a53-4c1e-9d7e-2b3c4d5e6f70")
            .await
            .status,
        404
    );
    assert_eq!(calls() - before, 1, "unknown id: one get");

    let before = calls();
    assert_eq!(get(addr, "/status/not-a-uuid").await.status, 404);
    assert_eq!(get(addr, "/nope").await.status, 404);
    assert_eq!(calls() - before, 0, "refused before the store");

    let before = calls();
    let page = get(addr, "/tasks?limit=10").await.json();
    assert_eq!(page["tasks"].as_array().unwrap().len(), 1);
    assert_eq!(
        calls() - before,
        3,
        "a page: the head counter and two batch reads"
    );

    let before = calls();
    let resp = request(
        addr,
        "POST",
        "/file/",
        &[
            ("content-type", "application/json"),
            ("idempotency-key", "k"),
        ],
        json!({"content": {}, "simulate": {"delay_ms": 5000}}).to_string(),
    )
    .await;
    assert_eq!(resp.status, 202);
    assert_eq!(
        calls() - before,
        4,
        "keyed submit: record lookup, race counter, increment, batch"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_submits_share_their_commits() {
    let host = start_memory().await;
    let addr = host.addr();
    assert_eq!(get(addr, "/healthz").await.status, 200);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let before = host.faults().writes();
    let submits: Vec<_> = (0..32)
        .map(|_| {
            tokio::spawn(async move { submit(addr, "/notify/", &notification(5_000, 0)).await })
        })
        .collect();
    let mut ids = std::collections::HashSet::new();
    for handle in submits {
        ids.insert(handle.await.unwrap());
    }
    assert_eq!(ids.len(), 32);
    let writes = host.faults().writes() - before;
    // Alone, 32 submits would cost 64 writes (an increment and a batch
    // each); grouped, one pair per group. The pool still starts several
    // instances for a burst (an instance busy in a store call takes no new
    // request), and groups form within each.
    assert!(writes < 48, "{writes} writes for 32 concurrent submits");
    let listed = get(addr, "/tasks?limit=50").await.json();
    assert_eq!(listed["tasks"].as_array().unwrap().len(), 32);
}
