//! Listing: the `/tasks` query, opaque cursors, and a page planner that both
//! homes share.
//!
//! Tasks are numbered by submission (`position` 1, 2, 3, ...). A page reads a
//! window of positions downwards from the cursor (newest first): `limit`
//! positions when unfiltered, a bounded larger window when filtered, so a
//! page never costs more reads however many tasks the store holds.

use serde_json::{Value, json};

use crate::spec::TaskKind;
use crate::task::{Status, Task};
use crate::validate::FieldError;

pub const DEFAULT_LIMIT: u32 = 50;
pub const MAX_LIMIT: u32 = 200;
/// A filtered page reads at most this many positions per requested row.
pub const FILTER_SCAN_FACTOR: u64 = 4;
/// ... and never fewer than this many.
pub const FILTER_SCAN_MIN: u64 = 100;

/// A validated `/tasks` query.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ListQuery {
    pub status: Option<Status>,
    pub kind: Option<TaskKind>,
    pub limit: u32,
    /// Read positions strictly below this one (from the cursor).
    pub before: Option<u64>,
}

impl Default for ListQuery {
    fn default() -> Self {
        ListQuery {
            status: None,
            kind: None,
            limit: DEFAULT_LIMIT,
            before: None,
        }
    }
}

impl ListQuery {
    /// Parses a raw query string (`status=failed&limit=10`), percent-decoding
    /// it. Unknown parameters are ignored; a repeated one counts once, its
    /// last value winning, as in FastAPI.
    pub fn parse(query: &str) -> Result<ListQuery, Vec<FieldError>> {
        let (mut status, mut kind, mut limit, mut cursor) = (None, None, None, None);
        for (name, value) in form_urlencoded::parse(query.as_bytes()) {
            match &*name {
                "status" => status = Some(value.into_owned()),
                "type" => kind = Some(value.into_owned()),
                "limit" => limit = Some(value.into_owned()),
                "cursor" => cursor = Some(value.into_owned()),
                _ => {}
            }
        }
        let mut errors = Vec::new();
        let mut query = ListQuery::default();
        if let Some(text) = status {
            match Status::ALL.into_iter().find(|s| s.as_str() == text) {
                Some(s) => query.status = Some(s),
                None => errors.push(enum_error(
                    "status",
                    &text,
                    "'pending', 'success' or 'failed'",
                )),
            }
        }
        if let Some(text) = kind {
            match TaskKind::ALL.into_iter().find(|k| k.as_str() == text) {
                Some(k) => query.kind = Some(k),
                None => errors.push(enum_error(
                    "type",
                    &text,
                    "'notification', 'report', 'file' or 'http'",
                )),
            }
        }
        if let Some(text) = limit {
            match query_integer("limit", &text, 1, u64::from(MAX_LIMIT)) {
                Ok(n) => query.limit = n as u32,
                Err(e) => errors.push(e),
            }
        }
        if let Some(text) = cursor {
            match decode_cursor(&text) {
                Some(position) => query.before = Some(position),
                None => errors.push(query_error(
                    "value_error",
                    "cursor",
                    "Value error, invalid cursor",
                    &text,
                    Some(json!({ "error": {} })),
                )),
            }
        }
        if errors.is_empty() {
            Ok(query)
        } else {
            Err(errors)
        }
    }

    fn filtered(&self) -> bool {
        self.status.is_some() || self.kind.is_some()
    }

    /// The positions a page reads, newest first, when `head` is the newest
    /// position in the store (0 when it is empty). Read them all, then pass
    /// what was found to [`ListQuery::page`].
    pub fn window(&self, head: u64) -> std::iter::Rev<std::ops::RangeInclusive<u64>> {
        let top = self.before.map_or(head, |b| b.saturating_sub(1).min(head));
        let span = if self.filtered() {
            (u64::from(self.limit) * FILTER_SCAN_FACTOR).max(FILTER_SCAN_MIN)
        } else {
            u64::from(self.limit)
        };
        // With an empty store (top 0) this is `1..=0`: nothing to read.
        let bottom = top.saturating_sub(span - 1).max(1);
        (bottom..=top).rev()
    }

    /// Builds the page from what was read at the window's positions, newest
    /// first (`None` where a position holds no task: a gap left by a submit
    /// that never completed).
    pub fn page<'t>(&self, found: impl IntoIterator<Item = (u64, Option<&'t Task>)>) -> Page<'t> {
        let mut tasks = Vec::new();
        let mut last = None;
        for (position, task) in found {
            last = Some(position);
            let Some(task) = task else { continue };
            if self.status.is_some_and(|s| s != task.status())
                || self.kind.is_some_and(|k| k != task.kind())
            {
                continue;
            }
            tasks.push(task);
            if tasks.len() == self.limit as usize {
                break;
            }
        }
        // More positions remain below the last one read: point there.
        let next_cursor = last.filter(|&p| p > 1).map(encode_cursor);
        Page { tasks, next_cursor }
    }
}

/// One page of `/tasks`.
#[derive(Debug, PartialEq)]
pub struct Page<'t> {
    pub tasks: Vec<&'t Task>,
    pub next_cursor: Option<String>,
}

/// A query parameter holding an integer in `min..=max`, with FastAPI's
/// errors for anything else.
pub fn query_integer(name: &str, text: &str, min: u64, max: u64) -> Result<u64, FieldError> {
    let digits = text.strip_prefix(['+', '-']).unwrap_or(text);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(query_error(
            "int_parsing",
            name,
            "Input should be a valid integer, unable to parse string as an integer",
            text,
            None,
        ));
    }
    let negative = text.starts_with('-') && digits.bytes().any(|b| b != b'0');
    let value: u64 = digits.parse().unwrap_or(u64::MAX);
    if negative || value < min {
        Err(query_error(
            "greater_than_equal",
            name,
            &format!("Input should be greater than or equal to {min}"),
            text,
            Some(json!({ "ge": min })),
        ))
    } else if value > max {
        Err(query_error(
            "less_than_equal",
            name,
            &format!("Input should be less than or equal to {max}"),
            text,
            Some(json!({ "le": max })),
        ))
    } else {
        Ok(value)
    }
}

fn enum_error(name: &str, text: &str, expected: &str) -> FieldError {
    query_error(
        "enum",
        name,
        &format!("Input should be {expected}"),
        text,
        Some(json!({ "expected": expected })),
    )
}

fn query_error(
    kind: &'static str,
    name: &str,
    msg: &str,
    input: &str,
    ctx: Option<Value>,
) -> FieldError {
    FieldError {
        kind,
        loc: vec![Value::from("query"), Value::from(name)],
        msg: msg.into(),
        input: Value::from(input),
        ctx,
    }
}

/// Cursors are `<position>.<check>` in hex; the check makes a hand-made or
/// mangled cursor fail loudly (422) instead of silently paging elsewhere.
fn encode_cursor(position: u64) -> String {
    format!("{position:x}.{:04x}", cursor_check(position))
}

fn decode_cursor(text: &str) -> Option<u64> {
    let (position, check) = text.split_once('.')?;
    let valid_hex = |s: &str, max: usize| {
        (1..=max).contains(&s.len()) && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    };
    if !valid_hex(position, 16) || !valid_hex(check, 4) || check.len() != 4 {
        return None;
    }
    let position = u64::from_str_radix(position, 16).ok()?;
    let check = u16::from_str_radix(check, 16).ok()?;
    (position >= 1 && check == cursor_check(position)).then_some(position)
}

fn cursor_check(position: u64) -> u16 {
    fastrand::Rng::with_seed(position ^ 0x6267_7461_736b_7321).u16(..)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_forgeries_are_refused() {
        for p in [1, 2, 255, 1 << 40] {
            assert_eq!(decode_cursor(&encode_cursor(p)), Some(p));
        }
        let good = encode_cursor(77);
        let (pos, check) = good.split_once('.').unwrap();
        for bad in [
            "",
            "abc",
            "4d",
            &format!("{pos}.{}", if check == "0000" { "0001" } else { "0000" }),
            &format!("{:x}.{check}", 78),
            &format!("0.{:04x}", cursor_check(0)),
            &good.to_uppercase(),
        ] {
            assert_eq!(decode_cursor(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn windows_read_limit_positions_unfiltered_and_a_bounded_span_filtered() {
        let q = ListQuery {
            limit: 3,
            ..ListQuery::default()
        };
        assert_eq!(q.window(10).collect::<Vec<_>>(), vec![10, 9, 8]);
        assert_eq!(q.window(0).count(), 0);
        let after = ListQuery {
            before: Some(2),
            ..q
        };
        assert_eq!(after.window(10).collect::<Vec<_>>(), vec![1]);
        let filtered = ListQuery {
            status: Some(Status::Failed),
            ..q
        };
        assert_eq!(filtered.window(1_000_000).count() as u64, FILTER_SCAN_MIN);
    }
}
