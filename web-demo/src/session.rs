//! The playground's state in plain Rust: the engine, its virtual clock, the
//! service's variables, what its tasks left behind ([`World`]), and the log
//! of inputs that replays all of it.
//!
//! Every answer is the service's own: statuses from [`Problem::status`],
//! bodies from [`render`] and [`Problem::body`]. What this module adds is
//! only what a browser needs and a server does not: a clock the page moves,
//! a seeded id generator, a destination it scripts, and a log to export.

use bgtasks_core::outbound::{Destinations, Secret};
use bgtasks_core::{
    Engine, ListQuery, Millis, Phase, Problem, TaskId, TaskKind, TaskSpec, render, work,
};
use serde::{Deserialize, Serialize};

use crate::script::{Answer, parse_script};
use crate::world::{Cancel, Notes, Sorted, World, to_json, utf8};

/// Names the export format, so that an import of some other JSON file fails
/// with a clear message instead of replaying nonsense.
const FORMAT: &str = "bgtasks-playground-session/2";
/// The v1 playground's sessions still replay: their events are a subset,
/// and a bare session starts with the settings that playground had.
const FORMAT_V1: &str = "bgtasks-playground-session/1";

/// The playground's destination is virtual, so every URL is permitted.
pub const DEFAULT_DESTINATIONS: &str = "*://*:*";
/// The largest `retention_seconds` whose milliseconds JS can still hold.
const MAX_RETENTION_SECONDS: u64 = 9_007_199_254_740;

/// An HTTP answer as the service gives it: the status code and the exact
/// body bytes (always UTF-8 JSON, or empty for a 204, so a string).
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
/// refused submit, retry, cancel or delete, or a repeated idempotent
/// submit, changes nothing, so replaying without it gives the same state.
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
    Cancel {
        id: TaskId,
    },
    Delete {
        id: TaskId,
    },
    /// The answers requests to `url` get from now on: the script's text
    /// as given, like a submit's body (and read by the same parser again).
    Script {
        url: String,
        answers: String,
    },
    /// The settings are inputs too: the defaults of a new session are
    /// logged as its first events, so that a replay never depends on what
    /// the defaults were when it was recorded.
    Destinations {
        pattern: String,
    },
    Secret {
        secret: String,
    },
    Retention {
        seconds: u64,
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

/// The service's variables, as the playground has them.
#[derive(Clone, Debug, Default, Serialize)]
struct Settings {
    /// `http_destinations`.
    destinations: String,
    /// `webhook_secret`: a playground's secret is no secret, and a replay
    /// needs it to sign the same way.
    secret: String,
    retention_seconds: u64,
}

/// The engine, driven by a virtual clock, plus the session log.
#[derive(Debug)]
pub struct Session {
    engine: Engine,
    now: Millis,
    world: World,
    /// Draws task ids. Seeded, so a replay reproduces every id.
    ids: fastrand::Rng,
    settings: Settings,
    log: Log,
}

impl Session {
    /// An empty playground whose clock reads `start`, with every
    /// destination permitted. Finished tasks are kept (retention 0, where
    /// the service keeps them 7 days), so that stepping to the next event
    /// never leaps a week ahead to delete them.
    pub fn new(seed: u64, start: Millis) -> Session {
        let mut session = Session::bare(seed, start);
        // A constant pattern, which parses (the tests check it).
        let _ = session.set_destinations(DEFAULT_DESTINATIONS);
        session
    }

    /// As the engine starts: no destination, no secret, tasks kept forever.
    fn bare(seed: u64, start: Millis) -> Session {
        Session {
            engine: Engine::new(),
            now: start,
            world: World::default(),
            ids: fastrand::Rng::with_seed(seed),
            settings: Settings::default(),
            log: Log {
                format: FORMAT.to_owned(),
                seed,
                start_ms: start,
                events: Vec::new(),
            },
        }
    }

    /// `POST /notify/`, `/report/`, `/file/` or `/http/`, at the current
    /// time.
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
                    let timeout_ms = match self.engine.task(submitted.id).map(|t| &t.spec) {
                        Some(TaskSpec::Http(spec)) => spec.timeout_ms,
                        _ => 0,
                    };
                    let notes = Notes {
                        timeout_ms,
                        ..Notes::default()
                    };
                    self.world.notes.insert(submitted.id, notes);
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
                let notes = self.world.notes.entry(id).or_default();
                notes.manual_retries.push(self.now);
                self.log.events.push(Event::Retry { id });
                self.run_due();
                Reply::ok(200, render::retried(id))
            }
            Err(problem) => Reply::problem(&problem),
        }
    }

    /// `POST /cancel-task/{id}`, at the current time.
    pub fn cancel(&mut self, id: &str) -> Reply {
        let Some(id) = TaskId::parse(id) else {
            return Reply::problem(&Problem::TaskNotFound);
        };
        let running = self
            .engine
            .task(id)
            .filter(|t| matches!(t.phase, Phase::Running { .. }))
            .map(|t| t.attempts);
        match self.engine.cancel(self.now, id) {
            Ok(()) => {
                let notes = self.world.notes.entry(id).or_default();
                notes.cancels.push(Cancel {
                    at: self.now,
                    orphan: running,
                });
                self.log.events.push(Event::Cancel { id });
                // The callback of this end is due now.
                self.run_due();
                Reply::ok(200, render::cancelled(id))
            }
            Err(problem) => Reply::problem(&problem),
        }
    }

    /// `DELETE /tasks/{id}`: 204 with an empty body.
    pub fn delete(&mut self, id: &str) -> Reply {
        let Some(id) = TaskId::parse(id) else {
            return Reply::problem(&Problem::TaskNotFound);
        };
        match self.engine.delete(id) {
            Ok(()) => {
                self.world.forget(id);
                self.log.events.push(Event::Delete { id });
                Reply::ok(204, Vec::new())
            }
            Err(problem) => Reply::problem(&problem),
        }
    }

    /// Sets the answers the next requests to `url` get, replacing what was
    /// left of its script: `script` is a JSON array (see [`parse_script`]).
    pub fn script(&mut self, url: &str, script: &str) -> Result<(), String> {
        let answers = parse_script(script)?;
        self.engine
            .script(url, answers.iter().map(Answer::scripted).collect());
        if answers.is_empty() {
            self.world.scripts.remove(url);
        } else {
            self.world
                .scripts
                .insert(url.to_owned(), answers.iter().cloned().collect());
        }
        self.log.events.push(Event::Script {
            url: url.to_owned(),
            answers: script.to_owned(),
        });
        Ok(())
    }

    /// `http_destinations`: one pattern, or empty for none.
    pub fn set_destinations(&mut self, pattern: &str) -> Result<(), String> {
        let pattern = pattern.trim();
        let destinations = Destinations::parse(pattern)?;
        if pattern != self.settings.destinations {
            self.engine.set_destinations(destinations);
            self.settings.destinations = pattern.to_owned();
            self.log.events.push(Event::Destinations {
                pattern: pattern.to_owned(),
            });
        }
        Ok(())
    }

    /// `webhook_secret`: `whsec_<base64>`, or empty to send unsigned.
    pub fn set_secret(&mut self, secret: &str) -> Result<(), String> {
        let secret = secret.trim();
        let key = Secret::parse(secret)?;
        if secret != self.settings.secret {
            self.engine.set_secret(key);
            self.settings.secret = secret.to_owned();
            self.log.events.push(Event::Secret {
                secret: secret.to_owned(),
            });
        }
        Ok(())
    }

    /// `retention_seconds`: finished tasks are deleted this long after they
    /// end (0 keeps them), those that ended already included.
    pub fn set_retention(&mut self, seconds: u64) {
        let seconds = seconds.min(MAX_RETENTION_SECONDS);
        if seconds != self.settings.retention_seconds {
            self.engine.set_retention(seconds * 1000);
            self.settings.retention_seconds = seconds;
            self.log.events.push(Event::Retention { seconds });
            self.run_due();
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
        let file = TaskId::parse(id).and_then(|id| self.world.files.get(&work::output_path(id)));
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

    /// Jumps the clock to the next event and runs it; `None` (and no
    /// change) when nothing waits for the clock.
    pub fn step(&mut self) -> Option<Millis> {
        let wake = self.next_wakeup()?;
        self.tick(wake.max(self.now));
        Some(self.now)
    }

    /// When something next happens: an attempt or a callback delivery
    /// starts, an answer arrives (or a request times out), simulated work
    /// ends, a task expires.
    ///
    /// Read from the records rather than from [`Engine::poll_timeout`],
    /// which may name a time when nothing is left to do (the due time of a
    /// cancelled wait, the lease of a callback already answered): a step
    /// there would move the clock and change nothing.
    pub fn next_wakeup(&self) -> Option<Millis> {
        let retention_ms = self.settings.retention_seconds * 1000;
        let answers = self.world.sent.iter().map(|s| s.ends_at);
        let tasks = self.engine.tasks().flat_map(|task| {
            let simulated = !matches!(task.spec, TaskSpec::Http(_));
            let phase = match task.phase {
                Phase::Queued { due } | Phase::Backoff { due } => Some(due),
                Phase::Running { finishes_at, .. } if simulated => Some(finishes_at),
                _ => None,
            };
            let orphan = task.orphan.filter(|_| simulated).map(|o| o.finishes_at);
            // A delivery in flight ends with its answer, counted above.
            let delivery = task
                .callback
                .as_ref()
                .and_then(|c| c.delivery.as_ref())
                .filter(|d| d.lease.is_none())
                .map(|d| d.due);
            [phase, orphan, delivery, task.expires_at(retention_ms)]
        });
        answers
            .map(Some)
            .chain(tasks)
            .flatten()
            .filter(|&at| at > self.now)
            .min()
    }

    pub fn now(&self) -> Millis {
        self.now
    }

    /// The written files as a JSON object, path → content.
    pub fn files(&self) -> String {
        to_json(&Sorted::of(&self.world.files))
    }

    /// The requests the virtual destination received, oldest first.
    pub fn requests(&self) -> String {
        to_json(&self.world.sent)
    }

    /// The answers left in each URL's script, as a JSON object.
    pub fn scripts(&self) -> String {
        to_json(&Sorted::of(&self.world.scripts))
    }

    /// The settings as JSON: `destinations`, `secret`, `retention_seconds`.
    pub fn settings(&self) -> String {
        to_json(&self.settings)
    }

    /// Every task's attempts and callbacks over simulated time, oldest task
    /// first.
    pub fn timeline(&self) -> String {
        self.world.timeline(&self.engine)
    }

    /// The session log: seed, start time, inputs and clock ticks.
    pub fn export(&self) -> String {
        serde_json::to_string_pretty(&self.log).unwrap_or_default()
    }

    /// Replays an exported log into a fresh session, which ends in the very
    /// state the exported one had: same ids, times, bodies, requests.
    pub fn import(json: &str) -> Result<Session, String> {
        let log: Log =
            serde_json::from_str(json).map_err(|e| format!("not a playground session: {e}"))?;
        if log.format != FORMAT && log.format != FORMAT_V1 {
            return Err(format!(
                "unsupported session format {:?} (expected {FORMAT:?})",
                log.format
            ));
        }
        let mut session = Session::bare(log.seed, log.start_ms);
        for (n, event) in log.events.into_iter().enumerate() {
            let before = session.log.events.len();
            let replayed = match event {
                Event::Tick { to } if to >= session.now => {
                    session.tick(to);
                    Ok(())
                }
                Event::Tick { to } => Err(format!("the clock goes back to {}", to.0)),
                Event::Submit {
                    kind,
                    body,
                    idempotency_key,
                } => {
                    let reply = session.submit(kind, &body, idempotency_key.as_deref());
                    expect_logged(&session, before, reply)
                }
                Event::Retry { id } => {
                    let reply = session.retry(&id.to_string());
                    expect_logged(&session, before, reply)
                }
                Event::Cancel { id } => {
                    let reply = session.cancel(&id.to_string());
                    expect_logged(&session, before, reply)
                }
                Event::Delete { id } => {
                    let reply = session.delete(&id.to_string());
                    expect_logged(&session, before, reply)
                }
                Event::Script { url, answers } => session.script(&url, &answers),
                Event::Destinations { pattern } => session.set_destinations(&pattern),
                Event::Secret { secret } => session.set_secret(&secret),
                Event::Retention { seconds } => {
                    session.set_retention(seconds);
                    Ok(())
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
    /// bgtasks-core say a driver should: one wake-up at a time, so that
    /// each request sent is dated at its own step (the engine's state does
    /// not depend on how the ticks are split).
    fn run_due(&mut self) {
        let held = self.engine.len();
        while let Some(wake) = self.engine.poll_timeout().filter(|&at| at <= self.now) {
            self.world.at = wake;
            self.engine.handle_timeout(wake, &mut self.world);
        }
        // Retention deleted some: the engine tells its sink nothing then.
        if self.engine.len() < held {
            let gone: Vec<TaskId> = self
                .world
                .notes
                .keys()
                .copied()
                .filter(|&id| self.engine.task(id).is_none())
                .collect();
            for id in gone {
                self.world.forget(id);
            }
        }
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
