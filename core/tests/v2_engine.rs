//! The in-memory engine with v2 work, as the playground drives it: `http`
//! tasks against the scripted virtual destination, callbacks, scheduled
//! starts, cancel and delete.

mod common;

use bgtasks_core::outbound::Secret;
use bgtasks_core::{ListQuery, Problem, ScriptedAnswer, TaskId, TaskKind};
use common::{START, Sim};
use serde_json::{Value, json};

const PATTERN: &str = "https://*.example.com";
const URL: &str = "https://hooks.example.com/orders";
const CALLBACK: &str = "https://cb.example.com/done";

fn answer(status: u16, delay_ms: u64, retry_after: Option<&str>, body: &str) -> ScriptedAnswer {
    ScriptedAnswer::Status {
        status,
        delay_ms,
        retry_after: retry_after.map(str::to_owned),
        body: body.into(),
    }
}

fn sim() -> Sim {
    Sim::with_destinations(PATTERN)
}

fn http_task(sim: &mut Sim, extra: Value) -> TaskId {
    let mut body = json!({"url": URL, "body": {"order": 42}});
    body.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    sim.submit(TaskKind::Http, &body.to_string())
}

fn history_codes(body: &Value) -> Vec<Value> {
    body["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.get("status_code").cloned().unwrap_or(Value::Null))
        .collect()
}

fn header<'a>(request: &'a bgtasks_core::outbound::OutboundRequest, name: &str) -> &'a str {
    request
        .header(name)
        .unwrap_or_else(|| panic!("no {name} in {:?}", request.headers))
}

// ---------------------------------------------------------------------------
// HTTP tasks

#[test]
fn an_http_task_retries_after_a_503_with_retry_after_then_succeeds() {
    let mut sim = sim();
    sim.engine.script(
        URL,
        vec![
            answer(503, 50, Some("2"), "busy"),
            answer(200, 80, None, "thanks"),
        ],
    );
    let id = http_task(&mut sim, json!({}));
    sim.drive(50);

    let body = sim.status_json(id);
    assert_eq!(body["type"], "http");
    assert_eq!(body["status"], "success");
    assert_eq!(body["attempts"], 2);
    assert_eq!(
        body["result"],
        json!({"message": "Delivered", "status_code": 200, "response_body": "thanks", "duration_ms": 80})
    );
    assert_eq!(history_codes(&body), [json!(503), json!(200)]);
    assert_eq!(
        body["history"][0]["error"],
        "HTTP 503 from https://hooks.example.com/orders"
    );
    // Retry-After: 2 beats the policy's first wait (about 1 s).
    let task = sim.engine.task(id).unwrap();
    assert_eq!(
        task.history[1].started_at.since(task.history[0].ended_at),
        2000
    );

    // One request per attempt, numbered, under the same webhook-id.
    let requests = &sim.outputs.requests;
    assert_eq!(requests.len(), 2);
    for (n, (task, request)) in requests.iter().enumerate() {
        assert_eq!(*task, id);
        assert_eq!(request.url, URL);
        assert_eq!(request.body, br#"{"order":42}"#);
        assert_eq!(header(request, "bgtasks-attempt"), (n + 1).to_string());
        assert_eq!(header(request, "webhook-id"), id.to_string());
    }
    assert_eq!(
        header(&requests[0].1, "webhook-timestamp"),
        (START.0 / 1000).to_string()
    );
    assert_eq!(
        header(&requests[1].1, "webhook-timestamp"),
        (START.plus(2050).0 / 1000).to_string()
    );
}

#[test]
fn an_http_task_whose_destination_stays_silent_times_out_with_its_timeout_in_the_error() {
    let mut sim = sim();
    sim.engine.script(URL, vec![ScriptedAnswer::Silence]);
    let id = http_task(
        &mut sim,
        json!({"timeout_ms": 500, "retry_policy": {"max_attempts": 1}}),
    );
    sim.drive(20);
    let body = sim.status_json(id);
    assert_eq!(body["status"], "failed");
    assert_eq!(body["error"], "timed out after 500 ms");
    assert_eq!(body["history"][0]["error"], "timed out after 500 ms");
    let task = sim.engine.task(id).unwrap();
    assert_eq!(
        task.history[0].ended_at.since(task.history[0].started_at),
        500
    );
}

#[test]
fn an_answer_slower_than_the_timeout_is_a_timeout() {
    let mut sim = sim();
    sim.engine.script(URL, vec![answer(200, 900, None, "late")]);
    let id = http_task(
        &mut sim,
        json!({"timeout_ms": 500, "retry_policy": {"max_attempts": 1}}),
    );
    sim.drive(20);
    assert_eq!(sim.status_json(id)["error"], "timed out after 500 ms");
}

#[test]
fn a_refused_connection_is_retried_and_a_4xx_fails_at_once() {
    let mut sim = sim();
    sim.engine.script(URL, vec![ScriptedAnswer::Refused]);
    let retried = http_task(&mut sim, json!({}));
    sim.drive(20);
    let body = sim.status_json(retried);
    assert_eq!(body["status"], "success");
    assert_eq!(body["history"][0]["error"], "connection refused");

    let mut sim = self::sim();
    sim.engine
        .script(URL, vec![answer(404, 10, None, "no such hook")]);
    let final_ = http_task(&mut sim, json!({"retry_policy": {"max_attempts": 10}}));
    sim.drive(20);
    let body = sim.status_json(final_);
    assert_eq!(body["status"], "failed");
    assert_eq!(body["attempts"], 1);
    assert_eq!(
        body["error"],
        "HTTP 404 from https://hooks.example.com/orders"
    );
    assert_eq!(sim.outputs.requests.len(), 1);
}

#[test]
fn a_spent_budget_fails_the_task_with_the_last_error() {
    let mut sim = sim();
    sim.engine.script(
        URL,
        vec![
            answer(500, 10, None, ""),
            answer(502, 10, None, ""),
            answer(503, 10, None, ""),
        ],
    );
    let id = http_task(&mut sim, json!({}));
    sim.drive(50);
    let body = sim.status_json(id);
    assert_eq!(
        (body["status"].as_str(), body["attempts"].as_u64()),
        (Some("failed"), Some(3))
    );
    assert_eq!(
        body["error"],
        "HTTP 503 from https://hooks.example.com/orders"
    );
    assert_eq!(history_codes(&body), [json!(500), json!(502), json!(503)]);
    // A manual retry grants a fresh budget; the script is spent: 200.
    sim.engine.retry(sim.now, id).unwrap();
    sim.drive(20);
    assert_eq!(sim.status_json(id)["status"], "success");
    assert_eq!(header(&sim.outputs.requests[3].1, "bgtasks-attempt"), "4");
}

#[test]
fn requests_are_signed_only_when_a_secret_is_set() {
    let mut sim = sim();
    http_task(&mut sim, json!({}));
    sim.drive(20);
    assert_eq!(sim.outputs.requests[0].1.header("webhook-signature"), None);

    let mut sim = self::sim();
    let secret = Secret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
    sim.engine.set_secret(secret.clone());
    let id = http_task(&mut sim, json!({}));
    sim.drive(20);
    let request = &sim.outputs.requests[0].1;
    let expected = secret
        .unwrap()
        .sign(&id.to_string(), START.0 / 1000, br#"{"order":42}"#);
    assert_eq!(request.header("webhook-signature"), Some(expected.as_str()));
}

#[test]
fn submits_to_a_destination_not_permitted_store_nothing() {
    let mut sim = Sim::new();
    let refused = sim.try_submit(TaskKind::Http, &json!({"url": URL}).to_string(), None);
    let Err(Problem::Invalid(errors)) = refused else {
        panic!("{refused:?}")
    };
    assert_eq!(errors[0].kind, "url_not_allowed");
    assert!(sim.engine.is_empty());
}

// ---------------------------------------------------------------------------
// Scheduled starts

#[test]
fn a_scheduled_task_waits_for_its_time_then_runs() {
    let mut sim = sim();
    let id = http_task(&mut sim, json!({"run_in_ms": 5000}));
    sim.advance(4999);
    let body = sim.status_json(id);
    assert_eq!(
        (body["status"].as_str(), body["attempts"].as_u64()),
        (Some("pending"), Some(0))
    );
    assert_eq!(
        body["next_attempt_at"],
        START.plus(5000).rfc3339().to_string()
    );
    assert!(sim.outputs.requests.is_empty());
    sim.advance(1);
    assert_eq!(sim.outputs.requests.len(), 1);
    sim.drive(10);
    let body = sim.status_json(id);
    assert_eq!(body["status"], "success");
    assert_eq!(body["timestamp"], START.rfc3339().to_string());
}

// ---------------------------------------------------------------------------
// Callbacks

fn notification_with_callback(sim: &mut Sim, extra: &str) -> TaskId {
    sim.submit(
        TaskKind::Notification,
        &format!(r#"{{"email": "a@b.co", "message": "hi", "callback_url": "{CALLBACK}" {extra}}}"#),
    )
}

#[test]
fn a_callback_posts_the_status_body_when_the_task_ends() {
    let mut sim = sim();
    let id = notification_with_callback(&mut sim, "");
    sim.advance(1999);
    assert!(sim.outputs.callbacks.is_empty(), "not before the task ends");
    sim.drive(20);
    assert_eq!(sim.outputs.callbacks.len(), 1);
    let (task, request) = &sim.outputs.callbacks[0];
    assert_eq!(*task, id);
    assert_eq!(request.url, CALLBACK);
    assert_eq!(header(request, "bgtasks-event"), "task.succeeded");
    assert_eq!(header(request, "bgtasks-attempt"), "1");
    assert_eq!(header(request, "webhook-id"), format!("{id}.0"));
    let sent: Value = serde_json::from_slice(&request.body).unwrap();
    assert_eq!(sent["id"], id.to_string());
    assert_eq!(sent["status"], "success");
    assert_eq!(sent["result"]["message"], "Notification sent");
    let body = sim.status_json(id);
    assert_eq!(
        body["callback"],
        json!({"url": CALLBACK, "state": "delivered", "attempts": 1, "last_error": null})
    );
}

#[test]
fn a_callback_is_redelivered_as_its_script_says() {
    let mut sim = sim();
    sim.engine.script(
        CALLBACK,
        vec![
            answer(503, 10, None, ""),
            ScriptedAnswer::Refused,
            answer(200, 10, None, ""),
        ],
    );
    let id = notification_with_callback(&mut sim, "");
    sim.drive(50);
    let callbacks = &sim.outputs.callbacks;
    assert_eq!(callbacks.len(), 3);
    for (n, (_, request)) in callbacks.iter().enumerate() {
        assert_eq!(header(request, "bgtasks-attempt"), (n + 1).to_string());
        assert_eq!(header(request, "webhook-id"), format!("{id}.0"));
        assert_eq!(request.body, callbacks[0].1.body, "the same body each time");
    }
    let body = sim.status_json(id);
    assert_eq!(
        body["callback"],
        json!({"url": CALLBACK, "state": "delivered", "attempts": 3, "last_error": null})
    );
    assert_eq!(body["status"], "success");
}

#[test]
fn a_callback_that_keeps_failing_is_given_up_after_5_deliveries() {
    let mut sim = sim();
    sim.engine
        .script(CALLBACK, vec![answer(503, 10, None, ""); 6]);
    let id = notification_with_callback(&mut sim, "");
    sim.drive(50);
    assert_eq!(sim.outputs.callbacks.len(), 5);
    let body = sim.status_json(id);
    assert_eq!(body["callback"]["state"], "failed");
    assert_eq!(body["callback"]["attempts"], 5);
    assert_eq!(
        body["callback"]["last_error"],
        "HTTP 503 from https://cb.example.com/done"
    );
    assert_eq!(
        body["status"], "success",
        "the task's own status is untouched"
    );
}

#[test]
fn a_silent_callback_destination_times_out_after_10_seconds() {
    let mut sim = sim();
    sim.engine.script(CALLBACK, vec![ScriptedAnswer::Silence]);
    let id = notification_with_callback(&mut sim, "");
    sim.advance(2000 + 10_000);
    let body = sim.status_json(id);
    assert_eq!(body["callback"]["state"], "pending");
    assert_eq!(body["callback"]["last_error"], "timed out after 10000 ms");
    sim.drive(20);
    assert_eq!(sim.status_json(id)["callback"]["state"], "delivered");
}

#[test]
fn a_manual_retry_calls_back_again_under_a_new_webhook_id() {
    let mut sim = sim();
    let id = notification_with_callback(
        &mut sim,
        r#", "simulate": {"delay_ms": 10, "fail_attempts": 1}"#,
    );
    sim.drive(20);
    sim.engine.retry(sim.now, id).unwrap();
    assert_eq!(sim.status_json(id)["callback"]["state"], "pending");
    assert_eq!(sim.status_json(id)["callback"]["attempts"], 0);
    sim.drive(20);
    let events: Vec<(&str, &str)> = sim
        .outputs
        .callbacks
        .iter()
        .map(|(_, r)| (header(r, "bgtasks-event"), header(r, "webhook-id")))
        .collect();
    let (first, second) = (format!("{id}.0"), format!("{id}.1"));
    assert_eq!(
        events,
        [
            ("task.failed", first.as_str()),
            ("task.succeeded", second.as_str())
        ]
    );
}

// ---------------------------------------------------------------------------
// Cancel

#[test]
fn cancel_stops_further_attempts() {
    let mut sim = sim();
    sim.engine.script(URL, vec![answer(503, 10, None, "")]);
    let id = http_task(&mut sim, json!({}));
    sim.advance(10);
    assert_eq!(sim.status_json(id)["status"], "pending");
    sim.engine.cancel(sim.now, id).unwrap();
    sim.drive(20);
    let body = sim.status_json(id);
    assert_eq!(
        (
            &body["status"],
            &body["error"],
            &body["cancelled"],
            &body["result"]
        ),
        (
            &json!("failed"),
            &json!("cancelled"),
            &json!(true),
            &Value::Null
        )
    );
    assert_eq!(sim.outputs.requests.len(), 1);
    assert_eq!(body["attempts"], 1);
}

#[test]
fn a_cancelled_scheduled_task_never_runs_and_a_retry_runs_it_at_once() {
    let mut sim = sim();
    let id = http_task(&mut sim, json!({"run_in_ms": 60_000}));
    sim.advance(1000);
    sim.engine.cancel(sim.now, id).unwrap();
    sim.advance(120_000);
    assert!(sim.outputs.requests.is_empty());
    assert_eq!(sim.engine.poll_timeout(), None);
    sim.engine.retry(sim.now, id).unwrap();
    sim.drive(10);
    assert_eq!(sim.outputs.requests.len(), 1);
    let body = sim.status_json(id);
    assert_eq!(
        (&body["status"], &body["cancelled"]),
        (&json!("success"), &json!(false))
    );
}

#[test]
fn an_attempt_in_flight_at_cancel_finishes_into_the_history_only() {
    let mut sim = sim();
    sim.engine
        .script(URL, vec![answer(200, 5000, None, "late")]);
    let id = http_task(&mut sim, json!({}));
    sim.advance(1000);
    sim.engine.cancel(sim.now, id).unwrap();
    sim.drive(20);
    let body = sim.status_json(id);
    assert_eq!(
        (&body["status"], &body["error"]),
        (&json!("failed"), &json!("cancelled"))
    );
    assert_eq!(history_codes(&body), [json!(200)]);
    assert_eq!(body["history"][0]["outcome"], "success");
    assert_eq!(sim.engine.task(id).unwrap().orphan, None);
}

#[test]
fn a_simulated_attempt_running_at_cancel_still_writes_its_output() {
    let mut sim = sim();
    let id = sim.submit(TaskKind::File, r#"{"content": {"a": 1}}"#);
    sim.advance(1000);
    sim.engine.cancel(sim.now, id).unwrap();
    sim.drive(20);
    assert_eq!(
        sim.outputs.files.len(),
        1,
        "the file may already be written"
    );
    let body = sim.status_json(id);
    assert_eq!(body["cancelled"], true);
    assert_eq!(body["result"], Value::Null);
    assert_eq!(body["history"][0]["outcome"], "success");
}

#[test]

fn an_http_attempt_in_flight_at_cancel_is_recorded_even_when_a_callback_is_delivered() {
    let mut sim = sim();
    sim.engine
        .script(URL, vec![answer(200, 5000, None, "late")]);
    let id = http_task(&mut sim, json!({"callback_url": CALLBACK}));
    sim.advance(1000);
    sim.engine.cancel(sim.now, id).unwrap();
    sim.drive(20);
    let body = sim.status_json(id);
    assert_eq!(body["callback"]["state"], "delivered");
    assert_eq!(history_codes(&body), [json!(200)], "{body}");
    assert_eq!(sim.engine.task(id).unwrap().orphan, None);
}

#[test]

fn a_simulated_attempt_running_at_cancel_finishes_even_while_its_callback_is_in_flight() {
    let mut sim = sim();
    sim.engine
        .script(CALLBACK, vec![answer(200, 5000, None, "")]);
    let id = sim.submit(
        TaskKind::File,
        &format!(r#"{{"content": {{"a": 1}}, "callback_url": "{CALLBACK}"}}"#),
    );
    sim.advance(1000);
    sim.engine.cancel(sim.now, id).unwrap();
    sim.drive(20);
    assert_eq!(sim.outputs.files.len(), 1);
    let body = sim.status_json(id);
    assert_eq!(body["history"][0]["outcome"], "success", "{body}");
    assert_eq!(sim.engine.task(id).unwrap().orphan, None);
}

#[test]

fn an_http_attempt_in_flight_at_cancel_is_recorded_even_when_a_retry_starts_another() {
    let mut sim = sim();
    sim.engine.script(
        URL,
        vec![
            answer(200, 5000, None, "first"),
            answer(201, 10, None, "second"),
        ],
    );
    let id = http_task(&mut sim, json!({}));
    sim.advance(1000);
    sim.engine.cancel(sim.now, id).unwrap();
    sim.engine.retry(sim.now, id).unwrap();
    sim.drive(20);
    let body = sim.status_json(id);
    assert_eq!(body["status"], "success");
    assert_eq!(sim.outputs.requests.len(), 2);
    let mut codes = history_codes(&body);
    codes.sort_by_key(|c| c.as_u64());
    assert_eq!(codes, [json!(200), json!(201)], "{body}");
    assert_eq!(sim.engine.task(id).unwrap().orphan, None);
}

#[test]
fn cancel_refuses_finished_and_unknown_tasks() {
    let mut sim = sim();
    let id = sim.submit(TaskKind::File, r#"{"content": {}}"#);
    sim.drive(10);
    assert_eq!(sim.engine.cancel(sim.now, id), Err(Problem::NotPending));
    assert_eq!(Problem::NotPending.status(), 400);
    assert_eq!(
        Problem::NotPending.body(),
        br#"{"detail":"Task is not pending"}"#
    );
    let unknown = TaskId::from_random_bytes([0xee; 16]);
    assert_eq!(
        sim.engine.cancel(sim.now, unknown),
        Err(Problem::TaskNotFound)
    );
    let pending = sim.submit(TaskKind::File, r#"{"content": {}}"#);
    sim.engine.cancel(sim.now, pending).unwrap();
    assert_eq!(
        sim.engine.cancel(sim.now, pending),
        Err(Problem::NotPending),
        "one cancel wins"
    );
}

// ---------------------------------------------------------------------------
// Delete

#[test]
fn delete_removes_a_finished_task_its_listing_entry_and_its_idempotency_key() {
    let mut sim = sim();
    let body = r#"{"content": {"a": 1}}"#;
    let first = sim
        .try_submit(TaskKind::File, body, Some("key-1"))
        .unwrap()
        .id;
    let other = sim.submit(TaskKind::File, body);
    sim.drive(10);
    sim.engine.delete(first).unwrap();

    assert!(sim.engine.task(first).is_none());
    assert_eq!(sim.engine.len(), 1);
    let listed: Vec<TaskId> = sim
        .engine
        .list(&ListQuery::default())
        .tasks
        .iter()
        .map(|t| t.id)
        .collect();
    assert_eq!(listed, [other]);
    assert_eq!(sim.engine.delete(first), Err(Problem::TaskNotFound));
    assert_eq!(sim.engine.retry(sim.now, first), Err(Problem::TaskNotFound));

    let again = sim.try_submit(TaskKind::File, body, Some("key-1")).unwrap();
    assert!(again.created, "the same key makes a new task");
    assert_ne!(again.id, first);
    assert!(sim.engine.task(again.id).is_some());
}

#[test]
fn delete_refuses_a_pending_task() {
    let mut sim = sim();
    sim.engine.script(URL, vec![answer(503, 10, None, "")]);
    let queued = sim.submit(TaskKind::File, r#"{"content": {}, "run_in_ms": 1000}"#);
    let running = sim.submit(TaskKind::Report, r#"{"name": "r"}"#);
    let waiting = http_task(&mut sim, json!({}));
    sim.advance(10);
    assert!(sim.status_json(waiting)["next_attempt_at"].is_string());
    for id in [queued, running, waiting] {
        assert_eq!(sim.engine.delete(id), Err(Problem::StillPending));
        assert!(sim.engine.task(id).is_some());
    }
    assert_eq!(Problem::StillPending.status(), 409);
    assert_eq!(
        Problem::StillPending.body(),
        br#"{"detail":"Task is pending; cancel it first"}"#
    );
    // Cancelled, it can go.
    sim.engine.cancel(sim.now, queued).unwrap();
    sim.engine.delete(queued).unwrap();
}

#[test]
fn once_everything_is_done_no_wake_up_is_left() {
    // Given a delivered callback, a cancelled scheduled task and a deleted
    // task, the engine names no further time to be woken at.
    let mut sim = sim();
    let delivered = http_task(&mut sim, json!({"callback_url": CALLBACK}));
    let scheduled = sim.submit(
        TaskKind::Notification,
        r#"{"email": "a@b.co", "message": "m", "run_in_ms": 60000}"#,
    );
    let deleted = sim.submit(
        TaskKind::Notification,
        r#"{"email": "a@b.co", "message": "m", "simulate": {"delay_ms": 1}}"#,
    );
    sim.engine.cancel(sim.now, scheduled).unwrap();
    sim.drive(50);
    sim.engine.delete(deleted).unwrap();
    assert_eq!(sim.status_json(delivered)["callback"]["state"], "delivered");
    assert_eq!(sim.engine.poll_timeout(), None);
}
