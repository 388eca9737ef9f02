//! One client connection: read, run every complete request (pipelining) in place, write
//! all the replies at once.

use std::io;

use ringpoll::net::TcpStream;

use super::pipeline::{End, Pipeline};
use super::shard::Shards;

/// How much one read asks for.
const READ_SIZE: usize = 16 * 1024;

/// Serves `stream` until the client closes it, sends QUIT, or sends malformed input (which
/// gets `-ERR Protocol error: ...` before the close, as Redis does).
pub async fn serve(stream: TcpStream, shards: &Shards) -> io::Result<()> {
    // The start of a request not complete yet; most reads end on a request's end, and are
    // parsed where they were read.
    let mut partial = Vec::new();
    let mut read_buf = Vec::with_capacity(READ_SIZE);
    let mut pipeline = Pipeline::new(READ_SIZE);
    loop {
        let (n, buf) = stream.read(read_buf).await;
        read_buf = buf;
        if n? == 0 {
            return Ok(());
        }
        let end = if partial.is_empty() {
            let (used, end) = pipeline.run(&read_buf, shards);
            partial.extend_from_slice(&read_buf[used..]);
            end
        } else {
            partial.extend_from_slice(&read_buf);
            let (used, end) = pipeline.run(&partial, shards);
            partial.drain(..used);
            end
        };
        let out = pipeline.replies().await;
        let (written, out) = stream.write_all(out).await;
        pipeline.recycle(out);
        written?;
        if !matches!(end, End::More) {
            return Ok(());
        }
    }
}
