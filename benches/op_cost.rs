//! What one request costs the op layer, in user-space instructions, and how big its futures
//! are.
//!
//! One thread (`block_on`), one loopback TCP connection, client and server in the same
//! process: the client writes 1 KiB and reads it back, `N` times; the server is the echo
//! example's task (`read_pooled`, then `write_all` of the pooled buffer). `N` is the first
//! argument (default 10,000); `RINGPOLL_DRIVER` picks the driver. Before the run it prints the
//! sizes of the op futures (`read`, `write_all`, `read_pooled`, `accept`, `write_all` of a
//! pooled buffer), of a `TcpStream`, and of the echo task's future (the example's, and the
//! same loop as an `async fn`), the figures that bound a parked connection's memory.
//!
//! A second argument `vec` makes the server read into a 16 KiB buffer of its own (`read`, not
//! `read_pooled`), the path every build before pooled reads ran: the same workload can then be
//! built at such a commit and the two counts compared.
//!
//! Instructions per round trip, both sides, setup cancelled out: run it under callgrind for
//! two values of `N` and divide the difference (repeat runs agree within a few thousandths of a
//! percent, so this works on a loaded machine, where timings do not):
//!
//! ```text
//! cargo bench -p ringpoll-benches --bench op_cost --no-run
//! BIN=$(ls -t target/release/deps/op_cost-* | grep -v '\.d$' | head -1)
//! for n in 2000 12000; do
//!     RINGPOLL_DRIVER=epoll valgrind --tool=callgrind --callgrind-out-file=/tmp/cg.$n $BIN $n
//! done
//! # Ir per round trip = (Ir at 12000 - Ir at 2000) / 10000, Ir from each run's "Collected" line
//! ```
//! `benches/op_cost.sh` does exactly that for both drivers.

use std::future::Future;
use std::io;
use std::mem::size_of_val;
use std::net::SocketAddr;

use ringpoll::buf::PooledBuf;
use ringpoll::net::{TcpListener, TcpStream};

/// Bytes per request.
const MSG: usize = 1024;

/// The echo loop as the `read_pooled` docs write it.
async fn echo(stream: TcpStream) -> io::Result<()> {
    loop {
        let buf = stream.read_pooled().await?;
        if buf.is_empty() {
            return Ok(());
        }
        stream.write_all(buf).await.0?;
    }
}

/// The echo example's task, the example's own code.
#[path = "../examples/echo/connection.rs"]
mod connection;
use connection::echo as echo_task;

/// The echo loop reading into a buffer of its own, as servers did before pooled reads.
async fn echo_vec(stream: TcpStream) -> io::Result<()> {
    let mut buf = Vec::with_capacity(16 * 1024);
    loop {
        let (n, b) = stream.read(buf).await;
        if n? == 0 {
            return Ok(());
        }
        let (res, b) = stream.write_all(b).await;
        res?;
        buf = b;
    }
}

fn size<F: Future>(f: F) -> usize {
    size_of_val(&f)
}

/// The size of the future `make` returns, without calling it.
fn output_size<F: Future>(_make: fn(TcpStream) -> F) -> usize {
    std::mem::size_of::<F>()
}

fn main() -> io::Result<()> {
    let rounds: usize = std::env::args().nth(1).map_or(Ok(10_000), |n| n.parse()).map_err(io::Error::other)?;
    let own_buffer = std::env::args().nth(2).is_some_and(|mode| mode == "vec");
    ringpoll::block_on(run(rounds, own_buffer))
}

async fn run(rounds: usize, own_buffer: bool) -> io::Result<()> {
    let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))?;
    let addr = listener.local_addr()?;
    let accept_size = size(listener.accept());
    let client = TcpStream::connect_addr(addr).await?;
    let (server, _) = listener.accept().await?;
    client.set_nodelay(true)?;
    server.set_nodelay(true)?;

    println!("future sizes (bytes):");
    println!("  read(Vec<u8>)          {}", size(client.read(Vec::<u8>::with_capacity(MSG))));
    println!("  write_all(Vec<u8>)     {}", size(client.write_all(Vec::<u8>::new())));
    println!("  read_pooled()          {}", size(client.read_pooled()));
    println!("  accept()               {accept_size}");
    println!("  write_all(PooledBuf)   {}", write_all_pooled_size(&client));
    println!("  TcpStream              {}", std::mem::size_of::<TcpStream>());
    println!("  echo loop (async fn)   {}", output_size(echo));
    println!("  echo task (example)    {}", output_size(echo_task));
    let served = if own_buffer { ringpoll::spawn(echo_vec(server)) } else { ringpoll::spawn(echo_task(server)) };

    let mut out = vec![0x5a_u8; MSG];
    let mut back = Vec::with_capacity(MSG);
    for _ in 0..rounds {
        let (res, buf) = client.write_all(out).await;
        res?;
        out = buf;
        let mut got = 0;
        while got < MSG {
            let (res, buf) = client.read(back).await;
            back = buf;
            match res? {
                0 => return Err(io::ErrorKind::UnexpectedEof.into()),
                n => got += n,
            }
        }
    }
    assert!(back.iter().all(|&b| b == 0x5a), "the echo came back intact");
    client.shutdown(std::net::Shutdown::Write)?;
    served.await.map_err(|e| io::Error::other(e.to_string()))??;
    println!("{rounds} round trips of {MSG} bytes");
    Ok(())
}

/// The size of `write_all` of a pooled buffer, without taking one from the pool.
fn write_all_pooled_size(stream: &TcpStream) -> usize {
    fn of<'a, F: Future + 'a>(_: &impl Fn(PooledBuf) -> F) -> usize {
        std::mem::size_of::<F>()
    }
    of(&|buf| stream.write_all(buf))
}
