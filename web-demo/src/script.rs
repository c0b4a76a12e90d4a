//! The virtual destination's answers: what a URL's script says, read from
//! the page's JSON, and what each answer means to the engine.

use bgtasks_core::outbound;
use bgtasks_core::{Millis, Retry, ScriptedAnswer, WorkOutcome};
use serde::Serialize;
use serde_json::Value;

/// How long an answer takes when its script does not say.
const DEFAULT_ANSWER_DELAY_MS: u64 = 20;
/// Answers take at most this long; a timeout comes first anyway (60 s).
const MAX_ANSWER_DELAY_MS: u64 = 600_000;
/// A script longer than this is a mistake, not a scenario.
const MAX_SCRIPT_ANSWERS: usize = 100;

/// One answer in a URL's script, as [`parse_script`] reads it and the page
/// is shown it: `{"status": 503, "delay_ms": 50, "retry_after": "2",
/// "body": "..."}`, `"silence"` (no answer: the request times out) or
/// `"refused"`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Answer {
    Status {
        status: u16,
        delay_ms: u64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        retry_after: Option<String>,
        #[serde(default, skip_serializing_if = "String::is_empty")]
        body: String,
    },
    Word(Word),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Word {
    Silence,
    Refused,
}

impl Answer {
    /// What a URL with no script left answers: the engine's own default.
    pub(crate) fn unscripted() -> Answer {
        match ScriptedAnswer::ok() {
            ScriptedAnswer::Status {
                status,
                delay_ms,
                retry_after,
                body,
            } => Answer::Status {
                status,
                delay_ms,
                retry_after,
                body,
            },
            ScriptedAnswer::Silence => Answer::Word(Word::Silence),
            ScriptedAnswer::Refused => Answer::Word(Word::Refused),
        }
    }

    pub(crate) fn scripted(&self) -> ScriptedAnswer {
        match self {
            Answer::Status {
                status,
                delay_ms,
                retry_after,
                body,
            } => ScriptedAnswer::Status {
                status: *status,
                delay_ms: *delay_ms,
                retry_after: retry_after.clone(),
                body: body.clone(),
            },
            Answer::Word(Word::Silence) => ScriptedAnswer::Silence,
            Answer::Word(Word::Refused) => ScriptedAnswer::Refused,
        }
    }

    /// When a request sent at `at` gets this answer (or times out), and
    /// what the engine makes of it: the same reading as the engine's own
    /// virtual destination, through the same [`outbound::classify`].
    pub(crate) fn land(&self, url: &str, timeout_ms: u64, at: Millis) -> (Millis, WorkOutcome) {
        let (takes, answer) = match self {
            Answer::Status {
                status,
                delay_ms,
                retry_after,
                body,
            } if *delay_ms <= timeout_ms => (
                *delay_ms,
                outbound::Answer::Response {
                    status: *status,
                    retry_after: retry_after.as_deref(),
                    body: body.as_bytes(),
                    duration_ms: *delay_ms,
                },
            ),
            Answer::Word(Word::Refused) => (0, outbound::Answer::Refused),
            _ => (timeout_ms, outbound::Answer::TimedOut),
        };
        let ends_at = at.plus(takes);
        (
            ends_at,
            outbound::classify(url, timeout_ms, answer, ends_at),
        )
    }
}

/// Reads a script as the page sends it: a JSON array of answers (see
/// [`Answer`]; `delay_ms` defaults to 20, `retry_after` may be a number of
/// seconds, a `body` that is not a string is sent as JSON text).
pub fn parse_script(json: &str) -> Result<Vec<Answer>, String> {
    let value: Value =
        serde_json::from_str(json).map_err(|e| format!("the script is not JSON: {e}"))?;
    let Value::Array(items) = value else {
        return Err("the script must be a JSON array of answers".to_owned());
    };
    if items.len() > MAX_SCRIPT_ANSWERS {
        return Err(format!(
            "the script has {} answers; at most {MAX_SCRIPT_ANSWERS}",
            items.len()
        ));
    }
    items
        .iter()
        .enumerate()
        .map(|(n, item)| parse_answer(item).map_err(|why| format!("answer {}: {why}", n + 1)))
        .collect()
}

fn parse_answer(item: &Value) -> Result<Answer, String> {
    let fields = match item {
        Value::String(word) if word == "silence" => return Ok(Answer::Word(Word::Silence)),
        Value::String(word) if word == "refused" => return Ok(Answer::Word(Word::Refused)),
        Value::Object(fields) => fields,
        _ => {
            return Err(r#"expected {"status": ...}, "silence" or "refused""#.to_owned());
        }
    };
    if let Some(unknown) = fields
        .keys()
        .find(|k| !["status", "delay_ms", "retry_after", "body"].contains(&k.as_str()))
    {
        return Err(format!("unknown field {unknown:?}"));
    }
    let present = |name: &str| fields.get(name).filter(|v| !v.is_null());
    let status = present("status")
        .and_then(Value::as_u64)
        .filter(|s| (100..=599).contains(s))
        .ok_or("status must be an integer from 100 to 599")?;
    let delay_ms = match present("delay_ms") {
        None => DEFAULT_ANSWER_DELAY_MS,
        Some(v) => v
            .as_u64()
            .filter(|d| *d <= MAX_ANSWER_DELAY_MS)
            .ok_or_else(|| {
                format!("delay_ms must be an integer from 0 to {MAX_ANSWER_DELAY_MS}")
            })?,
    };
    let retry_after = match present("retry_after") {
        None => None,
        Some(Value::String(text)) => Some(text.clone()),
        Some(Value::Number(n)) if n.is_u64() => Some(n.to_string()),
        Some(_) => {
            return Err("retry_after must be seconds or an HTTP date".to_owned());
        }
    };
    let body = match present("body") {
        None => String::new(),
        Some(Value::String(text)) => text.clone(),
        Some(other) => other.to_string(),
    };
    Ok(Answer::Status {
        status: status as u16,
        delay_ms,
        retry_after,
        body,
    })
}

/// An outcome in a few words, and whether it was a success.
pub(crate) fn describe(outcome: WorkOutcome) -> (bool, String) {
    match outcome {
        WorkOutcome::Delivered { status_code, .. } => {
            (true, format!("HTTP {status_code}: delivered"))
        }
        WorkOutcome::Success => (true, "delivered".to_owned()),
        WorkOutcome::Failure { error, retry, .. } => {
            let then = match retry {
                Retry::Never => "final, no retry".to_owned(),
                Retry::NotBefore(ms) => format!("retry not sooner than {ms} ms"),
                Retry::Policy => "retryable".to_owned(),
            };
            (false, format!("{error}: {then}"))
        }
    }
}
