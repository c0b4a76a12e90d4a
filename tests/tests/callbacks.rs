//! Completion callbacks: each end of a task is POSTed to its `callback_url`,
//! with retries, signatures and a stable webhook id, and survives restarts.

mod common;

use std::time::Duration;

use bgtasks_tests::receiver::{Answer, Receiver};
use common::*;
use serde_json::{Value, json};

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

fn with_callback(mut body: Value, url: &str) -> Value {
    body["callback_url"] = json!(url);
    body
}

async fn delivered(addr: std::net::SocketAddr, id: &str, within: Duration) -> Value {
    poll_until(addr, id, within, |t| {
        finished(t) && t["callback"]["state"] != "pending"
    })
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_success_is_reported_with_the_status_body_as_of_its_end() {
    let svc = service_vars(&[LOOPBACK, ("webhook_secret", SECRET)]).await;
    let hook = Receiver::start(vec![]).await.unwrap();
    let id = submit(
        svc.addr(),
        "/notify/",
        &with_callback(notification(50, 0), &hook.url("/done")),
    )
    .await;
    let pending = status(svc.addr(), &id).await;
    assert_eq!(
        pending["callback"],
        json!({"url": hook.url("/done"), "state": "pending", "attempts": 0, "last_error": null})
    );
    let task = delivered(svc.addr(), &id, Duration::from_secs(5)).await;
    assert_eq!(task["callback"]["state"], "delivered", "{task}");
    assert_eq!(task["callback"]["attempts"], 1);
    assert_eq!(task["callback"]["last_error"], Value::Null);

    let seen = hook.requests();
    assert_eq!(seen.len(), 1);
    let call = &seen[0];
    assert_eq!(
        (call.method.as_str(), call.path.as_str()),
        ("POST", "/done")
    );
    assert_eq!(call.header("bgtasks-event"), Some("task.succeeded"));
    assert_eq!(call.header("bgtasks-attempt"), Some("1"));
    let webhook_id = format!("{id}.0");
    assert_eq!(call.header("webhook-id"), Some(webhook_id.as_str()));
    let timestamp = call.header("webhook-timestamp").unwrap();
    let signature = call.header("webhook-signature").unwrap();
    assert!(signature_valid(
        SECRET,
        &webhook_id,
        timestamp,
        &call.body,
        signature
    ));
    let body: Value = serde_json::from_slice(&call.body).unwrap();
    assert_eq!(body["id"], json!(id));
    assert_eq!(body["status"], "success");
    assert_eq!(body["result"]["message"], "Notification sent");
    assert_eq!(body["callback"]["state"], "pending", "as of the end");
    assert_eq!(body["callback"]["attempts"], 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_final_failure_is_reported_and_redelivered_until_it_is_taken() {
    let svc = service_vars(&[LOOPBACK]).await;
    let hook = Receiver::start(vec![
        Answer::status(503),
        Answer::status(500),
        Answer::status(200),
    ])
    .await
    .unwrap();
    let id = submit(
        svc.addr(),
        "/report/",
        &with_callback(
            json!({"name": "r", "simulate": {"delay_ms": 10, "fail_attempts": 1}}),
            &hook.url("/cb"),
        ),
    )
    .await;
    let task = delivered(svc.addr(), &id, Duration::from_secs(10)).await;
    assert_eq!(task["status"], "failed");
    assert_eq!(task["callback"]["state"], "delivered", "{task}");
    assert_eq!(task["callback"]["attempts"], 3);
    assert_eq!(task["callback"]["last_error"], Value::Null);
    let seen = hook.requests();
    assert_eq!(seen.len(), 3);
    let attempts: Vec<_> = seen.iter().map(|r| r.header("bgtasks-attempt")).collect();
    assert_eq!(attempts, [Some("1"), Some("2"), Some("3")]);
    let webhook_id = format!("{id}.0");
    assert!(
        seen.iter()
            .all(|r| r.header("webhook-id") == Some(webhook_id.as_str()))
    );
    assert!(
        seen.iter()
            .all(|r| r.header("bgtasks-event") == Some("task.failed"))
    );
    assert!(
        seen[1].at_ms - seen[0].at_ms >= 800,
        "the second delivery waits about a second"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_client_error_gives_the_callback_up_at_once_and_never_touches_the_task() {
    let svc = service_vars(&[LOOPBACK]).await;
    let hook = Receiver::start(vec![Answer::status(400)]).await.unwrap();
    let url = hook.url("/cb");
    let id = submit(
        svc.addr(),
        "/file/",
        &with_callback(json!({"content": {}, "simulate": {"delay_ms": 0}}), &url),
    )
    .await;
    let task = delivered(svc.addr(), &id, Duration::from_secs(5)).await;
    assert_eq!(task["status"], "success", "the task's own status stands");
    assert_eq!(task["callback"]["state"], "failed");
    assert_eq!(task["callback"]["attempts"], 1);
    assert_eq!(
        task["callback"]["last_error"],
        format!("HTTP 400 from {url}")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_manual_retry_reports_its_end_again_under_a_new_webhook_id() {
    let svc = service_vars(&[LOOPBACK]).await;
    let hook = Receiver::start(vec![]).await.unwrap();
    // Each attempt takes 300 ms, so the read right after the retry finds
    // the second attempt still running (at 10 ms, on Redis it had already
    // ended and delivered).
    let id = submit(
        svc.addr(),
        "/notify/",
        &with_callback(notification(300, 1), &hook.url("/cb")),
    )
    .await;
    let first = delivered(svc.addr(), &id, Duration::from_secs(5)).await;
    assert_eq!(first["status"], "failed");
    assert_eq!(retry(svc.addr(), &id).await.status, 200);
    let again = status(svc.addr(), &id).await;
    assert_eq!(again["callback"]["attempts"], 0, "back to pending");
    assert_eq!(again["callback"]["state"], "pending");
    let second = poll_until(svc.addr(), &id, Duration::from_secs(5), |t| {
        t["status"] == "success" && t["callback"]["state"] == "delivered"
    })
    .await;
    assert_eq!(second["callback"]["attempts"], 1, "{second}");
    let seen = hook.requests();
    let ids: Vec<_> = seen
        .iter()
        .map(|r| r.header("webhook-id").unwrap().to_owned())
        .collect();
    assert_eq!(ids, [format!("{id}.0"), format!("{id}.1")]);
    let events: Vec<_> = seen
        .iter()
        .map(|r| r.header("bgtasks-event").unwrap())
        .collect();
    assert_eq!(events, ["task.failed", "task.succeeded"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_callback_due_when_the_server_stops_is_delivered_after_it_starts_again() {
    let svc = service_vars(&[LOOPBACK]).await;
    let hook = Receiver::start(vec![Answer::status(503)]).await.unwrap();
    let id = submit(
        svc.addr(),
        "/notify/",
        &with_callback(notification(0, 0), &hook.url("/cb")),
    )
    .await;
    // The first delivery failed (stored); its retry waits about a second.
    let failed_once = poll_until(svc.addr(), &id, Duration::from_secs(5), |t| {
        !t["callback"]["last_error"].is_null()
    })
    .await;
    assert_eq!(failed_once["callback"]["attempts"], 1, "{failed_once}");
    let kv = svc.kill().await;
    let svc = service_with(config(kv).variable(LOOPBACK.0, LOOPBACK.1)).await;
    for _ in 0..60 {
        assert_eq!(get(svc.addr(), "/healthz").await.status, 200);
        if hook.requests().len() >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let task = delivered(svc.addr(), &id, Duration::from_secs(5)).await;
    assert_eq!(task["callback"]["state"], "delivered", "{task}");
    assert_eq!(task["callback"]["attempts"], 2);
    let seen = hook.requests();
    assert_eq!(seen.len(), 2);
    assert_eq!(
        seen[1].header("webhook-id"),
        Some(format!("{id}.0").as_str())
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn callback_urls_obey_the_same_rules_as_task_urls() {
    let svc = service_vars(&[("http_destinations", "https://*.example.com")]).await;
    for (url, kind) in [
        ("https://hooks.example.org/", "url_not_allowed"),
        ("ftp://hooks.example.com/", "url_scheme"),
        ("https://u:p@hooks.example.com/", "url_parsing"),
    ] {
        let resp = post(
            svc.addr(),
            "/notify/",
            &with_callback(notification(0, 0), url),
        )
        .await;
        assert_eq!(resp.status, 422, "{url}");
        let error = &resp.json()["detail"][0];
        assert_eq!(
            (&error["type"], &error["loc"]),
            (&json!(kind), &json!(["body", "callback_url"])),
            "{url}"
        );
    }
    let resp = post(
        svc.addr(),
        "/notify/",
        &with_callback(notification(0, 0), "https://hooks.example.com/x"),
    )
    .await;
    assert_eq!(resp.status, 202);
    let none = post(
        svc.addr(),
        "/notify/",
        &json!({"email": "a@b.co", "message": "m", "callback_url": null}),
    )
    .await;
    let task = status(svc.addr(), none.json()["task_id"].as_str().unwrap()).await;
    assert!(task.get("callback").is_none(), "null is absent: {task}");
}
