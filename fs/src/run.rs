//! Where a file op runs: on the core's ring, or on the blocking pool.

use std::io;
use std::panic::resume_unwind;
use std::sync::{Arc, Mutex};

use ringpoll_core::{current_core, spawn_blocking, JoinError};
use ringpoll_reactor::file::{self, FileOp};

/// Runs `op` as an io_uring op when the core can; else on the core if that cannot block (a
/// cached read, a cached path's open); else its syscall on the blocking pool. An op the
/// ring would only hand to a worker thread (`RING_PUNTS`: the statx of an open file on a
/// local file system) tries the core first, on both drivers (where that try says it may
/// block, it costs nothing and so does the second).
pub(crate) async fn run<O: FileOp>(mut op: O) -> O::Output {
    if O::RING_PUNTS {
        op = match op.run_now() {
            Ok(out) => return out,
            Err(op) => op,
        };
    }
    let op = match file::submit(op).await {
        Ok(out) => return out,
        Err(op) => op,
    };
    match op.run_now() {
        Ok(out) => out,
        Err(op) => offload(op).await,
    }
}

/// Runs the op's syscall on the blocking pool. The op sits in a slot the job takes it from,
/// so a job that never runs (no pool thread could start) leaves it for us to fail, buffer
/// and all, instead of dropping the caller's buffer.
async fn offload<O: FileOp>(op: O) -> O::Output {
    if current_core().is_none() {
        return op.failed(io::Error::other("ringpoll::fs used outside a ringpoll core"));
    }
    let slot = Arc::new(Mutex::new(Some(op)));
    let job = slot.clone();
    let out = spawn_blocking(move || take(&job).map(FileOp::run_blocking)).await;
    match out {
        Ok(Some(out)) => out,
        // A syscall wrapper does not panic; if it ever does, that bug surfaces here.
        Err(JoinError::Panic(panic)) => resume_unwind(panic),
        Ok(None) | Err(JoinError::Cancelled) => match take(&slot) {
            Some(op) => op.failed(io::Error::other("no blocking-pool thread could be started")),
            None => unreachable!("only a job that ran takes the op, and it returns the output"),
        },
    }
}

fn take<O>(slot: &Mutex<Option<O>>) -> Option<O> {
    slot.lock().unwrap_or_else(|e| e.into_inner()).take()
}
