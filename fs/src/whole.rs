//! Whole files in one call: read, read_to_string, write.

use std::io;
use std::path::Path;

use ringpoll_reactor::IoBuf;

use crate::file::File;

/// Reads the whole file into a `Vec` (sized from its metadata: one read for a file that does
/// not change meanwhile, plus the one that sees the end).
pub async fn read(path: impl AsRef<Path>) -> io::Result<Vec<u8>> {
    let file = File::open(path).await?;
    let size = file.metadata().await?.len();
    let size = usize::try_from(size).map_err(|_| too_large())?;
    // The size is the file's claim (a sparse file may claim a petabyte): a reservation that
    // cannot be had is an error, as std::fs::read makes it, where `with_capacity` would abort
    // the whole process.
    let mut out = Vec::new();
    out.try_reserve_exact(size.max(1)).map_err(|_| too_large())?;
    // Cursor reads, which also serve a FIFO (no offset, no size).
    let (n, mut out) = file.read(out).await;
    if n? == 0 {
        return Ok(out);
    }
    // A short read or a file that grew: read on until the end.
    let mut chunk = Vec::with_capacity(64 * 1024);
    loop {
        let (n, c) = file.read(chunk).await;
        chunk = c;
        match n? {
            0 => return Ok(out),
            n => out.extend_from_slice(&chunk[..n]),
        }
    }
}

fn too_large() -> io::Error {
    io::Error::new(io::ErrorKind::OutOfMemory, "file too large to read into memory")
}

/// Reads the whole file as UTF-8; invalid UTF-8 is an `InvalidData` error.
pub async fn read_to_string(path: impl AsRef<Path>) -> io::Result<String> {
    String::from_utf8(read(path).await?).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.utf8_error()))
}

/// Creates (or truncates) the file at `path` and writes all of `contents` to it.
pub async fn write<B: IoBuf + Send>(path: impl AsRef<Path>, contents: B) -> io::Result<()> {
    let file = File::create(path).await?;
    file.write_all_at(contents, 0).await.0
}
