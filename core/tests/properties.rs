//! Invariants over random sessions of submits, retries and clock ticks.

mod common;

use bgtasks_core::{AttemptOutcome, Backoff, Phase, Status, Task, TaskKind};
use common::Sim;
use proptest::prelude::*;

#[derive(Clone, Debug)]
enum Op {
    Submit {
        kind: u8,
        delay_ms: u64,
        fail_attempts: u32,
        max_attempts: u32,
        backoff_ms: u64,
        fixed: bool,
    },
    /// Manual retry of the n-th task (modulo the count).
    Retry(usize),
    Advance(u64),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0u8..3, 0u64..3000, 0u32..5, 1u32..5, 0u64..2000, any::<bool>()).prop_map(
            |(kind, delay_ms, fail_attempts, max_attempts, backoff_ms, fixed)| Op::Submit {
                kind, delay_ms, fail_attempts, max_attempts, backoff_ms, fixed,
            }
        ),
        2 => any::<usize>().prop_map(Op::Retry),
        3 => (0u64..5000).prop_map(Op::Advance),
    ]
}

fn body(op: &Op) -> (TaskKind, String) {
    let Op::Submit {
        kind,
        delay_ms,
        fail_attempts,
        max_attempts,
        backoff_ms,
        fixed,
    } = op
    else {
        unreachable!()
    };
    let knobs = format!(
        r#""simulate": {{"delay_ms": {delay_ms}, "fail_attempts": {fail_attempts}}},
           "retry_policy": {{"max_attempts": {max_attempts}, "backoff_ms": {backoff_ms},
                             "backoff": "{}"}}"#,
        if *fixed { "fixed" } else { "exponential" }
    );
    match kind {
        0 => (
            TaskKind::Notification,
            format!(r#"{{"email": "a@b.c", "message": "m", {knobs}}}"#),
        ),
        1 => (
            TaskKind::Report,
            format!(r#"{{"name": "r", "details": {{"k": 1}}, {knobs}}}"#),
        ),
        _ => (
            TaskKind::File,
            format!(r#"{{"content": {{"x": [1, 2]}}, {knobs}}}"#),
        ),
    }
}

/// Runs the session; checks per-step invariants on the way.
fn run(ops: &[Op]) -> Sim {
    let mut sim = Sim::new();
    for op in ops {
        match op {
            Op::Submit { .. } => {
                let (kind, body) = body(op);
                sim.submit(kind, &body);
            }
            Op::Retry(n) => {
                let tasks: Vec<_> = sim.engine.tasks().collect();
                if tasks.is_empty() {
                    continue;
                }
                let before = tasks[n % tasks.len()].clone();
                let result = sim.engine.retry(sim.now, before.id);
                let after = sim.engine.task(before.id).unwrap();
                if before.status() == Status::Failed {
                    assert!(result.is_ok());
                    assert_eq!(after.id, before.id);
                    assert_eq!(after.retries, before.retries + 1);
                    assert_eq!(after.status(), Status::Pending);
                } else {
                    assert!(result.is_err());
                    assert_eq!(after, &before, "a refused retry changes nothing");
                }
            }
            Op::Advance(ms) => sim.advance(*ms),
        }
        for task in sim.engine.tasks() {
            check_task(task);
        }
    }
    sim
}

fn check_task(task: &Task) {
    let rendered: serde_json::Value =
        serde_json::from_slice(&bgtasks_core::render::task(task)).unwrap();
    assert!(["pending", "success", "failed"].contains(&rendered["status"].as_str().unwrap()));
    assert!(task.attempts - task.budget_base <= task.policy.max_attempts);
    // Every attempt ends at most once, in order; the engine never loses a
    // lease, so nothing is interrupted.
    let ended: Vec<u32> = task.history.iter().map(|r| r.attempt).collect();
    assert!(ended.windows(2).all(|w| w[0] < w[1]), "{ended:?}");
    assert!(
        task.history
            .iter()
            .all(|r| r.outcome != AttemptOutcome::Interrupted)
    );
    let running = matches!(task.phase, Phase::Running { .. });
    assert_eq!(ended.len() as u32 + u32::from(running), task.attempts);
    for record in &task.history {
        let should_fail = record.attempt <= task.simulate.fail_attempts;
        assert_eq!(record.outcome == AttemptOutcome::Failed, should_fail);
        if should_fail {
            let expected = format!(
                "simulated failure (attempt {} of {})",
                record.attempt, task.simulate.fail_attempts
            );
            assert_eq!(record.error.as_deref(), Some(expected.as_str()));
        }
        assert_eq!(
            record.ended_at.since(record.started_at),
            task.simulate.delay_ms
        );
    }
    // Backoff: with no manual retry, every gap between attempts is the
    // policy's wait for that attempt times a factor in [0.9, 1.1].
    if task.retries == 0 {
        for pair in task.history.windows(2) {
            let (failed, next) = (&pair[0], &pair[1]);
            let doublings = if task.policy.backoff == Backoff::Fixed {
                0
            } else {
                failed.attempt - 1
            };
            let base = task.policy.backoff_ms << doublings;
            let gap = next.started_at.since(failed.ended_at);
            assert!(
                base * 9 / 10 <= gap && gap <= base * 11 / 10,
                "gap {gap} outside [0.9, 1.1] x {base}"
            );
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn invariants_hold_and_every_task_ends(ops in prop::collection::vec(op(), 1..60)) {
        let mut sim = run(&ops);
        sim.drive(100_000);
        for task in sim.engine.tasks() {
            check_task(task);
            prop_assert_ne!(task.status(), Status::Pending);
            let succeeded = task.status() == Status::Success;
            prop_assert_eq!(succeeded, task.attempts > task.simulate.fail_attempts);
        }
    }

    #[test]
    fn replaying_a_session_gives_byte_identical_state(ops in prop::collection::vec(op(), 1..40)) {
        let a = run(&ops);
        let b = run(&ops);
        prop_assert_eq!(serde_json::to_vec(&a.engine.tasks().collect::<Vec<_>>()).unwrap(), serde_json::to_vec(&b.engine.tasks().collect::<Vec<_>>()).unwrap());
        prop_assert_eq!(a.engine.poll_timeout(), b.engine.poll_timeout());
        prop_assert_eq!(&a.outputs, &b.outputs);
    }

    #[test]
    fn how_the_clock_ticks_does_not_change_the_outcome(ops in prop::collection::vec(op(), 1..30), step in 1u64..700) {
        // Same session, but every Advance split into small ticks.
        let split: Vec<Op> = ops.iter().flat_map(|op| match op {
            Op::Advance(ms) => {
                let mut parts = vec![Op::Advance(ms % step)];
                parts.extend(std::iter::repeat_n(Op::Advance(step), (ms / step) as usize));
                parts
            }
            other => vec![other.clone()],
        }).collect();
        let a = run(&ops);
        let b = run(&split);
        prop_assert_eq!(serde_json::to_vec(&a.engine.tasks().collect::<Vec<_>>()).unwrap(), serde_json::to_vec(&b.engine.tasks().collect::<Vec<_>>()).unwrap());
    }
}
