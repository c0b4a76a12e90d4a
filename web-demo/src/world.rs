//! What the engine's tasks leave behind in the playground, beside their
//! records: the files file tasks write, the requests the virtual
//! destination receives (and the scripts it answers them from), and what
//! the timeline needs that the engine does not keep.

use std::collections::{HashMap, VecDeque};

use bgtasks_core::callback::CALLBACK_TIMEOUT_MS;
use bgtasks_core::outbound::OutboundRequest;
use bgtasks_core::{
    AttemptRecord, Engine, Millis, Orphan, Output, Phase, Sink, Status, TaskId, TaskKind, work,
};
use serde::Serialize;

use crate::script::{Answer, describe};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum SentKind {
    /// An `http` task's attempt.
    Request,
    /// A callback delivery.
    Callback,
}

/// A request the virtual destination received, and what it answered.
#[derive(Debug, Serialize)]
pub(crate) struct Sent {
    task: TaskId,
    kind: SentKind,
    at: Millis,
    /// Its `bgtasks-attempt`: the task's attempt, or the delivery attempt
    /// of this end of the task.
    attempt: u32,
    method: &'static str,
    url: String,
    /// As sent, in order: the task's own, then `webhook-*` and `bgtasks-*`.
    headers: Vec<(String, String)>,
    body: String,
    answer: Answer,
    /// Whether `answer` came from the URL's script (else the default 200).
    scripted: bool,
    /// When the answer arrives, or the request times out.
    pub(crate) ends_at: Millis,
    /// What the engine makes of the answer, in words.
    outcome: String,
    ok: bool,
}

/// What the playground keeps of a task beside the engine's record.
#[derive(Debug, Default)]
pub(crate) struct Notes {
    /// An `http` task's `timeout_ms`, to tell when its requests time out.
    pub(crate) timeout_ms: u64,
    /// When someone retried the task by hand. The engine does not keep
    /// these; the timeline needs them to tell a backoff wait from a task
    /// that sat `failed` until someone pressed Retry.
    pub(crate) manual_retries: Vec<Millis>,
    /// When someone cancelled it (a retry forgets the engine's own mark).
    pub(crate) cancels: Vec<Cancel>,
}

/// A cancel, and the attempt it left running: that one ends later, in the
/// history only, which the timeline cannot tell from the times alone (an
/// attempt may start in the very millisecond of a cancel, or of a retry
/// after it).
#[derive(Debug, Serialize)]
pub(crate) struct Cancel {
    pub(crate) at: Millis,
    pub(crate) orphan: Option<u32>,
}

/// The sink the engine writes to: the playground's stand-in for the
/// service's key-value store and for the destinations it calls.
#[derive(Debug, Default)]
pub(crate) struct World {
    /// When the step being run happens: the engine is driven one wake-up
    /// at a time, so the requests it sends are dated exactly.
    pub(crate) at: Millis,
    /// Files file tasks wrote, by path (`outputs/<id>.json`).
    pub(crate) files: HashMap<String, String>,
    /// Every request sent, in the order sent.
    pub(crate) sent: Vec<Sent>,
    /// The answers left in each URL's script: the engine's queue, mirrored
    /// (each request to a URL takes its next answer, in both), so that the
    /// page can show what is left and what each request got.
    pub(crate) scripts: HashMap<String, VecDeque<Answer>>,
    pub(crate) notes: HashMap<TaskId, Notes>,
}

impl Sink for World {
    fn emit(&mut self, output: Output<'_>) {
        match output {
            Output::File { path, contents, .. } => {
                self.files.insert(path, utf8(contents));
            }
            Output::Request { task, request } => self.record(task, SentKind::Request, request),
            Output::Callback { task, request } => self.record(task, SentKind::Callback, request),
            // Notifications and reports leave nothing to read back: their
            // results are in the task itself.
            _ => {}
        }
    }
}

impl World {
    fn record(&mut self, task: TaskId, kind: SentKind, request: &OutboundRequest) {
        let queued = match self.scripts.get_mut(&request.url) {
            Some(script) => {
                let next = script.pop_front();
                if script.is_empty() {
                    self.scripts.remove(&request.url);
                }
                next
            }
            None => None,
        };
        let scripted = queued.is_some();
        let answer = queued.unwrap_or_else(Answer::unscripted);
        let timeout_ms = match kind {
            SentKind::Callback => CALLBACK_TIMEOUT_MS,
            SentKind::Request => self.notes.get(&task).map_or(0, |n| n.timeout_ms),
        };
        let (ends_at, outcome) = answer.land(&request.url, timeout_ms, self.at);
        let (ok, outcome) = describe(outcome);
        self.sent.push(Sent {
            task,
            kind,
            at: self.at,
            attempt: request
                .header("bgtasks-attempt")
                .and_then(|n| n.parse().ok())
                .unwrap_or(0),
            method: request.method.as_str(),
            url: request.url.clone(),
            headers: request.headers.clone(),
            body: String::from_utf8_lossy(&request.body).into_owned(),
            answer,
            scripted,
            ends_at,
            outcome,
            ok,
        });
    }

    /// Every task's attempts and callbacks over simulated time, oldest task
    /// first, as JSON.
    pub(crate) fn timeline(&self, engine: &Engine) -> String {
        let mut callbacks: HashMap<TaskId, Vec<Mark<'_>>> = HashMap::new();
        for sent in self.sent.iter().filter(|s| s.kind == SentKind::Callback) {
            callbacks.entry(sent.task).or_default().push(Mark {
                at: sent.at,
                attempt: sent.attempt,
                ends_at: sent.ends_at,
                ok: sent.ok,
                outcome: &sent.outcome,
            });
        }
        let tasks: Vec<TimelineTask<'_>> = engine
            .tasks()
            .map(|task| {
                let notes = self.notes.get(&task.id);
                TimelineTask {
                    id: task.id,
                    kind: task.kind(),
                    status: task.status(),
                    submitted_at: task.submitted_at,
                    phase: &task.phase,
                    history: &task.history,
                    manual_retries: notes.map_or(&[], |n| n.manual_retries.as_slice()),
                    cancels: notes.map_or(&[], |n| n.cancels.as_slice()),
                    orphan: task.orphan.as_ref(),
                    callbacks: callbacks.remove(&task.id).unwrap_or_default(),
                }
            })
            .collect();
        to_json(&tasks)
    }

    /// Drops what the playground kept for a task the engine no longer
    /// holds: the service deletes a task's file with its record.
    pub(crate) fn forget(&mut self, id: TaskId) {
        self.notes.remove(&id);
        self.files.remove(&work::output_path(id));
        self.sent.retain(|s| s.task != id);
    }
}

/// One task as the timeline draws it: times in epoch milliseconds.
#[derive(Serialize)]
struct TimelineTask<'a> {
    id: TaskId,
    #[serde(rename = "type")]
    kind: TaskKind,
    status: Status,
    submitted_at: Millis,
    /// Where the task is now, as the engine keeps it (`queued`, `backoff`,
    /// `running`, `succeeded`, `failed`, with their times). A `queued` task
    /// whose `due` is ahead is scheduled.
    phase: &'a Phase,
    /// Ended attempts, oldest first (the newest 32 of them).
    history: &'a [AttemptRecord],
    manual_retries: &'a [Millis],
    cancels: &'a [Cancel],
    /// The attempt that was running when the task was cancelled, while it
    /// is still running: its outcome will land in the history only.
    orphan: Option<&'a Orphan>,
    /// Callback deliveries, each its own mark.
    callbacks: Vec<Mark<'a>>,
}

#[derive(Serialize)]
struct Mark<'a> {
    at: Millis,
    attempt: u32,
    ends_at: Millis,
    ok: bool,
    outcome: &'a str,
}

/// A map as a JSON object with its keys in order, whatever order the map
/// keeps (a replay need not insert and remove in the same order). The maps
/// are hash maps because B-tree removal costs the module kilobytes.
pub(crate) struct Sorted<'a, V>(Vec<(&'a String, &'a V)>);

impl<'a, V> Sorted<'a, V> {
    pub(crate) fn of(map: &'a HashMap<String, V>) -> Sorted<'a, V> {
        let mut entries: Vec<_> = map.iter().collect();
        entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
        Sorted(entries)
    }
}

impl<V: Serialize> Serialize for Sorted<'_, V> {
    fn serialize<S: serde::Serializer>(&self, to: S) -> Result<S::Ok, S::Error> {
        to.collect_map(self.0.iter().copied())
    }
}

pub(crate) fn to_json(value: &impl Serialize) -> String {
    // Maps of strings and plain records: serialising to memory cannot fail.
    serde_json::to_string(value).unwrap_or_default()
}

pub(crate) fn utf8(bytes: Vec<u8>) -> String {
    // Every body and file the engine writes is JSON text, hence UTF-8.
    String::from_utf8(bytes).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}
