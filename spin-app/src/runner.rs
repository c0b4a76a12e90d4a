//! Running attempts and callback deliveries in the background of an
//! invocation, and recovering the ones nobody is running.
//!
//! A submit or retry claims its task before answering and then runs it in
//! the background (`spawn`, `sleep`). Spin drops background work on SIGTERM,
//! so nothing depends on it: a read of a task that is due, or whose lease
//! ran out, claims and runs it again, and every request may start a small
//! bounded sweep ([`maybe_sweep`]) that walks the store three ways:
//!
//! - **positions**, oldest first from `sweep/floor`: claims what is due,
//!   and moves the floor over tasks with nothing left to do;
//! - **the time index** (`wake/<bucket>/<n>`): tasks whose next step lies
//!   far ahead (a scheduled start, a long backoff, a task retried by hand
//!   after the floor passed it) are indexed by that time, so the floor may
//!   pass them; due ones are claimed, soon-due ones get a timer here;
//! - **retention**, from `sweep/retention` up to the floor: expired tasks
//!   are deleted, a batch per commit; a task not yet expired holds this
//!   floor back (tasks end in about the order they were submitted; one
//!   scheduled far ahead keeps at most its wait's worth of tasks longer).
//!
//! Scheduled starts on this instance share one timer (the wake list), so a
//! thousand tasks due in the same second hold one sleep, not a thousand.
//!
//! # Why every attempt's end is a compare-and-swap
//!
//! Folding an attempt's end into the next group commit would make it a
//! blind write (`set_many` compares nothing). The lease keeps other workers
//! out until it expires (a takeover needs an expired lease), and a manual
//! retry needs a `failed` task, so neither can change a running task. A
//! cancel can, at any moment: a blind finish landing after it would undo it.
//! So a finish is swapped against the version its worker claimed, and a
//! finish that loses finds the task cancelled (its outcome then lands in
//! the history only, by [`Task::finish`]'s orphan rule) or taken over. The
//! one attempt folded into a group commit is one that ran before its task
//! was acknowledged (simulated work of no duration, due at once): nobody
//! can know that task yet, so nobody can have changed it.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bgtasks_core::callback::CALLBACK_TIMEOUT_MS;
use bgtasks_core::outbound::{self, Secret};
use bgtasks_core::{Claim, DeliveryClaim, Millis, Output, Sink, Task, TaskId, TaskSpec, work};
use futures_channel::oneshot;
use futures_util::future::select;

use crate::commit::index_wake;
use crate::config::{Settings, settings};
use crate::send::send;
use crate::store::{
    Kv, StoreError, Swap, WAKE_BUCKET_MS, WAKE_BUCKETS_PER_DAY, WAKE_BUCKETS_PER_HOUR, keys,
    wake_bucket,
};

/// The wall clock, as the engine wants it.
pub fn now() -> Millis {
    let t = spin_sdk::wasip3::clocks::system_clock::now();
    let ms = t.seconds.max(0) as u64 * 1000 + u64::from(t.nanoseconds / 1_000_000);
    Millis(ms)
}

/// A lease token: random, so two instances never hand out the same one.
pub fn token() -> u64 {
    spin_sdk::wasip3::random::random::get_random_u64()
}

pub async fn sleep_until(at: Millis) {
    let wait = at.since(now());
    if wait > 0 {
        spin_sdk::time::sleep(Duration::from_millis(wait)).await;
    }
}

/// Work a worker won the right to do.
pub enum Work {
    Attempt(Claim),
    Delivery(DeliveryClaim),
}

/// Claims `task` if a worker should act on it now (start or take over an
/// attempt, make a callback delivery), storing the claim with
/// compare-and-swap. Returns the stored task (claimed or as found) and the
/// work when this caller won it.
pub async fn claim_if_due(kv: &Kv, task: Task) -> Result<(Task, Option<Work>), StoreError> {
    let at = now();
    if task.due_at().is_none_or(|due| due > at) {
        return Ok((task, None));
    }
    let mut claimed = task.clone();
    let work = if task.ended_at().is_some() {
        claimed.claim_callback(at, token()).ok().map(Work::Delivery)
    } else {
        claimed.claim(at, token()).ok().map(Work::Attempt)
    };
    let Some(work) = work else {
        return Ok((task, None));
    };
    match kv.store(&task, &claimed).await? {
        Swap::Won => {
            after_store(kv, &claimed).await;
            Ok((claimed, Some(work)))
        }
        // Someone else moved it first: show what is there now.
        Swap::Lost => {
            let current = kv.load(task.id).await?.unwrap_or(task);
            Ok((current, None))
        }
    }
}

/// What follows every stored transition: waiting readers on this instance
/// hear of it, and an indexed task's next wait (a scheduled or retry start,
/// a callback delivery) goes into the time index. Leases are not indexed: a
/// running task holds the recovery floor back until it ends, so the
/// position walk finds it if its worker vanished.
pub async fn after_store(kv: &Kv, task: &Task) {
    changed(task.id);
    if !task.indexed || matches!(task.phase, bgtasks_core::Phase::Running { .. }) {
        return;
    }
    let leased = task
        .callback
        .as_ref()
        .and_then(|c| c.delivery.as_ref())
        .is_some_and(|d| d.lease.is_some());
    if let Some(at) = task.due_at().filter(|_| !leased) {
        let _ = index_wake(kv, task.id, at).await;
    }
}

/// Starts `work` on `task` in the background of this invocation.
pub fn spawn_work(task: Task, work: Work) {
    spin_sdk::wasip3::spawn(run(task, work));
}

/// Runs `work`, then what the task needs next (automatic retries, its
/// callback) as long as this worker keeps winning its compare-and-swaps.
async fn run(mut task: Task, mut work: Work) {
    let Ok(kv) = Kv::open().await else { return };
    let settings = settings().await;
    loop {
        let result = match work {
            Work::Attempt(claim) => attempt(&kv, &settings, task, claim).await,
            Work::Delivery(claim) => deliver(&kv, &settings, task, claim).await,
        };
        let Some(done) = result else { return };
        task = done;
        let Some(due) = task.due_at() else { return };
        sleep_until(due).await;
        let Ok((claimed, Some(next))) = claim_if_due(&kv, task).await else {
            return;
        };
        task = claimed;
        work = next;
    }
}

/// Runs one attempt and stores its end. `None` when the end did not land
/// (the task moved on, or the store failed: the lease runs out and a later
/// reader retries).
async fn attempt(kv: &Kv, settings: &Settings, task: Task, claim: Claim) -> Option<Task> {
    let (at, outcome) = match &task.spec {
        TaskSpec::Http(spec) => {
            let at = now();
            let outcome = match &settings.secret {
                Err(problem) => bgtasks_core::WorkOutcome::Failure {
                    error: problem.clone(),
                    status_code: None,
                    retry: bgtasks_core::Retry::Never,
                },
                Ok(secret) => {
                    let request =
                        outbound::task_request(spec, task.id, claim.attempt, at, secret.as_ref());
                    let ended = send(&request, spec.timeout_ms).await;
                    outbound::classify(&spec.url, spec.timeout_ms, ended.answer(), now())
                }
            };
            (now(), outcome)
        }
        _ => {
            sleep_until(claim.finishes_at).await;
            let at = now().max(claim.finishes_at);
            let mut outputs = StoreSink::default();
            let outcome = work::execute(&task, &claim, at, &mut outputs);
            // Outputs first, keyed by task id: a rerun rewrites the same key.
            for (key, contents) in &outputs.files {
                kv.set(key, contents).await.ok()?;
            }
            (at, outcome)
        }
    };
    finish(kv, task, claim.token, at, outcome).await
}

/// Stores an attempt's end, against the version its worker claimed; when
/// that loses, against the current one, which may have been cancelled (the
/// outcome then lands in the history only).
async fn finish(
    kv: &Kv,
    task: Task,
    token: u64,
    at: Millis,
    outcome: bgtasks_core::WorkOutcome,
) -> Option<Task> {
    store_change(kv, task, |t| t.finish(at, token, outcome.clone()).is_ok()).await
}

/// Makes one callback delivery and stores how it went.
async fn deliver(kv: &Kv, settings: &Settings, task: Task, claim: DeliveryClaim) -> Option<Task> {
    let callback = task.callback.as_ref()?;
    let delivery = callback.delivery.as_ref()?;
    let at = now();
    let outcome = match &settings.secret {
        Err(problem) => bgtasks_core::WorkOutcome::Failure {
            error: problem.clone(),
            status_code: None,
            retry: bgtasks_core::Retry::Never,
        },
        Ok(secret) => {
            let request = outbound::callback_request(
                &callback.url,
                delivery,
                claim.attempt,
                at,
                secret.as_ref().map(|s: &Secret| s),
            );
            let ended = send(&request, CALLBACK_TIMEOUT_MS).await;
            outbound::classify(&callback.url, CALLBACK_TIMEOUT_MS, ended.answer(), now())
        }
    };
    let at = now();
    store_change(kv, task, |t| {
        t.finish_callback(at, claim.token, outcome.clone()).is_ok()
    })
    .await
}

/// Applies `change` to `task` and stores it by compare-and-swap; when a
/// racer stored first, applies it again to what the racer stored (at most
/// three tries). `None` when the change no longer applies (`change` says
/// false) or the store fails.
async fn store_change(
    kv: &Kv,
    mut task: Task,
    mut change: impl FnMut(&mut Task) -> bool,
) -> Option<Task> {
    for _ in 0..3 {
        let before = task.clone();
        if !change(&mut task) {
            return None;
        }
        match kv.store(&before, &task).await.ok()? {
            Swap::Won => {
                after_store(kv, &task).await;
                return Some(task);
            }
            Swap::Lost => task = kv.load(before.id).await.ok()??,
        }
    }
    None
}

#[derive(Default)]
pub struct StoreSink {
    pub files: Vec<(String, Vec<u8>)>,
}

impl Sink for StoreSink {
    fn emit(&mut self, output: Output<'_>) {
        // Notifications and reports are simulated: their record is the
        // task's result. Files are real outputs, read back over HTTP.
        if let Output::File { path, contents, .. } = output {
            self.files.push((path, contents));
        }
    }
}

// ---------------------------------------------------------------------------
// Readers waiting for a task to change (`GET /status/{id}?wait_ms=`)

thread_local! {
    static WATCHERS: RefCell<HashMap<TaskId, Vec<oneshot::Sender<()>>>> =
        RefCell::new(HashMap::new());
}

/// A receiver that fires when this instance stores a change of `id`.
pub fn watch(id: TaskId) -> oneshot::Receiver<()> {
    let (tx, rx) = oneshot::channel();
    WATCHERS.with_borrow_mut(|w| w.entry(id).or_default().push(tx));
    rx
}

fn changed(id: TaskId) {
    if let Some(senders) = WATCHERS.with_borrow_mut(|w| w.remove(&id)) {
        for sender in senders {
            let _ = sender.send(());
        }
    }
}

// ---------------------------------------------------------------------------
// The wake list: one timer for this instance's scheduled steps

thread_local! {
    static WAKES: RefCell<BTreeMap<Millis, Vec<TaskId>>> = const { RefCell::new(BTreeMap::new()) };
    static TIMER: Cell<bool> = const { Cell::new(false) };
    static POKE: RefCell<Option<oneshot::Sender<()>>> = const { RefCell::new(None) };
}

/// Acts on task `id` at `at`, from this instance's one timer.
pub fn arm(id: TaskId, at: Millis) {
    let earliest = WAKES.with_borrow_mut(|w| {
        let entry = w.entry(at).or_default();
        if !entry.contains(&id) {
            entry.push(id);
        }
        w.keys().next() == Some(&at)
    });
    if !TIMER.replace(true) {
        spin_sdk::wasip3::spawn(timer());
    } else if earliest && let Some(poke) = POKE.take() {
        let _ = poke.send(());
    }
}

async fn timer() {
    loop {
        let Some(next) = WAKES.with_borrow(|w| w.keys().next().copied()) else {
            TIMER.set(false);
            return;
        };
        let (poke, poked) = oneshot::channel();
        POKE.set(Some(poke));
        let sleep = std::pin::pin!(sleep_until(next));
        select(sleep, poked).await;
        let at = now();
        let due: Vec<TaskId> = WAKES.with_borrow_mut(|w| {
            let later = w.split_off(&at.plus(1));
            std::mem::replace(w, later)
                .into_values()
                .flatten()
                .collect()
        });
        if !due.is_empty() {
            let _ = start_due(&due).await;
        }
    }
}

/// Claims and starts whatever of `ids` is due.
async fn start_due(ids: &[TaskId]) -> Result<(), StoreError> {
    let kv = Kv::open().await?;
    let tasks = kv.tasks_of(ids.iter().copied().map(Some).collect()).await?;
    for (_, task) in tasks {
        if let Some(task) = task
            && let (claimed, Some(work)) = claim_if_due(&kv, task).await?
        {
            spawn_work(claimed, work);
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// The recovery sweep

/// How many positions one sweep looks at, at the floor and at random.
const SWEEP_SPAN: u64 = 16;
/// How many time-index entries one sweep reads, and bucket counters.
const WAKE_BUDGET: u64 = 128;
const WAKE_BUCKET_BUDGET: u64 = 64;
/// How many positions one sweep may delete for retention.
const RETENTION_SPAN: u64 = 64;
/// Index entries due this soon get a timer on the sweeping instance.
const LOOKAHEAD_MS: u64 = 2 * WAKE_BUCKET_MS;
/// One sweep per instance per this many milliseconds at most.
const SWEEP_EVERY_MS: u64 = 1_000;

/// When this instance last swept. Instances are shared by chance between
/// requests: this only spreads the cost, it holds no truth.
static LAST_SWEEP: AtomicU64 = AtomicU64::new(0);

/// Starts a recovery sweep in the background unless this instance swept
/// recently.
pub fn maybe_sweep() {
    let at = now().0;
    let last = LAST_SWEEP.load(Ordering::Relaxed);
    if at.saturating_sub(last) < SWEEP_EVERY_MS
        || LAST_SWEEP
            .compare_exchange(last, at, Ordering::Relaxed, Ordering::Relaxed)
            .is_err()
    {
        return;
    }
    spin_sdk::wasip3::spawn(async {
        let _ = sweep().await;
    });
}

async fn sweep() -> Result<(), StoreError> {
    let kv = Kv::open().await?;
    let settings = settings().await;
    let (floor, settled) = sweep_positions(&kv).await?;
    // A store whose time index was never used skips it for one read.
    if kv.counter(keys::WAKE_TOTAL).await? > 0 {
        sweep_index(&kv, &settings).await?;
        if index_busy(&kv).await? {
            keep_index_timer(&kv).await?;
        }
    }
    sweep_retention(&kv, &settings, floor, settled).await
}

/// Whether the time index holds anything from today on, or lags behind:
/// then an index timer must run.
async fn index_busy(kv: &Kv) -> Result<bool, StoreError> {
    let today = wake_bucket(now()) / WAKE_BUCKETS_PER_DAY;
    // A schedule reaches 30 days ahead; an expiry may reach further, and
    // the floor then comes back for it within a month's walk of days.
    let days: Vec<String> = (today..=today + 31).map(keys::wake_day).collect();
    if kv.counters(&days).await?.iter().any(|&n| n > 0) {
        return Ok(true);
    }
    let floor = kv
        .get(keys::WAKE_FLOOR)
        .await?
        .and_then(|raw| parse_wake_floor(&raw))
        .map_or(0, |(bucket, _)| bucket);
    Ok(floor > 0 && floor / WAKE_BUCKETS_PER_DAY < today)
}

/// How long the index timer's holder keeps it without renewing.
const INDEX_TIMER_LEASE_MS: u64 = 5_000;
/// How often the holder walks the time index.
const INDEX_TIMER_STEP_MS: u64 = 1_000;

thread_local! {
    /// This instance's index timer token, while it holds the timer.
    static INDEX_TIMER: Cell<Option<u64>> = const { Cell::new(None) };
    static RETRY_AT: Cell<Option<Millis>> = const { Cell::new(None) };
}

/// Makes sure one instance (across every server on the store) walks the
/// time index every second, so scheduled starts happen on time with no
/// request arriving, and after a restart once any request has. The holder
/// renews a short lease in the store; when it vanishes (SIGTERM), the next
/// sweep after the lease ran out takes over. An instance that finds it held
/// comes back once when the lease runs out, in case its holder is gone.
async fn keep_index_timer(kv: &Kv) -> Result<(), StoreError> {
    if INDEX_TIMER.get().is_some() {
        return Ok(());
    }
    let at = now();
    let current = kv.get(keys::INDEX_TIMER).await?;
    let until = current
        .as_deref()
        .and_then(|raw| {
            std::str::from_utf8(raw)
                .ok()?
                .split_once(':')?
                .1
                .parse()
                .ok()
        })
        .map(Millis);
    if let Some(until) = until.filter(|&u| u > at) {
        if RETRY_AT.replace(Some(until)).is_none() {
            spin_sdk::wasip3::spawn(async move {
                sleep_until(until.plus(10)).await;
                RETRY_AT.set(None);
                if let Ok(kv) = Kv::open().await {
                    let _ = keep_index_timer(&kv).await;
                }
            });
        }
        return Ok(());
    }
    let mine = token();
    let lease =
        move |at: Millis| format!("{mine}:{}", at.plus(INDEX_TIMER_LEASE_MS).0).into_bytes();
    let mut held = lease(at);
    if kv
        .replace(keys::INDEX_TIMER, current.as_deref(), &held)
        .await?
        == Swap::Lost
    {
        return Ok(());
    }
    INDEX_TIMER.set(Some(mine));
    spin_sdk::wasip3::spawn(async move {
        let settings = settings().await;
        loop {
            spin_sdk::time::sleep(Duration::from_millis(INDEX_TIMER_STEP_MS)).await;
            let Ok(kv) = Kv::open().await else { break };
            let renewed = lease(now());
            match kv.replace(keys::INDEX_TIMER, Some(&held), &renewed).await {
                Ok(Swap::Won) => held = renewed,
                _ => break,
            }
            let _ = sweep_index(&kv, &settings).await;
            if !index_busy(&kv).await.unwrap_or(true) {
                let _ = kv.replace(keys::INDEX_TIMER, Some(&held), b"0:0").await;
                break;
            }
        }
        INDEX_TIMER.set(None);
    });
    Ok(())
}

/// Claims what is due among the oldest unfinished positions (and a span at
/// random above them, so a task waiting at the floor hides nobody), and
/// moves the floor over tasks with nothing left to do. Returns the floor.
async fn sweep_positions(kv: &Kv) -> Result<(u64, u64), StoreError> {
    let head = kv.counter(keys::POSITIONS).await?;
    let settled = settled_head(kv, head).await?;
    let floor = kv.number(keys::SWEEP_FLOOR).await?.max(1);
    if floor > head {
        return Ok((floor, settled));
    }
    let offset = token() % (head - floor + 1);
    let mut positions: Vec<u64> = (floor..=head).take(SWEEP_SPAN as usize).collect();
    positions.extend((floor + offset..=head).take(SWEEP_SPAN as usize));
    positions.sort_unstable();
    positions.dedup();
    let rows = kv.tasks_at(&positions).await?;
    let at = now();
    let mut new_floor = floor;
    for (&position, (_, task)) in positions.iter().zip(rows) {
        // A settled position with no task is a submit that never completed
        // (or a deleted task); a newer one may be a group commit under way.
        // A task whose next step is far ahead is indexed by that time: the
        // floor may pass it.
        let passable = match &task {
            None => position <= settled,
            Some(t) => {
                let running = matches!(t.phase, bgtasks_core::Phase::Running { .. });
                t.due_at()
                    .is_none_or(|due| t.indexed && !running && due > at)
            }
        };
        if passable && position == new_floor {
            new_floor += 1;
        }
        if let Some(task) = task
            && let (claimed, Some(work)) = claim_if_due(kv, task).await?
        {
            spawn_work(claimed, work);
        }
    }
    if new_floor > floor {
        kv.set(keys::SWEEP_FLOOR, new_floor.to_string().as_bytes())
            .await?;
    }
    Ok((new_floor, settled))
}

/// How long after a position is handed out its submit has surely stored
/// it or died: a group commit takes milliseconds.
const SETTLE_MS: u64 = 30_000;

/// The highest position handed out at least [`SETTLE_MS`] ago: below it, a
/// position with no task stays empty. Kept in `sweep/settled` as
/// `<settled>:<head seen>:<when>`, the head seen moving up to settled once
/// it is old enough.
async fn settled_head(kv: &Kv, head: u64) -> Result<u64, StoreError> {
    let at = now();
    let stored = kv.get(keys::SETTLED).await?;
    let parsed = stored.as_deref().and_then(|raw| {
        let text = std::str::from_utf8(raw).ok()?;
        let mut parts = text.split(':').map(|p| p.parse::<u64>().ok());
        Some((parts.next()??, parts.next()??, Millis(parts.next()??)))
    });
    let (settled, seen, when) = parsed.unwrap_or((0, 0, Millis(0)));
    if at.since(when) < SETTLE_MS {
        return Ok(settled);
    }
    let settled = if when.0 == 0 { 0 } else { seen };
    let value = format!("{settled}:{head}:{}", at.0);
    // Racing sweeps write the same kind of value; any of them will do.
    kv.set(keys::SETTLED, value.as_bytes()).await?;
    Ok(settled)
}

/// Walks the time index from `sweep/wake`: claims due tasks, sets a timer
/// here for those due within the lookahead, deletes indexed tasks that
/// expired, and moves the index's floor over buckets fully in the past.
async fn sweep_index(kv: &Kv, settings: &Settings) -> Result<(), StoreError> {
    let at = now();
    // The first index entry ever written set the floor (see
    // `commit::wake_entries`); without one there is nothing to walk.
    let Some((mut bucket, mut offset)) = kv
        .get(keys::WAKE_FLOOR)
        .await?
        .and_then(|raw| parse_wake_floor(&raw))
    else {
        return Ok(());
    };
    let start = (bucket, offset);
    let last = wake_bucket(at.plus(LOOKAHEAD_MS));
    let mut entries_left = WAKE_BUDGET;
    let mut buckets_left = WAKE_BUCKET_BUDGET;
    while bucket <= last && entries_left > 0 && buckets_left > 0 {
        buckets_left -= 1;
        // The rest of an empty hour is skipped with one read (up to now:
        // entries may still be written for the buckets ahead).
        if offset == 0 {
            let hour = bucket / WAKE_BUCKETS_PER_HOUR;
            let skip_to = ((hour + 1) * WAKE_BUCKETS_PER_HOUR).min(wake_bucket(at));
            if skip_to > bucket && kv.counter(&keys::wake_hour(hour)).await? == 0 {
                bucket = skip_to;
                continue;
            }
        }
        let count = kv.counter(&keys::wake_count(bucket)).await?;
        let upto = count.min(offset + entries_left);
        let bucket_end = Millis((bucket + 1) * WAKE_BUCKET_MS);
        // The floor moves over entries only while each is handled: a task
        // still waiting within this bucket keeps it here.
        let mut handled_upto = offset;
        if upto > offset {
            let entry_keys: Vec<String> =
                (offset + 1..=upto).map(|n| keys::wake(bucket, n)).collect();
            let ids: Vec<Option<TaskId>> = kv
                .get_each(&entry_keys)
                .await?
                .into_iter()
                .map(|raw| TaskId::parse(std::str::from_utf8(&raw?).ok()?))
                .collect();
            entries_left -= upto - offset;
            let mut expired = Vec::new();
            let mut all_handled = true;
            for (n, (_, task)) in (offset + 1..).zip(kv.tasks_of(ids).await?) {
                let handled = match task {
                    None => true,
                    Some(task)
                        if task
                            .expires_at(settings.retention_ms)
                            .is_some_and(|e| e <= at) =>
                    {
                        expired.push(task);
                        true
                    }
                    Some(task) => match task.due_at() {
                        Some(due) if due <= at => {
                            if let (claimed, Some(work)) = claim_if_due(kv, task).await? {
                                spawn_work(claimed, work);
                            }
                            true
                        }
                        // Waiting within this bucket: a timer here, and the
                        // entry stays until it is due.
                        Some(due) if due < bucket_end => {
                            arm(task.id, due);
                            false
                        }
                        Some(due) => {
                            // A later entry covers it; start a timer if soon.
                            if due <= at.plus(LOOKAHEAD_MS) {
                                arm(task.id, due);
                            }
                            true
                        }
                        None => true,
                    },
                };
                all_handled &= handled;
                if all_handled {
                    handled_upto = n;
                }
            }
            kv.purge(&expired.iter().collect::<Vec<_>>())?;
        }
        if handled_upto < count || bucket_end > at {
            // More to read here, or entries may still come due in it.
            offset = handled_upto;
            break;
        }
        bucket += 1;
        offset = 0;
    }
    if (bucket, offset) != start {
        kv.set(keys::WAKE_FLOOR, format!("{bucket}:{offset}").as_bytes())
            .await?;
    }
    Ok(())
}

fn parse_wake_floor(raw: &[u8]) -> Option<(u64, u64)> {
    let (bucket, offset) = std::str::from_utf8(raw).ok()?.split_once(':')?;
    Some((bucket.parse().ok()?, offset.parse().ok()?))
}

/// Deletes expired tasks from `sweep/retention` upwards (never past the
/// recovery floor), a batch per commit, and moves that floor over them.
async fn sweep_retention(
    kv: &Kv,
    settings: &Settings,
    limit: u64,
    settled: u64,
) -> Result<(), StoreError> {
    if settings.retention_ms == 0 {
        return Ok(());
    }
    let floor = kv.number(keys::RETENTION_FLOOR).await?.max(1);
    let upto = limit.min(floor + RETENTION_SPAN);
    if floor >= upto {
        return Ok(());
    }
    let positions: Vec<u64> = (floor..upto).collect();
    let rows = kv.tasks_at(&positions).await?;
    let at = now();
    let mut doomed = Vec::new();
    let mut new_floor = floor;
    for (&position, (id, task)) in positions.iter().zip(&rows) {
        let gone = match task {
            // A delete cut short left its tombstone: finish it (one under
            // way holds the floor back, as does a submit being stored).
            None => match id {
                Some(id) => kv.clear_remains(position, *id, at).await?,
                None => position <= settled,
            },
            Some(task) => {
                let expired = task
                    .expires_at(settings.retention_ms)
                    .is_some_and(|e| e <= at);
                if expired {
                    doomed.push(task);
                }
                expired
            }
        };
        if !gone {
            break;
        }
        new_floor = position + 1;
    }
    kv.purge(&doomed)?;
    if new_floor > floor {
        kv.set(keys::RETENTION_FLOOR, new_floor.to_string().as_bytes())
            .await?;
    }
    Ok(())
}
