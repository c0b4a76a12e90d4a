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
//! ```

use std::fmt::Display;

use bgtasks_core::{Millis, TaskKind};
use wasm_bindgen::prelude::*;

mod session;

use session::{Reply, Session};

#[wasm_bindgen(typescript_custom_section)]
const TS_TYPES: &str = r#"
/** JSON text whose parsed value is a `T`: pass it to `JSON.parse`. */
export type Json<T> = string & { readonly __json?: T };

/** The contract's task types, as `type` names them. */
export type TaskType = "notification" | "report" | "file";

/** An answer as the service gives it: status code and exact body (JSON text). */
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
}

export type Phase =
  | { phase: "queued"; due: Millis }
  | { phase: "backoff"; due: Millis }
  | { phase: "running"; lease: { token: number; expires_at: Millis }; started_at: Millis; finishes_at: Millis }
  | { phase: "succeeded"; finished_at: Millis }
  | { phase: "failed"; finished_at: Millis; error: string };

export interface TimelineTask {
  id: string;
  type: TaskType;
  status: "pending" | "success" | "failed";
  submitted_at: Millis;
  phase: Phase;
  history: Attempt[];
  manual_retries: Millis[];
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

    /// Submits a task as `POST /notify/`, `/report/` or `/file/` would, with
    /// `kind` one of `notification`, `report`, `file`, `body` the request
    /// body and an optional `Idempotency-Key`. 202, 422, 409 or 413.
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

    /// When a task next starts or ends an attempt; `undefined` if none will.
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

    /// Every task's attempts over simulated time, for drawing.
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
fn millis(value: f64, what: &str) -> Result<Millis, JsError> {
    const MAX_SAFE: f64 = 9_007_199_254_740_991.0;
    if value.is_finite() && value >= 0.0 && value.fract() == 0.0 && value <= MAX_SAFE {
        Ok(Millis(value as u64))
    } else {
        Err(js_error(format!(
            "{what} must be a whole number of milliseconds, got {value}"
        )))
    }
}

fn as_js(at: Millis) -> f64 {
    // Epoch milliseconds stay below 2^53 for the next 285,000 years.
    at.0 as f64
}
