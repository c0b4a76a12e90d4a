//! What the service promises across crashes: acknowledged tasks finish,
//! with no further request, after an abrupt stop, through store faults.

mod common;

use std::time::Duration;

use common::*;
use serde_json::json;

#[tokio::test(flavor = "multi_thread")]
async fn a_task_finishes_by_itself_within_its_delay_plus_a_second() {
    let svc = service().await;
    let addr = svc.addr();
    let id = submit(
        addr,
        "/file/",
        &json!({"content": {"x": 1}, "simulate": {"delay_ms": 300}}),
    )
    .await;
    // Acknowledged means stored: the record is in the file already.
    assert_eq!(svc.stored_task(&id).unwrap()["phase"]["phase"], "running");
    tokio::time::sleep(Duration::from_millis(1_300)).await;
    // No request in between: read the store behind the service's back.
    let task = svc.stored_task(&id).unwrap();
    assert_eq!(task["phase"]["phase"], "succeeded", "{task}");
    let file = svc
        .stored(&format!("outputs/{id}.json"))
        .expect("output written");
    assert_eq!(file, b"{\n  \"x\": 1\n}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_task_interrupted_by_an_abrupt_stop_finishes_after_restart_when_read() {
    let svc = service().await;
    let id = submit(svc.addr(), "/notify/", &notification(1_000, 0)).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let kv = svc.kill().await;
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert_eq!(
        stored_task(&kv, &id).unwrap()["phase"]["phase"],
        "running",
        "nobody ran it"
    );

    let svc = service_on(kv).await;
    let task = poll_until(svc.addr(), &id, Duration::from_secs(8), finished).await;
    assert_eq!(task["status"], "success", "{task}");
    let outcomes: Vec<_> = task["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["outcome"].clone())
        .collect();
    assert_eq!(outcomes, [json!("interrupted"), json!("success")]);
    assert_eq!(
        task["attempts"], 1,
        "the interrupted attempt ran again under its number"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn after_a_restart_unread_tasks_are_recovered_by_other_requests() {
    let svc = service().await;
    let mut ids = Vec::new();
    for _ in 0..5 {
        ids.push(submit(svc.addr(), "/notify/", &notification(300, 0)).await);
    }
    let svc = svc.restart().await;
    // Only health checks: the tasks themselves are never read.
    for _ in 0..60 {
        assert_eq!(get(svc.addr(), "/healthz").await.status, 200);
        if ids
            .iter()
            .all(|id| svc.stored_task(id).unwrap()["phase"]["phase"] == "succeeded")
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("tasks were not recovered without being read");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_restart_during_a_backoff_wait_still_runs_the_retry() {
    let svc = service().await;
    let body = json!({
        "email": "a@b.co", "message": "m",
        "simulate": {"delay_ms": 50, "fail_attempts": 1},
        "retry_policy": {"max_attempts": 2, "backoff_ms": 800, "backoff": "fixed"},
    });
    let id = submit(svc.addr(), "/notify/", &body).await;
    let waiting = poll_until(svc.addr(), &id, Duration::from_secs(3), |t| {
        !t["next_attempt_at"].is_null()
    })
    .await;
    assert_eq!(waiting["attempts"], 1);
    let svc = svc.restart().await;
    let task = poll_until(svc.addr(), &id, Duration::from_secs(5), finished).await;
    assert_eq!(
        (&task["status"], &task["attempts"]),
        (&json!("success"), &json!(2))
    );
}
