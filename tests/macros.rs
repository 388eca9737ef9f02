//! `#[ringpoll::main]` and `#[ringpoll::test]` used as a program and its tests would.

use std::cell::Cell;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use ringpoll::net::{TcpListener, TcpStream};

#[ringpoll::test]
async fn a_test_runs_on_a_core_with_timers_and_tasks() {
    let ran = Rc::new(Cell::new(false)); // !Send is fine: the test runs on one core
    let flag = ran.clone();
    ringpoll::spawn(async move { flag.set(true) }).await.unwrap();
    ringpoll::time::sleep(Duration::from_millis(1)).await;
    assert!(ran.get());
    assert!(ringpoll::current_core().is_some());
}

#[ringpoll::test(driver = "epoll")]
async fn a_test_can_force_its_driver() -> std::io::Result<()> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let client = TcpStream::connect(listener.local_addr()?).await?;
    let (server, _) = listener.accept().await?;
    let (res, _) = client.write_all(b"ping".to_vec()).await;
    res?;
    let (n, buf) = server.read(Vec::with_capacity(4)).await;
    assert_eq!(&buf[..n?], b"ping");
    Ok(())
}

static BODIES: AtomicUsize = AtomicUsize::new(0);

/// A `main` for two cores: the body runs once on each.
#[ringpoll::main(cores = [0, 0])]
async fn two_core_main() -> Result<usize, String> {
    BODIES.fetch_add(1, Ordering::SeqCst);
    ringpoll::time::sleep(Duration::from_millis(1)).await;
    Ok(ringpoll::current_core().expect("on a core"))
}

/// A `main` whose second core fails: the error is main's result.
#[ringpoll::main(cores = [0, 0], driver = "auto")]
async fn failing_main() -> Result<(), String> {
    match ringpoll::current_core() {
        Some(1) => Err("core 1 failed".into()),
        _ => Ok(()),
    }
}

#[ringpoll::main]
async fn one_thread_main() -> u32 {
    ringpoll::spawn(async { 41 }).await.unwrap() + 1
}

#[test]
fn main_runs_the_body_on_each_listed_core() {
    BODIES.store(0, Ordering::SeqCst);
    assert_eq!(two_core_main(), Ok(0));
    assert_eq!(BODIES.load(Ordering::SeqCst), 2);
    assert_eq!(failing_main(), Err("core 1 failed".to_string()));
}

#[test]
fn main_without_cores_runs_once_on_this_thread() {
    assert_eq!(one_thread_main(), 42);
}
