//! bgtasks-spin: the bgtasks service as a Spin HTTP component.
//!
//! Serves the HTTP contract (routes in [`routes`]) on Spin's key-value store
//! (layout in [`store`]), with bgtasks-core doing validation, transitions
//! and rendering. This crate adds routing, storage and waiting:
//!
//! - a submit stores its task already claimed, in one commit that it shares
//!   with the submits arriving on the same instance meanwhile (`commit`),
//!   answers 202, and runs the task in the background of the invocation;
//! - every later change to a task is a compare-and-swap on its record, whose
//!   version grows with each transition, so no two workers run one attempt;
//! - background work may vanish (Spin drops it on SIGTERM), so reading a
//!   task that is due or whose lease ran out runs it again, and requests
//!   start a bounded recovery sweep ([`runner`]).
//!
//! The component never panics on input: a trap would kill every request
//! sharing its instance. Store failures answer 503.

// Natively only the unit tests are built; the handler is unused there.
#![cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]

pub mod commit;
pub mod config;
pub mod routes;
pub mod runner;
mod send;
pub mod service;
pub mod store;

use bgtasks_core::{Problem, validate};
use bytes::Bytes;
use http_body_util::Full;
use spin_sdk::wasip3::http::types::{self, Method};
use spin_sdk::wasip3::wit_bindgen::StreamResult;

use routes::{Miss, Route};
use service::Reply;

/// The component's export. Written out rather than through
/// `#[http_service]`, which converts the request into `http::Request`
/// first and so could refuse a hostile request before the contract's own
/// rules see it.
/// Exported on wasm only: the export's symbol names do not link natively,
/// where only the unit tests are built.
#[cfg(target_arch = "wasm32")]
struct Component;

#[cfg(target_arch = "wasm32")]
spin_sdk::wasip3::http::service::export!(Component);

#[cfg(target_arch = "wasm32")]
impl spin_sdk::wasip3::exports::http::handler::Guest for Component {
    async fn handle(request: types::Request) -> Result<types::Response, types::ErrorCode> {
        let reply = serve(request).await.unwrap_or_else(|reply| reply);
        spin_sdk::http::IntoResponse::into_response(respond(reply))
    }
}

async fn serve(request: types::Request) -> Result<Reply, Reply> {
    let method = method_name(request.get_method());
    let target = request.get_path_with_query().unwrap_or_default();
    let (path, query) = target.split_once('?').unwrap_or((&target, ""));
    let route = match routes::resolve(&method, path) {
        Ok(route) => route,
        Err(Miss::Refused(problem, allow)) => {
            return Err(Reply {
                allow,
                ..Reply::problem(&problem)
            });
        }
        Err(Miss::Redirect(location)) => {
            let location = if query.is_empty() {
                location
            } else {
                format!("{location}?{query}")
            };
            return Ok(Reply {
                location: Some(location),
                ..Reply::json(307, Vec::new())
            });
        }
    };
    let headers = request.get_headers().copy_all();
    let header = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    };
    // Right after routing, before the body is looked at (413, 415, 422).
    if route.needs_token() {
        let settings = config::settings().await;
        if !config::authorized(&settings, header("authorization").as_deref()) {
            // Read what the client sends first, as for a 413.
            let _ = read_body(request).await;
            return Err(Problem::NotAuthenticated.into());
        }
    }
    match route {
        Route::Submit(kind) => {
            let arriving = commit::arriving();
            let body = read_body(request).await.ok_or(Problem::TooLarge)?;
            if !validate::content_type_accepted(header("content-type").as_deref(), &body) {
                return Err(Problem::UnsupportedMediaType.into());
            }
            service::submit(kind, &body, header("idempotency-key").as_deref(), arriving).await
        }
        Route::Status(id) => service::status(id, query).await,
        Route::Retry(id) => service::retry(id).await,
        Route::Cancel(id) => service::cancel(id).await,
        Route::Delete(id) => service::delete(id).await,
        Route::List => service::list(query).await,
        Route::Output(id) => service::output(id).await,
        Route::Health => service::health().await,
        Route::OpenApi => Ok(service::openapi()),
        Route::Page => service::asset("index.html"),
        Route::Asset(path) => service::asset(&path),
    }
}

/// Reads the request body, keeping at most one byte more than the limit:
/// `None` when it is over, however it was sent (whole or chunked). Spin sets
/// no limit of its own.
///
/// Past the limit the rest is read and dropped, up to [`DRAIN_BYTES`], before
/// the 413 goes out: a server that answers while the client is still sending
/// closes on it, and the client sees a broken pipe instead of the 413.
async fn read_body(request: types::Request) -> Option<Vec<u8>> {
    let (_done, done_reader) = spin_sdk::wasip3::wit_future::new(|| Ok(()));
    let (mut stream, _trailers) = types::Request::consume_body(request, done_reader);
    let mut body = Vec::new();
    let mut over = false;
    let mut dropped = 0;
    loop {
        let (result, chunk) = stream.read(Vec::with_capacity(16 * 1024)).await;
        if !over && body.len() + chunk.len() > validate::MAX_BODY_BYTES {
            over = true;
            dropped = body.len();
            body = Vec::new();
        }
        if over {
            dropped += chunk.len();
        } else {
            body.extend_from_slice(&chunk);
        }
        match result {
            StreamResult::Complete(_) if !over || dropped < DRAIN_BYTES => continue,
            StreamResult::Complete(_) => return None,
            StreamResult::Dropped | StreamResult::Cancelled => return (!over).then_some(body),
        }
    }
}

/// How much of an oversized body is read (and dropped) before answering.
const DRAIN_BYTES: usize = 1 << 20;

fn method_name(method: Method) -> String {
    match method {
        Method::Get => "GET".into(),
        Method::Head => "HEAD".into(),
        Method::Post => "POST".into(),
        Method::Put => "PUT".into(),
        Method::Delete => "DELETE".into(),
        Method::Connect => "CONNECT".into(),
        Method::Options => "OPTIONS".into(),
        Method::Trace => "TRACE".into(),
        Method::Patch => "PATCH".into(),
        Method::Other(name) => name,
    }
}

fn respond(reply: Reply) -> http::Response<Full<Bytes>> {
    // A known length spares the chunked encoding's closing chunk, which
    // hyper writes as a segment of its own: on a keep-alive connection
    // without TCP_NODELAY (Spin's) that segment waits ~40 ms for the
    // client's delayed ACK.
    let length = http::HeaderValue::from(reply.body.len());
    let mut response = http::Response::new(Full::new(Bytes::from(reply.body)));
    response
        .headers_mut()
        .insert(http::header::CONTENT_LENGTH, length);
    *response.status_mut() =
        http::StatusCode::from_u16(reply.status).unwrap_or(http::StatusCode::SERVICE_UNAVAILABLE);
    let headers = response.headers_mut();
    if reply.status != 204 {
        headers.insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static(reply.content_type),
        );
    }
    if reply.authenticate {
        headers.insert(
            http::header::WWW_AUTHENTICATE,
            http::HeaderValue::from_static("Bearer"),
        );
    }
    if let Some(location) = reply
        .location
        .and_then(|l| http::HeaderValue::try_from(l).ok())
    {
        headers.insert(http::header::LOCATION, location);
    }
    if let Some(allow) = reply.allow {
        headers.insert(http::header::ALLOW, http::HeaderValue::from_static(allow));
    }
    response
}
