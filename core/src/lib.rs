//! bgtasks-core: the bgtasks engine, a deterministic background-task state
//! machine with no I/O, no clock and no async runtime.
//!
//! Both homes of the service run this crate: the Spin component (tasks in a
//! key-value store, real time) and the browser playground (tasks in memory,
//! virtual time). Time comes in as an argument ([`Millis`]), randomness as
//! bytes the caller draws (task ids) or seeds derived from the task (retry
//! jitter), and outputs go out through an injected [`Sink`]. The same inputs
//! always give the same state, byte for byte.
//!
//! # The pieces
//!
//! - [`validate`]: outside input to a [`Submission`] or FastAPI-shaped
//!   errors; every rule of the API contract lives there or in [`list`].
//! - [`Task`]: one task's life as transitions — [`Task::claim`] an attempt
//!   under a lease, [`Task::finish`] it (applying the retry policy),
//!   [`Task::retry`] by hand. A store keeps the record and compares-and-swaps
//!   on [`Task::version`].
//! - [`work`]: the simulated work of each task type and its outputs.
//! - [`Engine`]: many tasks in memory, driven by a clock.
//! - [`render`] and [`Problem`]: the contract's JSON bodies and refusals.
//!
//! # Driving the engine
//!
//! Feed inputs in, then call [`Engine::handle_timeout`] with the current time
//! and sleep until [`Engine::poll_timeout`]; a call that comes early is
//! harmless. A simulation jumps the clock straight to the next wake-up:
//!
//! ```
//! use bgtasks_core::{Engine, Millis, Status, TaskKind};
//!
//! let mut engine = Engine::new();
//! let mut outputs: Vec<String> = Vec::new(); // any `Sink`
//! let mut now = Millis(1_750_000_000_000);
//!
//! let body = br#"{"name": "Sales Report", "simulate": {"delay_ms": 500, "fail_attempts": 1},
//!                 "retry_policy": {"max_attempts": 2, "backoff_ms": 100}}"#;
//! let task = engine.submit(now, TaskKind::Report, body, None, [7; 16]).unwrap().id;
//!
//! engine.handle_timeout(now, &mut outputs);
//! while let Some(wake) = engine.poll_timeout() {
//!     now = wake; // a real shell sleeps until `wake` instead
//!     engine.handle_timeout(now, &mut outputs);
//! }
//!
//! let done = engine.task(task).unwrap();
//! assert_eq!(done.status(), Status::Success);
//! assert_eq!(done.attempts, 2); // the first attempt failed, the retry succeeded
//! assert_eq!(outputs.len(), 1); // the report, written once
//! ```
//!
//! A shell that keeps tasks in a store drives one [`Task`] at a time instead:
//! load it, [`Task::claim`] when [`Task::due_at`] has passed, store it with
//! compare-and-swap, wait until [`Claim::finishes_at`], run
//! [`work::execute`], then [`Task::finish`] and store again.

// Validation errors are large (they echo the offending input, as FastAPI
// does) and travel only on the refusal path, where their size costs nothing.
#![allow(clippy::result_large_err)]

pub mod callback;
mod engine;
mod id;
pub mod list;
pub mod outbound;
mod problem;
pub mod render;
mod spec;
mod task;
mod time;
pub mod validate;
pub mod work;

pub use callback::{Callback, CallbackEvent, CallbackState, Delivery, DeliveryClaim};
pub use engine::{Engine, ScriptedAnswer, Submitted};
pub use id::TaskId;
pub use list::{ListQuery, Page};
pub use problem::Problem;
pub use spec::{
    Backoff, HttpMethod, HttpRequestSpec, RetryPolicy, Simulate, Submission, TaskKind, TaskSpec,
};
pub use task::{
    AttemptOutcome, AttemptRecord, CANCELLED, Claim, HISTORY_LIMIT, LEASE_GRACE_MS, Lease, Orphan,
    Phase, Retry, Status, Task, TransitionError, WorkOutcome,
};
pub use time::{Millis, Rfc3339};
pub use work::{Output, Sink};
