//! A private `redis-server` for this test process: started on first use on
//! a free loopback port, with no persistence, and gone when the process is.
//!
//! Each store asked of it ([`fresh_database`]) is a database of its own
//! (`redis://127.0.0.1:PORT/N`), so tests running side by side never see
//! each other's keys, while two hosts given one URL share one store.

use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// Databases the server is started with: one per store a test asks for.
const DATABASES: u32 = 10_000;

struct Server {
    port: u16,
    next_db: AtomicU32,
}

/// The URL of a new, empty database on the private server.
///
/// Panics with what to install when `redis-server` is missing: the test
/// command installs it (Debian's package).
pub fn fresh_database() -> String {
    let server = SERVER.get_or_init(start);
    let db = server.next_db.fetch_add(1, Ordering::Relaxed);
    assert!(
        db < DATABASES,
        "more than {DATABASES} Redis stores in one test process"
    );
    format!("redis://127.0.0.1:{}/{db}", server.port)
}

/// The private server's port, starting it if needed.
pub fn port() -> u16 {
    SERVER.get_or_init(start).port
}

static SERVER: OnceLock<Server> = OnceLock::new();

fn start() -> Server {
    // The thread that starts the server stays parked for the life of the
    // process: the server's parent-death signal fires when that thread ends,
    // which is only when the whole process does (even when it is killed).
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("redis-server".into())
        .spawn(move || {
            let started = spawn_server();
            let ok = started.is_ok();
            let _ = tx.send(started);
            if ok {
                loop {
                    std::thread::park();
                }
            }
        })
        .expect("spawn the redis-server thread");
    let port = rx
        .recv()
        .expect("redis-server thread answers")
        .unwrap_or_else(|e| panic!("{e}"));
    Server {
        port,
        next_db: AtomicU32::new(0),
    }
}

fn spawn_server() -> Result<u16, String> {
    let port = free_port();
    let mut command = Command::new("redis-server");
    command
        .args(["--bind", "127.0.0.1", "--port", &port.to_string()])
        .args(["--save", "", "--appendonly", "no"])
        .args(["--databases", &DATABASES.to_string()])
        .args(["--daemonize", "no", "--loglevel", "warning"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
    // SAFETY: prctl is async-signal-safe and touches only the child.
    unsafe {
        std::os::unix::process::CommandExt::pre_exec(&mut command, || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = command.spawn().map_err(|e| {
        format!(
            "cannot start redis-server ({e}): the Redis tests need Debian's redis-server \
             (`apt-get install -y redis-server`; ./test.sh installs it)"
        )
    })?;
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Ok(port);
        }
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("redis-server exited at start: {status}"));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    Err(format!(
        "redis-server did not listen on port {port} within 10 s"
    ))
}

/// A port nothing listens on now (the OS picks it; the listener is closed
/// before the server binds it).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("bind a loopback port")
}
