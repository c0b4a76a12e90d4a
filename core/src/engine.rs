//! The in-memory engine: many tasks, one worker, a virtual clock.
//!
//! The playground runs it in the browser and the tests run it natively. It
//! holds every task, runs whatever is due when told the time, and says when
//! it next needs to be told. `http` tasks and callbacks go to a virtual
//! destination whose answers are scripted per URL.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};

use foldhash::fast::FixedState;

use crate::callback::DeliveryClaim;
use crate::id::TaskId;
use crate::list::{ListQuery, Page};
use crate::outbound::{self, Answer, Destinations, Secret};
use crate::problem::Problem;
use crate::spec::{Submission, TaskKind, TaskSpec};
use crate::task::{Claim, Phase, Task, TransitionError, WorkOutcome};
use crate::time::Millis;
use crate::validate::{self, Context};
use crate::work::{self, Output, Sink};

/// What a submit did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Submitted {
    pub id: TaskId,
    /// `false` when an `Idempotency-Key` matched an earlier submit, whose
    /// task this is.
    pub created: bool,
}

/// One answer of the virtual destination, in a URL's script.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ScriptedAnswer {
    /// An HTTP answer after `delay_ms`, with an optional `Retry-After`.
    Status {
        status: u16,
        delay_ms: u64,
        retry_after: Option<String>,
        body: String,
    },
    /// No answer at all: the attempt times out.
    Silence,
    /// The connection is refused at once.
    Refused,
}

impl ScriptedAnswer {
    /// What a URL with no script (or a spent one) answers: 200, quickly.
    pub fn ok() -> ScriptedAnswer {
        ScriptedAnswer::Status {
            status: 200,
            delay_ms: 20,
            retry_after: None,
            body: String::new(),
        }
    }
}

#[derive(Clone, Debug)]
struct IdempotencyRecord {
    fingerprint: [u8; 32],
    task: TaskId,
}

/// A request the virtual destination is answering.
#[derive(Clone, Debug)]
struct InFlight {
    token: u64,
    ends_at: Millis,
    answer: ScriptedAnswer,
    started_at: Millis,
    /// A callback delivery rather than an attempt.
    callback: bool,
}

/// Holds tasks in submission order and runs them on the caller's clock.
///
/// Inputs: [`submit`](Engine::submit), [`retry`](Engine::retry),
/// [`cancel`](Engine::cancel), [`delete`](Engine::delete) and
/// [`handle_timeout`](Engine::handle_timeout). Output: the outputs handed to
/// the [`Sink`], and [`poll_timeout`](Engine::poll_timeout), the next time
/// `handle_timeout` has work. Reads: [`task`](Engine::task),
/// [`list`](Engine::list). Settings: [`set_destinations`],
/// [`set_secret`], [`set_retention`] and [`script`].
///
/// [`set_destinations`]: Engine::set_destinations
/// [`set_secret`]: Engine::set_secret
/// [`set_retention`]: Engine::set_retention
/// [`script`]: Engine::script
#[derive(Debug, Default)]
pub struct Engine {
    /// Position p (1-based, as in listing) is `tasks[p - base - 1]`; deleted
    /// tasks leave `None` until the front is trimmed.
    tasks: VecDeque<Option<Task>>,
    base: u64,
    by_id: HashMap<TaskId, u64, FixedState>,
    /// (when, position): when a task next needs the worker. Entries that no
    /// longer match the task's state are skipped when popped.
    timers: BinaryHeap<Reverse<(Millis, u64)>>,
    idempotency: HashMap<String, IdempotencyRecord>,
    /// Requests the virtual destination is answering, by task position: an
    /// attempt and a callback delivery may be in flight at once (and an
    /// attempt orphaned by a cancel beside a retry's).
    in_flight: HashMap<u64, Vec<InFlight>, FixedState>,
    scripts: HashMap<String, VecDeque<ScriptedAnswer>>,
    destinations: Destinations,
    secret: Option<Secret>,
    retention_ms: u64,
    next_token: u64,
}

impl Engine {
    pub fn new() -> Engine {
        Engine::default()
    }

    /// The permitted destinations for `url` and `callback_url` (none until
    /// set, as in the service).
    pub fn set_destinations(&mut self, destinations: Destinations) {
        self.destinations = destinations;
    }

    /// The key requests are signed with (`None`: unsigned).
    pub fn set_secret(&mut self, secret: Option<Secret>) {
        self.secret = secret;
    }

    /// Finished tasks are deleted `ms` after they end (0: kept forever),
    /// those that ended already included.
    pub fn set_retention(&mut self, ms: u64) {
        self.retention_ms = ms;
        let positions: Vec<u64> = self.by_id.values().copied().collect();
        for position in positions {
            self.arm_expiry(position);
        }
    }

    /// The answers the virtual destination gives requests to `url`, one per
    /// request, in order; then [`ScriptedAnswer::ok`].
    pub fn script(&mut self, url: &str, answers: Vec<ScriptedAnswer>) {
        self.scripts.insert(url.to_owned(), answers.into());
    }

    /// Handles a submit as the HTTP route would: checks the optional
    /// `Idempotency-Key` and the body, then queues a task with the id made
    /// from `id_bytes` (unused when the key matched an earlier submit).
    pub fn submit(
        &mut self,
        now: Millis,
        kind: TaskKind,
        body: &[u8],
        idempotency_key: Option<&[u8]>,
        id_bytes: [u8; 16],
    ) -> Result<Submitted, Problem> {
        let context = Context {
            now,
            destinations: &self.destinations,
        };
        let accepted = validate::submit(kind, body, idempotency_key, &context)?;
        let Some((key, fingerprint)) = accepted.idempotency else {
            return Ok(self.submit_valid(now, accepted.submission, id_bytes));
        };
        if let Some(record) = self.idempotency.get(key) {
            let live = self.by_id.contains_key(&record.task);
            if live {
                return if record.fingerprint == fingerprint {
                    Ok(Submitted {
                        id: record.task,
                        created: false,
                    })
                } else {
                    Err(Problem::IdempotencyConflict)
                };
            }
        }
        let submission = accepted.submission;
        let submitted = self.submit_valid(now, submission, id_bytes);
        if let Some(position) = self.by_id.get(&submitted.id).copied()
            && let Some(task) = self.slot(position)
        {
            // So that removing the task forgets its key.
            task.idempotency = Some(key.to_owned());
        }
        let record = IdempotencyRecord {
            fingerprint,
            task: submitted.id,
        };
        self.idempotency.insert(key.to_owned(), record);
        Ok(submitted)
    }

    /// Queues an already validated submission.
    pub fn submit_valid(
        &mut self,
        now: Millis,
        submission: Submission,
        id_bytes: [u8; 16],
    ) -> Submitted {
        let id = TaskId::from_random_bytes(id_bytes);
        let mut task = Task::new(id, submission, now);
        let due = task.due_at().unwrap_or(now);
        let position = self.head() + 1;
        task.position = position;
        self.tasks.push_back(Some(task));
        self.by_id.insert(id, position);
        self.timers.push(Reverse((due, position)));
        Submitted { id, created: true }
    }

    /// A manual retry of a `failed` task.
    pub fn retry(&mut self, now: Millis, id: TaskId) -> Result<(), Problem> {
        let position = self.position(id)?;
        let task = self.slot(position).ok_or(Problem::TaskNotFound)?;
        task.retry(now).map_err(|_| Problem::NotFailed)?;
        self.timers.push(Reverse((now, position)));
        Ok(())
    }

    /// Cancels a `pending` task.
    pub fn cancel(&mut self, now: Millis, id: TaskId) -> Result<(), Problem> {
        let position = self.position(id)?;
        let task = self.slot(position).ok_or(Problem::TaskNotFound)?;
        task.cancel(now).map_err(|_| Problem::NotPending)?;
        if let Some(due) = task.due_at() {
            self.timers.push(Reverse((due, position)));
        }
        self.arm_expiry(position);
        self.drop_stale_timers();
        Ok(())
    }

    /// Deletes a finished task at once, its output with it (the sink is
    /// told nothing: the caller drops what it kept for the task).
    pub fn delete(&mut self, id: TaskId) -> Result<(), Problem> {
        let position = self.position(id)?;
        let task = self.slot(position).ok_or(Problem::TaskNotFound)?;
        if task.status() == crate::task::Status::Pending {
            return Err(Problem::StillPending);
        }
        self.remove(position);
        self.drop_stale_timers();
        Ok(())
    }

    /// Runs everything due at or before `now`, in time order, each step at
    /// its own scheduled time: the resulting state does not depend on how
    /// the caller's clock ticks were split. Outputs go to `sink`.
    pub fn handle_timeout(&mut self, now: Millis, sink: &mut impl Sink) {
        while let Some(&Reverse((at, position))) = self.timers.peek() {
            if at > now {
                break;
            }
            self.timers.pop();
            self.step(position, at, sink);
        }
        self.drop_stale_timers();
    }

    /// Pops the timers at the head that no longer match their task (it
    /// moved on, was cancelled or deleted), so that
    /// [`poll_timeout`](Engine::poll_timeout) names a time when something
    /// happens.
    fn drop_stale_timers(&mut self) {
        while let Some(&Reverse((at, position))) = self.timers.peek() {
            if self.acts_at(position, at) {
                return;
            }
            self.timers.pop();
        }
    }

    /// Whether task `position` has something to do at `at`.
    fn acts_at(&self, position: u64, at: Millis) -> bool {
        let Some(task) = self.get(position) else {
            return false;
        };
        let simulated = !matches!(task.spec, TaskSpec::Http(_));
        let flight = self
            .in_flight
            .get(&position)
            .is_some_and(|f| f.iter().any(|f| f.ends_at == at));
        let phase = match task.phase {
            Phase::Queued { due } | Phase::Backoff { due } => due == at,
            Phase::Running { finishes_at, .. } => simulated && finishes_at == at,
            _ => task.callback.as_ref().and_then(|c| c.due_at()) == Some(at),
        };
        flight
            || phase
            || (simulated && task.orphan.is_some_and(|o| o.finishes_at == at))
            || task.expires_at(self.retention_ms) == Some(at)
    }

    /// When [`handle_timeout`](Engine::handle_timeout) next has work; `None`
    /// when there is none. Calling it earlier does nothing harmful.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Millis> {
        self.timers.peek().map(|Reverse((at, _))| *at)
    }

    /// A task by id.
    pub fn task(&self, id: TaskId) -> Option<&Task> {
        let position = *self.by_id.get(&id)?;
        self.get(position)
    }

    /// Every task held, oldest first.
    pub fn tasks(&self) -> impl Iterator<Item = &Task> {
        self.tasks.iter().flatten()
    }

    /// How many tasks are held (deleted ones not counted).
    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    /// A page of `/tasks`, newest first.
    pub fn list(&self, query: &ListQuery) -> Page<'_> {
        query.page(
            query
                .window(self.head())
                .take_while(|&p| p > self.base)
                .map(|p| (p, self.get(p))),
        )
    }

    /// The newest position handed out (0 before the first submit).
    fn head(&self) -> u64 {
        self.base + self.tasks.len() as u64
    }

    fn position(&self, id: TaskId) -> Result<u64, Problem> {
        self.by_id.get(&id).copied().ok_or(Problem::TaskNotFound)
    }

    fn get(&self, position: u64) -> Option<&Task> {
        let index = position.checked_sub(self.base + 1)?;
        self.tasks.get(index as usize)?.as_ref()
    }

    fn slot(&mut self, position: u64) -> Option<&mut Task> {
        let index = position.checked_sub(self.base + 1)?;
        self.tasks.get_mut(index as usize)?.as_mut()
    }

    fn remove(&mut self, position: u64) {
        let Some(index) = position.checked_sub(self.base + 1) else {
            return;
        };
        if let Some(slot) = self.tasks.get_mut(index as usize)
            && let Some(task) = slot.take()
        {
            self.by_id.remove(&task.id);
            if let Some(key) = &task.idempotency {
                self.idempotency.remove(key);
            }
        }
        self.in_flight.remove(&position);
        // Most tasks are deleted oldest first: keep the front trimmed.
        while let Some(None) = self.tasks.front() {
            self.tasks.pop_front();
            self.base += 1;
        }
    }

    /// Sets the retention timer of a task that may have just become
    /// deletable.
    fn arm_expiry(&mut self, position: u64) {
        let retention = self.retention_ms;
        if let Some(at) = self.get(position).and_then(|t| t.expires_at(retention)) {
            self.timers.push(Reverse((at, position)));
        }
    }

    fn draw_token(&mut self) -> u64 {
        self.next_token += 1;
        self.next_token
    }

    fn next_answer(&mut self, url: &str) -> ScriptedAnswer {
        self.scripts
            .get_mut(url)
            .and_then(VecDeque::pop_front)
            .unwrap_or_else(ScriptedAnswer::ok)
    }

    /// Advances one task at `at`, the time its timer was set for.
    fn step(&mut self, position: u64, at: Millis, sink: &mut impl Sink) {
        let retention = self.retention_ms;
        let Some(task) = self.get(position) else {
            return;
        };
        if task.expires_at(retention) == Some(at) {
            let id = task.id;
            self.remove(position);
            sink.emit(Output::Expired { task: id });
            return;
        }
        let simulated = !matches!(task.spec, TaskSpec::Http(_));
        let orphan_ends = task.orphan.map(|o| o.finishes_at);
        let phase = task.phase.clone();
        let delivery_due = task.ended_at().is_some()
            && task.callback.as_ref().and_then(|c| c.due_at()) == Some(at);
        if let Some(flight) = self.take_flight(position, at) {
            self.land(position, at, flight);
        } else if simulated && orphan_ends == Some(at) {
            self.finish_orphan(position, at, sink);
        } else {
            match phase {
                Phase::Queued { due } | Phase::Backoff { due } if due == at => {
                    self.start_attempt(position, at, sink)
                }
                Phase::Running { finishes_at, .. } if simulated && finishes_at == at => {
                    self.finish_simulated(position, at, sink)
                }
                _ if delivery_due => self.start_delivery(position, at, sink),
                _ => {}
            }
        }
        let Some(task) = self.get(position) else {
            return;
        };
        // Due now counts: a zero backoff is due at once, in this same call.
        if let Some(next) = task.due_at().filter(|&d| d >= at) {
            let delivering = task
                .callback
                .as_ref()
                .and_then(|c| c.delivery.as_ref())
                .is_some_and(|d| d.lease.is_some());
            let lease_only = matches!(task.phase, Phase::Running { .. }) || delivering;
            // A running task's own timer is its finish or its flight's end;
            // its lease expiry never fires in a single-worker engine.
            if !lease_only {
                self.timers.push(Reverse((next, position)));
            }
        }
        self.arm_expiry(position);
    }

    fn start_attempt(&mut self, position: u64, at: Millis, sink: &mut impl Sink) {
        let token = self.draw_token();
        let secret = self.secret.clone();
        let Some(task) = self.slot(position) else {
            return;
        };
        let claim = match task.claim(at, token) {
            Ok(claim) => claim,
            Err(TransitionError::NotDue(when)) => {
                self.timers.push(Reverse((when, position)));
                return;
            }
            Err(_) => return,
        };
        let TaskSpec::Http(spec) = &task.spec else {
            self.timers.push(Reverse((claim.finishes_at, position)));
            return;
        };
        let request = outbound::task_request(spec, task.id, claim.attempt, at, secret.as_ref());
        let id = task.id;
        let timeout = spec.timeout_ms;
        let url = spec.url.clone();
        sink.emit(Output::Request {
            task: id,
            request: &request,
        });
        self.fly(position, claim_flight(&claim), &url, timeout, at, false);
    }

    fn start_delivery(&mut self, position: u64, at: Millis, sink: &mut impl Sink) {
        let token = self.draw_token();
        let secret = self.secret.clone();
        let Some(task) = self.slot(position) else {
            return;
        };
        let Ok(claim) = task.claim_callback(at, token) else {
            return;
        };
        let Some(callback) = &task.callback else {
            return;
        };
        let Some(delivery) = &callback.delivery else {
            return;
        };
        let request =
            outbound::callback_request(&callback.url, delivery, claim.attempt, at, secret.as_ref());
        let url = callback.url.clone();
        let id = task.id;
        sink.emit(Output::Callback {
            task: id,
            request: &request,
        });
        let timeout = claim.deadline.since(at);
        self.fly(position, delivery_flight(&claim), &url, timeout, at, true);
    }

    /// Sends a request to the virtual destination: it ends when the
    /// scripted answer arrives, or at the timeout.
    fn fly(
        &mut self,
        position: u64,
        token: u64,
        url: &str,
        timeout: u64,
        at: Millis,
        callback: bool,
    ) {
        let answer = self.next_answer(url);
        let takes = match &answer {
            ScriptedAnswer::Status { delay_ms, .. } => (*delay_ms).min(timeout),
            ScriptedAnswer::Silence => timeout,
            ScriptedAnswer::Refused => 0,
        };
        let ends_at = at.plus(takes);
        self.in_flight.entry(position).or_default().push(InFlight {
            token,
            ends_at,
            answer,
            started_at: at,
            callback,
        });
        self.timers.push(Reverse((ends_at, position)));
    }

    /// The request of task `position` that ends at `at`, if any.
    fn take_flight(&mut self, position: u64, at: Millis) -> Option<InFlight> {
        let flights = self.in_flight.get_mut(&position)?;
        let index = flights.iter().position(|f| f.ends_at == at)?;
        let flight = flights.swap_remove(index);
        if flights.is_empty() {
            self.in_flight.remove(&position);
        }
        Some(flight)
    }

    /// A request of the virtual destination has its answer (or timed out).
    fn land(&mut self, position: u64, at: Millis, flight: InFlight) {
        let Some(task) = self.slot(position) else {
            return;
        };
        let (url, timeout) = match (&task.spec, flight.callback, &task.callback) {
            (_, true, Some(callback)) => {
                (callback.url.clone(), crate::callback::CALLBACK_TIMEOUT_MS)
            }
            (TaskSpec::Http(spec), false, _) => (spec.url.clone(), spec.timeout_ms),
            _ => return,
        };
        let answer = match &flight.answer {
            ScriptedAnswer::Status {
                status,
                delay_ms,
                retry_after,
                body,
            } if *delay_ms <= timeout => Answer::Response {
                status: *status,
                retry_after: retry_after.as_deref(),
                body: body.as_bytes(),
                duration_ms: at.since(flight.started_at),
            },
            ScriptedAnswer::Refused => Answer::Refused,
            _ => Answer::TimedOut,
        };
        let outcome = outbound::classify(&url, timeout, answer, at);
        if flight.callback {
            let _ = task.finish_callback(at, flight.token, outcome);
        } else {
            let _ = task.finish(at, flight.token, outcome);
        }
    }

    /// The simulated attempt that was running when its task was cancelled
    /// ends: its outputs are written and its outcome goes to the history.
    fn finish_orphan(&mut self, position: u64, at: Millis, sink: &mut impl Sink) {
        let Some(task) = self.slot(position) else {
            return;
        };
        let Some(orphan) = task.orphan else {
            return;
        };
        let claim = Claim {
            attempt: orphan.attempt,
            token: orphan.token,
            finishes_at: orphan.finishes_at,
        };
        let outcome = work::execute(task, &claim, at, sink);
        let _ = task.finish(at, orphan.token, outcome);
    }

    fn finish_simulated(&mut self, position: u64, at: Millis, sink: &mut impl Sink) {
        let Some(task) = self.slot(position) else {
            return;
        };
        let Phase::Running {
            lease, finishes_at, ..
        } = task.phase
        else {
            return;
        };
        let claim = Claim {
            attempt: task.attempts,
            token: lease.token,
            finishes_at,
        };
        let outcome: WorkOutcome = work::execute(task, &claim, at, sink);
        // This engine holds every lease it hands out, so the finish is
        // always accepted.
        let _ = task.finish(at, lease.token, outcome);
    }
}

fn claim_flight(claim: &Claim) -> u64 {
    claim.token
}

fn delivery_flight(claim: &DeliveryClaim) -> u64 {
    claim.token
}
