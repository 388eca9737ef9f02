//! A thread that builds a runtime, or probes io_uring, keeps its blocking calls: the kernel
//! tears a closed ring down later and may then interrupt the thread that made it (task work
//! sent with TWA_SIGNAL), so a blocking call with a timeout would fail with EINTR. The probe
//! runs on a thread of its own for that reason; this test holds it to it.

use std::io::ErrorKind;
use std::net::UdpSocket;
use std::time::{Duration, Instant};

use ringpoll::{DriverChoice, Runtime};

#[test]
fn building_a_runtime_leaves_the_builder_thread_uninterrupted() {
    let driver = DriverChoice::from_env().unwrap();
    for _ in 0..3 {
        let rt = Runtime::builder().cores([0]).driver(driver).build().unwrap();
        drop(rt);
    }
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket.set_read_timeout(Some(Duration::from_millis(100))).unwrap();
    let start = Instant::now();
    let mut buf = [0u8; 16];
    for round in 0..10 {
        let err = socket.recv(&mut buf).expect_err("nothing was sent");
        assert!(
            matches!(err.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut),
            "round {round}: a blocking recv on the builder thread failed with {err} ({:?})",
            err.kind()
        );
    }
    assert!(start.elapsed() < Duration::from_secs(10));
}
