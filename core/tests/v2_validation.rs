//! The v2 input rules, one scenario each: `http` task fields, permitted
//! destinations, `callback_url`, and scheduling.

use bgtasks_core::outbound::Destinations;
use bgtasks_core::validate::{self, FieldError};
use bgtasks_core::{
    Backoff, HttpMethod, ListQuery, Millis, Problem, Submission, TaskKind, TaskSpec,
};
use serde_json::{Value, json};

/// 2026-06-26T09:15:02.123Z.
const NOW: Millis = Millis(1_782_465_302_123);
const DAY_MS: u64 = 86_400_000;
const PATTERN: &str = "https://*.example.com";

fn permitted() -> Destinations {
    Destinations::parse(PATTERN).unwrap()
}

fn check(
    kind: TaskKind,
    body: &Value,
    destinations: &Destinations,
) -> Result<Submission, Vec<FieldError>> {
    let context = validate::Context {
        now: NOW,
        destinations,
    };
    validate::submission(kind, body.to_string().as_bytes(), &context)
}

/// Accepted, with `https://*.example.com` permitted.
fn accepted(kind: TaskKind, body: Value) -> Submission {
    check(kind, &body, &permitted()).unwrap_or_else(|e| panic!("{body} refused: {e:#?}"))
}

/// Refused, with `https://*.example.com` permitted.
fn refused(kind: TaskKind, body: Value) -> Vec<FieldError> {
    match check(kind, &body, &permitted()) {
        Ok(s) => panic!("{body} accepted: {s:?}"),
        Err(errors) => errors,
    }
}

/// (loc, type) of each error, the part clients branch on.
fn summary(errors: &[FieldError]) -> Vec<(Value, &'static str)> {
    errors
        .iter()
        .map(|e| (Value::from(e.loc.clone()), e.kind))
        .collect()
}

fn http(extra: Value) -> Value {
    let mut body = json!({"url": "https://hooks.example.com/orders"});
    body.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    body
}

fn http_spec(submission: Submission) -> bgtasks_core::HttpRequestSpec {
    match submission.spec {
        TaskSpec::Http(spec) => spec,
        other => panic!("not http: {other:?}"),
    }
}

/// A minimal valid body for each route, plus `extra`.
fn body_for(kind: TaskKind, extra: Value) -> Value {
    let mut body = match kind {
        TaskKind::Notification => json!({"email": "a@b.co", "message": "hi"}),
        TaskKind::Report => json!({"name": "r"}),
        TaskKind::File => json!({"content": {}}),
        TaskKind::Http => json!({"url": "https://hooks.example.com/orders"}),
    };
    body.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    body
}

// ---------------------------------------------------------------------------
// HTTP tasks

#[test]
fn an_http_task_takes_the_documented_defaults() {
    let s = accepted(TaskKind::Http, http(json!({})));
    assert_eq!(
        (s.policy.max_attempts, s.policy.backoff_ms, s.policy.backoff),
        (3, 1000, Backoff::Exponential)
    );
    assert_eq!((s.start_at, &s.callback_url), (None, &None));
    let spec = http_spec(s);
    assert_eq!(spec.url, "https://hooks.example.com/orders");
    assert_eq!(spec.method, HttpMethod::Post);
    assert!(spec.headers.is_empty());
    assert_eq!(spec.body, None);
    assert_eq!(spec.timeout_ms, 10_000);
}

#[test]
fn the_contracts_example_is_accepted_as_given() {
    let spec = http_spec(accepted(
        TaskKind::Http,
        json!({"url": "https://hooks.example.com/orders", "method": "POST",
               "headers": {"x-order": "42"}, "body": {"order": 42}, "timeout_ms": 10000}),
    ));
    assert_eq!(spec.headers, [("x-order".to_string(), "42".to_string())]);
    assert_eq!(spec.body, Some(json!({"order": 42})));
    // `null` is absent, as everywhere.
    let spec = http_spec(accepted(
        TaskKind::Http,
        http(json!({"body": null, "headers": null, "method": null, "timeout_ms": null})),
    ));
    assert_eq!(
        (spec.body, spec.method, spec.timeout_ms),
        (None, HttpMethod::Post, 10_000)
    );
}

#[test]
fn the_url_is_required_and_must_be_a_string() {
    assert_eq!(
        summary(&refused(TaskKind::Http, json!({"method": "GET"}))),
        [(json!(["body", "url"]), "missing")]
    );
    for url in [json!(null), json!(5), json!(["https://a.example.com"])] {
        let errors = refused(TaskKind::Http, json!({"url": url}));
        assert_eq!(errors[0].loc, [json!("body"), json!("url")], "{url}");
    }
}

#[test]
fn a_url_of_2048_characters_is_accepted_and_one_of_2049_is_not() {
    let base = "https://hooks.example.com/";
    for fill in ["x", "é"] {
        // Characters, not bytes: the é form is longer than 2048 bytes.
        let url = format!("{base}{}", fill.repeat(2048 - base.len()));
        assert_eq!(url.chars().count(), 2048);
        let spec = http_spec(accepted(TaskKind::Http, json!({"url": url})));
        assert_eq!(spec.url, url, "kept as submitted");
        let errors = refused(TaskKind::Http, json!({"url": format!("{url}{fill}")}));
        assert_eq!(
            summary(&errors),
            [(json!(["body", "url"]), "string_too_long")]
        );
        assert_eq!(errors[0].ctx, Some(json!({"max_length": 2048})));
    }
}

#[test]
fn urls_that_break_the_url_rules_are_refused_at_url() {
    for (url, kind) in [
        ("ftp://hooks.example.com/x", "url_scheme"),
        ("https://user:pw@hooks.example.com/", "url_parsing"),
        ("https://[::1]/", "url_parsing"),
        ("https://127.1/", "url_parsing"),
        ("/orders", "url_parsing"),
        ("hooks.example.com/orders", "url_parsing"),
        ("https://", "url_parsing"),
        ("", "string_too_short"),
    ] {
        let errors = refused(TaskKind::Http, json!({"url": url}));
        assert_eq!(
            summary(&errors),
            [(json!(["body", "url"]), kind)],
            "{url:?}"
        );
    }
}

#[test]
fn with_no_destination_permitted_every_url_is_refused_and_the_message_says_how_to_open_one() {
    let errors = check(
        TaskKind::Http,
        &json!({"url": "https://hooks.example.com/orders"}),
        &Destinations::none(),
    )
    .unwrap_err();
    assert_eq!(
        summary(&errors),
        [(json!(["body", "url"]), "url_not_allowed")]
    );
    assert!(
        errors[0].msg.contains("http_destinations"),
        "{}",
        errors[0].msg
    );
    assert_eq!(errors[0].input, json!("https://hooks.example.com/orders"));
    let body: Value = serde_json::from_slice(&Problem::Invalid(errors).body()).unwrap();
    assert_eq!(body["detail"][0]["type"], "url_not_allowed");
}

#[test]
fn a_url_outside_the_permitted_pattern_is_url_not_allowed() {
    for url in [
        "https://example.com/orders",
        "http://hooks.example.com/orders",
        "https://hooks.example.com:8443/orders",
        "https://hooks.example.org/orders",
        "https://10.0.0.1/",
    ] {
        let errors = refused(TaskKind::Http, json!({"url": url}));
        assert_eq!(
            summary(&errors),
            [(json!(["body", "url"]), "url_not_allowed")],
            "{url}"
        );
        assert!(errors[0].msg.contains(PATTERN), "{}", errors[0].msg);
    }
}

#[test]
fn the_method_is_one_of_five_uppercase_names() {
    for (name, method) in [
        ("GET", HttpMethod::Get),
        ("POST", HttpMethod::Post),
        ("PUT", HttpMethod::Put),
        ("PATCH", HttpMethod::Patch),
        ("DELETE", HttpMethod::Delete),
    ] {
        let spec = http_spec(accepted(TaskKind::Http, http(json!({"method": name}))));
        assert_eq!(spec.method, method);
    }
    for bad in [
        json!("post"),
        json!("Get"),
        json!("HEAD"),
        json!("OPTIONS"),
        json!(" POST"),
        json!(1),
        json!(""),
    ] {
        let errors = refused(TaskKind::Http, http(json!({"method": bad})));
        assert_eq!(
            summary(&errors),
            [(json!(["body", "method"]), "literal_error")],
            "{bad}"
        );
    }
}

#[test]
fn a_get_request_may_not_have_a_body() {
    for body in [json!({}), json!(""), json!(0), json!(false), json!([])] {
        let errors = refused(TaskKind::Http, http(json!({"method": "GET", "body": body})));
        assert_eq!(
            summary(&errors),
            [(json!(["body", "body"]), "value_error")],
            "{body}"
        );
    }
    let spec = http_spec(accepted(
        TaskKind::Http,
        http(json!({"method": "GET", "body": null})),
    ));
    assert_eq!(spec.body, None);
    for method in ["POST", "PUT", "PATCH", "DELETE"] {
        let spec = http_spec(accepted(
            TaskKind::Http,
            http(json!({"method": method, "body": "x"})),
        ));
        assert_eq!(spec.body, Some(json!("x")));
    }
}

#[test]
fn any_json_value_is_a_body() {
    for body in [
        json!("text"),
        json!(42),
        json!([1, {"a": null}]),
        json!({"nested": {"deep": [true]}}),
    ] {
        let spec = http_spec(accepted(
            TaskKind::Http,
            http(json!({"body": body.clone()})),
        ));
        assert_eq!(spec.body, Some(body));
    }
}

fn headers(n: usize) -> Value {
    Value::Object((0..n).map(|i| (format!("x-h{i}"), json!("v"))).collect())
}

#[test]
fn at_most_32_headers_are_accepted() {
    let spec = http_spec(accepted(
        TaskKind::Http,
        http(json!({"headers": headers(32)})),
    ));
    assert_eq!(spec.headers.len(), 32);
    let errors = refused(TaskKind::Http, http(json!({"headers": headers(33)})));
    assert_eq!(summary(&errors), [(json!(["body", "headers"]), "too_long")]);
    let errors = refused(TaskKind::Http, http(json!({"headers": ["x-a", "1"]})));
    assert_eq!(
        summary(&errors),
        [(json!(["body", "headers"]), "dict_type")]
    );
}

#[test]
fn headers_keep_their_names_and_order_as_given() {
    let spec = http_spec(accepted(
        TaskKind::Http,
        http(json!({"headers": {"X-B": "2", "x-a": "1", "Accept": "text/html"}})),
    ));
    let names: Vec<&str> = spec.headers.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["X-B", "x-a", "Accept"]);
}

#[test]
fn header_names_must_be_http_tokens() {
    accepted(
        TaskKind::Http,
        http(json!({"headers": {"X-Custom_1.~!#$%&'*+^`|": "v"}})),
    );
    for name in [
        "x y", "", "x:y", "x-é", "x\u{0}y", "x\ny", "(x)", "x/y", "x\"y",
    ] {
        let errors = refused(TaskKind::Http, http(json!({"headers": {name: "v"}})));
        assert_eq!(
            summary(&errors),
            [(json!(["body", "headers", name]), "value_error")],
            "{name:?}"
        );
        assert!(errors[0].msg.contains("token"), "{}", errors[0].msg);
    }
}

#[test]
fn reserved_header_names_are_refused_in_any_case() {
    for name in [
        "host",
        "Host",
        "CONTENT-LENGTH",
        "transfer-encoding",
        "Connection",
        "webhook-id",
        "Webhook-Signature",
        "webhook-anything",
        "bgtasks-attempt",
        "BGTASKS-event",
        "bgtasks-x",
    ] {
        let errors = refused(TaskKind::Http, http(json!({"headers": {name: "v"}})));
        assert_eq!(
            summary(&errors),
            [(json!(["body", "headers", name]), "value_error")],
            "{name}"
        );
    }
    // Only those: a near miss is an ordinary header.
    accepted(
        TaskKind::Http,
        http(
            json!({"headers": {"webhook": "v", "x-webhook-id": "v", "bgtasks": "v", "hostname": "v"}}),
        ),
    );
}

#[test]
fn a_header_name_given_twice_ignoring_case_is_refused() {
    let errors = refused(
        TaskKind::Http,
        http(json!({"headers": {"X-Order": "1", "x-order": "2"}})),
    );
    assert_eq!(
        summary(&errors),
        [(json!(["body", "headers", "x-order"]), "value_error")]
    );
}

#[test]
fn header_values_are_visible_ascii_space_and_tab_up_to_4096_characters() {
    let spec = http_spec(accepted(
        TaskKind::Http,
        http(json!({"headers": {"x-a": "a b\tc ~!", "x-empty": "", "x-long": "v".repeat(4096)}})),
    ));
    assert_eq!(spec.headers[0].1, "a b\tc ~!");
    for value in [
        "a\nb",
        "a\r\nx-injected: 1",
        "é",
        "\u{7f}",
        "\u{0}",
        "\u{1b}[31m",
    ] {
        let errors = refused(TaskKind::Http, http(json!({"headers": {"x-a": value}})));
        assert_eq!(
            summary(&errors),
            [(json!(["body", "headers", "x-a"]), "value_error")],
            "{value:?}"
        );
    }
    let errors = refused(
        TaskKind::Http,
        http(json!({"headers": {"x-a": "v".repeat(4097)}})),
    );
    assert_eq!(
        summary(&errors),
        [(json!(["body", "headers", "x-a"]), "string_too_long")]
    );
    for value in [json!(5), json!(null), json!(["v"])] {
        let errors = refused(TaskKind::Http, http(json!({"headers": {"x-a": value}})));
        assert_eq!(
            summary(&errors),
            [(json!(["body", "headers", "x-a"]), "string_type")],
            "{value}"
        );
    }
}

#[test]
fn every_bad_header_is_reported_at_once() {
    let errors = refused(
        TaskKind::Http,
        http(json!({"headers": {"host": "x", "x a": "1", "x-ok": "\n"}})),
    );
    assert_eq!(errors.len(), 3, "{errors:#?}");
}

#[test]
fn the_timeout_is_100_to_60000_milliseconds() {
    for ms in [100, 60_000] {
        assert_eq!(
            http_spec(accepted(TaskKind::Http, http(json!({"timeout_ms": ms})))).timeout_ms,
            ms
        );
    }
    for (value, kind) in [
        (json!(99), "greater_than_equal"),
        (json!(0), "greater_than_equal"),
        (json!(-1), "greater_than_equal"),
        (json!(60_001), "less_than_equal"),
        (json!(1000.0), "int_type"),
        (json!("1000"), "int_type"),
    ] {
        let errors = refused(TaskKind::Http, http(json!({"timeout_ms": value})));
        assert_eq!(
            summary(&errors),
            [(json!(["body", "timeout_ms"]), kind)],
            "{value}"
        );
    }
}

#[test]
fn simulate_is_refused_for_http_tasks_but_null_counts_as_absent() {
    for simulate in [json!({}), json!({"delay_ms": 5}), json!(0), json!("x")] {
        let errors = refused(TaskKind::Http, http(json!({"simulate": simulate})));
        assert_eq!(
            summary(&errors),
            [(json!(["body", "simulate"]), "value_error")],
            "{simulate}"
        );
    }
    accepted(TaskKind::Http, http(json!({"simulate": null})));
}

#[test]
fn an_http_retry_policy_takes_the_http_default_for_each_field_left_out() {
    for (policy, expected) in [
        (json!(null), (3, 1000, Backoff::Exponential)),
        (json!({}), (3, 1000, Backoff::Exponential)),
        (json!({"backoff_ms": 50}), (3, 50, Backoff::Exponential)),
        (json!({"max_attempts": 1}), (1, 1000, Backoff::Exponential)),
        (
            json!({"backoff": "fixed", "max_attempts": 10}),
            (10, 1000, Backoff::Fixed),
        ),
    ] {
        let p = accepted(
            TaskKind::Http,
            http(json!({"retry_policy": policy.clone()})),
        )
        .policy;
        assert_eq!(
            (p.max_attempts, p.backoff_ms, p.backoff),
            expected,
            "{policy}"
        );
    }
    // The simulated kinds keep the original's single attempt.
    let p = accepted(
        TaskKind::File,
        json!({"content": {}, "retry_policy": {"backoff_ms": 50}}),
    )
    .policy;
    assert_eq!(p.max_attempts, 1);
    // The ranges are the v1 ranges.
    let errors = refused(
        TaskKind::Http,
        http(json!({"retry_policy": {"max_attempts": 11}})),
    );
    assert_eq!(
        summary(&errors),
        [(
            json!(["body", "retry_policy", "max_attempts"]),
            "less_than_equal"
        )]
    );
}

#[test]
fn every_http_field_error_is_reported_together() {
    let errors = refused(
        TaskKind::Http,
        json!({"url": "ftp://x", "method": "get", "headers": {"host": "x"}, "timeout_ms": 5,
               "simulate": {}, "run_in_ms": -1}),
    );
    let locs: Vec<Value> = errors.iter().map(|e| Value::from(e.loc.clone())).collect();
    for loc in [
        json!(["body", "url"]),
        json!(["body", "method"]),
        json!(["body", "headers", "host"]),
        json!(["body", "timeout_ms"]),
        json!(["body", "simulate"]),
        json!(["body", "run_in_ms"]),
    ] {
        assert!(locs.contains(&loc), "{loc} missing from {locs:?}");
    }
}

// ---------------------------------------------------------------------------
// Callbacks

#[test]
fn a_callback_url_is_accepted_on_every_route_and_null_is_absent() {
    for kind in TaskKind::ALL {
        let s = accepted(
            kind,
            body_for(kind, json!({"callback_url": "https://cb.example.com/done"})),
        );
        assert_eq!(
            s.callback_url.as_deref(),
            Some("https://cb.example.com/done"),
            "{kind:?}"
        );
        let s = accepted(kind, body_for(kind, json!({"callback_url": null})));
        assert_eq!(s.callback_url, None);
    }
}

#[test]
fn a_callback_url_follows_the_url_rules_on_every_route() {
    let too_long = format!("https://cb.example.com/{}", "x".repeat(2048));
    for kind in TaskKind::ALL {
        for (url, type_) in [
            (json!("ftp://cb.example.com/"), "url_scheme"),
            (json!("https://u:p@cb.example.com/"), "url_parsing"),
            (json!("/done"), "url_parsing"),
            (json!("https://example.com/done"), "url_not_allowed"),
            (json!("http://cb.example.com/done"), "url_not_allowed"),
            (json!(too_long), "string_too_long"),
            (json!(5), "string_type"),
        ] {
            let errors = refused(kind, body_for(kind, json!({"callback_url": url})));
            assert_eq!(
                summary(&errors),
                [(json!(["body", "callback_url"]), type_)],
                "{kind:?} {url}"
            );
        }
        let errors = check(
            kind,
            &body_for(kind, json!({"callback_url": "https://cb.example.com/done"})),
            &Destinations::none(),
        )
        .unwrap_err();
        let callback_errors: Vec<_> = errors
            .iter()
            .filter(|e| e.loc == [json!("body"), json!("callback_url")])
            .collect();
        assert_eq!(callback_errors.len(), 1, "{kind:?}");
        assert_eq!(callback_errors[0].kind, "url_not_allowed");
    }
}

// ---------------------------------------------------------------------------
// Scheduling

#[test]
fn run_at_with_an_offset_is_read_in_utc() {
    // 10:15:03.123+01:00 is 09:15:03.123Z, one second after NOW.
    for kind in TaskKind::ALL {
        let s = accepted(
            kind,
            body_for(kind, json!({"run_at": "2026-06-26T10:15:03.123+01:00"})),
        );
        assert_eq!(s.start_at, Some(NOW.plus(1000)), "{kind:?}");
    }
    let s = accepted(
        TaskKind::File,
        body_for(
            TaskKind::File,
            json!({"run_at": "2026-06-26T05:15:04.123-04:00"}),
        ),
    );
    assert_eq!(s.start_at, Some(NOW.plus(2000)));
    let s = accepted(
        TaskKind::File,
        body_for(
            TaskKind::File,
            json!({"run_at": "2026-06-26T09:15:05.123Z"}),
        ),
    );
    assert_eq!(s.start_at, Some(NOW.plus(3000)));
}

#[test]
fn a_run_at_in_the_past_means_now() {
    for past in [
        "2026-06-26T09:15:02.122Z",
        "2020-01-01T00:00:00Z",
        "1900-01-01T00:00:00Z",
    ] {
        let s = accepted(
            TaskKind::File,
            body_for(TaskKind::File, json!({"run_at": past})),
        );
        assert_eq!(s.start_at, Some(NOW), "{past}");
    }
}

#[test]
fn run_at_is_at_most_30_days_ahead() {
    // NOW + 30 days is 2026-07-26T09:15:02.123Z.
    let s = accepted(
        TaskKind::File,
        body_for(
            TaskKind::File,
            json!({"run_at": "2026-07-26T09:15:02.123Z"}),
        ),
    );
    assert_eq!(s.start_at, Some(NOW.plus(30 * DAY_MS)));
    for later in [
        "2026-07-26T09:15:02.124Z",
        "2027-01-01T00:00:00Z",
        "9999-12-31T23:59:59Z",
    ] {
        let errors = refused(
            TaskKind::File,
            body_for(TaskKind::File, json!({"run_at": later})),
        );
        assert_eq!(
            summary(&errors),
            [(json!(["body", "run_at"]), "value_error")],
            "{later}"
        );
    }
}

#[test]
fn run_at_must_be_an_rfc3339_time_with_an_offset() {
    for (value, type_) in [
        (json!("2026-06-26T09:15:03"), "datetime_parsing"),
        (json!("2026-06-26"), "datetime_parsing"),
        (json!("tomorrow"), "datetime_parsing"),
        (json!(""), "datetime_parsing"),
        (json!("2026-06-26T09:15:03Z\u{0}"), "datetime_parsing"),
        (json!("2026-02-30T09:15:03Z"), "datetime_parsing"),
        (json!(1_782_465_303_123u64), "datetime_type"),
        (json!({}), "datetime_type"),
    ] {
        let errors = refused(
            TaskKind::Report,
            body_for(TaskKind::Report, json!({"run_at": value})),
        );
        assert_eq!(
            summary(&errors),
            [(json!(["body", "run_at"]), type_)],
            "{value}"
        );
    }
    let s = accepted(
        TaskKind::Report,
        body_for(TaskKind::Report, json!({"run_at": null})),
    );
    assert_eq!(s.start_at, None);
}

#[test]
fn run_in_ms_is_0_to_30_days() {
    for (ms, start) in [
        (0u64, NOW),
        (1500, NOW.plus(1500)),
        (2_592_000_000, NOW.plus(30 * DAY_MS)),
    ] {
        let s = accepted(
            TaskKind::Notification,
            body_for(TaskKind::Notification, json!({"run_in_ms": ms})),
        );
        assert_eq!(s.start_at, Some(start), "{ms}");
    }
    for (value, type_) in [
        (json!(2_592_000_001u64), "less_than_equal"),
        (json!(-1), "greater_than_equal"),
        (json!(1.0), "int_type"),
        (json!("1000"), "int_type"),
        (json!(1e30), "int_type"),
    ] {
        let errors = refused(
            TaskKind::Notification,
            body_for(TaskKind::Notification, json!({"run_in_ms": value})),
        );
        assert_eq!(
            summary(&errors),
            [(json!(["body", "run_in_ms"]), type_)],
            "{value}"
        );
    }
}

#[test]
fn run_at_and_run_in_ms_together_are_refused() {
    for kind in TaskKind::ALL {
        let errors = refused(
            kind,
            body_for(
                kind,
                json!({"run_at": "2026-06-26T10:00:00Z", "run_in_ms": 0}),
            ),
        );
        assert_eq!(
            summary(&errors),
            [(json!(["body"]), "value_error")],
            "{kind:?}"
        );
    }
    // A null one is absent, so not "both".
    let s = accepted(
        TaskKind::File,
        body_for(TaskKind::File, json!({"run_at": null, "run_in_ms": 10})),
    );
    assert_eq!(s.start_at, Some(NOW.plus(10)));
}

// ---------------------------------------------------------------------------
// Hostile input

#[test]
fn hostile_values_are_422s_never_panics() {
    let control: String = (0u8..0x20).map(char::from).collect();
    let giant_headers = Value::Object(
        (0..32)
            .map(|i| {
                (
                    format!("x-{i}-{}", "n".repeat(1000)),
                    json!("v".repeat(4096)),
                )
            })
            .collect(),
    );
    let hostile = [
        json!({"url": format!("https://hooks.example.com/{control}")}),
        json!({"url": "https://hooks.example.com\u{0}.evil.com/"}),
        json!({"url": "https://hooks.example.com/\r\nHost: evil"}),
        json!({"url": format!("https://{}/", ".".repeat(2000))}),
        json!({"url": "https://\u{202e}moc.elpmaxe.a/"}),
        json!({"url": "https://hooks.example.com/", "headers": {control.clone(): control.clone()}}),
        json!({"url": "https://hooks.example.com/", "headers": {"x-a": "\u{feff}"}}),
        json!({"url": "https://hooks.example.com/", "headers": giant_headers.clone(), "method": "GET", "body": {}}),
        json!({"url": "https://hooks.example.com/", "headers": headers(10_000)}),
        json!({"url": "https://hooks.example.com/", "timeout_ms": u64::MAX}),
        json!({"url": "https://hooks.example.com/", "timeout_ms": i64::MIN}),
        json!({"url": "https://hooks.example.com/", "run_in_ms": u64::MAX}),
        json!({"url": "https://hooks.example.com/", "run_at": "+99999-01-01T00:00:00Z"}),
        json!({"url": "https://hooks.example.com/", "run_at": "2026-06-26T09:15:02.123+24:00"}),
        json!({"url": "https://hooks.example.com/", "run_at": "2026-06-26T09:15:02.1234567890123456789Z0"}),
        json!({"url": "https://hooks.example.com/", "callback_url": control.clone()}),
        json!({"url": "https://hooks.example.com/", "retry_policy": {"backoff_ms": u64::MAX}}),
    ];
    for body in hostile {
        let Err(errors) = check(TaskKind::Http, &body, &permitted()) else {
            panic!("accepted: {body}");
        };
        assert!(!errors.is_empty());
        // The 422 body renders whatever the input held.
        let rendered: Value = serde_json::from_slice(&Problem::Invalid(errors).body()).unwrap();
        assert!(rendered["detail"].is_array());
    }
    // Inputs the contract does not decide either way: no panic is all.
    for body in [
        json!({"url": format!("https://{}.example.com/", "a".repeat(2000))}),
        json!({"url": format!("https://hooks.example.com/{}", "%".repeat(2000))}),
        json!({"url": "https://hooks.example.com/?q=\u{1F600}#\u{0301}"}),
    ] {
        let _ = check(TaskKind::Http, &body, &permitted());
    }
    // The largest headers the rules allow are fine.
    let spec = http_spec(accepted(
        TaskKind::Http,
        http(json!({"headers": giant_headers})),
    ));
    assert_eq!(spec.headers.len(), 32);
}

#[test]
fn hostile_bytes_on_the_http_route_are_422s_never_panics() {
    let context = validate::Context {
        now: NOW,
        destinations: &permitted(),
    };
    let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    let bodies: Vec<Vec<u8>> = vec![
        b"".to_vec(),
        b"null".to_vec(),
        b"\xff\xfe".to_vec(),
        br#"{"url": "https://hooks.example.com/\ud800"}"#.to_vec(),
        format!(r#"{{"url": "https://hooks.example.com/", "body": {deep}}}"#).into_bytes(),
        br#"{"url": "https://hooks.example.com/", "timeout_ms": 1e999}"#.to_vec(),
        br#"{"url": "https://hooks.example.com/", "headers": {"x-a": "1", "x-a": "\u0000"}}"#
            .to_vec(),
    ];
    for body in bodies {
        assert!(
            validate::submission(TaskKind::Http, &body, &context).is_err(),
            "{:?}",
            String::from_utf8_lossy(&body)
        );
    }
}

// ---------------------------------------------------------------------------
// Listing

#[test]
fn the_listing_takes_type_http() {
    assert_eq!(
        ListQuery::parse("type=http").unwrap().kind,
        Some(TaskKind::Http)
    );
}

#[test]
fn the_listings_type_error_names_http_among_the_expected_types() {
    let errors = ListQuery::parse("type=bogus").unwrap_err();
    assert_eq!(summary(&errors), [(json!(["query", "type"]), "enum")]);
    assert!(errors[0].msg.contains("'http'"), "{}", errors[0].msg);
}
