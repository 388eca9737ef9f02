//! The Content-Type of a file, from its extension (compared without case, as nginx's
//! `types` do): the common entries of nginx's `mime.types`, so that browsers render pages,
//! fonts, media and WebAssembly (which `WebAssembly.instantiateStreaming` refuses under any
//! other type) rather than download them.

use std::path::Path;

/// What a file at `path` is served as; `application/octet-stream` for an unknown extension
/// or none.
pub fn of(path: &Path) -> &'static str {
    let Some(ext) = path.extension().and_then(|e| e.to_str()).filter(|e| e.len() <= 5) else {
        return DEFAULT;
    };
    let mut lower = [0u8; 5];
    lower[..ext.len()].copy_from_slice(ext.as_bytes());
    lower.make_ascii_lowercase();
    let ext = &lower[..ext.len()];
    TYPES.iter().find(|(exts, _)| exts.iter().any(|e| e.as_bytes() == ext)).map_or(DEFAULT, |(_, t)| t)
}

const DEFAULT: &str = "application/octet-stream";

/// Extensions and their type, text first (most requests), in nginx's spelling.
const TYPES: &[(&[&str], &str)] = &[
    (&["html", "htm", "shtml"], "text/html; charset=utf-8"),
    (&["css"], "text/css"),
    (&["js", "mjs"], "text/javascript"),
    (&["json", "map"], "application/json"),
    (&["txt"], "text/plain; charset=utf-8"),
    (&["md"], "text/markdown; charset=utf-8"),
    (&["xml"], "text/xml"),
    (&["csv"], "text/csv"),
    (&["svg", "svgz"], "image/svg+xml"),
    (&["png"], "image/png"),
    (&["jpg", "jpeg"], "image/jpeg"),
    (&["gif"], "image/gif"),
    (&["webp"], "image/webp"),
    (&["avif"], "image/avif"),
    (&["ico"], "image/x-icon"),
    (&["woff"], "font/woff"),
    (&["woff2"], "font/woff2"),
    (&["ttf"], "font/ttf"),
    (&["otf"], "font/otf"),
    (&["wasm"], "application/wasm"),
    (&["pdf"], "application/pdf"),
    (&["zip"], "application/zip"),
    (&["gz"], "application/gzip"),
    (&["tar"], "application/x-tar"),
    (&["mp4"], "video/mp4"),
    (&["webm"], "video/webm"),
    (&["mp3"], "audio/mpeg"),
    (&["ogg"], "audio/ogg"),
    (&["wav"], "audio/wav"),
];
