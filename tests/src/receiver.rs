//! A receiver for the service's outbound requests: an HTTP server on a free
//! loopback port that records every request and answers from a script.
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! use bgtasks_tests::receiver::{Answer, Receiver};
//! let receiver = Receiver::start(vec![Answer::status(503), Answer::status(200)]).await?;
//! let url = receiver.url("/hook");   // http://127.0.0.1:PORT/hook
//! // ... submit a task that calls `url` ...
//! let seen = receiver.requests();    // every request, in arrival order
//! # Ok(()) }
//! ```
//!
//! Once the script is spent, every request gets `200 ok`.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::Frame;

/// One scripted answer.
#[derive(Clone, Debug)]
pub enum Answer {
    /// A whole answer, sent after `delay`.
    Reply {
        status: u16,
        delay: Duration,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    },
    /// No answer at all: the request hangs until the client gives up.
    Hang,
    /// The head, then a body that never ends.
    Endless { status: u16 },
    /// The connection closes without an answer.
    Close,
}

impl Answer {
    pub fn status(status: u16) -> Answer {
        Answer::Reply {
            status,
            delay: Duration::ZERO,
            headers: Vec::new(),
            body: b"ok".to_vec(),
        }
    }

    /// This answer, sent `ms` milliseconds late.
    pub fn after_ms(self, ms: u64) -> Answer {
        match self {
            Answer::Reply {
                status,
                headers,
                body,
                ..
            } => Answer::Reply {
                status,
                delay: Duration::from_millis(ms),
                headers,
                body,
            },
            other => other,
        }
    }

    /// This answer with a header.
    pub fn header(self, name: &str, value: &str) -> Answer {
        match self {
            Answer::Reply {
                status,
                delay,
                mut headers,
                body,
            } => {
                headers.push((name.to_owned(), value.to_owned()));
                Answer::Reply {
                    status,
                    delay,
                    headers,
                    body,
                }
            }
            other => other,
        }
    }

    /// This answer with a body.
    pub fn body(self, bytes: impl Into<Vec<u8>>) -> Answer {
        match self {
            Answer::Reply {
                status,
                delay,
                headers,
                ..
            } => Answer::Reply {
                status,
                delay,
                headers,
                body: bytes.into(),
            },
            other => other,
        }
    }
}

/// A request the receiver got.
#[derive(Clone, Debug)]
pub struct Received {
    pub method: String,
    pub path: String,
    /// Names lowercase, in arrival order.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Wall-clock milliseconds when it arrived.
    pub at_ms: u64,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

struct State {
    script: VecDeque<Answer>,
    received: Vec<Received>,
}

/// A running receiver; stops when dropped.
pub struct Receiver {
    port: u16,
    state: Arc<Mutex<State>>,
    server: tokio::task::JoinHandle<()>,
}

impl Receiver {
    pub async fn start(script: Vec<Answer>) -> anyhow::Result<Receiver> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let port = listener.local_addr()?.port();
        let state = Arc::new(Mutex::new(State {
            script: script.into(),
            received: Vec::new(),
        }));
        let shared = state.clone();
        let server = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let state = shared.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req| {
                        let state = state.clone();
                        async move { answer(state, req).await }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Ok(Receiver {
            port,
            state,
            server,
        })
    }

    /// `http://127.0.0.1:PORT<path>`.
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// Every request so far, in arrival order.
    pub fn requests(&self) -> Vec<Received> {
        self.lock().received.clone()
    }

    /// Adds answers to the script.
    pub fn then(&self, answers: Vec<Answer>) {
        self.lock().script.extend(answers);
    }

    /// Waits until `n` requests have arrived (or `timeout` passes) and
    /// returns them.
    pub async fn wait_for(&self, n: usize, timeout: Duration) -> Vec<Received> {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            let seen = self.requests();
            if seen.len() >= n || std::time::Instant::now() > deadline {
                return seen;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.server.abort();
    }
}

type Body = http_body_util::combinators::UnsyncBoxBody<Bytes, Infallible>;

async fn answer(
    state: Arc<Mutex<State>>,
    request: http::Request<hyper::body::Incoming>,
) -> Result<http::Response<Body>, std::io::Error> {
    let (parts, body) = request.into_parts();
    let body = body
        .collect()
        .await
        .map(|b| b.to_bytes().to_vec())
        .unwrap_or_default();
    let next = {
        let mut state = state.lock().unwrap_or_else(|e| e.into_inner());
        state.received.push(Received {
            method: parts.method.to_string(),
            path: parts
                .uri
                .path_and_query()
                .map_or("/".to_owned(), |p| p.to_string()),
            headers: parts
                .headers
                .iter()
                .map(|(n, v)| {
                    (
                        n.as_str().to_owned(),
                        String::from_utf8_lossy(v.as_bytes()).into_owned(),
                    )
                })
                .collect(),
            body,
            at_ms: crate::now_ms(),
        });
        state
            .script
            .pop_front()
            .unwrap_or_else(|| Answer::status(200))
    };
    match next {
        Answer::Reply {
            status,
            delay,
            headers,
            body,
        } => {
            tokio::time::sleep(delay).await;
            let mut response = http::Response::new(Full::new(Bytes::from(body)).boxed_unsync());
            *response.status_mut() =
                http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::OK);
            for (name, value) in headers {
                if let (Ok(n), Ok(v)) = (
                    http::HeaderName::from_bytes(name.as_bytes()),
                    http::HeaderValue::from_str(&value),
                ) {
                    response.headers_mut().append(n, v);
                }
            }
            Ok(response)
        }
        Answer::Hang => {
            std::future::pending::<()>().await;
            unreachable!()
        }
        Answer::Endless { status } => {
            let chunks = futures_util::stream::unfold((), |()| async {
                tokio::time::sleep(Duration::from_millis(5)).await;
                Some((
                    Ok::<_, Infallible>(Frame::data(Bytes::from(vec![b'x'; 8192]))),
                    (),
                ))
            });
            let mut response = http::Response::new(StreamBody::new(chunks).boxed_unsync());
            *response.status_mut() =
                http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::OK);
            Ok(response)
        }
        Answer::Close => Err(std::io::Error::other("closed without an answer")),
    }
}
