//! The HTTP contract, rule by rule, against the built component over HTTP.

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::*;
use serde_json::{Value, json};

const UUID_LEN: usize = 36;

#[tokio::test(flavor = "multi_thread")]
async fn each_task_type_is_accepted_with_202_a_task_id_and_a_location() {
    let svc = service().await;
    let addr = svc.addr();
    for (path, body) in [
        (
            "/notify/",
            json!({"email": "johndoe@example.com", "message": "Your submission was received."}),
        ),
        (
            "/report/",
            json!({"name": "Sales Report", "details": {"month": "June", "region": "Asia"}}),
        ),
        (
            "/file/",
            json!({"content": {"user": "johndoe", "activity": "export"}}),
        ),
        ("/notify", json!({"email": "a@b.co", "message": ""})),
        ("/report", json!({"name": "x"})),
        ("/file", json!({"content": {}})),
    ] {
        let resp = post(addr, path, &body).await;
        assert_eq!(resp.status, 202, "{path}: {:?}", resp.body);
        let answer = resp.json();
        assert_eq!(answer["status"], "started");
        let id = answer["task_id"].as_str().unwrap();
        assert_eq!(id.len(), UUID_LEN);
        assert_eq!(&id[14..15], "4", "a UUID v4: {id}");
        assert_eq!(
            resp.header("location"),
            Some(format!("/status/{id}").as_str())
        );
        assert_eq!(resp.header("content-type"), Some("application/json"));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_task_reaches_success_with_the_contracts_result_for_each_type() {
    let svc = service().await;
    let addr = svc.addr();
    let n = submit(
        addr,
        "/notify/",
        &json!({"email": "johndoe@example.com", "message": "hi", "simulate": {"delay_ms": 100}}),
    )
    .await;
    let r = submit(addr, "/report/", &json!({"name": "Sales Report", "details": {"month": "June"}, "simulate": {"delay_ms": 100}})).await;
    let f = submit(addr, "/file/", &json!({"content": {"user": "johndoe", "activity": "export"}, "simulate": {"delay_ms": 100}})).await;

    let pending = status(addr, &n).await;
    assert_eq!(pending["status"], "pending");
    assert_eq!(pending["result"], Value::Null);

    let task = poll_until(addr, &n, Duration::from_secs(5), finished).await;
    assert_eq!(task["status"], "success");
    assert_eq!(task["type"], "notification");
    assert_eq!(task["id"], n.as_str());
    assert_eq!(
        task["result"],
        json!({"message": "Notification sent", "delivered_to": "johndoe@example.com"})
    );
    assert_eq!(task["error"], Value::Null);
    assert_eq!(task["retries"], 0);
    let stamp = task["timestamp"].as_str().unwrap();
    assert_eq!(stamp.len(), "2026-06-26T09:15:02.123Z".len(), "{stamp}");
    assert!(
        stamp.ends_with('Z') && stamp.as_bytes()[19] == b'.',
        "{stamp}"
    );

    let task = poll_until(addr, &r, Duration::from_secs(5), finished).await;
    assert_eq!(task["result"]["message"], "Report generated");
    assert_eq!(task["result"]["report"]["name"], "Sales Report");
    assert_eq!(
        task["result"]["report"]["details"],
        json!({"month": "June"})
    );

    let task = poll_until(addr, &f, Duration::from_secs(5), finished).await;
    let file = get(addr, &format!("/outputs/{f}.json")).await;
    assert_eq!(file.status, 200);
    assert_eq!(file.header("content-type"), Some("application/json"));
    assert_eq!(
        std::str::from_utf8(&file.body).unwrap(),
        "{\n  \"user\": \"johndoe\",\n  \"activity\": \"export\"\n}"
    );
    assert_eq!(
        task["result"],
        json!({"message": "File saved", "path": format!("outputs/{f}.json"), "bytes": file.body.len()})
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn outputs_are_404_before_they_exist_and_for_unknown_ids() {
    let svc = service().await;
    let addr = svc.addr();
    let f = submit(
        addr,
        "/file/",
        &json!({"content": {"a": 1}, "simulate": {"delay_ms": 500}}),
    )
    .await;
    let early = get(addr, &format!("/outputs/{f}.json")).await;
    assert_eq!(early.status, 404);
    assert!(early.json()["detail"].is_string());
    assert_eq!(get(addr, "/outputs/not-a-task.json").await.status, 404);
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_and_malformed_ids_are_task_not_found() {
    let svc = service().await;
    let addr = svc.addr();
    for path in [
        "/status/6f1c2a9e-8a53-4c1e-9d7e-2b3c4d5e6f70",
        "/status/not-a-uuid",
        "/status/..",
        "/status/%2e%2e",
    ] {
        let resp = get(addr, path).await;
        assert_eq!(
            (resp.status, resp.json()),
            (404, json!({"detail": "Task not found"})),
            "{path}"
        );
    }
    for path in [
        "/retry-task/6f1c2a9e-8a53-4c1e-9d7e-2b3c4d5e6f70",
        "/retry-task/nope",
    ] {
        let resp = request(addr, "POST", path, &[], Bytes::new()).await;
        assert_eq!(
            (resp.status, resp.json()),
            (404, json!({"detail": "Task not found"})),
            "{path}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_router_answers_404_405_and_redirects_a_toggled_slash() {
    let svc = service().await;
    let addr = svc.addr();
    for path in ["/nope", "/status/a%2Fb", "/status/", "/notify/extra"] {
        let resp = get(addr, path).await;
        assert_eq!(
            (resp.status, resp.json()),
            (404, json!({"detail": "Not Found"})),
            "{path}"
        );
    }
    let resp = get(addr, "/notify/").await;
    assert_eq!(
        (resp.status, resp.json()),
        (405, json!({"detail": "Method Not Allowed"}))
    );
    assert_eq!(resp.header("allow"), Some("POST"));
    let resp = request(addr, "DELETE", "/tasks", &[], Bytes::new()).await;
    assert_eq!(resp.status, 405);
    let resp = get(addr, "/tasks/?limit=2").await;
    assert_eq!(resp.status, 307);
    assert_eq!(resp.header("location"), Some("/tasks?limit=2"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_task_is_retried_by_hand_once_and_succeeds() {
    let svc = service().await;
    let addr = svc.addr();
    let id = submit(addr, "/notify/", &notification(50, 1)).await;
    let task = poll_until(addr, &id, Duration::from_secs(5), finished).await;
    assert_eq!(task["status"], "failed");
    assert_eq!(task["error"], "simulated failure (attempt 1 of 1)");

    let resp = retry(addr, &id).await;
    assert_eq!(
        (resp.status, resp.json()),
        (200, json!({"task_id": id, "status": "retried"}))
    );
    let task = status(addr, &id).await;
    assert_eq!(
        (&task["status"], &task["retries"], &task["error"]),
        (&json!("pending"), &json!(1), &Value::Null)
    );

    let again = retry(addr, &id).await;
    assert_eq!(
        (again.status, again.json()),
        (400, json!({"detail": "Task is not in a failed state"}))
    );

    let task = poll_until(addr, &id, Duration::from_secs(5), finished).await;
    assert_eq!(
        (&task["status"], &task["retries"], &task["attempts"]),
        (&json!("success"), &json!(1), &json!(2))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn automatic_retries_wait_in_pending_with_next_attempt_at() {
    let svc = service().await;
    let addr = svc.addr();
    let body = json!({
        "content": {"k": "v"},
        "simulate": {"delay_ms": 50, "fail_attempts": 2},
        "retry_policy": {"max_attempts": 3, "backoff_ms": 400, "backoff": "fixed"},
    });
    let id = submit(addr, "/file/", &body).await;
    let waiting = poll_until(addr, &id, Duration::from_secs(3), |t| {
        t["attempts"] == 1 && !t["next_attempt_at"].is_null()
    })
    .await;
    assert_eq!(waiting["status"], "pending");
    assert!(waiting["next_attempt_at"].as_str().unwrap().ends_with('Z'));
    let task = poll_until(addr, &id, Duration::from_secs(5), finished).await;
    assert_eq!(
        (&task["status"], &task["attempts"]),
        (&json!("success"), &json!(3))
    );
    let outcomes: Vec<&str> = task["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(outcomes, ["failed", "failed", "success"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn validation_errors_have_fastapis_shape() {
    let svc = service().await;
    let addr = svc.addr();
    let resp = post(addr, "/notify/", &json!({"message": 5})).await;
    assert_eq!(resp.status, 422);
    let detail = resp.json()["detail"].clone();
    assert_eq!(detail[0]["loc"], json!(["body", "email"]));
    assert_eq!(detail[0]["type"], "missing");
    assert_eq!(detail[0]["msg"], "Field required");
    assert_eq!(detail[1]["loc"], json!(["body", "message"]));

    let resp = post(
        addr,
        "/file/",
        &json!({"content": {}, "simulate": {"delay_ms": "500"}}),
    )
    .await;
    assert_eq!(
        resp.json()["detail"][0]["loc"],
        json!(["body", "simulate", "delay_ms"])
    );
    let resp = request(
        addr,
        "POST",
        "/file/",
        &[("content-type", "application/json")],
        "{\"content\": NaN}",
    )
    .await;
    assert_eq!(resp.status, 422);
    assert_eq!(resp.json()["detail"][0]["type"], "json_invalid");
    let resp = get(addr, "/tasks?limit=0").await;
    assert_eq!(resp.status, 422);
    assert_eq!(resp.json()["detail"][0]["loc"], json!(["query", "limit"]));
    let resp = get(addr, "/tasks?cursor=forged").await;
    assert_eq!(resp.status, 422);
}

#[tokio::test(flavor = "multi_thread")]
async fn content_types_other_than_json_are_415_and_size_comes_first() {
    let svc = service().await;
    let addr = svc.addr();
    let body = json!({"content": {}}).to_string();
    for ct in [
        "application/json",
        "application/vnd.api+json",
        "APPLICATION/JSON; charset=utf-8",
        "",
    ] {
        let headers: &[(&str, &str)] = if ct.is_empty() {
            &[]
        } else {
            &[("content-type", ct)]
        };
        let resp = request(addr, "POST", "/file/", headers, body.clone()).await;
        assert_eq!(resp.status, 202, "{ct:?}");
    }
    for ct in [
        "text/plain",
        "application/xml",
        "multipart/form-data; boundary=x",
    ] {
        let resp = request(
            addr,
            "POST",
            "/file/",
            &[("content-type", ct)],
            body.clone(),
        )
        .await;
        assert_eq!(resp.status, 415, "{ct}");
        assert!(resp.json()["detail"].is_string());
    }
    let empty = request(
        addr,
        "POST",
        "/file/",
        &[("content-type", "text/plain")],
        Bytes::new(),
    )
    .await;
    assert_eq!(
        empty.status, 422,
        "no body: the body is missing, whatever its type"
    );
    let huge = vec![b'x'; 70_000];
    let resp = request(
        addr,
        "POST",
        "/file/",
        &[("content-type", "text/plain")],
        huge,
    )
    .await;
    assert_eq!(resp.status, 413);
}

#[tokio::test(flavor = "multi_thread")]
async fn bodies_up_to_64_kib_are_accepted_whole_or_chunked_and_one_byte_more_is_413() {
    let svc = service().await;
    let addr = svc.addr();
    let frame = r#"{"content": {"p": ""}}"#;
    let exact = format!(
        r#"{{"content": {{"p": "{}"}}}}"#,
        "x".repeat(65_536 - frame.len())
    );
    assert_eq!(exact.len(), 65_536);
    let ct = [("content-type", "application/json")];
    assert_eq!(
        request(addr, "POST", "/file/", &ct, exact.clone())
            .await
            .status,
        202
    );
    let over = format!("{exact} ");
    assert_eq!(
        request(addr, "POST", "/file/", &ct, over.clone())
            .await
            .status,
        413
    );

    let chunks = |s: &str| {
        s.as_bytes()
            .chunks(10_000)
            .map(Bytes::copy_from_slice)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        request_chunked(addr, "POST", "/file/", &ct, chunks(&exact))
            .await
            .status,
        202
    );
    assert_eq!(
        request_chunked(addr, "POST", "/file/", &ct, chunks(&over))
            .await
            .status,
        413
    );
    let endless = vec![Bytes::from(vec![b' '; 50_000]); 20];
    assert_eq!(
        request_chunked(addr, "POST", "/file/", &ct, endless)
            .await
            .status,
        413
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn idempotency_keys_return_the_first_task_and_refuse_a_different_request() {
    let svc = service().await;
    let addr = svc.addr();
    let send = |path: &'static str, body: &'static str, key: &'static str| async move {
        request(
            addr,
            "POST",
            path,
            &[
                ("content-type", "application/json"),
                ("idempotency-key", key),
            ],
            body,
        )
        .await
    };
    let first = send("/file/", r#"{"content": {"a": 1, "b": 2}}"#, "key-1").await;
    assert_eq!(first.status, 202);
    let id = first.json()["task_id"].clone();
    let again = send("/file", r#"{ "content": {"b": 2, "a": 1} }"#, "key-1").await;
    assert_eq!(
        (again.status, again.json()["task_id"].clone()),
        (202, id.clone())
    );
    assert_eq!(
        send("/file/", r#"{"content": {"a": 1, "b": 3}}"#, "key-1")
            .await
            .status,
        409
    );
    assert_eq!(
        send(
            "/file/",
            r#"{"content": {"a": 1, "b": 2}, "x": null}"#,
            "key-1"
        )
        .await
        .status,
        409
    );
    assert_eq!(
        send("/report/", r#"{"name": "r"}"#, "key-1").await.status,
        409
    );
    let bad = send("/file/", r#"{"content": {}}"#, "has space").await;
    assert_eq!(bad.status, 422);
    assert_eq!(
        bad.json()["detail"][0]["loc"],
        json!(["header", "idempotency-key"])
    );
    let page = get(addr, "/tasks").await.json();
    assert_eq!(
        page["tasks"].as_array().unwrap().len(),
        1,
        "nothing stored for refused requests"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn listing_is_newest_first_filters_and_pages_with_cursors() {
    let svc = service().await;
    let addr = svc.addr();
    let mut ids = Vec::new();
    for i in 0..7 {
        let id = if i % 2 == 0 {
            submit(addr, "/notify/", &notification(20, 1)).await
        } else {
            submit(
                addr,
                "/file/",
                &json!({"content": {"i": i}, "simulate": {"delay_ms": 20}}),
            )
            .await
        };
        ids.push(id);
    }
    for id in &ids {
        poll_until(addr, id, Duration::from_secs(5), finished).await;
    }
    ids.reverse();
    let mut seen = Vec::new();
    let mut path = "/tasks?limit=3".to_owned();
    loop {
        let page = get(addr, &path).await.json();
        seen.extend(
            page["tasks"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t["id"].as_str().unwrap().to_owned()),
        );
        match page["next_cursor"].as_str() {
            Some(cursor) => path = format!("/tasks?limit=3&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(seen, ids);
    let failed = get(addr, "/tasks?status=failed&type=notification")
        .await
        .json();
    let failed: Vec<_> = failed["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["status"].clone())
        .collect();
    assert_eq!(failed, vec![json!("failed"); 4]);
    let files = get(addr, "/tasks?type=file").await.json();
    assert_eq!(files["tasks"].as_array().unwrap().len(), 3);
}

#[tokio::test(flavor = "multi_thread")]
async fn health_and_openapi_answer() {
    let svc = service().await;
    let addr = svc.addr();
    let resp = get(addr, "/healthz").await;
    assert_eq!((resp.status, resp.json()), (200, json!({"status": "ok"})));
    let doc = get(addr, "/openapi.json").await.json();
    assert_eq!(doc["openapi"], "3.1.0");
    for path in [
        "/notify/",
        "/report/",
        "/file/",
        "/status/{task_id}",
        "/retry-task/{task_id}",
        "/tasks",
        "/outputs/{task_id}.json",
        "/healthz",
    ] {
        assert!(doc["paths"][path].is_object(), "{path}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_playground_is_served_from_the_mounted_directory() {
    let dir = temp_db("playground").with_extension("d");
    std::fs::create_dir_all(dir.join("pkg")).unwrap();
    std::fs::write(
        dir.join("index.html"),
        "<!doctype html><title>bgtasks</title>",
    )
    .unwrap();
    std::fs::write(dir.join("pkg/engine_bg.wasm"), b"\0asm").unwrap();
    let svc = service_with(config(fresh_store()).files(&dir, "/playground")).await;
    let addr = svc.addr();
    let page = get(addr, "/").await;
    assert_eq!(page.status, 200);
    assert_eq!(
        page.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    assert_eq!(&page.body[..], b"<!doctype html><title>bgtasks</title>");
    let wasm = get(addr, "/playground/pkg/engine_bg.wasm").await;
    assert_eq!(
        (wasm.status, wasm.header("content-type")),
        (200, Some("application/wasm"))
    );
    for path in [
        "/playground/missing.js",
        "/playground/..%2Fsecret",
        "/playground/.hidden",
    ] {
        assert_eq!(get(addr, path).await.status, 404, "{path}");
    }
}
