//! An exported session replays to the identical state: same ids, times,
//! bodies, files and clock.

mod common;

use bgtasks_web::Playground;
use common::*;
use wasm_bindgen_test::wasm_bindgen_test;

/// Everything a reader of the playground can see.
fn observable(pg: &Playground) -> (String, String, String, f64, Option<f64>) {
    (
        pg.list("limit=200"),
        pg.files(),
        pg.timeline(),
        pg.now(),
        pg.next_wakeup(),
    )
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

    let exported = pg.export_session();
    let imported = Playground::import_session(&exported).expect("the session replays");
    assert_eq!(observable(&imported), observable(&pg));
    assert_eq!(
        imported.export_session(),
        exported,
        "and exports the same log"
    );

    // The replayed playground goes on exactly as the original does.
    let mut original = pg;
    let mut copy = imported;
    run_to_end(&mut original);
    run_to_end(&mut copy);
    assert_eq!(observable(&copy), observable(&original));
    assert_eq!(task(&copy, &flaky)["status"], "success");
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
