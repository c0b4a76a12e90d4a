//! Callbacks: each end of a task is POSTed to its `callback_url`, retried
//! on the classes an attempt is, and drawn as its own marks.

mod common;

use common::*;
use serde_json::json;
use wasm_bindgen_test::wasm_bindgen_test;

const CALLBACK: &str = "https://cb.example.com/done";

fn header<'a>(request: &'a serde_json::Value, name: &str) -> Option<&'a str> {
    request["headers"]
        .as_array()?
        .iter()
        .find(|h| h[0] == name)
        .and_then(|h| h[1].as_str())
}

#[wasm_bindgen_test]
fn a_callback_reports_the_end_and_is_redelivered_until_accepted() {
    let mut pg = playground();
    pg.script(
        CALLBACK,
        r#"[{"status": 500, "delay_ms": 30}, {"status": 204}]"#,
    )
    .unwrap();
    let id = submit(
        &mut pg,
        "report",
        &format!(
            r#"{{"name": "R", "simulate": {{"delay_ms": 100}}, "callback_url": "{CALLBACK}"}}"#
        ),
    );
    assert_eq!(task(&pg, &id)["callback"]["state"], "pending");
    assert_eq!(
        json(&pg.requests()),
        json!([]),
        "nothing is sent before the end"
    );

    assert_eq!(
        pg.step(),
        Some(START + 100.0),
        "the task ends; its callback goes"
    );
    let sent = json(&pg.requests());
    let first = &sent[0];
    assert_eq!(
        (first["kind"].as_str(), first["method"].as_str()),
        (Some("callback"), Some("POST"))
    );
    assert_eq!(first["at"], START + 100.0);
    assert_eq!(header(first, "bgtasks-event"), Some("task.succeeded"));
    assert_eq!(
        header(first, "webhook-id"),
        Some(format!("{id}.0").as_str())
    );
    assert_eq!(header(first, "bgtasks-attempt"), Some("1"));
    let payload = json(first["body"].as_str().unwrap());
    assert_eq!(
        (payload["id"].as_str(), payload["status"].as_str()),
        (Some(id.as_str()), Some("success"))
    );

    run_to_end(&mut pg);
    let done = task(&pg, &id);
    assert_eq!(
        done["callback"],
        json!({"url": CALLBACK, "state": "delivered", "attempts": 2, "last_error": null})
    );
    let marks = &json(&pg.timeline())[0]["callbacks"];
    assert_eq!(marks.as_array().unwrap().len(), 2);
    assert_eq!(
        (marks[0]["ok"].as_bool(), marks[1]["ok"].as_bool()),
        (Some(false), Some(true))
    );
    assert_eq!(marks[0]["ends_at"], START + 130.0);
    // ~1 s (±10%) after the failed delivery's answer.
    let gap = marks[1]["at"].as_f64().unwrap() - START - 130.0;
    assert!((900.0..=1100.0).contains(&gap), "{gap}");
    assert_eq!(
        marks[0]["outcome"],
        format!("HTTP 500 from {CALLBACK}: retryable")
    );
    assert_eq!(
        pg.now(),
        marks[1]["ends_at"].as_f64().unwrap(),
        "the last step was the last answer, not a delivery's lapsed lease"
    );
}

#[wasm_bindgen_test]
fn a_failed_and_then_retried_task_reports_each_end_under_its_own_id() {
    let mut pg = playground();
    let id = submit(
        &mut pg,
        "file",
        &format!(
            r#"{{"content": {{}}, "simulate": {{"delay_ms": 100, "fail_attempts": 1}}, "callback_url": "{CALLBACK}"}}"#
        ),
    );
    run_to_end(&mut pg);
    assert_eq!(task(&pg, &id)["status"], "failed");
    reply(pg.retry(&id));
    assert_eq!(
        task(&pg, &id)["callback"]["attempts"],
        0,
        "back to 0 on a manual retry"
    );
    run_to_end(&mut pg);

    let sent = json(&pg.requests());
    let ends: Vec<_> = sent
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                header(r, "bgtasks-event").unwrap().to_owned(),
                header(r, "webhook-id").unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        ends,
        [
            ("task.failed".to_owned(), format!("{id}.0")),
            ("task.succeeded".to_owned(), format!("{id}.1")),
        ]
    );
}

#[wasm_bindgen_test]
fn a_cancel_fires_the_callback_and_a_4xx_gives_it_up_at_once() {
    let mut pg = playground();
    pg.script(CALLBACK, r#"[{"status": 410}]"#).unwrap();
    let id = submit(
        &mut pg,
        "report",
        &format!(r#"{{"name": "R", "run_in_ms": 60000, "callback_url": "{CALLBACK}"}}"#),
    );
    reply(pg.cancel(&id));
    let sent = json(&pg.requests());
    assert_eq!(header(&sent[0], "bgtasks-event"), Some("task.failed"));
    assert_eq!(json(sent[0]["body"].as_str().unwrap())["cancelled"], true);
    run_to_end(&mut pg);
    let callback = &task(&pg, &id)["callback"];
    assert_eq!(callback["state"], "failed");
    assert_eq!(callback["attempts"], 1);
    assert_eq!(callback["last_error"], format!("HTTP 410 from {CALLBACK}"));
}
