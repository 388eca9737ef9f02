//! One client connection: read, parse every complete request (pipelining), run them, write
//! all the replies at once.

use std::io;

use ringpoll::net::TcpStream;

use super::command::{plan, Plan};
use super::resp::{parse_request, Reply};
use super::shard::Shards;

/// How much one read asks for.
const READ_SIZE: usize = 16 * 1024;

/// Serves `stream` until the client closes it, sends QUIT, or sends malformed input (which
/// gets `-ERR Protocol error: ...` before the close, as Redis does).
pub async fn serve(stream: TcpStream, shards: &Shards) -> io::Result<()> {
    let mut pending = Vec::new();
    let mut read_buf = Vec::with_capacity(READ_SIZE);
    let mut out = Vec::with_capacity(READ_SIZE);
    loop {
        let (n, buf) = stream.read(read_buf).await;
        read_buf = buf;
        if n? == 0 {
            return Ok(());
        }
        pending.extend_from_slice(&read_buf);
        let (plans, used, malformed) = parse_all(&pending, shards.count());
        pending.drain(..used);
        let quit = shards.execute(plans, &mut out).await;
        if let Some(e) = &malformed {
            Reply::error(format!("ERR {e}")).encode(&mut out);
        }
        let (written, buf) = stream.write_all(out).await;
        out = buf;
        out.clear();
        written?;
        if quit || malformed.is_some() {
            return Ok(());
        }
    }
}

/// Every complete request at the front of `input`, the bytes they used, and the protocol
/// error that stopped the parse, if one did.
fn parse_all(input: &[u8], shards: usize) -> (Vec<Plan>, usize, Option<super::resp::ProtocolError>) {
    let mut plans = Vec::new();
    let mut used = 0;
    loop {
        match parse_request(&input[used..]) {
            Ok(Some((args, n))) => {
                used += n;
                if !args.is_empty() {
                    plans.push(plan(args, shards));
                }
            }
            Ok(None) => return (plans, used, None),
            Err(e) => return (plans, used, Some(e)),
        }
    }
}
