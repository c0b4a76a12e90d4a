//! What each request costs the store, counted in key-value calls: writes are
//! the budget on Spin (each is a commit), reads come next.

mod common;

use std::time::Duration;

use bgtasks_tests::{Flaws, Kv};
use common::*;
use serde_json::json;

/// Counts the store calls of one request. A request that lands on a new
/// instance also starts that instance's recovery sweep (here at most four
/// reads: head counter, floor, one position and its record; no writes),
/// which may or may not have run by the time the count is read: allowed
/// for, not hidden.
async fn cost<F: std::future::Future<Output = ()>>(
    host: &bgtasks_tests::Host,
    what: &str,
    expected_calls: u64,
    expected_writes: u64,
    request: F,
) {
    let (calls, writes, instances) = (
        host.faults().calls(),
        host.faults().writes(),
        host.instances_started(),
    );
    request.await;
    let calls = host.faults().calls() - calls;
    let sweeps = host.instances_started() - instances;
    assert_eq!(
        host.faults().writes() - writes,
        expected_writes,
        "{what}: writes"
    );
    assert!(
        (expected_calls..=expected_calls + 4 * sweeps).contains(&calls),
        "{what}: {calls} calls, expected {expected_calls} ({sweeps} new instances)"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn requests_cost_a_bounded_number_of_store_calls() {
    let svc = host_service(Kv::Memory, Flaws::default()).await;
    let host = svc.host();
    let addr = svc.addr();
    // The first request of an instance starts a recovery sweep; let it pass.
    assert_eq!(get(addr, "/healthz").await.status, 200);
    tokio::time::sleep(Duration::from_millis(200)).await;

    let mut id = String::new();
    // One increment for its listing position, one batch (one commit) with
    // the record and the index entry.
    cost(host, "submit", 2, 2, async {
        id = submit(addr, "/notify/", &notification(5_000, 0)).await;
    })
    .await;
    cost(host, "status of a task that is not due", 1, 0, async {
        assert_eq!(status(addr, &id).await["status"], "pending");
    })
    .await;
    cost(host, "unknown id", 1, 0, async {
        let resp = get(addr, "/status/6f1c2a9e-8a53-4c1e-9d7e-2b3c4d5e6f70").await;
        assert_eq!(resp.status, 404);
    })
    .await;
    cost(host, "refused before the store", 0, 0, async {
        assert_eq!(get(addr, "/status/not-a-uuid").await.status, 404);
        assert_eq!(get(addr, "/nope").await.status, 404);
    })
    .await;
    cost(
        host,
        "a page: head counter and retention floor, then a get per position and per record",
        4,
        0,
        async {
            let page = get(addr, "/tasks?limit=10").await.json();
            assert_eq!(page["tasks"].as_array().unwrap().len(), 1);
        },
    )
    .await;
    // Record lookup and race counter for the key, then the submit's pair.
    cost(host, "keyed submit", 4, 3, async {
        let headers = [
            ("content-type", "application/json"),
            ("idempotency-key", "k"),
        ];
        let body = json!({"content": {}, "simulate": {"delay_ms": 5000}}).to_string();
        assert_eq!(
            request(addr, "POST", "/file/", &headers, body).await.status,
            202
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_submits_share_their_commits() {
    let svc = host_service(Kv::Memory, Flaws::default()).await;
    let host = svc.host();
    let addr = svc.addr();
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
