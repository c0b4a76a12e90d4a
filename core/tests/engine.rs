//! The in-memory engine as the playground drives it: scenarios end to end.

mod common;

use bgtasks_core::{ListQuery, Problem, Status, TaskId, TaskKind, render};
use common::{START, Sim};
use serde_json::{Value, json};

fn status_json(sim: &Sim, id: TaskId) -> Value {
    serde_json::from_slice(&render::task(sim.engine.task(id).unwrap())).unwrap()
}

#[test]
fn a_task_runs_by_itself_and_succeeds_exactly_after_its_delay() {
    let mut sim = Sim::new();
    let id = sim.submit(
        TaskKind::Notification,
        r#"{"email": "johndoe@example.com", "message": "hi"}"#,
    );
    sim.advance(0);
    assert_eq!(sim.engine.task(id).unwrap().status(), Status::Pending);
    sim.advance(1999);
    assert_eq!(sim.engine.task(id).unwrap().status(), Status::Pending);
    sim.advance(1);
    let body = status_json(&sim, id);
    assert_eq!(body["status"], "success");
    assert_eq!(
        body["result"],
        json!({"message": "Notification sent", "delivered_to": "johndoe@example.com"})
    );
    assert_eq!(body["error"], Value::Null);
    assert_eq!(body["timestamp"], "2026-06-26T09:15:02.123Z");
    assert_eq!(body["retries"], 0);
    assert_eq!(body["attempts"], 1);
    assert_eq!(
        sim.outputs.notifications,
        vec![(id, "johndoe@example.com".to_string())]
    );
    assert_eq!(sim.engine.poll_timeout(), None);
}

#[test]
fn the_status_body_starts_with_the_original_fields_in_order() {
    let mut sim = Sim::new();
    let id = sim.submit(
        TaskKind::Report,
        r#"{"name": "Sales Report", "details": {"month": "June"}}"#,
    );
    sim.drive(10);
    let text = String::from_utf8(render::task(sim.engine.task(id).unwrap())).unwrap();
    let keys: Vec<&str> = [
        "\"id\"",
        "\"type\"",
        "\"status\"",
        "\"result\"",
        "\"error\"",
        "\"timestamp\"",
        "\"retries\"",
    ]
    .into_iter()
    .collect();
    let positions: Vec<usize> = keys.iter().map(|k| text.find(k).unwrap()).collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "{text}");
    let body: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(body["type"], "report");
    assert_eq!(body["result"]["message"], "Report generated");
    assert_eq!(body["result"]["report"]["name"], "Sales Report");
    assert_eq!(
        body["result"]["report"]["details"],
        json!({"month": "June"})
    );
    assert_eq!(
        body["result"]["report"]["generated_at"],
        "2026-06-26T09:15:05.123Z"
    );
}

#[test]
fn a_file_task_writes_its_content_pretty_printed_under_its_id() {
    let mut sim = Sim::new();
    let id = sim.submit(
        TaskKind::File,
        r#"{"content": {"user": "johndoe", "activity": "export", "n": [1, 2]}}"#,
    );
    sim.drive(10);
    let path = format!("outputs/{id}.json");
    let (stored_path, contents) = &sim.outputs.files[0];
    assert_eq!(stored_path, &path);
    let text = std::str::from_utf8(contents).unwrap();
    assert_eq!(
        text,
        "{\n  \"user\": \"johndoe\",\n  \"activity\": \"export\",\n  \"n\": [\n    1,\n    2\n  ]\n}"
    );
    let body = status_json(&sim, id);
    assert_eq!(
        body["result"],
        json!({"message": "File saved", "path": path, "bytes": contents.len()})
    );
}

#[test]
fn injected_failures_then_a_manual_retry_end_in_success() {
    let mut sim = Sim::new();
    let id = sim.submit(
        TaskKind::File,
        r#"{"content": {}, "simulate": {"delay_ms": 10, "fail_attempts": 1}}"#,
    );
    sim.drive(10);
    let body = status_json(&sim, id);
    assert_eq!(body["status"], "failed");
    assert_eq!(body["error"], "simulated failure (attempt 1 of 1)");
    assert_eq!(body["result"], Value::Null);
    assert!(sim.outputs.files.is_empty());

    sim.engine.retry(sim.now, id).unwrap();
    let body = status_json(&sim, id);
    assert_eq!(
        (
            body["status"].as_str(),
            body["retries"].as_u64(),
            &body["error"]
        ),
        (Some("pending"), Some(1), &Value::Null)
    );
    sim.drive(10);
    let body = status_json(&sim, id);
    assert_eq!(
        (
            body["status"].as_str(),
            body["retries"].as_u64(),
            body["attempts"].as_u64()
        ),
        (Some("success"), Some(1), Some(2))
    );
    assert_eq!(sim.outputs.files.len(), 1);
}

#[test]
fn manual_retry_refuses_unknown_and_unfailed_tasks() {
    let mut sim = Sim::new();
    let id = sim.submit(TaskKind::File, r#"{"content": {}}"#);
    assert_eq!(sim.engine.retry(sim.now, id), Err(Problem::NotFailed));
    let other = TaskId::from_random_bytes([99; 16]);
    assert_eq!(sim.engine.retry(sim.now, other), Err(Problem::TaskNotFound));
    assert_eq!(Problem::NotFailed.status(), 400);
    assert_eq!(
        Problem::NotFailed.body(),
        br#"{"detail":"Task is not in a failed state"}"#
    );
}

#[test]
fn automatic_retries_show_attempts_and_next_attempt_at_while_waiting() {
    let mut sim = Sim::new();
    let id = sim.submit(
        TaskKind::Notification,
        r#"{"email": "a@b.co", "message": "", "simulate": {"delay_ms": 100, "fail_attempts": 2},
            "retry_policy": {"max_attempts": 3, "backoff_ms": 1000, "backoff": "fixed"}}"#,
    );
    sim.advance(100);
    let body = status_json(&sim, id);
    assert_eq!(body["status"], "pending");
    assert_eq!(body["attempts"], 1);
    assert!(body["next_attempt_at"].is_string());
    assert_eq!(
        body["history"][0]["error"],
        "simulated failure (attempt 1 of 2)"
    );
    sim.drive(20);
    let body = status_json(&sim, id);
    assert_eq!(
        (body["status"].as_str(), body["attempts"].as_u64()),
        (Some("success"), Some(3))
    );
    assert_eq!(body["next_attempt_at"], Value::Null);
}

#[test]
fn an_idempotency_key_returns_the_first_task_and_refuses_another_body() {
    let mut sim = Sim::new();
    let body = r#"{"content": {"a": 1, "b": 2}}"#;
    let first = sim.try_submit(TaskKind::File, body, Some("k-1")).unwrap();
    assert!(first.created);
    let again = sim
        .try_submit(
            TaskKind::File,
            r#"{ "content": {"b": 2, "a": 1} }"#,
            Some("k-1"),
        )
        .unwrap();
    assert_eq!((again.id, again.created), (first.id, false));
    assert_eq!(sim.engine.len(), 1);
    for (kind, other) in [
        (TaskKind::File, r#"{"content": {"a": 1, "b": 3}}"#),
        (
            TaskKind::File,
            r#"{"content": {"a": 1, "b": 2}, "x": null}"#,
        ),
        (TaskKind::Report, r#"{"name": "x"}"#),
    ] {
        assert_eq!(
            sim.try_submit(kind, other, Some("k-1")),
            Err(Problem::IdempotencyConflict)
        );
    }
    assert_eq!(sim.engine.len(), 1, "nothing stored for a refused request");
    let bad_key = sim
        .try_submit(TaskKind::File, "{}", Some("bad key"))
        .unwrap_err();
    let Problem::Invalid(errors) = bad_key else {
        panic!()
    };
    assert_eq!(
        errors.len(),
        2,
        "header and body errors together: {errors:?}"
    );
}

#[test]
fn oversized_bodies_are_refused_before_anything_else() {
    let mut sim = Sim::new();
    let pad = "x".repeat(65_536 - r#"{"content": {"p": ""}}"#.len());
    let exact = format!(r#"{{"content": {{"p": "{pad}"}}}}"#);
    assert_eq!(exact.len(), 65_536);
    assert!(sim.try_submit(TaskKind::File, &exact, None).is_ok());
    let over = format!("{exact} ");
    assert_eq!(
        sim.try_submit(TaskKind::File, &over, Some("bad key")),
        Err(Problem::TooLarge)
    );
}

#[test]
fn listing_is_newest_first_and_cursors_walk_every_task_once() {
    let mut sim = Sim::new();
    let mut ids = Vec::new();
    for i in 0..257 {
        let kind = [TaskKind::Notification, TaskKind::Report, TaskKind::File][i % 3];
        let body = match kind {
            TaskKind::Notification => r#"{"email": "a@b.c", "message": ""}"#,
            TaskKind::Report => r#"{"name": "r", "simulate": {"fail_attempts": 1}}"#,
            TaskKind::File | TaskKind::Http => r#"{"content": {}}"#,
        };
        ids.push(sim.submit(kind, body));
        sim.advance(1);
    }
    sim.drive(10_000);
    let mut seen = Vec::new();
    let mut query = ListQuery::parse("limit=50").unwrap();
    loop {
        let page = sim.engine.list(&query);
        seen.extend(page.tasks.iter().map(|t| t.id));
        let Some(cursor) = page.next_cursor else {
            break;
        };
        query = ListQuery::parse(&format!("limit=50&cursor={cursor}")).unwrap();
    }
    ids.reverse();
    assert_eq!(seen, ids);

    // Filtered pages read a bounded window and may come back short.
    let mut failed = Vec::new();
    let mut query = ListQuery::parse("status=failed&limit=200").unwrap();
    let mut pages = 0;
    loop {
        pages += 1;
        let page = sim.engine.list(&query);
        assert!(
            page.tasks
                .iter()
                .all(|t| t.status() == Status::Failed && t.kind() == TaskKind::Report)
        );
        failed.extend(page.tasks.iter().map(|t| t.id));
        let Some(cursor) = page.next_cursor else {
            break;
        };
        query = ListQuery::parse(&format!("status=failed&limit=200&cursor={cursor}")).unwrap();
    }
    assert_eq!(failed.len(), 86);
    assert_eq!(pages, 1);
    let few = sim
        .engine
        .list(&ListQuery::parse("type=file&limit=1").unwrap());
    assert_eq!(few.tasks.len(), 1);
    assert!(few.next_cursor.is_some());

    let page: Value = serde_json::from_slice(&render::page(
        &sim.engine.list(&ListQuery::parse("limit=2").unwrap()),
    ))
    .unwrap();
    assert_eq!(page["tasks"].as_array().unwrap().len(), 2);
    assert!(page["next_cursor"].is_string());
}

#[test]
fn an_empty_engine_lists_nothing() {
    let sim = Sim::new();
    let page = sim.engine.list(&ListQuery::default());
    assert!(page.tasks.is_empty());
    assert_eq!(page.next_cursor, None);
    assert_eq!(render::page(&page), br#"{"tasks":[],"next_cursor":null}"#);
}

#[test]
fn accepted_and_error_bodies_have_the_contract_shape() {
    let id = TaskId::from_random_bytes([1; 16]);
    let accepted: Value = serde_json::from_slice(&render::accepted(id)).unwrap();
    assert_eq!(
        accepted,
        json!({"task_id": id.to_string(), "status": "started"})
    );
    let retried: Value = serde_json::from_slice(&render::retried(id)).unwrap();
    assert_eq!(
        retried,
        json!({"task_id": id.to_string(), "status": "retried"})
    );
    assert_eq!(
        Problem::TaskNotFound.body(),
        br#"{"detail":"Task not found"}"#
    );
    assert_eq!(Problem::NoRoute.body(), br#"{"detail":"Not Found"}"#);
    let mut sim = Sim::new();
    let Err(Problem::Invalid(errors)) = sim.try_submit(TaskKind::Notification, "{}", None) else {
        panic!()
    };
    let body: Value = serde_json::from_slice(&Problem::Invalid(errors).body()).unwrap();
    assert_eq!(body["detail"][0]["loc"], json!(["body", "email"]));
    assert_eq!(body["detail"][0]["type"], "missing");
    assert_eq!(body["detail"][0]["msg"], "Field required");
    let _ = START;
}
