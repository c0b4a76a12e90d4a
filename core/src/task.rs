//! A task's life as pure transitions on a value.
//!
//! ```text
//!            submit / manual retry              automatic retry due
//!   Queued ─────────────┐           ┌──────────── Backoff
//!                       ▼           ▼                ▲
//!                  claim (lease) → Running ── finish ┼─► Succeeded
//!                       ▲           │                └─► Failed ── retry ─► Queued
//!                       └─ lease expired (interrupted): claimed again, same attempt
//! ```
//!
//! Every transition bumps [`Task::version`], so a store can compare-and-swap
//! on whole records without being fooled by a value that changed and changed
//! back.

use serde::{Deserialize, Serialize};

use crate::id::TaskId;
use crate::spec::{RetryPolicy, Simulate, Submission, TaskKind, TaskSpec};
use crate::time::Millis;

/// How long after an attempt's planned end its lease runs out. Past that,
/// any worker may take the attempt over: its holder is presumed dead.
pub const LEASE_GRACE_MS: u64 = 2_000;

/// At most this many attempt records are kept per task (the newest).
pub const HISTORY_LIMIT: usize = 32;

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

/// The right to run one attempt, until `expires_at`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    /// Unique per claim: only the holder's `finish` is accepted.
    pub token: u64,
    pub expires_at: Millis,
}

/// Where a task is in its life, finer than [`Status`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "phase", rename_all = "snake_case")]
pub enum Phase {
    /// Submitted or manually retried; the next attempt may start at `due`.
    Queued {
        due: Millis,
    },
    /// An attempt failed and the policy allows another at `due`.
    Backoff {
        due: Millis,
    },
    /// Attempt number `attempts` is running under `lease` and is planned to
    /// end at `finishes_at`.
    Running {
        lease: Lease,
        started_at: Millis,
        finishes_at: Millis,
    },
    Succeeded {
        finished_at: Millis,
    },
    Failed {
        finished_at: Millis,
        error: String,
    },
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
}

/// What a successful [`Task::claim`] hands the worker.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Claim {
    pub attempt: u32,
    pub token: u64,
    /// When the work is done and [`Task::finish`] should be called.
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
}

/// What the worker reports when an attempt's work is done.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WorkOutcome {
    Success,
    Failure(String),
}

impl Task {
    /// A new task, queued to start at `now`.
    pub fn new(id: TaskId, submission: Submission, now: Millis) -> Task {
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
            phase: Phase::Queued { due: now },
            history: Vec::new(),
            version: 1,
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

    /// When a worker should next act on this task: start a queued attempt,
    /// take over an expired lease, or (for the lease holder, who knows its
    /// token) finish. `None` once the task has ended.
    pub fn due_at(&self) -> Option<Millis> {
        match &self.phase {
            Phase::Queued { due } | Phase::Backoff { due } => Some(*due),
            Phase::Running { lease, .. } => Some(lease.expires_at),
            Phase::Succeeded { .. } | Phase::Failed { .. } => None,
        }
    }

    /// When the automatic retry the task is waiting for is due.
    pub fn next_attempt_at(&self) -> Option<Millis> {
        match self.phase {
            Phase::Backoff { due } => Some(due),
            _ => None,
        }
    }

    /// Takes the right to run the next attempt, under a lease identified by
    /// `token` (unique per claim; the caller draws it).
    ///
    /// Claims a queued or backing-off task that is due, or a running one
    /// whose lease has expired: that attempt was interrupted and runs again
    /// under the same number, since its side effects are keyed by task id.
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
                };
                self.record(record);
            }
            Phase::Succeeded { .. } | Phase::Failed { .. } => {
                return Err(TransitionError::Finished);
            }
        }
        let finishes_at = now.plus(self.simulate.delay_ms);
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

    /// Ends the running attempt held under `token` with `outcome`, applying
    /// the retry policy: another attempt after a backoff while the budget
    /// lasts, else `failed`.
    pub fn finish(
        &mut self,
        now: Millis,
        token: u64,
        outcome: WorkOutcome,
    ) -> Result<(), TransitionError> {
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
        let started_at = *started_at;
        let (record_outcome, error) = match outcome {
            WorkOutcome::Success => {
                self.phase = Phase::Succeeded { finished_at: now };
                (AttemptOutcome::Success, None)
            }
            WorkOutcome::Failure(error) => {
                // Records come from a store: never trust them not to underflow.
                let failed_in_budget = self.attempts.saturating_sub(self.budget_base);
                self.phase = if failed_in_budget < self.policy.max_attempts {
                    let wait = self
                        .policy
                        .wait_ms(failed_in_budget, self.jitter_permille());
                    Phase::Backoff {
                        due: now.plus(wait),
                    }
                } else {
                    Phase::Failed {
                        finished_at: now,
                        error: error.clone(),
                    }
                };
                (AttemptOutcome::Failed, Some(error))
            }
        };
        self.record(AttemptRecord {
            attempt: self.attempts,
            started_at,
            ended_at: now,
            outcome: record_outcome,
            error,
        });
        self.touch(now);
        Ok(())
    }

    /// A manual retry: a `failed` task goes back to the queue with a fresh
    /// budget of `max_attempts`, one more `retries`, result and error cleared.
    pub fn retry(&mut self, now: Millis) -> Result<(), TransitionError> {
        if !matches!(self.phase, Phase::Failed { .. }) {
            return Err(TransitionError::NotFailed);
        }
        self.retries = self.retries.saturating_add(1);
        self.budget_base = self.attempts;
        self.phase = Phase::Queued { due: now };
        self.touch(now);
        Ok(())
    }

    /// The jitter factor for the wait after the current attempt, in
    /// thousandths: drawn from the task id and attempt number, so the same
    /// task replays the same schedule.
    fn jitter_permille(&self) -> u64 {
        let id = self.id.as_bytes();
        let mut seed = [0u8; 8];
        for (i, byte) in id.iter().enumerate() {
            seed[i % 8] ^= byte;
        }
        let seed = u64::from_le_bytes(seed) ^ u64::from(self.attempts).rotate_left(32);
        fastrand::Rng::with_seed(seed).u64(900..=1100)
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

    fn touch(&mut self, now: Millis) {
        self.updated_at = now;
        self.version = self.version.wrapping_add(1);
    }
}
