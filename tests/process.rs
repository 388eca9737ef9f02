//! `ringpoll::process` on both drivers: exit codes and signals as std reports them, output
//! and stdin piped through intact (a payload larger than a pipe's buffer, written and read at
//! once), `kill`, `try_wait`, two children awaited at once on one core, a dropped child
//! killed (with `kill_on_drop`) and reaped either way (no zombie in /proc), `NotFound` for a
//! missing program, and no descriptor left open by any of it.

mod support;

use std::io::ErrorKind;
use std::os::unix::process::ExitStatusExt;
use std::process::Stdio;
use std::time::{Duration, Instant};

use ringpoll::process::{Child, Command};
use ringpoll::time::sleep;
use support::*;

/// Runs `test` on the driver under test; it must leave no descriptor open (pidfds and pipes
/// included). Every test here takes the fd lock through this.
fn leak_free(test: impl std::future::Future<Output = ()>) {
    assert_no_fd_leak(|| run(test));
}

/// The state letter of process `pid` in /proc (`Z` for a zombie), or `None` once it is gone
/// (reaped).
fn proc_state(pid: u32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit_once(')')?.1.split_whitespace().next()?.chars().next()
}

/// Waits (on the core, so its tasks run) until process `pid` is gone from /proc; fails after
/// five seconds, showing the state it was stuck in.
async fn gone_from_proc(pid: u32) {
    let give_up = Instant::now() + Duration::from_secs(5);
    while let Some(state) = proc_state(pid) {
        assert!(Instant::now() < give_up, "process {pid} is still there, state {state}");
        sleep(Duration::from_millis(5)).await;
    }
}

fn sh(script: &str) -> Command {
    let mut cmd = Command::new("sh");
    cmd.arg("-c").arg(script);
    cmd
}

#[test]
fn exit_codes_come_back_as_std_reports_them() {
    leak_free(async {
        for code in [0, 1, 3, 255] {
            let status = bounded(sh(&format!("exit {code}")).status()).await.unwrap();
            assert_eq!(status.code(), Some(code), "{status:?}");
            assert_eq!(status.success(), code == 0);
        }
        let status = bounded(sh("kill -TERM $$").status()).await.unwrap();
        assert_eq!((status.code(), status.signal()), (None, Some(libc::SIGTERM)));
    });
}

#[test]
fn output_collects_stdout_stderr_and_the_exit_code() {
    leak_free(async {
        let output = bounded(sh("echo hi; echo err >&2; exit 3").output()).await.unwrap();
        assert_eq!(output.stdout, b"hi\n");
        assert_eq!(output.stderr, b"err\n");
        assert_eq!(output.status.code(), Some(3));
    });
}

/// A child that fills its stderr before it writes a byte of stdout would block forever if
/// the pipes were read one after the other; and output()'s stdin is null, not ours.
#[test]
fn output_reads_both_pipes_at_once_and_gives_null_stdin() {
    leak_free(async {
        let script = "head -c 300000 /dev/zero >&2; head -c 200000 /dev/zero; cat; echo done";
        let output = bounded(sh(script).output()).await.unwrap();
        assert_eq!((output.stderr.len(), output.stdout.len()), (300_000, 200_005));
        assert!(output.stdout.ends_with(b"done\n"), "cat read end of file at once from a null stdin");
        assert!(output.status.success());
    });
}

#[test]
fn env_and_current_dir_reach_the_child() {
    leak_free(async {
        let dir = std::env::temp_dir();
        let output = bounded(
            sh("echo \"$GREETING ${HOME:-no home}\"; pwd")
                .env_clear()
                .env("PATH", std::env::var_os("PATH").unwrap())
                .env("GREETING", "hello")
                .envs([("GONE", "x")])
                .env_remove("GONE")
                .current_dir(&dir)
                .output(),
        )
        .await
        .unwrap();
        let expected = format!("hello no home\n{}\n", dir.canonicalize().unwrap().display());
        assert_eq!(String::from_utf8(output.stdout).unwrap(), expected);
    });
}

/// 1 MiB through `cat` and back, 16 times a pipe's default buffer: the writer and the reader
/// must run at once (a writer alone fills both pipes and waits forever), and every byte
/// comes back, in order.
#[test]
fn stdin_piped_through_cat_comes_back_intact() {
    leak_free(async {
        let mut child = Command::new("cat").stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap();
        let (stdin, stdout) = (child.stdin.take().unwrap(), child.stdout.take().unwrap());
        let sent = payload(1 << 20, 7);
        let writer = ringpoll::spawn({
            let sent = sent.clone();
            async move {
                let (res, _) = stdin.write_all(sent).await;
                res.unwrap();
                // stdin dropped here: cat reads end of file.
            }
        });
        let mut back = Vec::new();
        loop {
            let (n, buf) = bounded(stdout.read(Vec::with_capacity(64 * 1024))).await;
            match n.unwrap() {
                0 => break,
                _ => back.extend_from_slice(&buf),
            }
        }
        bounded(writer).await.unwrap();
        assert_eq!(back.len(), sent.len());
        assert!(back == sent, "the bytes came back changed");
        assert!(bounded(child.wait()).await.unwrap().success());
    });
}

/// The open flags of descriptor `fd` of process `pid`, from its fdinfo.
fn fd_flags(pid: &str, fd: i32) -> i32 {
    let info = std::fs::read_to_string(format!("/proc/{pid}/fdinfo/{fd}")).unwrap();
    let flags = info.lines().find_map(|l| l.strip_prefix("flags:")).expect("a flags line");
    i32::from_str_radix(flags.trim(), 8).unwrap()
}

/// Our ends are non-blocking (a read must never stall the core) and close-on-exec (the next
/// child must not inherit them, or it would hold this one's stdin open); the child's ends are
/// left blocking, as programs expect of their stdio.
#[test]
fn our_pipe_ends_are_non_blocking_and_close_on_exec_the_childs_are_not_touched() {
    use std::os::fd::AsRawFd;

    leak_free(async {
        let mut child =
            Command::new("cat").stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
        let ours = [
            child.stdin.as_ref().unwrap().as_raw_fd(),
            child.stdout.as_ref().unwrap().as_raw_fd(),
            child.stderr.as_ref().unwrap().as_raw_fd(),
        ];
        for fd in ours {
            // SAFETY: F_GETFD on a descriptor the child's pipes hold open.
            let cloexec = unsafe { libc::fcntl(fd, libc::F_GETFD) } & libc::FD_CLOEXEC != 0;
            assert!(cloexec, "fd {fd} is not close-on-exec");
            assert_ne!(fd_flags("self", fd) & libc::O_NONBLOCK, 0, "fd {fd} is blocking");
        }
        let pid = child.id().unwrap().to_string();
        for fd in 0..3 {
            assert_eq!(fd_flags(&pid, fd) & libc::O_NONBLOCK, 0, "the child's fd {fd} is non-blocking");
        }
        bounded(child.kill()).await.unwrap();
    });
}

#[test]
fn a_write_to_a_child_that_is_gone_is_broken_pipe() {
    leak_free(async {
        let mut child = sh("exit 0").stdin(Stdio::piped()).spawn().unwrap();
        let stdin = child.stdin.take().unwrap();
        assert!(bounded(child.wait()).await.unwrap().success());
        let (res, _) = bounded(stdin.write_all(vec![1u8; 100_000])).await;
        assert_eq!(res.unwrap_err().kind(), ErrorKind::BrokenPipe);
    });
}

#[test]
fn kill_ends_a_sleeping_child_at_once_with_sigkill() {
    leak_free(async {
        let mut child = Command::new("sleep").arg("30").spawn().unwrap();
        let pid = child.id().expect("running");
        let started = Instant::now();
        bounded(child.kill()).await.unwrap();
        assert!(started.elapsed() < Duration::from_secs(2), "kill took {:?}", started.elapsed());
        let status = child.try_wait().unwrap().expect("reaped by kill");
        assert_eq!((status.code(), status.signal()), (None, Some(libc::SIGKILL)));
        assert_eq!(child.id(), None, "a reaped child has no id");
        assert_eq!(proc_state(pid), None, "reaped: no zombie left");
        child.start_kill().expect("killing a reaped child is Ok, as std's");
    });
}

#[test]
fn try_wait_is_none_while_the_child_runs_then_its_status() {
    leak_free(async {
        // cat runs until its stdin closes: running for as long as the test holds the pipe.
        let mut child = Command::new("cat").stdin(Stdio::piped()).spawn().unwrap();
        sleep(Duration::from_millis(20)).await;
        assert!(child.try_wait().unwrap().is_none());
        assert!(child.id().is_some());
        drop(child.stdin.take());
        let give_up = Instant::now() + Duration::from_secs(5);
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            assert!(Instant::now() < give_up, "cat did not exit on end of file");
            sleep(Duration::from_millis(5)).await;
        };
        assert!(status.success());
        assert_eq!(child.try_wait().unwrap(), Some(status), "the status stays");
        assert_eq!(bounded(child.wait()).await.unwrap(), status);
    });
}

/// Both waits are on one core at once: together they take about as long as the longer one,
/// and each gets its own child's status.
#[test]
fn two_children_are_awaited_at_once_on_one_core() {
    leak_free(async {
        let mut slow = sh("sleep 0.4; exit 4").spawn().unwrap();
        let mut slower = sh("sleep 0.5; exit 5").spawn().unwrap();
        let started = Instant::now();
        let (a, b) = ringpoll::join!(bounded(slow.wait()), bounded(slower.wait()));
        let took = started.elapsed();
        assert_eq!((a.unwrap().code(), b.unwrap().code()), (Some(4), Some(5)));
        assert!(took < Duration::from_millis(850), "the waits ran one after the other: {took:?}");
    });
}

#[test]
fn a_dropped_child_with_kill_on_drop_is_killed_and_reaped() {
    leak_free(async {
        let child = Command::new("sleep").arg("30").kill_on_drop(true).spawn().unwrap();
        let pid = child.id().unwrap();
        drop(child);
        bounded(gone_from_proc(pid)).await;
    });
}

/// Without kill_on_drop the child runs on; once it exits it is reaped all the same.
#[test]
fn a_dropped_child_is_reaped_when_it_exits() {
    leak_free(async {
        let child = sh("sleep 0.2").spawn().unwrap();
        let pid = child.id().unwrap();
        drop(child);
        sleep(Duration::from_millis(50)).await;
        assert_eq!(proc_state(pid).map(|s| s != 'Z'), Some(true), "still running after the drop");
        bounded(gone_from_proc(pid)).await;
    });
}

/// A child dropped off its core (after the runtime ended) has no task to reap it: the next
/// spawn sweeps it up. (The fd lock keeps the other tests' spawns from sweeping it first.)
#[test]
fn a_child_dropped_after_its_core_ended_is_reaped_by_the_next_spawn() {
    let _guard = fd_lock();
    let child: Child = run(async { sh("sleep 0.2").spawn().unwrap() });
    let pid = child.id().unwrap();
    drop(child);
    let give_up = Instant::now() + Duration::from_secs(5);
    while proc_state(pid) != Some('Z') {
        assert!(Instant::now() < give_up, "the child did not exit, or was reaped with no core: {:?}", proc_state(pid));
        std::thread::sleep(Duration::from_millis(5));
    }
    run(async {
        assert!(bounded(Command::new("true").status()).await.unwrap().success());
        assert_eq!(proc_state(pid), None, "the spawn swept it up");
    });
}

#[test]
fn spawning_a_missing_program_is_not_found() {
    leak_free(async {
        let err = Command::new("/nonexistent/ringpoll-no-such-program").spawn().unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotFound);
        let err = Command::new("ringpoll-no-such-program-in-path").output().await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotFound);
    });
}

#[test]
fn spawning_outside_a_core_fails_without_a_child() {
    let err = Command::new("true").spawn().unwrap_err();
    assert_ne!(err.kind(), ErrorKind::NotFound, "refused before the fork: {err}");
}

#[test]
fn a_command_from_std_keeps_its_arguments() {
    leak_free(async {
        let mut std = std::process::Command::new("echo");
        std.arg("from std");
        let mut cmd = Command::from(std);
        cmd.as_std_mut().arg("and more");
        assert!(!cmd.get_kill_on_drop());
        let output = bounded(cmd.output()).await.unwrap();
        assert_eq!(output.stdout, b"from std and more\n");
        // output()'s defaults were for that call only: a spawn inherits again.
        let child = cmd.spawn().unwrap();
        assert!(child.stdout.is_none());
        assert!(bounded(child.wait_with_output()).await.unwrap().stdout.is_empty());
    });
}
