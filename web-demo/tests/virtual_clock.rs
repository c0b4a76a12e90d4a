//! Tasks run on the page's clock: nothing happens until it moves, and each
//! step lands exactly on the next event.

mod common;

use common::*;
use wasm_bindgen_test::wasm_bindgen_test;

#[wasm_bindgen_test]
fn a_report_succeeds_when_the_clock_reaches_its_delay() {
    let mut pg = playground();
    let id = submit(
        &mut pg,
        "report",
        r#"{"name": "Sales Report", "details": {"month": "June"}, "simulate": {"delay_ms": 500}}"#,
    );
    assert_eq!(task(&pg, &id)["status"], "pending");
    assert_eq!(pg.next_wakeup(), Some(START + 500.0));

    pg.advance(499.0).unwrap();
    assert_eq!(task(&pg, &id)["status"], "pending", "one millisecond early");

    pg.advance(1.0).unwrap();
    let done = task(&pg, &id);
    assert_eq!(done["status"], "success");
    assert_eq!(done["result"]["message"], "Report generated");
    assert_eq!(
        done["result"]["report"]["generated_at"],
        "2026-06-26T09:15:02.623Z"
    );
    assert_eq!(pg.next_wakeup(), None);
}

#[wasm_bindgen_test]
fn step_jumps_to_the_next_event_and_a_file_task_writes_its_file() {
    let mut pg = playground();
    let id = submit(
        &mut pg,
        "file",
        r#"{"content": {"user": "johndoe", "activity": "export"}}"#,
    );
    assert_eq!(pg.step(), Some(START + 2000.0), "the default file delay");
    assert_eq!(pg.step(), None, "nothing left to wait for");
    assert_eq!(pg.now(), START + 2000.0);

    let path = format!("outputs/{id}.json");
    let file = "{\n  \"user\": \"johndoe\",\n  \"activity\": \"export\"\n}";
    assert_eq!(json(&pg.files())[&path], file);
    assert_eq!(reply(pg.output(&id)), (200, file.to_owned()));
    assert_eq!(task(&pg, &id)["result"]["bytes"], file.len());
}

#[wasm_bindgen_test]
fn every_task_type_reaches_success() {
    let mut pg = playground();
    let ids = [
        submit(
            &mut pg,
            "notification",
            r#"{"email": "johndoe@example.com", "message": "hi"}"#,
        ),
        submit(&mut pg, "report", r#"{"name": "Sales Report"}"#),
        submit(&mut pg, "file", r#"{"content": {}}"#),
    ];
    run_to_end(&mut pg);
    for id in &ids {
        assert_eq!(task(&pg, id)["status"], "success", "{id}");
    }
    let (status, page) = reply(pg.list("limit=2"));
    assert_eq!(status, 200);
    let page = json(&page);
    assert_eq!(page["tasks"][0]["id"], ids[2].as_str(), "newest first");
    assert!(page["next_cursor"].is_string());
}

#[wasm_bindgen_test]
fn the_clock_refuses_times_js_cannot_hold_exactly() {
    let mut pg = playground();
    assert!(pg.advance(-1.0).is_err());
    assert!(pg.advance(0.5).is_err());
    assert!(pg.advance(f64::NAN).is_err());
    assert_eq!(pg.now(), START);
}
