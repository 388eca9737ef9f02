//! SO_REUSEPORT shares a port within this process only: a port another process holds (here a
//! second copy of this test binary, a ringpoll program too) fails with `AddrInUse` unless
//! `reuseport_across_processes` joins it on purpose; the cores of a runtime still share one;
//! dropping every socket of a port lets it go; port 0 works; the probe leaks no descriptor.

mod support;

use std::future::{poll_fn, Future};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::pin::pin;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant};

use ringpoll::net::{TcpBuilder, TcpListener, UdpBuilder, UdpSocket};
use ringpoll::time::timeout;
use support::*;

/// Set in the environment of a child running [`port_holder_child`]: what it binds.
const HOLD: &str = "RINGPOLL_TEST_HOLD";

/// What a child process binds: a TCP listener or a UDP socket, with ringpoll's defaults or
/// across processes.
#[derive(Clone, Copy)]
enum Hold {
    Tcp,
    Udp,
    TcpAcross,
}

impl Hold {
    fn name(self) -> &'static str {
        match self {
            Hold::Tcp => "tcp",
            Hold::Udp => "udp",
            Hold::TcpAcross => "tcp-across",
        }
    }
}

/// A second process (this test binary, running only [`port_holder_child`]) that binds a port
/// and holds it until dropped. Its pipes are descriptors of this process: tests start and
/// stop it inside `run_leak_free`, under the fd lock.
struct Holder {
    child: Child,
    stdin: Option<ChildStdin>,
    /// Reads the child's stdout to its end (its pipe closes with the thread).
    reader: Option<std::thread::JoinHandle<()>>,
    /// The port the child bound, or the kind of error its bind failed with.
    bound: Result<u16, String>,
}

impl Holder {
    /// Starts the child, which binds `127.0.0.1:port` as `hold` says, and waits (10 s at
    /// most) for it to say how that went.
    fn start(hold: Hold, port: u16) -> Holder {
        let mut child = Command::new(std::env::current_exe().expect("test binary"))
            .args(["--exact", "port_holder_child", "--nocapture", "--test-threads=1"])
            .env(HOLD, format!("{} {port}", hold.name()))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn the holder");
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        let reader = std::thread::spawn(move || {
            // The harness prints "test port_holder_child ... " before the report.
            let mut lines = BufReader::new(stdout).lines().map_while(Result::ok);
            let report = lines.find_map(|l| l.split_once("holder: ").map(|(_, report)| report.to_owned()));
            let _ = tx.send(report);
            // Read to the end: a closed pipe would fail the harness's last lines.
            lines.for_each(drop);
        });
        let mut holder = Holder { child, stdin, reader: Some(reader), bound: Err(String::new()) };
        let report = rx.recv_timeout(Duration::from_secs(10)).expect("the holder reports within 10 s");
        let report = report.expect("the holder reports its bind");
        holder.bound = match report.strip_prefix("bound ") {
            Some(port) => Ok(port.parse().expect("a port")),
            None => Err(report.to_owned()),
        };
        holder
    }

    fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], *self.bound.as_ref().expect("the holder bound")))
    }

    /// Closes the child's stdin, so it drops its socket and exits; waits 10 s at most.
    fn stop(mut self) {
        drop(self.stdin.take());
        let status = wait_within(&mut self.child, Duration::from_secs(10)).expect("the holder exits within 10 s");
        assert!(status.success(), "the holder failed: {status}");
        // The child has exited, so its stdout is at its end: the join is quick.
        self.reader.take().expect("one reader").join().expect("the reader");
    }
}

impl Drop for Holder {
    fn drop(&mut self) {
        if self.stdin.is_some() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The child's side of [`Holder`]: a no-op unless [`HOLD`] is set. Binds, reports
/// `holder: bound PORT` or `holder: KIND`, and keeps the socket until stdin closes.
#[test]
fn port_holder_child() {
    let Ok(spec) = std::env::var(HOLD) else { return };
    let (hold, port) = spec.split_once(' ').expect("KIND PORT");
    let addr = SocketAddr::from(([127, 0, 0, 1], port.parse::<u16>().expect("a port")));
    run(async move {
        let bound = match hold {
            "tcp" => TcpListener::bind(addr).map(|l| (l.local_addr().unwrap(), Box::new(l) as Box<dyn std::any::Any>)),
            "tcp-across" => TcpBuilder::new()
                .reuseport_across_processes(true)
                .listen(addr)
                .map(|l| (l.local_addr().unwrap(), Box::new(l) as Box<dyn std::any::Any>)),
            "udp" => UdpSocket::bind(addr).map(|s| (s.local_addr().unwrap(), Box::new(s) as Box<dyn std::any::Any>)),
            other => panic!("unknown hold {other}"),
        };
        match bound {
            Ok((local, socket)) => {
                println!("holder: bound {}", local.port());
                let _ = io::stdin().read_to_end(&mut Vec::new());
                drop(socket);
            }
            Err(e) => {
                println!("holder: {:?}", e.kind());
                let _ = io::stdin().read_to_end(&mut Vec::new());
            }
        }
    });
}

#[test]
fn a_tcp_port_another_process_holds_is_refused_unless_joined_on_purpose() {
    run_leak_free(async {
        let holder = Holder::start(Hold::Tcp, 0);
        let addr = holder.addr();
        let err = TcpListener::bind(addr).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AddrInUse, "{err}");
        assert!(err.to_string().contains("reuseport_across_processes"), "the error says the way out: {err}");
        // Refused again, not joined: the failed bind left no claim behind.
        let err = TcpBuilder::new().backlog(16).listen(addr).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AddrInUse, "{err}");
        // [::] overlaps 127.0.0.1 only as a dual-stack socket: the probe is made alike.
        let any_v6 = SocketAddr::from((std::net::Ipv6Addr::UNSPECIFIED, addr.port()));
        let err = TcpBuilder::new().only_v6(false).listen(any_v6).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AddrInUse, "{err}");
        drop(TcpBuilder::new().only_v6(true).listen(any_v6).unwrap());

        let joined = TcpBuilder::new().reuseport_across_processes(true).listen(addr).unwrap();
        assert_eq!(joined.local_addr().unwrap(), addr);
        // Now this process holds the port too: its other cores join without the option.
        let second = TcpListener::bind(addr).unwrap();
        drop((joined, second));
        holder.stop();
    });
}

#[test]
fn a_udp_port_another_process_holds_is_refused_unless_joined_on_purpose() {
    run_leak_free(async {
        let holder = Holder::start(Hold::Udp, 0);
        let addr = holder.addr();
        let err = UdpSocket::bind(addr).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AddrInUse, "{err}");
        let joined = UdpBuilder::new().reuseport_across_processes(true).bind(addr).unwrap();
        assert_eq!(joined.local_addr().unwrap(), addr);
        drop(joined);
        holder.stop();
    });
}

#[test]
fn another_process_is_refused_a_port_this_one_holds() {
    run_leak_free(async {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        // A second copy of a ringpoll server, started by mistake, fails...
        let copy = Holder::start(Hold::Tcp, port);
        assert_eq!(copy.bound, Err("AddrInUse".to_owned()));
        copy.stop();
        // ...and one that means to (a zero-downtime restart) joins.
        let successor = Holder::start(Hold::TcpAcross, port);
        assert_eq!(successor.bound, Ok(port));
        successor.stop();
        drop(listener);
    });
}

#[test]
fn dropping_every_socket_of_a_port_lets_it_go() {
    run_leak_free(async {
        let first = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = first.local_addr().unwrap();
        let second = TcpListener::bind(addr).unwrap();
        // Accepts in flight (multishot accepts on io_uring) when the listeners drop.
        start_and_drop(first.accept()).await;
        start_and_drop(second.accept()).await;
        drop((first, second));
        // At once, with no turn of the driver between the drop and the bind.
        let again = TcpListener::bind(addr).unwrap();
        let port = addr.port();
        drop(again);

        // Gone from the registry: a port another process took since is refused.
        let holder = Holder::start(Hold::Tcp, port);
        assert_eq!(holder.bound, Ok(port), "the port was let go");
        let err = TcpListener::bind(addr).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AddrInUse, "{err}");
        holder.stop();
        // And once that process has gone, it binds again.
        drop(TcpListener::bind(addr).unwrap());

        let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = udp.local_addr().unwrap();
        drop(udp);
        drop(UdpSocket::bind(addr).unwrap());
    });
}

/// A socket dropped with an op in the kernel that began in an earlier turn (a receive, an
/// accept that a timeout gave up on) lets its port go at once too: on io_uring the op holds
/// the socket until its cancellation has run, which the close now runs before it returns.
#[test]
fn a_port_is_let_go_at_once_even_with_an_older_op_in_flight() {
    run_leak_free(async {
        let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = udp.local_addr().unwrap();
        start_and_drop(udp.recv_from(vec![0u8; 64])).await;
        ringpoll::yield_now().await;
        drop(udp);
        drop(UdpSocket::bind(addr).expect("the UDP port is free at once"));

        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        assert!(timeout(Duration::from_millis(50), listener.accept()).await.is_err(), "nobody connects");
        drop(listener);
        drop(TcpListener::bind(addr).expect("the TCP port is free at once"));
    });
}

#[test]
fn port_zero_binds_a_port_this_process_then_shares() {
    run_leak_free(async {
        for _ in 0..32 {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = listener.local_addr().unwrap();
            assert_ne!(addr.port(), 0);
            // The kernel's port is the one counted: a second listener joins it.
            let second = TcpListener::bind(addr).unwrap();
            let client = std::net::TcpStream::connect(addr).unwrap();
            let (mut a, mut b) = (pin!(listener.accept()), pin!(second.accept()));
            let either = poll_fn(|cx| match a.as_mut().poll(cx) {
                Poll::Pending => b.as_mut().poll(cx),
                ready => ready,
            });
            let (_stream, peer) =
                timeout(Duration::from_secs(10), either).await.expect("accepted within 10 s").unwrap();
            assert_eq!(peer, client.local_addr().unwrap());

            let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
            let addr = udp.local_addr().unwrap();
            assert_ne!(addr.port(), 0);
            drop(UdpSocket::bind(addr).unwrap());
        }
    });
}

#[test]
fn the_cores_of_a_runtime_share_a_port_and_both_accept() {
    // A free port, for both cores to bind at once (each in its own bind, racing on the lock).
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    const CONNECTIONS: usize = 64;
    assert_no_fd_leak(|| {
        let rt = two_core_runtime();
        let bound = Arc::new(std::sync::Barrier::new(3));
        let accepted = Arc::new(AtomicUsize::new(0));
        let servers = rt.run_on_each_core({
            let (bound, accepted) = (bound.clone(), accepted.clone());
            move |_core| {
                let (bound, accepted) = (bound.clone(), accepted.clone());
                async move {
                    let listener = TcpListener::bind(addr);
                    bound.wait();
                    let listener = listener?;
                    let deadline = Instant::now() + Duration::from_secs(10);
                    let mut mine = 0;
                    // Short accept deadlines, so a core sees the other take the last one.
                    while accepted.load(Ordering::SeqCst) < CONNECTIONS && Instant::now() < deadline {
                        listener.set_accept_deadline(Some(Instant::now() + Duration::from_millis(50)));
                        match listener.accept().await {
                            Ok(_) => {
                                mine += 1;
                                accepted.fetch_add(1, Ordering::SeqCst);
                            }
                            Err(e) if e.kind() == io::ErrorKind::TimedOut => {}
                            Err(e) => return Err(e),
                        }
                    }
                    Ok::<usize, io::Error>(mine)
                }
            }
        });
        bound.wait();
        let clients: Vec<_> = (0..CONNECTIONS).map(|_| std::net::TcpStream::connect(addr)).collect();
        let per_core: Vec<usize> = servers.into_iter().map(|s| join_within(s, 20).expect("bind and accept")).collect();
        drop(clients);
        assert_eq!(per_core.iter().sum::<usize>(), CONNECTIONS, "{per_core:?}");
        // The kernel hashes each connection to a core: 64 all on one is a 1 in 2^63 chance.
        assert!(per_core.iter().all(|&n| n > 0), "both cores accept: {per_core:?}");
        drop(rt);
    });
}

#[test]
fn a_socket_given_to_std_leaves_the_count_and_one_taken_from_std_joins_it() {
    run_leak_free(async {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        // In std's hands the port is not counted: a bind is refused, as for another process.
        let std_listener = listener.into_std().unwrap();
        let err = TcpListener::bind(addr).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AddrInUse, "{err}");
        // Back in ringpoll (SO_REUSEPORT still set), it is counted and the cores join it.
        let listener = TcpListener::from_std(std_listener).unwrap();
        let second = TcpListener::bind(addr).unwrap();
        drop((listener, second));

        let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = udp.local_addr().unwrap();
        let std_udp = udp.into_std().unwrap();
        let err = UdpSocket::bind(addr).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AddrInUse, "{err}");
        let udp = UdpSocket::from_std(std_udp).unwrap();
        drop((udp, UdpSocket::bind(addr).unwrap()));
    });
}

/// The report this change answers, as a user meets it: the echo example started twice on one
/// port. The second copy must exit with the error instead of taking half the connections.
/// Runs when `cargo test` has built the examples beside this binary.
#[test]
fn the_echo_example_started_twice_fails_the_second_time() {
    let Some(bin) = example("echo") else { return };
    // Pipes are descriptors: keep the fd-counting tests of this binary from seeing them.
    let _fds = fd_lock();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let args = ["--addr", &format!("127.0.0.1:{port}"), "--cores", "0"];
    let first = run_example(&bin, &args, "echo on ");
    assert_eq!(first.listening_addr().port(), port, "the first copy listens within 10 s");

    let mut second = run_example(&bin, &args, "echo on ");
    let second = &mut second.child.0;
    let status = wait_within(second, Duration::from_secs(10)).expect("the second copy exits within 10 s");
    let mut stderr = String::new();
    second.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("is in use") && stderr.contains("reuseport_across_processes"), "{stderr}");

    drop(first);
}

/// With port 0 the echo example says which port the kernel picked, the same on every core
/// (core 0 picks, the others bind to its port), and echoes there. Runs when `cargo test` has
/// built the examples beside this binary.
#[test]
fn the_echo_example_on_port_0_listens_on_one_port_on_every_core() {
    let Some(bin) = example("echo") else { return };
    let _fds = fd_lock();
    // Two cores on CPU 0: two listeners wherever the test runs.
    let echo = run_example(&bin, &["--addr", "127.0.0.1:0", "--cores", "0,0"], "echo on ");
    let addrs = [echo.listening_addr(), echo.listening_addr()];
    assert_ne!(addrs[0].port(), 0, "the port the kernel picked, not the one asked for");
    assert_eq!(addrs[0], addrs[1], "every core listens on the port core 0 was given");
    for i in 0..8u8 {
        let mut client = std::net::TcpStream::connect(addrs[0]).expect("connect to the printed address");
        client.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        client.write_all(&[b'p', i]).unwrap();
        let mut back = [0u8; 2];
        client.read_exact(&mut back).unwrap();
        assert_eq!(back, [b'p', i]);
    }
    drop(echo);
}
