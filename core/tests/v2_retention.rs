//! Retention in the in-memory engine: finished tasks go `retention` after
//! they end, pending ones never do, and under steady load the engine holds
//! about a retention period's worth of tasks however long it runs.

mod common;

use bgtasks_core::outbound::Destinations;
use bgtasks_core::validate::{self, Context};
use bgtasks_core::{Engine, ListQuery, ScriptedAnswer, TaskKind};
use common::{START, Sim};

const SECOND_MS: u64 = 1000;
const DAY_MS: u64 = 86_400_000;
const CALLBACK: &str = "https://cb.example.com/done";

fn notification(sim: &mut Sim, extra: &str) -> bgtasks_core::TaskId {
    sim.submit(
        TaskKind::Notification,
        &format!(
            r#"{{"email": "a@b.co", "message": "hi", "simulate": {{"delay_ms": 100}} {extra}}}"#
        ),
    )
}

#[test]
fn a_finished_task_disappears_its_retention_after_it_ends() {
    let mut sim = Sim::new();
    sim.engine.set_retention(10 * SECOND_MS);
    let id = notification(&mut sim, "");
    let kept = notification(&mut sim, r#", "run_in_ms": 60000"#);
    sim.advance(100);
    assert_eq!(sim.status_json(id)["status"], "success");
    sim.advance(10 * SECOND_MS - 1);
    assert!(sim.engine.task(id).is_some(), "not a moment before");
    sim.advance(1);
    assert!(sim.engine.task(id).is_none());
    assert_eq!(sim.engine.len(), 1);
    let listed: Vec<_> = sim
        .engine
        .list(&ListQuery::default())
        .tasks
        .iter()
        .map(|t| t.id)
        .collect();
    assert_eq!(listed, [kept]);
}

#[test]
fn pending_tasks_are_never_deleted_by_retention() {
    let mut sim = Sim::with_destinations("https://*.example.com");
    sim.engine.set_retention(SECOND_MS);
    let url = "https://hooks.example.com/x";
    sim.engine.script(
        url,
        vec![ScriptedAnswer::Status {
            status: 429,
            delay_ms: 10,
            retry_after: Some("3600".into()),
            body: String::new(),
        }],
    );
    let scheduled = notification(&mut sim, r#", "run_in_ms": 2592000000"#);
    let waiting = sim.submit(TaskKind::Http, &format!(r#"{{"url": "{url}"}}"#));
    sim.advance(30 * 60 * SECOND_MS);
    for id in [scheduled, waiting] {
        assert_eq!(sim.status_json(id)["status"], "pending");
    }
    // Once it ends, the waiting one goes a second later.
    sim.advance(30 * 60 * SECOND_MS + 100);
    assert_eq!(sim.status_json(waiting)["status"], "success");
    sim.advance(SECOND_MS);
    assert!(sim.engine.task(waiting).is_none());
    assert!(sim.engine.task(scheduled).is_some());
}

#[test]
fn retention_0_keeps_finished_tasks_forever() {
    let mut sim = Sim::new();
    sim.engine.set_retention(0);
    let id = notification(&mut sim, "");
    sim.drive(10);
    assert_eq!(sim.engine.poll_timeout(), None, "no expiry timer");
    sim.advance(3650 * DAY_MS);
    assert!(sim.engine.task(id).is_some());
}

#[test]
fn a_task_is_kept_until_its_callback_is_delivered_or_given_up() {
    let mut sim = Sim::with_destinations("https://*.example.com");
    sim.engine.set_retention(500);
    sim.engine.script(
        CALLBACK,
        vec![
            ScriptedAnswer::Refused,
            ScriptedAnswer::Status {
                status: 200,
                delay_ms: 10,
                retry_after: None,
                body: String::new(),
            },
        ],
    );
    let id = notification(&mut sim, &format!(r#", "callback_url": "{CALLBACK}""#));
    sim.advance(100 + 600);
    // Past its retention, but the callback waits to be redelivered.
    let body = sim.status_json(id);
    assert_eq!(body["callback"]["state"], "pending");
    assert_eq!(body["callback"]["last_error"], "connection refused");
    sim.drive(20);
    assert_eq!(sim.outputs.callbacks.len(), 2);
    assert!(
        sim.engine.task(id).is_none(),
        "delivered, and its time is past"
    );
}

#[test]
fn a_task_retried_by_hand_expires_from_its_new_end() {
    let mut sim = Sim::new();
    sim.engine.set_retention(10 * SECOND_MS);
    let id = sim.submit(
        TaskKind::Notification,
        r#"{"email": "a@b.co", "message": "hi", "simulate": {"delay_ms": 100, "fail_attempts": 1}}"#,
    );
    sim.advance(100);
    assert_eq!(sim.status_json(id)["status"], "failed");
    sim.advance(5 * SECOND_MS);
    sim.engine.retry(sim.now, id).unwrap();
    sim.advance(100);
    assert_eq!(sim.status_json(id)["status"], "success");
    // The first end's expiry passes: the task stays.
    sim.advance(5 * SECOND_MS);
    assert!(sim.engine.task(id).is_some());
    sim.advance(5 * SECOND_MS - 1);
    assert!(sim.engine.task(id).is_some());
    sim.advance(1);
    assert!(sim.engine.task(id).is_none());
}

#[test]
fn an_expired_tasks_idempotency_key_makes_a_new_task() {
    let mut sim = Sim::new();
    sim.engine.set_retention(SECOND_MS);
    let body = r#"{"content": {}, "simulate": {"delay_ms": 10}}"#;
    let first = sim.try_submit(TaskKind::File, body, Some("k")).unwrap();
    sim.advance(10 + SECOND_MS);
    assert!(sim.engine.task(first.id).is_none());
    let again = sim.try_submit(TaskKind::File, body, Some("k")).unwrap();
    assert!(again.created);
    assert_ne!(again.id, first.id);
}

#[test]

fn a_retention_set_later_applies_to_tasks_that_already_ended() {
    let mut sim = Sim::new();
    let id = notification(&mut sim, "");
    sim.drive(10);
    sim.engine.set_retention(SECOND_MS);
    sim.advance(2 * SECOND_MS);
    assert!(
        sim.engine.task(id).is_none(),
        "ended more than its retention ago"
    );
}

/// A month of steady load: one task every 2.592 s (1,000,000 in 30 days),
/// each done in 100 ms, with the default retention of 7 days. The engine
/// should hold about a week of tasks, not the month's million.
#[test]
fn under_steady_load_the_engine_holds_about_one_retention_period_of_tasks() {
    const TASKS: u64 = 1_000_000;
    const RETENTION_MS: u64 = 7 * DAY_MS;
    let interval = 30 * DAY_MS / TASKS;
    let mut engine = Engine::new();
    engine.set_retention(RETENTION_MS);
    let none = Destinations::none();
    let context = Context {
        now: START,
        destinations: &none,
    };
    let submission = validate::submission(
        TaskKind::Notification,
        br#"{"email": "a@b.co", "message": "hi", "simulate": {"delay_ms": 100}}"#,
        &context,
    )
    .unwrap();

    let mut peak = 0;
    let mut now = START;
    for n in 0..TASKS {
        now = START.plus(n * interval);
        engine.handle_timeout(now, &mut ());
        let mut id = [0x42; 16];
        id[..8].copy_from_slice(&n.to_le_bytes());
        let submitted = engine.submit_valid(now, submission.clone(), id);
        debug_assert!(submitted.created);
        peak = peak.max(engine.len());
    }

    // A week's worth of tasks (and the one running), give or take 1%.
    let week = (RETENTION_MS / interval) as usize;
    let margin = week / 100;
    assert!(
        peak <= week + margin,
        "held {peak} tasks at the peak; a week of this load is {week}"
    );
    assert!(
        peak >= week - margin,
        "held only {peak} tasks at the peak: retention deleted tasks early (a week is {week})"
    );
    let oldest = engine.tasks().next().unwrap();
    assert!(
        now.since(oldest.submitted_at) <= RETENTION_MS + 100,
        "the oldest task held is {} ms old",
        now.since(oldest.submitted_at)
    );
    // With no more load, a week later nothing is left.
    engine.handle_timeout(now.plus(RETENTION_MS + 100), &mut ());
    assert_eq!(engine.len(), 0, "peak was {peak}");
    assert_eq!(engine.poll_timeout(), None);
}

#[test]
fn an_expired_task_is_announced_to_the_sink() {
    let mut sim = Sim::new();
    sim.engine.set_retention(SECOND_MS);
    let id = notification(&mut sim, "");
    sim.drive(100);
    assert_eq!(sim.outputs.expired, vec![id]);
    assert!(sim.engine.task(id).is_none());
}
