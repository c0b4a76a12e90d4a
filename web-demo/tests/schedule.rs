//! Scheduled starts: a task waits, `pending`, until its time comes.

mod common;

use common::*;
use wasm_bindgen_test::wasm_bindgen_test;

#[wasm_bindgen_test]
fn a_task_scheduled_in_a_minute_waits_then_runs() {
    let mut pg = playground();
    let id = submit(
        &mut pg,
        "notification",
        r#"{"email": "a@b.co", "message": "later", "run_in_ms": 60000, "simulate": {"delay_ms": 100}}"#,
    );
    let waiting = task(&pg, &id);
    assert_eq!(waiting["status"], "pending");
    assert_eq!(waiting["attempts"], 0);
    assert_eq!(waiting["timestamp"], "2026-06-26T09:15:02.123Z");
    assert_eq!(waiting["next_attempt_at"], "2026-06-26T09:16:02.123Z");
    assert_eq!(pg.next_wakeup(), Some(START + 60_000.0));
    let timeline = json(&pg.timeline());
    assert_eq!(timeline[0]["phase"]["phase"], "queued");
    assert_eq!(timeline[0]["phase"]["due"], START + 60_000.0);

    pg.advance(59_999.0).unwrap();
    assert_eq!(task(&pg, &id)["attempts"], 0, "one millisecond early");
    pg.advance(1.0).unwrap();
    assert_eq!(task(&pg, &id)["attempts"], 1);
    assert!(task(&pg, &id)["next_attempt_at"].is_null());
    run_to_end(&mut pg);
    let done = task(&pg, &id);
    assert_eq!(done["status"], "success");
    assert_eq!(done["history"][0]["started_at"], "2026-06-26T09:16:02.123Z");
}

#[wasm_bindgen_test]
fn run_at_is_read_on_the_virtual_clock_and_both_fields_together_are_a_422() {
    let mut pg = playground();
    let id = submit(
        &mut pg,
        "report",
        r#"{"name": "R", "run_at": "2026-06-26T10:00:00+02:00"}"#,
    );
    assert_eq!(task(&pg, &id)["attempts"], 1, "a past time means now");

    let later = submit(
        &mut pg,
        "report",
        r#"{"name": "R", "run_at": "2026-06-26T11:20:00.5+02:00"}"#,
    );
    assert_eq!(
        task(&pg, &later)["next_attempt_at"],
        "2026-06-26T09:20:00.500Z"
    );

    let (status, _) = reply(
        pg.submit(
            "report",
            r#"{"name": "R", "run_at": "2026-06-26T09:20:00Z", "run_in_ms": 5}"#,
            None,
        )
        .unwrap(),
    );
    assert_eq!(status, 422);
}
