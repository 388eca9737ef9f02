//! Go-style read and write deadlines, the same on every connection type.

/// The deadline methods of a type with a `source` field, as Go's `net.Conn` has them.
macro_rules! impl_deadlines {
    () => {
        /// Sets the read deadline, as Go's `SetReadDeadline`: a read (or receive) waiting now,
        /// and every later one, fails with `ErrorKind::TimedOut` once `at` has passed; `None`
        /// clears it. Moving it affects a read already waiting. No data is lost: on io_uring a
        /// read cut off by its deadline is cancelled and awaited, and bytes that beat the
        /// cancel are returned.
        pub fn set_read_deadline(&self, at: Option<std::time::Instant>) {
            self.source.set_deadline(ringpoll_reactor::Interest::Read, at);
        }

        /// Sets the write deadline, as Go's `SetWriteDeadline`. A `write_all` cut off by it
        /// fails with `TimedOut` and, if part of the buffer went out, says how much
        /// ([`PartialWrite::of`](crate::PartialWrite::of)).
        pub fn set_write_deadline(&self, at: Option<std::time::Instant>) {
            self.source.set_deadline(ringpoll_reactor::Interest::Write, at);
        }

        /// The read deadline.
        pub fn read_deadline(&self) -> Option<std::time::Instant> {
            self.source.deadline(ringpoll_reactor::Interest::Read)
        }

        /// The write deadline.
        pub fn write_deadline(&self) -> Option<std::time::Instant> {
            self.source.deadline(ringpoll_reactor::Interest::Write)
        }
    };
}
pub(crate) use impl_deadlines;
