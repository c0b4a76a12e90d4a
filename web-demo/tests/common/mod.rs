//! What every scenario needs: a fresh playground and a way to read replies.

#![allow(dead_code)] // each test file uses its own subset

use bgtasks_web::Playground;
use serde_json::Value;

/// 2026-06-26T09:15:02.123Z, the contract's example timestamp.
pub const START: f64 = 1_782_465_302_123.0;

pub fn playground() -> Playground {
    Playground::new(42, START).expect("a valid start time")
}

/// A reply's status and exact body.
pub fn reply(json: String) -> (u16, String) {
    let reply: Value = serde_json::from_str(&json).expect("a reply is JSON");
    let status = reply["status"].as_u64().expect("a numeric status") as u16;
    let body = reply["body"].as_str().expect("a string body").to_owned();
    (status, body)
}

pub fn json(text: &str) -> Value {
    serde_json::from_str(text).expect("JSON")
}

/// Submits and returns the new task's id, insisting on a 202.
pub fn submit(pg: &mut Playground, kind: &str, body: &str) -> String {
    let (status, body) = reply(pg.submit(kind, body, None).expect("a known kind"));
    assert_eq!(status, 202, "{body}");
    json(&body)["task_id"].as_str().expect("an id").to_owned()
}

pub fn task(pg: &Playground, id: &str) -> Value {
    let (status, body) = reply(pg.status(id));
    assert_eq!(status, 200, "{body}");
    json(&body)
}

/// Steps the clock until no task waits for it, boundedly.
pub fn run_to_end(pg: &mut Playground) {
    for _ in 0..1000 {
        if pg.step().is_none() {
            return;
        }
    }
    panic!("the playground never settled");
}
