//! Every refusal the contract names, with its status code and body.

use crate::render;
use crate::validate::FieldError;

/// A request the contract refuses. One variant per rule, so that each status
/// code and message is written down exactly once.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Problem {
    /// 422: malformed JSON, a missing, mistyped or out-of-range field, a
    /// bad header or query parameter, a forged cursor.
    Invalid(Vec<FieldError>),
    /// 404 from a task route: no such task, or an id that is not a UUID.
    TaskNotFound,
    /// 404 from `/outputs/...`: the file does not exist (yet).
    OutputNotFound,
    /// 404: no route matches the path.
    NoRoute,
    /// 405: the route exists, the method does not.
    MethodNotAllowed,
    /// 400: manual retry of a task that is not `failed`.
    NotFailed,
    /// 400: cancel of a task that is not `pending`.
    NotPending,
    /// 409: delete of a task that is still `pending`.
    StillPending,
    /// 401: the service wants an API token and the request has no valid one.
    NotAuthenticated,
    /// 409: an `Idempotency-Key` reused with another body or route.
    IdempotencyConflict,
    /// 413: a body over [`crate::validate::MAX_BODY_BYTES`].
    TooLarge,
    /// 415: a submit body that is not JSON.
    UnsupportedMediaType,
    /// 503: the store failed; nothing was acknowledged.
    StoreUnavailable,
}

impl Problem {
    pub fn status(&self) -> u16 {
        match self {
            Problem::Invalid(_) => 422,
            Problem::TaskNotFound | Problem::OutputNotFound | Problem::NoRoute => 404,
            Problem::MethodNotAllowed => 405,
            Problem::NotFailed | Problem::NotPending => 400,
            Problem::NotAuthenticated => 401,
            Problem::IdempotencyConflict | Problem::StillPending => 409,
            Problem::TooLarge => 413,
            Problem::UnsupportedMediaType => 415,
            Problem::StoreUnavailable => 503,
        }
    }

    /// The FastAPI-shaped body: `{"detail": ...}`.
    pub fn body(&self) -> Vec<u8> {
        let message = match self {
            Problem::Invalid(errors) => return render::validation(errors),
            Problem::TaskNotFound => "Task not found",
            Problem::OutputNotFound => "File not found",
            Problem::NoRoute => "Not Found",
            Problem::MethodNotAllowed => "Method Not Allowed",
            Problem::NotFailed => "Task is not in a failed state",
            Problem::NotPending => "Task is not pending",
            Problem::StillPending => "Task is pending; cancel it first",
            Problem::NotAuthenticated => "Not authenticated",
            Problem::IdempotencyConflict => {
                "Idempotency-Key was already used with a different request"
            }
            Problem::TooLarge => "Request body too large (at most 65536 bytes)",
            Problem::UnsupportedMediaType => "Unsupported Media Type: send application/json",
            Problem::StoreUnavailable => "Storage unavailable, try again",
        };
        render::detail(message)
    }
}
