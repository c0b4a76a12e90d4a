//! `http` tasks against the virtual destination: each attempt is a request
//! the page can read, answered as the URL's script says, and the answers
//! mean what the contract says (retry, Retry-After, final).

mod common;

use bgtasks_core::outbound::Secret;
use common::*;
use serde_json::json;
use wasm_bindgen_test::wasm_bindgen_test;

const URL: &str = "https://hooks.example.com/orders";

fn header<'a>(request: &'a serde_json::Value, name: &str) -> Option<&'a str> {
    request["headers"]
        .as_array()?
        .iter()
        .find(|h| h[0] == name)
        .and_then(|h| h[1].as_str())
}

#[wasm_bindgen_test]
fn a_scripted_destination_is_retried_after_its_retry_after_then_delivers() {
    let mut pg = playground();
    pg.script(
        URL,
        r#"[{"status": 503, "delay_ms": 50, "retry_after": 5},
            {"status": 500, "delay_ms": 30},
            {"status": 200, "delay_ms": 40, "body": "thanks"}]"#,
    )
    .unwrap();
    let id = submit(
        &mut pg,
        "http",
        &format!(
            r#"{{"url": "{URL}", "headers": {{"x-order": "42"}}, "body": {{"order": 42}},
                "retry_policy": {{"max_attempts": 3, "backoff_ms": 1000}}}}"#
        ),
    );

    // The first attempt is sent at once, with the contract's headers.
    let sent = json(&pg.requests());
    let first = &sent[0];
    assert_eq!(first["kind"], "request");
    assert_eq!(
        (first["method"].as_str(), first["url"].as_str()),
        (Some("POST"), Some(URL))
    );
    assert_eq!(first["at"], START);
    assert_eq!(first["body"], r#"{"order":42}"#);
    assert_eq!(header(first, "x-order"), Some("42"));
    assert_eq!(header(first, "content-type"), Some("application/json"));
    assert_eq!(header(first, "bgtasks-attempt"), Some("1"));
    assert_eq!(header(first, "webhook-id"), Some(id.as_str()));
    let seconds = (START / 1000.0).floor().to_string();
    assert_eq!(header(first, "webhook-timestamp"), Some(seconds.as_str()));
    assert_eq!(
        header(first, "webhook-signature"),
        None,
        "no secret, no signature"
    );
    assert!(header(first, "user-agent").unwrap().starts_with("bgtasks/"));
    assert_eq!(first["scripted"], true);
    assert_eq!(first["ends_at"], START + 50.0);

    // 503 with Retry-After: 5 waits 5 s, longer than the policy's ~1 s.
    assert_eq!(pg.step(), Some(START + 50.0));
    let waiting = task(&pg, &id);
    assert_eq!(waiting["status"], "pending");
    assert_eq!(waiting["history"][0]["status_code"], 503);
    assert_eq!(
        waiting["history"][0]["error"],
        format!("HTTP 503 from {URL}")
    );
    assert_eq!(waiting["next_attempt_at"], "2026-06-26T09:15:07.173Z");
    assert_eq!(pg.step(), Some(START + 5050.0), "the second attempt starts");
    assert_eq!(
        header(&json(&pg.requests())[1], "bgtasks-attempt"),
        Some("2")
    );

    run_to_end(&mut pg);
    let done = task(&pg, &id);
    assert_eq!(done["status"], "success");
    assert_eq!(
        done["result"],
        json!({"message": "Delivered", "status_code": 200, "response_body": "thanks", "duration_ms": 40})
    );
    // Every attempt is on the timeline, with what the destination said.
    let timeline = json(&pg.timeline());
    let codes: Vec<_> = timeline[0]["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["status_code"].as_u64().unwrap())
        .collect();
    assert_eq!(codes, [503, 500, 200]);
    let sent = json(&pg.requests());
    assert_eq!(sent.as_array().unwrap().len(), 3);
    assert_eq!(sent[2]["outcome"], "HTTP 200: delivered");
    assert_eq!(pg.scripts(), "{}", "the script is spent");
}

#[wasm_bindgen_test]
fn silence_times_out_refusal_is_retried_and_a_404_is_final() {
    let mut pg = playground();
    pg.script(URL, r#"["silence", "refused", {"status": 404}]"#)
        .unwrap();
    let id = submit(
        &mut pg,
        "http",
        &format!(
            r#"{{"url": "{URL}", "method": "GET", "timeout_ms": 500,
                "retry_policy": {{"max_attempts": 5, "backoff_ms": 100, "backoff": "fixed"}}}}"#
        ),
    );
    assert_eq!(pg.step(), Some(START + 500.0), "no answer: the timeout");
    run_to_end(&mut pg);
    let done = task(&pg, &id);
    assert_eq!(done["status"], "failed", "a 404 fails at once, budget left");
    assert_eq!(done["attempts"], 3);
    let errors: Vec<_> = done["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["error"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        errors,
        [
            "timed out after 500 ms".to_owned(),
            "connection refused".to_owned(),
            format!("HTTP 404 from {URL}"),
        ]
    );
    let sent = json(&pg.requests());
    assert_eq!(sent[0]["method"], "GET");
    assert_eq!(sent[0]["answer"], "silence");
    assert_eq!(
        sent[2]["outcome"],
        format!("HTTP 404 from {URL}: final, no retry")
    );
    // Past the script, the destination answers 200.
    reply(pg.retry(&id));
    run_to_end(&mut pg);
    assert_eq!(task(&pg, &id)["status"], "success");
    assert_eq!(json(&pg.requests())[3]["scripted"], false);
}

#[wasm_bindgen_test]
fn with_a_secret_every_request_is_signed_as_standard_webhooks_says() {
    let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let mut pg = playground();
    pg.set_secret(secret).unwrap();
    let id = submit(
        &mut pg,
        "http",
        &format!(r#"{{"url": "{URL}", "body": "hi"}}"#),
    );
    let sent = json(&pg.requests());
    let timestamp: u64 = header(&sent[0], "webhook-timestamp")
        .unwrap()
        .parse()
        .unwrap();
    let key = Secret::parse(secret).unwrap().unwrap();
    assert_eq!(
        header(&sent[0], "webhook-signature"),
        Some(key.sign(&id, timestamp, br#""hi""#).as_str())
    );
    assert_eq!(json(&pg.settings())["secret"], secret);
    assert!(pg.set_secret("whsec_short").is_err());
    pg.set_secret("").unwrap();
    submit(&mut pg, "http", &format!(r#"{{"url": "{URL}"}}"#));
    assert_eq!(header(&json(&pg.requests())[1], "webhook-signature"), None);
}

#[wasm_bindgen_test]
fn urls_outside_the_permitted_destinations_are_refused_at_submit() {
    let mut pg = playground();
    assert_eq!(json(&pg.settings())["destinations"], "*://*:*");
    pg.set_destinations("https://*.example.com").unwrap();
    let (status, body) = reply(
        pg.submit("http", r#"{"url": "http://localhost:8080/x"}"#, None)
            .unwrap(),
    );
    assert_eq!(status, 422);
    let error = &json(&body)["detail"][0];
    assert_eq!(
        (&error["loc"], &error["type"]),
        (&json!(["body", "url"]), &json!("url_not_allowed"))
    );
    submit(&mut pg, "http", &format!(r#"{{"url": "{URL}"}}"#));

    pg.set_destinations("").unwrap();
    let (status, body) = reply(
        pg.submit("http", &format!(r#"{{"url": "{URL}"}}"#), None)
            .unwrap(),
    );
    assert_eq!(status, 422);
    assert!(body.contains("http_destinations"), "{body}");
    assert!(pg.set_destinations("ftp://[::1]").is_err());
}

#[wasm_bindgen_test]
fn a_malformed_script_is_refused_with_its_reason() {
    let mut pg = playground();
    for (script, reason) in [
        ("{}", "JSON array"),
        (r#"[{"status": 99}]"#, "answer 1: status"),
        (
            r#"[{"status": 200}, {"status": 200, "colour": 1}]"#,
            "answer 2: unknown field",
        ),
        (r#"["later"]"#, "answer 1"),
        (r#"[{"status": 429, "retry_after": true}]"#, "retry_after"),
        ("[", "not JSON"),
    ] {
        let Err(error) = pg.script(URL, script) else {
            panic!("{script} was accepted");
        };
        // A JS Error's debug string holds its message.
        let message = format!("{:?}", wasm_bindgen::JsValue::from(error));
        assert!(message.contains(reason), "{script}: {message}");
    }
    assert_eq!(pg.scripts(), "{}");
    pg.script(
        URL,
        r#"[{"status": 429, "retry_after": 3, "body": {"slow": true}}]"#,
    )
    .unwrap();
    assert_eq!(
        json(&pg.scripts()),
        json!({URL: [{"status": 429, "delay_ms": 20, "retry_after": "3", "body": "{\"slow\":true}"}]})
    );
}
