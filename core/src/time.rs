//! Time as the engine sees it: milliseconds since the Unix epoch, handed in.

use std::fmt;
use std::time::{Duration, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// A point in time, in milliseconds since the Unix epoch (UTC).
///
/// The engine never reads a clock: every call that needs the time takes a
/// `Millis`, so the same inputs always give the same state.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Millis(pub u64);

impl Millis {
    /// `self` plus `ms`, saturating instead of overflowing.
    pub fn plus(self, ms: u64) -> Millis {
        Millis(self.0.saturating_add(ms))
    }

    /// Milliseconds from `earlier` to `self`, zero if `earlier` is later.
    pub fn since(self, earlier: Millis) -> u64 {
        self.0.saturating_sub(earlier.0)
    }

    /// RFC 3339 in UTC with milliseconds, e.g. `2026-06-26T09:15:02.123Z`.
    pub fn rfc3339(self) -> Rfc3339 {
        Rfc3339(self)
    }
}

impl fmt::Debug for Millis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}ms", self.0)
    }
}

/// Display adapter for [`Millis::rfc3339`]; serialises as a string.
#[derive(Clone, Copy)]
pub struct Rfc3339(Millis);

impl fmt::Display for Rfc3339 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // No clock is read here: the SystemTime is only a calendar carrier,
        // which works on every target, wasm32-unknown-unknown included.
        let at = UNIX_EPOCH + Duration::from_millis(self.0.0);
        fmt::Display::fmt(&humantime::format_rfc3339_millis(at), f)
    }
}

impl Serialize for Rfc3339 {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_rfc3339_with_milliseconds_in_utc() {
        assert_eq!(Millis(0).rfc3339().to_string(), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            Millis(1_782_465_302_123).rfc3339().to_string(),
            "2026-06-26T09:15:02.123Z"
        );
    }
}
