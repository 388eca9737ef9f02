//! [`Child`]: a spawned process, waited for through its pidfd on the core's reactor.

use std::io;
use std::process::{ExitStatus, Output};

use ringpoll_reactor::{Interest, Source};

use crate::pidfd;
use crate::pipe::{self, ChildStderr, ChildStdin, ChildStdout};
use crate::reaper;

/// A child process spawned by [`Command::spawn`](crate::Command::spawn), as tokio's `Child`.
///
/// Its exit is awaited on the core that spawned it: the child's pidfd is registered with
/// that core's reactor and turns readable when the child exits, and `waitid(P_PIDFD,
/// WNOHANG)` then reaps it. No SIGCHLD handler is installed and no thread blocks.
///
/// Dropped before it was reaped, the child is not left a zombie: it is reaped in the
/// background (a task on this core awaiting its exit; past the core's life, by the next
/// [`Command::spawn`](crate::Command::spawn) in the process), killed first (SIGKILL) if
/// [`kill_on_drop`](crate::Command::kill_on_drop) was set. Without it the child runs on.
///
/// `Child` is `!Send`: it belongs to the core that spawned it, like its pipes.
#[derive(Debug)]
pub struct Child {
    pid: u32,
    /// The pidfd on this core's reactor, until the child is reaped.
    pidfd: Option<Source>,
    /// How the child ended, once reaped.
    status: Option<ExitStatus>,
    kill_on_drop: bool,
    /// The write end of the child's stdin, if it was [piped](std::process::Stdio::piped).
    pub stdin: Option<ChildStdin>,
    /// The read end of the child's stdout, if it was [piped](std::process::Stdio::piped).
    pub stdout: Option<ChildStdout>,
    /// The read end of the child's stderr, if it was [piped](std::process::Stdio::piped).
    pub stderr: Option<ChildStderr>,
}

impl Child {
    /// Takes over a child std just spawned: its pidfd and pipes onto this core's reactor. If
    /// that fails, the child is killed and reaped before the error is returned, so a failed
    /// spawn leaves no process behind.
    pub(crate) fn adopt(mut std: std::process::Child, kill_on_drop: bool) -> io::Result<Child> {
        let pid = std.id();
        let pidfd = match pidfd::open(pid).and_then(Source::new) {
            Ok(pidfd) => pidfd,
            Err(e) => {
                // No pidfd to wait on: std's blocking wait, brief after SIGKILL.
                let _ = std.kill();
                let _ = std.wait();
                return Err(e);
            }
        };
        let (stdin, stdout, stderr) = (std.stdin.take(), std.stdout.take(), std.stderr.take());
        // Killed on drop until it is whole, so an error below takes the child with it.
        let mut child = Child {
            pid,
            pidfd: Some(pidfd),
            status: None,
            kill_on_drop: true,
            stdin: None,
            stdout: None,
            stderr: None,
        };
        child.stdin = stdin.map(ChildStdin::from_std).transpose()?;
        child.stdout = stdout.map(ChildStdout::from_std).transpose()?;
        child.stderr = stderr.map(ChildStderr::from_std).transpose()?;
        child.kill_on_drop = kill_on_drop;
        Ok(child)
    }

    /// The child's process id, while it has one: `None` once it has been reaped (by
    /// [`wait`](Self::wait) or [`try_wait`](Self::try_wait)), when the id may already name
    /// another process.
    pub fn id(&self) -> Option<u32> {
        self.pidfd.as_ref().map(|_| self.pid)
    }

    /// Waits for the child to exit and reaps it; returns at once with the status if it was
    /// reaped before. Closes the child's stdin first (if piped and still here), so a child
    /// that reads to end of file can finish. Dropping the future loses nothing: the child is
    /// reaped by the next wait (or in the background when the `Child` is dropped).
    ///
    /// ```no_run
    /// # ringpoll::block_on(async {
    /// use ringpoll::process::Command;
    ///
    /// let mut child = Command::new("sleep").arg("1").spawn()?;
    /// let status = child.wait().await?;
    /// assert!(status.success());
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub async fn wait(&mut self) -> io::Result<ExitStatus> {
        drop(self.stdin.take());
        let Some(pidfd) = &self.pidfd else {
            return Ok(self.status.expect("a child without its pidfd was reaped"));
        };
        // The pidfd turns readable when the child exits; till then waitid says "not yet",
        // which the readiness loop takes as EAGAIN and waits for the next readiness.
        let status =
            pidfd.retry(Interest::Read, || pidfd::try_reap(pidfd)?.ok_or(io::ErrorKind::WouldBlock.into())).await?;
        Ok(self.reaped(status))
    }

    /// Reaps the child if it has exited, without waiting: `None` while it runs. Unlike
    /// [`wait`](Self::wait) it leaves stdin open.
    pub fn try_wait(&mut self) -> io::Result<Option<ExitStatus>> {
        let Some(pidfd) = &self.pidfd else {
            return Ok(self.status);
        };
        Ok(pidfd::try_reap(pidfd)?.map(|status| self.reaped(status)))
    }

    /// Records the child's end and closes its pidfd.
    fn reaped(&mut self, status: ExitStatus) -> ExitStatus {
        self.pidfd = None;
        self.status = Some(status);
        status
    }

    /// Sends SIGKILL to the child, without waiting for it to die (through its pidfd, so it
    /// can never reach another process that reused the id). `Ok` if the child was already
    /// reaped, as std's `Child::kill` is.
    pub fn start_kill(&mut self) -> io::Result<()> {
        match &self.pidfd {
            Some(pidfd) => pidfd::send_signal(pidfd.fd(), libc::SIGKILL),
            None => Ok(()),
        }
    }

    /// Kills the child (SIGKILL) and waits for it: its status then says it was signalled
    /// (unless it had exited before the signal).
    ///
    /// ```no_run
    /// # ringpoll::block_on(async {
    /// use std::os::unix::process::ExitStatusExt;
    ///
    /// let mut child = ringpoll::process::Command::new("sleep").arg("30").spawn()?;
    /// child.kill().await?;
    /// assert_eq!(child.try_wait()?.and_then(|status| status.signal()), Some(9));
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub async fn kill(&mut self) -> io::Result<()> {
        self.start_kill()?;
        self.wait().await.map(drop)
    }

    /// Waits for the child to exit, collecting what it writes to its piped stdout and stderr
    /// (read together, so a child that fills one pipe is never stuck while the other is
    /// read; an output that was not piped comes back empty). Closes stdin first.
    ///
    /// ```no_run
    /// # ringpoll::block_on(async {
    /// use std::process::Stdio;
    ///
    /// let child = ringpoll::process::Command::new("uname").stdout(Stdio::piped()).spawn()?;
    /// let output = child.wait_with_output().await?;
    /// assert_eq!(output.stdout, b"Linux\n");
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub async fn wait_with_output(mut self) -> io::Result<Output> {
        drop(self.stdin.take());
        let (stdout, stderr) = (self.stdout.take(), self.stderr.take());
        let (stdout, stderr) = pipe::read_both(stdout.as_ref(), stderr.as_ref()).await?;
        let status = self.wait().await?;
        Ok(Output { status, stdout, stderr })
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        let Some(pidfd) = self.pidfd.take() else {
            return;
        };
        if self.kill_on_drop {
            // ESRCH cannot happen (an unreaped child is at least a zombie); nothing to do
            // about another error but reap what runs.
            let _ = pidfd::send_signal(pidfd.fd(), libc::SIGKILL);
        }
        reaper::reap_in_background(self.pid, pidfd);
    }
}
