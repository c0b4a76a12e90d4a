//! The host: instances as Spin's HTTP trigger runs them, and its HTTP server.
//!
//! Spin 4.1 hands `wasi:http@0.3` requests to
//! `wasmtime_wasi_http::handler::ProxyHandler` (spinframework/spin:
//! crates/trigger-http/src/wasip3.rs); so does this host, with the same
//! reuse policy (16 concurrent, 128 in all, 1 s idle), so instance sharing,
//! background work and traps behave as they do under `spin up`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Body;
use tokio::sync::Notify;
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};
use wasmtime::component::{Linker, ResourceTable};
use wasmtime::{Store, StoreContextMut};
use wasmtime_wasi::{DirPerms, FilePerms, WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};
use wasmtime_wasi_http::WasiHttpCtx;
use wasmtime_wasi_http::handler::{
    ErrorCode, HandlerState, Instance, Proxy, ProxyHandler, ShouldAccept, ViewFn, WorkerExpiration,
    WorkerState, WorkerStatus,
};
use wasmtime_wasi_http::p3::bindings::ServicePre;
use wasmtime_wasi_http::p3::bindings::http::types::ErrorCode as P3ErrorCode;
use wasmtime_wasi_http::p3::{self, WasiHttpCtxView, WasiHttpHooks, WasiHttpView};

use crate::bindings::{self, KvCtx};
use crate::kv::{Flaws, Kv, KvHandle, KvShared};
use crate::{Faults, engine, load_component};

/// Spin's `--max-instance-concurrent-reuse-count` default for wasip3.
const MAX_CONCURRENT: usize = 16;
/// Spin's `--max-instance-reuse-count` default for wasip3.
const MAX_REUSE: usize = 128;
/// Spin's `--idle-instance-timeout` default.
const IDLE_TIMEOUT: Duration = Duration::from_secs(1);
/// hyper's (and so Spin's) limit on request headers; more gives 431.
const MAX_HEADERS: usize = 100;

/// How to start a [`Host`]: the component and the platform it runs on.
#[derive(Clone, Debug)]
pub struct HostConfig {
    pub(crate) wasm: PathBuf,
    pub(crate) kv: Kv,
    flaws: Flaws,
    max_concurrent: usize,
    max_reuse: usize,
    idle_timeout: Duration,
    /// Host directories mounted read-only into the guest: (host, guest).
    pub(crate) files: Vec<(PathBuf, String)>,
    /// Spin variables (name, value), as `SPIN_VARIABLE_<NAME>` sets them.
    pub(crate) variables: Vec<(String, String)>,
    /// The project's `spin.toml`, for a run under the real Spin; the host
    /// reads its variables and `allowed_outbound_hosts` too.
    pub(crate) spin_manifest: Option<PathBuf>,
    /// Replaces the manifest's `allowed_outbound_hosts` (host only: to make
    /// the runtime refuse what the component permits).
    allowed_outbound_hosts: Option<Vec<String>>,
}

impl HostConfig {
    /// Runs the component at `wasm` (see [`crate::build_component`]) on an
    /// in-memory store with Spin's default flaws and instance limits.
    pub fn new(wasm: impl Into<PathBuf>) -> Self {
        HostConfig {
            wasm: wasm.into(),
            kv: Kv::Memory,
            flaws: Flaws::default(),
            max_concurrent: MAX_CONCURRENT,
            max_reuse: MAX_REUSE,
            idle_timeout: IDLE_TIMEOUT,
            files: Vec::new(),
            variables: Vec::new(),
            spin_manifest: None,
            allowed_outbound_hosts: None,
        }
    }

    /// The component's `allowed_outbound_hosts` (Spin's patterns), instead
    /// of what the manifest says.
    pub fn allowed_outbound_hosts(mut self, hosts: &[&str]) -> Self {
        self.allowed_outbound_hosts = Some(hosts.iter().map(|h| (*h).to_owned()).collect());
        self
    }

    /// Sets Spin variable `name` (lowercase, as in spin.toml) to `value`.
    pub fn variable(mut self, name: &str, value: &str) -> Self {
        self.variables.retain(|(n, _)| n != name);
        self.variables.push((name.to_owned(), value.to_owned()));
        self
    }

    /// The application manifest a run under the real Spin starts from (its
    /// component source and `files` replaced by this config's). Without
    /// one, Spin runs the component from a minimal manifest.
    pub fn spin_manifest(mut self, path: impl Into<PathBuf>) -> Self {
        self.spin_manifest = Some(path.into());
        self
    }

    /// Whether the config asks for nothing but what Spin itself does.
    pub(crate) fn has_default_flaws(&self) -> bool {
        self.flaws == Flaws::default()
            && self.allowed_outbound_hosts.is_none()
            && (self.max_concurrent, self.max_reuse, self.idle_timeout)
                == (MAX_CONCURRENT, MAX_REUSE, IDLE_TIMEOUT)
    }

    /// Mounts host directory `host` read-only at `guest` in every instance,
    /// as a `files = [{ source, destination }]` entry in spin.toml does.
    pub fn files(mut self, host: impl Into<PathBuf>, guest: &str) -> Self {
        self.files.retain(|(_, g)| g != guest);
        self.files.push((host.into(), guest.to_owned()));
        self
    }

    /// The key-value backend this config names.
    pub fn store(&self) -> &Kv {
        &self.kv
    }

    /// The key-value backend of the `default` store.
    pub fn kv(mut self, kv: Kv) -> Self {
        self.kv = kv;
        self
    }

    /// The backend flaws to reproduce.
    pub fn flaws(mut self, flaws: Flaws) -> Self {
        self.flaws = flaws;
        self
    }

    /// Instance reuse limits (`--max-instance-concurrent-reuse-count`,
    /// `--max-instance-reuse-count`); Spin's defaults are 16 and 128.
    pub fn instance_limits(mut self, concurrent: usize, total: usize) -> Self {
        self.max_concurrent = concurrent.max(1);
        self.max_reuse = total.max(1);
        self
    }

    /// How long an idle instance lives (`--idle-instance-timeout`, 1 s).
    pub fn idle_timeout(mut self, timeout: Duration) -> Self {
        self.idle_timeout = timeout;
        self
    }
}

/// A running host: an HTTP server on `127.0.0.1`, a key-value store, and
/// component instances, as one `spin up` process has.
///
/// Dropping it stops it like [`Host::kill`], without waiting.
pub struct Host {
    handler: ProxyHandler<Handler>,
    addr: SocketAddr,
    shared: Arc<Shared>,
    server: tokio::task::JoinHandle<()>,
}

/// State that outlives any one instance.
struct Shared {
    /// The component's variables (spin:variables).
    variables: Arc<std::collections::HashMap<String, String>>,
    outbound: Outbound,
    kv: KvHandle,
    faults: Faults,
    /// Cancelled by `kill`: stops the server and every instance.
    cancel: CancellationToken,
    instances_started: AtomicU64,
    live_instances: AtomicUsize,
    instance_dropped: Notify,
}

impl Host {
    /// Compiles (or loads from cache) the component, links it, and starts
    /// serving. Fails, naming the import, if the component imports anything
    /// the host does not provide.
    pub async fn start(config: HostConfig) -> anyhow::Result<Host> {
        let component = load_component(&config.wasm)?;
        let mut linker = Linker::<Ctx>::new(engine());
        // Rust's std imports WASI 0.2; spin-sdk 7 imports WASI 0.3.
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
        wasmtime_wasi::p3::add_to_linker(&mut linker)?;
        p3::add_to_linker(&mut linker)?;
        bindings::add_to_linker(&mut linker, |ctx: &mut Ctx| &mut ctx.kv)?;
        // Instantiating ahead resolves every import now, so a missing one
        // fails here with its name rather than on the first request.
        let pre = ServicePre::new(linker.instantiate_pre(&component)?)?;

        let mut resolved = match &config.spin_manifest {
            Some(path) => crate::manifest::resolve(path, &config.variables)?,
            None => crate::manifest::Resolved {
                variables: config.variables.iter().cloned().collect(),
                allowed_outbound_hosts: Vec::new(),
            },
        };
        if let Some(hosts) = &config.allowed_outbound_hosts {
            resolved.allowed_outbound_hosts = hosts.clone();
        }
        let allowed = resolved
            .allowed_outbound_hosts
            .iter()
            .map(|pattern| {
                bgtasks_core::outbound::Destinations::parse(pattern)
                    .map_err(|e| anyhow::anyhow!("allowed_outbound_hosts: {e}"))
            })
            .collect::<anyhow::Result<Vec<_>>>()?;

        let faults = Faults::default();
        let shared = Arc::new(Shared {
            variables: Arc::new(resolved.variables),
            outbound: Outbound {
                allowed: Arc::new(allowed),
                client: hyper_util::client::legacy::Client::builder(
                    hyper_util::rt::TokioExecutor::new(),
                )
                .build_http(),
            },
            kv: Arc::new(KvShared::new(
                config.kv.clone(),
                config.flaws.clone(),
                faults.clone(),
            )?),
            faults,
            cancel: CancellationToken::new(),
            instances_started: AtomicU64::new(0),
            live_instances: AtomicUsize::new(0),
            instance_dropped: Notify::new(),
        });
        let handler = ProxyHandler::new(Handler {
            pre,
            config,
            shared: shared.clone(),
        });

        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let server = tokio::spawn(serve(listener, handler.clone(), shared.cancel.clone()));
        Ok(Host {
            handler,
            addr,
            shared,
            server,
        })
    }

    /// `http://127.0.0.1:PORT`, no trailing slash.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The address the HTTP server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Handles `request` in-process, through the same path as an HTTP
    /// request (spin-* headers, instance pool), and collects the response.
    /// A relative URI is taken as relative to [`Host::url`]. Host failures
    /// (a trap, a killed host) come back as a 500, as Spin answers them.
    pub async fn call(&self, request: http::Request<Bytes>) -> http::Response<Bytes> {
        let client = SocketAddr::from(([127, 0, 0, 1], 0));
        let mut request = request.map(|b| Full::new(b).map_err(|never| match never {}));
        // What an HTTP client would send.
        if let Ok(host) = http::HeaderValue::from_str(&self.addr.to_string()) {
            request
                .headers_mut()
                .entry(http::header::HOST)
                .or_insert(host);
        }
        let response = match handle(&self.handler, request, client).await {
            Ok(response) => response,
            // Over HTTP the connection would close without an answer.
            Err(dropped) => {
                let mut resp = http::Response::new(Bytes::from(dropped));
                *resp.status_mut() = http::StatusCode::INTERNAL_SERVER_ERROR;
                return resp;
            }
        };
        let (parts, body) = response.into_parts();
        match body.collect().await {
            Ok(body) => http::Response::from_parts(parts, body.to_bytes()),
            // The body broke off (a trap, a kill): the client would see a
            // truncated response; a 500 is the closest whole answer.
            Err(e) => {
                let mut resp =
                    http::Response::new(Bytes::from(format!("response body failed: {e}")));
                *resp.status_mut() = http::StatusCode::INTERNAL_SERVER_ERROR;
                resp
            }
        }
    }

    /// The fault switch of this host's key-value store.
    pub fn faults(&self) -> &Faults {
        &self.shared.faults
    }

    /// How many component instances this host has created so far.
    pub fn instances_started(&self) -> u64 {
        self.shared.instances_started.load(Ordering::SeqCst)
    }

    /// How many instances are alive now (serving, running background work,
    /// or idle within the idle timeout).
    pub fn instances_alive(&self) -> usize {
        self.shared.live_instances.load(Ordering::SeqCst)
    }

    /// The host's clock: wall-clock milliseconds since the Unix epoch, the
    /// same clock the guest reads through `wasi:clocks`.
    pub fn now_ms(&self) -> u64 {
        now_ms()
    }

    /// Stops abruptly, as SIGTERM stops Spin: the server closes, in-flight
    /// requests are cut off, background work is dropped unfinished, and the
    /// SQLite file is released for a new host. Returns once every instance
    /// is gone (or after 5 s, if a guest never yields).
    pub async fn kill(self) {
        self.stop();
        let deadline = Instant::now() + Duration::from_secs(5);
        while self.shared.live_instances.load(Ordering::SeqCst) > 0 && Instant::now() < deadline {
            // Woken by each dropped instance; the timeout covers a drop
            // that happened between the load and the wait.
            let _ = tokio::time::timeout(
                Duration::from_millis(20),
                self.shared.instance_dropped.notified(),
            )
            .await;
        }
    }

    fn stop(&self) {
        self.shared.cancel.cancel();
        self.shared.kv.close();
        self.server.abort();
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Wall-clock milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

// ---- per-instance store data ----

/// The data of one instance's `Store`.
pub(crate) struct Ctx {
    table: ResourceTable,
    wasi: WasiCtx,
    http: WasiHttpCtx,
    hooks: Outbound,
    kv: KvCtx,
}

impl WasiView for Ctx {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for Ctx {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            hooks: &mut self.hooks,
            table: &mut self.table,
            ctx: &mut self.http,
        }
    }
}

/// Outgoing HTTP as Spin's outbound HTTP factor sends it
/// (spinframework/spin: crates/factor-outbound-http/src/wasi.rs): a URL not
/// in `allowed_outbound_hosts` is refused with `HttpRequestDenied`, the
/// `host` header is dropped (hyper sets it from the URI), and requests go
/// through one pooled client. Plain `http` only: the host makes no TLS
/// connections.
#[derive(Clone)]
struct Outbound {
    allowed: Arc<Vec<bgtasks_core::outbound::Destinations>>,
    client: hyper_util::client::legacy::Client<
        hyper_util::client::legacy::connect::HttpConnector,
        UnsyncBoxBody<Bytes, P3ErrorCode>,
    >,
}

impl Outbound {
    fn allows(&self, uri: &http::Uri) -> bool {
        let Ok(url) = bgtasks_core::outbound::TargetUrl::parse(&uri.to_string()) else {
            return false;
        };
        self.allowed.iter().any(|d| d.allows(&url))
    }
}

impl WasiHttpHooks for Outbound {
    fn send_request(
        &mut self,
        mut request: http::Request<UnsyncBoxBody<Bytes, P3ErrorCode>>,
        _options: Option<p3::RequestOptions>,
        _fut: Box<dyn Future<Output = Result<(), P3ErrorCode>> + Send>,
    ) -> Box<
        dyn Future<
                Output = Result<
                    (
                        http::Response<UnsyncBoxBody<Bytes, P3ErrorCode>>,
                        Box<dyn Future<Output = Result<(), P3ErrorCode>> + Send>,
                    ),
                    wasmtime_wasi::TrappableError<P3ErrorCode>,
                >,
            > + Send,
    > {
        let allowed = self.allows(request.uri());
        let client = self.client.clone();
        Box::new(async move {
            if !allowed {
                return Err(P3ErrorCode::HttpRequestDenied.into());
            }
            if request.uri().scheme() != Some(&http::uri::Scheme::HTTP) {
                return Err(P3ErrorCode::InternalError(Some(
                    "the test host makes no TLS connections".into(),
                ))
                .into());
            }
            request.headers_mut().remove(http::header::HOST);
            let response = client.request(request).await.map_err(|e| {
                if e.is_connect() {
                    P3ErrorCode::ConnectionRefused
                } else {
                    P3ErrorCode::InternalError(Some(e.to_string()))
                }
            })?;
            let response = response.map(|body| {
                body.map_err(|e| P3ErrorCode::InternalError(Some(e.to_string())))
                    .boxed_unsync()
            });
            Ok((
                response,
                Box::new(async { Ok(()) }) as Box<dyn Future<Output = _> + Send>,
            ))
        })
    }
}

// ---- the instance pool, through ProxyHandler ----

struct Handler {
    pre: ServicePre<Ctx>,
    config: HostConfig,
    shared: Arc<Shared>,
}

impl Handler {
    fn wasi_ctx(&self) -> wasmtime::Result<WasiCtx> {
        let mut wasi = WasiCtxBuilder::new();
        // The component's output goes to the test's terminal, as Spin's
        // goes to its own.
        wasi.inherit_stdout().inherit_stderr();
        for (host, guest) in &self.config.files {
            wasi.preopened_dir(host, guest, DirPerms::READ, FilePerms::READ)?;
        }
        Ok(wasi.build())
    }
}

impl HandlerState for Handler {
    type StoreData = Ctx;
    type WorkerExpiration = Expiry;
    type WorkerState = Limits;

    async fn instantiate(&self) -> wasmtime::Result<Instance<Ctx, Expiry, Limits>> {
        if self.shared.cancel.is_cancelled() {
            return Err(wasmtime::format_err!("host was killed"));
        }
        let ctx = Ctx {
            table: ResourceTable::new(),
            wasi: self.wasi_ctx()?,
            http: WasiHttpCtx::new(),
            hooks: self.shared.outbound.clone(),
            kv: KvCtx::new(self.shared.kv.clone(), self.shared.variables.clone()),
        };
        let mut store = Store::new(engine(), ctx);
        let service = self.pre.instantiate_async(&mut store).await?;
        self.shared.instances_started.fetch_add(1, Ordering::SeqCst);
        self.shared.live_instances.fetch_add(1, Ordering::SeqCst);
        Ok(Instance {
            store,
            proxy: Proxy::P3(service),
            view: ViewFn::P3(|ctx: &mut Ctx| ctx.http()),
            expiration: Expiry {
                idle: self.config.idle_timeout,
                sleep: Box::pin(tokio::time::sleep(Duration::MAX / 4)),
                killed: Box::pin(self.shared.cancel.clone().cancelled_owned()),
            },
            state: Limits {
                concurrent: self.config.max_concurrent,
                total: self.config.max_reuse,
                shared: self.shared.clone(),
            },
        })
    }
}

/// When an instance goes away: after the idle timeout, or at once when the
/// host is killed. No request timeout, as `spin up` has none by default.
struct Expiry {
    idle: Duration,
    sleep: Pin<Box<tokio::time::Sleep>>,
    killed: Pin<Box<WaitForCancellationFutureOwned>>,
}

impl WorkerExpiration for Expiry {
    fn poll(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        status: WorkerStatus,
        start: Instant,
    ) -> Poll<()> {
        let me = self.get_mut();
        if me.killed.as_mut().poll(cx).is_ready() {
            return Poll::Ready(());
        }
        if status != WorkerStatus::Idle {
            return Poll::Pending;
        }
        let deadline = tokio::time::Instant::from_std(start + me.idle);
        if me.sleep.deadline() != deadline {
            me.sleep.as_mut().reset(deadline);
        }
        me.sleep.as_mut().poll(cx)
    }
}

/// Spin's reuse policy for one instance.
struct Limits {
    concurrent: usize,
    total: usize,
    shared: Arc<Shared>,
}

impl WorkerState for Limits {
    type StoreData = Ctx;
    type RequestId = ();

    fn should_accept_request(&self, concurrent: usize, total: usize) -> ShouldAccept {
        if total >= self.total {
            ShouldAccept::Never
        } else if concurrent >= self.concurrent {
            ShouldAccept::No
        } else {
            ShouldAccept::Yes
        }
    }

    fn on_request_start(
        &self,
        _store: StoreContextMut<'_, Ctx>,
        _id: (),
        _task: wasmtime::component::GuestTaskId,
    ) -> Pin<Box<dyn Future<Output = ()> + Send + Sync + 'static>> {
        // No request timeout (Spin's default).
        Box::pin(std::future::pending())
    }

    fn drop(&self, store: Store<Ctx>, result: wasmtime::Result<()>) {
        if let Err(error) = result
            && !self.shared.cancel.is_cancelled()
        {
            // Spin logs the same line when an instance traps.
            eprintln!("worker failed: {error:?}");
        }
        drop(store);
        self.shared.live_instances.fetch_sub(1, Ordering::SeqCst);
        self.shared.instance_dropped.notify_waiters();
    }
}

// ---- HTTP ----

type RespBody = UnsyncBoxBody<Bytes, std::io::Error>;

/// Accepts connections until the host is killed; then drops them all.
async fn serve(
    listener: tokio::net::TcpListener,
    handler: ProxyHandler<Handler>,
    cancel: CancellationToken,
) {
    let mut connections = tokio::task::JoinSet::new();
    loop {
        let (stream, client) = tokio::select! {
            _ = cancel.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(_) => continue,
            },
            // Reap finished connections so the set does not grow.
            Some(_) = connections.join_next(), if !connections.is_empty() => continue,
        };
        // No TCP_NODELAY: Spin's listener does not set it either.
        let handler = handler.clone();
        connections.spawn(async move {
            let service =
                hyper::service::service_fn(move |req: http::Request<hyper::body::Incoming>| {
                    let handler = handler.clone();
                    async move { handle(&handler, req, client).await }
                });
            // hyper's defaults, as Spin's: HTTP/1.1 or HTTP/2 by what the
            // client speaks, at most 100 headers (431 beyond), no body limit.
            let _ =
                hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new())
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                    .await;
        });
    }
    // Dropping the set aborts every connection: in-flight requests are cut.
    drop(connections);
}

/// Spin's prefix for the paths it answers itself.
const WELL_KNOWN: &str = "/.well-known/spin/";

/// A request Spin gives no answer to: its service function fails, and hyper
/// closes the connection without a response.
type Dropped = String;

/// One request, as Spin's HTTP trigger handles it for a `/...` route
/// (spinframework/spin: crates/trigger-http/src/{server,wasi,wasip3,
/// headers}.rs), step by step.
async fn handle<B>(
    handler: &ProxyHandler<Handler>,
    request: http::Request<B>,
    client: SocketAddr,
) -> Result<http::Response<RespBody>, Dropped>
where
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: std::fmt::Display,
{
    if request.headers().len() > MAX_HEADERS {
        // Over HTTP hyper answers this itself; `call` needs the same answer.
        return Ok(empty_response(
            http::StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
        ));
    }
    let (mut parts, body) = request.into_parts();
    // `strip_forbidden_headers`: transport information stays with the server.
    parts.headers.remove(http::header::CONNECTION);
    if let Some(well_known) = parts.uri.path().strip_prefix(WELL_KNOWN) {
        return Ok(match well_known {
            "health" => full_response(http::StatusCode::OK, "OK"),
            "info" => full_response(http::StatusCode::OK, "{\n  \"name\": \"bgtasks\"\n}"),
            _ => empty_response(http::StatusCode::NOT_FOUND),
        });
    }
    set_request_uri(&mut parts)?;
    // From here on a failure is the executor's, which Spin answers with an
    // empty 500.
    let request = match prepare(parts, body, client) {
        Ok(r) => r,
        Err(()) => return Ok(empty_response(http::StatusCode::INTERNAL_SERVER_ERROR)),
    };
    match handler.handle((), request).await {
        Ok(response) => Ok(response.map(|body| {
            body.map_err(|e| std::io::Error::other(format!("{e:?}")))
                .boxed_unsync()
        })),
        // A trap, a killed host, or the guest's error code.
        Err(_) => Ok(empty_response(http::StatusCode::INTERNAL_SERVER_ERROR)),
    }
}

fn full_response(status: http::StatusCode, text: &'static str) -> http::Response<RespBody> {
    let mut resp = http::Response::new(
        Full::new(Bytes::from_static(text.as_bytes()))
            .map_err(|never| match never {})
            .boxed_unsync(),
    );
    *resp.status_mut() = status;
    resp
}

fn empty_response(status: http::StatusCode) -> http::Response<RespBody> {
    full_response(status, "")
}

/// Spin's `set_req_uri`: an absolute URI whose authority comes from the
/// `Host` header or the request line, which must agree.
fn set_request_uri(parts: &mut http::request::Parts) -> Result<(), Dropped> {
    let from_header = match parts.headers.get(http::header::HOST) {
        Some(h) => Some(
            h.to_str()
                .map_err(|_| "'Host' header is not valid UTF-8".to_owned())?
                .parse::<http::uri::Authority>()
                .map_err(|_| "'Host' header contains an invalid authority".to_owned())?,
        ),
        None => None,
    };
    let mut uri = std::mem::take(&mut parts.uri).into_parts();
    let authority = match (from_header, uri.authority.take()) {
        (None, None) => return Err("no 'Host' header present in request".into()),
        (None, Some(a)) | (Some(a), None) => a,
        (Some(a1), Some(a2)) if a1 != a2 => {
            return Err("authority in 'Host' header does not match authority in URI".into());
        }
        (Some(a), Some(_)) => a,
    };
    uri.scheme = Some(http::uri::Scheme::HTTP);
    uri.authority = Some(authority);
    if uri.path_and_query.is_none() {
        uri.path_and_query = Some(http::uri::PathAndQuery::from_static("/"));
    }
    parts.uri = http::Uri::from_parts(uri).map_err(|e| e.to_string())?;
    Ok(())
}

/// Spin's `prepare_request` for the catch-all route `/...`: every header
/// value must be UTF-8 (else the executor fails: an empty 500), then the
/// spin-* headers are added.
fn prepare<B>(
    mut parts: http::request::Parts,
    body: B,
    client: SocketAddr,
) -> Result<wasmtime_wasi_http::handler::Request, ()>
where
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: std::fmt::Display,
{
    if parts
        .headers
        .values()
        .any(|v| std::str::from_utf8(v.as_bytes()).is_err())
    {
        return Err(());
    }
    let host = parts
        .headers
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost")
        .to_owned();
    let path = parts.uri.path().to_owned();
    let path_and_query = parts
        .uri
        .path_and_query()
        .map_or("/", |pq| pq.as_str())
        .to_owned();
    let full_url = format!("http://{host}{path_and_query}");
    let spin_headers = [
        ("spin-path-info", path),
        ("spin-full-url", full_url),
        ("spin-matched-route", "/...".to_owned()),
        ("spin-base-path", "/".to_owned()),
        ("spin-raw-component-route", "/...".to_owned()),
        ("spin-component-route", String::new()),
        ("spin-client-addr", client.to_string()),
    ];
    for (name, value) in spin_headers {
        // Spin drops a header it cannot build rather than failing.
        if let Ok(value) = http::HeaderValue::from_str(&value) {
            parts.headers.append(name, value);
        }
    }
    let body = body
        .map_err(|e| {
            ErrorCode::from(P3ErrorCode::InternalError(Some(format!(
                "request body: {e}"
            ))))
        })
        .boxed_unsync();
    Ok(http::Request::from_parts(parts, body))
}
