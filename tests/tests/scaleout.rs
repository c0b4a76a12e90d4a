//! Scaling out: two servers on one Redis store, as two `spin up` processes
//! with the project's `runtime-config/redis.toml` run. Whatever one server
//! accepts, the other reads, lists, retries and recovers; racing requests
//! across servers settle as they do on one.

mod common;

use std::collections::HashSet;
use std::time::Duration;

use bgtasks_tests::Kv;
use common::*;
use serde_json::json;

/// Two servers sharing one fresh Redis database.
async fn pair() -> (Service, Service) {
    let kv = Kv::redis();
    let a = service_on(kv.clone()).await;
    let b = service_on(kv).await;
    (a, b)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_task_submitted_to_one_server_is_read_listed_and_retried_through_the_other() {
    let (a, b) = pair().await;
    let id = submit(
        a.addr(),
        "/report/",
        &json!({
            "name": "Sales Report",
            "simulate": {"delay_ms": 50, "fail_attempts": 1},
        }),
    )
    .await;
    let failed = poll_until(b.addr(), &id, Duration::from_secs(5), finished).await;
    assert_eq!(failed["status"], "failed", "{failed}");

    let listed = get(b.addr(), "/tasks").await.json();
    let ids: Vec<&str> = listed["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [id.as_str()]);

    assert_eq!(retry(b.addr(), &id).await.status, 200);
    let done = poll_until(a.addr(), &id, Duration::from_secs(5), finished).await;
    assert_eq!(
        (&done["status"], &done["retries"]),
        (&json!("success"), &json!(1))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn racing_retries_on_two_servers_give_exactly_one_200() {
    let (a, b) = pair().await;
    for round in 0..5 {
        let id = submit(a.addr(), "/notify/", &notification(10, 1)).await;
        let task = poll_until(b.addr(), &id, Duration::from_secs(5), finished).await;
        assert_eq!(task["status"], "failed");
        let (x, y) = tokio::join!(retry(a.addr(), &id), retry(b.addr(), &id));
        let mut codes = [x.status, y.status];
        codes.sort();
        assert_eq!(
            codes,
            [200, 400],
            "round {round}: {:?} {:?}",
            x.body,
            y.body
        );
        let task = poll_until(a.addr(), &id, Duration::from_secs(5), finished).await;
        assert_eq!(task["attempts"], 2, "one attempt for the one retry: {task}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_task_left_running_by_a_stopped_server_is_recovered_by_the_other() {
    let (a, b) = pair().await;
    let id = submit(
        a.addr(),
        "/file/",
        &json!({
            "content": {"order": 7},
            "simulate": {"delay_ms": 1_000},
        }),
    )
    .await;
    a.kill().await;
    // Only health checks reach the survivor: its sweep finds the task once
    // the dead server's lease has run out.
    for _ in 0..100 {
        assert_eq!(get(b.addr(), "/healthz").await.status, 200);
        if b.stored_task(&id).unwrap()["phase"]["phase"] == "succeeded" {
            let task = status(b.addr(), &id).await;
            let outcomes: Vec<_> = task["history"]
                .as_array()
                .unwrap()
                .iter()
                .map(|h| h["outcome"].clone())
                .collect();
            assert_eq!(outcomes, [json!("interrupted"), json!("success")]);
            let file = get(b.addr(), &format!("/outputs/{id}.json")).await;
            assert_eq!(file.status, 200);
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the surviving server did not recover the task");
}

#[tokio::test(flavor = "multi_thread")]
async fn no_attempt_runs_twice_while_both_servers_read_every_task() {
    let (a, b) = pair().await;
    let (a, b) = (a.addr(), b.addr());
    // Forty tasks, half through each server, read over and over through
    // both while they run: every read may try to claim, only the holder of
    // an attempt may finish it.
    let submits = (0..40).map(|i| {
        tokio::spawn(async move {
            let server = if i % 2 == 0 { a } else { b };
            let body = json!({"content": {"i": i}, "simulate": {"delay_ms": 200}});
            submit(server, "/file/", &body).await
        })
    });
    let mut ids = Vec::new();
    for handle in submits {
        ids.push(handle.await.unwrap());
    }
    let readers = ids.iter().cloned().map(|id| {
        tokio::spawn(async move {
            let mut last = json!(null);
            for turn in 0..40 {
                let server = if turn % 2 == 0 { a } else { b };
                last = status(server, &id).await;
                if finished(&last) {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            last
        })
    });
    for reader in readers {
        let task = reader.await.unwrap();
        assert_eq!(task["status"], "success", "{task}");
        assert_eq!(task["attempts"], 1, "{task}");
        assert_eq!(task["history"].as_array().unwrap().len(), 1, "{task}");
    }
    let listed = get(b, "/tasks?limit=50").await.json();
    let listed: HashSet<&str> = listed["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap())
        .collect();
    assert_eq!(listed, ids.iter().map(String::as_str).collect());
}
