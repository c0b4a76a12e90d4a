//! Concurrency: many submits at once, racing retries and racing idempotent
//! submits, on each store behaviour Spin has.

mod common;

use std::collections::HashSet;
use std::time::Duration;

use bgtasks_tests::Kv;
use common::*;
use serde_json::json;

#[tokio::test(flavor = "multi_thread")]
async fn two_hundred_concurrent_submits_are_all_stored_once() {
    let svc = service().await;
    let addr = svc.addr();
    let submits = (0..200).map(|i| {
        tokio::spawn(async move {
            submit(
                addr,
                "/file/",
                &json!({"content": {"i": i}, "simulate": {"delay_ms": 10}}),
            )
            .await
        })
    });
    let mut ids = HashSet::new();
    for handle in submits {
        ids.insert(handle.await.unwrap());
    }
    assert_eq!(ids.len(), 200);
    let listed = get(addr, "/tasks?limit=200").await.json();
    let listed: HashSet<String> = listed["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(listed, ids);
}

async fn racing_retries(svc: Service) {
    let addr = svc.addr();
    for round in 0..5 {
        let id = submit(addr, "/notify/", &notification(10, 1)).await;
        let task = poll_until(addr, &id, Duration::from_secs(5), finished).await;
        assert_eq!(task["status"], "failed");
        let (a, b) = tokio::join!(retry(addr, &id), retry(addr, &id));
        let mut codes = [a.status, b.status];
        codes.sort();
        assert_eq!(
            codes,
            [200, 400],
            "round {round}: {:?} {:?}",
            a.body,
            b.body
        );
        let task = poll_until(addr, &id, Duration::from_secs(5), finished).await;
        assert_eq!(
            (&task["status"], &task["retries"]),
            (&json!("success"), &json!(1))
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn racing_retries_one_wins() {
    racing_retries(service().await).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn racing_retries_one_wins_on_redis() {
    racing_retries(service_on(Kv::redis()).await).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn racing_submits_with_one_idempotency_key_create_one_task() {
    for kv in [fresh_store(), Kv::redis()] {
        let svc = service_on(kv).await;
        let addr = svc.addr();
        let body = json!({"content": {"order": 42}}).to_string();
        let submits = (0..10).map(|_| {
            let body = body.clone();
            tokio::spawn(async move {
                request(
                    addr,
                    "POST",
                    "/file/",
                    &[
                        ("content-type", "application/json"),
                        ("idempotency-key", "order-42"),
                    ],
                    body,
                )
                .await
            })
        });
        let mut ids = HashSet::new();
        for handle in submits {
            let resp = handle.await.unwrap();
            assert_eq!(resp.status, 202, "{:?}", resp.body);
            ids.insert(resp.json()["task_id"].as_str().unwrap().to_owned());
        }
        assert_eq!(ids.len(), 1);
        let listed = get(addr, "/tasks").await.json();
        assert_eq!(listed["tasks"].as_array().unwrap().len(), 1);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn two_thousand_tasks_page_newest_first_with_no_gap_or_repeat() {
    let svc = service().await;
    let addr = svc.addr();
    // 20 clients, each submitting 100 tasks one after another.
    let clients: Vec<_> = (0..20)
        .map(|client| {
            tokio::spawn(async move {
                let mut mine = Vec::new();
                for i in 0..100 {
                    let body =
                        json!({"content": {"client": client, "i": i}, "simulate": {"delay_ms": 0}});
                    mine.push(submit(addr, "/file/", &body).await);
                }
                mine
            })
        })
        .collect();
    let mut by_client = Vec::new();
    for handle in clients {
        by_client.push(handle.await.unwrap());
    }
    let mut listed = Vec::new();
    let mut path = "/tasks?limit=200".to_owned();
    loop {
        let page = get(addr, &path).await.json();
        let tasks = page["tasks"].as_array().unwrap();
        assert!(tasks.len() <= 200);
        listed.extend(tasks.iter().map(|t| t["id"].as_str().unwrap().to_owned()));
        match page["next_cursor"].as_str() {
            Some(cursor) => path = format!("/tasks?limit=200&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(listed.len(), 2_000);
    assert_eq!(
        listed.iter().collect::<HashSet<_>>().len(),
        2_000,
        "no repeats"
    );
    // Each client's own tasks, submitted one after another, come newest first.
    let rank: std::collections::HashMap<&String, usize> =
        listed.iter().enumerate().map(|(i, id)| (id, i)).collect();
    for mine in &by_client {
        let ranks: Vec<usize> = mine.iter().map(|id| rank[id]).collect();
        assert!(
            ranks.windows(2).all(|w| w[0] > w[1]),
            "a client's tasks out of order"
        );
    }
}
