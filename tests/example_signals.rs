//! Every server example, run as the binary a user runs, stops cleanly on SIGINT and on
//! SIGTERM while a client holds a connection open: exit status 0 within its one-second grace
//! (and a few seconds' margin), a "stopped" line on stderr. Runs the binaries `cargo test`
//! builds beside this one; skips an example that is not built (a `--test` run alone).

mod support;

use std::io::Read;
use std::net::TcpStream;
use std::time::Duration;

use support::{example, run_example, wait_within};

/// Starts `bin` with `args` (which ask for port 0 on one core), waits for the line naming the
/// address it listens on (after `marker`), connects a client that stays idle, sends
/// `signal`, and checks the exit and the stderr.
fn stops_cleanly(name: &str, args: &[&str], marker: &str, signal: i32) {
    let Some(bin) = example(name) else { return };
    let mut example = run_example(&bin, args, marker);
    let idle = TcpStream::connect(example.listening_addr()).expect("connect to the example");
    // Accepted, its task parked.
    std::thread::sleep(Duration::from_millis(100));
    let child = &mut example.child.0;
    // SAFETY: kill takes no pointers; the pid is our own child's, not reaped yet.
    assert_eq!(unsafe { libc::kill(child.id() as i32, signal) }, 0);
    let status = wait_within(child, Duration::from_secs(10));
    let status = status.unwrap_or_else(|| panic!("{name} still runs 10 s after signal {signal}"));
    let mut stderr = String::new();
    child.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
    assert_eq!(status.code(), Some(0), "{name} after signal {signal}: {stderr}");
    assert!(stderr.contains(&format!("{name}: stopped")), "{name} after signal {signal}: {stderr}");
    drop(idle);
}

#[test]
fn echo_stops_cleanly_on_sigint_and_sigterm() {
    for signal in [libc::SIGINT, libc::SIGTERM] {
        stops_cleanly("echo", &["--addr", "127.0.0.1:0", "--cores", "0"], "echo on ", signal);
    }
}

#[test]
fn kv_stops_cleanly_on_sigint_and_sigterm() {
    for signal in [libc::SIGINT, libc::SIGTERM] {
        stops_cleanly("kv", &["--addr", "127.0.0.1:0", "--cores", "0"], "kv on ", signal);
    }
}

#[test]
fn proxy_stops_cleanly_on_sigint_and_sigterm() {
    // An upstream that accepts and holds, so the idle client's pair is open when the signal
    // comes.
    let upstream = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let to = upstream.local_addr().unwrap().to_string();
    for signal in [libc::SIGINT, libc::SIGTERM] {
        let args = ["--listen", "127.0.0.1:0", "--upstream", to.as_str(), "--cores", "0"];
        stops_cleanly("proxy", &args, "proxy ", signal);
    }
}

#[test]
fn fileserver_stops_cleanly_on_sigint_and_sigterm() {
    let root = std::env::temp_dir().join(format!("ringpoll-example-signals-{}", std::process::id()));
    std::fs::create_dir_all(&root).unwrap();
    for signal in [libc::SIGINT, libc::SIGTERM] {
        let args = ["--root", root.to_str().unwrap(), "--addr", "127.0.0.1:0", "--cores", "0"];
        stops_cleanly("fileserver", &args, " on ", signal);
    }
    let _ = std::fs::remove_dir_all(&root);
}

/// The hyper example, in the `interop` crate (built by `cargo test --workspace`).
#[test]
fn http_stops_cleanly_on_sigint_and_sigterm() {
    for signal in [libc::SIGINT, libc::SIGTERM] {
        stops_cleanly("http", &["--addr", "127.0.0.1:0", "--cores", "0"], "http on ", signal);
    }
}
