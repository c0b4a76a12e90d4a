//! Cancel and delete, as the service answers them, and retention.

mod common;

use bgtasks_core::{TaskId, render};
use common::*;
use wasm_bindgen_test::wasm_bindgen_test;

fn rendered(bytes: Vec<u8>) -> String {
    String::from_utf8(bytes).unwrap()
}

#[wasm_bindgen_test]
fn a_pending_task_is_cancelled_and_nothing_starts_after_it() {
    let mut pg = playground();
    let id = submit(
        &mut pg,
        "report",
        r#"{"name": "R", "simulate": {"fail_attempts": 1, "delay_ms": 100},
            "retry_policy": {"max_attempts": 3, "backoff_ms": 5000}}"#,
    );
    pg.step(); // the first attempt fails; the second waits 5 s
    let answer = reply(pg.cancel(&id));
    let parsed = TaskId::parse(&id).unwrap();
    assert_eq!(answer, (200, rendered(render::cancelled(parsed))));

    let cancelled = task(&pg, &id);
    assert_eq!(cancelled["status"], "failed");
    assert_eq!(cancelled["error"], "cancelled");
    assert_eq!(cancelled["cancelled"], true);
    assert!(cancelled["result"].is_null());
    assert_eq!(pg.next_wakeup(), None, "the cancelled wait is no event");
    assert_eq!(pg.step(), None);
    assert_eq!(task(&pg, &id)["attempts"], 1);

    let not_pending = (400, r#"{"detail":"Task is not pending"}"#.to_owned());
    assert_eq!(reply(pg.cancel(&id)), not_pending);
    let not_found = (404, r#"{"detail":"Task not found"}"#.to_owned());
    assert_eq!(reply(pg.cancel("nope")), not_found);
    assert_eq!(
        reply(pg.cancel("6f1c2a9e-8a53-4c1e-9d7e-2b3c4d5e6f70")),
        not_found
    );

    // A cancelled task is retried by hand like any failed one.
    reply(pg.retry(&id));
    assert_eq!(task(&pg, &id)["cancelled"], false);
    run_to_end(&mut pg);
    assert_eq!(task(&pg, &id)["status"], "success");
    assert_eq!(
        json(&pg.timeline())[0]["cancels"],
        serde_json::json!([{"at": START as u64 + 100, "orphan": null}])
    );
}

#[wasm_bindgen_test]
fn an_attempt_running_at_cancel_ends_later_in_the_history_only() {
    let mut pg = playground();
    let id = submit(
        &mut pg,
        "file",
        r#"{"content": {"a": 1}, "simulate": {"delay_ms": 1000}}"#,
    );
    pg.advance(400.0).unwrap();
    assert_eq!(reply(pg.cancel(&id)).0, 200);
    let timeline = json(&pg.timeline());
    assert_eq!(timeline[0]["orphan"]["attempt"], 1);
    assert_eq!(timeline[0]["cancels"][0]["orphan"], 1);
    assert_eq!(
        pg.next_wakeup(),
        Some(START + 1000.0),
        "the attempt still ends"
    );

    run_to_end(&mut pg);
    let done = task(&pg, &id);
    assert_eq!(
        (done["status"].as_str(), done["error"].as_str()),
        (Some("failed"), Some("cancelled"))
    );
    assert_eq!(done["history"][0]["outcome"], "success");
    assert_eq!(done["history"][0]["ended_at"], "2026-06-26T09:15:03.123Z");
    assert!(json(&pg.timeline())[0]["orphan"].is_null());
    // Its file was written: the attempt did its work.
    assert_eq!(reply(pg.output(&id)).0, 200);
}

#[wasm_bindgen_test]
fn a_finished_task_is_deleted_with_its_file_and_a_pending_one_is_not() {
    let mut pg = playground();
    let id = submit(&mut pg, "file", r#"{"content": {}}"#);
    let still = (
        409,
        r#"{"detail":"Task is pending; cancel it first"}"#.to_owned(),
    );
    assert_eq!(reply(pg.delete(&id)), still);

    run_to_end(&mut pg);
    assert_eq!(reply(pg.output(&id)).0, 200);
    assert_eq!(reply(pg.delete(&id)), (204, String::new()));
    assert_eq!(reply(pg.status(&id)).0, 404);
    assert_eq!(reply(pg.output(&id)).0, 404);
    assert_eq!(pg.files(), "{}");
    assert_eq!(pg.timeline(), "[]");
    assert_eq!(
        json(&reply(pg.list("limit=10")).1)["tasks"],
        serde_json::json!([])
    );
    assert_eq!(reply(pg.delete(&id)).0, 404);
    assert_eq!(reply(pg.delete("nope")).0, 404);
}

#[wasm_bindgen_test]
fn a_deleted_tasks_idempotency_key_creates_a_new_task() {
    let mut pg = playground();
    let body = r#"{"name": "R", "simulate": {"delay_ms": 10}}"#;
    let first = json(&reply(pg.submit("report", body, Some("k".into())).unwrap()).1);
    run_to_end(&mut pg);
    reply(pg.delete(first["task_id"].as_str().unwrap()));
    let second = json(&reply(pg.submit("report", body, Some("k".into())).unwrap()).1);
    assert_ne!(first["task_id"], second["task_id"]);
}

#[wasm_bindgen_test]
fn retention_deletes_finished_tasks_and_their_files_when_due() {
    let mut pg = playground();
    let old = submit(
        &mut pg,
        "file",
        r#"{"content": {}, "simulate": {"delay_ms": 100}}"#,
    );
    run_to_end(&mut pg);
    pg.advance(5_000.0).unwrap();
    let young = submit(
        &mut pg,
        "file",
        r#"{"content": {}, "simulate": {"delay_ms": 100}}"#,
    );
    pg.step();

    pg.set_retention(3.0).unwrap();
    assert_eq!(
        reply(pg.status(&old)).0,
        404,
        "ended 5 s ago: deleted at once"
    );
    assert_eq!(reply(pg.output(&old)).0, 404);
    assert_eq!(reply(pg.status(&young)).0, 200);
    assert_eq!(pg.next_wakeup(), Some(START + 5_200.0 + 3_000.0));
    assert_eq!(pg.step(), Some(START + 8_200.0));
    assert_eq!(reply(pg.status(&young)).0, 404);
    assert_eq!(pg.files(), "{}");
    assert_eq!(json(&pg.settings())["retention_seconds"], 3);
    assert!(pg.set_retention(-1.0).is_err());
}
