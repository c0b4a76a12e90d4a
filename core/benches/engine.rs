//! Engine throughput and memory: `cargo bench -p bgtasks-core`.
//!
//! - `lifecycle`: complete lifecycles (submit → due → finished) per second.
//! - `list_page`: one unfiltered page of 50 at 1k and 1M tasks (must be flat).
//! - after the timings, bytes held per finished task.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};

use bgtasks_core::{Engine, ListQuery, Millis, Submission, TaskKind, validate};
use divan::{Bencher, black_box, counter::ItemsCount};

/// Counts bytes currently allocated, to measure what a task holds.
struct Counting;

static HELD: AtomicIsize = AtomicIsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        HELD.fetch_add(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        HELD.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        HELD.fetch_add(
            new_size as isize - layout.size() as isize,
            Ordering::Relaxed,
        );
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

const T0: Millis = Millis(1_782_465_302_123);

fn submission() -> Submission {
    validate::submission(
        TaskKind::Notification,
        br#"{"email": "johndoe@example.com", "message": "Your submission was received.",
             "simulate": {"delay_ms": 2000}}"#,
        &validate::Context {
            now: T0,
            destinations: &bgtasks_core::outbound::Destinations::none(),
        },
    )
    .unwrap()
}

fn id_bytes(i: usize) -> [u8; 16] {
    let mut bytes = [0x5a; 16];
    bytes[..8].copy_from_slice(&(i as u64).to_le_bytes());
    bytes
}

/// An engine holding `n` finished tasks, submitted 1 ms apart.
fn finished_engine(n: usize) -> Engine {
    let mut engine = Engine::new();
    let spec = submission();
    for i in 0..n {
        engine.submit_valid(T0.plus(i as u64), spec.clone(), id_bytes(i));
    }
    engine.handle_timeout(T0.plus(n as u64 + 10_000), &mut ());
    engine
}

#[divan::bench(args = [10_000, 100_000, 1_000_000], sample_count = 5, sample_size = 1)]
fn lifecycle(bencher: Bencher, n: usize) {
    let spec = submission();
    bencher
        .counter(ItemsCount::new(n))
        .with_inputs(|| (Engine::new(), vec![spec.clone(); n]))
        .bench_local_values(|(mut engine, specs)| {
            for (i, spec) in specs.into_iter().enumerate() {
                engine.submit_valid(T0.plus(i as u64 / 64), spec, id_bytes(i));
            }
            engine.handle_timeout(T0.plus(n as u64 + 10_000), &mut ());
            engine
        });
}

#[divan::bench(args = [1_000, 1_000_000], sample_count = 50)]
fn list_page(bencher: Bencher, n: usize) {
    let engine = finished_engine(n);
    let query = ListQuery::default();
    bencher.bench_local(|| black_box(bgtasks_core::render::page(&engine.list(black_box(&query)))));
}

fn main() {
    divan::main();
    for n in [10_000, 1_000_000] {
        let before = HELD.load(Ordering::Relaxed);
        let engine = finished_engine(n);
        let held = HELD.load(Ordering::Relaxed) - before;
        println!("bytes held per finished task at {n}: {}", held / n as isize);
        drop(engine);
    }
}
