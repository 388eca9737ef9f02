//! MULTI ... EXEC: a connection's queued requests, kept as their raw bytes until EXEC runs
//! them one after another through the pipeline (`pipeline.rs`), their replies in one array.
//!
//! As Redis 7 does: a request the queue refuses (an unknown command or subcommand, a wrong
//! number of arguments, SHUTDOWN, one past the bound below) gets its error at once and
//! aborts the transaction, whose EXEC then answers `-EXECABORT`; anything else is queued
//! (`+QUEUED`) and answers at EXEC, errors included (`SET k v badoption`'s syntax error is
//! one reply in the array). MULTI, EXEC, DISCARD, WATCH and QUIT are never queued.
//!
//! What EXEC guarantees: its requests run in order, back to back on the connection's core,
//! in one go (no await between them); those for another core's keys are queued for that core
//! together and reach it in one batch, which it runs without another request between them
//! (`Shards::serve_batch`). So a transaction whose keys all live on one core (a Redis
//! Cluster hash tag, `{...}`, puts keys on one core) runs with no other client's command
//! between its commands, as in Redis. One touching several cores (or a command of every
//! core: KEYS, DBSIZE, FLUSHALL...) runs each core's part so, but not at one instant: a
//! client may see one core's part done and another's not yet, and two such transactions
//! may be ordered differently on two cores.
//!
//! WATCH is refused (`-ERR WATCH is not supported by kv`) rather than accepted and ignored:
//! its check-and-set across cores is not kept. UNWATCH has nothing to undo: `+OK`.

use super::replies;
use super::resp::MAX_REQUEST;

/// The most request bytes one transaction may queue: what one request may take. A request
/// that would pass it is refused (`TOO_BIG`) and aborts the transaction, so a client cannot
/// grow a connection's queue without limit.
pub const MAX_QUEUED: usize = MAX_REQUEST;

/// The most of a closed transaction's queue kept for the next one.
const KEPT: usize = 64 * 1024;

/// The refusal of a request past [`MAX_QUEUED`].
pub const TOO_BIG: &str = "ERR Transaction too big: kv queues at most 64 MiB of requests between MULTI and EXEC";

/// The refusal of a command Redis will not queue (SHUTDOWN, of kv's).
pub const NOT_IN_TRANSACTION: &str = "ERR Command not allowed inside a transaction";

/// The refusal of WATCH outside a transaction.
pub const WATCH_REFUSED: &str = "ERR WATCH is not supported by kv";

/// The commands that open, run, drop or guard a transaction: answered as they come, never
/// queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control {
    Multi,
    Exec,
    /// EXEC with arguments: Redis refuses it so, in a transaction or not.
    ExecWithArguments,
    Discard,
    Watch,
}

/// One connection's transaction, if one is open.
#[derive(Default)]
pub struct Transaction {
    /// MULTI was sent, and no EXEC or DISCARD since.
    open: bool,
    /// A queued request was refused: EXEC answers `-EXECABORT`.
    aborted: bool,
    /// The queued requests, one after another, as they came (empty once aborted).
    queued: Vec<u8>,
    /// How many requests were queued.
    count: usize,
}

/// What EXEC finds.
#[derive(Debug, PartialEq, Eq)]
pub enum Exec {
    /// No MULTI: `-ERR EXEC without MULTI` was written.
    NotOpen,
    /// A queued request was refused: `-EXECABORT` was written, the transaction dropped.
    Aborted,
    /// The queued requests (raw, one after another) and how many: to run in order.
    Run(Vec<u8>, usize),
}

impl Transaction {
    /// Whether MULTI was sent and no EXEC or DISCARD since: requests are queued, not run.
    #[inline(always)]
    pub fn open(&self) -> bool {
        self.open
    }

    /// MULTI: opens a transaction, or refuses to nest one (which, as in Redis, does not
    /// abort the open one).
    pub fn multi(&mut self, out: &mut Vec<u8>) {
        if self.open {
            return replies::error(out, "ERR MULTI calls can not be nested");
        }
        self.open = true;
        replies::ok(out);
    }

    /// Queues the raw request `request` (`+QUEUED`), or refuses it past [`MAX_QUEUED`].
    pub fn queue(&mut self, request: &[u8], out: &mut Vec<u8>) {
        if self.queued.len() + request.len() > MAX_QUEUED {
            return self.refuse(TOO_BIG.as_bytes(), out);
        }
        if !self.aborted {
            let needed = self.queued.len() + request.len();
            if needed > self.queued.capacity() {
                // Doubling, but never past the bound: the queue takes 64 MiB at most, not 128.
                let grown = needed.max(2 * self.queued.capacity()).min(MAX_QUEUED);
                self.queued.reserve_exact(grown - self.queued.len());
            }
            self.queued.extend_from_slice(request);
        }
        self.count += 1;
        replies::status(out, "QUEUED");
    }

    /// Answers a refused request with `error` (without its `-` and line end) and aborts the
    /// transaction: its queue goes now, nothing of it will run.
    pub fn refuse(&mut self, error: &[u8], out: &mut Vec<u8>) {
        replies::error_bytes(out, error);
        self.abort();
    }

    /// Marks the transaction aborted and lets go of its queue.
    pub fn abort(&mut self) {
        self.aborted = true;
        self.queued = Vec::new();
    }

    /// EXEC: what runs, if anything; writes the error if nothing does. The transaction is
    /// closed either way.
    pub fn exec(&mut self, out: &mut Vec<u8>) -> Exec {
        if !self.open {
            replies::error(out, "ERR EXEC without MULTI");
            return Exec::NotOpen;
        }
        if self.aborted {
            self.close();
            replies::error(out, "EXECABORT Transaction discarded because of previous errors.");
            return Exec::Aborted;
        }
        let run = Exec::Run(std::mem::take(&mut self.queued), self.count);
        self.close();
        run
    }

    /// EXEC with arguments: as Redis, an EXECABORT for the wrong number of arguments, in a
    /// transaction or not; an open transaction goes.
    pub fn exec_with_arguments(&mut self, out: &mut Vec<u8>) {
        let why = "wrong number of arguments for 'exec' command";
        replies::error(out, &format!("EXECABORT Transaction discarded because of: {why}"));
        self.close();
    }

    /// DISCARD: drops the queue, or refuses without MULTI.
    pub fn discard(&mut self, out: &mut Vec<u8>) {
        if !self.open {
            return replies::error(out, "ERR DISCARD without MULTI");
        }
        self.close();
        replies::ok(out);
    }

    /// Takes back the queue EXEC ran, for its allocation (unless it is big).
    pub fn recycle(&mut self, queued: Vec<u8>) {
        if self.queued.capacity() == 0 {
            self.queued = queued;
            self.close();
        }
    }

    /// Ends the transaction. Its queue's allocation is kept for the next one unless it
    /// passed [`KEPT`]: an idle connection does not hold the most it ever queued.
    fn close(&mut self) {
        self.open = false;
        self.aborted = false;
        self.queued.clear();
        if self.queued.capacity() > KEPT {
            self.queued = Vec::new();
        }
        self.count = 0;
    }
}

/// Whether `reply` (a request's answer, written while it was checked) is an error Redis
/// gives before it queues a request, which aborts the transaction: an unknown command or
/// subcommand, or a wrong number of arguments. Other errors (a syntax error, a value not an
/// integer) are the command's own: Redis queues it, and the error is its reply in EXEC's array.
pub fn refused_before_queueing(reply: &[u8]) -> bool {
    [&b"-ERR unknown command '"[..], b"-ERR unknown subcommand '", b"-ERR wrong number of arguments for '"]
        .iter()
        .any(|start| reply.starts_with(start))
}

/// The error text of an error reply: without its `-` and line end.
pub fn error_text(reply: &[u8]) -> &[u8] {
    let text = reply.strip_prefix(b"-").unwrap_or(reply);
    text.strip_suffix(b"\r\n").unwrap_or(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(out: &mut Vec<u8>) -> String {
        String::from_utf8(std::mem::take(out)).unwrap()
    }

    #[test]
    fn exec_runs_what_was_queued_in_order_and_closes() {
        let (mut tx, mut out) = (Transaction::default(), Vec::new());
        tx.multi(&mut out);
        assert!(tx.open());
        tx.queue(b"*1\r\n$4\r\nPING\r\n", &mut out);
        tx.queue(b"GET k\r\n", &mut out);
        assert_eq!(text(&mut out), "+OK\r\n+QUEUED\r\n+QUEUED\r\n");
        assert_eq!(tx.exec(&mut out), Exec::Run(b"*1\r\n$4\r\nPING\r\nGET k\r\n".to_vec(), 2));
        assert!(out.is_empty() && !tx.open());
        assert_eq!(tx.exec(&mut out), Exec::NotOpen);
        assert_eq!(text(&mut out), "-ERR EXEC without MULTI\r\n");
    }

    #[test]
    fn an_empty_transaction_runs_nothing() {
        let (mut tx, mut out) = (Transaction::default(), Vec::new());
        tx.multi(&mut out);
        assert_eq!(tx.exec(&mut out), Exec::Run(Vec::new(), 0));
    }

    #[test]
    fn a_refused_request_aborts_and_exec_says_so() {
        let (mut tx, mut out) = (Transaction::default(), Vec::new());
        tx.multi(&mut out);
        tx.queue(b"GET k\r\n", &mut out);
        tx.refuse(b"ERR unknown command 'FOO', with args beginning with: ", &mut out);
        // Still queuing: later requests are answered as Redis answers them, and kept nowhere.
        tx.queue(b"GET k\r\n", &mut out);
        assert!(tx.open() && tx.queued.is_empty() && tx.queued.capacity() == 0);
        text(&mut out);
        assert_eq!(tx.exec(&mut out), Exec::Aborted);
        assert_eq!(text(&mut out), "-EXECABORT Transaction discarded because of previous errors.\r\n");
        assert!(!tx.open());
        // The next transaction starts clean.
        tx.multi(&mut out);
        assert_eq!(tx.exec(&mut out), Exec::Run(Vec::new(), 0));
    }

    #[test]
    fn nesting_is_refused_without_aborting() {
        let (mut tx, mut out) = (Transaction::default(), Vec::new());
        tx.multi(&mut out);
        tx.multi(&mut out);
        assert_eq!(text(&mut out), "+OK\r\n-ERR MULTI calls can not be nested\r\n");
        tx.queue(b"GET k\r\n", &mut out);
        assert!(matches!(tx.exec(&mut out), Exec::Run(_, 1)));
    }

    #[test]
    fn discard_drops_the_queue_and_needs_multi() {
        let (mut tx, mut out) = (Transaction::default(), Vec::new());
        tx.discard(&mut out);
        tx.multi(&mut out);
        tx.queue(b"GET k\r\n", &mut out);
        tx.discard(&mut out);
        assert_eq!(text(&mut out), "-ERR DISCARD without MULTI\r\n+OK\r\n+QUEUED\r\n+OK\r\n");
        assert_eq!(tx.exec(&mut out), Exec::NotOpen);
    }

    #[test]
    fn exec_with_arguments_discards_with_its_error() {
        let (mut tx, mut out) = (Transaction::default(), Vec::new());
        tx.multi(&mut out);
        tx.queue(b"GET k\r\n", &mut out);
        text(&mut out);
        tx.exec_with_arguments(&mut out);
        let want = "-EXECABORT Transaction discarded because of: wrong number of arguments for 'exec' command\r\n";
        assert_eq!(text(&mut out), want);
        assert!(!tx.open());
    }

    #[test]
    fn the_queue_is_bounded() {
        let (mut tx, mut out) = (Transaction::default(), Vec::new());
        tx.multi(&mut out);
        let big = vec![b'x'; MAX_QUEUED / 2];
        tx.queue(&big, &mut out);
        tx.queue(&big, &mut out);
        assert_eq!((tx.queued.len(), tx.queued.capacity()), (MAX_QUEUED, MAX_QUEUED));
        text(&mut out);
        tx.queue(b"x", &mut out);
        assert_eq!(text(&mut out), format!("-{TOO_BIG}\r\n"));
        assert!(tx.queued.capacity() == 0, "an aborted queue is let go at once");
        assert_eq!(tx.exec(&mut out), Exec::Aborted);
    }

    #[test]
    fn a_big_queue_is_let_go_once_the_transaction_ends_and_a_small_one_kept() {
        let (mut tx, mut out) = (Transaction::default(), Vec::new());
        for (size, kept) in [(KEPT + 1, false), (100, true)] {
            tx.multi(&mut out);
            tx.queue(&vec![b'x'; size], &mut out);
            tx.discard(&mut out);
            assert_eq!(tx.queued.capacity() > 0, kept, "{size} bytes queued, then DISCARD");
            tx.multi(&mut out);
            tx.queue(&vec![b'x'; size], &mut out);
            let Exec::Run(queued, 1) = tx.exec(&mut out) else { panic!("nothing to run") };
            tx.recycle(queued);
            assert_eq!(tx.queued.capacity() > 0, kept, "{size} bytes queued, then EXEC");
            assert!(tx.queued.is_empty());
        }
    }

    #[test]
    fn the_errors_that_abort_are_those_redis_gives_before_queueing() {
        assert!(refused_before_queueing(b"-ERR unknown command 'foo', with args beginning with: \r\n"));
        assert!(refused_before_queueing(b"-ERR unknown subcommand 'x'. Try MEMORY HELP.\r\n"));
        assert!(refused_before_queueing(b"-ERR wrong number of arguments for 'get' command\r\n"));
        assert!(!refused_before_queueing(b"-ERR syntax error\r\n"));
        assert!(!refused_before_queueing(b"+PONG\r\n"));
        assert_eq!(error_text(b"-ERR syntax error\r\n"), b"ERR syntax error");
    }
}
