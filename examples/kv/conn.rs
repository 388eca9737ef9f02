//! One client connection: read, run the complete requests (pipelining) in place, write
//! their replies at once. A run that reaches the reply budget (`pipeline.rs`) is written
//! before the rest of what was read runs, so a connection owes a bounded amount whatever
//! its pipeline asks for.

use std::future::{poll_fn, Future};
use std::io;
use std::net::{Shutdown, SocketAddr};
use std::pin::pin;
use std::task::Poll;
use std::time::Duration;

use ringpoll::buf::BufResult;
use ringpoll::net::TcpStream;

use super::admission::{Admitted, REFUSAL};
use super::direct::Direct;
use super::pipeline::{release_excess, End, Pipeline};
use super::pubsub::Mailbox;
use super::resp::Arrival;
use super::shard::Shards;

/// How much one read asks for.
const READ_SIZE: usize = 16 * 1024;

/// How long a connection that ends on its side (QUIT, malformed input) reads on for its
/// client to close first (`linger`).
const LINGER: Duration = Duration::from_secs(1);

/// Serves `stream` until the client closes it, sends QUIT, or sends malformed input (which
/// gets `-ERR Protocol error: ...` before the close, as Redis does). Until its last reply is
/// written (Redis frees a client then), not through the linger that follows, `admitted`
/// counts it against `--maxclients`, and its core's `Clients` list it (CLIENT LIST, INFO's
/// `connected_clients`, CLIENT KILL).
pub async fn serve(stream: TcpStream, peer: SocketAddr, shards: &Shards, admitted: Admitted) -> io::Result<()> {
    let mut pipeline = Pipeline::new(READ_SIZE);
    shards.clients().open(pipeline.client_id(), &stream, peer);
    let listed = Listed(shards, pipeline.client_id());
    // The start of a request not complete yet; most reads end on a request's end, and are
    // parsed where they were read.
    let mut partial = Vec::new();
    // How far the request at the front of `partial` has arrived: it runs once whole.
    let mut arrival = Arrival::default();
    let mut read_buf = Vec::with_capacity(READ_SIZE);
    // Other cores may write replies to this client (one at a time) if the store is sharded.
    let mut direct = (shards.count() > 1).then(|| Direct::new(&stream).ok()).flatten();
    // Set when a run stopped at the reply budget with complete requests left in `partial`:
    // they run once its replies are written, before any read.
    let mut resume = false;
    loop {
        let end = if resume {
            // No reply of another core is in flight: one is sent only for a run's last
            // request, and such a run ends `More`.
            let (used, end) = pipeline.run(&partial, shards, direct.as_ref());
            partial.drain(..used);
            release_excess(&mut partial);
            arrival = Arrival::default();
            end
        } else {
            let (n, buf) = match &mut direct {
                Some(direct) if direct.in_flight() => read_beside(&stream, read_buf, direct).await,
                _ => match pipeline.mailbox() {
                    Some(mailbox) => read_subscribed(&stream, read_buf, &mailbox.clone()).await,
                    None => stream.read(read_buf).await,
                },
            };
            read_buf = buf;
            // Nothing is written (nor the connection left) before a reply in flight settles;
            // one handed back goes out first.
            if let Some(direct) = &mut direct {
                if let Some(rest) = direct.settled().await {
                    pipeline.owe(&rest);
                }
            }
            let n = n?;
            if n == 0 {
                End::Quit // the client is done: what is owed goes out, then the close
            } else if partial.is_empty() {
                let (used, end) = pipeline.run(&read_buf, shards, direct.as_ref());
                partial.extend_from_slice(&read_buf[used..]);
                end
            } else {
                partial.extend_from_slice(&read_buf);
                if arrival.complete(&partial) {
                    let (used, end) = pipeline.run(&partial, shards, direct.as_ref());
                    partial.drain(..used);
                    release_excess(&mut partial);
                    arrival = Arrival::default();
                    end
                } else {
                    End::More // still arriving: nothing to parse again yet
                }
            }
        };
        let out = pipeline.replies().await;
        if out.is_empty() {
            pipeline.recycle(out); // nothing to write, or another core writes it
        } else {
            let (written, out) = stream.write_all(out).await;
            pipeline.recycle(out);
            written?;
        }
        match end {
            End::More => resume = false,
            End::Owed => resume = true,
            End::Quit | End::Malformed => {
                drop((admitted, listed));
                linger(&stream, read_buf).await;
                return Ok(());
            }
        }
    }
}

/// Tells a client past the server's limit so (see `admission.rs`), and closes its connection.
pub async fn refuse(stream: TcpStream) {
    if stream.write_all(REFUSAL).await.0.is_ok() {
        linger(&stream, Vec::with_capacity(512)).await;
    }
}

/// Ends a connection so that its client gets every reply written: the write half is shut
/// (FIN after the replies), then what the client still sends is read and dropped until it
/// closes, for at most `LINGER`. Closed at once with input unread (a client that pipelined
/// past QUIT or past malformed input), the socket would be reset, and a reset throws away
/// the replies still on their way: such a client lost the last megabytes of replies before
/// the QUIT, its `+OK` or the protocol error with them, which redis-server (reading all
/// that arrives before it runs any) delivers.
async fn linger(stream: &TcpStream, mut buf: Vec<u8>) {
    if stream.shutdown(Shutdown::Write).is_err() {
        return;
    }
    let drain = async {
        loop {
            let (n, back) = stream.read(buf).await;
            buf = back;
            if !matches!(n, Ok(1..)) {
                return; // the client closed, or the connection failed
            }
        }
    };
    let _ = ringpoll::time::timeout(LINGER, drain).await;
}

/// Takes its connection (of this id) off its core's list, and its pub/sub subscriptions
/// off its core's, when dropped, however `serve` ends.
struct Listed<'a>(&'a Shards, u64);

impl Drop for Listed<'_> {
    fn drop(&mut self) {
        self.0.clients().close(self.1);
        if self.0.pubsub().leave(self.1) {
            self.0.subscriptions_changed();
        }
    }
}

/// Reads on a connection with pub/sub subscriptions, writing the messages that arrive
/// meanwhile (whole frames, between its replies). Fails once the mailbox overflowed (see
/// `pubsub.rs`): the connection closes, as Redis closes a subscriber past its limit.
async fn read_subscribed(stream: &TcpStream, buf: Vec<u8>, mailbox: &Mailbox) -> BufResult<usize, Vec<u8>> {
    let mut read = pin!(stream.read(buf));
    loop {
        let arrived = poll_fn(|cx| match read.as_mut().poll(cx) {
            Poll::Ready(done) => Poll::Ready(Err(done)),
            Poll::Pending => mailbox.poll_frames(cx).map(Ok),
        })
        .await;
        let frames = match arrived {
            Err(done) => return done,
            Ok(Err(overflowed)) => return (Err(overflowed), Vec::new()),
            Ok(Ok(frames)) => frames,
        };
        let mut write = pin!(stream.write_all(frames));
        let written = poll_fn(|cx| match write.as_mut().poll(cx) {
            Poll::Ready((written, _)) => Poll::Ready(written),
            Poll::Pending => mailbox.poll_overflowed(cx).map(Err),
        })
        .await;
        if let Err(e) = written {
            return (Err(e), Vec::new());
        }
    }
}

/// Reads while another core's reply to this client is in flight; if that core hands the
/// reply back, writes it here meanwhile (the client may wait for it before sending more).
async fn read_beside(stream: &TcpStream, buf: Vec<u8>, direct: &mut Direct) -> BufResult<usize, Vec<u8>> {
    let mut read = pin!(stream.read(buf));
    let returned = poll_fn(|cx| match read.as_mut().poll(cx) {
        Poll::Ready(done) => Poll::Ready(Err(done)),
        Poll::Pending => direct.poll_returned(cx).map(Ok),
    })
    .await;
    let rest = match returned {
        Err(done) => return done,
        Ok(rest) => rest,
    };
    // Not `write_all`: its one call site in `serve` keeps it inlined there.
    let mut from = 0;
    while from < rest.len() {
        match stream.write(rest[from..].to_vec()).await.0 {
            Ok(0) => return (Err(io::ErrorKind::WriteZero.into()), Vec::new()),
            Ok(n) => from += n,
            Err(e) => return (Err(e), Vec::new()),
        }
    }
    read.await
}
