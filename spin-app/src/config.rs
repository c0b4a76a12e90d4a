//! The service's settings: Spin variables (`SPIN_VARIABLE_<NAME>` in the
//! environment of `spin up`, or a runtime config), read once per instance.
//!
//! | variable | meaning |
//! | --- | --- |
//! | `http_destinations` | the one permitted destination pattern (Spin's `allowed_outbound_hosts` syntax); empty: none |
//! | `webhook_secret` | `whsec_<base64>` signing key; empty: unsigned |
//! | `api_token` | the bearer token every API route wants; empty: none |
//! | `retention_seconds` | finished tasks are deleted this long after they end; 0: kept |
//!
//! A value that does not parse is reported once per instance on stderr
//! (Spin's log) and then acts as its safest reading: no destination, no
//! signature (every delivery then fails naming the secret), the default
//! retention.

use std::cell::RefCell;
use std::rc::Rc;

use bgtasks_core::outbound::{Destinations, Secret};
use sha2::{Digest, Sha256};

/// Seven days, in seconds.
pub const DEFAULT_RETENTION_SECONDS: u64 = 604_800;

pub struct Settings {
    pub destinations: Destinations,
    /// `Err`: a secret is set but is not a `whsec_<base64>` key.
    pub secret: Result<Option<Secret>, String>,
    /// SHA-256 of the API token, when one is set.
    pub api_token: Option<[u8; 32]>,
    pub retention_ms: u64,
}

thread_local! {
    // An instance is single-threaded, and its variables cannot change while
    // it lives.
    static SETTINGS: RefCell<Option<Rc<Settings>>> = const { RefCell::new(None) };
}

/// This instance's settings, read on first use.
pub async fn settings() -> Rc<Settings> {
    if let Some(settings) = SETTINGS.with_borrow(Clone::clone) {
        return settings;
    }
    let settings = Rc::new(read().await);
    SETTINGS.with_borrow_mut(|s| s.get_or_insert_with(|| settings.clone()).clone())
}

async fn read() -> Settings {
    let destinations = variable("http_destinations").await;
    let destinations = Destinations::parse(&destinations).unwrap_or_else(|problem| {
        eprintln!("bgtasks: {problem}; no destination is permitted");
        Destinations::none()
    });
    let secret = Secret::parse(&variable("webhook_secret").await);
    if let Err(problem) = &secret {
        eprintln!("bgtasks: {problem}; deliveries fail until it is fixed");
    }
    let token = variable("api_token").await;
    let api_token = (!token.is_empty()).then(|| Sha256::digest(token.as_bytes()).into());
    let retention = variable("retention_seconds").await;
    let retention_seconds = if retention.trim().is_empty() {
        DEFAULT_RETENTION_SECONDS
    } else {
        retention.trim().parse::<u64>().unwrap_or_else(|_| {
            eprintln!(
                "bgtasks: retention_seconds {retention:?} is not a number of seconds; \
                 keeping tasks {DEFAULT_RETENTION_SECONDS} s"
            );
            DEFAULT_RETENTION_SECONDS
        })
    };
    Settings {
        destinations,
        secret,
        api_token,
        retention_ms: retention_seconds.saturating_mul(1000),
    }
}

/// A variable's value; empty when it is not defined for the component (a
/// manifest without it) or cannot be read.
async fn variable(name: &str) -> String {
    spin_sdk::variables::get(name).await.unwrap_or_default()
}

/// Whether `authorization` carries the API token, when one is set: the
/// digests are compared in constant time, so the answer's timing tells
/// nothing of the token.
pub fn authorized(settings: &Settings, authorization: Option<&[u8]>) -> bool {
    use subtle::ConstantTimeEq;
    let Some(expected) = &settings.api_token else {
        return true;
    };
    let Some(value) = authorization else {
        return false;
    };
    let Some(token) = bearer(value) else {
        return false;
    };
    let given: [u8; 32] = Sha256::digest(token).into();
    given.ct_eq(expected).into()
}

/// The credentials of `Bearer <token>` (the scheme in any case).
fn bearer(value: &[u8]) -> Option<&[u8]> {
    let text = value.trim_ascii();
    let (scheme, rest) = text.split_at_checked(6)?;
    if !scheme.eq_ignore_ascii_case(b"bearer") || rest.first().is_none_or(|b| *b != b' ') {
        return None;
    }
    let token = rest.trim_ascii();
    (!token.is_empty()).then_some(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_token(token: &str) -> Settings {
        Settings {
            destinations: Destinations::none(),
            secret: Ok(None),
            api_token: Some(Sha256::digest(token.as_bytes()).into()),
            retention_ms: 0,
        }
    }

    #[test]
    fn only_the_bearer_token_itself_is_authorized() {
        let settings = with_token("s3cret");
        assert!(authorized(&settings, Some(b"Bearer s3cret")));
        assert!(authorized(&settings, Some(b"bearer   s3cret ")));
        for wrong in [
            &b"Bearer s3cre"[..],
            b"Bearer s3cret2",
            b"Basic s3cret",
            b"Bearers3cret",
            b"s3cret",
            b"Bearer ",
            b"",
        ] {
            assert!(!authorized(&settings, Some(wrong)), "{wrong:?}");
        }
        assert!(!authorized(&settings, None));
    }

    #[test]
    fn without_a_token_everything_is_authorized() {
        let settings = Settings {
            api_token: None,
            ..with_token("x")
        };
        assert!(authorized(&settings, None));
    }
}
