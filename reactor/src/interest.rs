//! The two directions of a descriptor.

/// Which half of a descriptor an operation waits on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interest {
    /// Readable: data, a connection to accept, EOF or an error.
    Read,
    /// Writable: room in the send buffer, a finished connect, or an error.
    Write,
}
