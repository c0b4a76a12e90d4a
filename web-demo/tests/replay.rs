//! An exported session replays to the identical state: same ids, times,
//! bodies, files and clock.

mod common;

use bgtasks_web::Playground;
use common::*;
use wasm_bindgen_test::wasm_bindgen_test;

/// Everything a reader of the playground can see.
fn observable(pg: &Playground) -> [String; 8] {
    [
        pg.list("limit=200"),
        pg.files(),
        pg.timeline(),
        pg.requests(),
        pg.scripts(),
        pg.settings(),
        pg.now().to_string(),
        format!("{:?}", pg.next_wakeup()),
    ]
}

/// Exports `pg`, imports it, and checks the copy is identical now and
/// after both `go_on` the same way.
fn assert_replays(pg: Playground, go_on: impl Fn(&mut Playground)) -> (Playground, Playground) {
    let exported = pg.export_session();
    let imported = Playground::import_session(&exported).expect("the session replays");
    assert_eq!(observable(&imported), observable(&pg));
    assert_eq!(
        imported.export_session(),
        exported,
        "and exports the same log"
    );
    let mut original = pg;
    let mut copy = imported;
    go_on(&mut original);
    go_on(&mut copy);
    assert_eq!(observable(&copy), observable(&original));
    (original, copy)
}

#[wasm_bindgen_test]
fn an_imported_session_is_identical_to_the_exported_one() {
    let mut pg = playground();
    let flaky = submit(
        &mut pg,
        "file",
        r#"{"content": {"n": 1}, "simulate": {"delay_ms": 300, "fail_attempts": 1}}"#,
    );
    pg.advance(16.0).unwrap();
    pg.advance(17.0).unwrap(); // a frame-sized tick, merged into the last
    let _refused = pg.submit("report", "{}", None).unwrap();
    submit(
        &mut pg,
        "report",
        r#"{"name": "R", "retry_policy": {"max_attempts": 2}}"#,
    );
    pg.submit(
        "notification",
        r#"{"email": "a@b.co", "message": "m"}"#,
        Some("k".into()),
    )
    .unwrap();
    run_to_end(&mut pg);
    reply(pg.retry(&flaky));
    pg.advance(100.0).unwrap(); // mid-attempt: the import must land here too

    let (_, copy) = assert_replays(pg, run_to_end);
    assert_eq!(task(&copy, &flaky)["status"], "success");
}

#[wasm_bindgen_test]
fn a_session_of_http_tasks_callbacks_schedules_cancels_and_deletes_replays_identically() {
    let url = "https://hooks.example.com/orders";
    let callback = "https://cb.example.com/done";
    let mut pg = playground();
    pg.set_secret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
        .unwrap();
    pg.script(
        url,
        r#"[{"status": 429, "retry_after": 2, "delay_ms": 40}, "refused"]"#,
    )
    .unwrap();
    pg.script(callback, r#"["silence", {"status": 202}]"#)
        .unwrap();
    let http = submit(
        &mut pg,
        "http",
        &format!(r#"{{"url": "{url}", "body": {{"n": 1}}, "callback_url": "{callback}"}}"#),
    );
    let scheduled = submit(
        &mut pg,
        "file",
        r#"{"content": {"later": true}, "run_in_ms": 30000}"#,
    );
    let done = submit(
        &mut pg,
        "report",
        r#"{"name": "R", "simulate": {"delay_ms": 10}}"#,
    );
    pg.advance(16.0).unwrap();
    reply(pg.cancel(&scheduled));
    reply(pg.delete(&done));
    pg.set_destinations("https://*.example.com").unwrap();
    let _refused = pg
        .submit("http", r#"{"url": "http://other.test/"}"#, None)
        .unwrap();
    pg.step();
    pg.step();
    pg.set_retention(60.0).unwrap();
    pg.advance(3_000.0).unwrap(); // mid-backoff, after the refusal

    let (mut original, _) = assert_replays(pg, |pg| {
        pg.advance(20_000.0).unwrap();
    });
    let http = task(&original, &http);
    assert_eq!(http["status"], "success");
    assert_eq!(http["attempts"], 3);
    assert_eq!(http["callback"]["state"], "delivered");
    assert_eq!(http["callback"]["attempts"], 2, "the first timed out");
    assert_eq!(task(&original, &scheduled)["cancelled"], true);
    run_to_end(&mut original);
    assert_eq!(
        original.timeline(),
        "[]",
        "all expired 60 s after their end"
    );
    assert_eq!(original.requests(), "[]");
}

#[wasm_bindgen_test]
fn a_v1_session_still_replays() {
    let v1 = format!(
        r#"{{"format": "bgtasks-playground-session/1", "seed": 42, "start_ms": {START},
            "events": [{{"op": "submit", "kind": "report", "body": "{{\"name\": \"R\"}}", "idempotency_key": null}},
                       {{"op": "tick", "to": {}}}]}}"#,
        START + 5000.0
    );
    let pg = Playground::import_session(&v1).expect("a v1 session replays");
    let page = json(&reply(pg.list("limit=10")).1);
    assert_eq!(page["tasks"][0]["status"], "success");
    assert!(pg.export_session().contains("bgtasks-playground-session/2"));
}

#[wasm_bindgen_test]
fn the_same_seed_gives_the_same_ids_and_refused_submits_draw_none() {
    let mut a = playground();
    let mut b = playground();
    let _ = b.submit("report", r#"{"name": ""}"#, None).unwrap();
    let body = r#"{"name": "R"}"#;
    assert_eq!(
        submit(&mut a, "report", body),
        submit(&mut b, "report", body)
    );
}

#[wasm_bindgen_test]
fn an_import_of_something_else_fails_clearly() {
    for bad in [
        "",
        "{}",
        r#"{"format": "other", "seed": 1, "start_ms": 0, "events": []}"#,
    ] {
        assert!(Playground::import_session(bad).is_err(), "{bad}");
    }
    let backwards = r#"{"format": "bgtasks-playground-session/1", "seed": 1, "start_ms": 10,
                        "events": [{"op": "tick", "to": 5}]}"#;
    assert!(Playground::import_session(backwards).is_err());
}
