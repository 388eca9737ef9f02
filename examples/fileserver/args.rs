//! The command line (the examples' shared conventions, `examples/cli`).

use std::net::SocketAddr;
use std::path::PathBuf;

use super::cli::{Flags, Stop};

/// What `--help` prints.
pub const USAGE: &str = "usage: fileserver --root DIR [--addr HOST:PORT] [--cores LIST] [--driver uring|epoll|auto]
  --root DIR           the directory served (required)
  --addr HOST:PORT     where every core listens (default 127.0.0.1:8080; names are resolved)
  --cores LIST         CPUs to run on, e.g. 0,1 or 0-3 (default: every CPU)
  --driver KIND        uring, epoll or auto (default: RINGPOLL_DRIVER, else auto)";

/// Parsed arguments.
#[derive(Debug)]
pub struct Args {
    /// Where to listen (host names resolved at start).
    pub addr: SocketAddr,
    /// The directory served, as given, made absolute.
    pub root: PathBuf,
    /// CPUs to run on (default: all).
    pub cores: Option<Vec<usize>>,
    /// The driver.
    pub driver: ringpoll::DriverChoice,
}

/// Reads the flags.
pub fn parse(flags: &mut Flags) -> Result<Args, Stop> {
    let mut addr = SocketAddr::from(([127, 0, 0, 1], 8080));
    let (mut root, mut cores) = (None, None);
    let mut driver = ringpoll::DriverChoice::from_env().map_err(|e| Stop::Bad(e.to_string()))?;
    while let Some(flag) = flags.next_flag()? {
        match flag.as_str() {
            "--addr" => addr = flags.addr()?,
            "--root" => {
                let dir = flags.text()?;
                // Kept as given (made absolute), not canonical: a symlink in it (a deploy's
                // `current`) is followed anew as the server looks the root up again.
                root = Some(std::path::absolute(&dir).map_err(|e| flags.bad(format!("{dir:?}: {e}")))?);
            }
            "--cores" => cores = Some(flags.cores()?),
            "--driver" => driver = flags.value()?,
            _ => return Err(flags.unknown()),
        }
    }
    let root = root.ok_or_else(|| Stop::Bad("--root DIR is required".into()))?;
    if !root.is_dir() {
        return Err(Stop::Bad(format!("--root: {} is not a directory", root.display())));
    }
    Ok(Args { addr, root, cores, driver })
}
