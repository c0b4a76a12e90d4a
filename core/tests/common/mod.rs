//! A small simulation driver: an engine, a virtual clock that jumps to the
//! next wake-up, and a sink that keeps what the work wrote.

#![allow(dead_code)]

use bgtasks_core::outbound::{Destinations, OutboundRequest};
use bgtasks_core::{Engine, Millis, Output, Sink, Submitted, TaskId, TaskKind, render};
use serde_json::Value;

pub const START: Millis = Millis(1_782_465_302_123);

#[derive(Default, Debug, Clone, PartialEq)]
pub struct Outputs {
    pub expired: Vec<TaskId>,
    pub files: Vec<(String, Vec<u8>)>,
    pub notifications: Vec<(TaskId, String)>,
    pub reports: Vec<TaskId>,
    /// Every request an `http` task sent, in order.
    pub requests: Vec<(TaskId, OutboundRequest)>,
    /// Every callback delivery sent, in order.
    pub callbacks: Vec<(TaskId, OutboundRequest)>,
}

impl Sink for Outputs {
    fn emit(&mut self, output: Output<'_>) {
        match output {
            Output::File { path, contents, .. } => {
                // Keyed by path: a rerun overwrites, as a store would.
                self.files.retain(|(p, _)| *p != path);
                self.files.push((path, contents));
            }
            Output::Notification { task, to, .. } => self.notifications.push((task, to.into())),
            Output::Report { task, .. } => self.reports.push(task),
            Output::Request { task, request } => self.requests.push((task, request.clone())),
            Output::Callback { task, request } => self.callbacks.push((task, request.clone())),
            Output::Expired { task } => self.expired.push(task),
            _ => {}
        }
    }
}

pub struct Sim {
    pub engine: Engine,
    pub now: Millis,
    pub outputs: Outputs,
    next_id: u8,
}

impl Sim {
    pub fn new() -> Sim {
        Sim {
            engine: Engine::new(),
            now: START,
            outputs: Outputs::default(),
            next_id: 0,
        }
    }

    pub fn submit(&mut self, kind: TaskKind, body: &str) -> TaskId {
        self.try_submit(kind, body, None).expect("valid submit").id
    }

    pub fn try_submit(
        &mut self,
        kind: TaskKind,
        body: &str,
        key: Option<&str>,
    ) -> Result<Submitted, bgtasks_core::Problem> {
        self.next_id = self.next_id.wrapping_add(1);
        let mut bytes = [self.next_id; 16];
        bytes[0] = self.engine.len() as u8;
        bytes[1] = (self.engine.len() >> 8) as u8;
        self.engine.submit(
            self.now,
            kind,
            body.as_bytes(),
            key.map(str::as_bytes),
            bytes,
        )
    }

    /// A simulation whose virtual destination accepts `pattern` (Spin's
    /// `allowed_outbound_hosts` syntax).
    pub fn with_destinations(pattern: &str) -> Sim {
        let mut sim = Sim::new();
        sim.engine
            .set_destinations(Destinations::parse(pattern).expect("valid pattern"));
        sim
    }

    /// The task's `GET /status` body.
    pub fn status_json(&self, id: TaskId) -> Value {
        let task = self.engine.task(id).expect("task held");
        serde_json::from_slice(&render::task(task)).expect("JSON body")
    }

    /// Moves the clock forward by `ms`, running everything due on the way.
    pub fn advance(&mut self, ms: u64) {
        self.now = self.now.plus(ms);
        self.engine.handle_timeout(self.now, &mut self.outputs);
    }

    /// Jumps from wake-up to wake-up until nothing is left to do; panics if
    /// that takes more than `max_steps` (a livelock).
    pub fn drive(&mut self, max_steps: usize) {
        self.engine.handle_timeout(self.now, &mut self.outputs);
        for _ in 0..max_steps {
            let Some(wake) = self.engine.poll_timeout() else {
                return;
            };
            assert!(
                wake >= self.now,
                "a wake-up in the past: {wake:?} < {:?}",
                self.now
            );
            self.now = wake;
            self.engine.handle_timeout(self.now, &mut self.outputs);
        }
        panic!("still busy after {max_steps} steps");
    }
}
