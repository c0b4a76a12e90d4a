//! The in-memory engine: many tasks, one worker, a virtual clock.
//!
//! The playground runs it in the browser and the tests run it natively. It
//! holds every task, runs whatever is due when told the time, and says when
//! it next needs to be told.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};

use foldhash::fast::FixedState;

use crate::id::TaskId;
use crate::list::{ListQuery, Page};
use crate::problem::Problem;
use crate::spec::{Submission, TaskKind};
use crate::task::{Claim, Phase, Task, TransitionError};
use crate::time::Millis;
use crate::validate;
use crate::work::{self, Sink};

/// What a submit did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Submitted {
    pub id: TaskId,
    /// `false` when an `Idempotency-Key` matched an earlier submit, whose
    /// task this is.
    pub created: bool,
}

#[derive(Clone, Debug)]
struct IdempotencyRecord {
    fingerprint: [u8; 32],
    task: TaskId,
}

/// Holds tasks in submission order and runs them on the caller's clock.
///
/// Inputs: [`submit`](Engine::submit), [`retry`](Engine::retry) and
/// [`handle_timeout`](Engine::handle_timeout). Output: the outputs handed to
/// the [`Sink`], and [`poll_timeout`](Engine::poll_timeout), the next time
/// `handle_timeout` has work. Reads: [`task`](Engine::task),
/// [`list`](Engine::list).
#[derive(Debug, Default)]
pub struct Engine {
    /// Position p (1-based, as in listing) is `tasks[p - 1]`.
    tasks: Vec<Task>,
    by_id: HashMap<TaskId, usize, FixedState>,
    /// (when, task index): when a task next needs the worker. Entries that no
    /// longer match the task's phase are skipped when popped.
    timers: BinaryHeap<Reverse<(Millis, usize)>>,
    idempotency: HashMap<String, IdempotencyRecord>,
    next_token: u64,
}

impl Engine {
    pub fn new() -> Engine {
        Engine::default()
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
        let accepted = validate::submit(kind, body, idempotency_key)?;
        let Some((key, fingerprint)) = accepted.idempotency else {
            return Ok(self.submit_valid(now, accepted.submission, id_bytes));
        };
        if let Some(record) = self.idempotency.get(key) {
            return if record.fingerprint == fingerprint {
                Ok(Submitted {
                    id: record.task,
                    created: false,
                })
            } else {
                Err(Problem::IdempotencyConflict)
            };
        }
        let submission = accepted.submission;
        let submitted = self.submit_valid(now, submission, id_bytes);
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
        let index = self.tasks.len();
        self.tasks.push(Task::new(id, submission, now));
        self.by_id.insert(id, index);
        self.timers.push(Reverse((now, index)));
        Submitted { id, created: true }
    }

    /// A manual retry of a `failed` task.
    pub fn retry(&mut self, now: Millis, id: TaskId) -> Result<(), Problem> {
        let &index = self.by_id.get(&id).ok_or(Problem::TaskNotFound)?;
        self.tasks[index]
            .retry(now)
            .map_err(|_| Problem::NotFailed)?;
        self.timers.push(Reverse((now, index)));
        Ok(())
    }

    /// Runs everything due at or before `now`, in time order, each step at
    /// its own scheduled time: the resulting state does not depend on how
    /// the caller's clock ticks were split. Outputs go to `sink`.
    pub fn handle_timeout(&mut self, now: Millis, sink: &mut impl Sink) {
        while let Some(&Reverse((at, index))) = self.timers.peek() {
            if at > now {
                break;
            }
            self.timers.pop();
            self.step(index, at, sink);
        }
    }

    /// When [`handle_timeout`](Engine::handle_timeout) next has work; `None`
    /// when every task has ended. Calling it earlier does nothing harmful.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Millis> {
        self.timers.peek().map(|Reverse((at, _))| *at)
    }

    /// A task by id.
    pub fn task(&self, id: TaskId) -> Option<&Task> {
        self.by_id.get(&id).map(|&i| &self.tasks[i])
    }

    /// Every task, oldest first.
    pub fn tasks(&self) -> &[Task] {
        &self.tasks
    }

    /// A page of `/tasks`, newest first.
    pub fn list(&self, query: &ListQuery) -> Page<'_> {
        let head = self.tasks.len() as u64;
        query.page(
            query
                .window(head)
                .map(|p| (p, self.tasks.get((p - 1) as usize))),
        )
    }

    /// Advances one task at `at`, the time its timer was set for.
    fn step(&mut self, index: usize, at: Millis, sink: &mut impl Sink) {
        let task = &mut self.tasks[index];
        let next = match task.phase {
            Phase::Queued { due } | Phase::Backoff { due } if due == at => {
                let token = self.next_token;
                self.next_token += 1;
                match task.claim(at, token) {
                    Ok(claim) => Some(claim.finishes_at),
                    Err(TransitionError::NotDue(when)) => Some(when),
                    Err(_) => None,
                }
            }
            Phase::Running {
                lease, finishes_at, ..
            } if finishes_at == at => {
                let claim = Claim {
                    attempt: task.attempts,
                    token: lease.token,
                    finishes_at,
                };
                let outcome = work::execute(task, &claim, at, sink);
                // This engine holds every lease it hands out, so the finish
                // is always accepted.
                let _ = task.finish(at, lease.token, outcome);
                task.next_attempt_at()
            }
            // A stale timer: the task moved on since it was set.
            _ => None,
        };
        if let Some(when) = next {
            self.timers.push(Reverse((when, index)));
        }
    }
}
