//! The playground's state in plain Rust: the engine, its virtual clock, the
//! files its tasks wrote, and the log of inputs that replays all of it.
//!
//! Every answer is the service's own: statuses from [`Problem::status`],
//! bodies from [`render`] and [`Problem::body`]. What this module adds is
//! only what a browser needs and a server does not: a clock the page moves,
//! a seeded id generator, and a log to export.

use std::collections::{BTreeMap, HashMap};

use bgtasks_core::{
    AttemptRecord, Engine, ListQuery, Millis, Output, Phase, Problem, Sink, Status, TaskId,
    TaskKind, render, work,
};
use serde::{Deserialize, Serialize};

/// Names the export format, so that an import of some other JSON file fails
/// with a clear message instead of replaying nonsense.
const FORMAT: &str = "bgtasks-playground-session/1";

/// An HTTP answer as the service gives it: the status code and the exact
/// body bytes (always UTF-8 JSON, so a string).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Reply {
    pub status: u16,
    pub body: String,
}

impl Reply {
    fn ok(status: u16, body: Vec<u8>) -> Reply {
        Reply {
            status,
            body: utf8(body),
        }
    }

    fn problem(problem: &Problem) -> Reply {
        Reply::ok(problem.status(), problem.body())
    }
}

/// One input of a session. Only inputs that changed the state are logged: a
/// refused submit or retry, or a repeated idempotent submit, changes
/// nothing, so replaying without it gives the same state.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
enum Event {
    /// The clock moved to `to`. Consecutive ticks are merged into one: the
    /// engine runs every step at its own scheduled time, so its state does
    /// not depend on how the clock's ticks were split (and a page ticking at
    /// 60 frames a second does not grow the log).
    Tick {
        to: Millis,
    },
    Submit {
        kind: TaskKind,
        body: String,
        idempotency_key: Option<String>,
    },
    Retry {
        id: TaskId,
    },
}

/// What `exportSession` writes and `importSession` reads.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Log {
    format: String,
    seed: u64,
    start_ms: Millis,
    events: Vec<Event>,
}

/// The files that file tasks wrote, by path (`outputs/<id>.json`): the
/// playground's stand-in for the service's key-value store.
#[derive(Debug, Default)]
struct Files(BTreeMap<String, String>);

impl Sink for Files {
    fn emit(&mut self, output: Output<'_>) {
        // Notifications and reports leave nothing to read back: their
        // results are in the task itself.
        if let Output::File { path, contents, .. } = output {
            self.0.insert(path, utf8(contents));
        }
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
    /// `running`, `succeeded`, `failed`, with their times).
    phase: &'a Phase,
    /// Ended attempts, oldest first (the newest 32 of them).
    history: &'a [AttemptRecord],
    /// When someone retried the task by hand. The engine does not keep
    /// these; the timeline needs them to tell a backoff wait from a task that
    /// sat `failed` until someone pressed Retry.
    manual_retries: &'a [Millis],
}

/// The engine, driven by a virtual clock, plus the session log.
#[derive(Debug)]
pub struct Session {
    engine: Engine,
    now: Millis,
    files: Files,
    /// Draws task ids. Seeded, so a replay reproduces every id.
    ids: fastrand::Rng,
    manual_retries: HashMap<TaskId, Vec<Millis>>,
    log: Log,
}

impl Session {
    /// An empty playground whose clock reads `start`.
    pub fn new(seed: u64, start: Millis) -> Session {
        Session {
            engine: Engine::new(),
            now: start,
            files: Files::default(),
            ids: fastrand::Rng::with_seed(seed),
            manual_retries: HashMap::new(),
            log: Log {
                format: FORMAT.to_owned(),
                seed,
                start_ms: start,
                events: Vec::new(),
            },
        }
    }

    /// `POST /notify/`, `/report/` or `/file/`, at the current time.
    pub fn submit(&mut self, kind: TaskKind, body: &str, idempotency_key: Option<&str>) -> Reply {
        // Draw the id from a copy and keep the draw only if a task was
        // created: refused submits are not logged, so they must not move
        // the generator either.
        let mut ids = self.ids.clone();
        let mut id_bytes = [0u8; 16];
        ids.fill(&mut id_bytes);
        let key = idempotency_key.map(str::as_bytes);
        match self
            .engine
            .submit(self.now, kind, body.as_bytes(), key, id_bytes)
        {
            Ok(submitted) => {
                if submitted.created {
                    self.ids = ids;
                    self.log.events.push(Event::Submit {
                        kind,
                        body: body.to_owned(),
                        idempotency_key: idempotency_key.map(str::to_owned),
                    });
                    self.run_due();
                }
                Reply::ok(202, render::accepted(submitted.id))
            }
            Err(problem) => Reply::problem(&problem),
        }
    }

    /// `POST /retry-task/{id}`, at the current time.
    pub fn retry(&mut self, id: &str) -> Reply {
        let Some(id) = TaskId::parse(id) else {
            return Reply::problem(&Problem::TaskNotFound);
        };
        match self.engine.retry(self.now, id) {
            Ok(()) => {
                self.manual_retries.entry(id).or_default().push(self.now);
                self.log.events.push(Event::Retry { id });
                self.run_due();
                Reply::ok(200, render::retried(id))
            }
            Err(problem) => Reply::problem(&problem),
        }
    }

    /// `GET /status/{id}`.
    pub fn status(&self, id: &str) -> Reply {
        match TaskId::parse(id).and_then(|id| self.engine.task(id)) {
            Some(task) => Reply::ok(200, render::task(task)),
            None => Reply::problem(&Problem::TaskNotFound),
        }
    }

    /// `GET /tasks?{query}`: `query` is what follows the `?`.
    pub fn list(&self, query: &str) -> Reply {
        match ListQuery::parse(query) {
            Ok(query) => Reply::ok(200, render::page(&self.engine.list(&query))),
            Err(errors) => Reply::problem(&Problem::Invalid(errors)),
        }
    }

    /// `GET /outputs/{id}.json`.
    pub fn output(&self, id: &str) -> Reply {
        let file = TaskId::parse(id).and_then(|id| self.files.0.get(&work::output_path(id)));
        match file {
            Some(contents) => Reply::ok(200, contents.clone().into_bytes()),
            None => Reply::problem(&Problem::OutputNotFound),
        }
    }

    /// Moves the clock `ms` forward, running everything that falls due.
    pub fn advance(&mut self, ms: u64) -> Millis {
        self.tick(self.now.plus(ms));
        self.now
    }

    /// Jumps the clock to the engine's next wake-up and runs what is due
    /// then; `None` (and no change) when no task is waiting for the clock.
    pub fn step(&mut self) -> Option<Millis> {
        let wake = self.engine.poll_timeout()?;
        self.tick(wake.max(self.now));
        Some(self.now)
    }

    /// When the next task will start or finish an attempt.
    pub fn next_wakeup(&self) -> Option<Millis> {
        self.engine.poll_timeout()
    }

    pub fn now(&self) -> Millis {
        self.now
    }

    /// The written files as a JSON object, path → content.
    pub fn files(&self) -> String {
        to_json(&self.files.0)
    }

    /// Every task's attempts over simulated time, oldest task first.
    pub fn timeline(&self) -> String {
        let tasks: Vec<TimelineTask<'_>> = self
            .engine
            .tasks()
            .map(|task| TimelineTask {
                id: task.id,
                kind: task.kind(),
                status: task.status(),
                submitted_at: task.submitted_at,
                phase: &task.phase,
                history: &task.history,
                manual_retries: self.manual_retries.get(&task.id).map_or(&[], Vec::as_slice),
            })
            .collect();
        to_json(&tasks)
    }

    /// The session log: seed, start time, inputs and clock ticks.
    pub fn export(&self) -> String {
        serde_json::to_string_pretty(&self.log).unwrap_or_default()
    }

    /// Replays an exported log into a fresh session, which ends in the very
    /// state the exported one had: same ids, same times, same bodies.
    pub fn import(json: &str) -> Result<Session, String> {
        let log: Log =
            serde_json::from_str(json).map_err(|e| format!("not a playground session: {e}"))?;
        if log.format != FORMAT {
            return Err(format!(
                "unsupported session format {:?} (expected {FORMAT:?})",
                log.format
            ));
        }
        let mut session = Session::new(log.seed, log.start_ms);
        for (n, event) in log.events.into_iter().enumerate() {
            let replayed = match &event {
                Event::Tick { to } if *to >= session.now => {
                    session.tick(*to);
                    Ok(())
                }
                Event::Tick { to } => Err(format!("the clock goes back to {}", to.0)),
                Event::Submit {
                    kind,
                    body,
                    idempotency_key,
                } => {
                    let before = session.log.events.len();
                    let reply = session.submit(*kind, body, idempotency_key.as_deref());
                    expect_logged(&session, before, reply)
                }
                Event::Retry { id } => {
                    let before = session.log.events.len();
                    let reply = session.retry(&id.to_string());
                    expect_logged(&session, before, reply)
                }
            };
            replayed.map_err(|why| format!("event {n} does not replay: {why}"))?;
        }
        Ok(session)
    }

    fn tick(&mut self, to: Millis) {
        self.now = to;
        self.run_due();
        match self.log.events.last_mut() {
            Some(Event::Tick { to: last }) => *last = to,
            _ => self.log.events.push(Event::Tick { to }),
        }
    }

    /// After every input, run what it made due now, as the lib docs of
    /// bgtasks-core say a driver should.
    fn run_due(&mut self) {
        self.engine.handle_timeout(self.now, &mut self.files);
    }
}

/// A replayed input must change the state as it did when it was logged.
fn expect_logged(session: &Session, before: usize, reply: Reply) -> Result<(), String> {
    if session.log.events.len() > before {
        Ok(())
    } else {
        Err(format!("answered {} {}", reply.status, reply.body))
    }
}

fn to_json(value: &impl Serialize) -> String {
    // Maps of strings and plain records: serialising to memory cannot fail.
    serde_json::to_string(value).unwrap_or_default()
}

fn utf8(bytes: Vec<u8>) -> String {
    // Every body and file the engine writes is JSON text, hence UTF-8.
    String::from_utf8(bytes).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}
