//! Example binaries run as child processes, as users run them.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::Receiver;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The example binary `name` that `cargo test` built beside this test binary, if it did (a
/// `--test` run alone builds none: such tests then skip).
pub fn example(name: &str) -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let bin = exe.parent()?.parent()?.join("examples").join(name);
    bin.exists().then_some(bin)
}

/// A child process killed (SIGKILL) and reaped when dropped, if it still runs.
pub struct KillOnDrop(pub Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The child's exit status, or `None` if it runs on past `limit`.
pub fn wait_within(child: &mut Child, limit: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if let Some(status) = child.try_wait().expect("wait for the child") {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    None
}

/// An example server started by [`run_example`]: stdin closed, stderr piped for the test to
/// read, stdout read on a thread of its own for the addresses it says it listens on. Dropped,
/// the child is killed and the thread joined.
pub struct Running {
    pub child: KillOnDrop,
    addrs: Receiver<String>,
    reader: Option<JoinHandle<()>>,
}

/// Starts example `bin` with `args`. Each stdout line with `marker` in it names an address
/// right after it (up to a space or a comma), which [`Running::listening_addr`] returns.
pub fn run_example(bin: &Path, args: &[&str], marker: &str) -> Running {
    let mut child = KillOnDrop(
        Command::new(bin)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {}: {e}", bin.display())),
    );
    let stdout = child.0.stdout.take().expect("piped stdout");
    let (tx, addrs) = std::sync::mpsc::channel();
    let marker = marker.to_owned();
    let reader = std::thread::spawn(move || {
        // Read to the end, so the child never blocks on a full pipe.
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(after) = line.split(marker.as_str()).nth(1) {
                let _ = tx.send(after.split([',', ' ']).next().unwrap_or_default().to_owned());
            }
        }
    });
    Running { child, addrs, reader: Some(reader) }
}

impl Running {
    /// The next address the example says it listens on, within 10 s.
    pub fn listening_addr(&self) -> SocketAddr {
        let said = self.addrs.recv_timeout(Duration::from_secs(10)).expect("a listening line within 10 s");
        said.parse().unwrap_or_else(|e| panic!("{said:?} is not an address: {e}"))
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.0.kill();
        let _ = self.child.0.wait();
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
    }
}

/// Runs test `name` of this binary again in a child process with `env` set (the test sees it
/// and plays the child's part); returns its exit status and stdout, killed after `secs`.
pub fn rerun_as_child(name: &str, env: &str, secs: u64) -> (ExitStatus, String) {
    let child = Command::new(std::env::current_exe().unwrap())
        .args([name, "--exact", "--nocapture", "--test-threads=1"])
        .env(env, "1")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut child = KillOnDrop(child);
    let status = wait_within(&mut child.0, Duration::from_secs(secs)).expect("the child finished in time");
    let mut out = String::new();
    std::io::Read::read_to_string(child.0.stdout.as_mut().unwrap(), &mut out).unwrap();
    (status, out)
}
