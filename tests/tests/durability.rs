//! What the service promises across crashes: acknowledged tasks finish,
//! with no further request, after an abrupt stop, through store faults.

mod common;

use std::time::Duration;

use bgtasks_tests::{Flaws, Kv};
use common::*;
use serde_json::json;

#[tokio::test(flavor = "multi_thread")]
async fn a_task_finishes_by_itself_within_its_delay_plus_a_second() {
    let db = temp_db("by-itself");
    let host = start(Kv::sqlite(&db), Flaws::default()).await;
    let addr = host.addr();
    let id = submit(
        addr,
        "/file/",
        &json!({"content": {"x": 1}, "simulate": {"delay_ms": 300}}),
    )
    .await;
    // Acknowledged means stored: the record is in the file already.
    assert_eq!(stored_task(&db, &id).unwrap()["phase"]["phase"], "running");
    tokio::time::sleep(Duration::from_millis(1_300)).await;
    // No request in between: read the store behind the service's back.
    let task = stored_task(&db, &id).unwrap();
    assert_eq!(task["phase"]["phase"], "succeeded", "{task}");
    let file = stored(&db, &format!("outputs/{id}.json")).expect("output written");
    assert_eq!(file, b"{\n  \"x\": 1\n}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_task_interrupted_by_an_abrupt_stop_finishes_after_restart_when_read() {
    let db = temp_db("restart-read");
    let host = start(Kv::sqlite(&db), Flaws::default()).await;
    let id = submit(host.addr(), "/notify/", &notification(1_000, 0)).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    host.kill().await;
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert_eq!(
        stored_task(&db, &id).unwrap()["phase"]["phase"],
        "running",
        "nobody ran it"
    );

    let host = start(Kv::sqlite(&db), Flaws::default()).await;
    let task = poll_until(host.addr(), &id, Duration::from_secs(8), finished).await;
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
    let db = temp_db("restart-sweep");
    let host = start(Kv::sqlite(&db), Flaws::default()).await;
    let mut ids = Vec::new();
    for _ in 0..5 {
        ids.push(submit(host.addr(), "/notify/", &notification(300, 0)).await);
    }
    host.kill().await;
    let host = start(Kv::sqlite(&db), Flaws::default()).await;
    // Only health checks: the tasks themselves are never read.
    for _ in 0..60 {
        assert_eq!(get(host.addr(), "/healthz").await.status, 200);
        if ids
            .iter()
            .all(|id| stored_task(&db, id).unwrap()["phase"]["phase"] == "succeeded")
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("tasks were not recovered without being read");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_restart_during_a_backoff_wait_still_runs_the_retry() {
    let db = temp_db("restart-backoff");
    let host = start(Kv::sqlite(&db), Flaws::default()).await;
    let body = json!({
        "email": "a@b.co", "message": "m",
        "simulate": {"delay_ms": 50, "fail_attempts": 1},
        "retry_policy": {"max_attempts": 2, "backoff_ms": 800, "backoff": "fixed"},
    });
    let id = submit(host.addr(), "/notify/", &body).await;
    let waiting = poll_until(host.addr(), &id, Duration::from_secs(3), |t| {
        !t["next_attempt_at"].is_null()
    })
    .await;
    assert_eq!(waiting["attempts"], 1);
    host.kill().await;
    let host = start(Kv::sqlite(&db), Flaws::default()).await;
    let task = poll_until(host.addr(), &id, Duration::from_secs(5), finished).await;
    assert_eq!(
        (&task["status"], &task["attempts"]),
        (&json!("success"), &json!(2))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn store_faults_answer_503_and_lose_no_acknowledged_task() {
    let host = start_memory().await;
    let addr = host.addr();
    host.faults().fail_next(1);
    let refused = post(addr, "/notify/", &notification(10, 0)).await;
    assert_eq!(refused.status, 503);
    assert!(refused.json()["detail"].is_string());
    assert_eq!(
        get(addr, "/tasks").await.json()["tasks"],
        json!([]),
        "nothing stored"
    );

    host.faults().fail_with_probability(0.3, 7);
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
    host.faults().clear();
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
