//! Failures and retries: automatic ones on the policy's schedule, manual
//! ones through `retry`, as the contract numbers attempts.

mod common;

use common::*;
use wasm_bindgen_test::wasm_bindgen_test;

#[wasm_bindgen_test]
fn a_failed_task_succeeds_after_a_manual_retry() {
    let mut pg = playground();
    let id = submit(
        &mut pg,
        "notification",
        r#"{"email": "a@b.co", "message": "", "simulate": {"delay_ms": 100, "fail_attempts": 1}}"#,
    );
    run_to_end(&mut pg);
    let failed = task(&pg, &id);
    assert_eq!(failed["status"], "failed");
    assert_eq!(failed["error"], "simulated failure (attempt 1 of 1)");

    let (status, body) = reply(pg.retry(&id));
    assert_eq!(
        (status, json(&body)),
        (200, serde_json::json!({"task_id": id, "status": "retried"}))
    );
    let again = task(&pg, &id);
    assert_eq!(
        (again["status"].as_str(), again["error"].is_null()),
        (Some("pending"), true)
    );

    let (status, _) = reply(pg.retry(&id));
    assert_eq!(status, 400, "a pending task is not failed");

    run_to_end(&mut pg);
    let done = task(&pg, &id);
    assert_eq!(done["status"], "success");
    assert_eq!(done["retries"], 1);
    assert_eq!(done["attempts"], 2);
}

#[wasm_bindgen_test]
fn automatic_retries_wait_and_the_timeline_shows_every_attempt() {
    let mut pg = playground();
    let id = submit(
        &mut pg,
        "report",
        r#"{"name": "R", "simulate": {"delay_ms": 100, "fail_attempts": 2},
            "retry_policy": {"max_attempts": 3, "backoff_ms": 1000}}"#,
    );
    pg.step(); // the first attempt fails
    let waiting = task(&pg, &id);
    assert_eq!(waiting["status"], "pending");
    assert!(waiting["next_attempt_at"].is_string());

    run_to_end(&mut pg);
    let timeline = json(&pg.timeline());
    let history = timeline[0]["history"].as_array().unwrap();
    let outcomes: Vec<_> = history
        .iter()
        .map(|a| a["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(outcomes, ["failed", "failed", "success"]);
    // Exponential backoff: ~1000 then ~2000 ms (±10%) between attempts.
    let gap = |i: usize| {
        history[i + 1]["started_at"].as_f64().unwrap() - history[i]["ended_at"].as_f64().unwrap()
    };
    assert!((900.0..=1100.0).contains(&gap(0)), "{}", gap(0));
    assert!((1800.0..=2200.0).contains(&gap(1)), "{}", gap(1));
    assert_eq!(timeline[0]["phase"]["phase"], "succeeded");
    assert_eq!(timeline[0]["manual_retries"], serde_json::json!([]));
}
