//! What a client asks for: the task types, their specs and the knobs.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::time::Millis;

/// The kinds of work, named as the contract's `type` field names them: three
/// simulated ones, and `http`, which delivers a real request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskKind {
    Notification,
    Report,
    File,
    Http,
}

impl TaskKind {
    pub const ALL: [TaskKind; 4] = [
        TaskKind::Notification,
        TaskKind::Report,
        TaskKind::File,
        TaskKind::Http,
    ];

    /// The name used in JSON, query strings and routes.
    pub fn as_str(self) -> &'static str {
        match self {
            TaskKind::Notification => "notification",
            TaskKind::Report => "report",
            TaskKind::File => "file",
            TaskKind::Http => "http",
        }
    }

    /// Simulated work time when the request names none (`http` tasks are
    /// not simulated).
    pub fn default_delay_ms(self) -> u64 {
        match self {
            TaskKind::Notification => 2000,
            TaskKind::Report => 3000,
            TaskKind::File => 2000,
            TaskKind::Http => 0,
        }
    }
}

/// The methods an `http` task may use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum HttpMethod {
    Get,
    Post,
    Put,
    Patch,
    Delete,
}

impl HttpMethod {
    pub const ALL: [HttpMethod; 5] = [
        HttpMethod::Get,
        HttpMethod::Post,
        HttpMethod::Put,
        HttpMethod::Patch,
        HttpMethod::Delete,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            HttpMethod::Get => "GET",
            HttpMethod::Post => "POST",
            HttpMethod::Put => "PUT",
            HttpMethod::Patch => "PATCH",
            HttpMethod::Delete => "DELETE",
        }
    }
}

/// The request an `http` task delivers, as the client asked for it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HttpRequestSpec {
    /// Absolute `http` or `https` URL, as submitted (error messages quote it).
    pub url: String,
    pub method: HttpMethod,
    /// The client's headers, names as given, in the order given.
    pub headers: Vec<(String, String)>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<Value>,
    /// The whole attempt: connecting, the answer's head and its body.
    pub timeout_ms: u64,
}

/// A validated request for work. Only [`crate::validate`] builds these from
/// outside input, so every value here already obeys the contract.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum TaskSpec {
    Notification {
        email: String,
        message: String,
    },
    Report {
        name: String,
        details: Map<String, Value>,
    },
    File {
        content: Map<String, Value>,
    },
    Http(HttpRequestSpec),
}

impl TaskSpec {
    pub fn kind(&self) -> TaskKind {
        match self {
            TaskSpec::Notification { .. } => TaskKind::Notification,
            TaskSpec::Report { .. } => TaskKind::Report,
            TaskSpec::File { .. } => TaskKind::File,
            TaskSpec::Http(_) => TaskKind::Http,
        }
    }
}

/// The `simulate` knobs: how long an attempt takes, and how many fail.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Simulate {
    pub delay_ms: u64,
    /// Attempts numbered 1..=fail_attempts fail, counted over the task's life.
    pub fail_attempts: u32,
}

/// How the wait before an automatic retry grows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Backoff {
    #[default]
    Exponential,
    Fixed,
}

/// Automatic retries. The default is one attempt, as the original service did.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetryPolicy {
    pub max_attempts: u32,
    pub backoff_ms: u64,
    pub backoff: Backoff,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 1,
            backoff_ms: 1000,
            backoff: Backoff::Exponential,
        }
    }
}

impl RetryPolicy {
    /// The policy for fields a request leaves out: one attempt for
    /// simulated work (the original service's behaviour), three for `http`.
    pub fn default_for(kind: TaskKind) -> RetryPolicy {
        match kind {
            TaskKind::Http => RetryPolicy {
                max_attempts: 3,
                ..RetryPolicy::default()
            },
            _ => RetryPolicy::default(),
        }
    }

    /// The wait before the next attempt, after `failed_in_budget` attempts of
    /// the current budget have failed (1 for the wait before the second),
    /// scaled by `jitter_permille` in 900..=1100.
    pub fn wait_ms(&self, failed_in_budget: u32, jitter_permille: u64) -> u64 {
        let doublings = match self.backoff {
            Backoff::Fixed => 0,
            // max_attempts <= 10 bounds this at 9 doublings; the cap only
            // keeps a hand-built policy from overflowing.
            Backoff::Exponential => failed_in_budget.saturating_sub(1).min(32),
        };
        let base = self.backoff_ms.saturating_mul(1u64 << doublings);
        // Multiply in u128: base can reach 2^51 and jitter is at most 1100.
        (u128::from(base) * u128::from(jitter_permille) / 1000) as u64
    }
}

/// Everything a submit route accepted, ready to become a task.
#[derive(Clone, Debug, PartialEq)]
pub struct Submission {
    pub spec: TaskSpec,
    pub simulate: Simulate,
    pub policy: RetryPolicy,
    /// When the first attempt may start (`run_at` / `run_in_ms`, resolved
    /// against the submit's time); `None`: at once.
    pub start_at: Option<Millis>,
    /// Where to report each end of the task.
    pub callback_url: Option<String>,
}
