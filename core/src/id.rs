//! Task ids: UUID v4, built from bytes the caller draws.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use uuid::Uuid;

/// A task's id. Rendered as a lowercase hyphenated UUID v4.
///
/// The engine never draws random numbers itself: the Spin shell takes the 16
/// bytes from WASI's random source, the playground from its seeded generator,
/// so a replayed session reproduces its ids.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TaskId(Uuid);

impl TaskId {
    /// Builds a version 4 id from 16 random bytes (version and variant bits
    /// are overwritten, as RFC 9562 says).
    pub fn from_random_bytes(bytes: [u8; 16]) -> Self {
        TaskId(uuid::Builder::from_random_bytes(bytes).into_uuid())
    }

    /// Parses an id as it appears in a path: the 36-character hyphenated form
    /// only, any case. Braced, URN and unhyphenated forms name no task.
    pub fn parse(text: &str) -> Option<Self> {
        if text.len() != 36 {
            return None;
        }
        Uuid::try_parse(text).ok().map(TaskId)
    }

    /// The id's 16 bytes, e.g. to seed per-task randomness.
    pub fn as_bytes(&self) -> &[u8; 16] {
        self.0.as_bytes()
    }
}

impl fmt::Display for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0.hyphenated(), f)
    }
}

impl fmt::Debug for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TaskId({self})")
    }
}

impl Serialize for TaskId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for TaskId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        TaskId::parse(&text).ok_or_else(|| serde::de::Error::custom("not a task id"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_version_4_and_round_trip() {
        let id = TaskId::from_random_bytes([0xff; 16]);
        let text = id.to_string();
        assert_eq!(text, "ffffffff-ffff-4fff-bfff-ffffffffffff");
        assert_eq!(TaskId::parse(&text), Some(id));
        assert_eq!(TaskId::parse(&text.to_uppercase()), Some(id));
    }

    #[test]
    fn only_the_hyphenated_form_names_a_task() {
        for bad in [
            "",
            "not-a-uuid",
            "ffffffffffff4fffbfffffffffffffff",
            "{ffffffff-ffff-4fff-bfff-ffffffffffff}",
            "urn:uuid:ffffffff-ffff-4fff-bfff-ffffffffffff",
            "ffffffff-ffff-4fff-bfff-fffffffffffg",
            "ffffffff-ffff-4fff-bfff-ffffffffff/f",
        ] {
            assert_eq!(TaskId::parse(bad), None, "{bad:?}");
        }
    }
}
