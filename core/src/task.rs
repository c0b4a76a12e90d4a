//! A task's life as pure transitions on a value.
//!
//! ```text
//!        submit (maybe scheduled) / manual retry        automatic retry due
//!   Queued ─────────────┐                  ┌──────────── Backoff
//!                       ▼                  ▼                ▲
//!                  claim (lease) → Running ── finish ───────┼─► Succeeded
//!                       ▲           │  │                    └─► Failed ── retry ─► Queued
//!                       │           │  └── cancel ─────────────► Failed (cancelled)
//!                       └─ lease expired (interrupted): claimed again, same attempt
//! ```
//!
//! Queued and Backoff tasks can be cancelled too. An attempt running when
//! its task is cancelled is let finish: its outcome lands in the history
//! only (the task remembers it as an orphan).
//!
//! Every transition bumps [`Task::version`], so a store can compare-and-swap
//! on whole records without being fooled by a value that changed and changed
//! back.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::callback::{Callback, CallbackEvent, DeliveryClaim};
use crate::id::TaskId;
use crate::spec::{RetryPolicy, Simulate, Submission, TaskKind, TaskSpec};
use crate::time::Millis;

/// How long after an attempt's planned end its lease runs out. Past that,
/// any worker may take the attempt over: its holder is presumed dead.
pub const LEASE_GRACE_MS: u64 = 2_000;

/// At most this many attempt records are kept per task (the newest).
pub const HISTORY_LIMIT: usize = 32;

/// The error of a cancelled task.
pub const CANCELLED: &str = "cancelled";

/// The public status: nothing else, so that clients polling "until not
/// pending" keep working.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Pending,
    Success,
    Failed,
}

impl Status {
    pub const ALL: [Status; 3] = [Status::Pending, Status::Success, Status::Failed];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Success => "success",
            Status::Failed => "failed",
        }
    }
}

/// The right to run one attempt (or deliver one callback), until
/// `expires_at`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    /// Unique per claim: only the holder's `finish` is accepted.
    pub token: u64,
    pub expires_at: Millis,
}

/// Where a task is in its life, finer than [`Status`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "phase", rename_all = "snake_case")]
pub enum Phase {
    /// Submitted or manually retried; the next attempt may start at `due`
    /// (later than the submit for a scheduled task).
    Queued { due: Millis },
    /// An attempt failed and the policy allows another at `due`.
    Backoff { due: Millis },
    /// Attempt number `attempts` is running under `lease` and is planned to
    /// end at `finishes_at` (for an `http` task: its deadline).
    Running {
        lease: Lease,
        started_at: Millis,
        finishes_at: Millis,
    },
    Succeeded {
        finished_at: Millis,
        /// The result, when the work produced one (an `http` task's
        /// delivery); simulated work's result is derived from its spec.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        result: Option<Value>,
    },
    Failed {
        finished_at: Millis,
        error: String,
        #[serde(default, skip_serializing_if = "is_false")]
        cancelled: bool,
    },
}

fn is_false(b: &bool) -> bool {
    !b
}

/// How one attempt ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttemptOutcome {
    Success,
    Failed,
    /// Its worker vanished (lease ran out); the attempt was run again.
    Interrupted,
}

/// One entry of a task's attempt history.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttemptRecord {
    pub attempt: u32,
    pub started_at: Millis,
    pub ended_at: Millis,
    pub outcome: AttemptOutcome,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The answer's status code, for an `http` attempt that got one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_code: Option<u16>,
}

/// The attempt that was running when its task was cancelled.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Orphan {
    pub token: u64,
    pub attempt: u32,
    pub started_at: Millis,
    /// When it was planned to end (its deadline, for an `http` attempt).
    pub finishes_at: Millis,
}

/// A task record: everything the engine knows about one task. Stores keep
/// it whole (as JSON) under the task's id.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Task {
    pub id: TaskId,
    pub spec: TaskSpec,
    pub simulate: Simulate,
    pub policy: RetryPolicy,
    pub submitted_at: Millis,
    pub updated_at: Millis,
    /// Manual retries so far.
    pub retries: u32,
    /// Attempts started over the task's whole life.
    pub attempts: u32,
    /// `attempts` when the current budget began (a manual retry grants a
    /// fresh `max_attempts`).
    pub budget_base: u32,
    pub phase: Phase,
    pub history: Vec<AttemptRecord>,
    /// Bumped by every transition; stores compare-and-swap on it.
    pub version: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub callback: Option<Callback>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub orphan: Option<Orphan>,
    /// The task's listing position, for shells that keep an index of
    /// positions (0: none yet).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub position: u64,
    /// The idempotency key's hash, for shells that index keys, so that
    /// deleting the task can find its key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotency: Option<String>,
    /// Set by a store shell whose time index covers every wait of this task
    /// (a scheduled start, a long backoff, a retry by hand), so that its
    /// position-ordered recovery may pass it by. The engine ignores it.
    #[serde(default, skip_serializing_if = "is_false")]
    pub indexed: bool,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// What a successful [`Task::claim`] hands the worker.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Claim {
    pub attempt: u32,
    pub token: u64,
    /// When the work is done and [`Task::finish`] should be called; for an
    /// `http` attempt, its deadline.
    pub finishes_at: Millis,
}

/// Why a transition was refused. The caller's view of the task is stale or
/// its request is out of turn; the task is unchanged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TransitionError {
    /// Nothing to claim before this time (queued, backing off, or leased).
    NotDue(Millis),
    /// The task has ended; only a manual retry moves it.
    Finished,
    /// `finish` from a worker that does not hold the current lease.
    NotLeaseHolder,
    /// Manual retry of a task that is not `failed`.
    NotFailed,
    /// Cancel of a task that is not `pending`.
    NotPending,
    /// No callback delivery to claim or finish.
    NoDelivery,
}

/// When the next attempt may start after a failed one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Retry {
    /// As the retry policy says.
    Policy,
    /// As the policy says, but not sooner than this many milliseconds
    /// (`Retry-After`, already capped).
    NotBefore(u64),
    /// Never by itself: the task fails at once, whatever budget is left.
    Never,
}

/// What the worker reports when an attempt's work is done.
#[derive(Clone, Debug, PartialEq)]
pub enum WorkOutcome {
    /// Simulated work succeeded (its result derives from the spec).
    Success,
    /// Real work succeeded with this result (an `http` delivery).
    Delivered { status_code: u16, result: Value },
    Failure {
        error: String,
        status_code: Option<u16>,
        retry: Retry,
    },
}

impl WorkOutcome {
    /// A failure the retry policy handles as usual.
    pub fn failed(error: impl Into<String>) -> WorkOutcome {
        WorkOutcome::Failure {
            error: error.into(),
            status_code: None,
            retry: Retry::Policy,
        }
    }
}

impl Task {
    /// A new task, queued to start at `now`, or later when scheduled.
    pub fn new(id: TaskId, submission: Submission, now: Millis) -> Task {
        let due = submission.start_at.map_or(now, |at| at.max(now));
        Task {
            id,
            spec: submission.spec,
            simulate: submission.simulate,
            policy: submission.policy,
            submitted_at: now,
            updated_at: now,
            retries: 0,
            attempts: 0,
            budget_base: 0,
            phase: Phase::Queued { due },
            history: Vec::new(),
            version: 1,
            callback: submission.callback_url.map(Callback::new),
            orphan: None,
            position: 0,
            idempotency: None,
            indexed: false,
        }
    }

    pub fn kind(&self) -> TaskKind {
        self.spec.kind()
    }

    pub fn status(&self) -> Status {
        match self.phase {
            Phase::Queued { .. } | Phase::Backoff { .. } | Phase::Running { .. } => Status::Pending,
            Phase::Succeeded { .. } => Status::Success,
            Phase::Failed { .. } => Status::Failed,
        }
    }

    /// Whether this task was cancelled (and not retried since).
    pub fn cancelled(&self) -> bool {
        matches!(
            self.phase,
            Phase::Failed {
                cancelled: true,
                ..
            }
        )
    }

    /// When the task ended, if it has.
    pub fn ended_at(&self) -> Option<Millis> {
        match self.phase {
            Phase::Succeeded { finished_at, .. } | Phase::Failed { finished_at, .. } => {
                Some(finished_at)
            }
            _ => None,
        }
    }

    /// When a worker should next act on this task: start a queued attempt,
    /// take over an expired lease, (for the lease holder, who knows its
    /// token) finish, or deliver a callback. `None` when nothing is left.
    pub fn due_at(&self) -> Option<Millis> {
        match &self.phase {
            Phase::Queued { due } | Phase::Backoff { due } => Some(*due),
            Phase::Running { lease, .. } => Some(lease.expires_at),
            Phase::Succeeded { .. } | Phase::Failed { .. } => {
                self.callback.as_ref().and_then(Callback::due_at)
            }
        }
    }

    /// When the next attempt is due, while the task waits for one: an
    /// automatic retry, or a scheduled start.
    pub fn next_attempt_at(&self) -> Option<Millis> {
        match self.phase {
            Phase::Backoff { due } => Some(due),
            Phase::Queued { due } if due > self.updated_at => Some(due),
            _ => None,
        }
    }

    /// When a store keeping finished tasks for `retention_ms` may delete
    /// this one: `retention_ms` after it ended, once its callback (if any)
    /// has been delivered or given up. `None` while that is not known yet,
    /// or when `retention_ms` is 0 (kept forever).
    pub fn expires_at(&self, retention_ms: u64) -> Option<Millis> {
        if retention_ms == 0 || self.callback.as_ref().is_some_and(Callback::busy) {
            return None;
        }
        self.ended_at().map(|at| at.plus(retention_ms))
    }

    /// Takes the right to run the next attempt, under a lease identified by
    /// `token` (unique per claim; the caller draws it).
    ///
    /// Claims a queued or backing-off task that is due, or a running one
    /// whose lease has expired: that attempt was interrupted and runs again
    /// under the same number, since its side effects are keyed by task id
    /// (an `http` receiver sees the same `webhook-id` again).
    pub fn claim(&mut self, now: Millis, token: u64) -> Result<Claim, TransitionError> {
        match &self.phase {
            Phase::Queued { due } | Phase::Backoff { due } => {
                if *due > now {
                    return Err(TransitionError::NotDue(*due));
                }
                self.attempts = self.attempts.saturating_add(1);
            }
            Phase::Running {
                lease, started_at, ..
            } => {
                if lease.expires_at > now {
                    return Err(TransitionError::NotDue(lease.expires_at));
                }
                let record = AttemptRecord {
                    attempt: self.attempts,
                    started_at: *started_at,
                    ended_at: now,
                    outcome: AttemptOutcome::Interrupted,
                    error: None,
                    status_code: None,
                };
                self.record(record);
            }
            Phase::Succeeded { .. } | Phase::Failed { .. } => {
                return Err(TransitionError::Finished);
            }
        }
        let finishes_at = now.plus(self.attempt_ms());
        self.phase = Phase::Running {
            lease: Lease {
                token,
                expires_at: finishes_at.plus(LEASE_GRACE_MS),
            },
            started_at: now,
            finishes_at,
        };
        self.touch(now);
        Ok(Claim {
            attempt: self.attempts,
            token,
            finishes_at,
        })
    }

    /// How long an attempt may take: the simulated delay, or an `http`
    /// task's timeout.
    pub fn attempt_ms(&self) -> u64 {
        match &self.spec {
            TaskSpec::Http(request) => request.timeout_ms,
            _ => self.simulate.delay_ms,
        }
    }

    /// Ends the attempt held under `token` with `outcome`, applying the
    /// retry policy: another attempt after a backoff while the budget lasts
    /// (and the failure allows it), else `failed`.
    ///
    /// The attempt that was running when the task was cancelled ends here
    /// too: its outcome goes into the history and nothing else changes.
    pub fn finish(
        &mut self,
        now: Millis,
        token: u64,
        outcome: WorkOutcome,
    ) -> Result<(), TransitionError> {
        if let Some(orphan) = self.orphan.filter(|o| o.token == token) {
            self.orphan = None;
            let record = attempt_record(orphan.attempt, orphan.started_at, now, &outcome);
            self.record(record);
            self.touch(now);
            return Ok(());
        }
        let Phase::Running {
            lease, started_at, ..
        } = &self.phase
        else {
            return Err(match self.phase {
                Phase::Succeeded { .. } | Phase::Failed { .. } => TransitionError::Finished,
                _ => TransitionError::NotLeaseHolder,
            });
        };
        if lease.token != token {
            return Err(TransitionError::NotLeaseHolder);
        }
        let record = attempt_record(self.attempts, *started_at, now, &outcome);
        match outcome {
            WorkOutcome::Success => {
                self.phase = Phase::Succeeded {
                    finished_at: now,
                    result: None,
                };
            }
            WorkOutcome::Delivered { result, .. } => {
                self.phase = Phase::Succeeded {
                    finished_at: now,
                    result: Some(result),
                };
            }
            WorkOutcome::Failure { error, retry, .. } => {
                // Records come from a store: never trust them not to underflow.
                let failed_in_budget = self.attempts.saturating_sub(self.budget_base);
                let again = retry != Retry::Never && failed_in_budget < self.policy.max_attempts;
                self.phase = if again {
                    let wait = self
                        .policy
                        .wait_ms(failed_in_budget, self.jitter_permille());
                    let wait = match retry {
                        Retry::NotBefore(at_least) => wait.max(at_least),
                        _ => wait,
                    };
                    Phase::Backoff {
                        due: now.plus(wait),
                    }
                } else {
                    Phase::Failed {
                        finished_at: now,
                        error,
                        cancelled: false,
                    }
                };
            }
        }
        self.record(record);
        self.touch(now);
        self.start_callback(now);
        Ok(())
    }

    /// A manual retry: a `failed` task (cancelled ones included) goes back
    /// to the queue, due at once, with a fresh budget of `max_attempts`, one
    /// more `retries`, result and error cleared, and its callback pending
    /// again.
    pub fn retry(&mut self, now: Millis) -> Result<(), TransitionError> {
        if !matches!(self.phase, Phase::Failed { .. }) {
            return Err(TransitionError::NotFailed);
        }
        self.retries = self.retries.saturating_add(1);
        self.budget_base = self.attempts;
        self.phase = Phase::Queued { due: now };
        if let Some(callback) = &mut self.callback {
            callback.restart();
        }
        self.touch(now);
        Ok(())
    }

    /// Cancels a `pending` task: it becomes `failed` with error
    /// `cancelled`, and no attempt starts after it. A running attempt is
    /// let finish; its outcome will land in the history only.
    pub fn cancel(&mut self, now: Millis) -> Result<(), TransitionError> {
        match self.phase {
            Phase::Running {
                lease,
                started_at,
                finishes_at,
            } => {
                self.orphan = Some(Orphan {
                    token: lease.token,
                    attempt: self.attempts,
                    started_at,
                    finishes_at,
                });
            }
            Phase::Queued { .. } | Phase::Backoff { .. } => {}
            Phase::Succeeded { .. } | Phase::Failed { .. } => {
                return Err(TransitionError::NotPending);
            }
        }
        self.phase = Phase::Failed {
            finished_at: now,
            error: CANCELLED.into(),
            cancelled: true,
        };
        self.touch(now);
        self.start_callback(now);
        Ok(())
    }

    /// Takes the right to make the due callback delivery (see
    /// [`Callback::claim`]).
    pub fn claim_callback(
        &mut self,
        now: Millis,
        token: u64,
    ) -> Result<DeliveryClaim, TransitionError> {
        let claim = self
            .callback
            .as_mut()
            .and_then(|c| c.claim(now, token))
            .ok_or(TransitionError::NoDelivery)?;
        self.touch(now);
        Ok(claim)
    }

    /// Ends the callback delivery held under `token` (see
    /// [`Callback::finish`]).
    pub fn finish_callback(
        &mut self,
        now: Millis,
        token: u64,
        outcome: WorkOutcome,
    ) -> Result<(), TransitionError> {
        let attempt = self.callback.as_ref().map_or(0, |c| c.attempts);
        // Its own jitter stream, apart from the attempts'.
        let jitter = jitter_permille(self.id, attempt.wrapping_add(0x8000_0000));
        let finished = self
            .callback
            .as_mut()
            .is_some_and(|c| c.finish(now, token, outcome, jitter));
        if !finished {
            return Err(TransitionError::NoDelivery);
        }
        self.touch(now);
        Ok(())
    }

    /// When the task has just ended, its callback (if any) becomes due.
    fn start_callback(&mut self, now: Millis) {
        let event = match self.phase {
            Phase::Succeeded { .. } => CallbackEvent::Succeeded,
            Phase::Failed { .. } => CallbackEvent::Failed,
            _ => return,
        };
        if self.callback.is_none() {
            return;
        }
        // The status body as of this moment, with the callback pending.
        if let Some(callback) = &mut self.callback {
            callback.restart();
        }
        let payload = String::from_utf8(crate::render::task(self)).unwrap_or_default();
        let webhook_id = format!("{}.{}", self.id, self.retries);
        if let Some(callback) = &mut self.callback {
            callback.begin(event, webhook_id, payload, now);
        }
    }

    /// The jitter factor for the wait after the current attempt, in
    /// thousandths: drawn from the task id and attempt number, so the same
    /// task replays the same schedule.
    fn jitter_permille(&self) -> u64 {
        jitter_permille(self.id, self.attempts)
    }

    fn record(&mut self, record: AttemptRecord) {
        if self.history.len() == HISTORY_LIMIT {
            self.history.remove(0);
        }
        // Most tasks make one attempt: grow one record at a time rather than
        // by Vec's default first step of four (the bulk of a task's memory).
        self.history.reserve_exact(1);
        self.history.push(record);
    }

    pub(crate) fn touch(&mut self, now: Millis) {
        self.updated_at = now;
        self.version = self.version.wrapping_add(1);
    }
}

/// A jitter factor in thousandths, 900..=1100, drawn from `id` and `n`.
pub(crate) fn jitter_permille(id: TaskId, n: u32) -> u64 {
    let mut seed = [0u8; 8];
    for (i, byte) in id.as_bytes().iter().enumerate() {
        seed[i % 8] ^= byte;
    }
    let seed = u64::from_le_bytes(seed) ^ u64::from(n).rotate_left(32);
    fastrand::Rng::with_seed(seed).u64(900..=1100)
}

fn attempt_record(
    attempt: u32,
    started_at: Millis,
    now: Millis,
    outcome: &WorkOutcome,
) -> AttemptRecord {
    let (outcome, error, status_code) = match outcome {
        WorkOutcome::Success => (AttemptOutcome::Success, None, None),
        WorkOutcome::Delivered { status_code, .. } => {
            (AttemptOutcome::Success, None, Some(*status_code))
        }
        WorkOutcome::Failure {
            error, status_code, ..
        } => (AttemptOutcome::Failed, Some(error.clone()), *status_code),
    };
    AttemptRecord {
        attempt,
        started_at,
        ended_at: now,
        outcome,
        error,
        status_code,
    }
}
