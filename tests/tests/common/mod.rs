//! Helpers for the service's tests: start the built component on the test
//! host, talk to it over real HTTP, read its store behind its back.

#![allow(dead_code)]

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use bgtasks_tests::{Flaws, Host, HostConfig, Kv, Runtime, Server, StoreKind};
use bytes::Bytes;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::Frame;
use hyper_util::rt::TokioIo;
use serde_json::Value;

/// The service component, built once per test process.
pub fn service_wasm() -> PathBuf {
    bgtasks_tests::build_component("bgtasks-spin")
}

/// The project's `spin.toml`, which a run under the real Spin starts from.
pub fn project_manifest() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../spin.toml")
}

/// A server of the service and the store it runs on.
pub struct Service {
    pub server: Server,
    pub kv: Kv,
}

impl Service {
    pub fn addr(&self) -> SocketAddr {
        self.server.addr()
    }

    /// The test host, for tests that only it can serve (faults, counters).
    pub fn host(&self) -> &Host {
        self.server.host().expect("this test needs the test host")
    }

    /// SIGTERM: in-flight requests cut off, background work dropped.
    pub async fn kill(self) -> Kv {
        self.server.kill().await;
        self.kv
    }

    /// Kills this server and starts a new one on the same store, as a
    /// restarted `spin up` comes back.
    pub async fn restart(self) -> Service {
        let kv = self.kill().await;
        service_on(kv).await
    }

    /// A stored value, read behind the service's back.
    pub fn stored(&self, key: &str) -> Option<Vec<u8>> {
        stored(&self.kv, key)
    }

    /// A stored task record, read behind the service's back.
    pub fn stored_task(&self, id: &str) -> Option<Value> {
        stored_task(&self.kv, id)
    }
}

/// The config of a service server on `kv`: the project's manifest, no
/// playground files, no variables.
pub fn config(kv: Kv) -> HostConfig {
    HostConfig::new(service_wasm())
        .kv(kv)
        .spin_manifest(project_manifest())
}

/// A fresh store of the kind the environment asks for (`BGTASKS_STORE`):
/// a new SQLite file, as Spin's default, or a new Redis database.
pub fn fresh_store() -> Kv {
    match StoreKind::from_env() {
        StoreKind::Sqlite => Kv::sqlite(temp_db("store")),
        StoreKind::Redis => Kv::redis(),
    }
}

/// A server of the service on a fresh store, on the runtime the
/// environment asks for (`BGTASKS_RUNTIME`).
pub async fn service() -> Service {
    service_on(fresh_store()).await
}

/// A server of the service on `kv`.
pub async fn service_on(kv: Kv) -> Service {
    service_with(config(kv)).await
}

/// A server of the service on a fresh store with Spin variables set (as
/// `SPIN_VARIABLE_<NAME>` sets them).
pub async fn service_vars(vars: &[(&str, &str)]) -> Service {
    let mut config = config(fresh_store());
    for (name, value) in vars {
        config = config.variable(name, value);
    }
    service_with(config).await
}

/// The variable that lets the service call the tests' receivers.
pub const LOOPBACK: (&str, &str) = ("http_destinations", "http://127.0.0.1:*");

/// A server of the service for `config`, on the environment's runtime.
pub async fn service_with(config: HostConfig) -> Service {
    let kv = config.store().clone();
    let server = Server::start(Runtime::from_env(), config)
        .await
        .expect("server starts");
    Service { server, kv }
}

/// A server on the test host whatever the environment says: for tests of
/// what only the host can do (faults, flaws, counters).
pub async fn host_service(kv: Kv, flaws: Flaws) -> Service {
    let config = config(kv.clone()).flaws(flaws);
    let server = Server::start(Runtime::Host, config)
        .await
        .expect("host starts");
    Service { server, kv }
}

/// A fresh path for a SQLite store file, unique in this process.
pub fn temp_db(name: &str) -> PathBuf {
    static N: AtomicU32 = AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!("bgtasks-tests-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{name}-{}.db", N.fetch_add(1, Ordering::Relaxed)));
    let _ = std::fs::remove_file(&path);
    path
}

/// What came back over HTTP.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: http::HeaderMap,
    pub body: Bytes,
}

impl Resp {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("{} body is not JSON ({e}): {:?}", self.status, self.body))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// One request on its own connection, as a plain HTTP/1.1 client sends it.
pub async fn send<B>(addr: SocketAddr, request: http::Request<B>) -> Resp
where
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .expect("handshake");
    tokio::spawn(conn);
    let (mut parts, body) = request.into_parts();
    parts
        .headers
        .entry(http::header::HOST)
        .or_insert(http::HeaderValue::from_static("127.0.0.1"));
    let response = sender
        .send_request(http::Request::from_parts(parts, body))
        .await
        .expect("response");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    Resp {
        status,
        headers,
        body,
    }
}

pub async fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: impl Into<Bytes>,
) -> Resp {
    let mut builder = http::Request::builder().method(method).uri(path);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    send(addr, builder.body(Full::new(body.into())).unwrap()).await
}

/// A request whose body goes out in chunks (`Transfer-Encoding: chunked`).
pub async fn request_chunked(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    chunks: Vec<Bytes>,
) -> Resp {
    let frames = futures_util::stream::iter(
        chunks
            .into_iter()
            .map(|c| Ok::<_, Infallible>(Frame::data(c))),
    );
    let mut builder = http::Request::builder().method(method).uri(path);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    send(addr, builder.body(StreamBody::new(frames)).unwrap()).await
}

pub async fn post(addr: SocketAddr, path: &str, body: &Value) -> Resp {
    request(
        addr,
        "POST",
        path,
        &[("content-type", "application/json")],
        body.to_string(),
    )
    .await
}

pub async fn get(addr: SocketAddr, path: &str) -> Resp {
    request(addr, "GET", path, &[], Bytes::new()).await
}

/// Submits and returns the new task's id, checking the 202.
pub async fn submit(addr: SocketAddr, path: &str, body: &Value) -> String {
    let resp = post(addr, path, body).await;
    assert_eq!(resp.status, 202, "{:?}", resp.body);
    resp.json()["task_id"].as_str().unwrap().to_owned()
}

/// `POST /cancel-task/{id}`.
pub async fn cancel(addr: SocketAddr, id: &str) -> Resp {
    request(
        addr,
        "POST",
        &format!("/cancel-task/{id}"),
        &[],
        Bytes::new(),
    )
    .await
}

/// `DELETE /tasks/{id}`.
pub async fn delete(addr: SocketAddr, id: &str) -> Resp {
    request(addr, "DELETE", &format!("/tasks/{id}"), &[], Bytes::new()).await
}

/// Checks a Standard Webhooks signature with this test's own HMAC:
/// `v1,<base64 of HMAC-SHA256(key, "<id>.<timestamp>.<body>")>`.
pub fn signature_valid(secret: &str, id: &str, timestamp: &str, body: &[u8], header: &str) -> bool {
    use base64::Engine as _;
    use hmac::Mac as _;
    let key = base64::engine::general_purpose::STANDARD
        .decode(secret.trim_start_matches("whsec_"))
        .expect("a whsec_ secret");
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&key).unwrap();
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(body);
    let expected = format!(
        "v1,{}",
        base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
    );
    header.split(' ').any(|s| s == expected)
}

/// `POST /retry-task/{id}`.
pub async fn retry(addr: SocketAddr, id: &str) -> Resp {
    request(
        addr,
        "POST",
        &format!("/retry-task/{id}"),
        &[],
        Bytes::new(),
    )
    .await
}

pub async fn status(addr: SocketAddr, id: &str) -> Value {
    let resp = get(addr, &format!("/status/{id}")).await;
    assert_eq!(resp.status, 200, "{:?}", resp.body);
    resp.json()
}

/// Polls a task until `done` holds or `timeout` passes; returns the last
/// state seen.
pub async fn poll_until(
    addr: SocketAddr,
    id: &str,
    timeout: Duration,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + timeout;
    loop {
        let task = status(addr, id).await;
        if done(&task) || Instant::now() > deadline {
            return task;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

pub fn finished(task: &Value) -> bool {
    task["status"] != "pending"
}

/// A value in the store, read behind the service's back (Spin's SQLite
/// file, or Redis).
pub fn stored(kv: &Kv, key: &str) -> Option<Vec<u8>> {
    bgtasks_tests::server::read_store(kv, key)
}

pub fn stored_task(kv: &Kv, id: &str) -> Option<Value> {
    serde_json::from_slice(&stored(kv, &format!("task/{id}"))?).ok()
}

pub fn notification(delay_ms: u64, fail_attempts: u32) -> Value {
    serde_json::json!({
        "email": "johndoe@example.com",
        "message": "Your submission was received.",
        "simulate": {"delay_ms": delay_ms, "fail_attempts": fail_attempts},
    })
}
