//! Which driver a reactor runs, and how `auto` decides.

use std::fmt;
use std::io;
use std::str::FromStr;

/// The environment variable that picks the driver when the builder does not.
pub const DRIVER_ENV: &str = "RINGPOLL_DRIVER";

/// The driver a reactor actually runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DriverKind {
    /// Readiness: edge-triggered epoll with PollDescs.
    Epoll,
    /// Completion: one io_uring per core.
    Uring,
}

impl fmt::Display for DriverKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DriverKind::Epoll => "epoll",
            DriverKind::Uring => "io_uring",
        })
    }
}

/// What the user asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DriverChoice {
    /// io_uring if the kernel allows it, epoll otherwise.
    #[default]
    Auto,
    /// Always epoll.
    Epoll,
    /// io_uring or an error.
    Uring,
}

impl FromStr for DriverChoice {
    type Err = io::Error;
    fn from_str(s: &str) -> io::Result<DriverChoice> {
        match s.trim().to_ascii_lowercase().as_str() {
            "auto" | "" => Ok(DriverChoice::Auto),
            "epoll" => Ok(DriverChoice::Epoll),
            "uring" | "io_uring" | "io-uring" => Ok(DriverChoice::Uring),
            other => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("unknown driver {other:?}: expected uring, epoll or auto"),
            )),
        }
    }
}

impl DriverChoice {
    /// The choice in `RINGPOLL_DRIVER`, or `Auto` when it is unset.
    pub fn from_env() -> io::Result<DriverChoice> {
        match std::env::var(DRIVER_ENV) {
            Ok(v) => v.parse(),
            Err(_) => Ok(DriverChoice::Auto),
        }
    }

    /// Decides the driver. `Auto` probes io_uring and returns, with epoll, the reason it could
    /// not be used; forcing `Uring` where the probe fails is an error.
    pub fn resolve(self) -> io::Result<(DriverKind, Option<io::Error>)> {
        match self {
            DriverChoice::Epoll => Ok((DriverKind::Epoll, None)),
            DriverChoice::Uring => crate::uring::probe()
                .map(|()| (DriverKind::Uring, None))
                .map_err(|e| io::Error::new(e.kind(), format!("io_uring driver requested but unavailable: {e}"))),
            DriverChoice::Auto => match crate::uring::probe() {
                Ok(()) => Ok((DriverKind::Uring, None)),
                Err(e) => Ok((DriverKind::Epoll, Some(e))),
            },
        }
    }
}
