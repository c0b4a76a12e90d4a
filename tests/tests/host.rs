//! The test host checked against Spin 4.1's measured behaviour, one per test,
//! through the probe component (`tests/probe`).

use std::path::PathBuf;
use std::time::{Duration, Instant};

mod common;

use bgtasks_tests::{Flaws, Host, HostConfig, Kv, Runtime, Server};
use bytes::Bytes;
use http::StatusCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn probe() -> PathBuf {
    bgtasks_tests::build_component("bgtasks-probe")
}

/// The probe on a server: the test host, or `spin up` when the
/// environment asks for it (`BGTASKS_RUNTIME=spin`), so that every check
/// below that needs only HTTP also holds the host to the real Spin.
struct Probe {
    server: Server,
}

impl Probe {
    async fn start(config: HostConfig) -> Probe {
        let server = Server::start(Runtime::from_env(), config)
            .await
            .expect("server starts");
        Probe { server }
    }

    /// For what only the test host can do (flaws, faults, counters).
    async fn on_host(config: HostConfig) -> Probe {
        let server = Server::start(Runtime::Host, config)
            .await
            .expect("host starts");
        Probe { server }
    }

    fn host(&self) -> &Host {
        self.server.host().expect("this check needs the test host")
    }

    fn addr(&self) -> std::net::SocketAddr {
        self.server.addr()
    }

    async fn kill(self) {
        self.server.kill().await;
    }
}

async fn start(config: HostConfig) -> Probe {
    Probe::start(config).await
}

async fn memory_host() -> Probe {
    start(HostConfig::new(probe())).await
}

/// A fresh SQLite path in a per-test temporary directory.
fn db_path(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("bgtasks-tests-{}-{test}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir.join("sqlite_key_value.db")
}

async fn get(probe: &Probe, path: &str) -> (StatusCode, String) {
    send(probe, "GET", path, Bytes::new()).await
}

async fn post(probe: &Probe, path: &str, body: &str) -> (StatusCode, String) {
    send(probe, "POST", path, Bytes::from(body.to_owned())).await
}

/// One request over HTTP on its own connection.
async fn send(probe: &Probe, method: &str, path: &str, body: Bytes) -> (StatusCode, String) {
    let resp = common::request(probe.addr(), method, path, &[], body).await;
    (
        StatusCode::from_u16(resp.status).expect("a status"),
        String::from_utf8_lossy(&resp.body).into_owned(),
    )
}

/// `(instance id, requests that instance has seen)` from the probe.
fn instance(body: &str) -> (u64, u64) {
    let mut parts = body.split(' ');
    let id = parts.next().and_then(|p| p.parse().ok());
    let seen = parts.next().and_then(|p| p.parse().ok());
    match (id, seen) {
        (Some(id), Some(seen)) => (id, seen),
        _ => panic!("not an instance answer: {body:?}"),
    }
}

/// Sends raw bytes over TCP and reads until the server closes; returns the
/// status code and everything after the status line.
async fn raw_http(probe: &Probe, request: &[u8]) -> (u16, String) {
    let mut stream = tokio::net::TcpStream::connect(probe.addr())
        .await
        .expect("connect");
    stream.write_all(request).await.expect("write request");
    let mut out = Vec::new();
    stream.read_to_end(&mut out).await.expect("read response");
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {text:?}"));
    (status, text)
}

/// The raw bytes stored for `key` in Spin's table, read with a second
/// connection as `sqlite3 .spin/sqlite_key_value.db` would.
fn sqlite_value(path: &PathBuf, key: &str) -> Option<Vec<u8>> {
    let c = rusqlite::Connection::open(path).expect("open db");
    c.query_row(
        "SELECT value FROM spin_key_value WHERE store = 'default' AND key = ?1",
        [key],
        |r| r.get(0),
    )
    .ok()
}

// ---- linking ----

#[tokio::test(flavor = "multi_thread")]
async fn a_component_importing_what_the_host_lacks_is_refused_at_start() {
    let wasm = bgtasks_tests::build_component_with_features("bgtasks-probe", &["unlinked-import"]);
    let error = match Host::start(HostConfig::new(wasm)).await {
        Ok(_) => panic!("the host started without spin:sqlite"),
        Err(e) => format!("{e:#}"),
    };
    assert!(error.contains("spin:sqlite"), "{error}");
}

// ---- instances ----

#[tokio::test(flavor = "multi_thread")]
async fn sequential_requests_share_one_instance() {
    let host = memory_host().await;
    let (s1, a) = get(&host, "/instance").await;
    let (s2, b) = get(&host, "/instance").await;
    assert_eq!((s1, s2), (StatusCode::OK, StatusCode::OK));
    let (id_a, seen_a) = instance(&a);
    let (id_b, seen_b) = instance(&b);
    assert_eq!(id_a, id_b, "the second request reuses the instance");
    assert_eq!(
        (seen_a, seen_b),
        (1, 2),
        "statics are shared between its requests"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_instance_takes_16_concurrent_requests_the_17th_gets_another() {
    let host = std::sync::Arc::new(memory_host().await);
    let mut tasks = Vec::new();
    for _ in 0..18 {
        let host = host.clone();
        tasks.push(tokio::spawn(async move {
            get(&host, "/instance?ms=2000").await
        }));
        // Let the instance take the request and go back to waiting, so it
        // is available for the next one, as with clients arriving in turn.
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    let mut ids = Vec::new();
    for t in tasks {
        let (status, body) = t.await.expect("task");
        assert_eq!(status, StatusCode::OK, "{body}");
        ids.push(instance(&body).0);
    }
    assert!(
        ids[..16].iter().all(|id| *id == ids[0]),
        "first 16 share: {ids:?}"
    );
    assert_ne!(ids[16], ids[0], "the 17th needs a second instance: {ids:?}");
    assert_eq!(
        ids[17], ids[16],
        "the 18th joins the second instance: {ids:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_instance_serves_128_requests_then_a_fresh_one_takes_over() {
    let host = memory_host().await;
    let (first, _) = instance(&get(&host, "/instance").await.1);
    for n in 2..=128 {
        let (id, seen) = instance(&get(&host, "/instance").await.1);
        assert_eq!((id, seen), (first, n));
    }
    let (id, seen) = instance(&get(&host, "/instance").await.1);
    assert_ne!(id, first, "request 129 runs on a new instance");
    assert_eq!(seen, 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_idle_instance_is_dropped_after_one_second() {
    let host = memory_host().await;
    let (a, _) = instance(&get(&host, "/instance").await.1);
    tokio::time::sleep(Duration::from_millis(400)).await;
    let (b, _) = instance(&get(&host, "/instance").await.1);
    assert_eq!(a, b, "idle 0.4 s: still alive");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (c, seen) = instance(&get(&host, "/instance").await.1);
    assert_ne!(c, a, "idle 1.5 s: a fresh instance");
    assert_eq!(seen, 1);
}

// ---- work after the response ----

#[tokio::test(flavor = "multi_thread")]
async fn work_spawned_after_the_response_keeps_running() {
    let host = memory_host().await;
    let started = Instant::now();
    let (status, _) = post(&host, "/spawn?key=bg&ms=500", "").await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert!(
        started.elapsed() < Duration::from_millis(400),
        "answered before the work"
    );
    assert_eq!(get(&host, "/kv/get?key=bg").await.0, StatusCode::NOT_FOUND);
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(
        get(&host, "/kv/get?key=bg").await,
        (StatusCode::OK, "done".into())
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn kill_drops_background_work_and_keeps_sqlite_data() {
    let path = db_path("kill");
    let host = start(HostConfig::new(probe()).kv(Kv::sqlite(&path))).await;
    assert_eq!(
        post(&host, "/kv/set?key=kept", "v1").await.0,
        StatusCode::OK
    );
    assert_eq!(
        post(&host, "/spawn?key=lost&ms=500", "").await.0,
        StatusCode::ACCEPTED
    );
    host.kill().await;

    // A restart of `spin up` on the same state directory.
    let host = start(HostConfig::new(probe()).kv(Kv::sqlite(&path))).await;
    tokio::time::sleep(Duration::from_millis(900)).await;
    assert_eq!(
        get(&host, "/kv/get?key=kept").await,
        (StatusCode::OK, "v1".into())
    );
    assert_eq!(
        get(&host, "/kv/get?key=lost").await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(sqlite_value(&path, "kept").as_deref(), Some(&b"v1"[..]));
}

#[tokio::test(flavor = "multi_thread")]
async fn kill_cuts_off_requests_in_flight() {
    let host = memory_host().await;
    let addr = host.addr();
    let client = tokio::spawn(async move {
        let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
        let req = b"GET /instance?ms=3000 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
        stream.write_all(req).await.expect("write");
        let mut out = Vec::new();
        // A reset and a clean close both count as cut off.
        let _ = stream.read_to_end(&mut out).await;
        out
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let started = Instant::now();
    host.kill().await;
    let answer = client.await.expect("task");
    assert!(
        answer.is_empty(),
        "no response: {}",
        String::from_utf8_lossy(&answer)
    );
    assert!(started.elapsed() < Duration::from_secs(2), "no draining");
}

// ---- key-value ----

#[tokio::test(flavor = "multi_thread")]
async fn sqlite_file_has_spins_schema_and_one_row_per_key() {
    let path = db_path("schema");
    let host = start(HostConfig::new(probe()).kv(Kv::sqlite(&path))).await;
    assert_eq!(post(&host, "/kv/set?key=a", "1").await.0, StatusCode::OK);
    assert_eq!(
        post(&host, "/kv/set-many?keys=b,c", "2").await.0,
        StatusCode::OK
    );
    let c = rusqlite::Connection::open(&path).expect("open");
    let sql: String = c
        .query_row(
            "SELECT sql FROM sqlite_master WHERE name = 'spin_key_value'",
            [],
            |r| r.get(0),
        )
        .expect("table exists");
    let flat: String = sql.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(flat.contains("store TEXT NOT NULL"), "{flat}");
    assert!(flat.contains("key TEXT NOT NULL"), "{flat}");
    assert!(flat.contains("value BLOB NOT NULL"), "{flat}");
    assert!(flat.contains("PRIMARY KEY (store, key)"), "{flat}");
    let rows: i64 = c
        .query_row(
            "SELECT count(*) FROM spin_key_value WHERE store = 'default'",
            [],
            |r| r.get(0),
        )
        .expect("count");
    assert_eq!(rows, 3);
    assert_eq!(sqlite_value(&path, "c").as_deref(), Some(&b"2"[..]));
}

#[tokio::test(flavor = "multi_thread")]
async fn spin_key_value_calls_round_trip() {
    let host = memory_host().await;
    assert_eq!(
        get(&host, "/kv/keys").await,
        (StatusCode::OK, String::new())
    );
    assert_eq!(post(&host, "/kv/set?key=a", "1").await.0, StatusCode::OK);
    assert_eq!(post(&host, "/kv/set?key=b", "2").await.0, StatusCode::OK);
    assert_eq!(get(&host, "/kv/exists?key=a").await.1, "true");
    assert_eq!(get(&host, "/kv/keys").await.1, "a,b");
    assert_eq!(post(&host, "/kv/delete?key=a", "").await.0, StatusCode::OK);
    assert_eq!(get(&host, "/kv/exists?key=a").await.1, "false");
    assert_eq!(get(&host, "/kv/keys").await.1, "b");
}

#[tokio::test(flavor = "multi_thread")]
async fn increment_stores_an_8_byte_little_endian_counter() {
    let path = db_path("incr-le");
    let host = start(HostConfig::new(probe()).kv(Kv::sqlite(&path))).await;
    assert_eq!(
        post(&host, "/kv/incr?key=n&delta=5", "").await,
        (StatusCode::OK, "5".into())
    );
    assert_eq!(
        post(&host, "/kv/incr?key=n&delta=-2", "").await,
        (StatusCode::OK, "3".into())
    );
    assert_eq!(sqlite_value(&path, "n"), Some(3i64.to_le_bytes().to_vec()));
}

#[tokio::test(flavor = "multi_thread")]
async fn increment_on_redis_stores_ascii_decimal() {
    let kv = Kv::redis();
    let host = start(HostConfig::new(probe()).kv(kv.clone())).await;
    assert_eq!(
        post(&host, "/kv/incr?key=n&delta=5", "").await,
        (StatusCode::OK, "5".into())
    );
    assert_eq!(
        post(&host, "/kv/incr?key=n&delta=37", "").await,
        (StatusCode::OK, "42".into())
    );
    assert_eq!(
        bgtasks_tests::server::read_store(&kv, "n").as_deref(),
        Some(&b"42"[..])
    );
}

/// Two CAS racers: both read `current`, then both swap after 300 ms.
async fn cas_race(host: &std::sync::Arc<Probe>, key: &str) -> Vec<(StatusCode, String)> {
    let mut tasks = Vec::new();
    for who in ["a", "b"] {
        let host = host.clone();
        let path = format!("/kv/cas?key={key}&ms=300");
        tasks.push(tokio::spawn(async move { post(&host, &path, who).await }));
    }
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.expect("task"));
    }
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn cas_on_an_existing_key_has_one_winner_and_one_cas_failed() {
    let host = std::sync::Arc::new(memory_host().await);
    assert_eq!(post(&host, "/kv/set?key=k", "v0").await.0, StatusCode::OK);
    let results = cas_race(&host, "k").await;
    let wins: Vec<_> = results.iter().filter(|r| r.0 == StatusCode::OK).collect();
    let losses: Vec<_> = results.iter().filter(|r| r.1 == "cas-failed").collect();
    assert_eq!((wins.len(), losses.len()), (1, 1), "{results:?}");
    let winner = if results[0].0 == StatusCode::OK {
        "a"
    } else {
        "b"
    };
    assert_eq!(get(&host, "/kv/get?key=k").await.1, winner);
}

#[tokio::test(flavor = "multi_thread")]
async fn cas_on_a_missing_key_lets_every_racer_win() {
    let host = std::sync::Arc::new(memory_host().await);
    let results = cas_race(&host, "fresh").await;
    assert!(
        results.iter().all(|r| r.0 == StatusCode::OK),
        "Spin's gap: {results:?}"
    );

    // With the flaw switched off, insert-if-absent is exclusive.
    let flaws = Flaws {
        cas_missing_key_races: false,
        ..Flaws::default()
    };
    let host = std::sync::Arc::new(Probe::on_host(HostConfig::new(probe()).flaws(flaws)).await);
    let results = cas_race(&host, "fresh").await;
    let wins = results.iter().filter(|r| r.0 == StatusCode::OK).count();
    assert_eq!(wins, 1, "{results:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn cas_compares_values_so_aba_passes() {
    let host = std::sync::Arc::new(memory_host().await);
    assert_eq!(post(&host, "/kv/set?key=k", "v0").await.0, StatusCode::OK);
    let h = host.clone();
    let racer = tokio::spawn(async move { post(&h, "/kv/cas?key=k&ms=400", "mine").await });
    tokio::time::sleep(Duration::from_millis(100)).await;
    post(&host, "/kv/set?key=k", "other").await;
    post(&host, "/kv/set?key=k", "v0").await;
    assert_eq!(racer.await.expect("task"), (StatusCode::OK, "ok".into()));
    assert_eq!(get(&host, "/kv/get?key=k").await.1, "mine");
}

#[tokio::test(flavor = "multi_thread")]
async fn redis_swap_reports_cas_failed_even_when_it_wrote() {
    let host = std::sync::Arc::new(start(HostConfig::new(probe()).kv(Kv::redis())).await);
    assert_eq!(post(&host, "/kv/set?key=k", "v0").await.0, StatusCode::OK);
    assert_eq!(
        post(&host, "/kv/cas?key=k", "mine").await,
        (StatusCode::CONFLICT, "cas-failed".into())
    );
    assert_eq!(
        get(&host, "/kv/get?key=k").await.1,
        "mine",
        "the swap happened"
    );

    // Racing: both hear cas-failed, and only one write landed (WATCH).
    let results = cas_race(&host, "k").await;
    assert!(results.iter().all(|r| r.1 == "cas-failed"), "{results:?}");
    let value = get(&host, "/kv/get?key=k").await.1;
    assert!(value == "a" || value == "b", "{value}");

    // A write between `current` and `swap` blocks the swap, even of the
    // same value (Redis WATCH sees writes, not values).
    let h = host.clone();
    let racer = tokio::spawn(async move { post(&h, "/kv/cas?key=k&ms=400", "late").await });
    tokio::time::sleep(Duration::from_millis(100)).await;
    post(&host, "/kv/set?key=k", &value).await;
    assert_eq!(racer.await.expect("task").1, "cas-failed");
    assert_eq!(
        get(&host, "/kv/get?key=k").await.1,
        value,
        "the late swap was blocked"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn increment_on_a_set_key_traps_and_poisons_the_store_until_restart() {
    let path = db_path("poison");
    let host = start(HostConfig::new(probe()).kv(Kv::sqlite(&path))).await;
    assert_eq!(
        post(&host, "/kv/set?key=word", "hello").await.0,
        StatusCode::OK
    );
    let (status, _) = post(&host, "/kv/incr?key=word", "").await;
    assert_eq!(
        status,
        StatusCode::INTERNAL_SERVER_ERROR,
        "the increment traps"
    );
    assert_eq!(
        get(&host, "/kv/get?key=other").await.0,
        StatusCode::INTERNAL_SERVER_ERROR
    );
    assert_eq!(
        post(&host, "/kv/set?key=other", "x").await.0,
        StatusCode::INTERNAL_SERVER_ERROR
    );
    assert_eq!(
        get(&host, "/hello").await.0,
        StatusCode::OK,
        "no key-value, no failure"
    );
    host.kill().await;

    let host = start(HostConfig::new(probe()).kv(Kv::sqlite(&path))).await;
    assert_eq!(
        get(&host, "/kv/get?key=word").await,
        (StatusCode::OK, "hello".into())
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn increment_on_a_non_counter_on_redis_is_an_error_only() {
    let host = start(HostConfig::new(probe()).kv(Kv::redis())).await;
    assert_eq!(
        post(&host, "/kv/set?key=word", "hello").await.0,
        StatusCode::OK
    );
    let (status, body) = post(&host, "/kv/incr?key=word", "").await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(body.contains("not an integer"), "{body}");
    assert_eq!(
        get(&host, "/kv/get?key=word").await,
        (StatusCode::OK, "hello".into())
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn without_atomics_every_atomics_call_fails_and_the_rest_works() {
    let flaws = Flaws {
        no_atomics: true,
        ..Flaws::default()
    };
    let host = Probe::on_host(HostConfig::new(probe()).flaws(flaws)).await;
    let (status, body) = post(&host, "/kv/incr?key=n", "").await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(body.contains("not supported"), "{body}");
    let (status, body) = post(&host, "/kv/cas?key=n", "x").await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(body.contains("not supported"), "{body}");
    assert_eq!(post(&host, "/kv/set?key=n", "1").await.0, StatusCode::OK);
    assert_eq!(
        get(&host, "/kv/get?key=n").await,
        (StatusCode::OK, "1".into())
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn faults_fail_the_next_n_key_value_calls() {
    let host = Probe::on_host(HostConfig::new(probe())).await;
    assert_eq!(post(&host, "/kv/set?key=k", "v").await.0, StatusCode::OK);
    host.host().faults().fail_next(2);
    let (status, body) = get(&host, "/kv/get?key=k").await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(body.contains("injected fault"), "{body}");
    assert_eq!(
        post(&host, "/kv/set?key=k", "w").await.0,
        StatusCode::INTERNAL_SERVER_ERROR
    );
    assert_eq!(
        get(&host, "/kv/get?key=k").await,
        (StatusCode::OK, "v".into())
    );
    assert_eq!(host.host().faults().injected(), 2);
    host.host().faults().fail_next(1);
    let (status, body) = get(&host, "/kv/keys").await;
    assert_eq!(
        status,
        StatusCode::INTERNAL_SERVER_ERROR,
        "get-keys reports faults too"
    );
    assert!(body.contains("injected fault"), "{body}");
}

#[tokio::test(flavor = "multi_thread")]
async fn faults_by_probability_repeat_for_the_same_seed() {
    async fn pattern(seed: u64) -> Vec<bool> {
        let host = Probe::on_host(HostConfig::new(probe())).await;
        host.host().faults().fail_with_probability(0.5, seed);
        let mut failed = Vec::new();
        for _ in 0..40 {
            failed.push(get(&host, "/kv/get?key=k").await.0 == StatusCode::INTERNAL_SERVER_ERROR);
        }
        host.host().faults().clear();
        assert_eq!(
            get(&host, "/kv/get?key=k").await.0,
            StatusCode::NOT_FOUND,
            "cleared"
        );
        failed
    }
    let a = pattern(7).await;
    let failures = a.iter().filter(|f| **f).count();
    assert!(
        (8..=32).contains(&failures),
        "about half fail: {failures}/40"
    );
    assert_eq!(a, pattern(7).await, "same seed, same failures");
    assert_ne!(a, pattern(8).await, "another seed, other failures");
}

// ---- traps ----

#[tokio::test(flavor = "multi_thread")]
async fn a_trap_fails_every_request_on_its_instance_and_its_background_work() {
    let host = std::sync::Arc::new(memory_host().await);
    let mut tasks = Vec::new();
    {
        let h = host.clone();
        tasks.push(tokio::spawn(async move {
            post(&h, "/spawn?key=bg&ms=800", "").await
        }));
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    for path in ["/instance?ms=1500", "/instance?ms=1500", "/trap?ms=300"] {
        let h = host.clone();
        tasks.push(tokio::spawn(async move { get(&h, path).await }));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let results: Vec<_> = futures_join(tasks).await;
    assert_eq!(
        results[0].0,
        StatusCode::ACCEPTED,
        "answered before the trap"
    );
    for r in &results[1..] {
        assert_eq!(r.0, StatusCode::INTERNAL_SERVER_ERROR, "{results:?}");
    }
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(
        get(&host, "/kv/get?key=bg").await.0,
        StatusCode::NOT_FOUND,
        "background work died"
    );
    // The read above was this instance's first request, this its second.
    let (_, seen) = instance(&get(&host, "/instance").await.1);
    assert_eq!(seen, 2, "a fresh instance serves again");
}

async fn futures_join<T>(tasks: Vec<tokio::task::JoinHandle<T>>) -> Vec<T> {
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.expect("task"));
    }
    out
}

// ---- HTTP ----

#[tokio::test(flavor = "multi_thread")]
async fn spin_headers_are_added_for_the_catch_all_route() {
    let host = memory_host().await;
    let port = host.addr().port();
    let (status, text) = raw_http(
        &host,
        format!("GET /headers?x=1 HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n")
            .as_bytes(),
    )
    .await;
    assert_eq!(status, 200, "{text}");
    for line in [
        format!("uri: http://127.0.0.1:{port}/headers?x=1"),
        format!("host: 127.0.0.1:{port}"),
        format!("spin-full-url: http://127.0.0.1:{port}/headers?x=1"),
        "spin-path-info: /headers".to_owned(),
        "spin-matched-route: /...".to_owned(),
        "spin-base-path: /".to_owned(),
        "spin-raw-component-route: /...".to_owned(),
        "spin-client-addr: 127.0.0.1:".to_owned(),
    ] {
        assert!(text.contains(&line), "missing {line:?} in\n{text}");
    }
    let body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    assert!(
        !body.contains("connection:"),
        "Spin strips `connection`:\n{body}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_chunked_body_reaches_the_guest_whole() {
    let host = memory_host().await;
    let mut req = b"POST /body HTTP/1.1\r\nHost: x\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    for size in [1usize, 40_000, 60_000] {
        req.extend_from_slice(format!("{size:x}\r\n").as_bytes());
        req.extend(std::iter::repeat_n(b'a', size));
        req.extend_from_slice(b"\r\n");
    }
    req.extend_from_slice(b"0\r\n\r\n");
    let (status, text) = raw_http(&host, &req).await;
    assert_eq!(status, 200, "{text}");
    assert!(
        text.contains("100001"),
        "no body limit in the host:\n{text}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn more_than_100_headers_get_431() {
    let host = memory_host().await;
    let request = |n: usize| {
        let mut r = String::from("GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n");
        for i in 0..n {
            r.push_str(&format!("x-h{i}: v\r\n"));
        }
        r.push_str("\r\n");
        r
    };
    assert_eq!(raw_http(&host, request(90).as_bytes()).await.0, 200);
    assert_eq!(raw_http(&host, request(101).as_bytes()).await.0, 431);
}

#[tokio::test(flavor = "multi_thread")]
async fn in_process_calls_take_the_same_path_as_http() {
    let probe = Probe::on_host(HostConfig::new(probe())).await;
    let host = probe.host();
    let resp = host
        .call(
            http::Request::get("/hello")
                .body(Bytes::new())
                .expect("request"),
        )
        .await;
    assert_eq!(
        (resp.status(), resp.body().as_ref()),
        (StatusCode::OK, &b"hello"[..])
    );
    let mut req = http::Request::get("/hello");
    for i in 0..101 {
        req = req.header(format!("x-h{i}"), "v");
    }
    let resp = host.call(req.body(Bytes::new()).expect("request")).await;
    assert_eq!(
        resp.status(),
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
        "in-process too"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn get_many_answers_the_keys_that_exist_on_sqlite() {
    let host = memory_host().await;
    assert_eq!(
        post(&host, "/kv/set-many?keys=a,b", "1").await.0,
        StatusCode::OK
    );
    assert_eq!(
        get(&host, "/kv/get-many?keys=a,b,c").await,
        (StatusCode::OK, "a=1\nb=1".into())
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn get_many_on_redis_sends_keys_and_fails_or_panics() {
    let host = start(HostConfig::new(probe()).kv(Kv::redis())).await;
    assert_eq!(
        post(&host, "/kv/set-many?keys=a,b", "1").await.0,
        StatusCode::OK
    );
    // `KEYS a b`: Redis refuses the arity, the call returns the error.
    let (status, body) = get(&host, "/kv/get-many?keys=a,b").await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(body.contains("wrong number of arguments"), "{body}");
    // `KEYS a` of an existing key: one name where the crate expects pairs,
    // and it hits `unreachable!()`: a panic in the host, an empty 500.
    assert_eq!(
        get(&host, "/kv/get-many?keys=a").await,
        (StatusCode::INTERNAL_SERVER_ERROR, String::new())
    );
    // Of a missing key: an empty list, which reads as no values.
    assert_eq!(
        get(&host, "/kv/get-many?keys=zzz").await,
        (StatusCode::OK, String::new())
    );
    // The server survives it.
    assert_eq!(get(&host, "/hello").await, (StatusCode::OK, "hello".into()));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_header_value_that_is_not_utf8_gets_an_empty_500_before_the_component() {
    let host = memory_host().await;
    let (status, text) = raw_http(
        &host,
        b"GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\nx-latin: caf\xe9\r\n\r\n",
    )
    .await;
    assert_eq!(status, 500, "{text}");
    assert!(text.ends_with("\r\n\r\n"), "an empty body: {text:?}");
    // The same request with a UTF-8 value reaches the component.
    let (status, _) = raw_http(
        &host,
        "GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\nx-latin: café\r\n\r\n".as_bytes(),
    )
    .await;
    assert_eq!(status, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn spin_answers_its_well_known_paths_itself() {
    let host = memory_host().await;
    assert_eq!(
        get(&host, "/.well-known/spin/health").await,
        (StatusCode::OK, "OK".into())
    );
    assert_eq!(
        get(&host, "/.well-known/spin/nope").await.0,
        StatusCode::NOT_FOUND
    );
}
