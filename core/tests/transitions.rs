//! Each transition of one task, as a scenario.

use bgtasks_core::{
    AttemptOutcome, Backoff, LEASE_GRACE_MS, Millis, Phase, RetryPolicy, Simulate, Status,
    Submission, Task, TaskId, TaskSpec, TransitionError, WorkOutcome, work,
};

const T0: Millis = Millis(1_000_000);

fn task(fail_attempts: u32, policy: RetryPolicy) -> Task {
    let submission = Submission {
        spec: TaskSpec::Notification {
            email: "a@b.c".into(),
            message: "hi".into(),
        },
        simulate: Simulate {
            delay_ms: 100,
            fail_attempts,
        },
        policy,
        start_at: None,
        callback_url: None,
    };
    Task::new(TaskId::from_random_bytes([3; 16]), submission, T0)
}

fn run_attempt(task: &mut Task, at: Millis, token: u64) -> Millis {
    let claim = task.claim(at, token).expect("claimable");
    let outcome = work::execute(task, &claim, claim.finishes_at, &mut ());
    task.finish(claim.finishes_at, token, outcome).unwrap();
    claim.finishes_at
}

#[test]
fn a_submitted_task_is_pending_and_due_at_once() {
    let t = task(0, RetryPolicy::default());
    assert_eq!(t.status(), Status::Pending);
    assert_eq!(t.due_at(), Some(T0));
    assert_eq!((t.attempts, t.retries), (0, 0));
}

#[test]
fn a_claim_leases_the_attempt_until_its_planned_end_plus_grace() {
    let mut t = task(0, RetryPolicy::default());
    let claim = t.claim(T0, 9).unwrap();
    assert_eq!(claim.attempt, 1);
    assert_eq!(claim.finishes_at, T0.plus(100));
    assert_eq!(t.due_at(), Some(T0.plus(100 + LEASE_GRACE_MS)));
    assert_eq!(t.status(), Status::Pending);
    // Nobody else may claim while the lease holds.
    assert_eq!(
        t.claim(T0.plus(50), 10),
        Err(TransitionError::NotDue(T0.plus(100 + LEASE_GRACE_MS)))
    );
    // Only the holder finishes.
    assert_eq!(
        t.finish(T0.plus(100), 10, WorkOutcome::Success),
        Err(TransitionError::NotLeaseHolder)
    );
}

#[test]
fn success_ends_the_task_and_every_later_transition_is_refused() {
    let mut t = task(0, RetryPolicy::default());
    let end = run_attempt(&mut t, T0, 1);
    assert_eq!(t.status(), Status::Success);
    assert_eq!(
        t.phase,
        Phase::Succeeded {
            finished_at: end,
            result: None
        }
    );
    assert_eq!(t.due_at(), None);
    assert_eq!(t.claim(end.plus(10_000), 2), Err(TransitionError::Finished));
    assert_eq!(
        t.finish(end, 1, WorkOutcome::Success),
        Err(TransitionError::Finished)
    );
    assert_eq!(t.retry(end), Err(TransitionError::NotFailed));
}

#[test]
fn a_failure_without_budget_left_fails_the_task_with_the_simulated_error() {
    let mut t = task(1, RetryPolicy::default());
    run_attempt(&mut t, T0, 1);
    assert_eq!(t.status(), Status::Failed);
    let Phase::Failed { error, .. } = &t.phase else {
        panic!()
    };
    assert_eq!(error, "simulated failure (attempt 1 of 1)");
}

#[test]
fn a_failure_with_budget_left_waits_a_jittered_backoff_then_runs_again() {
    let policy = RetryPolicy {
        max_attempts: 3,
        backoff_ms: 1000,
        backoff: Backoff::Exponential,
    };
    let mut t = task(2, policy);
    let end1 = run_attempt(&mut t, T0, 1);
    let due1 = t.next_attempt_at().unwrap();
    assert!(
        (900..=1100).contains(&due1.since(end1)),
        "{:?}",
        due1.since(end1)
    );
    assert_eq!(t.status(), Status::Pending);
    // Not a moment before it is due.
    assert_eq!(
        t.claim(Millis(due1.0 - 1), 2),
        Err(TransitionError::NotDue(due1))
    );
    let claim = t.claim(due1, 2).unwrap();
    assert_eq!(claim.attempt, 2);
    let outcome = work::execute(&t, &claim, due1.plus(100), &mut ());
    assert_eq!(
        outcome,
        WorkOutcome::failed("simulated failure (attempt 2 of 2)")
    );
    t.finish(due1.plus(100), 2, outcome).unwrap();
    let due2 = t.next_attempt_at().unwrap();
    // Exponential: the second wait is about twice the first.
    assert!((1800..=2200).contains(&due2.since(due1.plus(100))));
    run_attempt(&mut t, due2, 3);
    assert_eq!(t.status(), Status::Success);
    assert_eq!(t.attempts, 3);
    let outcomes: Vec<_> = t.history.iter().map(|r| r.outcome).collect();
    assert_eq!(
        outcomes,
        [
            AttemptOutcome::Failed,
            AttemptOutcome::Failed,
            AttemptOutcome::Success
        ]
    );
}

#[test]
fn fixed_backoff_keeps_the_same_wait() {
    let policy = RetryPolicy {
        max_attempts: 3,
        backoff_ms: 500,
        backoff: Backoff::Fixed,
    };
    for failed in 1..=9 {
        for jitter in [900, 1000, 1100] {
            assert_eq!(policy.wait_ms(failed, jitter), 500 * jitter / 1000);
        }
    }
    let exp = RetryPolicy {
        backoff: Backoff::Exponential,
        ..policy
    };
    assert_eq!(exp.wait_ms(4, 1000), 4000);
}

#[test]
fn an_expired_lease_lets_another_worker_rerun_the_same_attempt() {
    let mut t = task(0, RetryPolicy::default());
    let first = t.claim(T0, 1).unwrap();
    let expiry = first.finishes_at.plus(LEASE_GRACE_MS);
    let second = t.claim(expiry, 2).unwrap();
    assert_eq!(second.attempt, first.attempt, "the attempt number is kept");
    assert_eq!(t.attempts, 1);
    assert_eq!(t.history[0].outcome, AttemptOutcome::Interrupted);
    // The vanished worker's late finish is refused; the new holder's is not.
    assert_eq!(
        t.finish(expiry, 1, WorkOutcome::Success),
        Err(TransitionError::NotLeaseHolder)
    );
    t.finish(second.finishes_at, 2, WorkOutcome::Success)
        .unwrap();
    assert_eq!(t.status(), Status::Success);
}

#[test]
fn a_manual_retry_keeps_the_id_counts_once_and_grants_a_fresh_budget() {
    let policy = RetryPolicy {
        max_attempts: 2,
        backoff_ms: 0,
        backoff: Backoff::Fixed,
    };
    let mut t = task(3, policy);
    let end = run_attempt(&mut t, T0, 1);
    let due = t.next_attempt_at().unwrap();
    assert_eq!(due, end);
    run_attempt(&mut t, due, 2);
    assert_eq!((t.status(), t.attempts), (Status::Failed, 2));

    let id = t.id;
    t.retry(T0.plus(10_000)).unwrap();
    assert_eq!((t.id, t.retries, t.status()), (id, 1, Status::Pending));
    assert_eq!(t.retry(T0.plus(10_000)), Err(TransitionError::NotFailed));
    // Attempt 3 still fails (fail_attempts counts over the task's life), and
    // the fresh budget allows attempt 4, which succeeds.
    run_attempt(&mut t, T0.plus(10_000), 3);
    assert_eq!(t.status(), Status::Pending);
    let due = t.next_attempt_at().unwrap();
    run_attempt(&mut t, due, 4);
    assert_eq!((t.status(), t.attempts, t.retries), (Status::Success, 4, 1));
}

#[test]
fn every_transition_bumps_the_version() {
    let mut t = task(0, RetryPolicy::default());
    let v0 = t.version;
    let c = t.claim(T0, 1).unwrap();
    assert_eq!(t.version, v0 + 1);
    t.finish(c.finishes_at, 1, WorkOutcome::Success).unwrap();
    assert_eq!(t.version, v0 + 2);
    let _ = t.claim(T0, 5);
    assert_eq!(t.version, v0 + 2, "a refused transition changes nothing");
}

#[test]
fn records_round_trip_through_json() {
    let mut t = task(1, RetryPolicy::default());
    run_attempt(&mut t, T0, 1);
    let json = serde_json::to_string(&t).unwrap();
    let back: Task = serde_json::from_str(&json).unwrap();
    assert_eq!(back, t);
    assert!(json.contains(r#""phase":"failed""#), "{json}");
}
