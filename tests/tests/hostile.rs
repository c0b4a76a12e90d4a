//! Hostile input: whatever comes in, the answer is a contract status, never
//! a 5xx, and nothing is stored for a refused request.

mod common;

use bytes::Bytes;
use common::*;

#[tokio::test(flavor = "multi_thread")]
async fn no_input_gets_a_server_error() {
    let svc = service().await;
    let addr = svc.addr();
    let json_ct = [("content-type", "application/json")];
    let deep = format!(
        "{{\"content\": {}{}}}",
        "[".repeat(100_000 / 2),
        "]".repeat(100_000 / 2)
    );
    let bodies: Vec<(&str, Vec<u8>, u16)> = vec![
        ("deep nesting", deep.into_bytes(), 413),
        (
            "moderately deep",
            format!("{{\"content\": {}1{}}}", "[".repeat(5000), "]".repeat(5000)).into_bytes(),
            422,
        ),
        ("NaN", b"{\"content\": {\"x\": NaN}}".to_vec(), 422),
        (
            "Infinity",
            b"{\"content\": {\"x\": -Infinity}}".to_vec(),
            422,
        ),
        (
            "huge number",
            b"{\"content\": {\"x\": 1e999}}".to_vec(),
            422,
        ),
        (
            "lone surrogate",
            b"{\"content\": {\"x\": \"\\udc00\"}}".to_vec(),
            422,
        ),
        (
            "invalid utf-8",
            b"{\"content\": {\"x\": \"\xff\xfe\"}}".to_vec(),
            422,
        ),
        ("truncated", b"{\"content\": {".to_vec(), 422),
        ("not an object", b"[1, 2, 3]".to_vec(), 422),
        ("empty", Vec::new(), 422),
        ("null", b"null".to_vec(), 422),
        ("nul bytes", b"\0\0\0".to_vec(), 422),
        (
            "content not an object",
            b"{\"content\": \"text\"}".to_vec(),
            422,
        ),
    ];
    for (what, body, expected) in bodies {
        let resp = request(addr, "POST", "/file/", &json_ct, body).await;
        assert_eq!(
            resp.status,
            expected,
            "{what}: {:?}",
            String::from_utf8_lossy(&resp.body)
        );
        assert!(
            resp.json()["detail"].is_array() || resp.json()["detail"].is_string(),
            "{what}"
        );
    }
    let paths = [
        "/status/../tasks",
        "/status/%00",
        "/status/%ff%fe",
        "/status/6f1c2a9e-8a53-4c1e-9d7e-2b3c4d5e6f70%2F..",
        "/outputs/..%2F..%2Fetc%2Fpasswd.json",
        "/outputs/%2e%2e.json",
        "/tasks?limit=%ff",
        "/tasks?status=%00",
        "/tasks?cursor=%ff%ff",
        "/tasks?limit=1&limit=2&limit=abc",
        "//tasks",
        "/retry-task/",
    ];
    for path in paths {
        for method in ["GET", "POST", "PUT"] {
            let resp = request(addr, method, path, &[], Bytes::new()).await;
            assert!(resp.status < 500, "{method} {path}: {}", resp.status);
            assert!(
                resp.json()["detail"].is_string() || resp.json()["detail"].is_array(),
                "{method} {path}"
            );
        }
    }
    let long = format!("/status/{}", "a".repeat(8_000));
    assert_eq!(get(addr, &long).await.status, 404);
    for ct in ["text/json", "application/json+xml", "application/", "json"] {
        let resp = request(addr, "POST", "/notify/", &[("content-type", ct)], "{}").await;
        assert_eq!(resp.status, 415, "{ct:?}");
    }
    assert_eq!(
        get(addr, "/tasks").await.json()["tasks"],
        serde_json::json!([]),
        "nothing stored"
    );
}

/// A header value that is not UTF-8 never reaches the component: Spin's
/// HTTP trigger refuses the request while preparing its headers and
/// answers an empty 500 itself. Nothing the component can change (the
/// README lists it among the limits); nothing is stored.
#[tokio::test(flavor = "multi_thread")]
async fn a_header_value_that_is_not_utf8_gets_spins_own_empty_500() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let svc = service().await;
    let body = br#"{"content": {"x": 1}}"#;
    let mut request = format!(
        "POST /file/ HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n\
         content-length: {}\r\nconnection: close\r\nidempotency-key: caf",
        body.len()
    )
    .into_bytes();
    request.extend_from_slice(b"\xe9\r\n\r\n");
    request.extend_from_slice(body);
    let mut stream = tokio::net::TcpStream::connect(svc.addr()).await.unwrap();
    stream.write_all(&request).await.unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.unwrap();
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 500"), "{answer}");
    let (head, rest) = answer.split_once("\r\n\r\n").unwrap();
    assert!(
        head.to_ascii_lowercase().contains("content-length: 0") && rest.is_empty(),
        "an empty body: {answer}"
    );
    assert_eq!(
        get(svc.addr(), "/tasks").await.json()["tasks"],
        serde_json::json!([]),
        "nothing stored"
    );
}
