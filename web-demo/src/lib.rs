//! bgtasks-web: the bgtasks engine in the browser, for the playground page.
//!
//! One exported class, [`Playground`], over the in-memory
//! [`Engine`](bgtasks_core::Engine) on a virtual clock that the page moves.
//! It answers as the service does — same status codes, same body bytes —
//! because it renders with the same code (`bgtasks_core::render` and
//! `Problem::body`); it adds no rules of its own.
//!
//! Values cross the boundary as JSON text: the page `JSON.parse`s what it
//! gets. That keeps the module free of serde-wasm-bindgen and js-sys, and
//! keeps each body exactly the bytes the service would send.
//!
//! ```js
//! import init, { Playground } from "/playground/pkg/bgtasks_web.js";
//! await init();
//! const pg = new Playground(42n, Date.now());
//! const { status, body } = JSON.parse(pg.submit("report", '{"name": "Sales"}'));
//! while (pg.step() !== undefined) {}   // run every task to its end
//! const page = JSON.parse(JSON.parse(pg.list("limit=50")).body);
//!
//! // An http task against the virtual destination, answering 503 once.
//! pg.script("https://hooks.example.com/a", '[{"status": 503, "retry_after": 2}]');
//! pg.submit("http", '{"url": "https://hooks.example.com/a"}');
//! pg.step();                                          // attempt 1: 503
//! JSON.parse(pg.requests())[0].headers;               // webhook-id, bgtasks-attempt, ...
//! ```

use std::fmt::Display;

use bgtasks_core::{Millis, TaskKind};
use wasm_bindgen::prelude::*;

mod script;
mod session;
mod world;

use session::{Reply, Session};

#[wasm_bindgen(typescript_custom_section)]
const TS_TYPES: &str = r#"
/** JSON text whose parsed value is a `T`: pass it to `JSON.parse`. */
export type Json<T> = string & { readonly __json?: T };

/** The contract's task types, as `type` names them. */
export type TaskType = "notification" | "report" | "file" | "http";

/** An answer as the service gives it: status code and exact body (JSON text, or empty for a 204). */
export interface Reply { status: number; body: string; }

/** Written files: path (`outputs/<id>.json`) → content. */
export type Files = Record<string, string>;

/** Epoch milliseconds. */
export type Millis = number;

export interface Attempt {
  attempt: number;
  started_at: Millis;
  ended_at: Millis;
  outcome: "success" | "failed" | "interrupted";
  error?: string;
  /** The answer's status code, for an `http` attempt that got one. */
  status_code?: number;
}

export type Phase =
  | { phase: "queued"; due: Millis }
  | { phase: "backoff"; due: Millis }
  | { phase: "running"; lease: { token: number; expires_at: Millis }; started_at: Millis; finishes_at: Millis }
  | { phase: "succeeded"; finished_at: Millis; result?: unknown }
  | { phase: "failed"; finished_at: Millis; error: string; cancelled?: boolean };

/** One answer of the virtual destination, as `scripts()` shows it. */
export type ScriptedAnswer =
  | { status: number; delay_ms: number; retry_after?: string; body?: string }
  | "silence"
  | "refused";

/** What `script()` takes: `delay_ms` defaults to 20, `retry_after` may be seconds as a number. */
export type ScriptedAnswerInput =
  | { status: number; delay_ms?: number; retry_after?: string | number; body?: unknown }
  | "silence"
  | "refused";

/** The answers left in each URL's script. */
export type Scripts = Record<string, ScriptedAnswer[]>;

/** The service's variables, as the playground has them. */
export interface Settings {
  /** `http_destinations`: one pattern in Spin's syntax; empty: none. */
  destinations: string;
  /** `webhook_secret`: `whsec_<base64>`; empty: unsigned. */
  secret: string;
  retention_seconds: number;
}

/** A request the virtual destination received. */
export interface SentRequest {
  task: string;
  kind: "request" | "callback";
  at: Millis;
  /** Its `bgtasks-attempt` header. */
  attempt: number;
  method: "GET" | "POST" | "PUT" | "PATCH" | "DELETE";
  url: string;
  headers: [string, string][];
  body: string;
  answer: ScriptedAnswer;
  /** Whether the answer came from the URL's script (else the default 200). */
  scripted: boolean;
  /** When the answer arrives, or the request times out. */
  ends_at: Millis;
  /** What the engine makes of the answer, in words. */
  outcome: string;
  ok: boolean;
}

export interface CallbackMark { at: Millis; attempt: number; ends_at: Millis; ok: boolean; outcome: string; }

export interface TimelineTask {
  id: string;
  type: TaskType;
  status: "pending" | "success" | "failed";
  submitted_at: Millis;
  phase: Phase;
  history: Attempt[];
  manual_retries: Millis[];
  /** Each cancel, with the attempt it left running (to end in the history only). */
  cancels: { at: Millis; orphan: number | null }[];
  /** The attempt running when the task was cancelled, until it ends. */
  orphan: { token: number; attempt: number; started_at: Millis; finishes_at: Millis } | null;
  callbacks: CallbackMark[];
}
"#;

#[wasm_bindgen(start)]
fn start() {
    console_error_panic_hook::set_once();
}

/// The playground: the bgtasks engine on a virtual clock.
#[wasm_bindgen]
pub struct Playground {
    session: Session,
}

#[wasm_bindgen]
impl Playground {
    /// An empty playground. `seed` drives the task ids (a replay reproduces
    /// them); the clock starts at `start_ms` (epoch milliseconds).
    #[wasm_bindgen(constructor)]
    pub fn new(seed: u64, start_ms: f64) -> Result<Playground, JsError> {
        let start = millis(start_ms, "start_ms")?;
        Ok(Playground {
            session: Session::new(seed, start),
        })
    }

    /// Submits a task as `POST /notify/`, `/report/`, `/file/` or `/http/`
    /// would, with `kind` one of `notification`, `report`, `file`, `http`,
    /// `body` the request body and an optional `Idempotency-Key`. 202, 422,
    /// 409 or 413.
    #[wasm_bindgen(unchecked_return_type = "Json<Reply>")]
    pub fn submit(
        &mut self,
        #[wasm_bindgen(unchecked_param_type = "TaskType")] kind: &str,
        body: &str,
        idempotency_key: Option<String>,
    ) -> Result<String, JsError> {
        let kind = TaskKind::ALL
            .into_iter()
            .find(|k| k.as_str() == kind)
            .ok_or_else(|| js_error(format!("unknown task type {kind:?}")))?;
        Ok(reply(self.session.submit(
            kind,
            body,
            idempotency_key.as_deref(),
        )))
    }

    /// `POST /retry-task/{id}`: 200, 400 or 404.
    #[wasm_bindgen(unchecked_return_type = "Json<Reply>")]
    pub fn retry(&mut self, id: &str) -> String {
        reply(self.session.retry(id))
    }

    /// `POST /cancel-task/{id}`: 200, 400 or 404.
    #[wasm_bindgen(unchecked_return_type = "Json<Reply>")]
    pub fn cancel(&mut self, id: &str) -> String {
        reply(self.session.cancel(id))
    }

    /// `DELETE /tasks/{id}`: 204 (empty body), 404 or 409.
    #[wasm_bindgen(unchecked_return_type = "Json<Reply>")]
    pub fn delete(&mut self, id: &str) -> String {
        reply(self.session.delete(id))
    }

    /// `GET /status/{id}`: 200 or 404.
    #[wasm_bindgen(unchecked_return_type = "Json<Reply>")]
    pub fn status(&self, id: &str) -> String {
        reply(self.session.status(id))
    }

    /// `GET /tasks?{query}`, `query` being what follows the `?`: 200 or 422.
    #[wasm_bindgen(unchecked_return_type = "Json<Reply>")]
    pub fn list(&self, query: &str) -> String {
        reply(self.session.list(query))
    }

    /// `GET /outputs/{id}.json`: 200 with the file, or 404.
    #[wasm_bindgen(unchecked_return_type = "Json<Reply>")]
    pub fn output(&self, id: &str) -> String {
        reply(self.session.output(id))
    }

    /// Moves the clock `ms` forward and runs what falls due; returns the new
    /// time.
    pub fn advance(&mut self, ms: f64) -> Result<f64, JsError> {
        let ms = millis(ms, "ms")?;
        Ok(as_js(self.session.advance(ms.0)))
    }

    /// Jumps to the next wake-up and runs it; returns the new time, or
    /// `undefined` when no task waits for the clock.
    pub fn step(&mut self) -> Option<f64> {
        self.session.step().map(as_js)
    }

    /// When a task next starts or ends an attempt or a callback delivery, or
    /// expires; `undefined` if nothing will.
    #[wasm_bindgen(js_name = nextWakeup)]
    pub fn next_wakeup(&self) -> Option<f64> {
        self.session.next_wakeup().map(as_js)
    }

    /// The virtual clock, in epoch milliseconds.
    pub fn now(&self) -> f64 {
        as_js(self.session.now())
    }

    /// The files file tasks wrote.
    #[wasm_bindgen(unchecked_return_type = "Json<Files>")]
    pub fn files(&self) -> String {
        self.session.files()
    }

    /// The requests `http` tasks and callbacks sent to the virtual
    /// destination, oldest first, with the answer each got.
    #[wasm_bindgen(unchecked_return_type = "Json<SentRequest[]>")]
    pub fn requests(&self) -> String {
        self.session.requests()
    }

    /// Sets what the virtual destination answers the next requests to
    /// `url` (`answers`: a JSON array of `ScriptedAnswerInput`), replacing
    /// what was left of its script; once spent, it answers 200. Throws on
    /// a malformed script.
    pub fn script(
        &mut self,
        url: &str,
        #[wasm_bindgen(unchecked_param_type = "Json<ScriptedAnswerInput[]>")] answers: &str,
    ) -> Result<(), JsError> {
        self.session.script(url, answers).map_err(js_error)
    }

    /// The answers left in each URL's script.
    #[wasm_bindgen(unchecked_return_type = "Json<Scripts>")]
    pub fn scripts(&self) -> String {
        self.session.scripts()
    }

    /// The permitted destinations (`http_destinations`): one pattern in
    /// Spin's `allowed_outbound_hosts` syntax, or empty for none. The
    /// playground starts with `*://*:*`. Throws on an invalid pattern.
    #[wasm_bindgen(js_name = setDestinations)]
    pub fn set_destinations(&mut self, pattern: &str) -> Result<(), JsError> {
        self.session.set_destinations(pattern).map_err(js_error)
    }

    /// The signing secret (`webhook_secret`, `whsec_<base64>`); empty sends
    /// requests unsigned. Throws on a malformed secret.
    #[wasm_bindgen(js_name = setSecret)]
    pub fn set_secret(&mut self, secret: &str) -> Result<(), JsError> {
        self.session.set_secret(secret).map_err(js_error)
    }

    /// `retention_seconds`: finished tasks are deleted this long after they
    /// end; 0 keeps them. The playground starts with the service's 7 days.
    #[wasm_bindgen(js_name = setRetention)]
    pub fn set_retention(&mut self, seconds: f64) -> Result<(), JsError> {
        let seconds = millis(seconds, "seconds")?;
        self.session.set_retention(seconds.0);
        Ok(())
    }

    /// The settings: destinations, secret and retention.
    #[wasm_bindgen(unchecked_return_type = "Json<Settings>")]
    pub fn settings(&self) -> String {
        self.session.settings()
    }

    /// Every task's attempts, callbacks, cancels and waits over simulated
    /// time, for drawing.
    #[wasm_bindgen(unchecked_return_type = "Json<TimelineTask[]>")]
    pub fn timeline(&self) -> String {
        self.session.timeline()
    }

    /// The session's inputs and clock ticks, as JSON to save.
    #[wasm_bindgen(js_name = exportSession)]
    pub fn export_session(&self) -> String {
        self.session.export()
    }

    /// A playground rebuilt by replaying an exported session; it ends in the
    /// identical state. Throws on a file that is not a session or does not
    /// replay.
    #[wasm_bindgen(js_name = importSession)]
    pub fn import_session(json: &str) -> Result<Playground, JsError> {
        let session = Session::import(json).map_err(js_error)?;
        Ok(Playground { session })
    }
}

/// The one way errors leave the module: as a JS `Error` with our message.
fn js_error(message: impl Display) -> JsError {
    JsError::new(&message.to_string())
}

fn reply(reply: Reply) -> String {
    // A status code and a string: serialising to memory cannot fail.
    serde_json::to_string(&reply).unwrap_or_default()
}

/// Times cross as JS numbers: whole, non-negative and exactly representable.
/// (The retention's seconds too: they are checked alike.)
fn millis(value: f64, what: &str) -> Result<Millis, JsError> {
    const MAX_SAFE: f64 = 9_007_199_254_740_991.0;
    if value.is_finite() && value >= 0.0 && value.fract() == 0.0 && value <= MAX_SAFE {
        Ok(Millis(value as u64))
    } else {
        Err(js_error(format!(
            "{what} must be a whole number, got {value}"
        )))
    }
}

fn as_js(at: Millis) -> f64 {
    // Epoch milliseconds stay below 2^53 for the next 285,000 years.
    at.0 as f64
}
