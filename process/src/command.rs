//! [`Command`]: std's process builder, spawning children this core can await.

use std::ffi::OsStr;
use std::io;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{ExitStatus, Output, Stdio};

use crate::child::Child;
use crate::reaper;

/// A process builder, as tokio's `Command`: std's [`std::process::Command`] inside, with
/// async [`status`](Self::status) and [`output`](Self::output), and [`spawn`](Self::spawn)
/// giving a [`Child`] whose exit and pipes are awaited on the current core.
///
/// `spawn` itself is std's fork and exec, run on the core as tokio runs it: it returns once
/// the program has been executed (or failed to be, with the error: `NotFound` for a missing
/// program), which takes a fraction of a millisecond, not the child's run.
///
/// ```no_run
/// # ringpoll::block_on(async {
/// use ringpoll::process::Command;
///
/// // A health check: the script's exit code says it all.
/// let status = Command::new("sh").arg("-c").arg("exit 0").status().await?;
/// assert!(status.success());
///
/// let output = Command::new("echo").arg("hi").output().await?;
/// assert_eq!(output.stdout, b"hi\n");
/// # std::io::Result::Ok(()) }).unwrap();
/// ```
#[derive(Debug)]
pub struct Command {
    std: std::process::Command,
    kill_on_drop: bool,
    /// Which of stdin, stdout and stderr were set here, for [`output`](Self::output)'s
    /// defaults (std's Command does not say).
    stdio_set: [bool; 3],
}

impl Command {
    /// A command to run `program` (looked up in `PATH` if it names no directory), with no
    /// arguments, this process's environment and working directory, and inherited stdio.
    pub fn new(program: impl AsRef<OsStr>) -> Command {
        Command::from(std::process::Command::new(program))
    }

    /// Adds an argument.
    pub fn arg(&mut self, arg: impl AsRef<OsStr>) -> &mut Command {
        self.std.arg(arg);
        self
    }

    /// Adds arguments.
    pub fn args<I, S>(&mut self, args: I) -> &mut Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.std.args(args);
        self
    }

    /// Sets an environment variable for the child.
    pub fn env(&mut self, key: impl AsRef<OsStr>, val: impl AsRef<OsStr>) -> &mut Command {
        self.std.env(key, val);
        self
    }

    /// Sets environment variables for the child.
    pub fn envs<I, K, V>(&mut self, vars: I) -> &mut Command
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<OsStr>,
        V: AsRef<OsStr>,
    {
        self.std.envs(vars);
        self
    }

    /// Removes an environment variable from the child's environment.
    pub fn env_remove(&mut self, key: impl AsRef<OsStr>) -> &mut Command {
        self.std.env_remove(key);
        self
    }

    /// Clears the child's environment (then only what [`env`](Self::env) sets is there).
    pub fn env_clear(&mut self) -> &mut Command {
        self.std.env_clear();
        self
    }

    /// Sets the child's working directory.
    pub fn current_dir(&mut self, dir: impl AsRef<Path>) -> &mut Command {
        self.std.current_dir(dir);
        self
    }

    /// The child's stdin: [`Stdio::piped`] gives [`Child::stdin`]. Inherited by default
    /// (null for [`output`](Self::output)).
    pub fn stdin(&mut self, cfg: impl Into<Stdio>) -> &mut Command {
        self.std.stdin(cfg);
        self.stdio_set[0] = true;
        self
    }

    /// The child's stdout: [`Stdio::piped`] gives [`Child::stdout`]. Inherited by default
    /// (piped for [`output`](Self::output)).
    pub fn stdout(&mut self, cfg: impl Into<Stdio>) -> &mut Command {
        self.std.stdout(cfg);
        self.stdio_set[1] = true;
        self
    }

    /// The child's stderr: [`Stdio::piped`] gives [`Child::stderr`]. Inherited by default
    /// (piped for [`output`](Self::output)).
    pub fn stderr(&mut self, cfg: impl Into<Stdio>) -> &mut Command {
        self.std.stderr(cfg);
        self.stdio_set[2] = true;
        self
    }

    /// Whether a [`Child`] dropped before it was reaped is killed (SIGKILL) first. Off by
    /// default, as in tokio and std: the child runs on (and is reaped in the background
    /// either way).
    pub fn kill_on_drop(&mut self, kill_on_drop: bool) -> &mut Command {
        self.kill_on_drop = kill_on_drop;
        self
    }

    /// Whether [`kill_on_drop`](Self::kill_on_drop) is set.
    pub fn get_kill_on_drop(&self) -> bool {
        self.kill_on_drop
    }

    /// Runs the child with this user id (std's `CommandExt::uid`).
    pub fn uid(&mut self, id: u32) -> &mut Command {
        self.std.uid(id);
        self
    }

    /// Runs the child with this group id (std's `CommandExt::gid`).
    pub fn gid(&mut self, id: u32) -> &mut Command {
        self.std.gid(id);
        self
    }

    /// Puts the child in process group `pgroup` (0: a new group of its own, with the child as
    /// leader), so a signal to the group reaches it and what it spawns.
    pub fn process_group(&mut self, pgroup: i32) -> &mut Command {
        self.std.process_group(pgroup);
        self
    }

    /// The std command inside.
    pub fn as_std(&self) -> &std::process::Command {
        &self.std
    }

    /// The std command inside, for what this type does not wrap (`CommandExt::pre_exec`,
    /// `arg0`). Stdio set through it does not count as set for [`output`](Self::output)'s
    /// defaults.
    pub fn as_std_mut(&mut self) -> &mut std::process::Command {
        &mut self.std
    }

    /// Spawns the child on the current core (whose reactor then awaits its exit and its
    /// pipes). A missing program is `NotFound`; outside a ringpoll core it fails without
    /// spawning anything.
    pub fn spawn(&mut self) -> io::Result<Child> {
        // Fail before the fork, not after it with a child to clean up.
        ringpoll_reactor::Reactor::current()?;
        reaper::sweep_orphans();
        Child::adopt(self.std.spawn()?, self.kill_on_drop)
    }

    /// Spawns the child and waits for it to exit. Its stdio is inherited unless set; pipes
    /// set here are closed at once, so the child reads end of file and its writes fail.
    pub async fn status(&mut self) -> io::Result<ExitStatus> {
        let mut child = self.spawn()?;
        drop((child.stdin.take(), child.stdout.take(), child.stderr.take()));
        child.wait().await
    }

    /// Spawns the child, collects its stdout and stderr and waits for it to exit. Unless
    /// set, stdout and stderr are piped (what comes back) and stdin is null, as std's
    /// `output` has them; those defaults apply to this call only.
    pub async fn output(&mut self) -> io::Result<Output> {
        let defaults: [fn() -> Stdio; 3] = [Stdio::null, Stdio::piped, Stdio::piped];
        let unset = self.stdio_set.map(|set| !set);
        self.set_unset_stdio(unset, defaults);
        let spawned = self.spawn();
        // Back to what a plain spawn has for the ones not set (std cannot unset them).
        self.set_unset_stdio(unset, [Stdio::inherit; 3]);
        spawned?.wait_with_output().await
    }

    fn set_unset_stdio(&mut self, unset: [bool; 3], make: [fn() -> Stdio; 3]) {
        if unset[0] {
            self.std.stdin(make[0]());
        }
        if unset[1] {
            self.std.stdout(make[1]());
        }
        if unset[2] {
            self.std.stderr(make[2]());
        }
    }
}

impl From<std::process::Command> for Command {
    /// Wraps a std command as it is (its stdio, if set, counts as not set for
    /// [`output`](Command::output)'s defaults: std does not tell).
    fn from(std: std::process::Command) -> Command {
        Command { std, kill_on_drop: false, stdio_set: [false; 3] }
    }
}
