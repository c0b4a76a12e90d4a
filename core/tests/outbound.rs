//! Outbound HTTP as the engine decides it: which URLs and destinations are
//! accepted, what each request carries (signed as Standard Webhooks says),
//! and what each answer means.

use base64::Engine as _;
use bgtasks_core::outbound::{
    Answer, Destinations, Host, MAX_RESPONSE_BODY, OutboundRequest, Secret, TargetUrl, UrlError,
    callback_request, classify, retry_after_ms, task_request,
};
use bgtasks_core::{
    CallbackEvent, Delivery, HttpMethod, HttpRequestSpec, Millis, Retry, TaskId, WorkOutcome,
};
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

/// 2026-06-26T09:15:02.987Z: not on a whole second, so that the timestamp's
/// rounding shows.
const NOW: Millis = Millis(1_782_465_302_987);
const URL: &str = "https://hooks.example.com/orders";

fn parse(url: &str) -> TargetUrl {
    TargetUrl::parse(url).unwrap_or_else(|e| panic!("{url:?} refused: {e:?}"))
}

fn allows(pattern: &str, url: &str) -> bool {
    Destinations::parse(pattern)
        .unwrap_or_else(|e| panic!("{pattern:?}: {e}"))
        .allows(&parse(url))
}

fn id() -> TaskId {
    TaskId::from_random_bytes([0x5a; 16])
}

fn spec(method: HttpMethod, headers: &[(&str, &str)], body: Option<Value>) -> HttpRequestSpec {
    HttpRequestSpec {
        url: URL.into(),
        method,
        headers: headers
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect(),
        body,
        timeout_ms: 10_000,
    }
}

/// Every value of header `name` (ignoring case), as sent.
fn all(request: &OutboundRequest, name: &str) -> Vec<String> {
    request
        .headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.clone())
        .collect()
}

// ---------------------------------------------------------------------------
// An independent Standard Webhooks signer: HMAC-SHA256 keyed with the
// base64-decoded part of `whsec_...`, over "<id>.<timestamp>.<body>".

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

fn expected_signature(secret: &str, id: &str, timestamp: &str, body: &[u8]) -> String {
    let key = base64::engine::general_purpose::STANDARD
        .decode(secret.strip_prefix("whsec_").expect("whsec_ prefix"))
        .expect("base64 key");
    let mut signed = format!("{id}.{timestamp}.").into_bytes();
    signed.extend_from_slice(body);
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
    mac.update(&signed);
    let tag = mac.finalize().into_bytes();
    format!(
        "v1,{}",
        base64::engine::general_purpose::STANDARD.encode(tag)
    )
}

fn secret() -> Secret {
    Secret::parse(SECRET).unwrap().expect("a key")
}

// ---------------------------------------------------------------------------
// URLs

#[test]
fn absolute_http_and_https_urls_are_accepted_with_the_host_lowercased() {
    let url = parse("https://Hooks.Example.COM/orders?id=42");
    assert_eq!(
        url,
        TargetUrl {
            https: true,
            host: Host::Name("hooks.example.com".into()),
            port: None,
        }
    );
    let url = parse("HTTP://10.1.2.3:8080/x");
    assert_eq!(
        (url.https, url.host, url.port),
        (false, Host::Ipv4([10, 1, 2, 3].into()), Some(8080))
    );
}

#[test]
fn schemes_other_than_http_and_https_are_refused() {
    for url in [
        "ftp://a.example.com/",
        "ws://a.example.com/",
        "wss://a.example.com/",
        "gopher://a.example.com:70/",
    ] {
        assert_eq!(TargetUrl::parse(url), Err(UrlError::Scheme), "{url}");
    }
    for url in [
        "file:///etc/passwd",
        "mailto:a@example.com",
        "data:text/plain,hi",
        "javascript:alert(1)",
    ] {
        assert!(TargetUrl::parse(url).is_err(), "{url}");
    }
}

#[test]
fn relative_urls_and_urls_without_a_host_are_refused() {
    for url in [
        "",
        "/orders",
        "hooks.example.com",
        "hooks.example.com:80",
        "http://",
        "http:///orders",
        "https://:443/",
        "https://?x",
    ] {
        assert!(
            matches!(TargetUrl::parse(url), Err(UrlError::Invalid(_))),
            "{url:?} gave {:?}",
            TargetUrl::parse(url)
        );
    }
}

#[test]
fn a_user_name_or_password_in_the_url_is_refused() {
    for url in [
        "http://user:pass@a.example.com/",
        "https://user@a.example.com/",
        "https://:pass@a.example.com/",
    ] {
        let Err(UrlError::Invalid(why)) = TargetUrl::parse(url) else {
            panic!("{url} accepted");
        };
        assert!(why.contains("user name or password"), "{why}");
    }
}

#[test]
fn ipv6_literals_are_refused() {
    for url in [
        "http://[::1]/",
        "https://[2001:db8::1]:8443/x",
        "http://[::ffff:127.0.0.1]/",
    ] {
        let Err(UrlError::Invalid(why)) = TargetUrl::parse(url) else {
            panic!("{url} accepted");
        };
        assert!(why.contains("IPv6"), "{why}");
    }
}

#[test]
fn a_host_that_looks_numeric_must_be_a_dotted_ipv4_address() {
    // URL parsers read these as (other) IPv4 addresses, or refuse them:
    // the check must not read them as names.
    for url in [
        "http://127.1/",
        "http://1.2.3/",
        "http://1.2.3.4.5/",
        "http://999.1.1.1/",
        "http://example.123/",
        "http://0177.0.0.1/",
        "http://1.2.3.4./",
    ] {
        assert!(
            matches!(TargetUrl::parse(url), Err(UrlError::Invalid(_))),
            "{url} gave {:?}",
            TargetUrl::parse(url)
        );
    }
    assert_eq!(
        parse("http://127.0.0.1/").host,
        Host::Ipv4([127, 0, 0, 1].into())
    );
}

#[test]

fn a_host_whose_last_label_is_a_hex_number_is_not_taken_for_a_name() {
    // WHATWG's "ends in a number" also counts 0x-prefixed labels: the `url`
    // crate (Spin's) reads 0x7f000001 as 127.0.0.1 and refuses foo.0x10.
    for url in [
        "http://0x7f000001/",
        "http://foo.0x10/",
        "http://0X7F.0.0.1/",
    ] {
        assert!(
            !matches!(
                TargetUrl::parse(url),
                Ok(TargetUrl {
                    host: Host::Name(_),
                    ..
                })
            ),
            "{url} gave {:?}",
            TargetUrl::parse(url)
        );
    }
}

#[test]

fn empty_host_labels_are_refused_even_before_a_trailing_dot() {
    for url in [
        "http://./",
        "http://../",
        "http://a..example.com./",
        "http://.example.com./",
    ] {
        assert!(
            TargetUrl::parse(url).is_err(),
            "{url} gave {:?}",
            TargetUrl::parse(url)
        );
    }
    // The one trailing dot of a fully qualified name is fine.
    assert_eq!(
        parse("http://a.example.com./").host,
        Host::Name("a.example.com".into())
    );
}

#[test]
fn a_default_port_is_normalized_away_and_any_other_is_kept() {
    assert_eq!(parse("http://a.example.com:80/").port, None);
    assert_eq!(parse("https://a.example.com:443/").port, None);
    assert_eq!(parse("http://a.example.com:443/").port, Some(443));
    assert_eq!(parse("https://a.example.com:80/").port, Some(80));
    assert_eq!(parse("https://a.example.com:65535/").port, Some(65535));
    assert_eq!(
        parse("https://a.example.com:80/"),
        parse("https://A.example.com:80/x")
    );
}

#[test]

fn a_port_that_is_not_a_number_up_to_65535_is_refused() {
    // `http::Authority::port()` gives None for a port it cannot parse, so
    // the URL passes as if it named none: the destination check then sees
    // port 80 while the request goes to a URL no client can open.
    for url in [
        "http://a.example.com:65536/",
        "http://a.example.com:99999/",
        "http://a.example.com:8o/",
        "http://a.example.com:-1/",
        "http://a.example.com:+80/",
        "http://a.example.com:99999999999999999999/",
    ] {
        assert!(
            TargetUrl::parse(url).is_err(),
            "{url} gave {:?}",
            TargetUrl::parse(url)
        );
    }
    // So a pattern for port 80 only lets a port beyond 65535 through.
    let port_80 = Destinations::parse("http://a.example.com").unwrap();
    if let Ok(url) = TargetUrl::parse("http://a.example.com:65616/") {
        assert!(!port_80.allows(&url));
    }
}

// ---------------------------------------------------------------------------
// Destinations

#[test]
fn a_subdomain_wildcard_matches_subdomains_on_its_scheme_and_default_port_only() {
    let pattern = "https://*.example.com";
    assert!(allows(pattern, "https://a.example.com/x"));
    assert!(allows(pattern, "https://a.b.example.com/"));
    assert!(allows(pattern, "https://A.Example.com:443/"));
    for refused in [
        "https://example.com/",
        "http://a.example.com/",
        "https://a.example.com:8443/",
        "https://notexample.com/",
        "https://a.example.com.evil.com/",
        "https://a.example.org/",
    ] {
        assert!(!allows(pattern, refused), "{refused}");
    }
}

#[test]
fn an_ipv4_address_with_any_port_matches_that_address_only() {
    let pattern = "http://127.0.0.1:*";
    for url in [
        "http://127.0.0.1/",
        "http://127.0.0.1:1/",
        "http://127.0.0.1:8080/x",
        "http://127.0.0.1:65535/",
    ] {
        assert!(allows(pattern, url), "{url}");
    }
    for url in [
        "https://127.0.0.1:8080/",
        "http://127.0.0.2:8080/",
        "http://localhost:8080/",
        "http://10.127.0.0/",
    ] {
        assert!(!allows(pattern, url), "{url}");
    }
}

#[test]
fn any_scheme_any_host_any_port_matches_everything() {
    for url in [
        "http://a.example.com/",
        "https://10.0.0.1:9/",
        "http://localhost:65535/",
        "https://x/",
    ] {
        assert!(allows("*://*:*", url), "{url}");
    }
}

#[test]
fn a_port_range_includes_its_start_and_excludes_its_end() {
    let pattern = "http://localhost:8000..8100";
    assert!(allows(pattern, "http://localhost:8000/"));
    assert!(allows(pattern, "http://localhost:8099/"));
    assert!(!allows(pattern, "http://localhost:8100/"));
    assert!(!allows(pattern, "http://localhost:7999/"));
    assert!(!allows(pattern, "http://localhost/"), "port 80 is outside");
    assert!(!allows(pattern, "https://localhost:8050/"));
}

#[test]
fn a_cidr_range_matches_the_ipv4_addresses_inside_it() {
    let pattern = "http://10.0.0.0/8:*";
    assert!(allows(pattern, "http://10.0.0.1/"));
    assert!(allows(pattern, "http://10.255.255.255:9000/"));
    assert!(!allows(pattern, "http://11.0.0.1/"));
    assert!(!allows(pattern, "http://9.255.255.255/"));
    assert!(
        !allows(pattern, "http://ten.example.com/"),
        "names are not in a CIDR range"
    );
    // Without a port, the scheme's default port.
    assert!(allows("http://192.168.1.0/24", "http://192.168.1.77/"));
    assert!(!allows(
        "http://192.168.1.0/24",
        "http://192.168.1.77:8080/"
    ));
    assert!(!allows("http://192.168.1.0/24", "http://192.168.2.1/"));
}

#[test]
fn an_empty_pattern_permits_nothing() {
    for empty in ["", "   "] {
        let none = Destinations::parse(empty).unwrap();
        assert_eq!(none, Destinations::none());
        assert_eq!(none.pattern(), None);
        assert!(!none.allows(&parse("https://a.example.com/")));
        assert!(!none.allows(&parse("http://127.0.0.1/")));
    }
}

#[test]
fn a_pattern_is_kept_as_configured() {
    let d = Destinations::parse("https://*.example.com").unwrap();
    assert_eq!(d.pattern(), Some("https://*.example.com"));
}

#[test]
fn invalid_patterns_are_errors_that_quote_the_pattern() {
    for bad in [
        "example.com",
        "https://ex*ample.com",
        "https://*.*.example.com",
        "https://a.example.com:abc",
        "https://a.example.com:99999",
        "https://a.example.com:8000..x",
        "http://10.0.0.0/33",
        "http://10.0.0/8",
        "ftp://a.example.com",
        "*://a.example.com",
        "https://example.com/path",
        "http://[::1]:80",
    ] {
        let error = Destinations::parse(bad).expect_err(bad);
        assert!(error.contains(bad), "{error}");
    }
}

// ---------------------------------------------------------------------------
// Requests

#[test]
fn every_request_carries_the_service_and_standard_webhooks_headers() {
    let s = spec(
        HttpMethod::Post,
        &[],
        Some(json!({"order": 42, "items": [1, 2]})),
    );
    let request = task_request(&s, id(), 3, NOW, None);
    assert_eq!(request.method, HttpMethod::Post);
    assert_eq!(request.url, URL);
    assert_eq!(
        request.header("user-agent"),
        Some(concat!("bgtasks/", env!("CARGO_PKG_VERSION")))
    );
    assert_eq!(request.header("content-type"), Some("application/json"));
    assert_eq!(request.header("bgtasks-attempt"), Some("3"));
    assert_eq!(
        request.header("webhook-id"),
        Some(id().to_string().as_str())
    );
    // Unix seconds of `now`, rounded down.
    assert_eq!(request.header("webhook-timestamp"), Some("1782465302"));
    assert_eq!(
        request.header("webhook-signature"),
        None,
        "no secret, no signature"
    );
    assert_eq!(request.body, br#"{"order":42,"items":[1,2]}"#);
}

#[test]
fn the_tasks_own_headers_are_sent_as_given_and_replace_user_agent_and_content_type() {
    let s = spec(
        HttpMethod::Put,
        &[
            ("X-Order", "42"),
            ("User-Agent", "shop/2.0"),
            ("Content-Type", "application/vnd.shop+json"),
        ],
        Some(json!({"a": 1})),
    );
    let request = task_request(&s, id(), 1, NOW, None);
    assert_eq!(request.method, HttpMethod::Put);
    assert_eq!(all(&request, "user-agent"), ["shop/2.0"]);
    assert_eq!(all(&request, "content-type"), ["application/vnd.shop+json"]);
    assert!(
        request.headers.contains(&("X-Order".into(), "42".into())),
        "the name as given: {:?}",
        request.headers
    );
    assert_eq!(request.body, br#"{"a":1}"#);
}

#[test]
fn without_a_body_nothing_is_sent_and_no_content_type_claimed() {
    let request = task_request(&spec(HttpMethod::Get, &[], None), id(), 1, NOW, None);
    assert_eq!(request.method, HttpMethod::Get);
    assert!(request.body.is_empty());
    assert_eq!(request.header("content-type"), None);
    assert!(request.header("user-agent").is_some());
}

#[test]
fn a_string_body_goes_raw_only_under_a_content_type_that_is_not_json() {
    let body = Some(json!("order=42&note=\"hi\""));
    let raw = task_request(
        &spec(
            HttpMethod::Post,
            &[("content-type", "text/plain; charset=utf-8")],
            body.clone(),
        ),
        id(),
        1,
        NOW,
        None,
    );
    assert_eq!(raw.body, br#"order=42&note="hi""#);
    assert_eq!(all(&raw, "content-type"), ["text/plain; charset=utf-8"]);

    // No content-type, or a JSON one (any case, parameters, +json): JSON.
    for headers in [
        &[][..],
        &[("Content-Type", "Application/JSON; charset=utf-8")][..],
        &[("content-type", "application/problem+json")][..],
    ] {
        let request = task_request(
            &spec(HttpMethod::Post, headers, body.clone()),
            id(),
            1,
            NOW,
            None,
        );
        assert_eq!(request.body, br#""order=42&note=\"hi\"""#, "{headers:?}");
    }
}

#[test]
fn a_body_that_is_not_a_string_is_json_whatever_the_content_type() {
    for (body, sent) in [
        (json!({"a": [1, "b"]}), &br#"{"a":[1,"b"]}"#[..]),
        (json!(5), b"5"),
        (json!(true), b"true"),
        (json!([]), b"[]"),
    ] {
        let request = task_request(
            &spec(
                HttpMethod::Patch,
                &[("Content-Type", "text/plain")],
                Some(body),
            ),
            id(),
            1,
            NOW,
            None,
        );
        assert_eq!(request.body, sent);
        assert_eq!(all(&request, "content-type"), ["text/plain"]);
    }
}

#[test]
fn the_independent_signer_reproduces_the_published_standard_webhooks_vector() {
    // The vector of the Standard Webhooks reference libraries: if this
    // holds, the helper the next tests compare against is right.
    let published = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";
    let body = br#"{"test": 2432232314}"#;
    assert_eq!(
        expected_signature(SECRET, "msg_p5jXN8AQM9LWM0D4loKWxJek", "1614265330", body),
        published
    );
    assert_eq!(
        secret().sign("msg_p5jXN8AQM9LWM0D4loKWxJek", 1_614_265_330, body),
        published
    );
}

#[test]
fn with_a_secret_each_request_is_signed_over_id_timestamp_and_body() {
    let s = spec(
        HttpMethod::Post,
        &[("content-type", "text/plain")],
        Some(json!("raw text")),
    );
    let request = task_request(&s, id(), 2, NOW, Some(&secret()));
    let webhook_id = id().to_string();
    assert_eq!(
        request.header("webhook-signature"),
        Some(expected_signature(SECRET, &webhook_id, "1782465302", b"raw text").as_str())
    );
    // Another attempt, a second later: same id, new timestamp and signature.
    let later = task_request(&s, id(), 3, NOW.plus(1000), Some(&secret()));
    assert_eq!(later.header("webhook-id"), Some(webhook_id.as_str()));
    assert_eq!(later.header("webhook-timestamp"), Some("1782465303"));
    assert_eq!(
        later.header("webhook-signature"),
        Some(expected_signature(SECRET, &webhook_id, "1782465303", b"raw text").as_str())
    );
    assert_ne!(
        later.header("webhook-signature"),
        request.header("webhook-signature")
    );
}

#[test]
fn a_secret_is_whsec_base64_an_empty_one_signs_nothing_and_it_never_prints() {
    assert!(Secret::parse("").unwrap().is_none());
    assert!(Secret::parse("  ").unwrap().is_none());
    assert!(Secret::parse("whsec_not base64!").is_err());
    let printed = format!("{:?}", secret());
    assert!(!printed.contains("MfKQ"), "{printed}");
}

#[test]

fn a_secret_with_an_empty_key_is_refused() {
    for empty_key in ["whsec_", "whsec_  "] {
        assert!(
            Secret::parse(empty_key).is_err(),
            "{empty_key:?} would sign with a key everyone knows"
        );
    }
}

#[test]
fn a_callback_is_a_signed_post_of_the_status_body_with_its_event() {
    let webhook_id = format!("{}.2", id());
    let payload = r#"{"id":"x","status":"failed"}"#;
    let delivery = Delivery {
        event: CallbackEvent::Failed,
        webhook_id: webhook_id.clone(),
        payload: payload.into(),
        due: NOW,
        lease: None,
    };
    let url = "https://cb.example.com/done";
    let request = callback_request(url, &delivery, 4, NOW, Some(&secret()));
    assert_eq!(request.method, HttpMethod::Post);
    assert_eq!(request.url, url);
    assert_eq!(request.body, payload.as_bytes());
    assert_eq!(request.header("content-type"), Some("application/json"));
    assert_eq!(
        request.header("user-agent"),
        Some(concat!("bgtasks/", env!("CARGO_PKG_VERSION")))
    );
    assert_eq!(request.header("bgtasks-event"), Some("task.failed"));
    assert_eq!(request.header("bgtasks-attempt"), Some("4"));
    assert_eq!(request.header("webhook-id"), Some(webhook_id.as_str()));
    assert_eq!(request.header("webhook-timestamp"), Some("1782465302"));
    assert_eq!(
        request.header("webhook-signature"),
        Some(expected_signature(SECRET, &webhook_id, "1782465302", payload.as_bytes()).as_str())
    );

    let succeeded = Delivery {
        event: CallbackEvent::Succeeded,
        ..delivery
    };
    let request = callback_request(url, &succeeded, 1, NOW, None);
    assert_eq!(request.header("bgtasks-event"), Some("task.succeeded"));
    assert_eq!(request.header("webhook-signature"), None);
}

// ---------------------------------------------------------------------------
// Answers

fn answer(status: u16, retry_after: Option<&str>, body: &[u8]) -> WorkOutcome {
    classify(
        URL,
        10_000,
        Answer::Response {
            status,
            retry_after,
            body,
            duration_ms: 84,
        },
        NOW,
    )
}

fn retry_of(outcome: &WorkOutcome) -> Retry {
    match outcome {
        WorkOutcome::Failure { retry, .. } => *retry,
        other => panic!("not a failure: {other:?}"),
    }
}

fn response_body(outcome: WorkOutcome) -> String {
    let WorkOutcome::Delivered { result, .. } = outcome else {
        panic!("not delivered: {outcome:?}");
    };
    result["response_body"].as_str().unwrap().to_owned()
}

#[test]
fn a_2xx_answer_is_delivered_with_its_status_body_and_duration() {
    for status in [200, 201, 204, 299] {
        assert_eq!(
            answer(status, None, b"thanks"),
            WorkOutcome::Delivered {
                status_code: status,
                result: json!({
                    "message": "Delivered",
                    "status_code": status,
                    "response_body": "thanks",
                    "duration_ms": 84,
                }),
            }
        );
    }
}

#[test]
fn the_response_body_keeps_its_first_4096_bytes() {
    let long = "a".repeat(5000);
    assert_eq!(
        response_body(answer(200, None, long.as_bytes())),
        "a".repeat(MAX_RESPONSE_BODY)
    );
    let exact = "é".repeat(2048);
    assert_eq!(response_body(answer(200, None, exact.as_bytes())), exact);
}

#[test]
fn a_cut_inside_a_multi_byte_character_ends_in_exactly_one_replacement_character() {
    // "€" is 3 bytes, "😀" 4: cut after 1, 2 or 3 of their bytes.
    for (kept, character) in [
        (4095, "€"),
        (4094, "€"),
        (4095, "😀"),
        (4094, "😀"),
        (4093, "😀"),
    ] {
        let body = format!("{}{character}tail", "a".repeat(kept));
        let got = response_body(answer(200, None, body.as_bytes()));
        assert_eq!(
            got,
            format!("{}\u{FFFD}", "a".repeat(kept)),
            "{kept} + {character}"
        );
    }
    // A character that ends exactly at the cut is kept whole.
    let body = format!("{}€€", "a".repeat(4093));
    assert_eq!(
        response_body(answer(200, None, body.as_bytes())),
        format!("{}€", "a".repeat(4093))
    );
}

#[test]
fn timeouts_and_408_425_429_and_5xx_are_retried_as_the_policy_says() {
    for status in [408, 425, 429, 500, 502, 503, 504, 599] {
        assert_eq!(
            answer(status, None, b"busy"),
            WorkOutcome::Failure {
                error: format!("HTTP {status} from {URL}"),
                status_code: Some(status),
                retry: Retry::Policy,
            }
        );
    }
}

#[test]
fn retry_after_counts_on_429_and_503_only() {
    assert_eq!(
        retry_of(&answer(429, Some("5"), b"")),
        Retry::NotBefore(5_000)
    );
    assert_eq!(
        retry_of(&answer(503, Some(" 120 "), b"")),
        Retry::NotBefore(120_000)
    );
    for status in [408, 425, 500, 502, 504] {
        assert_eq!(
            retry_of(&answer(status, Some("5"), b"")),
            Retry::Policy,
            "{status}"
        );
    }
    // On a final answer it changes nothing either.
    assert_eq!(retry_of(&answer(400, Some("5"), b"")), Retry::Never);
}

#[test]
fn retry_after_may_be_an_http_date() {
    // Wed, 21 Oct 2015 07:28:00 GMT is 1445412480 s.
    let now = Millis(1_445_412_480_000 - 30_000);
    let outcome = classify(
        URL,
        10_000,
        Answer::Response {
            status: 503,
            retry_after: Some("Wed, 21 Oct 2015 07:28:00 GMT"),
            body: b"",
            duration_ms: 1,
        },
        now,
    );
    assert_eq!(retry_of(&outcome), Retry::NotBefore(30_000));
    // A date already past means: no wait beyond the policy's.
    assert_eq!(
        retry_after_ms("Wed, 21 Oct 2015 07:28:00 GMT", now.plus(60_000)),
        Some(0)
    );
}

#[test]
fn retry_after_is_capped_at_one_hour() {
    assert_eq!(
        retry_of(&answer(429, Some("7200"), b"")),
        Retry::NotBefore(3_600_000)
    );
    assert_eq!(
        retry_of(&answer(429, Some("3600"), b"")),
        Retry::NotBefore(3_600_000)
    );
    assert_eq!(
        retry_of(&answer(503, Some("99999999999999999999999999"), b"")),
        Retry::NotBefore(3_600_000)
    );
    let in_two_hours = Millis(1_445_412_480_000 - 7_200_000);
    assert_eq!(
        retry_after_ms("Wed, 21 Oct 2015 07:28:00 GMT", in_two_hours),
        Some(3_600_000)
    );
}

#[test]
fn an_unreadable_retry_after_changes_nothing() {
    for value in ["soon", "", "-5", "1.5", "Tomorrow 10:00"] {
        assert_eq!(
            retry_of(&answer(429, Some(value), b"")),
            Retry::Policy,
            "{value:?}"
        );
    }
}

#[test]
fn other_4xx_and_3xx_answers_are_final() {
    for status in [
        300, 301, 302, 303, 304, 307, 308, 400, 401, 403, 404, 405, 409, 410, 413, 422, 451,
    ] {
        let outcome = answer(status, None, b"");
        assert_eq!(retry_of(&outcome), Retry::Never, "{status}");
        let WorkOutcome::Failure {
            error, status_code, ..
        } = outcome
        else {
            unreachable!()
        };
        assert_eq!(error, format!("HTTP {status} from {URL}"));
        assert_eq!(status_code, Some(status));
    }
}

#[test]
fn transport_failures_name_their_cause_exactly() {
    let failure = |error: &str, retry| WorkOutcome::Failure {
        error: error.into(),
        status_code: None,
        retry,
    };
    assert_eq!(
        classify(URL, 2500, Answer::TimedOut, NOW),
        failure("timed out after 2500 ms", Retry::Policy)
    );
    assert_eq!(
        classify(URL, 2500, Answer::Refused, NOW),
        failure("connection refused", Retry::Policy)
    );
    assert_eq!(
        classify(URL, 2500, Answer::NotAllowed, NOW),
        failure("destination not allowed", Retry::Never)
    );
    assert_eq!(
        classify(
            URL,
            2500,
            Answer::Transport("dns lookup failed".into()),
            NOW
        ),
        failure("dns lookup failed", Retry::Policy)
    );
}

#[test]
fn the_error_quotes_the_url_as_submitted() {
    let url = "HTTPS://Hooks.Example.com:443/a?b=c";
    let WorkOutcome::Failure { error, .. } = classify(
        url,
        1000,
        Answer::Response {
            status: 503,
            retry_after: None,
            body: b"",
            duration_ms: 1,
        },
        NOW,
    ) else {
        panic!()
    };
    assert_eq!(error, format!("HTTP 503 from {url}"));
}
