//! Probe component for the bgtasks test host (test infrastructure only).
//!
//! Each route exercises one behaviour of Spin 4.1 that `bgtasks-tests`
//! reproduces, so the host's own tests can check the host against Spin's
//! measured behaviour through a real spin-sdk 7 component. Query strings carry the
//! arguments (`key`, `ms`, ...); answers are plain text so tests can compare
//! them without a JSON parser on either side.
//!
//! | route | does |
//! | --- | --- |
//! | `GET /hello` | answers `hello` |
//! | `GET /instance?ms=N` | sleeps N ms, answers `<instance id> <requests seen by it>` |
//! | `GET /headers` | answers every request header as `name: value` lines, and the URI |
//! | `POST /body` | reads the body frame by frame, answers its byte count |
//! | `POST /spawn?key=K&ms=N` | answers 202 at once; N ms later sets K = `done` |
//! | `GET /trap?ms=N` | sleeps N ms, then panics (a trap) |
//! | `GET /kv/get?key=K` | spin:key-value get: the value, or 404 |
//! | `POST /kv/set?key=K` | spin:key-value set to the body |
//! | `GET /kv/put?key=K&value=V` | spin:key-value set, no body read (a benchmark row) |
//! | `POST /kv/delete?key=K` | spin:key-value delete |
//! | `GET /kv/exists?key=K` | spin:key-value exists: `true` or `false` |
//! | `GET /kv/keys` | spin:key-value get-keys, sorted, comma-separated |
//! | `POST /kv/set-many?keys=A,B` | wasi:keyvalue batch set-many, every key to the body |
//! | `GET /kv/get-many?keys=A,B` | wasi:keyvalue batch get-many: sorted `key=value` (or `key missing`) lines |
//! | `POST /kv/incr?key=K&delta=D` | wasi:keyvalue atomics increment, answers the new value |
//! | `POST /kv/cas?key=K&ms=N` | CAS: current, sleep N ms, swap in the body; answers `ok` or `cas-failed` |
//!
//! | `GET /variable?name=N` | spin:variables get: the value, or 404 with the error |
//! | `GET /fetch?url=U` | outbound GET of `U`: `<status> <body>`, or 502 with the error code |
//!
//! A key-value error answers 500 with the error's debug text. With feature
//! `unlinked-import`, `GET /sqlite` opens Spin's SQLite database: an import
//! the test host does not provide, to check that it refuses such a component.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use http_body_util::BodyExt;
use spin_sdk::experimental::wasi::keyvalue::{atomics, batch, store as wasi_store};
use spin_sdk::http::{IntoResponse, Request, Response, StatusCode};
use spin_sdk::http_service;
use spin_sdk::key_value::Store;

/// Identifies this instance: statics live as long as the instance, so two
/// requests seeing the same id were served by the same instance.
static INSTANCE_ID: AtomicU64 = AtomicU64::new(0);
/// Requests this instance has started.
static SEEN: AtomicU64 = AtomicU64::new(0);

fn instance_id() -> u64 {
    let id = INSTANCE_ID.load(Ordering::Relaxed);
    if id != 0 {
        return id;
    }
    // Random rather than a counter: every instance starts from the same
    // memory image, so only the host's randomness tells them apart.
    let fresh = spin_sdk::wasip3::random::random::get_random_u64() | 1;
    match INSTANCE_ID.compare_exchange(0, fresh, Ordering::Relaxed, Ordering::Relaxed) {
        Ok(_) => fresh,
        Err(existing) => existing,
    }
}

/// The value of `name` in the query string, if present.
fn query<'a>(req: &'a Request, name: &str) -> Option<&'a str> {
    req.uri().query()?.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (k == name).then_some(v)
    })
}

fn query_ms(req: &Request) -> Duration {
    Duration::from_millis(query(req, "ms").and_then(|v| v.parse().ok()).unwrap_or(0))
}

fn text(status: StatusCode, body: impl Into<String>) -> Response<String> {
    Response::builder()
        .status(status)
        .body(body.into())
        .expect("static response parts are valid")
}

fn fail(err: impl std::fmt::Debug) -> Response<String> {
    text(StatusCode::INTERNAL_SERVER_ERROR, format!("{err:?}"))
}

/// Reads the whole body frame by frame, so a chunked request is consumed the
/// way a size-limiting component would consume it.
async fn body_bytes(req: Request) -> Result<Vec<u8>, String> {
    let mut body = req.into_body();
    let mut out = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| format!("{e:?}"))?;
        if let Ok(data) = frame.into_data() {
            out.extend_from_slice(&data);
        }
    }
    Ok(out)
}

fn bucket() -> Result<wasi_store::Bucket, wasi_store::Error> {
    wasi_store::open("default")
}

#[http_service]
async fn handle(req: Request) -> impl IntoResponse {
    let seen = SEEN.fetch_add(1, Ordering::Relaxed) + 1;
    let path = req.uri().path().to_owned();
    let key = query(&req, "key").unwrap_or("k").to_owned();
    match path.as_str() {
        "/hello" => text(StatusCode::OK, "hello"),
        "/instance" => {
            spin_sdk::time::sleep(query_ms(&req)).await;
            text(StatusCode::OK, format!("{} {seen}", instance_id()))
        }
        "/headers" => {
            let mut out = format!("uri: {}\n", req.uri());
            for (name, value) in req.headers() {
                out.push_str(&format!("{name}: {}\n", value.to_str().unwrap_or("?")));
            }
            text(StatusCode::OK, out)
        }
        "/body" => match body_bytes(req).await {
            Ok(bytes) => text(StatusCode::OK, bytes.len().to_string()),
            Err(e) => fail(e),
        },
        "/spawn" => {
            let ms = query_ms(&req);
            spin_sdk::wasip3::spawn(async move {
                spin_sdk::time::sleep(ms).await;
                if let Ok(store) = Store::open_default().await {
                    // Nobody is left to report a failure to; the test sees
                    // the key missing instead.
                    let _ = store.set(&key, b"done").await;
                }
            });
            text(StatusCode::ACCEPTED, "spawned")
        }
        "/trap" => {
            spin_sdk::time::sleep(query_ms(&req)).await;
            panic!("probe: trap requested");
        }
        "/kv/get" => match Store::open_default().await {
            Ok(store) => match store.get(&key).await {
                Ok(Some(value)) => text(StatusCode::OK, String::from_utf8_lossy(&value)),
                Ok(None) => text(StatusCode::NOT_FOUND, "missing"),
                Err(e) => fail(e),
            },
            Err(e) => fail(e),
        },
        "/kv/set" => {
            let value = match body_bytes(req).await {
                Ok(v) => v,
                Err(e) => return fail(e),
            };
            match Store::open_default().await {
                Ok(store) => match store.set(&key, &value).await {
                    Ok(()) => text(StatusCode::OK, "ok"),
                    Err(e) => fail(e),
                },
                Err(e) => fail(e),
            }
        }
        "/kv/put" => {
            let value = query(&req, "value").unwrap_or("").to_owned();
            match Store::open_default().await {
                Ok(store) => match store.set(&key, value.as_bytes()).await {
                    Ok(()) => text(StatusCode::OK, "ok"),
                    Err(e) => fail(e),
                },
                Err(e) => fail(e),
            }
        }
        "/kv/delete" => match Store::open_default().await {
            Ok(store) => match store.delete(&key).await {
                Ok(()) => text(StatusCode::OK, "ok"),
                Err(e) => fail(e),
            },
            Err(e) => fail(e),
        },
        "/kv/exists" => match Store::open_default().await {
            Ok(store) => match store.exists(&key).await {
                Ok(found) => text(StatusCode::OK, found.to_string()),
                Err(e) => fail(e),
            },
            Err(e) => fail(e),
        },
        "/kv/keys" => match Store::open_default().await {
            Ok(store) => match store.get_keys().await.collect().await {
                Ok(mut keys) => {
                    keys.sort();
                    text(StatusCode::OK, keys.join(","))
                }
                Err(e) => fail(e),
            },
            Err(e) => fail(e),
        },
        "/kv/set-many" => {
            let keys: Vec<String> = query(&req, "keys")
                .unwrap_or("")
                .split(',')
                .map(str::to_owned)
                .collect();
            let value = match body_bytes(req).await {
                Ok(v) => v,
                Err(e) => return fail(e),
            };
            let bucket = match bucket() {
                Ok(b) => b,
                Err(e) => return fail(e),
            };
            let pairs: Vec<(String, Vec<u8>)> =
                keys.into_iter().map(|k| (k, value.clone())).collect();
            match batch::set_many(&bucket, &pairs) {
                Ok(()) => text(StatusCode::OK, "ok"),
                Err(e) => fail(e),
            }
        }
        "/kv/get-many" => {
            let keys: Vec<String> = query(&req, "keys")
                .unwrap_or("")
                .split(',')
                .map(str::to_owned)
                .collect();
            let bucket = match bucket() {
                Ok(b) => b,
                Err(e) => return fail(e),
            };
            match batch::get_many(&bucket, &keys) {
                Ok(found) => {
                    let mut lines: Vec<String> = found
                        .into_iter()
                        .map(|(k, v)| match v {
                            Some(v) => format!("{k}={}", String::from_utf8_lossy(&v)),
                            None => format!("{k} missing"),
                        })
                        .collect();
                    lines.sort();
                    text(StatusCode::OK, lines.join("\n"))
                }
                Err(e) => fail(e),
            }
        }
        "/kv/incr" => {
            let delta = query(&req, "delta")
                .and_then(|d| d.parse().ok())
                .unwrap_or(1);
            let bucket = match bucket() {
                Ok(b) => b,
                Err(e) => return fail(e),
            };
            match atomics::increment(&bucket, &key, delta) {
                Ok(n) => text(StatusCode::OK, n.to_string()),
                Err(e) => fail(e),
            }
        }
        "/kv/cas" => {
            let ms = query_ms(&req);
            let value = match body_bytes(req).await {
                Ok(v) => v,
                Err(e) => return fail(e),
            };
            let bucket = match bucket() {
                Ok(b) => b,
                Err(e) => return fail(e),
            };
            let cas = match atomics::Cas::new(&bucket, &key) {
                Ok(c) => c,
                Err(e) => return fail(e),
            };
            if let Err(e) = cas.current() {
                return fail(e);
            }
            // The pause lets a racing request read the same current value.
            spin_sdk::time::sleep(ms).await;
            match atomics::swap(cas, &value) {
                Ok(()) => text(StatusCode::OK, "ok"),
                Err(atomics::CasError::CasFailed(_)) => text(StatusCode::CONFLICT, "cas-failed"),
                Err(atomics::CasError::StoreError(e)) => fail(e),
            }
        }
        "/variable" => match spin_sdk::variables::get(query(&req, "name").unwrap_or("")).await {
            Ok(v) => text(StatusCode::OK, v),
            Err(e) => text(StatusCode::NOT_FOUND, format!("{e:?}")),
        },
        "/fetch" => fetch(query(&req, "url").unwrap_or("")).await,
        #[cfg(feature = "unlinked-import")]
        "/sqlite" => match spin_sdk::sqlite::Connection::open_default().await {
            Ok(_) => text(StatusCode::OK, "opened"),
            Err(e) => fail(e),
        },
        _ => text(StatusCode::NOT_FOUND, format!("no route {path}")),
    }
}

/// An outbound GET, answered as `<status> <body>`.
async fn fetch(url: &str) -> Response<String> {
    let request = match http::Request::get(url).body(http_body_util::Empty::<bytes::Bytes>::new()) {
        Ok(r) => r,
        Err(e) => return fail(e),
    };
    match spin_sdk::http::send(request).await {
        Ok(response) => {
            let status = response.status().as_u16();
            match response.into_body().collect().await {
                Ok(body) => text(
                    StatusCode::OK,
                    format!("{status} {}", String::from_utf8_lossy(&body.to_bytes())),
                ),
                Err(e) => text(StatusCode::BAD_GATEWAY, format!("{e:?}")),
            }
        }
        Err(code) => text(StatusCode::BAD_GATEWAY, format!("{code:?}")),
    }
}
