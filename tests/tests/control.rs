//! Control over tasks: scheduled starts, cancel, delete, retention, waiting
//! reads and the API token, through the service's HTTP API.

mod common;

use std::time::{Duration, Instant};

use bgtasks_tests::now_ms;
use bytes::Bytes;
use common::*;
use serde_json::{Value, json};

/// Epoch milliseconds of an RFC 3339 time the service wrote.
fn ms(text: &Value) -> u64 {
    let text = text.as_str().expect("a timestamp");
    // YYYY-MM-DDTHH:MM:SS.mmmZ, as the service writes them.
    let date = &text[..10];
    let (y, m, d): (i64, i64, i64) = (
        date[..4].parse().unwrap(),
        date[5..7].parse().unwrap(),
        date[8..10].parse().unwrap(),
    );
    // Days from the civil calendar (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let h: i64 = text[11..13].parse().unwrap();
    let min: i64 = text[14..16].parse().unwrap();
    let s: i64 = text[17..19].parse().unwrap();
    let milli: i64 = text[20..23].parse().unwrap();
    (((days * 24 + h) * 60 + min) * 60 + s) as u64 * 1000 + milli as u64
}

fn rfc3339(ms: u64) -> String {
    let secs = ms / 1000;
    let days = (secs / 86_400) as i64;
    // Civil date from days (inverse of the above).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    let rem = secs % 86_400;
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}+00:00",
        rem / 3600,
        rem / 60 % 60,
        rem % 60,
        ms % 1000
    )
}

// ---- scheduling ----

#[tokio::test(flavor = "multi_thread")]
async fn a_scheduled_task_waits_pending_then_starts_within_a_second_of_its_time() {
    let svc = service().await;
    let mut body = notification(0, 0);
    body["run_in_ms"] = json!(1500);
    let before = now_ms();
    let id = submit(svc.addr(), "/notify/", &body).await;
    let waiting = status(svc.addr(), &id).await;
    assert_eq!(waiting["status"], "pending");
    assert_eq!(waiting["attempts"], 0);
    let due = ms(&waiting["next_attempt_at"]);
    assert!(
        (before + 1500..=now_ms() + 1500).contains(&due),
        "{waiting}"
    );
    assert!(
        ms(&waiting["timestamp"]) < due,
        "timestamp stays the submit time"
    );
    // No request until it is done: it starts by itself.
    tokio::time::sleep(Duration::from_millis(2700)).await;
    let task = status(svc.addr(), &id).await;
    assert_eq!(task["status"], "success", "{task}");
    let started = ms(&task["history"][0]["started_at"]);
    assert!(
        started >= due && started - due < 1000,
        "started {} ms late",
        started - due
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn run_at_in_the_past_means_now_and_bad_schedules_are_422() {
    let svc = service().await;
    let mut body = notification(0, 0);
    body["run_at"] = json!("2020-01-01T00:00:00+02:00");
    let id = submit(svc.addr(), "/notify/", &body).await;
    assert_eq!(status(svc.addr(), &id).await["status"], "success");

    let far = rfc3339(now_ms() + 31 * 86_400_000);
    for (what, field, value) in [
        ("31 days ahead", "run_at", json!(far)),
        ("no offset", "run_at", json!("2030-01-01T00:00:00")),
        ("not a time", "run_at", json!("tomorrow")),
        ("a number", "run_at", json!(1_800_000_000)),
        ("negative", "run_in_ms", json!(-1)),
        ("too long", "run_in_ms", json!(2_592_000_001u64)),
        ("a float", "run_in_ms", json!(5.0)),
        ("a string", "run_in_ms", json!("5")),
    ] {
        let mut body = notification(0, 0);
        body[field] = value;
        let resp = post(svc.addr(), "/notify/", &body).await;
        assert_eq!(resp.status, 422, "{what}: {:?}", resp.body);
    }
    let mut both = notification(0, 0);
    both["run_at"] = json!(rfc3339(now_ms() + 60_000));
    both["run_in_ms"] = json!(1000);
    assert_eq!(post(svc.addr(), "/notify/", &both).await.status, 422);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_scheduled_task_survives_a_restart_and_starts_once_any_request_came() {
    let svc = service().await;
    let mut body = json!({"content": {"x": 1}, "simulate": {"delay_ms": 0}});
    body["run_in_ms"] = json!(3000);
    let id = submit(svc.addr(), "/file/", &body).await;
    let due = ms(&status(svc.addr(), &id).await["next_attempt_at"]);
    let svc = svc.restart().await;
    // One health check, then silence: the task still starts on time.
    assert_eq!(get(svc.addr(), "/healthz").await.status, 200);
    let wait = (due + 1000).saturating_sub(now_ms());
    tokio::time::sleep(Duration::from_millis(wait)).await;
    let stored = svc.stored_task(&id).expect("stored");
    assert_eq!(stored["phase"]["phase"], "succeeded", "{stored}");
    assert!(svc.stored(&format!("outputs/{id}.json")).is_some());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_thousand_tasks_due_in_the_same_second_all_start_within_seconds() {
    let svc = service().await;
    let addr = svc.addr();
    let at = rfc3339((now_ms() / 1000 + 6) * 1000);
    let mut clients = Vec::new();
    for client in 0..20 {
        let at = at.clone();
        clients.push(tokio::spawn(async move {
            let mut ids = Vec::new();
            for i in 0..50 {
                let body = json!({"content": {"c": client, "i": i}, "run_at": at, "simulate": {"delay_ms": 0}});
                ids.push(submit(addr, "/file/", &body).await);
            }
            ids
        }));
    }
    // A store call that never returns (on Redis, the shared connection's
    // queue deadlocked once) must fail the test, not hang it.
    let ids = tokio::time::timeout(Duration::from_secs(120), async {
        let mut ids = Vec::new();
        for client in clients {
            ids.extend(client.await.unwrap());
        }
        ids
    })
    .await
    .expect("1000 submits answered within two minutes");
    assert_eq!(ids.len(), 1000);
    let due = ms(&json!(at.replace("+00:00", "Z")));
    let wait = (due + 4000).saturating_sub(now_ms());
    tokio::time::sleep(Duration::from_millis(wait)).await;
    let mut late = Vec::new();
    for id in &ids {
        let task = svc.stored_task(id).expect("stored");
        if task["phase"]["phase"] != "succeeded" {
            late.push(task["phase"].clone());
        }
    }
    assert!(
        late.is_empty(),
        "{} of 1000 not done 4 s after their time: {:?}",
        late.len(),
        late.first()
    );
}

// ---- cancel ----

#[tokio::test(flavor = "multi_thread")]
async fn cancelling_a_waiting_task_fails_it_for_good_until_a_retry() {
    let svc = service().await;
    let mut body = notification(0, 0);
    body["run_in_ms"] = json!(60_000);
    let id = submit(svc.addr(), "/notify/", &body).await;
    let resp = cancel(svc.addr(), &id).await;
    assert_eq!(
        (resp.status, resp.json()),
        (200, json!({"task_id": id, "status": "cancelled"}))
    );
    let task = status(svc.addr(), &id).await;
    assert_eq!(
        (
            &task["status"],
            &task["error"],
            &task["result"],
            &task["cancelled"]
        ),
        (
            &json!("failed"),
            &json!("cancelled"),
            &Value::Null,
            &json!(true)
        )
    );
    let again = cancel(svc.addr(), &id).await;
    assert_eq!(
        (again.status, again.json()),
        (400, json!({"detail": "Task is not pending"}))
    );
    assert_eq!(retry(svc.addr(), &id).await.status, 200);
    let task = poll_until(svc.addr(), &id, Duration::from_secs(3), finished).await;
    assert_eq!(
        task["status"], "success",
        "runs at once, not at its old time: {task}"
    );
    assert_eq!(task["cancelled"], false);
    let unknown = cancel(svc.addr(), "6f1c2a9e-8a53-4c1e-9d7e-2b3c4d5e6f70").await;
    assert_eq!(
        (unknown.status, unknown.json()),
        (404, json!({"detail": "Task not found"}))
    );
    assert_eq!(cancel(svc.addr(), "nope").await.status, 404);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_running_attempt_cancelled_ends_in_the_history_only() {
    let svc = service().await;
    let id = submit(
        svc.addr(),
        "/file/",
        &json!({"content": {"x": 1}, "simulate": {"delay_ms": 700}}),
    )
    .await;
    assert_eq!(cancel(svc.addr(), &id).await.status, 200);
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let task = status(svc.addr(), &id).await;
    assert_eq!(
        (&task["status"], &task["cancelled"]),
        (&json!("failed"), &json!(true)),
        "{task}"
    );
    assert_eq!(
        task["history"][0]["outcome"], "success",
        "its outcome landed: {task}"
    );
    assert_eq!(task["result"], Value::Null);
}

#[tokio::test(flavor = "multi_thread")]
async fn no_attempt_starts_after_a_cancel_even_with_a_retry_wait_armed() {
    let svc = service().await;
    let body = json!({
        "email": "a@b.co", "message": "m",
        "simulate": {"delay_ms": 10, "fail_attempts": 1},
        "retry_policy": {"max_attempts": 3, "backoff_ms": 600, "backoff": "fixed"},
    });
    let id = submit(svc.addr(), "/notify/", &body).await;
    poll_until(svc.addr(), &id, Duration::from_secs(3), |t| {
        !t["next_attempt_at"].is_null()
    })
    .await;
    assert_eq!(cancel(svc.addr(), &id).await.status, 200);
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let task = status(svc.addr(), &id).await;
    assert_eq!(task["attempts"], 1, "the armed retry did not start: {task}");
    assert_eq!(task["cancelled"], true);
}

#[tokio::test(flavor = "multi_thread")]
async fn racing_cancels_have_one_winner() {
    let svc = service().await;
    for _ in 0..5 {
        let id = submit(svc.addr(), "/notify/", &notification(5_000, 0)).await;
        let (a, b) = tokio::join!(cancel(svc.addr(), &id), cancel(svc.addr(), &id));
        let mut codes = [a.status, b.status];
        codes.sort();
        assert_eq!(codes, [200, 400]);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cancel_racing_an_attempts_end_leaves_one_consistent_story() {
    let svc = service().await;
    for delay in [150, 200, 250, 300] {
        let id = submit(svc.addr(), "/notify/", &notification(delay, 0)).await;
        tokio::time::sleep(Duration::from_millis(delay)).await;
        let resp = cancel(svc.addr(), &id).await;
        let task = poll_until(svc.addr(), &id, Duration::from_secs(3), |t| {
            finished(t) && !t["history"].as_array().unwrap().is_empty()
        })
        .await;
        match resp.status {
            200 => {
                assert_eq!(task["cancelled"], true, "{task}");
                assert_eq!(task["result"], Value::Null);
            }
            400 => assert_eq!(task["status"], "success", "{task}"),
            other => panic!("cancel answered {other}"),
        }
        assert_eq!(
            task["history"].as_array().unwrap().len(),
            1,
            "one attempt: {task}"
        );
    }
}

// ---- delete and retention ----

#[tokio::test(flavor = "multi_thread")]
async fn deleting_a_finished_task_removes_every_key_of_it() {
    let svc = service().await;
    let headers = [
        ("content-type", "application/json"),
        ("idempotency-key", "k1"),
    ];
    let body = json!({"content": {"x": 1}, "simulate": {"delay_ms": 0}}).to_string();
    let first = request(svc.addr(), "POST", "/file/", &headers, body.clone()).await;
    let id = first.json()["task_id"].as_str().unwrap().to_owned();
    assert_eq!(status(svc.addr(), &id).await["status"], "success");

    let resp = delete(svc.addr(), &id).await;
    assert_eq!(resp.status, 204);
    assert!(resp.body.is_empty());
    assert_eq!(get(svc.addr(), &format!("/status/{id}")).await.status, 404);
    assert_eq!(
        get(svc.addr(), &format!("/outputs/{id}.json")).await.status,
        404
    );
    assert_eq!(get(svc.addr(), "/tasks").await.json()["tasks"], json!([]));
    assert_eq!(delete(svc.addr(), &id).await.status, 404);
    assert!(svc.stored_task(&id).is_none());

    let again = request(svc.addr(), "POST", "/file/", &headers, body).await;
    assert_eq!(again.status, 202);
    assert_ne!(
        again.json()["task_id"],
        json!(id),
        "the key creates a new task"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_pending_task_cannot_be_deleted_and_readers_racing_a_delete_see_it_or_404() {
    let svc = service().await;
    let id = submit(svc.addr(), "/notify/", &notification(5_000, 0)).await;
    let resp = delete(svc.addr(), &id).await;
    assert_eq!(
        (resp.status, resp.json()),
        (409, json!({"detail": "Task is pending; cancel it first"}))
    );
    assert_eq!(cancel(svc.addr(), &id).await.status, 200);
    let addr = svc.addr();
    let readers: Vec<_> = (0..20)
        .map(|_| {
            let id = id.clone();
            tokio::spawn(async move { get(addr, &format!("/status/{id}")).await.status })
        })
        .collect();
    assert_eq!(delete(addr, &id).await.status, 204);
    for reader in readers {
        let code = reader.await.unwrap();
        assert!(code == 200 || code == 404, "{code}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn finished_tasks_are_deleted_after_retention_and_the_store_stays_bounded() {
    let kv = fresh_store();
    let svc = service_with(config(kv.clone()).variable("retention_seconds", "1")).await;
    let mut peak = 0;
    for wave in 0..4 {
        let mut ids = Vec::new();
        for i in 0..25 {
            let body = json!({"content": {"wave": wave, "i": i}, "simulate": {"delay_ms": 0}});
            ids.push(submit(svc.addr(), "/file/", &body).await);
        }
        // Requests arrive meanwhile (a liveness probe): within 10 s past
        // their time, the wave is gone.
        let deadline = Instant::now() + Duration::from_secs(11);
        loop {
            assert_eq!(get(svc.addr(), "/healthz").await.status, 200);
            let left = ids
                .iter()
                .filter(|id| svc.stored_task(id).is_some())
                .count();
            if left == 0 {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "wave {wave}: {left} of 25 still stored"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        for id in &ids {
            assert!(svc.stored(&format!("outputs/{id}.json")).is_none());
            assert_eq!(get(svc.addr(), &format!("/status/{id}")).await.status, 404);
        }
        let keys = bgtasks_tests::server::count_keys(&kv).expect("countable store");
        peak = peak.max(keys);
    }
    // Four waves of 25 tasks (each with a record, a listing entry and a
    // file) left only counters and floors behind.
    assert!(peak < 20, "{peak} keys after the waves");
}

// ---- waiting ----

#[tokio::test(flavor = "multi_thread")]
async fn a_waiting_read_answers_when_the_task_ends_and_blocks_nothing() {
    let svc = service().await;
    let slow = submit(svc.addr(), "/notify/", &notification(800, 0)).await;
    let quick = submit(svc.addr(), "/notify/", &notification(0, 0)).await;
    let addr = svc.addr();
    let started = Instant::now();
    let waiting = tokio::spawn({
        let slow = slow.clone();
        async move { get(addr, &format!("/status/{slow}?wait_ms=5000")).await }
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let other_started = Instant::now();
    assert_eq!(status(addr, &quick).await["status"], "success");
    assert!(
        other_started.elapsed() < Duration::from_millis(500),
        "another read was held up"
    );
    let resp = waiting.await.unwrap();
    assert_eq!(resp.status, 200);
    assert_eq!(resp.json()["status"], "success");
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(700) && took < Duration::from_millis(2500),
        "answered {took:?} after asking, the task ending after 800 ms"
    );
    // A finished task answers at once.
    let at_once = Instant::now();
    assert_eq!(
        get(addr, &format!("/status/{quick}?wait_ms=30000"))
            .await
            .status,
        200
    );
    assert!(at_once.elapsed() < Duration::from_millis(500));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_waiting_read_gives_up_with_the_pending_body_and_bad_waits_are_422() {
    let svc = service().await;
    let id = submit(svc.addr(), "/notify/", &notification(10_000, 0)).await;
    let started = Instant::now();
    let resp = get(svc.addr(), &format!("/status/{id}?wait_ms=600")).await;
    assert_eq!(
        (resp.status, &resp.json()["status"]),
        (200, &json!("pending"))
    );
    assert!(
        started.elapsed() >= Duration::from_millis(550),
        "{:?}",
        started.elapsed()
    );
    for bad in ["-1", "30001", "abc", "1.5", ""] {
        let resp = get(svc.addr(), &format!("/status/{id}?wait_ms={bad}")).await;
        assert_eq!(resp.status, 422, "{bad:?}");
        assert_eq!(
            resp.json()["detail"][0]["loc"],
            json!(["query", "wait_ms"]),
            "{bad:?}"
        );
    }
}

// ---- the API token ----

#[tokio::test(flavor = "multi_thread")]
async fn with_a_token_every_api_route_wants_it_right_after_routing() {
    let svc = service_vars(&[("api_token", "s3cret")]).await;
    let addr = svc.addr();
    let id = "6f1c2a9e-8a53-4c1e-9d7e-2b3c4d5e6f70";
    let routes = [
        ("POST", "/notify/".to_owned()),
        ("POST", "/http/".to_owned()),
        ("GET", format!("/status/{id}")),
        ("POST", format!("/retry-task/{id}")),
        ("POST", format!("/cancel-task/{id}")),
        ("DELETE", format!("/tasks/{id}")),
        ("GET", "/tasks".to_owned()),
        ("GET", format!("/outputs/{id}.json")),
    ];
    for (method, path) in &routes {
        for auth in [
            None,
            Some("Bearer wrong"),
            Some("Basic czNjcmV0"),
            Some("s3cret"),
        ] {
            let headers: Vec<(&str, &str)> =
                auth.map(|a| ("authorization", a)).into_iter().collect();
            let resp = request(addr, method, path, &headers, Bytes::new()).await;
            assert_eq!(resp.status, 401, "{method} {path} with {auth:?}");
            assert_eq!(resp.header("www-authenticate"), Some("Bearer"));
            assert_eq!(resp.json(), json!({"detail": "Not authenticated"}));
        }
    }
    // The order: 404 and 405 first, then 401, before 413, 415 and 422.
    assert_eq!(get(addr, "/nope").await.status, 404);
    assert_eq!(
        request(addr, "PUT", "/tasks", &[], Bytes::new())
            .await
            .status,
        405
    );
    let big = "x".repeat(70_000);
    assert_eq!(
        request(
            addr,
            "POST",
            "/notify/",
            &[("content-type", "application/json")],
            big
        )
        .await
        .status,
        401
    );
    assert_eq!(
        request(
            addr,
            "POST",
            "/notify/",
            &[("content-type", "text/plain")],
            "x"
        )
        .await
        .status,
        401
    );
    assert_eq!(post(addr, "/notify/", &json!({})).await.status, 401);
    // With the token, everything as usual.
    let auth = [
        ("authorization", "Bearer s3cret"),
        ("content-type", "application/json"),
    ];
    let resp = request(
        addr,
        "POST",
        "/notify/",
        &auth,
        notification(0, 0).to_string(),
    )
    .await;
    assert_eq!(resp.status, 202);
    let task = resp.json()["task_id"].as_str().unwrap().to_owned();
    let read = request(
        addr,
        "GET",
        &format!("/status/{task}"),
        &auth[..1],
        Bytes::new(),
    )
    .await;
    assert_eq!(read.status, 200);
    assert_eq!(
        request(addr, "POST", "/notify/", &auth, "{}").await.status,
        422
    );
    // What stays open: health, the API description, the playground.
    assert_eq!(get(addr, "/healthz").await.status, 200);
    assert_eq!(get(addr, "/openapi.json").await.status, 200);
    assert_eq!(
        get(addr, "/").await.status,
        404,
        "no page mounted here, but not 401"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_store_of_a_service_without_scheduled_work_holds_no_index() {
    let svc = service().await;
    let id = submit(svc.addr(), "/notify/", &notification(0, 0)).await;
    assert_eq!(status(svc.addr(), &id).await["status"], "success");
    assert!(svc.stored("counter/wake-total").is_none());
}
