//! Measures HTTP tasks: how many attempts a second the service sustains
//! against a local receiver, and what a slow receiver does to the service's
//! other requests. A benchmark: it prints numbers and asserts nothing.
//!
//! ```sh
//! cargo run --release -p bgtasks-tests --example outbound -- [--spin] [TASKS]
//! ```
//!
//! Runs the service on the test host (or under `spin up` with `--spin`) on
//! a fresh SQLite store, with `http_destinations` open to loopback.

use std::time::{Duration, Instant};

use bgtasks_tests::receiver::{Answer, Receiver};
use bgtasks_tests::{HostConfig, Kv, Runtime, Server};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};

async fn call(addr: std::net::SocketAddr, method: &str, path: &str, body: &str) -> (u16, String) {
    let stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .expect("handshake");
    tokio::spawn(conn);
    let request = http::Request::builder()
        .method(method)
        .uri(path)
        .header("host", "127.0.0.1")
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body.to_owned())))
        .expect("request");
    let response = sender.send_request(request).await.expect("response");
    let status = response.status().as_u16();
    let body = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

#[tokio::main(flavor = "multi_thread")]
async fn main() -> anyhow::Result<()> {
    let mut runtime = Runtime::Host;
    let mut tasks = 500usize;
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "--spin" => runtime = Runtime::Spin,
            n => tasks = n.parse()?,
        }
    }
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let db = std::env::temp_dir().join(format!("bgtasks-outbound-{}.db", std::process::id()));
    let config = HostConfig::new(bgtasks_tests::build_component("bgtasks-spin"))
        .kv(Kv::sqlite(&db))
        .spin_manifest(root.join("spin.toml"))
        .variable("http_destinations", "http://127.0.0.1:*");
    let server = Server::start(runtime, config).await?;
    let addr = server.addr();
    println!("==> {runtime:?}, {tasks} http tasks against a local receiver answering 200 at once");

    let fast = Receiver::start(vec![]).await?;
    let body = format!(r#"{{"url": "{}", "body": {{"n": 1}}}}"#, fast.url("/hook"));
    let started = Instant::now();
    let submits: Vec<_> = (0..tasks)
        .map(|_| {
            let body = body.clone();
            tokio::spawn(async move { call(addr, "POST", "/http/", &body).await })
        })
        .collect();
    for submit in submits {
        let (status, text) = submit.await?;
        assert_eq!(status, 202, "{text}");
    }
    let submitted = started.elapsed();
    let done = fast.wait_for(tasks, Duration::from_secs(120)).await.len();
    let elapsed = started.elapsed();
    println!(
        "    {tasks} submitted in {:.2} s; {done} delivered in {:.2} s: {:.0} attempts/s",
        submitted.as_secs_f64(),
        elapsed.as_secs_f64(),
        done as f64 / elapsed.as_secs_f64()
    );

    println!("==> a receiver that holds 50 requests for 10 s, meanwhile 200 status reads");
    let slow = Receiver::start(vec![Answer::Hang; 50]).await?;
    let slow_body = format!(r#"{{"url": "{}", "timeout_ms": 10000}}"#, slow.url("/slow"));
    for _ in 0..50 {
        call(addr, "POST", "/http/", &slow_body).await;
    }
    slow.wait_for(50, Duration::from_secs(10)).await;
    let (_, quick) = call(
        addr,
        "POST",
        "/notify/",
        r#"{"email": "a@b.co", "message": "m", "simulate": {"delay_ms": 0}}"#,
    )
    .await;
    let id = quick.split('"').nth(3).unwrap_or_default().to_owned();
    let mut latencies = Vec::new();
    for _ in 0..200 {
        let t = Instant::now();
        let (status, _) = call(addr, "GET", &format!("/status/{id}"), "").await;
        assert_eq!(status, 200);
        latencies.push(t.elapsed());
    }
    latencies.sort();
    println!(
        "    status reads while 50 requests hang: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        latencies[100].as_secs_f64() * 1000.0,
        latencies[197].as_secs_f64() * 1000.0,
        latencies[199].as_secs_f64() * 1000.0
    );
    server.kill().await;
    let _ = std::fs::remove_file(&db);
    Ok(())
}
