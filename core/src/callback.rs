//! Completion callbacks: each time a task ends, its status body is POSTed
//! to the submitter's `callback_url`, with up to five delivery attempts.
//!
//! ```text
//!   pending ── task ends ──► delivery due ── claim ──► in flight ── 2xx ──► delivered
//!      ▲                        ▲                         │
//!      │                        └──── retryable, < 5 ─────┤
//!   manual retry                                          └── final, or 5th ──► failed
//! ```
//!
//! A delivery never changes the task's own status. Its claim is a lease
//! like an attempt's, so after a restart a due (or abandoned) delivery is
//! picked up again and made under the same `webhook-id`.

use serde::{Deserialize, Serialize};

use crate::task::{Lease, Retry, WorkOutcome};
use crate::time::Millis;

/// Delivery attempts per end of a task.
pub const CALLBACK_MAX_ATTEMPTS: u32 = 5;
/// How long one delivery may take.
pub const CALLBACK_TIMEOUT_MS: u64 = 10_000;
/// The wait after the first failed delivery; it doubles after each.
pub const CALLBACK_BACKOFF_MS: u64 = 1_000;
/// How long after its deadline a delivery's lease runs out.
const CALLBACK_GRACE_MS: u64 = 2_000;

/// A callback's state, as `GET /status` shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CallbackState {
    /// From submit until delivered or given up.
    Pending,
    Delivered,
    Failed,
}

/// Which end a delivery reports (`bgtasks-event`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CallbackEvent {
    Succeeded,
    Failed,
}

impl CallbackEvent {
    pub fn as_str(self) -> &'static str {
        match self {
            CallbackEvent::Succeeded => "task.succeeded",
            CallbackEvent::Failed => "task.failed",
        }
    }
}

/// A task's callback.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Callback {
    pub url: String,
    pub state: CallbackState,
    /// Delivery attempts for the current end of the task.
    pub attempts: u32,
    pub last_error: Option<String>,
    /// The end being reported, while its delivery is not done.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivery: Option<Delivery>,
}

/// One end of the task, being reported.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivery {
    pub event: CallbackEvent,
    /// `<task_id>.<retries>`: the same on every redelivery of this end.
    pub webhook_id: String,
    /// The task's `GET /status` body as of its end.
    pub payload: String,
    /// When the next delivery attempt may start.
    pub due: Millis,
    /// The delivery attempt in flight, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease: Option<Lease>,
}

/// What a successful [`Callback::claim`] hands the deliverer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeliveryClaim {
    pub token: u64,
    /// This end's delivery attempt number, 1 to 5 (`bgtasks-attempt`).
    pub attempt: u32,
    /// The delivery's deadline.
    pub deadline: Millis,
}

impl Callback {
    pub fn new(url: String) -> Callback {
        Callback {
            url,
            state: CallbackState::Pending,
            attempts: 0,
            last_error: None,
            delivery: None,
        }
    }

    /// Back to pending, with nothing delivered for the end to come.
    pub(crate) fn restart(&mut self) {
        self.state = CallbackState::Pending;
        self.attempts = 0;
        self.last_error = None;
        self.delivery = None;
    }

    /// The task has ended: its delivery is due now.
    pub(crate) fn begin(
        &mut self,
        event: CallbackEvent,
        webhook_id: String,
        payload: String,
        now: Millis,
    ) {
        self.delivery = Some(Delivery {
            event,
            webhook_id,
            payload,
            due: now,
            lease: None,
        });
    }

    /// Whether a delivery is still to be made (or is being made).
    pub fn busy(&self) -> bool {
        self.delivery.is_some()
    }

    /// When a worker should act: start the due delivery, or take over one
    /// whose lease ran out.
    pub fn due_at(&self) -> Option<Millis> {
        let delivery = self.delivery.as_ref()?;
        Some(delivery.lease.map_or(delivery.due, |l| l.expires_at))
    }

    /// Takes the right to make the next delivery attempt.
    pub fn claim(&mut self, now: Millis, token: u64) -> Option<DeliveryClaim> {
        let delivery = self.delivery.as_mut()?;
        let free_at = delivery.lease.map_or(delivery.due, |l| l.expires_at);
        if free_at > now {
            return None;
        }
        // An abandoned delivery is made again under its number.
        if delivery.lease.is_none() {
            self.attempts = self.attempts.saturating_add(1);
        }
        let deadline = now.plus(CALLBACK_TIMEOUT_MS);
        delivery.lease = Some(Lease {
            token,
            expires_at: deadline.plus(CALLBACK_GRACE_MS),
        });
        Some(DeliveryClaim {
            token,
            attempt: self.attempts,
            deadline,
        })
    }

    /// Ends the delivery attempt held under `token`. A failure is retried
    /// on the classes an `http` attempt is, up to five attempts, after 1 s,
    /// 2 s, 4 s, 8 s (each times a jitter factor in thousandths).
    pub fn finish(
        &mut self,
        now: Millis,
        token: u64,
        outcome: WorkOutcome,
        jitter_permille: u64,
    ) -> bool {
        let Some(delivery) = &mut self.delivery else {
            return false;
        };
        if delivery.lease.map(|l| l.token) != Some(token) {
            return false;
        }
        match outcome {
            WorkOutcome::Success | WorkOutcome::Delivered { .. } => {
                self.state = CallbackState::Delivered;
                self.last_error = None;
                self.delivery = None;
            }
            WorkOutcome::Failure { error, retry, .. } => {
                self.last_error = Some(error);
                if retry == Retry::Never || self.attempts >= CALLBACK_MAX_ATTEMPTS {
                    self.state = CallbackState::Failed;
                    self.delivery = None;
                } else {
                    let doublings = self.attempts.saturating_sub(1).min(16);
                    let wait = CALLBACK_BACKOFF_MS << doublings;
                    let wait = wait * jitter_permille / 1000;
                    let wait = match retry {
                        Retry::NotBefore(at_least) => wait.max(at_least),
                        _ => wait,
                    };
                    delivery.lease = None;
                    delivery.due = now.plus(wait);
                }
            }
        }
        true
    }
}
