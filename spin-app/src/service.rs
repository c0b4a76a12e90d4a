//! One function per route: store access around bgtasks-core calls.

use std::time::Duration;

use bgtasks_core::{ListQuery, Problem, Task, TaskId, TaskKind, render, validate};
use serde::{Deserialize, Serialize};

use crate::commit;
use crate::runner::{self, claim_if_due, now, spawn_run, token};
use crate::store::{Kv, StoreError, Swap, encode, hex, key_hash, keys};

/// What a route answers.
pub struct Reply {
    pub status: u16,
    pub body: Vec<u8>,
    pub content_type: &'static str,
    pub location: Option<String>,
    pub allow: Option<&'static str>,
}

impl Reply {
    pub fn json(status: u16, body: Vec<u8>) -> Reply {
        Reply {
            status,
            body,
            content_type: "application/json",
            location: None,
            allow: None,
        }
    }

    pub fn problem(problem: &Problem) -> Reply {
        Reply::json(problem.status(), problem.body())
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

/// The value of an `idem/...` key.
#[derive(Serialize, Deserialize)]
struct IdempotencyRecord {
    fingerprint: String,
    task: TaskId,
}

/// How long a submit that lost the race for its idempotency key waits for
/// the winner's task to be stored before creating its own.
const IDEMPOTENCY_WAIT_MS: u64 = 2_000;

/// `POST /notify/`, `/report/`, `/file/`: validate, store the task already
/// claimed (one commit, shared with concurrent submits), answer 202, run it
/// in the background.
pub async fn submit(kind: TaskKind, body: &[u8], key: Option<&[u8]>) -> Result<Reply, Reply> {
    let accepted = validate::submit(kind, body, key)?;
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

    let at = now();
    let id = TaskId::from_random_bytes(random_16());
    let mut task = Task::new(id, accepted.submission, at);
    let claim = task
        .claim(at, token())
        .map_err(|_| Reply::problem(&Problem::StoreUnavailable))?;
    let mut entries = vec![(keys::task(id), encode(&task))];
    if let Some((hash, fingerprint)) = &idempotency {
        let record = IdempotencyRecord {
            fingerprint: fingerprint.clone(),
            task: id,
        };
        let value = serde_json::to_vec(&record).unwrap_or_default();
        entries.push((keys::idempotency(hash), value));
    }
    commit::store_submit(id, entries).await?;
    spawn_run(task, claim);
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

/// `GET /status/{id}`: one read; a task that is due (or whose worker
/// vanished) is claimed and run from here.
pub async fn status(id: Option<TaskId>) -> Result<Reply, Reply> {
    let id = id.ok_or(Problem::TaskNotFound)?;
    let kv = Kv::open().await?;
    let task = kv.load(id).await?.ok_or(Problem::TaskNotFound)?;
    let (task, claim) = claim_if_due(&kv, task).await?;
    if let Some(claim) = claim {
        spawn_run(task.clone(), claim);
    }
    runner::maybe_sweep();
    Ok(Reply::json(200, render::task(&task)))
}

/// `POST /retry-task/{id}`: a failed task goes back to work, claimed by
/// this invocation. Of two racing retries, the compare-and-swap lets one
/// through; the other finds the task no longer failed.
pub async fn retry(id: Option<TaskId>) -> Result<Reply, Reply> {
    let id = id.ok_or(Problem::TaskNotFound)?;
    let kv = Kv::open().await?;
    let task = kv.load(id).await?.ok_or(Problem::TaskNotFound)?;
    let at = now();
    let mut retried = task.clone();
    retried.retry(at).map_err(|_| Problem::NotFailed)?;
    let claim = retried
        .claim(at, token())
        .map_err(|_| Problem::StoreUnavailable)?;
    match kv.swap(&task, &retried).await? {
        Swap::Won => {
            spawn_run(retried, claim);
            Ok(Reply::json(200, render::retried(id)))
        }
        Swap::Lost => Err(Problem::NotFailed.into()),
    }
}

/// `GET /tasks`: reads the window of positions the query names (bounded
/// by the limit), then those tasks.
pub async fn list(query: &str) -> Result<Reply, Reply> {
    let query = ListQuery::parse(query).map_err(Problem::Invalid)?;
    let kv = Kv::open().await?;
    let head = kv.counter(keys::POSITIONS).await?;
    let positions: Vec<u64> = query.window(head).collect();
    let tasks = kv.tasks_at(&positions).await?;
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
