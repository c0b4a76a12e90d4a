//! The v2 transitions of one task, as scenarios: scheduled starts, cancel
//! (and the orphaned attempt it leaves), `http` outcomes, callbacks and
//! retention.

use bgtasks_core::outbound::{Answer, classify};
use bgtasks_core::{
    AttemptOutcome, Backoff, CANCELLED, CallbackEvent, CallbackState, HttpMethod, HttpRequestSpec,
    LEASE_GRACE_MS, Millis, Phase, Retry, RetryPolicy, Simulate, Status, Submission, Task, TaskId,
    TaskSpec, TransitionError, WorkOutcome, render, work,
};
use serde_json::{Value, json};

const T0: Millis = Millis(1_782_465_302_123);
const URL: &str = "https://hooks.example.com/orders";
const CALLBACK: &str = "https://cb.example.com/done";

fn submission(spec: TaskSpec, policy: RetryPolicy, fail_attempts: u32) -> Submission {
    Submission {
        spec,
        simulate: Simulate {
            delay_ms: 100,
            fail_attempts,
        },
        policy,
        start_at: None,
        callback_url: None,
    }
}

/// A notification task taking 100 ms, whose first `fail_attempts` fail.
fn simulated(fail_attempts: u32) -> Submission {
    let spec = TaskSpec::Notification {
        email: "a@b.co".into(),
        message: "hi".into(),
    };
    submission(spec, RetryPolicy::default(), fail_attempts)
}

/// An `http` task with a 2.5 s timeout and the given retry budget.
fn http(max_attempts: u32) -> Submission {
    let spec = TaskSpec::Http(HttpRequestSpec {
        url: URL.into(),
        method: HttpMethod::Post,
        headers: Vec::new(),
        body: Some(json!({"order": 42})),
        timeout_ms: 2500,
    });
    let policy = RetryPolicy {
        max_attempts,
        backoff_ms: 1000,
        backoff: Backoff::Exponential,
    };
    submission(spec, policy, 0)
}

fn new(submission: Submission) -> Task {
    Task::new(TaskId::from_random_bytes([7; 16]), submission, T0)
}

fn with_callback(mut submission: Submission) -> Submission {
    submission.callback_url = Some(CALLBACK.into());
    submission
}

fn scheduled(mut submission: Submission, at: Millis) -> Submission {
    submission.start_at = Some(at);
    submission
}

/// What the destination at `url` answering `status` means.
fn answer(url: &str, status: u16, retry_after: Option<&str>) -> WorkOutcome {
    classify(
        url,
        2500,
        Answer::Response {
            status,
            retry_after,
            body: b"ok",
            duration_ms: 30,
        },
        T0,
    )
}

/// Runs one simulated attempt from `at`; returns when it ended.
fn run(task: &mut Task, at: Millis, token: u64) -> Millis {
    let claim = task.claim(at, token).expect("claimable");
    let outcome = work::execute(task, &claim, claim.finishes_at, &mut ());
    task.finish(claim.finishes_at, token, outcome).unwrap();
    claim.finishes_at
}

/// Runs one `http` attempt from `at` that gets `outcome` 40 ms later.
fn deliver(task: &mut Task, at: Millis, token: u64, outcome: WorkOutcome) -> Millis {
    task.claim(at, token).expect("claimable");
    let end = at.plus(40);
    task.finish(end, token, outcome).unwrap();
    end
}

fn status_json(task: &Task) -> Value {
    serde_json::from_slice(&render::task(task)).unwrap()
}

fn error_of(task: &Task) -> Option<&str> {
    match &task.phase {
        Phase::Failed { error, .. } => Some(error),
        _ => None,
    }
}

// ---------------------------------------------------------------------------
// Scheduled starts

#[test]
fn a_scheduled_task_is_queued_with_next_attempt_at_until_it_is_due() {
    let at = T0.plus(5000);
    let mut t = new(scheduled(simulated(0), at));
    assert_eq!(t.status(), Status::Pending);
    assert_eq!(t.phase, Phase::Queued { due: at });
    assert_eq!(t.next_attempt_at(), Some(at));
    assert_eq!(t.due_at(), Some(at));
    let body = status_json(&t);
    assert_eq!(body["next_attempt_at"], at.rfc3339().to_string());
    assert_eq!(
        body["timestamp"],
        T0.rfc3339().to_string(),
        "the submit time"
    );

    assert_eq!(t.claim(T0, 1), Err(TransitionError::NotDue(at)));
    assert_eq!(
        t.claim(Millis(at.0 - 1), 1),
        Err(TransitionError::NotDue(at))
    );
    assert_eq!(t.attempts, 0, "a refused claim starts nothing");
    let claim = t.claim(at, 1).unwrap();
    assert_eq!(claim.attempt, 1);
    assert_eq!(t.next_attempt_at(), None);
}

#[test]
fn a_start_time_already_past_is_due_at_once_with_no_next_attempt_at() {
    let t = new(scheduled(simulated(0), Millis(T0.0 - 10)));
    assert_eq!(t.phase, Phase::Queued { due: T0 });
    assert_eq!(t.next_attempt_at(), None);
}

// ---------------------------------------------------------------------------
// Cancel

#[test]
fn cancelling_a_queued_task_fails_it_as_cancelled_and_nothing_claims_it_after() {
    let mut t = new(scheduled(simulated(0), T0.plus(60_000)));
    t.cancel(T0.plus(1)).unwrap();
    assert_eq!(t.status(), Status::Failed);
    assert!(t.cancelled());
    assert_eq!(
        t.phase,
        Phase::Failed {
            finished_at: T0.plus(1),
            error: CANCELLED.into(),
            cancelled: true,
        }
    );
    assert_eq!(t.due_at(), None);
    assert_eq!(t.next_attempt_at(), None);
    assert_eq!(t.claim(T0.plus(60_000), 2), Err(TransitionError::Finished));
    assert_eq!((t.attempts, t.history.len()), (0, 0));
    let body = status_json(&t);
    assert_eq!(
        (
            &body["status"],
            &body["error"],
            &body["result"],
            &body["cancelled"]
        ),
        (
            &json!("failed"),
            &json!("cancelled"),
            &Value::Null,
            &json!(true)
        )
    );
}

#[test]
fn cancelling_a_task_waiting_to_retry_stops_its_retries() {
    let mut t = new(http(3));
    let end = deliver(&mut t, T0, 1, answer(URL, 503, None));
    let Phase::Backoff { due } = t.phase else {
        panic!("{:?}", t.phase)
    };
    t.cancel(end.plus(10)).unwrap();
    assert!(t.cancelled());
    assert_eq!(t.claim(due, 2), Err(TransitionError::Finished));
    assert_eq!(t.attempts, 1);
    assert_eq!(t.next_attempt_at(), None);
}

#[test]
fn cancelling_a_running_task_lets_its_attempt_finish_into_the_history_only() {
    let mut t = new(simulated(0));
    let claim = t.claim(T0, 7).unwrap();
    t.cancel(T0.plus(50)).unwrap();
    assert!(t.cancelled());
    assert_eq!(t.status(), Status::Failed);
    let orphan = t.orphan.expect("the running attempt is remembered");
    assert_eq!(
        (orphan.token, orphan.attempt, orphan.started_at),
        (7, 1, T0)
    );
    assert_eq!(orphan.finishes_at, claim.finishes_at);
    // No attempt starts after the cancel, not even once the lease is gone.
    for at in [T0.plus(60), claim.finishes_at.plus(LEASE_GRACE_MS + 1)] {
        assert_eq!(t.claim(at, 8), Err(TransitionError::Finished));
    }

    // The attempt ends as it would have: only the history learns of it.
    t.finish(claim.finishes_at, 7, WorkOutcome::Success)
        .unwrap();
    assert!(t.cancelled());
    assert_eq!(error_of(&t), Some(CANCELLED));
    assert_eq!(status_json(&t)["result"], Value::Null);
    assert_eq!(t.orphan, None);
    assert_eq!(t.history.len(), 1);
    assert_eq!(
        (
            t.history[0].attempt,
            t.history[0].outcome,
            t.history[0].ended_at
        ),
        (1, AttemptOutcome::Success, claim.finishes_at)
    );
    // Its finish is accepted once.
    assert_eq!(
        t.finish(claim.finishes_at, 7, WorkOutcome::Success),
        Err(TransitionError::Finished)
    );
}

#[test]
fn an_http_attempt_running_at_cancel_lands_in_the_history_with_its_status_code() {
    let mut t = new(http(3));
    t.claim(T0, 3).unwrap();
    t.cancel(T0.plus(10)).unwrap();
    t.finish(T0.plus(40), 3, answer(URL, 200, None)).unwrap();
    assert!(t.cancelled());
    assert_eq!(t.history[0].status_code, Some(200));
    assert_eq!(t.history[0].outcome, AttemptOutcome::Success);
    // A failure that would have been retried is not retried either.
    let mut t = new(http(3));
    t.claim(T0, 3).unwrap();
    t.cancel(T0.plus(10)).unwrap();
    t.finish(T0.plus(40), 3, answer(URL, 503, None)).unwrap();
    assert!(t.cancelled());
    assert_eq!(t.due_at(), None);
    assert_eq!(
        t.history[0].error.as_deref(),
        Some("HTTP 503 from https://hooks.example.com/orders")
    );
}

#[test]
fn only_a_pending_task_can_be_cancelled() {
    let mut succeeded = new(simulated(0));
    run(&mut succeeded, T0, 1);
    let mut failed = new(simulated(1));
    run(&mut failed, T0, 1);
    let mut cancelled = new(simulated(0));
    cancelled.cancel(T0).unwrap();
    for mut t in [succeeded, failed, cancelled] {
        let before = t.clone();
        assert_eq!(t.cancel(T0.plus(5000)), Err(TransitionError::NotPending));
        assert_eq!(t, before, "a refused cancel changes nothing");
    }
}

#[test]
fn a_cancelled_task_retried_by_hand_runs_at_once_and_is_no_longer_cancelled() {
    let run_at = T0.plus(3_600_000);
    let mut t = new(scheduled(simulated(0), run_at));
    t.cancel(T0.plus(1)).unwrap();
    t.retry(T0.plus(2)).unwrap();
    assert!(!t.cancelled());
    assert_eq!(t.status(), Status::Pending);
    assert_eq!(t.retries, 1);
    assert_eq!(
        t.phase,
        Phase::Queued { due: T0.plus(2) },
        "not at its old run_at"
    );
    assert_eq!(status_json(&t)["cancelled"], false);
    assert_eq!(status_json(&t)["error"], Value::Null);
    run(&mut t, T0.plus(2), 1);
    assert_eq!(t.status(), Status::Success);
}

// ---------------------------------------------------------------------------
// HTTP outcomes

#[test]
fn an_http_attempt_is_timed_by_its_timeout_and_recorded_with_its_status_code() {
    let mut t = new(http(3));
    let claim = t.claim(T0, 1).unwrap();
    assert_eq!(claim.finishes_at, T0.plus(2500));
    t.finish(T0.plus(40), 1, answer(URL, 503, None)).unwrap();
    assert_eq!(t.status(), Status::Pending);
    let record = &t.history[0];
    assert_eq!(record.status_code, Some(503));
    assert_eq!(
        record.error.as_deref(),
        Some("HTTP 503 from https://hooks.example.com/orders")
    );
    let due = t.next_attempt_at().unwrap();
    deliver(&mut t, due, 2, answer(URL, 201, None));
    assert_eq!(t.status(), Status::Success);
    assert_eq!(t.history[1].status_code, Some(201));
    assert_eq!(
        status_json(&t)["result"],
        json!({"message": "Delivered", "status_code": 201, "response_body": "ok", "duration_ms": 30})
    );
}

#[test]
fn a_final_http_failure_fails_the_task_at_once_whatever_budget_is_left() {
    for outcome in [
        answer(URL, 404, None),
        answer(URL, 301, None),
        classify(URL, 2500, Answer::NotAllowed, T0),
    ] {
        let mut t = new(http(10));
        deliver(&mut t, T0, 1, outcome.clone());
        assert_eq!(t.status(), Status::Failed, "{outcome:?}");
        assert_eq!(t.attempts, 1);
        let WorkOutcome::Failure { error, .. } = &outcome else {
            unreachable!()
        };
        assert_eq!(error_of(&t), Some(error.as_str()));
        // A manual retry still works.
        t.retry(T0.plus(1000)).unwrap();
        deliver(&mut t, T0.plus(1000), 2, answer(URL, 200, None));
        assert_eq!(t.status(), Status::Success);
    }
}

#[test]
fn retryable_http_failures_use_the_budget_then_fail_with_the_last_error() {
    let mut t = new(http(3));
    let mut at = T0;
    for token in 1..=3 {
        let outcome = if token == 3 {
            classify(URL, 2500, Answer::TimedOut, at)
        } else {
            answer(URL, 500 + token as u16, None)
        };
        deliver(&mut t, at, token, outcome);
        if let Some(due) = t.next_attempt_at() {
            at = due;
        }
    }
    assert_eq!(t.status(), Status::Failed);
    assert_eq!(error_of(&t), Some("timed out after 2500 ms"));
    let codes: Vec<_> = t.history.iter().map(|r| r.status_code).collect();
    assert_eq!(codes, [Some(501), Some(502), None]);
}

#[test]
fn retry_after_lengthens_the_policy_wait_but_never_shortens_it() {
    // The policy's own wait, for comparison: same task, same attempt.
    let mut policy = new(http(3));
    let end = deliver(&mut policy, T0, 1, answer(URL, 503, None));
    let policy_wait = policy.next_attempt_at().unwrap().since(end);
    assert!((900..=1100).contains(&policy_wait), "{policy_wait}");

    let mut longer = new(http(3));
    let end = deliver(&mut longer, T0, 1, answer(URL, 429, Some("30")));
    assert_eq!(longer.next_attempt_at(), Some(end.plus(30_000)));

    for shorter in [Retry::NotBefore(0), Retry::NotBefore(policy_wait - 1)] {
        let mut t = new(http(3));
        let outcome = WorkOutcome::Failure {
            error: "HTTP 503 from x".into(),
            status_code: Some(503),
            retry: shorter,
        };
        let end = deliver(&mut t, T0, 1, outcome);
        assert_eq!(
            t.next_attempt_at(),
            Some(end.plus(policy_wait)),
            "{shorter:?}"
        );
    }
    // A Retry-After with no budget left changes nothing: the task fails.
    let mut last = new(http(1));
    deliver(&mut last, T0, 1, answer(URL, 429, Some("30")));
    assert_eq!(last.status(), Status::Failed);
}

// ---------------------------------------------------------------------------
// Callbacks

#[test]
fn a_callback_is_pending_from_submit_with_nothing_to_deliver_yet() {
    let t = new(with_callback(simulated(0)));
    let callback = t.callback.as_ref().unwrap();
    assert_eq!(
        (
            callback.url.as_str(),
            callback.state,
            callback.attempts,
            &callback.last_error
        ),
        (CALLBACK, CallbackState::Pending, 0, &None)
    );
    assert!(!callback.busy());
    assert_eq!(
        status_json(&t)["callback"],
        json!({"url": CALLBACK, "state": "pending", "attempts": 0, "last_error": null})
    );
    let plain = new(simulated(0));
    assert!(
        status_json(&plain).get("callback").is_none(),
        "no key without a callback_url"
    );
}

#[test]
fn when_the_task_ends_its_delivery_is_due_with_the_status_body_of_that_moment() {
    let mut t = new(with_callback(simulated(0)));
    let end = run(&mut t, T0, 1);
    let payload = String::from_utf8(render::task(&t)).unwrap();
    let delivery = t.callback.as_ref().unwrap().delivery.clone().expect("due");
    assert_eq!(delivery.event, CallbackEvent::Succeeded);
    assert_eq!(delivery.webhook_id, format!("{}.0", t.id));
    assert_eq!(delivery.due, end);
    assert_eq!(delivery.payload, payload);
    let body: Value = serde_json::from_str(&delivery.payload).unwrap();
    assert_eq!(body["status"], "success");
    assert_eq!(body["callback"]["state"], "pending");
    assert_eq!(t.due_at(), Some(end), "a worker should deliver it now");
}

#[test]
fn a_task_waiting_to_retry_has_not_ended_and_calls_nothing_back() {
    let mut t = new(with_callback(http(3)));
    deliver(&mut t, T0, 1, answer(URL, 503, None));
    assert_eq!(t.status(), Status::Pending);
    assert!(!t.callback.as_ref().unwrap().busy());
    assert_eq!(
        t.claim_callback(T0.plus(100), 9),
        Err(TransitionError::NoDelivery)
    );
}

#[test]
fn a_delivered_callback_clears_its_last_error() {
    let mut t = new(with_callback(simulated(0)));
    let end = run(&mut t, T0, 1);
    let claim = t.claim_callback(end, 10).unwrap();
    assert_eq!(claim.attempt, 1);
    assert_eq!(claim.deadline, end.plus(10_000));
    t.finish_callback(end.plus(20), 10, answer(CALLBACK, 503, None))
        .unwrap();
    let callback = t.callback.as_ref().unwrap();
    assert_eq!(callback.state, CallbackState::Pending);
    assert_eq!(
        callback.last_error.as_deref(),
        Some("HTTP 503 from https://cb.example.com/done")
    );
    assert_eq!(
        status_json(&t)["callback"]["last_error"],
        "HTTP 503 from https://cb.example.com/done"
    );

    let due = t.due_at().unwrap();
    let claim = t.claim_callback(due, 11).unwrap();
    assert_eq!(claim.attempt, 2);
    t.finish_callback(due.plus(20), 11, answer(CALLBACK, 204, None))
        .unwrap();
    let callback = t.callback.as_ref().unwrap();
    assert_eq!(
        (callback.state, callback.attempts, &callback.last_error),
        (CallbackState::Delivered, 2, &None)
    );
    assert!(!callback.busy());
    assert_eq!(t.due_at(), None);
    assert_eq!(
        t.status(),
        Status::Success,
        "the task's own status is untouched"
    );
}

#[test]
fn failed_deliveries_are_retried_after_1_2_4_8_seconds_then_given_up_after_5() {
    let mut t = new(with_callback(simulated(1)));
    let mut at = run(&mut t, T0, 1);
    assert_eq!(t.status(), Status::Failed);
    for attempt in 1..=5u32 {
        let claim = t.claim_callback(at, 100 + u64::from(attempt)).unwrap();
        assert_eq!(claim.attempt, attempt);
        let end = at.plus(15);
        t.finish_callback(end, claim.token, answer(CALLBACK, 500, None))
            .unwrap();
        let callback = t.callback.as_ref().unwrap();
        assert_eq!(callback.attempts, attempt);
        if attempt < 5 {
            assert_eq!(callback.state, CallbackState::Pending);
            let wait = t.due_at().unwrap().since(end);
            let base = 1000u64 << (attempt - 1);
            assert!(
                (base * 9 / 10..=base * 11 / 10).contains(&wait),
                "wait after delivery {attempt}: {wait} ms"
            );
            // Not a moment before.
            assert_eq!(
                t.claim_callback(Millis(end.0 + wait - 1), 99),
                Err(TransitionError::NoDelivery)
            );
            at = end.plus(wait);
        }
    }
    let callback = t.callback.as_ref().unwrap();
    assert_eq!(callback.state, CallbackState::Failed);
    assert_eq!(
        callback.last_error.as_deref(),
        Some("HTTP 500 from https://cb.example.com/done")
    );
    assert!(!callback.busy());
    assert_eq!(t.due_at(), None);
    assert_eq!(t.status(), Status::Failed);
    assert_eq!(error_of(&t), Some("simulated failure (attempt 1 of 1)"));
}

#[test]
fn a_4xx_answer_to_a_delivery_gives_up_at_once() {
    for status in [400, 404, 410, 302] {
        let mut t = new(with_callback(simulated(0)));
        let end = run(&mut t, T0, 1);
        t.claim_callback(end, 5).unwrap();
        t.finish_callback(end.plus(5), 5, answer(CALLBACK, status, None))
            .unwrap();
        let callback = t.callback.as_ref().unwrap();
        assert_eq!(
            (callback.state, callback.attempts),
            (CallbackState::Failed, 1),
            "{status}"
        );
        assert_eq!(
            callback.last_error.as_deref(),
            Some(format!("HTTP {status} from {CALLBACK}").as_str())
        );
    }
}

#[test]
fn a_delivery_claim_is_a_lease_and_an_abandoned_one_is_made_again_under_its_number() {
    let mut t = new(with_callback(simulated(0)));
    let end = run(&mut t, T0, 1);
    let first = t.claim_callback(end, 1).unwrap();
    assert_eq!(
        t.claim_callback(end.plus(1), 2),
        Err(TransitionError::NoDelivery)
    );
    let expiry = t.due_at().unwrap();
    assert!(expiry > first.deadline, "a grace period past the deadline");
    let second = t.claim_callback(expiry, 2).unwrap();
    assert_eq!(second.attempt, first.attempt);
    assert_eq!(t.callback.as_ref().unwrap().attempts, 1);
    // The vanished deliverer's late report is refused.
    assert_eq!(
        t.finish_callback(expiry, 1, answer(CALLBACK, 200, None)),
        Err(TransitionError::NoDelivery)
    );
    t.finish_callback(expiry.plus(5), 2, answer(CALLBACK, 200, None))
        .unwrap();
    assert_eq!(t.callback.as_ref().unwrap().state, CallbackState::Delivered);
}

#[test]
fn a_manual_retry_resets_the_callback_to_pending_and_its_next_end_has_a_new_webhook_id() {
    let mut t = new(with_callback(simulated(1)));
    let end = run(&mut t, T0, 1);
    assert_eq!(
        t.callback
            .as_ref()
            .unwrap()
            .delivery
            .as_ref()
            .unwrap()
            .event,
        CallbackEvent::Failed
    );
    t.claim_callback(end, 9).unwrap();
    t.finish_callback(end.plus(5), 9, answer(CALLBACK, 404, None))
        .unwrap();
    assert_eq!(t.callback.as_ref().unwrap().state, CallbackState::Failed);

    t.retry(end.plus(1000)).unwrap();
    let callback = t.callback.as_ref().unwrap();
    assert_eq!(
        (
            callback.state,
            callback.attempts,
            &callback.last_error,
            callback.busy()
        ),
        (CallbackState::Pending, 0, &None, false)
    );
    run(&mut t, end.plus(1000), 2);
    let delivery = t.callback.as_ref().unwrap().delivery.clone().unwrap();
    assert_eq!(delivery.event, CallbackEvent::Succeeded);
    assert_eq!(delivery.webhook_id, format!("{}.1", t.id));
    let claim = t.claim_callback(delivery.due, 10).unwrap();
    assert_eq!(claim.attempt, 1, "this end's deliveries count from 1");
}

#[test]
fn a_cancel_is_an_end_reported_as_task_failed() {
    let mut t = new(with_callback(scheduled(simulated(0), T0.plus(60_000))));
    t.cancel(T0.plus(5)).unwrap();
    let delivery = t
        .callback
        .as_ref()
        .unwrap()
        .delivery
        .clone()
        .expect("due at the cancel");
    assert_eq!(delivery.event, CallbackEvent::Failed);
    assert_eq!(delivery.due, T0.plus(5));
    let body: Value = serde_json::from_str(&delivery.payload).unwrap();
    assert_eq!(
        (&body["error"], &body["cancelled"]),
        (&json!("cancelled"), &json!(true))
    );
}

// ---------------------------------------------------------------------------
// Retention

#[test]
fn a_finished_task_expires_its_retention_after_it_ended_and_never_with_retention_0() {
    let mut t = new(simulated(0));
    assert_eq!(t.expires_at(1000), None, "a pending task never expires");
    let end = run(&mut t, T0, 1);
    assert_eq!(t.expires_at(1000), Some(end.plus(1000)));
    assert_eq!(t.expires_at(0), None);
    let mut failed = new(simulated(1));
    let end = run(&mut failed, T0, 1);
    assert_eq!(failed.expires_at(604_800_000), Some(end.plus(604_800_000)));
    failed.retry(end.plus(10)).unwrap();
    assert_eq!(failed.expires_at(1000), None, "retried: pending again");
}

#[test]
fn a_task_does_not_expire_while_its_callback_is_still_to_be_delivered() {
    let mut t = new(with_callback(simulated(0)));
    let end = run(&mut t, T0, 1);
    assert_eq!(t.expires_at(1000), None, "delivery due");
    t.claim_callback(end, 4).unwrap();
    assert_eq!(t.expires_at(1000), None, "delivery in flight");
    t.finish_callback(end.plus(5000), 4, answer(CALLBACK, 503, None))
        .unwrap();
    assert_eq!(t.expires_at(1000), None, "delivery to be retried");
    let due = t.due_at().unwrap();
    t.claim_callback(due, 5).unwrap();
    t.finish_callback(due.plus(5), 5, answer(CALLBACK, 200, None))
        .unwrap();
    assert_eq!(
        t.expires_at(1000),
        Some(end.plus(1000)),
        "counted from the task's end"
    );
    assert_eq!(t.expires_at(0), None);
}

#[test]
fn records_with_callbacks_and_orphans_round_trip_through_json() {
    let mut t = new(with_callback(http(3)));
    t.claim(T0, 1).unwrap();
    t.cancel(T0.plus(1)).unwrap();
    t.claim_callback(T0.plus(2), 2).unwrap();
    assert!(t.orphan.is_some());
    let json = serde_json::to_string(&t).unwrap();
    let back: Task = serde_json::from_str(&json).unwrap();
    assert_eq!(back, t);
}
