//! The simulated work each task type does, and the outputs it leaves.

use serde_json::{Value, json};

use crate::id::TaskId;
use crate::spec::TaskSpec;
use crate::task::{Claim, Task, WorkOutcome};
use crate::time::Millis;

/// Something an attempt leaves behind, keyed by task id so that a repeated
/// attempt overwrites its earlier output instead of adding another.
#[derive(Debug, PartialEq)]
#[non_exhaustive]
pub enum Output<'a> {
    /// A file task's file: `contents` stored at `path` ([`output_path`]).
    File {
        task: TaskId,
        path: String,
        contents: Vec<u8>,
    },
    /// A notification task's message, handed to the mail system.
    Notification {
        task: TaskId,
        to: &'a str,
        message: &'a str,
    },
    /// A report task's report.
    Report { task: TaskId, report: Value },
    /// A request an `http` task sent (the playground's virtual destination
    /// received it).
    Request {
        task: TaskId,
        request: &'a crate::outbound::OutboundRequest,
    },
    /// A callback delivery sent.
    Callback {
        task: TaskId,
        request: &'a crate::outbound::OutboundRequest,
    },
    /// A finished task's retention ran out: it and its outputs are gone.
    Expired { task: TaskId },
}

/// Where the outputs of an attempt go. Shells implement it: the Spin
/// component writes files to its key-value store, the playground keeps them
/// in memory.
pub trait Sink {
    fn emit(&mut self, output: Output<'_>);
}

/// A sink that drops everything, for callers that only want the outcome.
impl Sink for () {
    fn emit(&mut self, _: Output<'_>) {}
}

/// Collects outputs, e.g. for tests.
impl Sink for Vec<String> {
    fn emit(&mut self, output: Output<'_>) {
        self.push(format!("{output:?}"));
    }
}

/// The key a file task's output is stored under, and the path its result
/// names: `outputs/<task_id>.json`.
pub fn output_path(id: TaskId) -> String {
    format!("outputs/{id}.json")
}

/// A file task's file: its content, pretty-printed with two-space indents.
pub fn file_contents(content: &serde_json::Map<String, Value>) -> Vec<u8> {
    // Serialising a Value to memory cannot fail.
    serde_json::to_vec_pretty(content).unwrap_or_default()
}

/// Runs the work of `claim`'s attempt on `task`, ending at `now`: attempt K
/// fails while K <= `fail_attempts`; otherwise its outputs go to `sink`.
/// Deterministic, so a rerun of an interrupted attempt does what the first
/// run did. Pass the same `now` to [`Task::finish`].
pub fn execute(task: &Task, claim: &Claim, now: Millis, sink: &mut impl Sink) -> WorkOutcome {
    let failing = task.simulate.fail_attempts;
    if claim.attempt <= failing {
        return WorkOutcome::failed(format!(
            "simulated failure (attempt {} of {failing})",
            claim.attempt
        ));
    }
    let id = task.id;
    match &task.spec {
        TaskSpec::Notification { email, message } => sink.emit(Output::Notification {
            task: id,
            to: email,
            message,
        }),
        TaskSpec::Report { .. } => sink.emit(Output::Report {
            task: id,
            report: report(task, now),
        }),
        TaskSpec::File { content } => sink.emit(Output::File {
            task: id,
            path: output_path(id),
            contents: file_contents(content),
        }),
        // Real work: the shell sends the request and classifies the answer
        // (crate::outbound).
        TaskSpec::Http(_) => return WorkOutcome::failed("http tasks are not simulated"),
    }
    WorkOutcome::Success
}

fn report(task: &Task, generated_at: Millis) -> Value {
    match &task.spec {
        TaskSpec::Report { name, details } => json!({
            "name": name,
            "details": details,
            "generated_at": generated_at.rfc3339(),
        }),
        _ => Value::Null,
    }
}

/// The `result` of a task that succeeded at `finished_at`. Derived from the
/// spec rather than stored, so a record never disagrees with its result.
pub fn result(task: &Task, finished_at: Millis) -> Value {
    match &task.spec {
        TaskSpec::Notification { email, .. } => {
            json!({ "message": "Notification sent", "delivered_to": email })
        }
        TaskSpec::Report { .. } => {
            json!({ "message": "Report generated", "report": report(task, finished_at) })
        }
        TaskSpec::File { content } => json!({
            "message": "File saved",
            "path": output_path(task.id),
            "bytes": file_contents(content).len(),
        }),
        // Stored with the task when it succeeded (Phase::Succeeded).
        TaskSpec::Http(_) => Value::Null,
    }
}
