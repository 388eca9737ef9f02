//! Which bytes of a file a `Range` field asks for (RFC 9110 §14), one range only.

/// What to send of a file.
#[derive(Debug, PartialEq, Eq)]
pub enum Selection {
    /// The whole file, with 200: no Range, or one this server ignores (several ranges,
    /// a malformed field, another unit), which RFC 9110 §14.2 allows.
    Whole,
    /// Bytes `first..=last`, with 206.
    Part { first: u64, last: u64 },
    /// A range that starts at or past the end, with 416 (§15.5.17).
    Unsatisfiable,
}

/// What `field` (the Range value, if any) selects of a file of `len` bytes.
pub fn select(field: Option<&str>, len: u64) -> Selection {
    let Some(spec) = field.and_then(one_range) else {
        return Selection::Whole;
    };
    match spec {
        // `bytes=-n`: the last n bytes, all of them if the file is shorter (§14.1.2).
        (None, Some(0)) => Selection::Unsatisfiable,
        // An empty file has no last bytes a Content-Range could name: send it whole.
        (None, Some(_)) if len == 0 => Selection::Whole,
        (None, Some(n)) => Selection::Part { first: len.saturating_sub(n), last: len - 1 },
        (Some(first), _) if first >= len => Selection::Unsatisfiable,
        // A last past the end means the end (§14.1.2).
        (Some(first), last) => Selection::Part { first, last: last.map_or(len - 1, |l| l.min(len - 1)) },
        (None, None) => Selection::Whole,
    }
}

/// `bytes=first-[last]` or `bytes=-suffix` as (first, last-or-suffix); `None` for
/// anything else, a list of ranges included, and for a last before its first, which
/// §14.1.1 makes invalid.
fn one_range(field: &str) -> Option<(Option<u64>, Option<u64>)> {
    let (unit, spec) = field.split_once('=')?;
    if !unit.eq_ignore_ascii_case("bytes") {
        return None;
    }
    let (first, last) = spec.split_once('-')?;
    let (first, last) = (number(first)?, number(last)?);
    match (first, last) {
        (None, None) => None,
        (Some(f), Some(l)) if l < f => None,
        spec => Some(spec),
    }
}

/// `Some(None)` for an empty part, `Some(Some(n))` for digits only (no sign, no space,
/// no comma: a list is refused here), `None` otherwise (past u64 too).
fn number(part: &str) -> Option<Option<u64>> {
    if part.is_empty() {
        return Some(None);
    }
    part.bytes().all(|b| b.is_ascii_digit()).then(|| part.parse().ok())?.map(Some)
}
