//! Sharding: each core owns the keys that hash to it. Operations on this core's keys run at
//! once; the rest are queued per target core and sent as ONE batch per target per turn of
//! the core, whichever connections they came from: a flush task, woken by the first queued
//! operation, runs after the connections the same reactor poll woke, so their requests ride
//! together. The target runs the batch and sends back one message of encoded replies; the
//! link between two cores is FIFO, so the answers go to the waiting connections in the
//! order their operations were queued, with no per-request channel.
//!
//! Batch buffers make the round trip and come home: the sender allocates them, the target
//! fills and returns them, and they are freed (or pooled) on the core that made them.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::future::poll_fn;
use std::rc::{Rc, Weak};
use std::task::{Poll, Waker};
use std::time::{Duration, Instant};

use ringpoll::channel::cross_core;
use ringpoll::Handle;

use super::op::{decode_all, Op};
use super::pipeline::Slots;
use super::replies;
use super::store::Store;

/// What cores send each other.
pub enum Msg {
    /// Operations for the receiving core's shard, from core `from`, with a buffer to write
    /// the replies in.
    Ops { from: usize, ops: Vec<u8>, replies: Vec<u8> },
    /// The answers to the oldest `Ops` the receiver sent to core `from`, each a
    /// little-endian `u32` length and an encoded reply, with both buffers handed back.
    Replies { from: usize, ops: Vec<u8>, replies: Vec<u8> },
}

/// Batches a core may have sent to one other core and not had answered; past it, further
/// operations wait in the queue (and their connections with them). The inboxes are
/// unbounded, so a core never waits to answer: this bound is what keeps them small.
pub const MAX_IN_FLIGHT: usize = 64;

/// Batch buffers a core keeps for reuse, and the largest one it keeps.
const POOL: usize = 2 * MAX_IN_FLIGHT;
const POOL_BUF_MAX: usize = 256 * 1024;

/// This core's end of its link to one other core.
#[derive(Default)]
struct Link {
    /// Encoded operations not sent yet.
    queued: Vec<u8>,
    /// Who waits for each operation queued or in flight, oldest first.
    waiters: VecDeque<(Rc<Slots>, u32)>,
    in_flight: usize,
    /// The other core's inbox is gone (it shut down): its keys get an error.
    closed: bool,
}

/// One core's view of the sharded store.
pub struct Shards {
    me: usize,
    store: RefCell<Store>,
    inboxes: Vec<cross_core::Sender<Msg>>,
    links: RefCell<Vec<Link>>,
    flush_wanted: Cell<bool>,
    flusher: Cell<Option<Waker>>,
    pool: RefCell<Vec<Vec<u8>>>,
}

impl Shards {
    /// This core's view: its own store, and every core's inbox (its own unused).
    pub fn new(me: usize, inboxes: Vec<cross_core::Sender<Msg>>) -> Shards {
        Shards {
            me,
            store: RefCell::default(),
            links: RefCell::new(inboxes.iter().map(|_| Link::default()).collect()),
            inboxes,
            flush_wanted: Cell::new(false),
            flusher: Cell::new(None),
            pool: RefCell::default(),
        }
    }

    /// How many cores share the keys.
    pub fn count(&self) -> usize {
        self.inboxes.len()
    }

    /// This core's index.
    pub fn me(&self) -> usize {
        self.me
    }

    /// Runs `op` on this core's shard for one of its connections; the reply goes to `out`.
    pub fn apply_local(&self, op: Op<'_>, now: Instant, out: &mut Vec<u8>) {
        let mut store = self.store.borrow_mut();
        store.served.local += 1;
        self.apply(&mut store, op, now, out);
    }

    fn apply(&self, store: &mut Store, op: Op<'_>, now: Instant, out: &mut Vec<u8>) {
        match op {
            Op::Info => replies::bulk(out, info(self.me, store).as_bytes()),
            op => store.apply(op, now, out),
        }
    }

    /// Queues `op` for `core`'s shard; its reply fills `slot` of `slots`.
    pub fn forward(&self, core: usize, op: Op<'_>, slots: &Rc<Slots>, slot: u32) {
        let mut links = self.links.borrow_mut();
        let link = &mut links[core];
        if link.closed {
            drop(links);
            return slots.fill(slot, shard_gone);
        }
        op.encode(&mut link.queued);
        link.waiters.push_back((slots.clone(), slot));
        drop(links);
        self.want_flush();
    }

    fn want_flush(&self) {
        if !self.flush_wanted.replace(true) {
            if let Some(w) = self.flusher.take() {
                w.wake();
            }
        }
    }

    /// Sends every link's queued operations as one batch, unless too many are in flight.
    fn flush(&self) {
        for core in 0..self.count() {
            if core == self.me {
                continue;
            }
            let mut links = self.links.borrow_mut();
            let link = &mut links[core];
            if link.queued.is_empty() || link.in_flight >= MAX_IN_FLIGHT || link.closed {
                continue;
            }
            let ops = std::mem::replace(&mut link.queued, self.buffer());
            let msg = Msg::Ops { from: self.me, ops, replies: self.buffer() };
            match self.inboxes[core].try_send(msg) {
                Ok(()) => link.in_flight += 1,
                Err(e) => {
                    // Unbounded: only a closed inbox refuses. Nobody will answer, so
                    // everything waiting on that core gets an error now.
                    link.closed = true;
                    let waiters = std::mem::take(&mut link.waiters);
                    drop(links);
                    if let Msg::Ops { ops, replies, .. } = e.into_inner() {
                        self.recycle(ops);
                        self.recycle(replies);
                    }
                    waiters.into_iter().for_each(|(slots, slot)| slots.fill(slot, shard_gone));
                }
            }
        }
    }

    /// Runs a batch from another core, writing its framed replies into `out`.
    fn serve_batch(&self, ops: &[u8], out: &mut Vec<u8>) {
        let now = Instant::now();
        let mut store = self.store.borrow_mut();
        for op in decode_all(ops) {
            store.served.remote += 1;
            let at = out.len();
            out.extend_from_slice(&[0; 4]);
            self.apply(&mut store, op, now, out);
            let len = (out.len() - at - 4) as u32;
            out[at..at + 4].copy_from_slice(&len.to_le_bytes());
        }
    }

    /// Hands the answers from `core` to the connections waiting for them, oldest first.
    fn deliver(&self, core: usize, framed: &[u8]) {
        let mut links = self.links.borrow_mut();
        let link = &mut links[core];
        let mut rest = framed;
        while let Some((len, after)) = rest.split_first_chunk::<4>() {
            let len = (u32::from_le_bytes(*len) as usize).min(after.len());
            let (reply, next) = after.split_at(len);
            rest = next;
            // Filling only wakes the connection's task (no reentry here): links stay borrowed.
            if let Some((slots, slot)) = link.waiters.pop_front() {
                slots.fill(slot, |out| out.extend_from_slice(reply));
            }
        }
        link.in_flight = link.in_flight.saturating_sub(1);
        let more = !link.queued.is_empty();
        drop(links);
        if more {
            self.want_flush(); // held back by MAX_IN_FLIGHT, or queued since the last flush
        }
    }

    /// An empty batch buffer, from the pool if it has one.
    fn buffer(&self) -> Vec<u8> {
        self.pool.borrow_mut().pop().unwrap_or_default()
    }

    /// Keeps `buf` for reuse, unless the pool is full or `buf` grew past the size kept.
    fn recycle(&self, mut buf: Vec<u8>) {
        let mut pool = self.pool.borrow_mut();
        if pool.len() < POOL && buf.capacity() <= POOL_BUF_MAX {
            buf.clear();
            pool.push(buf);
        }
    }
}

impl Drop for Shards {
    fn drop(&mut self) {
        // The flush task holds the shard weakly and waits: let it see the shard is gone.
        if let Some(w) = self.flusher.take() {
            w.wake();
        }
    }
}

fn shard_gone(out: &mut Vec<u8>) {
    replies::error(out, "ERR the shard owning this key is shutting down");
}

/// This core's INFO section: its keys, the operations it served, its runtime counters.
fn info(me: usize, store: &Store) -> String {
    let mut text = format!(
        "# core{me}\r\nkeys:{}\r\nops_local:{}\r\nops_remote:{}\r\n",
        store.len(),
        store.served.local,
        store.served.remote
    );
    if let Some(stats) = Handle::try_current().map(|h| h.stats()).and_then(|s| s.get(me).copied()) {
        text += &format!(
            "accepted:{}\r\nopen_sockets:{}\r\ntasks_live:{}\r\ntasks_polled:{}\r\nreactor_polls:{}\r\nuring_enters:{}\r\neventfd_writes:{}\r\nring_wakes:{}\r\n",
            stats.accepted,
            stats.sources_open,
            stats.tasks_live,
            stats.tasks_polled,
            stats.reactor_polls,
            stats.uring_enters,
            stats.eventfd_writes,
            stats.ring_wakes
        );
    }
    text
}

/// Sends the queued batches whenever operations are queued: woken by the first one queued
/// in a turn, it runs after the tasks already woken, so one batch carries them all. It holds
/// the shard weakly and ends once the core's accept loop and connections are gone.
pub async fn flush(shards: Weak<Shards>) {
    loop {
        let wanted = poll_fn(|cx| {
            let Some(shards) = shards.upgrade() else {
                return Poll::Ready(false);
            };
            if shards.flush_wanted.replace(false) {
                return Poll::Ready(true);
            }
            shards.flusher.set(Some(cx.waker().clone()));
            Poll::Pending
        })
        .await;
        match shards.upgrade() {
            Some(shards) if wanted => shards.flush(),
            _ => return,
        }
    }
}

/// Serves what other cores send this one: their batches (run here, answered at once) and
/// the answers to this core's batches. It holds the shard weakly: it ends once every core's
/// shard is gone (their senders with them), or when a message finds this core's gone.
pub async fn serve_inbox(shards: Weak<Shards>, mut inbox: cross_core::Receiver<Msg>) {
    while let Some(msg) = inbox.recv().await {
        let Some(shards) = shards.upgrade() else {
            return; // dropping the inbox fails the senders' later batches at once
        };
        match msg {
            Msg::Ops { from, ops, mut replies } => {
                shards.serve_batch(&ops, &mut replies);
                let answer = Msg::Replies { from: shards.me, ops, replies };
                let _ = shards.inboxes[from].try_send(answer); // that core may be gone
            }
            Msg::Replies { from, ops, replies } => {
                shards.deliver(from, &replies);
                shards.recycle(ops);
                shards.recycle(replies);
            }
        }
    }
}

/// Removes expired keys once a second, until the runtime starts shutting down.
pub async fn sweep(shards: Rc<Shards>) {
    let mut draining = std::pin::pin!(ringpoll::shutdown::draining());
    loop {
        if ringpoll::time::timeout(Duration::from_secs(1), draining.as_mut()).await.is_ok() {
            return;
        }
        shards.store.borrow_mut().sweep(Instant::now());
    }
}

#[cfg(test)]
mod tests {
    use std::future::Future;
    use std::task::{Context, Waker};

    use super::super::hash::shard_of;
    use super::super::pipeline::{End, Pipeline};
    use super::*;

    /// Keys that core `core` of two owns.
    fn keys_on(core: usize, n: usize) -> Vec<String> {
        (0..).map(|i| format!("key{i}")).filter(|k| shard_of(k.as_bytes(), 2) == core).take(n).collect()
    }

    fn set(key: &str, value: &str) -> Vec<u8> {
        format!("*3\r\n$3\r\nSET\r\n${}\r\n{key}\r\n${}\r\n{value}\r\n", key.len(), value.len()).into_bytes()
    }

    fn get(key: &str) -> Vec<u8> {
        format!("*2\r\n$3\r\nGET\r\n${}\r\n{key}\r\n", key.len()).into_bytes()
    }

    /// A pipeline's replies, which must be complete already.
    fn replies_now(pipeline: &mut Pipeline) -> Vec<u8> {
        let mut replies = std::pin::pin!(pipeline.replies());
        match replies.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
            Poll::Ready(out) => out,
            Poll::Pending => panic!("the pipeline still waits for an answer"),
        }
    }

    fn run(pipeline: &mut Pipeline, input: &[u8], shards: &Shards) {
        let (used, end) = pipeline.run(input, shards);
        assert_eq!(used, input.len());
        assert!(matches!(end, End::More));
    }

    #[test]
    fn many_connections_requests_ride_one_batch_per_core_and_turn() {
        let (to0, _inbox0) = cross_core::unbounded();
        let (to1, mut inbox1) = cross_core::unbounded();
        let (core0, core1) = (Shards::new(0, vec![to0.clone(), to1.clone()]), Shards::new(1, vec![to0, to1]));
        let (local, remote) = (keys_on(0, 3), keys_on(1, 3));
        let mut conns: Vec<Pipeline> = (0..3).map(|_| Pipeline::new(64)).collect();
        for (i, conn) in conns.iter_mut().enumerate() {
            // A remote SET, a local SET and a remote GET of the key just set: replies in order.
            let input = [set(&remote[i], "r"), set(&local[i], "l"), get(&remote[i])].concat();
            run(conn, &input, &core0);
        }
        core0.flush();
        let Ok(Msg::Ops { from: 0, ops, mut replies }) = inbox1.try_recv() else { panic!("no batch for core 1") };
        assert!(inbox1.try_recv().is_err(), "three connections' requests went as one batch");
        assert_eq!(decode_all(&ops).count(), 6);
        core1.serve_batch(&ops, &mut replies);
        core0.deliver(1, &replies);
        for conn in &mut conns {
            assert_eq!(replies_now(conn), b"+OK\r\n+OK\r\n$1\r\nr\r\n");
        }
        // The buffers came home: the reply's two are pooled on the core that made them.
        core0.recycle(ops);
        core0.recycle(replies);
        assert_eq!(core0.pool.borrow().len(), 2);
        assert_eq!(core1.store.borrow().served.remote, 6);
        assert_eq!(core0.store.borrow().served.local, 3);
    }

    #[test]
    fn a_multi_key_command_across_shards_combines_in_order() {
        let (to0, _inbox0) = cross_core::unbounded();
        let (to1, mut inbox1) = cross_core::unbounded();
        let (core0, core1) = (Shards::new(0, vec![to0.clone(), to1.clone()]), Shards::new(1, vec![to0, to1]));
        let (a, b) = (&keys_on(0, 1)[0], &keys_on(1, 1)[0]);
        let mget = format!("*4\r\n$4\r\nMGET\r\n${}\r\n{b}\r\n${}\r\n{a}\r\n$7\r\nmissing\r\n", b.len(), a.len());
        let mut conn = Pipeline::new(64);
        run(&mut conn, &[set(a, "va"), set(b, "vb"), mget.into_bytes()].concat(), &core0);
        core0.flush();
        let Ok(Msg::Ops { ops, mut replies, .. }) = inbox1.try_recv() else { panic!("no batch") };
        core1.serve_batch(&ops, &mut replies);
        core0.deliver(1, &replies);
        assert_eq!(replies_now(&mut conn), b"+OK\r\n+OK\r\n*3\r\n$2\r\nvb\r\n$2\r\nva\r\n$-1\r\n");
    }

    #[test]
    fn a_gone_core_answers_with_an_error_and_nothing_hangs() {
        let (to0, _inbox0) = cross_core::unbounded();
        let (to1, inbox1) = cross_core::unbounded::<Msg>();
        let core0 = Shards::new(0, vec![to0, to1]);
        let remote = &keys_on(1, 2);
        let mut queued = Pipeline::new(64);
        run(&mut queued, &get(&remote[0]), &core0);
        drop(inbox1); // core 1 shut down with that request queued
        core0.flush();
        let gone = b"-ERR the shard owning this key is shutting down\r\n";
        assert_eq!(replies_now(&mut queued), gone);
        // Later requests for its keys get the error at once.
        let mut later = Pipeline::new(64);
        run(&mut later, &[get(&remote[1]), get(&keys_on(0, 1)[0])].concat(), &core0);
        assert_eq!(replies_now(&mut later), [&gone[..], b"$-1\r\n"].concat());
    }

    #[test]
    fn batches_in_flight_are_bounded() {
        let (to0, _inbox0) = cross_core::unbounded();
        let (to1, inbox1) = cross_core::unbounded::<Msg>();
        let core0 = Shards::new(0, vec![to0, to1]);
        let key = &keys_on(1, 1)[0];
        let mut conns: Vec<Pipeline> = (0..MAX_IN_FLIGHT + 3).map(|_| Pipeline::new(64)).collect();
        for conn in &mut conns {
            run(conn, &get(key), &core0);
            core0.flush();
        }
        assert_eq!(inbox1.len(), MAX_IN_FLIGHT, "the rest wait for answers");
        assert_eq!(core0.links.borrow()[1].waiters.len(), MAX_IN_FLIGHT + 3);
    }
}
