//! Entity tags (RFC 9110 §8.8.3): the validator a file's responses carry, and the
//! If-None-Match and If-Range comparisons against it.
//!
//! A file's tag is made from its mtime and length, as nginx makes it, but with the mtime's
//! nanoseconds as well as its seconds: a file rewritten within a second at the same length
//! then still gets a new tag wherever the filesystem keeps sub-second times, where nginx's
//! would not change and a client could stitch a resumed download from two versions.

use std::time::{SystemTime, UNIX_EPOCH};

/// The strong entity tag of a file last modified at `modified`, `len` bytes long:
/// `"<secs>.<nanos>-<len>"`, each in hex, the seconds counted from the epoch (with a `-`
/// before it, for a file dated before it).
pub fn of(modified: SystemTime, len: u64) -> String {
    let (sign, since) = match modified.duration_since(UNIX_EPOCH) {
        Ok(after) => ("", after),
        Err(before) => ("-", before.duration()),
    };
    format!("\"{sign}{:x}.{:x}-{len:x}\"", since.as_secs(), since.subsec_nanos())
}

/// Whether an `If-None-Match` field matches `tag`: `*`, or a list holding it, compared
/// weakly (§13.1.2: a `W/` prefix is ignored). A list that does not parse matches nothing.
pub fn none_match_hits(field: &str, tag: &str) -> bool {
    if field.trim() == "*" {
        return true;
    }
    let mut hit = false;
    let parsed = each_tag(field, |opaque| hit |= opaque == tag);
    parsed && hit
}

/// Whether an `If-Range` field is an entity tag rather than a date (§13.1.5: a date never
/// starts with a quote or `W/`).
pub fn is_tag(field: &str) -> bool {
    field.starts_with('"') || field.starts_with("W/\"")
}

/// The strong comparison `If-Range` makes (§8.8.3.2): the field is exactly one strong tag,
/// equal to `tag`. A weak tag never matches, whatever its opaque part.
pub fn strong_match(field: &str, tag: &str) -> bool {
    field.trim() == tag
}

/// Calls `each` on the opaque part (quotes included, any `W/` dropped) of every tag in the
/// comma-separated list `field`; false if the list is not
/// one (an unclosed quote, text between tags), so a malformed field matches nothing rather
/// than a tag made up of its pieces.
fn each_tag(field: &str, mut each: impl FnMut(&str)) -> bool {
    let mut rest = field;
    loop {
        rest = rest.trim_start_matches([' ', '\t', ',']);
        if rest.is_empty() {
            return true;
        }
        let unmarked = rest.strip_prefix("W/").unwrap_or(rest);
        let Some(end) = unmarked.strip_prefix('"').and_then(|r| r.find('"')) else {
            return false;
        };
        let (opaque, after) = unmarked.split_at(end + 2);
        if !after.is_empty() && !after.starts_with([' ', '\t', ',']) {
            return false;
        }
        each(opaque);
        rest = after;
    }
}
