//! The playground answers with the service's bytes: every refusal and body
//! comes from bgtasks-core's own rendering, not from a copy of it.

mod common;

use bgtasks_core::{Engine, Millis, TaskKind};
use common::*;
use wasm_bindgen_test::wasm_bindgen_test;

/// What the engine itself answers to a submit, as (status, body).
fn core_answer(kind: TaskKind, body: &str, key: Option<&str>) -> (u16, String) {
    let mut engine = Engine::new();
    let refused = engine
        .submit(
            Millis(0),
            kind,
            body.as_bytes(),
            key.map(str::as_bytes),
            [0; 16],
        )
        .expect_err("a refused submit");
    (refused.status(), String::from_utf8(refused.body()).unwrap())
}

#[wasm_bindgen_test]
fn a_422_is_byte_for_byte_what_the_core_renders() {
    let bad =
        r#"{"email": "not-an-email", "message": 5, "simulate": {"delay_ms": "500", "nope": 1}}"#;
    let mut pg = playground();
    let answer = reply(pg.submit("notification", bad, None).unwrap());
    assert_eq!(answer, core_answer(TaskKind::Notification, bad, None));
    assert_eq!(answer.0, 422);

    let locs: Vec<_> = json(&answer.1)["detail"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["loc"].clone())
        .collect();
    assert!(
        locs.contains(&serde_json::json!(["body", "simulate", "delay_ms"])),
        "{locs:?}"
    );
}

#[wasm_bindgen_test]
fn malformed_json_too_large_bodies_and_bad_keys_are_refused_as_the_service_does() {
    let mut pg = playground();
    let huge = format!(r#"{{"content": {{"x": "{}"}}}}"#, "a".repeat(65_536));
    for (kind, body, key) in [
        (TaskKind::Report, "{\"name\": NaN}", None),
        (TaskKind::File, huge.as_str(), None),
        (TaskKind::Report, r#"{"name": "x"}"#, Some("")),
    ] {
        let answer = reply(
            pg.submit(kind.as_str(), body, key.map(str::to_owned))
                .unwrap(),
        );
        assert_eq!(answer, core_answer(kind, body, key));
    }
    assert_eq!(reply(pg.submit("file", &huge, None).unwrap()).0, 413);
    assert!(pg.submit("email", "{}", None).is_err(), "not a task type");
    assert_eq!(pg.next_wakeup(), None, "nothing was stored");
}

#[wasm_bindgen_test]
fn idempotency_keys_return_the_first_task_or_409() {
    let mut pg = playground();
    let body = r#"{"name": "Sales Report", "details": {"a": 1, "b": 2}}"#;
    let key = Some("order-17".to_owned());
    let (status, first) = reply(pg.submit("report", body, key.clone()).unwrap());
    assert_eq!(status, 202);

    let same = r#"{"details": {"b": 2, "a": 1}, "name": "Sales Report"}"#;
    assert_eq!(
        reply(pg.submit("report", same, key.clone()).unwrap()),
        (202, first)
    );

    let (status, body) = reply(pg.submit("report", r#"{"name": "Other"}"#, key).unwrap());
    assert_eq!(status, 409, "{body}");
    assert_eq!(json(&pg.timeline()).as_array().unwrap().len(), 1);
}

#[wasm_bindgen_test]
fn unknown_ids_and_bad_queries_get_the_contracts_404_and_422() {
    let mut pg = playground();
    let not_found = (404, r#"{"detail":"Task not found"}"#.to_owned());
    assert_eq!(reply(pg.status("nope")), not_found);
    assert_eq!(
        reply(pg.retry("6f1c2a9e-8a53-4c1e-9d7e-2b3c4d5e6f70")),
        not_found
    );
    assert_eq!(
        reply(pg.output("nope")),
        (404, r#"{"detail":"File not found"}"#.to_owned())
    );
    let (status, body) = reply(pg.list("status=done"));
    assert_eq!(status, 422);
    assert_eq!(
        json(&body)["detail"][0]["loc"],
        serde_json::json!(["query", "status"])
    );
}
