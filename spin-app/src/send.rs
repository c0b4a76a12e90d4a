//! Sending one request (an `http` task's attempt, or a callback delivery)
//! with Spin's outbound HTTP, and reporting how it ended.
//!
//! The whole exchange (connecting, the answer's head, the part of its body
//! a result keeps) runs under one timeout; past it the request is dropped,
//! which cancels it in the host. At most [`MAX_RESPONSE_BODY`] bytes of an
//! answer are read: a huge or endless body holds nothing beyond that.

use std::time::Duration;

use bgtasks_core::outbound::{MAX_RESPONSE_BODY, OutboundRequest};
use bytes::Bytes;
use futures_util::future::{Either, select};
use http_body_util::{BodyExt, Full};
use spin_sdk::wasip3::http::types::ErrorCode;

use crate::runner::now;

/// How a request ended, owned (see [`bgtasks_core::outbound::Answer`]).
pub enum Ended {
    Response {
        status: u16,
        retry_after: Option<String>,
        body: Vec<u8>,
        duration_ms: u64,
    },
    TimedOut,
    Refused,
    NotAllowed,
    Transport(String),
}

impl Ended {
    pub fn answer(&self) -> bgtasks_core::outbound::Answer<'_> {
        use bgtasks_core::outbound::Answer;
        match self {
            Ended::Response {
                status,
                retry_after,
                body,
                duration_ms,
            } => Answer::Response {
                status: *status,
                retry_after: retry_after.as_deref(),
                body,
                duration_ms: *duration_ms,
            },
            Ended::TimedOut => Answer::TimedOut,
            Ended::Refused => Answer::Refused,
            Ended::NotAllowed => Answer::NotAllowed,
            Ended::Transport(what) => Answer::Transport(what.clone()),
        }
    }
}

/// Sends `request`, giving up after `timeout_ms`.
pub async fn send(request: &OutboundRequest, timeout_ms: u64) -> Ended {
    let started = now();
    let exchange = std::pin::pin!(exchange(request, started));
    let deadline = std::pin::pin!(spin_sdk::time::sleep(Duration::from_millis(timeout_ms)));
    match select(exchange, deadline).await {
        Either::Left((ended, _)) => ended,
        // Dropping the exchange cancels the request in the host.
        Either::Right(_) => Ended::TimedOut,
    }
}

async fn exchange(request: &OutboundRequest, started: bgtasks_core::Millis) -> Ended {
    let mut builder = http::Request::builder()
        .method(request.method.as_str())
        .uri(&request.url);
    for (name, value) in &request.headers {
        builder = builder.header(name, value);
    }
    let Ok(outgoing) = builder.body(Full::new(Bytes::from(request.body.clone()))) else {
        return Ended::Transport("invalid request".into());
    };
    let response = match spin_sdk::http::send(outgoing).await {
        Ok(response) => response,
        Err(code) => return transport(&code),
    };
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get(http::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let mut body_stream = response.into_body();
    let mut body = Vec::new();
    while body.len() < MAX_RESPONSE_BODY {
        match body_stream.frame().await {
            Some(Ok(frame)) => {
                if let Ok(data) = frame.into_data() {
                    body.extend_from_slice(&data);
                }
            }
            // The answer's head arrived: a body cut short still answers.
            Some(Err(_)) | None => break,
        }
    }
    body.truncate(MAX_RESPONSE_BODY);
    Ended::Response {
        status,
        retry_after,
        body,
        duration_ms: now().since(started),
    }
}

fn transport(code: &ErrorCode) -> Ended {
    match code {
        ErrorCode::HttpRequestDenied => Ended::NotAllowed,
        ErrorCode::ConnectionRefused => Ended::Refused,
        ErrorCode::ConnectionTimeout
        | ErrorCode::ConnectionReadTimeout
        | ErrorCode::ConnectionWriteTimeout => Ended::TimedOut,
        ErrorCode::DnsTimeout | ErrorCode::DnsError(_) | ErrorCode::DestinationNotFound => {
            Ended::Transport("dns lookup failed".into())
        }
        ErrorCode::DestinationUnavailable | ErrorCode::DestinationIpUnroutable => {
            Ended::Transport("destination unreachable".into())
        }
        ErrorCode::DestinationIpProhibited => Ended::NotAllowed,
        ErrorCode::ConnectionTerminated => Ended::Transport("connection closed".into()),
        ErrorCode::TlsProtocolError
        | ErrorCode::TlsCertificateError
        | ErrorCode::TlsAlertReceived(_) => Ended::Transport("tls error".into()),
        other => Ended::Transport(short(
            format!("{other:?}").trim_start_matches("ErrorCode::"),
        )),
    }
}

/// A short lowercase description of a transport failure.
fn short(text: &str) -> String {
    let mut out: String = text
        .chars()
        .take(120)
        .flat_map(char::to_lowercase)
        .collect();
    if out.is_empty() {
        out.push_str("transport error");
    }
    out
}
