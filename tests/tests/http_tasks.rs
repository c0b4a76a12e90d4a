//! HTTP tasks: real requests to a receiver the test runs, with retries,
//! timeouts, signatures and destinations, through the service's HTTP API.

mod common;

use std::time::{Duration, Instant};

use bgtasks_tests::receiver::{Answer, Receiver};
use common::*;
use serde_json::{Value, json};

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

async fn receiver(script: Vec<Answer>) -> Receiver {
    Receiver::start(script).await.expect("receiver starts")
}

fn http_task(url: &str, extra: Value) -> Value {
    let mut body = json!({"url": url});
    if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
        body.extend(extra.clone());
    }
    body
}

fn codes(task: &Value) -> Vec<Value> {
    task["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["status_code"].clone())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_delivered_request_carries_the_body_headers_and_a_verifiable_signature() {
    let svc = service_vars(&[LOOPBACK, ("webhook_secret", SECRET)]).await;
    let hook = receiver(vec![Answer::status(201).body("thanks")]).await;
    let id = submit(
        svc.addr(),
        "/http/",
        &http_task(
            &hook.url("/orders?x=1"),
            json!({"method": "PUT", "headers": {"X-Order": "42"}, "body": {"order": 42}}),
        ),
    )
    .await;
    let task = poll_until(svc.addr(), &id, Duration::from_secs(5), finished).await;
    assert_eq!(task["status"], "success", "{task}");
    assert_eq!(task["type"], "http");
    let result = &task["result"];
    assert_eq!(result["message"], "Delivered");
    assert_eq!(result["status_code"], 201);
    assert_eq!(result["response_body"], "thanks");
    assert!(result["duration_ms"].as_u64().is_some(), "{result}");

    let seen = hook.requests();
    assert_eq!(seen.len(), 1);
    let request = &seen[0];
    assert_eq!(
        (request.method.as_str(), request.path.as_str()),
        ("PUT", "/orders?x=1")
    );
    assert_eq!(request.body, br#"{"order":42}"#);
    assert_eq!(request.header("content-type"), Some("application/json"));
    assert_eq!(request.header("x-order"), Some("42"));
    assert_eq!(request.header("user-agent"), Some("bgtasks/0.1.0"));
    assert_eq!(request.header("bgtasks-attempt"), Some("1"));
    assert_eq!(request.header("webhook-id"), Some(id.as_str()));
    let timestamp = request.header("webhook-timestamp").unwrap();
    let sent: u64 = timestamp.parse().unwrap();
    assert!(
        sent.abs_diff(request.at_ms / 1000) <= 2,
        "{sent} vs {}",
        request.at_ms
    );
    let signature = request.header("webhook-signature").expect("signed");
    assert!(
        signature_valid(SECRET, &id, timestamp, &request.body, signature),
        "{signature}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn without_a_secret_requests_go_unsigned() {
    let svc = service_vars(&[LOOPBACK]).await;
    let hook = receiver(vec![]).await;
    let id = submit(svc.addr(), "/http", &http_task(&hook.url("/"), json!({}))).await;
    let task = poll_until(svc.addr(), &id, Duration::from_secs(5), finished).await;
    assert_eq!(task["status"], "success", "{task}");
    let seen = hook.requests();
    assert_eq!(seen[0].method, "POST", "POST by default");
    assert!(seen[0].header("webhook-signature").is_none());
    assert!(seen[0].header("webhook-id").is_some());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_retryable_answer_is_retried_after_retry_after_under_the_same_webhook_id() {
    let svc = service_vars(&[LOOPBACK]).await;
    let hook = receiver(vec![
        Answer::status(503).header("retry-after", "1"),
        Answer::status(200),
    ])
    .await;
    let id = submit(
        svc.addr(),
        "/http/",
        &http_task(
            &hook.url("/"),
            json!({"retry_policy": {"backoff_ms": 100, "backoff": "fixed"}}),
        ),
    )
    .await;
    let task = poll_until(svc.addr(), &id, Duration::from_secs(8), finished).await;
    assert_eq!(task["status"], "success", "{task}");
    assert_eq!(task["attempts"], 2);
    assert_eq!(codes(&task), [json!(503), json!(200)]);
    let seen = hook.requests();
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[0].header("webhook-id"), seen[1].header("webhook-id"));
    assert_eq!(seen[0].header("bgtasks-attempt"), Some("1"));
    assert_eq!(seen[1].header("bgtasks-attempt"), Some("2"));
    let gap = seen[1].at_ms - seen[0].at_ms;
    assert!(
        gap >= 900,
        "Retry-After: 1 waits a second, not 100 ms: {gap} ms"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn each_retryable_class_is_retried_and_the_budget_ends_with_the_last_error() {
    let svc = service_vars(&[LOOPBACK]).await;
    let hook = receiver(vec![
        Answer::status(408),
        Answer::status(425),
        Answer::status(500),
    ])
    .await;
    let url = hook.url("/flaky");
    let id = submit(
        svc.addr(),
        "/http/",
        &http_task(&url, json!({"retry_policy": {"backoff_ms": 50}})),
    )
    .await;
    let task = poll_until(svc.addr(), &id, Duration::from_secs(8), finished).await;
    assert_eq!(task["status"], "failed", "{task}");
    assert_eq!(task["attempts"], 3, "the http default budget");
    assert_eq!(codes(&task), [json!(408), json!(425), json!(500)]);
    assert_eq!(task["error"], format!("HTTP 500 from {url}"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_final_answer_fails_the_task_at_once_and_a_manual_retry_still_works() {
    let svc = service_vars(&[LOOPBACK]).await;
    let hook = receiver(vec![Answer::status(404), Answer::status(302)]).await;
    let url = hook.url("/missing");
    let id = submit(svc.addr(), "/http/", &http_task(&url, json!({}))).await;
    let task = poll_until(svc.addr(), &id, Duration::from_secs(5), finished).await;
    assert_eq!(task["status"], "failed");
    assert_eq!(task["attempts"], 1, "no retry after a 404");
    assert_eq!(task["error"], format!("HTTP 404 from {url}"));

    assert_eq!(retry(svc.addr(), &id).await.status, 200);
    let task = poll_until(svc.addr(), &id, Duration::from_secs(5), finished).await;
    assert_eq!(task["status"], "failed", "a redirect is not followed");
    assert_eq!(task["attempts"], 2);
    assert_eq!(codes(&task), [json!(404), json!(302)]);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_timeout_covers_the_whole_attempt() {
    let svc = service_vars(&[LOOPBACK]).await;
    let hook = receiver(vec![Answer::Hang]).await;
    let started = Instant::now();
    let id = submit(
        svc.addr(),
        "/http/",
        &http_task(
            &hook.url("/slow"),
            json!({"timeout_ms": 300, "retry_policy": {"max_attempts": 1}}),
        ),
    )
    .await;
    let task = poll_until(svc.addr(), &id, Duration::from_secs(5), finished).await;
    assert_eq!(task["status"], "failed", "{task}");
    assert_eq!(task["error"], "timed out after 300 ms");
    assert!(started.elapsed() < Duration::from_secs(3));
    assert_eq!(hook.requests().len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_endless_answer_is_read_only_as_far_as_the_result_keeps() {
    let svc = service_vars(&[LOOPBACK]).await;
    let hook = receiver(vec![Answer::Endless { status: 200 }]).await;
    let id = submit(
        svc.addr(),
        "/http/",
        &http_task(&hook.url("/stream"), json!({"timeout_ms": 5000})),
    )
    .await;
    let task = poll_until(svc.addr(), &id, Duration::from_secs(4), finished).await;
    assert_eq!(task["status"], "success", "{task}");
    assert_eq!(
        task["result"]["response_body"].as_str().unwrap().len(),
        4096
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refused_connection_is_retryable_with_its_own_error() {
    let svc = service_vars(&[LOOPBACK]).await;
    let closed = bgtasks_tests::redis_server::free_port();
    let id = submit(
        svc.addr(),
        "/http/",
        &http_task(
            &format!("http://127.0.0.1:{closed}/"),
            json!({"retry_policy": {"max_attempts": 2, "backoff_ms": 50}}),
        ),
    )
    .await;
    let task = poll_until(svc.addr(), &id, Duration::from_secs(5), finished).await;
    assert_eq!(task["status"], "failed", "{task}");
    assert_eq!(task["attempts"], 2, "retried");
    assert_eq!(task["error"], "connection refused");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_slow_receiver_holds_up_no_other_request() {
    let svc = service_vars(&[LOOPBACK]).await;
    let hook = receiver(vec![Answer::status(200).after_ms(3000)]).await;
    let slow = submit(svc.addr(), "/http/", &http_task(&hook.url("/"), json!({}))).await;
    hook.wait_for(1, Duration::from_secs(3)).await;
    let other = submit(svc.addr(), "/notify/", &notification(0, 0)).await;
    let started = Instant::now();
    for _ in 0..20 {
        assert_eq!(status(svc.addr(), &other).await["status"], "success");
    }
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "reads waited for the slow receiver: {:?}",
        started.elapsed()
    );
    assert_eq!(status(svc.addr(), &slow).await["status"], "pending");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_attempt_cut_off_by_a_restart_is_sent_again_under_the_same_webhook_id() {
    let svc = service_vars(&[LOOPBACK]).await;
    let hook = receiver(vec![Answer::Hang, Answer::status(200)]).await;
    let id = submit(
        svc.addr(),
        "/http/",
        &http_task(&hook.url("/"), json!({"timeout_ms": 1000})),
    )
    .await;
    hook.wait_for(1, Duration::from_secs(3)).await;
    let kv = svc.kill().await;
    let mut config = config(kv);
    config = config.variable(LOOPBACK.0, LOOPBACK.1);
    let svc = service_with(config).await;
    // The dead worker's lease runs out after the timeout and its grace;
    // then a read takes the attempt over.
    let task = poll_until(svc.addr(), &id, Duration::from_secs(10), finished).await;
    assert_eq!(task["status"], "success", "{task}");
    let seen = hook.requests();
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[0].header("webhook-id"), Some(id.as_str()));
    assert_eq!(seen[1].header("webhook-id"), Some(id.as_str()));
    assert_eq!(
        seen[1].header("bgtasks-attempt"),
        Some("1"),
        "the interrupted attempt runs again under its number"
    );
    let outcomes: Vec<&str> = task["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(outcomes, ["interrupted", "success"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn destinations_are_closed_by_default_and_refused_at_submit() {
    let closed = service().await;
    let resp = post(
        closed.addr(),
        "/http/",
        &json!({"url": "http://127.0.0.1:9/"}),
    )
    .await;
    assert_eq!(resp.status, 422);
    let error = &resp.json()["detail"][0];
    assert_eq!(error["type"], "url_not_allowed");
    assert_eq!(error["loc"], json!(["body", "url"]));
    assert!(
        error["msg"].as_str().unwrap().contains("http_destinations"),
        "says how to open one: {error}"
    );

    let svc = service_vars(&[("http_destinations", "https://*.example.com")]).await;
    for url in [
        "https://example.com/",
        "http://api.example.com/",
        "https://api.example.com:8443/",
        "https://api.example.org/",
    ] {
        let resp = post(svc.addr(), "/http/", &json!({"url": url})).await;
        assert_eq!(resp.status, 422, "{url}");
        assert_eq!(resp.json()["detail"][0]["type"], "url_not_allowed", "{url}");
    }
    let resp = post(
        svc.addr(),
        "/http/",
        &json!({"url": "https://api.example.com/hook"}),
    )
    .await;
    assert_eq!(resp.status, 202, "{:?}", resp.body);
}

#[tokio::test(flavor = "multi_thread")]
async fn hostile_values_for_every_http_field_are_422_never_5xx() {
    let svc = service_vars(&[LOOPBACK]).await;
    let ok = "http://127.0.0.1:9/";
    let many: serde_json::Map<String, Value> =
        (0..33).map(|i| (format!("x-h{i}"), json!("v"))).collect();
    let cases = vec![
        (
            "user:pass@",
            json!({"url": "http://user:pass@127.0.0.1:9/"}),
        ),
        ("ftp", json!({"url": "ftp://127.0.0.1/"})),
        ("javascript", json!({"url": "javascript:alert(1)"})),
        ("ipv6", json!({"url": "http://[::1]:9/"})),
        (
            "2049 chars",
            json!({"url": format!("http://127.0.0.1:9/{}", "a".repeat(2049 - "http://127.0.0.1:9/".len()))}),
        ),
        ("no host", json!({"url": "http:///x"})),
        ("relative", json!({"url": "/x"})),
        ("not a string", json!({"url": 5})),
        ("lowercase method", json!({"url": ok, "method": "post"})),
        ("HEAD", json!({"url": ok, "method": "HEAD"})),
        ("33 headers", json!({"url": ok, "headers": many})),
        (
            "giant value",
            json!({"url": ok, "headers": {"x": "v".repeat(4097)}}),
        ),
        (
            "control character",
            json!({"url": ok, "headers": {"x": "a\r\nb: c"}}),
        ),
        ("not a token", json!({"url": ok, "headers": {"x y": "v"}})),
        ("reserved", json!({"url": ok, "headers": {"Host": "evil"}})),
        (
            "webhook-",
            json!({"url": ok, "headers": {"Webhook-Id": "x"}}),
        ),
        (
            "twice",
            json!({"url": ok, "headers": {"X-A": "1", "x-a": "2"}}),
        ),
        ("number value", json!({"url": ok, "headers": {"x": 1}})),
        (
            "GET with body",
            json!({"url": ok, "method": "GET", "body": {"a": 1}}),
        ),
        ("timeout 99", json!({"url": ok, "timeout_ms": 99})),
        ("timeout 60001", json!({"url": ok, "timeout_ms": 60001})),
        ("simulate", json!({"url": ok, "simulate": {"delay_ms": 1}})),
        (
            "callback ftp",
            json!({"url": ok, "callback_url": "ftp://x/"}),
        ),
    ];
    for (what, body) in cases {
        let resp = post(svc.addr(), "/http/", &body).await;
        assert_eq!(resp.status, 422, "{what}: {:?}", resp.body);
        assert!(resp.json()["detail"].is_array(), "{what}");
    }
    let fine = post(svc.addr(), "/http/", &json!({"url": ok, "simulate": null})).await;
    assert_eq!(fine.status, 202, "simulate: null is absent");
    let listed = get(svc.addr(), "/tasks?type=http").await.json();
    assert_eq!(
        listed["tasks"].as_array().unwrap().len(),
        1,
        "nothing stored for a 422"
    );
}
