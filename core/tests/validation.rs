//! The contract's input rules, one scenario each.

use bgtasks_core::outbound::Destinations;
use bgtasks_core::validate::{self, FieldError};
use bgtasks_core::{Backoff, ListQuery, Millis, Status, TaskKind, TaskSpec};
use serde_json::{Value, json};

/// A fixed time, and no permitted destination (the service's default).
const NOW: Millis = Millis(1_782_465_302_123);
static NONE: std::sync::LazyLock<Destinations> = std::sync::LazyLock::new(Destinations::none);

fn ctx() -> validate::Context<'static> {
    validate::Context {
        now: NOW,
        destinations: &NONE,
    }
}

fn errors(kind: TaskKind, body: &str) -> Vec<FieldError> {
    validate::submission(kind, body.as_bytes(), &ctx()).expect_err("should be refused")
}

/// (loc, type) of each error, the part clients branch on.
fn summary(errors: &[FieldError]) -> Vec<(Value, &'static str)> {
    errors
        .iter()
        .map(|e| (Value::from(e.loc.clone()), e.kind))
        .collect()
}

#[test]
fn the_original_examples_are_accepted_with_defaults() {
    let n = validate::submission(
        TaskKind::Notification,
        br#"{"email": "johndoe@example.com", "message": "Your submission was received."}"#,
        &ctx(),
    )
    .unwrap();
    assert_eq!(n.simulate.delay_ms, 2000);
    assert_eq!(n.simulate.fail_attempts, 0);
    assert_eq!(n.policy.max_attempts, 1);
    assert_eq!(n.policy.backoff_ms, 1000);
    assert_eq!(n.policy.backoff, Backoff::Exponential);

    let r = validate::submission(
        TaskKind::Report,
        br#"{"name": "Sales Report", "details": {"month": "June", "region": "Asia"}}"#,
        &ctx(),
    )
    .unwrap();
    assert_eq!(r.simulate.delay_ms, 3000);
    let TaskSpec::Report { details, .. } = r.spec else {
        panic!()
    };
    assert_eq!(details["region"], "Asia");

    let f = validate::submission(
        TaskKind::File,
        br#"{"content": {"user": "johndoe"}}"#,
        &ctx(),
    )
    .unwrap();
    assert_eq!(f.simulate.delay_ms, 2000);
}

#[test]
fn missing_and_mistyped_fields_are_all_reported_in_field_order() {
    let errs = errors(TaskKind::Notification, r#"{"message": 5}"#);
    assert_eq!(
        summary(&errs),
        vec![
            (json!(["body", "email"]), "missing"),
            (json!(["body", "message"]), "string_type"),
        ]
    );
    assert_eq!(errs[0].msg, "Field required");
}

#[test]
fn null_counts_as_absent_only_for_optional_fields() {
    let ok = validate::submission(
        TaskKind::Report,
        br#"{"name": "x", "details": null, "simulate": null, "retry_policy": null}"#,
        &ctx(),
    )
    .unwrap();
    let TaskSpec::Report { details, .. } = ok.spec else {
        panic!()
    };
    assert!(details.is_empty());
    assert_eq!(
        summary(&errors(TaskKind::Report, r#"{"name": null}"#)),
        vec![(json!(["body", "name"]), "string_type")]
    );
    assert_eq!(
        summary(&errors(TaskKind::File, r#"{"content": null}"#)),
        vec![(json!(["body", "content"]), "dict_type")]
    );
    let s = validate::submission(
        TaskKind::File,
        br#"{"content": {}, "simulate": {"delay_ms": null}}"#,
        &ctx(),
    )
    .unwrap();
    assert_eq!(s.simulate.delay_ms, 2000);
}

#[test]
fn lengths_count_characters_not_bytes() {
    let name200 = "é".repeat(200);
    assert!(
        validate::submission(
            TaskKind::Report,
            json!({"name": name200}).to_string().as_bytes(),
            &ctx()
        )
        .is_ok()
    );
    let name201 = "é".repeat(201);
    let errs = errors(TaskKind::Report, &json!({"name": name201}).to_string());
    assert_eq!(
        summary(&errs),
        vec![(json!(["body", "name"]), "string_too_long")]
    );
    assert_eq!(errs[0].ctx, Some(json!({"max_length": 200})));
    assert_eq!(
        summary(&errors(TaskKind::Report, r#"{"name": ""}"#))[0].1,
        "string_too_short"
    );

    let msg = "😀".repeat(10_000);
    let body = json!({"email": "a@b.c", "message": msg}).to_string();
    assert!(validate::submission(TaskKind::Notification, body.as_bytes(), &ctx()).is_ok());
    let body = json!({"email": "a@b.c", "message": format!("{msg}x")}).to_string();
    assert_eq!(
        errors(TaskKind::Notification, &body)[0].kind,
        "string_too_long"
    );
    let empty = json!({"email": "a@b.c", "message": ""}).to_string();
    assert!(validate::submission(TaskKind::Notification, empty.as_bytes(), &ctx()).is_ok());
}

#[test]
fn emails_must_be_mailboxes() {
    let good = [
        "johndoe@example.com",
        "a.b+c@x-y.example",
        "!#$%&'*+/=?^_`{|}~-@a.b",
        &format!("{}@example.com", "l".repeat(64)),
        &format!("a@{}.com", "d".repeat(248)),
    ];
    for email in good {
        let body = json!({"email": email, "message": ""}).to_string();
        assert!(
            validate::submission(TaskKind::Notification, body.as_bytes(), &ctx()).is_ok(),
            "{email}"
        );
    }
    let bad = [
        "",
        "plain",
        "@example.com",
        "john@",
        "john..doe@example.com",
        ".john@example.com",
        "john.@example.com",
        "jo hn@example.com",
        "jöhn@example.com",
        "john@exa_mple.com",
        "john@example..com",
        "john@example.com.",
        "john@exämple.com",
        "a@b@c.com",
        &format!("{}@example.com", "l".repeat(65)),
        &format!("a@{}.com", "d".repeat(249)),
    ];
    for email in bad {
        let body = json!({"email": email, "message": ""}).to_string();
        let errs = errors(TaskKind::Notification, &body);
        assert_eq!(
            summary(&errs),
            vec![(json!(["body", "email"]), "value_error")],
            "{email}"
        );
        assert!(
            errs[0]
                .msg
                .starts_with("value is not a valid email address: ")
        );
    }
}

#[test]
fn integers_are_strict_and_in_range() {
    for (value, kind) in [
        ("\"500\"", "int_type"),
        ("5.0", "int_type"),
        ("5e2", "int_type"),
        ("true", "int_type"),
        ("-1", "greater_than_equal"),
        ("60001", "less_than_equal"),
        ("18446744073709551615", "less_than_equal"),
        ("-9223372036854775808", "greater_than_equal"),
    ] {
        let body = format!(r#"{{"content": {{}}, "simulate": {{"delay_ms": {value}}}}}"#);
        let errs = errors(TaskKind::File, &body);
        assert_eq!(
            summary(&errs),
            vec![(json!(["body", "simulate", "delay_ms"]), kind)],
            "{value}"
        );
    }
    let ok = validate::submission(
        TaskKind::File,
        br#"{"content": {}, "simulate": {"delay_ms": 60000, "fail_attempts": 10},
             "retry_policy": {"max_attempts": 10, "backoff_ms": 600000, "backoff": "fixed"}}"#,
        &ctx(),
    )
    .unwrap();
    assert_eq!(ok.simulate.fail_attempts, 10);
    assert_eq!(ok.policy.backoff, Backoff::Fixed);
    for (field, value) in [
        ("max_attempts", "0"),
        ("max_attempts", "11"),
        ("backoff_ms", "600001"),
    ] {
        let body = format!(r#"{{"content": {{}}, "retry_policy": {{"{field}": {value}}}}}"#);
        assert_eq!(
            errors(TaskKind::File, &body)[0].loc,
            vec![json!("body"), json!("retry_policy"), json!(field)]
        );
    }
    let errs = errors(
        TaskKind::File,
        r#"{"content": {}, "retry_policy": {"backoff": "linear"}}"#,
    );
    assert_eq!(errs[0].kind, "literal_error");
}

#[test]
fn unknown_fields_are_ignored_at_top_level_and_refused_inside_knobs() {
    assert!(
        validate::submission(TaskKind::File, br#"{"content": {}, "extra": 1}"#, &ctx()).is_ok()
    );
    let errs = errors(
        TaskKind::File,
        r#"{"content": {}, "simulate": {"delay": 5, "fail_attempts": 99}, "retry_policy": {"tries": 2}}"#,
    );
    assert_eq!(
        summary(&errs),
        vec![
            (
                json!(["body", "simulate", "fail_attempts"]),
                "less_than_equal"
            ),
            (json!(["body", "simulate", "delay"]), "extra_forbidden"),
            (json!(["body", "retry_policy", "tries"]), "extra_forbidden"),
        ]
    );
    assert_eq!(
        summary(&errors(
            TaskKind::File,
            r#"{"content": {}, "simulate": [1]}"#
        )),
        vec![(json!(["body", "simulate"]), "model_type")]
    );
}

#[test]
fn malformed_json_is_a_json_invalid_error_at_its_offset() {
    for body in [
        "{",
        "{\"content\": NaN}",
        "{\"content\": {\"x\": Infinity}}",
        "{\"content\": {\"x\": 1e400}}",
        "{\"content\": {\"x\": \"\\ud800\"}}",
        "{\"content\": {}} trailing",
        "\u{feff}{}",
    ] {
        let errs = errors(TaskKind::File, body);
        assert_eq!(errs.len(), 1, "{body}");
        assert_eq!(errs[0].kind, "json_invalid", "{body}");
        assert_eq!(errs[0].loc[0], "body");
        assert!(errs[0].loc[1].as_u64().unwrap() <= body.len() as u64);
    }
    let deep = format!("{{\"content\": {}{}}}", "[".repeat(200), "]".repeat(200));
    assert_eq!(errors(TaskKind::File, &deep)[0].kind, "json_invalid");
}

#[test]
fn an_empty_or_non_object_body_is_refused_whole() {
    for body in ["", "  ", "null"] {
        assert_eq!(
            summary(&errors(TaskKind::File, body)),
            vec![(json!(["body"]), "missing")]
        );
    }
    for body in ["[]", "5", "\"x\""] {
        assert_eq!(
            summary(&errors(TaskKind::File, body)),
            vec![(json!(["body"]), "model_attributes_type")]
        );
    }
}

#[test]
fn content_types_json_or_nothing() {
    for ok in [
        None,
        Some(""),
        Some("application/json"),
        Some("Application/JSON; charset=utf-8"),
        Some("application/vnd.api+json"),
        Some("application/merge-patch+json;q=1"),
    ] {
        assert!(
            validate::content_type_accepted(ok.map(str::as_bytes), b"{}"),
            "{ok:?}"
        );
    }
    for bad in [
        "text/plain",
        "application/xml",
        "application/+json",
        "json",
        "application/jsonx",
        ";",
    ] {
        assert!(
            !validate::content_type_accepted(Some(bad.as_bytes()), b"{}"),
            "{bad}"
        );
    }
}

#[test]
fn no_body_is_never_a_media_type_problem() {
    assert!(validate::content_type_accepted(Some(b"text/plain"), b""));
    assert!(!validate::content_type_accepted(Some(b"text/plain"), b" "));
}

#[test]
fn idempotency_keys_are_visible_ascii() {
    assert_eq!(validate::idempotency_key(b"abc-123").unwrap(), "abc-123");
    assert!(validate::idempotency_key(&[b'k'; 255]).is_ok());
    for bad in [
        &b""[..],
        &[b'k'; 256],
        b"has space",
        b"tab\t",
        "é".as_bytes(),
    ] {
        let errs = validate::idempotency_key(bad).unwrap_err();
        assert_eq!(errs[0].loc, vec![json!("header"), json!("idempotency-key")]);
    }
}

#[test]
fn fingerprints_ignore_spacing_and_key_order_but_not_extras_or_nulls() {
    let fp = |kind, body: &str| validate::fingerprint(kind, body.as_bytes()).unwrap();
    let base = fp(TaskKind::File, r#"{"content": {"a": 1, "b": [1, 2]}}"#);
    assert_eq!(
        base,
        fp(TaskKind::File, r#"{ "content":{"b":[1,2],"a":1} }"#)
    );
    assert_ne!(
        base,
        fp(TaskKind::Report, r#"{"content": {"a": 1, "b": [1, 2]}}"#)
    );
    assert_ne!(
        base,
        fp(TaskKind::File, r#"{"content": {"a": 1, "b": [2, 1]}}"#)
    );
    assert_ne!(
        base,
        fp(
            TaskKind::File,
            r#"{"content": {"a": 1, "b": [1, 2]}, "x": null}"#
        )
    );
    assert_ne!(
        base,
        fp(TaskKind::File, r#"{"content": {"a": 1.0, "b": [1, 2]}}"#)
    );
}

#[test]
fn list_queries_validate_each_parameter() {
    let q = ListQuery::parse("status=failed&type=report&limit=10&other=1").unwrap();
    assert_eq!(
        (q.status, q.kind, q.limit),
        (Some(Status::Failed), Some(TaskKind::Report), 10)
    );
    assert_eq!(ListQuery::parse("").unwrap().limit, 50);
    assert_eq!(ListQuery::parse("limit=200").unwrap().limit, 200);
    for (query, loc, kind) in [
        ("status=done", "status", "enum"),
        ("type=email", "type", "enum"),
        ("limit=0", "limit", "greater_than_equal"),
        ("limit=-5", "limit", "greater_than_equal"),
        ("limit=201", "limit", "less_than_equal"),
        ("limit=99999999999999999999999", "limit", "less_than_equal"),
        ("limit=ten", "limit", "int_parsing"),
        ("limit=5.0", "limit", "int_parsing"),
        ("limit=", "limit", "int_parsing"),
        ("cursor=forged", "cursor", "value_error"),
        ("cursor=", "cursor", "value_error"),
    ] {
        let errs = ListQuery::parse(query).unwrap_err();
        assert_eq!(
            summary(&errs),
            vec![(json!(["query", loc]), kind)],
            "{query}"
        );
    }
    assert_eq!(
        ListQuery::parse("status=%66ailed").unwrap().status,
        Some(Status::Failed)
    );
}
