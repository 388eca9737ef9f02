//! From a request target to a path under the root, refusing every way out of it.

use std::ffi::OsStr;
use std::fmt::Write;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// Why a target is refused.
#[derive(Debug, PartialEq, Eq)]
pub enum Refused {
    /// Malformed: not origin-form, bad percent-encoding, a NUL byte (400).
    BadRequest,
    /// A `..` segment, encoded or not (403).
    Forbidden,
}

/// The path, relative to the root, that `target` names; a directory (a trailing `/`, or
/// the root) maps to its `index.html`.
pub fn relative_path(target: &str) -> Result<PathBuf, Refused> {
    let target = origin_form(target);
    let path = target.split(['?', '#']).next().unwrap_or("");
    if !path.starts_with('/') {
        return Err(Refused::BadRequest);
    }
    // Decode first, split after: `%2f` separates and `%2e%2e` is `..` like any other.
    let decoded = percent_decode(path.as_bytes()).ok_or(Refused::BadRequest)?;
    if decoded.contains(&0) {
        return Err(Refused::BadRequest);
    }
    let mut rel = PathBuf::new();
    for segment in decoded.split(|&b| b == b'/') {
        match segment {
            b"" | b"." => {}
            b".." => return Err(Refused::Forbidden),
            name => rel.push(OsStr::from_bytes(name)),
        }
    }
    if decoded.ends_with(b"/") || rel.as_os_str().is_empty() {
        rel.push("index.html");
    }
    Ok(rel)
}

/// The path and query of an absolute-form target (`http://host/p?q`, which RFC 9112
/// §3.2.2 says a server must accept; the host is not checked, one tree is served), or
/// the target as it is.
fn origin_form(target: &str) -> &str {
    let scheme = target.split_once("://").map(|(s, rest)| (s.to_ascii_lowercase(), rest));
    match scheme {
        // The authority ends at the first `/`, `?` or `#`; only a `/` starts a path.
        Some((scheme, rest)) if scheme == "http" || scheme == "https" => match rest.find(['/', '?', '#']) {
            Some(i) if rest.as_bytes()[i] == b'/' => &rest[i..],
            _ => "/",
        },
        _ => target,
    }
}

/// Where a directory named without its trailing slash (`/sub?q`, `rel` being `sub`) is
/// redirected: its path with the slash, and the query as sent, so that relative links
/// in its index page resolve inside it (what nginx does). The path is made from `rel`,
/// re-encoded, not copied from the target: `//host/x` there would name another site.
pub fn directory_location(rel: &Path, target: &str) -> String {
    let mut location = String::from("/");
    for segment in rel.iter() {
        percent_encode(segment.as_bytes(), is_pchar, &mut location);
        location.push('/');
    }
    let query = origin_form(target).split('#').next().and_then(|t| t.split_once('?'));
    if let Some((_, query)) = query {
        location.push('?');
        // Sent as it came, escapes too; only what a header must not hold is encoded.
        percent_encode(query.as_bytes(), |b| b.is_ascii_graphic(), &mut location);
    }
    location
}

/// A byte a path segment may hold as it is (RFC 3986 §3.3, `pchar` but `%`).
fn is_pchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@".contains(&b)
}

fn percent_encode(bytes: &[u8], keep: impl Fn(u8) -> bool, out: &mut String) {
    for &b in bytes {
        if keep(b) {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}"); // a String takes every write
        }
    }
}

fn percent_decode(input: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(input.len());
    let mut bytes = input.iter();
    while let Some(&b) = bytes.next() {
        if b != b'%' {
            out.push(b);
            continue;
        }
        let hi = (*bytes.next()? as char).to_digit(16)?;
        let lo = (*bytes.next()? as char).to_digit(16)?;
        out.push((hi * 16 + lo) as u8);
    }
    Some(out)
}
