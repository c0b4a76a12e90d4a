//! One function per route: store access around bgtasks-core calls.

use std::time::Duration;

use bgtasks_core::validate::{self, Context};
use bgtasks_core::{ListQuery, Millis, Problem, Status, Task, TaskId, TaskKind, render, work};
use futures_util::future::select;

use crate::commit::{self, NewTask};
use crate::config::{Settings, settings};
use crate::runner::{
    self, StoreSink, Work, after_store, arm, claim_if_due, now, sleep_until, spawn_work, token,
};
use crate::store::{IdempotencyRecord, Kv, StoreError, Swap, hex, key_hash, keys};

/// What a route answers.
pub struct Reply {
    pub status: u16,
    pub body: Vec<u8>,
    pub content_type: &'static str,
    pub location: Option<String>,
    pub allow: Option<&'static str>,
    /// `WWW-Authenticate` (a 401).
    pub authenticate: bool,
}

impl Reply {
    pub fn json(status: u16, body: Vec<u8>) -> Reply {
        Reply {
            status,
            body,
            content_type: "application/json",
            location: None,
            allow: None,
            authenticate: false,
        }
    }

    pub fn problem(problem: &Problem) -> Reply {
        Reply {
            authenticate: *problem == Problem::NotAuthenticated,
            ..Reply::json(problem.status(), problem.body())
        }
    }
}

impl From<StoreError> for Reply {
    fn from(_: StoreError) -> Reply {
        Reply::problem(&Problem::StoreUnavailable)
    }
}

impl From<Problem> for Reply {
    fn from(problem: Problem) -> Reply {
        Reply::problem(&problem)
    }
}

/// How long a submit that lost the race for its idempotency key waits for
/// the winner's task to be stored before creating its own.
const IDEMPOTENCY_WAIT_MS: u64 = 2_000;

/// `POST /notify/`, `/report/`, `/file/`, `/http/`: validate, store the
/// task (one commit, shared with concurrent submits), answer 202, run it in
/// the background.
///
/// A task due at once is stored already claimed; one whose attempt takes no
/// time (simulated work of zero delay) is stored already run, its output in
/// the same commit: nobody knows the task before the 202, so nobody can race
/// that write. A scheduled task is stored queued, in the time index, and
/// this instance's timer wakes it.
pub async fn submit(
    kind: TaskKind,
    body: &[u8],
    key: Option<&[u8]>,
    arriving: commit::Arriving,
) -> Result<Reply, Reply> {
    let settings = settings().await;
    let at = now();
    let context = Context {
        now: at,
        destinations: &settings.destinations,
    };
    let accepted = validate::submit(kind, body, key, &context)?;
    let kv = Kv::open().await?;
    let mut idempotency = None;
    if let Some((key, fingerprint)) = accepted.idempotency {
        let hash = key_hash(key);
        let fingerprint = hex(&fingerprint);
        if let Some(id) = earlier_submit(&kv, &hash, &fingerprint).await? {
            return Ok(accepted_reply(id));
        }
        idempotency = Some((hash, fingerprint));
    }

    let id = TaskId::from_random_bytes(random_16());
    let mut task = Task::new(id, accepted.submission, at);
    let mut extra = Vec::new();
    let mut work = None;
    if task.next_attempt_at().is_some() {
        // Scheduled: the time index finds it after a restart.
        task.indexed = true;
    } else {
        let claim = task
            .claim(at, token())
            .map_err(|_| Reply::problem(&Problem::StoreUnavailable))?;
        if task.kind() != TaskKind::Http && claim.finishes_at <= at {
            let mut outputs = StoreSink::default();
            let outcome = work::execute(&task, &claim, at, &mut outputs);
            let _ = task.finish(at, claim.token, outcome);
            extra.extend(outputs.files);
        } else {
            work = Some(Work::Attempt(claim));
        }
    }
    if let Some((hash, fingerprint)) = &idempotency {
        task.idempotency = Some(hash.clone());
        let record = IdempotencyRecord {
            fingerprint: fingerprint.clone(),
            task: id,
        };
        let value = serde_json::to_vec(&record).unwrap_or_default();
        extra.push((keys::idempotency(hash), value));
    }
    drop(arriving);
    let task = commit::store_submit(NewTask { task, extra }).await?;
    match work {
        Some(work) => spawn_work(task, work),
        None => match task.due_at() {
            Some(due) if due > at => arm(id, due),
            // A retry or a callback due at once.
            Some(_) => arm(id, at),
            None => {}
        },
    }
    runner::maybe_sweep();
    Ok(accepted_reply(id))
}

/// The task an earlier submit with this key created, or `None` when this
/// submit is the first. Concurrent first submits race on a counter: one
/// creates, the others wait for its record.
async fn earlier_submit(kv: &Kv, hash: &str, fingerprint: &str) -> Result<Option<TaskId>, Reply> {
    let record_key = keys::idempotency(hash);
    let matching = |raw: Vec<u8>| -> Result<TaskId, Reply> {
        match serde_json::from_slice::<IdempotencyRecord>(&raw) {
            Ok(record) if record.fingerprint == fingerprint => Ok(record.task),
            Ok(_) => Err(Problem::IdempotencyConflict.into()),
            Err(_) => Err(Problem::StoreUnavailable.into()),
        }
    };
    if let Some(raw) = kv.get(&record_key).await? {
        return matching(raw).map(Some);
    }
    if kv.increment(&keys::idempotency_race(hash), 1).await? == 1 {
        return Ok(None);
    }
    let deadline = now().plus(IDEMPOTENCY_WAIT_MS);
    while now() < deadline {
        spin_sdk::time::sleep(Duration::from_millis(20)).await;
        if let Some(raw) = kv.get(&record_key).await? {
            return matching(raw).map(Some);
        }
    }
    // The first submit never finished storing: this one takes its place.
    Ok(None)
}

fn accepted_reply(id: TaskId) -> Reply {
    Reply {
        location: Some(format!("/status/{id}")),
        ..Reply::json(202, render::accepted(id))
    }
}

/// A task as the routes see it: gone once deleted, or once its retention
/// ran out (its keys follow within a sweep or two).
async fn live_task(kv: &Kv, settings: &Settings, id: TaskId) -> Result<Task, Reply> {
    let task = kv.load(id).await?.ok_or(Problem::TaskNotFound)?;
    if task
        .expires_at(settings.retention_ms)
        .is_some_and(|at| at <= now())
    {
        return Err(Problem::TaskNotFound.into());
    }
    Ok(task)
}

/// The longest `wait_ms`.
pub const MAX_WAIT_MS: u64 = 30_000;
/// A waiting read looks at the store again at least this often, for a task
/// another instance runs.
const WAIT_POLL_MS: u64 = 500;

/// `GET /status/{id}[?wait_ms=N]`: one read; a task that is due (or whose
/// worker vanished) is claimed and run from here. With `wait_ms`, a
/// pending task's answer waits until it is no longer pending (woken by this
/// instance's own writes, or reading again when the task's next step was
/// planned, and every half second) or the time is up.
pub async fn status(id: Option<TaskId>, query: &str) -> Result<Reply, Reply> {
    let wait_ms = wait_ms(query).map_err(Problem::Invalid)?;
    let id = id.ok_or(Problem::TaskNotFound)?;
    let settings = settings().await;
    let kv = Kv::open().await?;
    let deadline = now().plus(wait_ms);
    let mut task = live_task(&kv, &settings, id).await?;
    loop {
        let (seen, work) = claim_if_due(&kv, task).await?;
        if let Some(work) = work {
            spawn_work(seen.clone(), work);
        }
        task = seen;
        if task.status() != Status::Pending || now() >= deadline {
            break;
        }
        let changed = runner::watch(id);
        let planned = task.due_at().map_or(deadline, |due| due.plus(5));
        let wake = planned.min(deadline).min(now().plus(WAIT_POLL_MS));
        let sleep = std::pin::pin!(sleep_until(wake));
        select(sleep, changed).await;
        task = match kv.load(id).await? {
            Some(task) => task,
            None => return Err(Problem::TaskNotFound.into()),
        };
    }
    runner::maybe_sweep();
    Ok(Reply::json(200, render::task(&task)))
}

/// The `wait_ms` query parameter: 0 to 30,000, FastAPI's errors otherwise.
fn wait_ms(query: &str) -> Result<u64, Vec<validate::FieldError>> {
    let Some(text) = form_urlencoded::parse(query.as_bytes())
        .filter(|(name, _)| name == "wait_ms")
        .map(|(_, value)| value.into_owned())
        .last()
    else {
        return Ok(0);
    };
    bgtasks_core::list::query_integer("wait_ms", &text, 0, MAX_WAIT_MS).map_err(|e| vec![e])
}

/// Applies a transition to the stored task by compare-and-swap, reading it
/// again and deciding anew when another write came first. `Ok(None)` when
/// the transition refuses the task as it now is.
async fn transition<R, E>(
    kv: &Kv,
    settings: &Settings,
    id: TaskId,
    change: impl Fn(&mut Task, Millis) -> Result<R, E>,
) -> Result<Result<(Task, R), E>, Reply> {
    loop {
        let task = live_task(kv, settings, id).await?;
        let mut changed = task.clone();
        let made = match change(&mut changed, now()) {
            Ok(made) => made,
            Err(e) => return Ok(Err(e)),
        };
        if kv.store(&task, &changed).await? == Swap::Won {
            after_store(kv, &changed).await;
            return Ok(Ok((changed, made)));
        }
    }
}

/// `POST /retry-task/{id}`: a failed task goes back to work, claimed by
/// this invocation. Of two racing retries, the compare-and-swap lets one
/// through; the other finds the task no longer failed.
pub async fn retry(id: Option<TaskId>) -> Result<Reply, Reply> {
    let id = id.ok_or(Problem::TaskNotFound)?;
    let settings = settings().await;
    let kv = Kv::open().await?;
    let claimed = transition(&kv, &settings, id, |task, at| {
        task.retry(at)?;
        // The recovery floor may have passed this task long ago: from now
        // on the time index covers its steps.
        task.indexed = true;
        task.claim(at, token())
    })
    .await?;
    let Ok((task, claim)) = claimed else {
        return Err(Problem::NotFailed.into());
    };
    spawn_work(task, Work::Attempt(claim));
    Ok(Reply::json(200, render::retried(id)))
}

/// `POST /cancel-task/{id}`: a pending task becomes failed, cancelled; no
/// attempt starts after it. Its callback (if any) is delivered from here.
pub async fn cancel(id: Option<TaskId>) -> Result<Reply, Reply> {
    let id = id.ok_or(Problem::TaskNotFound)?;
    let settings = settings().await;
    let kv = Kv::open().await?;
    let Ok((task, ())) = transition(&kv, &settings, id, |task, at| task.cancel(at)).await? else {
        return Err(Problem::NotPending.into());
    };
    if let (claimed, Some(work)) = claim_if_due(&kv, task).await? {
        spawn_work(claimed, work);
    }
    Ok(Reply::json(200, render::cancelled(id)))
}

/// `DELETE /tasks/{id}`: a finished task and every key it has.
pub async fn delete(id: Option<TaskId>) -> Result<Reply, Reply> {
    let id = id.ok_or(Problem::TaskNotFound)?;
    let settings = settings().await;
    let kv = Kv::open().await?;
    loop {
        let task = live_task(&kv, &settings, id).await?;
        if task.status() == Status::Pending {
            return Err(Problem::StillPending.into());
        }
        if kv.delete_task(&task, now()).await? == Swap::Won {
            return Ok(Reply {
                content_type: "application/json",
                ..Reply::json(204, Vec::new())
            });
        }
    }
}

/// `GET /tasks`: reads the window of positions the query names (bounded
/// by the limit, never below the retention floor), then those tasks.
pub async fn list(query: &str) -> Result<Reply, Reply> {
    let query = ListQuery::parse(query).map_err(Problem::Invalid)?;
    let settings = settings().await;
    let kv = Kv::open().await?;
    let head = kv.counter(keys::POSITIONS).await?;
    let oldest = kv.number(keys::RETENTION_FLOOR).await?;
    let positions: Vec<u64> = query.window(head).take_while(|&p| p >= oldest).collect();
    let rows = kv.tasks_at(&positions).await?;
    let at = now();
    let tasks: Vec<Option<Task>> = rows
        .into_iter()
        .map(|(_, task)| {
            task.filter(|t| t.expires_at(settings.retention_ms).is_none_or(|e| e > at))
        })
        .collect();
    let page = query.page(
        positions
            .iter()
            .copied()
            .zip(tasks.iter().map(Option::as_ref)),
    );
    runner::maybe_sweep();
    Ok(Reply::json(200, render::page(&page)))
}

/// `GET /outputs/{id}.json`.
pub async fn output(id: Option<TaskId>) -> Result<Reply, Reply> {
    let id = id.ok_or(Problem::OutputNotFound)?;
    let kv = Kv::open().await?;
    let contents = kv
        .get(&keys::output(id))
        .await?
        .ok_or(Problem::OutputNotFound)?;
    Ok(Reply::json(200, contents))
}

/// `GET /healthz`: ok once the store answers a read.
pub async fn health() -> Result<Reply, Reply> {
    let kv = Kv::open().await?;
    kv.get(keys::POSITIONS).await?;
    runner::maybe_sweep();
    Ok(Reply::json(200, br#"{"status":"ok"}"#.to_vec()))
}

/// `GET /openapi.json`: the description of every route, kept beside the
/// route table.
pub fn openapi() -> Reply {
    Reply::json(200, include_bytes!("../openapi.json").to_vec())
}

/// Where Spin mounts the built playground (`files` in spin.toml).
const PLAYGROUND_DIR: &str = "/playground";

/// `GET /` and `/playground/...`: a file of the built playground. The
/// router has already refused any path that could leave its directory.
pub fn asset(path: &str) -> Result<Reply, Reply> {
    let contents = std::fs::read(format!("{PLAYGROUND_DIR}/{path}"))
        .map_err(|_| Reply::problem(&Problem::NoRoute))?;
    let content_type = match path.rsplit_once('.').map(|(_, ext)| ext) {
        Some("html") => "text/html; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("wasm") => "application/wasm",
        Some("json") => "application/json",
        Some("svg") => "image/svg+xml",
        Some("ts") => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    };
    Ok(Reply {
        content_type,
        ..Reply::json(200, contents)
    })
}

fn random_16() -> [u8; 16] {
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&token().to_le_bytes());
    bytes[8..].copy_from_slice(&token().to_le_bytes());
    bytes
}
