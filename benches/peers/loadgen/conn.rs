//! One client connection of the load generator: a closed loop keeping `depth` requests in
//! flight, checking each echoed byte and timing each request from issue to last byte back.

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::time::Instant;

use super::pattern::Pattern;

/// What a connection reports for each completed request.
pub trait Sink {
    /// Request issued at `issued` fully echoed at `now`.
    fn completed(&mut self, issued: Instant, now: Instant);
}

/// A client connection and its requests in flight.
pub struct Conn {
    stream: TcpStream,
    id: u64,
    issued: u64,
    completed: u64,
    /// Bytes of request `completed` already echoed and checked.
    received: usize,
    out: Vec<u8>,
    out_pos: usize,
    issue_times: VecDeque<Instant>,
}

impl Conn {
    /// Wraps a connected, non-blocking stream.
    pub fn new(stream: TcpStream, id: u64) -> Conn {
        Conn {
            stream,
            id,
            issued: 0,
            completed: 0,
            received: 0,
            out: Vec::new(),
            out_pos: 0,
            issue_times: VecDeque::new(),
        }
    }

    /// Queues the next request and notes when.
    pub fn issue(&mut self, pattern: &Pattern, now: Instant) {
        self.out.extend_from_slice(pattern.request(self.id, self.issued));
        self.issued += 1;
        self.issue_times.push_back(now);
    }

    /// Writes queued requests until done or the socket is full.
    pub fn flush(&mut self) -> io::Result<()> {
        while self.out_pos < self.out.len() {
            match self.stream.write(&self.out[self.out_pos..]) {
                Ok(n) => self.out_pos += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        self.out.clear();
        self.out_pos = 0;
        Ok(())
    }

    /// Reads until EAGAIN (edge-triggered), checking bytes and completing requests; each
    /// completion issues the next request so `depth` stay in flight.
    pub fn on_readable(&mut self, pattern: &Pattern, scratch: &mut [u8], sink: &mut impl Sink) -> io::Result<()> {
        loop {
            match self.stream.read(scratch) {
                Ok(0) => return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "server closed the connection")),
                Ok(n) => self.check(pattern, &scratch[..n], sink)?,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    fn check(&mut self, pattern: &Pattern, mut data: &[u8], sink: &mut impl Sink) -> io::Result<()> {
        let now = Instant::now();
        while !data.is_empty() {
            if self.completed == self.issued {
                return Err(corrupt("server sent bytes nobody asked for"));
            }
            let take = data.len().min(pattern.payload() - self.received);
            if data[..take] != *pattern.part(self.id, self.completed, self.received, take) {
                return Err(corrupt("echoed bytes differ from the request"));
            }
            data = &data[take..];
            self.received += take;
            if self.received == pattern.payload() {
                self.received = 0;
                self.completed += 1;
                let issued = self.issue_times.pop_front().expect("an issue time per request in flight");
                sink.completed(issued, now);
                self.issue(pattern, now);
            }
        }
        self.flush()
    }
}

fn corrupt(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what)
}
