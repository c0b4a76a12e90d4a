//! The contract's JSON bodies, rendered once for both homes so that the
//! service and the playground print the same bytes.

use serde::Serialize;
use serde_json::Value;

use crate::callback::CallbackState;
use crate::id::TaskId;
use crate::list::Page;
use crate::spec::TaskKind;
use crate::task::{AttemptOutcome, AttemptRecord, Phase, Status, Task};
use crate::time::{Millis, Rfc3339};
use crate::validate::FieldError;
use crate::work;

/// A task as `GET /status/{id}` shows it: the original fields first, then
/// what this service adds.
#[derive(Serialize)]
pub struct TaskView<'a> {
    id: TaskId,
    #[serde(rename = "type")]
    kind: TaskKind,
    status: Status,
    result: Option<Value>,
    error: Option<&'a str>,
    timestamp: Rfc3339,
    retries: u32,
    attempts: u32,
    max_attempts: u32,
    next_attempt_at: Option<Rfc3339>,
    updated_at: Rfc3339,
    cancelled: bool,
    history: Vec<AttemptView<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    callback: Option<CallbackView<'a>>,
}

#[derive(Serialize)]
struct AttemptView<'a> {
    attempt: u32,
    started_at: Rfc3339,
    ended_at: Rfc3339,
    outcome: AttemptOutcome,
    error: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    status_code: Option<u16>,
}

#[derive(Serialize)]
struct CallbackView<'a> {
    url: &'a str,
    state: CallbackState,
    attempts: u32,
    last_error: Option<&'a str>,
}

impl<'a> TaskView<'a> {
    pub fn new(task: &'a Task) -> Self {
        let (result, error) = match &task.phase {
            Phase::Succeeded {
                finished_at,
                result,
            } => (
                Some(
                    result
                        .clone()
                        .unwrap_or_else(|| work::result(task, *finished_at)),
                ),
                None,
            ),
            Phase::Failed { error, .. } => (None, Some(error.as_str())),
            _ => (None, None),
        };
        TaskView {
            id: task.id,
            kind: task.kind(),
            status: task.status(),
            result,
            error,
            timestamp: task.submitted_at.rfc3339(),
            retries: task.retries,
            attempts: task.attempts,
            max_attempts: task.policy.max_attempts,
            next_attempt_at: task.next_attempt_at().map(Millis::rfc3339),
            updated_at: task.updated_at.rfc3339(),
            cancelled: task.cancelled(),
            history: task.history.iter().map(AttemptView::new).collect(),
            callback: task.callback.as_ref().map(|c| CallbackView {
                url: &c.url,
                state: c.state,
                attempts: c.attempts,
                last_error: c.last_error.as_deref(),
            }),
        }
    }
}

impl<'a> AttemptView<'a> {
    fn new(record: &'a AttemptRecord) -> Self {
        AttemptView {
            attempt: record.attempt,
            started_at: record.started_at.rfc3339(),
            ended_at: record.ended_at.rfc3339(),
            outcome: record.outcome,
            error: record.error.as_deref(),
            status_code: record.status_code,
        }
    }
}

fn to_bytes(value: &impl Serialize) -> Vec<u8> {
    // These views hold only strings, numbers and JSON values: serialising
    // them to memory cannot fail.
    serde_json::to_vec(value).unwrap_or_default()
}

/// `GET /status/{id}`.
pub fn task(task: &Task) -> Vec<u8> {
    to_bytes(&TaskView::new(task))
}

/// A submit's 202: `{"task_id": ..., "status": "started"}`.
pub fn accepted(id: TaskId) -> Vec<u8> {
    to_bytes(&serde_json::json!({ "task_id": id, "status": "started" }))
}

/// A manual retry's 200: `{"task_id": ..., "status": "retried"}`.
pub fn retried(id: TaskId) -> Vec<u8> {
    to_bytes(&serde_json::json!({ "task_id": id, "status": "retried" }))
}

/// A cancel's 200: `{"task_id": ..., "status": "cancelled"}`.
pub fn cancelled(id: TaskId) -> Vec<u8> {
    to_bytes(&serde_json::json!({ "task_id": id, "status": "cancelled" }))
}

/// `GET /tasks`.
pub fn page(page: &Page<'_>) -> Vec<u8> {
    #[derive(Serialize)]
    struct PageView<'a> {
        tasks: Vec<TaskView<'a>>,
        next_cursor: Option<&'a str>,
    }
    to_bytes(&PageView {
        tasks: page.tasks.iter().map(|t| TaskView::new(t)).collect(),
        next_cursor: page.next_cursor.as_deref(),
    })
}

/// Every error body: `{"detail": "..."}`.
pub fn detail(message: &str) -> Vec<u8> {
    to_bytes(&serde_json::json!({ "detail": message }))
}

/// A 422: `{"detail": [{"type", "loc", "msg", "input", "ctx"?}, ...]}`.
pub fn validation(errors: &[FieldError]) -> Vec<u8> {
    to_bytes(&serde_json::json!({ "detail": errors }))
}
