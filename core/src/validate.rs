//! Every rule of the contract about outside input, each in one place.
//!
//! Errors come out in FastAPI's validation shape (`type`, `loc`, `msg`,
//! `input`, `ctx`) so clients of the original service read them unchanged.

use serde::Serialize;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use crate::outbound::{self, Destinations, TargetUrl, UrlError};
use crate::spec::{
    Backoff, HttpMethod, HttpRequestSpec, RetryPolicy, Simulate, Submission, TaskKind, TaskSpec,
};
use crate::time::Millis;

/// Largest request body accepted, in bytes; one more is a 413.
pub const MAX_BODY_BYTES: usize = 65_536;

/// One entry of a 422's `detail` list.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FieldError {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub loc: Vec<Value>,
    pub msg: String,
    pub input: Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ctx: Option<Value>,
}

impl FieldError {
    fn new(kind: &'static str, loc: &Loc<'_>, msg: impl Into<String>, input: &Value) -> Self {
        FieldError {
            kind,
            loc: loc.path(),
            msg: msg.into(),
            input: input.clone(),
            ctx: None,
        }
    }

    fn with_ctx(mut self, ctx: Value) -> Self {
        self.ctx = Some(ctx);
        self
    }
}

/// A location in the request, e.g. `["body", "simulate", "delay_ms"]`.
#[derive(Clone, Copy)]
struct Loc<'a> {
    parent: Option<&'a Loc<'a>>,
    part: &'a str,
}

impl<'a> Loc<'a> {
    fn root(part: &'a str) -> Self {
        Loc { parent: None, part }
    }

    fn child(&'a self, part: &'a str) -> Loc<'a> {
        Loc {
            parent: Some(self),
            part,
        }
    }

    fn path(self) -> Vec<Value> {
        let mut parts = match self.parent {
            Some(parent) => parent.path(),
            None => Vec::new(),
        };
        parts.push(Value::from(self.part));
        parts
    }
}

// ---------------------------------------------------------------------------
// Transport-level rules

/// Whether a submit route accepts `body` under this `content-type`: a body
/// is refused (415) unless its type is missing or empty, `application/json`
/// or `application/<name>+json` (any case, parameters allowed). No body at
/// all is never a 415: it is a 422 for the missing body.
pub fn content_type_accepted(content_type: Option<&[u8]>, body: &[u8]) -> bool {
    if body.is_empty() {
        return true;
    }
    let Some(raw) = content_type else { return true };
    let Ok(text) = std::str::from_utf8(raw) else {
        return false;
    };
    let essence = text.split(';').next().unwrap_or("").trim();
    if essence.is_empty() {
        return text.trim().is_empty();
    }
    let essence = essence.to_ascii_lowercase();
    let Some(subtype) = essence.strip_prefix("application/") else {
        return false;
    };
    subtype == "json"
        || subtype
            .strip_suffix("+json")
            .is_some_and(|name| !name.is_empty() && name.bytes().all(is_token_byte))
}

fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$&-^_.+".contains(&b)
}

/// The `Idempotency-Key` header: 1 to 255 visible ASCII characters.
pub fn idempotency_key(raw: &[u8]) -> Result<&str, Vec<FieldError>> {
    if (1..=255).contains(&raw.len()) && raw.iter().all(|b| (0x21..=0x7e).contains(b)) {
        // Visible ASCII is valid UTF-8.
        if let Ok(key) = std::str::from_utf8(raw) {
            return Ok(key);
        }
    }
    let input = Value::from(String::from_utf8_lossy(raw).into_owned());
    Err(vec![
        FieldError::new(
            "value_error",
            &Loc::root("header").child("idempotency-key"),
            "Value error, Idempotency-Key must be 1 to 255 visible ASCII characters",
            &input,
        )
        .with_ctx(json!({"error": {}})),
    ])
}

// ---------------------------------------------------------------------------
// Submit requests

/// A submit request that passed every check.
#[derive(Debug)]
pub struct AcceptedSubmit<'a> {
    pub submission: Submission,
    /// The `Idempotency-Key` and the request's fingerprint, when a key was
    /// sent.
    pub idempotency: Option<(&'a str, [u8; 32])>,
}

/// Checks a whole submit request in the contract's order: size first (413),
/// then the header and body together (one 422 listing every error). The
/// content type (415) is the shell's to check first, from its headers.
pub fn submit<'a>(
    kind: TaskKind,
    body: &[u8],
    idempotency_key: Option<&'a [u8]>,
    context: &Context<'_>,
) -> Result<AcceptedSubmit<'a>, crate::Problem> {
    if body.len() > MAX_BODY_BYTES {
        return Err(crate::Problem::TooLarge);
    }
    let key = idempotency_key.map(self::idempotency_key).transpose();
    // Parsed once: the fingerprint is taken from the same value.
    let parsed = parse_body(body);
    let print = match (&key, &parsed) {
        (Ok(Some(_)), Ok(value)) => Some(fingerprint_value(kind, value)),
        _ => None,
    };
    match (
        key,
        parsed.and_then(|value| submission_from(kind, value, context)),
    ) {
        (Ok(key), Ok(submission)) => Ok(AcceptedSubmit {
            submission,
            idempotency: key.zip(print),
        }),
        (key, submission) => {
            let mut errors = key.err().unwrap_or_default();
            errors.extend(submission.err().unwrap_or_default());
            Err(crate::Problem::Invalid(errors))
        }
    }
}

// ---------------------------------------------------------------------------
// Submit bodies

/// Turns a submit body into a [`Submission`], or into every error it holds,
/// in field order. `body` is what the client sent, at most
/// [`MAX_BODY_BYTES`] (the shell enforces the size first).
pub fn submission(
    kind: TaskKind,
    body: &[u8],
    context: &Context<'_>,
) -> Result<Submission, Vec<FieldError>> {
    submission_from(kind, parse_body(body)?, context)
}

/// What checking a submit needs besides the request: the time (for
/// `run_in_ms` and `run_at`) and the permitted destinations (for `url` and
/// `callback_url`).
#[derive(Clone, Copy, Debug)]
pub struct Context<'a> {
    pub now: Millis,
    pub destinations: &'a Destinations,
}

fn submission_from(
    kind: TaskKind,
    value: Value,
    context: &Context<'_>,
) -> Result<Submission, Vec<FieldError>> {
    let root = Loc::root("body");
    let Value::Object(obj) = value else {
        return Err(vec![FieldError::new(
            "model_attributes_type",
            &root,
            "Input should be a valid dictionary or object to extract fields from",
            &value,
        )]);
    };
    let mut errors = Vec::new();
    let spec = match kind {
        TaskKind::Notification => {
            let email = required(&obj, &root, "email", &mut errors, |v, loc| {
                one(email(v, loc))
            });
            let message = required(&obj, &root, "message", &mut errors, |v, loc| {
                one(string(v, loc, 0, 10_000))
            });
            email
                .zip(message)
                .map(|(email, message)| TaskSpec::Notification { email, message })
        }
        TaskKind::Report => {
            let name = required(&obj, &root, "name", &mut errors, |v, loc| {
                one(string(v, loc, 1, 200))
            });
            let details = optional(&obj, &root, "details", &mut errors, |v, loc| {
                one(object(v, loc))
            });
            name.zip(details).map(|(name, details)| TaskSpec::Report {
                name,
                details: details.unwrap_or_default(),
            })
        }
        TaskKind::File => required(&obj, &root, "content", &mut errors, |v, loc| {
            one(object(v, loc))
        })
        .map(|content| TaskSpec::File { content }),
        TaskKind::Http => http_request(&obj, &root, context, &mut errors).map(TaskSpec::Http),
    };
    let simulate = if kind == TaskKind::Http {
        // Real work has nothing to simulate.
        if let Some(value) = obj.get("simulate").filter(|v| !v.is_null()) {
            errors.push(FieldError::new(
                "value_error",
                &root.child("simulate"),
                "Value error, simulate is not allowed for http tasks",
                value,
            ));
        }
        Some(None)
    } else {
        optional(&obj, &root, "simulate", &mut errors, |v, loc| {
            simulate(kind, v, loc)
        })
    };
    let policy = optional(&obj, &root, "retry_policy", &mut errors, |v, loc| {
        retry_policy(v, loc, RetryPolicy::default_for(kind))
    });
    let callback_url = optional(&obj, &root, "callback_url", &mut errors, |v, loc| {
        one(url(v, loc, context.destinations))
    });
    let start_at = schedule(&obj, &root, context.now, &mut errors);
    match (spec, simulate, policy, callback_url) {
        (Some(spec), Some(simulate), Some(policy), Some(callback_url)) if errors.is_empty() => {
            Ok(Submission {
                spec,
                simulate: simulate.unwrap_or(Simulate {
                    delay_ms: kind.default_delay_ms(),
                    fail_attempts: 0,
                }),
                policy: policy.unwrap_or(RetryPolicy::default_for(kind)),
                start_at,
                callback_url,
            })
        }
        _ => Err(errors),
    }
}

/// The longest `run_in_ms`, and how far ahead `run_at` may be: 30 days.
pub const MAX_SCHEDULE_MS: u64 = 2_592_000_000;

/// `run_at` or `run_in_ms`, resolved to a time; `None` for at once (or
/// when either is invalid, with the error recorded).
fn schedule(
    obj: &Map<String, Value>,
    root: &Loc<'_>,
    now: Millis,
    errors: &mut Vec<FieldError>,
) -> Option<Millis> {
    let at = optional(obj, root, "run_at", errors, |v, loc| {
        one(run_at(v, loc, now))
    });
    let after = optional(obj, root, "run_in_ms", errors, |v, loc| {
        one(integer(v, loc, 0, MAX_SCHEDULE_MS))
    });
    match (at, after) {
        (Some(Some(_)), Some(Some(_))) => {
            errors.push(FieldError::new(
                "value_error",
                root,
                "Value error, give run_at or run_in_ms, not both",
                &Value::Object(obj.clone()),
            ));
            None
        }
        (Some(Some(at)), _) => Some(at),
        (_, Some(Some(ms))) => Some(now.plus(ms)),
        _ => None,
    }
}

/// An RFC 3339 time with an offset, at most 30 days after `now`; a past
/// time means now.
fn run_at(value: &Value, loc: &Loc<'_>, now: Millis) -> Result<Millis, FieldError> {
    let Value::String(text) = value else {
        return Err(FieldError::new(
            "datetime_type",
            loc,
            "Input should be a valid datetime",
            value,
        ));
    };
    let parsed = time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .map_err(|e| {
            FieldError::new(
                "datetime_parsing",
                loc,
                format!("Input should be a valid datetime, {e}"),
                value,
            )
        })?;
    let ms = parsed.unix_timestamp_nanos() / 1_000_000;
    let at = Millis(u64::try_from(ms).unwrap_or(0));
    if at.since(now) > MAX_SCHEDULE_MS {
        return Err(FieldError::new(
            "value_error",
            loc,
            "Value error, run_at is more than 30 days ahead",
            value,
        )
        .with_ctx(json!({"error": {}})));
    }
    Ok(at.max(now))
}

/// An absolute `http`/`https` URL of at most 2,048 characters, with a host
/// and no `user:password@`, to a permitted destination.
fn url(value: &Value, loc: &Loc<'_>, destinations: &Destinations) -> Result<String, FieldError> {
    let text = string(value, loc, 1, outbound::MAX_URL_CHARS)?;
    let target = TargetUrl::parse(&text).map_err(|e| match e {
        UrlError::Scheme => FieldError::new(
            "url_scheme",
            loc,
            "URL scheme should be 'http' or 'https'",
            value,
        )
        .with_ctx(json!({"expected_schemes": "'http' or 'https'"})),
        UrlError::Invalid(why) => FieldError::new(
            "url_parsing",
            loc,
            format!("Input should be a valid URL, {why}"),
            value,
        )
        .with_ctx(json!({"error": why})),
    })?;
    if !destinations.allows(&target) {
        let msg = match destinations.pattern() {
            None => "URL is not a permitted destination: none is permitted until the \
                     http_destinations variable names one (e.g. \
                     SPIN_VARIABLE_HTTP_DESTINATIONS='https://*.example.com')"
                .to_owned(),
            Some(pattern) => {
                format!("URL is not a permitted destination: http_destinations permits {pattern}")
            }
        };
        return Err(FieldError::new("url_not_allowed", loc, msg, value));
    }
    Ok(text)
}

/// At most this many headers on an `http` task.
pub const MAX_HEADERS: usize = 32;
/// The longest header value, in characters.
pub const MAX_HEADER_VALUE: usize = 4096;
/// Header names a task may not set: the transport's, and the service's own.
const RESERVED_HEADERS: &[&str] = &["host", "content-length", "transfer-encoding", "connection"];

/// The fields of an `http` task's request.
fn http_request(
    obj: &Map<String, Value>,
    root: &Loc<'_>,
    context: &Context<'_>,
    errors: &mut Vec<FieldError>,
) -> Option<HttpRequestSpec> {
    let url = required(obj, root, "url", errors, |v, loc| {
        one(url(v, loc, context.destinations))
    });
    let method = optional(obj, root, "method", errors, |v, loc| one(method(v, loc)));
    let headers = optional(obj, root, "headers", errors, headers);
    let body = obj.get("body").filter(|v| !v.is_null()).cloned();
    let timeout = optional(obj, root, "timeout_ms", errors, |v, loc| {
        one(integer(v, loc, 100, 60_000))
    });
    let method = method?.unwrap_or(HttpMethod::Post);
    if method == HttpMethod::Get
        && let Some(value) = &body
    {
        errors.push(FieldError::new(
            "value_error",
            &root.child("body"),
            "Value error, a GET request has no body",
            value,
        ));
    }
    Some(HttpRequestSpec {
        url: url?,
        method,
        headers: headers?.unwrap_or_default(),
        body,
        timeout_ms: timeout?.unwrap_or(10_000),
    })
}

fn method(value: &Value, loc: &Loc<'_>) -> Result<HttpMethod, FieldError> {
    HttpMethod::ALL
        .into_iter()
        .find(|m| value.as_str() == Some(m.as_str()))
        .ok_or_else(|| {
            let expected = "'GET', 'POST', 'PUT', 'PATCH' or 'DELETE'";
            FieldError::new(
                "literal_error",
                loc,
                format!("Input should be {expected}"),
                value,
            )
            .with_ctx(json!({ "expected": expected }))
        })
}

/// An object of string to string: at most 32, names HTTP tokens not
/// reserved and not repeated (ignoring case), values visible ASCII, space
/// and tab, at most 4,096 characters.
fn headers(value: &Value, loc: &Loc<'_>) -> Result<Vec<(String, String)>, Vec<FieldError>> {
    let Value::Object(map) = value else {
        return Err(vec![FieldError::new(
            "dict_type",
            loc,
            "Input should be a valid dictionary",
            value,
        )]);
    };
    if map.len() > MAX_HEADERS {
        return Err(vec![FieldError::new(
            "too_long",
            loc,
            format!(
                "Dictionary should have at most {MAX_HEADERS} items after validation, not {}",
                map.len()
            ),
            value,
        )
        .with_ctx(json!({"field_type": "Dictionary", "max_length": MAX_HEADERS, "actual_length": map.len()}))]);
    }
    let mut errors = Vec::new();
    let mut seen: Vec<String> = Vec::new();
    let mut out = Vec::new();
    for (name, item) in map {
        let at = loc.child(name);
        let lower = name.to_ascii_lowercase();
        let problem = if name.is_empty() || !name.bytes().all(is_tchar) {
            Some("header name is not an HTTP token")
        } else if RESERVED_HEADERS.contains(&lower.as_str())
            || lower.starts_with("webhook-")
            || lower.starts_with("bgtasks-")
        {
            Some("this header is set by the service and may not be given")
        } else if seen.contains(&lower) {
            Some("this header is given twice (names ignore case)")
        } else {
            None
        };
        if let Some(why) = problem {
            errors.push(
                FieldError::new("value_error", &at, format!("Value error, {why}"), item)
                    .with_ctx(json!({"error": {}})),
            );
            continue;
        }
        seen.push(lower);
        match string(item, &at, 0, MAX_HEADER_VALUE) {
            Err(e) => errors.push(e),
            Ok(text)
                if !text
                    .bytes()
                    .all(|b| b == b'\t' || (0x20..=0x7e).contains(&b)) =>
            {
                errors.push(
                    FieldError::new(
                        "value_error",
                        &at,
                        "Value error, a header value may hold only visible ASCII, space and tab",
                        item,
                    )
                    .with_ctx(json!({"error": {}})),
                );
            }
            Ok(text) => out.push((name.clone(), text)),
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

/// A character of an HTTP token (RFC 9110).
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// What makes two submits "the same request" for `Idempotency-Key`: the
/// route's task type and the body as a parsed JSON value, so spacing and key
/// order do not matter but an extra field or an explicit `null` does.
/// `None` when the body is not JSON (such a body is refused anyway).
pub fn fingerprint(kind: TaskKind, body: &[u8]) -> Option<[u8; 32]> {
    let value: Value = serde_json::from_slice(body).ok()?;
    Some(fingerprint_value(kind, &value))
}

fn fingerprint_value(kind: TaskKind, value: &Value) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(kind.as_str().as_bytes());
    hasher.update([0]);
    canonical(value, &mut hasher);
    hasher.finalize().into()
}

/// Feeds a value to the hasher with object keys sorted, so that key order
/// (kept by the parser, for output files) does not change the fingerprint.
fn canonical(value: &Value, hasher: &mut Sha256) {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<_> = map.iter().collect();
            entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
            hasher.update(b"{");
            for (key, item) in entries {
                // Keys are written as JSON strings, so no key can pose as a
                // separator.
                hasher.update(Value::from(key.as_str()).to_string().as_bytes());
                hasher.update(b":");
                canonical(item, hasher);
                hasher.update(b",");
            }
            hasher.update(b"}");
        }
        Value::Array(items) => {
            hasher.update(b"[");
            for item in items {
                canonical(item, hasher);
                hasher.update(b",");
            }
            hasher.update(b"]");
        }
        scalar => hasher.update(scalar.to_string().as_bytes()),
    }
}

fn parse_body(body: &[u8]) -> Result<Value, Vec<FieldError>> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(vec![FieldError::new(
            "missing",
            &Loc::root("body"),
            "Field required",
            &Value::Null,
        )]);
    }
    match serde_json::from_slice::<Value>(body) {
        // FastAPI treats a JSON `null` body as no body at all.
        Ok(Value::Null) => Err(vec![FieldError::new(
            "missing",
            &Loc::root("body"),
            "Field required",
            &Value::Null,
        )]),
        Ok(value) => Ok(value),
        Err(err) => {
            let offset = byte_offset(body, err.line(), err.column());
            let reason = err.to_string();
            // serde_json appends " at line L column C"; the offset says it.
            let reason = reason.split(" at line ").next().unwrap_or(&reason);
            Err(vec![FieldError {
                kind: "json_invalid",
                loc: vec![Value::from("body"), Value::from(offset)],
                msg: "JSON decode error".into(),
                input: json!({}),
                ctx: Some(json!({ "error": reason })),
            }])
        }
    }
}

/// Converts serde_json's 1-based line and column into a byte offset.
fn byte_offset(body: &[u8], line: usize, column: usize) -> usize {
    let line_start: usize = body
        .split_inclusive(|&b| b == b'\n')
        .take(line.saturating_sub(1))
        .map(<[u8]>::len)
        .sum();
    (line_start + column.saturating_sub(1)).min(body.len())
}

/// Lifts a one-error check into the many-error form nested objects use.
fn one<T>(result: Result<T, FieldError>) -> Result<T, Vec<FieldError>> {
    result.map_err(|e| vec![e])
}

fn required<'v, T>(
    obj: &'v Map<String, Value>,
    parent: &Loc<'_>,
    name: &str,
    errors: &mut Vec<FieldError>,
    check: impl FnOnce(&'v Value, &Loc<'_>) -> Result<T, Vec<FieldError>>,
) -> Option<T> {
    let loc = parent.child(name);
    match obj.get(name) {
        None => {
            errors.push(FieldError::new(
                "missing",
                &loc,
                "Field required",
                &Value::Object(obj.clone()),
            ));
            None
        }
        Some(value) => check(value, &loc).map_err(|e| errors.extend(e)).ok(),
    }
}

/// An optional field: absent and `null` both give `Some(None)`; an invalid
/// value gives `None` and records the error.
fn optional<'v, T>(
    obj: &'v Map<String, Value>,
    parent: &Loc<'_>,
    name: &str,
    errors: &mut Vec<FieldError>,
    check: impl FnOnce(&'v Value, &Loc<'_>) -> Result<T, Vec<FieldError>>,
) -> Option<Option<T>> {
    match obj.get(name) {
        None | Some(Value::Null) => Some(None),
        Some(value) => match check(value, &parent.child(name)) {
            Ok(v) => Some(Some(v)),
            Err(e) => {
                errors.extend(e);
                None
            }
        },
    }
}

fn string(value: &Value, loc: &Loc<'_>, min: usize, max: usize) -> Result<String, FieldError> {
    let Value::String(text) = value else {
        return Err(FieldError::new(
            "string_type",
            loc,
            "Input should be a valid string",
            value,
        ));
    };
    let chars = text.chars().count();
    if chars < min {
        let plural = if min == 1 { "" } else { "s" };
        return Err(FieldError::new(
            "string_too_short",
            loc,
            format!("String should have at least {min} character{plural}"),
            value,
        )
        .with_ctx(json!({ "min_length": min })));
    }
    if chars > max {
        return Err(FieldError::new(
            "string_too_long",
            loc,
            format!("String should have at most {max} characters"),
            value,
        )
        .with_ctx(json!({ "max_length": max })));
    }
    Ok(text.clone())
}

fn object(value: &Value, loc: &Loc<'_>) -> Result<Map<String, Value>, FieldError> {
    match value {
        Value::Object(map) => Ok(map.clone()),
        _ => Err(FieldError::new(
            "dict_type",
            loc,
            "Input should be a valid dictionary",
            value,
        )),
    }
}

fn email(value: &Value, loc: &Loc<'_>) -> Result<String, FieldError> {
    let Value::String(text) = value else {
        return Err(FieldError::new(
            "string_type",
            loc,
            "Input should be a valid string",
            value,
        ));
    };
    match mailbox_problem(text) {
        None => Ok(text.clone()),
        Some(reason) => Err(FieldError::new(
            "value_error",
            loc,
            format!("value is not a valid email address: {reason}"),
            value,
        )
        .with_ctx(json!({ "reason": reason }))),
    }
}

/// Why `text` is not a mailbox as the contract defines one, or `None`.
fn mailbox_problem(text: &str) -> Option<&'static str> {
    const ATEXT_SPECIALS: &[u8] = b"!#$%&'*+/=?^_`{|}~-";
    if text.chars().count() > 254 {
        return Some("The email address is too long (at most 254 characters).");
    }
    let Some((local, domain)) = text.rsplit_once('@') else {
        return Some("An email address must have an @-sign.");
    };
    if local.is_empty() {
        return Some("There must be something before the @-sign.");
    }
    if local.chars().count() > 64 {
        return Some("The part before the @-sign is too long (at most 64 characters).");
    }
    let atom_ok = |atom: &str| {
        !atom.is_empty()
            && atom
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || ATEXT_SPECIALS.contains(&b))
    };
    if !local.split('.').all(atom_ok) {
        return Some("The part before the @-sign is not a valid dot-atom.");
    }
    if domain.is_empty() {
        return Some("There must be something after the @-sign.");
    }
    let label_ok = |label: &str| {
        !label.is_empty()
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
    };
    if !domain.split('.').all(label_ok) {
        return Some(
            "The part after the @-sign must be dot-separated labels of letters, digits and hyphens.",
        );
    }
    None
}

/// A JSON integer (not `5.0`, not `"5"`, not `true`) in `min..=max`.
fn integer(value: &Value, loc: &Loc<'_>, min: u64, max: u64) -> Result<u64, FieldError> {
    let Value::Number(number) = value else {
        return Err(int_type(value, loc));
    };
    if let Some(n) = number.as_u64() {
        if n < min {
            return Err(too_small(value, loc, min));
        }
        if n > max {
            return Err(FieldError::new(
                "less_than_equal",
                loc,
                format!("Input should be less than or equal to {max}"),
                value,
            )
            .with_ctx(json!({ "le": max })));
        }
        return Ok(n);
    }
    if number.is_i64() {
        return Err(too_small(value, loc, min));
    }
    Err(int_type(value, loc))
}

fn int_type(value: &Value, loc: &Loc<'_>) -> FieldError {
    FieldError::new("int_type", loc, "Input should be a valid integer", value)
}

fn too_small(value: &Value, loc: &Loc<'_>, min: u64) -> FieldError {
    FieldError::new(
        "greater_than_equal",
        loc,
        format!("Input should be greater than or equal to {min}"),
        value,
    )
    .with_ctx(json!({ "ge": min }))
}

/// The object behind a nested knob (`simulate`, `retry_policy`).
fn nested<'v>(
    value: &'v Value,
    loc: &Loc<'_>,
    class_name: &str,
) -> Result<&'v Map<String, Value>, Vec<FieldError>> {
    let Value::Object(map) = value else {
        return Err(vec![
            FieldError::new(
                "model_type",
                loc,
                format!("Input should be a valid dictionary or instance of {class_name}"),
                value,
            )
            .with_ctx(json!({ "class_name": class_name })),
        ]);
    };
    Ok(map)
}

/// Unknown fields inside a knob are refused: a typo there must not pass
/// silently as a default.
fn extras(map: &Map<String, Value>, loc: &Loc<'_>, known: &[&str], errors: &mut Vec<FieldError>) {
    for (key, value) in map {
        if !known.contains(&key.as_str()) {
            errors.push(FieldError::new(
                "extra_forbidden",
                &loc.child(key),
                "Extra inputs are not permitted",
                value,
            ));
        }
    }
}

fn simulate(kind: TaskKind, value: &Value, loc: &Loc<'_>) -> Result<Simulate, Vec<FieldError>> {
    const KNOWN: &[&str] = &["delay_ms", "fail_attempts"];
    let map = nested(value, loc, "Simulate")?;
    let mut errors = Vec::new();
    let delay = optional(map, loc, "delay_ms", &mut errors, |v, l| {
        one(integer(v, l, 0, 60_000))
    });
    let fails = optional(map, loc, "fail_attempts", &mut errors, |v, l| {
        one(integer(v, l, 0, 10))
    });
    extras(map, loc, KNOWN, &mut errors);
    match (delay, fails) {
        (Some(delay), Some(fails)) if errors.is_empty() => Ok(Simulate {
            delay_ms: delay.unwrap_or(kind.default_delay_ms()),
            fail_attempts: fails.unwrap_or(0) as u32,
        }),
        _ => Err(errors),
    }
}

fn retry_policy(
    value: &Value,
    loc: &Loc<'_>,
    defaults: RetryPolicy,
) -> Result<RetryPolicy, Vec<FieldError>> {
    const KNOWN: &[&str] = &["max_attempts", "backoff_ms", "backoff"];
    let map = nested(value, loc, "RetryPolicy")?;
    let mut errors = Vec::new();
    let max = optional(map, loc, "max_attempts", &mut errors, |v, l| {
        one(integer(v, l, 1, 10))
    });
    let wait = optional(map, loc, "backoff_ms", &mut errors, |v, l| {
        one(integer(v, l, 0, 600_000))
    });
    let shape = optional(map, loc, "backoff", &mut errors, |v, l| one(backoff(v, l)));
    extras(map, loc, KNOWN, &mut errors);
    match (max, wait, shape) {
        (Some(max), Some(wait), Some(shape)) if errors.is_empty() => Ok(RetryPolicy {
            max_attempts: max.map_or(defaults.max_attempts, |n| n as u32),
            backoff_ms: wait.unwrap_or(defaults.backoff_ms),
            backoff: shape.unwrap_or(defaults.backoff),
        }),
        _ => Err(errors),
    }
}

fn backoff(value: &Value, loc: &Loc<'_>) -> Result<Backoff, FieldError> {
    match value.as_str() {
        Some("exponential") => Ok(Backoff::Exponential),
        Some("fixed") => Ok(Backoff::Fixed),
        _ => Err(FieldError::new(
            "literal_error",
            loc,
            "Input should be 'exponential' or 'fixed'",
            value,
        )
        .with_ctx(json!({ "expected": "'exponential' or 'fixed'" }))),
    }
}
