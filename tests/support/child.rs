//! Example binaries run as child processes, as users run them.

use std::path::PathBuf;
use std::process::{Child, ExitStatus};
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
