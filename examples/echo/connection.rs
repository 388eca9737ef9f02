//! The echo example's connection task. The benches and tests that report the example's
//! figures (`benches/op_cost.rs`, the peers bench's ringpoll server, `tests/idle_memory.rs`)
//! include this file, so what they measure is this code, not a copy of it.

use std::future::Future;
use std::io;

use ringpoll::net::TcpStream;

/// Pooled reads: the buffer comes from the core's pool when bytes arrive and goes back once
/// they are written, so an idle connection holds none.
///
/// Shaped for a small task: an `async move` block keeps `stream` once (an `async fn` keeps its
/// argument and the local it is moved into side by side), and the block around the read ends
/// the borrowed `buf`'s storage before the write is awaited. The loop of the `read_pooled`
/// docs does the same work in a task some 150 bytes larger (see `benches/op_cost.rs`).
// An async fn would store `stream` twice (its argument and the local it moves into).
#[allow(clippy::manual_async_fn)]
pub fn echo(stream: TcpStream) -> impl Future<Output = io::Result<()>> {
    async move {
        loop {
            let buf = {
                let buf = stream.read_pooled().await?;
                if buf.is_empty() {
                    return Ok(());
                }
                buf
            };
            stream.write_all(buf).await.0?;
        }
    }
}
