//! Sharding: each core owns the keys that hash to it. Operations on this core's keys run at
//! once; the rest are queued per target core and sent as ONE message per target per turn of
//! the core, whichever connections they came from. One task per core, the link task, both
//! serves what other cores send and sends: woken by the first operation queued in a turn, it
//! runs after the connections the same reactor poll woke, so their requests ride together.
//! A message carries this core's operations for the target AND its answers to the batches
//! the target sent it, so when both cores forward, a turn costs one message per direction,
//! not two (and one wake at most, as before). The link between two cores is FIFO, so the
//! answers go to the waiting connections in the order their operations were queued, with no
//! per-request channel.
//!
//! A request alone in its connection's read (the pipeline-of-one case) needs no answer back:
//! the owning core writes its reply straight to the client (`direct.rs`), so such operations
//! ride in the batch with their connection's token and have no waiter, no answer sent back, and
//! (a batch of nothing else) no place among the batches in flight.
//!
//! Buffers are pooled per core: a message's buffers come from the sender's pool and go to
//! the receiver's once read, so two cores trading messages trade buffers and allocate none.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::future::poll_fn;
use std::rc::{Rc, Weak};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Poll, Waker};
use std::time::{Duration, Instant};

use ringpoll::channel::cross_core;
use ringpoll::Handle;

use super::admission::Admission;
use super::clients::Clients;
use super::direct::{Direct, DirectReply};
use super::lane::{self, Hot};
use super::op::Op;
use super::pipeline::Slots;
use super::pubsub::{Counts, Registry};
use super::replies::{self, Protocol};
use super::store::{self, Store};

/// The fewest keys FLUSHALL ASYNC frees on a blocking thread rather than on the core: a
/// thousand small keys take the core some tens of microseconds, about what handing the table
/// over costs.
const LAZY_FREE_FROM: usize = 1000;

/// What one core sends another: at most one per turn and direction.
pub struct Msg {
    /// The sending core.
    from: usize,
    /// Encoded operations for the receiving core's shard; empty if none.
    ops: Vec<u8>,
    /// Answers to the oldest operations the receiver sent `from`, the encoded replies one
    /// after another; empty if none. Unframed, the answers to one pipeline's run of
    /// requests stay one piece, all the way into its output.
    replies: Vec<u8>,
    /// The length of each reply in `replies`, a little-endian `u32` each.
    reply_lens: Vec<u8>,
    /// How many of the receiver's batches `replies` answers in full.
    answered: usize,
    /// The operations of `ops` (by index, ascending) whose replies the receiver writes
    /// straight to the client (see `direct.rs`): they have no answer in `replies`.
    direct: Vec<(u32, DirectReply)>,
}

/// Batches a core may have sent to one other core and not had answered; past it, further
/// operations wait in the queue (and their connections with them). The inboxes are
/// unbounded, so a core never waits to answer: this bound is what keeps them small.
pub const MAX_IN_FLIGHT: usize = 64;

/// Buffers a core keeps for reuse, and the largest one it keeps.
const POOL: usize = 2 * MAX_IN_FLIGHT;
const POOL_BUF_MAX: usize = 256 * 1024;
const BUF_START: usize = 1024;

/// This core's end of its link to one other core.
#[derive(Default)]
struct Link {
    /// Encoded operations not sent yet, how many, and which of them the other core
    /// answers by writing to the client.
    queued: Vec<u8>,
    queued_ops: u32,
    direct: Vec<(u32, DirectReply)>,
    /// Who waits for the operations queued or in flight, oldest first (not those answered
    /// directly): one entry per run of a pipeline's consecutive slots, not per operation.
    waiters: VecDeque<Waiter>,
    /// Batches sent and not answered yet (not those of direct replies only, which are
    /// never answered: one per connection at most, they need no other bound).
    in_flight: usize,
    /// Answers to the other core's batches and their lengths (as in [`Msg`]), not sent yet.
    answers: Vec<u8>,
    answer_lens: Vec<u8>,
    /// How many of its batches `answers` answers.
    answered: usize,
    /// The other core's inbox is gone (it shut down): its keys get an error.
    closed: bool,
    /// The largest value this core's connections sent the other core to write, or for
    /// APPEND the bytes they sent it to add, all told (only ever raised). A value on its way
    /// there is not yet in that core's published record, and a GET behind it may read it.
    sent_value: usize,
}

/// Slots `first..first + count` of one pipeline, waiting for the next `count` answers.
/// A pipeline forwards its requests for one core one after another, so one entry (one
/// reference count, one queue push) usually stands for all of them.
struct Waiter {
    slots: Rc<Slots>,
    first: u32,
    count: u32,
}

impl Link {
    /// Records that `slot` of `slots` waits for the answer to the operation queued last.
    fn wait(&mut self, slots: &Rc<Slots>, slot: u32) {
        if let Some(last) = self.waiters.back_mut() {
            if Rc::ptr_eq(&last.slots, slots) && last.first + last.count == slot {
                last.count += 1;
                return;
            }
        }
        self.waiters.push_back(Waiter { slots: slots.clone(), first: slot, count: 1 });
    }

    /// Queues `op`, encoded for a connection speaking `protocol`, and counts the value it
    /// carries (see [`Link::sent_value`]).
    /// GET and plain SET go in the lane's records (`lane.rs`).
    #[inline]
    fn queue(&mut self, op: &Op<'_>, protocol: Protocol) {
        self.queued_ops += 1;
        match *op {
            Op::Get(key) => return lane::encode_get(key, protocol, &mut self.queued),
            Op::Set { key, value } => {
                self.sent_value = self.sent_value.max(value.len());
                return lane::encode_set(key, value, protocol, &mut self.queued);
            }
            _ => op.encode(protocol, &mut self.queued),
        }
        match *op {
            Op::SetWith { value, .. } => self.sent_value = self.sent_value.max(value.len()),
            Op::Append { value, .. } => self.sent_value = self.sent_value.saturating_add(value.len()),
            // Its batch is longer than any value in it.
            Op::MsetNx(pairs) => self.sent_value = self.sent_value.max(pairs.len()),
            Op::IncrByFloat { .. } => self.sent_value = self.sent_value.max(super::float::LONGEST_TEXT),
            // The value may grow to the write's end (an empty one writes nothing).
            Op::SetRange { offset, value, .. } if !value.is_empty() => {
                self.sent_value = self.sent_value.max(offset as usize + value.len());
            }
            _ => {}
        }
    }

    /// Whether the next flush has something to send on this link.
    fn has_outgoing(&self) -> bool {
        !self.closed && (self.answered > 0 || (!self.queued.is_empty() && self.in_flight < MAX_IN_FLIGHT))
    }
}

/// What the cores' shards share: each core's inbox, and the largest value each core's store
/// has held (a record only ever raised, published by the owner before the write's reply
/// leaves). A run may forward many GETs for another core's keys when none of that core's
/// values can be big, and must forward few when one can (see `pipeline.rs`).
pub struct Peers {
    inboxes: Vec<cross_core::Sender<Msg>>,
    largest_values: Vec<Arc<AtomicUsize>>,
    /// What SHUTDOWN does: the binary stops as on SIGTERM; a server run inside a test has
    /// none, and SHUTDOWN is refused there.
    shutdown: Option<Shutdown>,
    /// The clients open across the cores and their limit (CONFIG GET and SET `maxclients`).
    admission: Arc<Admission>,
    /// Each core's count of pub/sub subscriptions: PUBLISH goes to those that have any.
    subscriptions: Counts,
}

/// Starts the server's graceful shutdown.
pub type Shutdown = Box<dyn Fn() + Send + Sync>;

impl Peers {
    /// The peers of one sharded store, one per inbox, in core order.
    #[cfg(test)]
    pub fn new(inboxes: Vec<cross_core::Sender<Msg>>) -> Arc<Peers> {
        Peers::stopped_by(inboxes, None, Admission::new(super::admission::REDIS_MAX_CLIENTS))
    }

    /// The same, with what SHUTDOWN does and the server's admission of clients.
    pub fn stopped_by(
        inboxes: Vec<cross_core::Sender<Msg>>,
        shutdown: Option<Shutdown>,
        admission: Arc<Admission>,
    ) -> Arc<Peers> {
        let largest_values = inboxes.iter().map(|_| Arc::default()).collect();
        let subscriptions = Counts::new(inboxes.len());
        Arc::new(Peers { inboxes, largest_values, shutdown, admission, subscriptions })
    }
}

/// One core's view of the sharded store.
pub struct Shards {
    me: usize,
    store: RefCell<Store>,
    peers: Arc<Peers>,
    links: RefCell<Vec<Link>>,
    flush_wanted: Cell<bool>,
    /// The link task, while it waits.
    linker: Cell<Option<Waker>>,
    pool: RefCell<Vec<Vec<u8>>>,
    /// The same for the lists of direct replies.
    direct_pool: RefCell<Vec<Vec<(u32, DirectReply)>>>,
    /// This core's connections, for CLIENT LIST and INFO.
    clients: Clients,
    /// Requests its connections ran (for INFO).
    commands: Cell<u64>,
    /// Its connections' pub/sub subscriptions.
    pubsub: Registry,
}

impl Shards {
    /// This core's view: its own store, and every core's inbox (its own unused).
    pub fn new(me: usize, peers: Arc<Peers>) -> Shards {
        Shards {
            me,
            store: RefCell::new(Store::publishing_to(peers.largest_values[me].clone())),
            links: RefCell::new(peers.inboxes.iter().map(|_| Link::default()).collect()),
            peers,
            flush_wanted: Cell::new(false),
            linker: Cell::new(None),
            pool: RefCell::default(),
            direct_pool: RefCell::default(),
            clients: Clients::default(),
            commands: Cell::new(0),
            pubsub: Registry::default(),
        }
    }

    /// This core's connections, for CLIENT LIST and INFO.
    pub fn clients(&self) -> &Clients {
        &self.clients
    }

    /// This core's connections' pub/sub subscriptions; [`Shards::subscriptions_changed`]
    /// after changing them.
    pub fn pubsub(&self) -> &Registry {
        &self.pubsub
    }

    /// Tells the other cores how many subscriptions this core has now.
    pub fn subscriptions_changed(&self) {
        self.pubsub.publish_count(&self.peers.subscriptions, self.me);
    }

    /// The cores with pub/sub subscriptions (PUBLISH goes to those only).
    pub fn subscribed_cores(&self) -> impl Iterator<Item = usize> + '_ {
        (0..self.count()).filter(|&core| self.peers.subscriptions.any_on(core))
    }

    /// Counts a request run by one of this core's connections.
    #[inline]
    pub fn count_command(&self) {
        self.commands.set(self.commands.get() + 1);
    }

    /// The server's admission of clients, across the cores.
    pub fn admission(&self) -> &Admission {
        &self.peers.admission
    }

    /// Starts the server's shutdown (SHUTDOWN); false if this server has no way to.
    pub fn shut_down(&self) -> bool {
        self.peers.shutdown.as_ref().map(|shutdown| shutdown()).is_some()
    }

    /// How many cores share the keys.
    pub fn count(&self) -> usize {
        self.peers.inboxes.len()
    }

    /// This core's index.
    pub fn me(&self) -> usize {
        self.me
    }

    /// Runs `op` on this core's shard for one of its connections, which speaks `protocol`;
    /// the reply goes to `out`.
    pub fn apply_local(&self, op: Op<'_>, protocol: Protocol, now: Instant, out: &mut Vec<u8>) {
        let mut store = self.store.borrow_mut();
        store.served.local += 1;
        self.apply(&mut store, op, protocol, now, out);
    }

    fn apply(&self, store: &mut Store, op: Op<'_>, protocol: Protocol, now: Instant, out: &mut Vec<u8>) {
        match op {
            // Adjacent tags, one compare: a match arm of its own for FLUSHALL ASYNC cost every
            // request 8 instructions (one shard, pipeline 16, callgrind).
            Op::FlushAll { .. } | Op::Info | Op::Kill(_) | Op::ClientList(_) | Op::PubSub(_) => {
                self.apply_to_whole_store(store, op, now, out)
            }
            op => store.apply(op, protocol, now, out),
        }
    }

    /// INFO, CLIENT KILL and CLIENT LIST, which the shard answers (it knows its core and its
    /// connections), PUBLISH and PUBSUB's parts (its subscribers: `pubsub.rs`),
    /// and FLUSHALL, whose ASYNC hands the old table to a blocking thread to be
    /// freed: a million small keys took the core 160-310 ms to free, every client of the core
    /// waiting (a PING's answer, measured). A small table is freed here, sooner than a thread
    /// could be woken for it. Their replies are the same in either protocol: INFO's section
    /// and CLIENT LIST's lines go to the asking core, which makes the client's reply of them.
    #[cold]
    #[inline(never)]
    fn apply_to_whole_store(&self, store: &mut Store, op: Op<'_>, now: Instant, out: &mut Vec<u8>) {
        match op {
            Op::Info => replies::bulk(out, self.info(store, now).as_bytes()),
            Op::Kill(kill) => replies::int(out, self.clients.kill(&kill) as i64),
            Op::ClientList(listing) => self.clients.list(listing, out),
            Op::PubSub(shared) => self.pubsub.apply(shared, out),
            Op::FlushAll { lazy: true } if store.len() > LAZY_FREE_FROM => {
                let old = store.take_all();
                drop(ringpoll::spawn_blocking(move || drop(old)));
                replies::ok(out);
            }
            op => store.apply(op, Protocol::Resp2, now, out),
        }
    }

    /// The most bytes a value read from `core`'s store by a request forwarded now can
    /// take: its published record, or what this core sent it to write, if more.
    pub fn value_bound(&self, core: usize) -> usize {
        let published = self.peers.largest_values[core].load(Ordering::Acquire);
        published.max(self.links.borrow()[core].sent_value)
    }

    /// Queues `op` for `core`'s shard; its reply, in `protocol`, fills `slot` of `slots`.
    /// Borrowed: an `Op` moved into the call is a 64-byte copy per forwarded request.
    pub fn forward(&self, core: usize, op: &Op<'_>, protocol: Protocol, slots: &Rc<Slots>, slot: u32) {
        let mut links = self.links.borrow_mut();
        let link = &mut links[core];
        if link.closed {
            drop(links);
            return slots.fill(slot, shard_gone);
        }
        link.queue(op, protocol);
        link.wait(slots, slot);
        drop(links);
        self.want_flush();
    }

    /// Queues `op` for `core`'s shard, which writes its reply, in `protocol`, straight to the
    /// client of `direct` (whose previous such reply has settled).
    pub fn forward_direct(&self, core: usize, op: Op<'_>, protocol: Protocol, direct: &Direct) {
        let reply = direct.send();
        let mut links = self.links.borrow_mut();
        let link = &mut links[core];
        if link.closed {
            drop(links);
            return drop(reply); // answers with the error
        }
        if link.direct.capacity() == 0 {
            link.direct = self.direct_pool.borrow_mut().pop().unwrap_or_default();
        }
        link.direct.push((link.queued_ops, reply));
        link.queue(&op, protocol);
        drop(links);
        self.want_flush();
    }

    fn want_flush(&self) {
        if !self.flush_wanted.replace(true) {
            if let Some(w) = self.linker.take() {
                w.wake();
            }
        }
    }

    /// Sends each link's queued operations (unless too many batches are in flight) and its
    /// answers, together, as one message.
    fn flush(&self) {
        for core in 0..self.count() {
            let mut links = self.links.borrow_mut();
            let link = &mut links[core];
            if core == self.me || !link.has_outgoing() {
                continue;
            }
            let send_ops = !link.queued.is_empty() && link.in_flight < MAX_IN_FLIGHT;
            let (ops, direct, answerable) = if send_ops {
                let answerable = link.queued_ops as usize > link.direct.len();
                link.queued_ops = 0;
                (std::mem::replace(&mut link.queued, self.buffer()), std::mem::take(&mut link.direct), answerable)
            } else {
                (Vec::new(), Vec::new(), false)
            };
            let (replies, reply_lens) = match link.answered {
                0 => (Vec::new(), Vec::new()),
                _ => (
                    std::mem::replace(&mut link.answers, self.buffer()),
                    std::mem::replace(&mut link.answer_lens, self.buffer()),
                ),
            };
            let answered = std::mem::take(&mut link.answered);
            let msg = Msg { from: self.me, ops, replies, reply_lens, answered, direct };
            match self.peers.inboxes[core].try_send(msg) {
                Ok(()) => link.in_flight += usize::from(answerable),
                Err(e) => {
                    // Unbounded: only a closed inbox refuses. Nobody will answer, so
                    // everything waiting on that core gets an error now.
                    link.closed = true;
                    let waiters = std::mem::take(&mut link.waiters);
                    link.queued.clear();
                    link.queued_ops = 0;
                    let direct = std::mem::take(&mut link.direct);
                    link.answers.clear();
                    link.answer_lens.clear();
                    drop(links);
                    drop(direct); // each answers its client with the error
                    let msg = e.into_inner();
                    self.recycle(msg.ops);
                    self.recycle(msg.replies);
                    self.recycle(msg.reply_lens);
                    for Waiter { slots, first, count } in waiters {
                        (first..first + count).for_each(|slot| slots.fill(slot, shard_gone));
                    }
                }
            }
        }
    }

    /// Takes in a message from another core: hands its answers to the connections waiting
    /// for them, runs its operations, and has the next flush send theirs back. Out of line
    /// (a call per message, not per operation): inlined into the link task's poll, once the
    /// store had GETRANGE, SETRANGE, RENAME and RANDOMKEY, two shards on one CPU took
    /// 2,781-2,788 instructions per request at pipeline 1, against 2,765-2,771 before them;
    /// out of line, 2,757-2,774 (`benches/kv_instructions.sh`, three runs each).
    #[inline(never)]
    fn receive(&self, msg: Msg) {
        let Msg { from, ops, replies, reply_lens, answered, direct } = msg;
        let mut links = self.links.borrow_mut();
        let link = &mut links[from];
        if !replies.is_empty() || answered > 0 {
            deliver(link, &replies, &reply_lens);
            link.in_flight = link.in_flight.saturating_sub(answered);
        }
        if !ops.is_empty() {
            let direct_count = direct.len();
            if self.serve_batch(&ops, direct, &mut link.answers, &mut link.answer_lens) > direct_count {
                link.answered += 1;
            }
        }
        let more = link.has_outgoing();
        drop(links);
        self.recycle(ops);
        self.recycle(replies);
        self.recycle(reply_lens);
        if more {
            self.want_flush(); // answers owed, or operations held back by MAX_IN_FLIGHT
        }
    }

    /// Runs a batch from another core, writing its replies into `out` and their lengths into
    /// `lens`, but those of `direct` to their clients; returns how many operations it ran.
    fn serve_batch(
        &self,
        ops: &[u8],
        mut direct_list: Vec<(u32, DirectReply)>,
        out: &mut Vec<u8>,
        lens: &mut Vec<u8>,
    ) -> usize {
        let now = store::now();
        let mut store = self.store.borrow_mut();
        let mut direct = direct_list.drain(..);
        let mut next_direct = direct.next();
        let (mut ran, mut rest) = (0, ops);
        loop {
            let at = out.len();
            // The lane's records first, run at once; the rest through the generic decode.
            if let Some((hot, protocol, used)) = lane::decode(rest) {
                rest = &rest[used..];
                match hot {
                    Hot::Get(key) => store.get(key, protocol, now, out),
                    Hot::Set { key, value } => store.set_plain(key, value, out),
                }
            } else if let Some((op, protocol, used)) = Op::decode(rest) {
                rest = &rest[used..];
                self.apply(&mut store, op, protocol, now, out);
            } else {
                break;
            }
            let i = ran;
            store.served.remote += 1;
            ran += 1;
            if let Some((_, reply)) = next_direct.take_if(|(at, _)| *at as usize == i) {
                // Written where the answers go, sent from there, and taken off again.
                reply.write(&out[at..]);
                out.truncate(at);
                next_direct = direct.next();
                continue;
            }
            lens.extend_from_slice(&((out.len() - at) as u32).to_le_bytes());
        }
        drop(next_direct);
        drop(direct); // any left (none, from a well-formed batch) answer with an error
        if direct_list.capacity() > 0 && self.direct_pool.borrow().len() < POOL {
            self.direct_pool.borrow_mut().push(direct_list);
        }
        ran
    }

    /// This core's INFO section: its keys, those with an expiry time and the average time
    /// they have left at `now` in milliseconds (the Keyspace line's parts), its connections
    /// and the requests they ran, the operations it served, its runtime counters.
    fn info(&self, store: &Store, now: Instant) -> String {
        let (me, ttls) = (self.me, store.ttls());
        let mut text = format!(
            "# core{me}\r\nkeys:{}\r\nexpires:{}\r\navg_ttl:{}\r\nconnections:{}\r\ncommands:{}\r\nops_local:{}\r\nops_remote:{}\r\n",
            store.len(),
            ttls.count(),
            ttls.average_left(now),
            self.clients.count(),
            self.commands.get(),
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

    /// An empty buffer, from the pool if it has one. A new one starts with room for a few
    /// dozen operations, so a batch does not grow it from nothing.
    fn buffer(&self) -> Vec<u8> {
        self.pool.borrow_mut().pop().unwrap_or_else(|| Vec::with_capacity(BUF_START))
    }

    /// Keeps `buf` for reuse, unless the pool is full, or `buf` never allocated or grew past
    /// the size kept. Inlined: most messages leave one or two of their buffers unallocated,
    /// and those cost a test here.
    #[inline]
    fn recycle(&self, mut buf: Vec<u8>) {
        if buf.capacity() == 0 {
            return;
        }
        let mut pool = self.pool.borrow_mut();
        if pool.len() < POOL && buf.capacity() <= POOL_BUF_MAX {
            buf.clear();
            pool.push(buf);
        }
    }
}

/// Hands answers (`replies`, of lengths `lens`, as in [`Msg`]) to the connections waiting on
/// `link`, oldest first, a run of one pipeline's answers at a time.
fn deliver(link: &mut Link, mut replies: &[u8], mut lens: &[u8]) {
    while !lens.is_empty() {
        let Some(waiter) = link.waiters.front_mut() else { return };
        // Filling only wakes the connection's task (no reentry here): links stay borrowed.
        let filled = waiter.slots.fill_run(waiter.first, waiter.count, &mut replies, &mut lens);
        if filled == waiter.count {
            link.waiters.pop_front();
        } else if filled == 0 {
            return; // a torn length (not from this server's own encoder): nothing more to take
        } else {
            // The message ended inside the run: the rest of its answers come in the next.
            waiter.first += filled;
            waiter.count -= filled;
        }
    }
}

impl Drop for Shards {
    fn drop(&mut self) {
        // The link task holds the shard weakly and waits: let it see the shard is gone.
        if let Some(w) = self.linker.take() {
            w.wake();
        }
    }
}

fn shard_gone(out: &mut Vec<u8>) {
    replies::error(out, "ERR the shard owning this key is shutting down");
}

/// The link task: takes in what other cores send this one (their operations, run here, and
/// the answers to this core's), then sends what this core owes them, once the connections
/// woken in the same pass have queued their operations. It holds the shard weakly and ends
/// once the shard is gone (the core's accept loop and connections with it; dropping the
/// inbox then fails the other cores' later messages at once) or every sender is.
pub async fn link(shards: Weak<Shards>, mut inbox: cross_core::Receiver<Msg>) {
    loop {
        let flush = poll_fn(|cx| {
            let Some(shards) = shards.upgrade() else {
                return Poll::Ready(None);
            };
            // Every message queued, then one flush: the connections this turn's I/O woke
            // ran before this task (the executor queues cross-core wakes after them), and
            // those the answers wake write them without queuing anything new, so there is
            // nothing to wait for.
            loop {
                match inbox.poll_recv(cx) {
                    Poll::Ready(Some(msg)) => shards.receive(msg),
                    Poll::Ready(None) => return Poll::Ready(None),
                    Poll::Pending => break,
                }
            }
            if shards.flush_wanted.replace(false) {
                return Poll::Ready(Some(shards));
            }
            shards.linker.set(Some(cx.waker().clone()));
            Poll::Pending
        })
        .await;
        match flush {
            Some(shards) => shards.flush(),
            None => return,
        }
    }
}

/// Removes expired keys a step at a time, ten steps a second (`Store::sweep_step`), until
/// the runtime starts shutting down; then keeps the shard until no client is open on any core.
/// Holding it is what keeps the shard serving: the link task holds it weakly, and once the
/// accept loop stops the core's own connections may all be gone while another core's, in
/// their grace, still send it requests. Released at the start of the drain, it answered a
/// `SET` pipelined before `SHUTDOWN` from a client of the other core with "the shard owning
/// this key is shutting down" (`tests/kv_cli.rs`, now and then under load).
pub async fn sweep(shards: Rc<Shards>, admission: Arc<Admission>) {
    let mut draining = std::pin::pin!(ringpoll::shutdown::draining());
    loop {
        if ringpoll::time::timeout(Duration::from_millis(100), draining.as_mut()).await.is_ok() {
            break;
        }
        shards.store.borrow_mut().sweep_step(store::now());
    }
    // Looked at every few milliseconds: a drain is short (the grace bounds it, and the
    // runtime cuts this task off at its end), and nothing else waits on the count.
    while admission.open() > 0 {
        ringpoll::time::sleep(Duration::from_millis(5)).await;
    }
}

#[cfg(test)]
mod tests {
    use std::future::Future;
    use std::task::{Context, Waker};

    use super::super::hash::Key;
    use super::super::op::decode_all;
    use super::super::pipeline::{End, Pipeline, REPLY_BUDGET};
    use super::*;

    /// Keys that core `core` of two owns.
    fn keys_on(core: usize, n: usize) -> Vec<String> {
        (0..).map(|i| format!("key{i}")).filter(|k| Key::new(k.as_bytes()).shard(2) == core).take(n).collect()
    }

    /// Two cores' views of one store, and their inboxes.
    fn two_cores() -> (Shards, Shards, cross_core::Receiver<Msg>, cross_core::Receiver<Msg>) {
        let (to0, inbox0) = cross_core::unbounded();
        let (to1, inbox1) = cross_core::unbounded();
        let peers = Peers::new(vec![to0, to1]);
        (Shards::new(0, peers.clone()), Shards::new(1, peers), inbox0, inbox1)
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
        let (used, end) = pipeline.run(input, shards, None);
        assert_eq!(used, input.len());
        assert!(matches!(end, End::More));
    }

    /// GET and plain SET travel in the lane's records (`lane.rs`), the rest in the generic
    /// ones, in one batch: one key's requests still run in the order sent, whichever record
    /// carries them, and each reply is in the asking connection's protocol.
    #[test]
    fn lane_and_generic_records_of_one_batch_run_in_order() {
        let (core0, core1, mut inbox0, mut inbox1) = two_cores();
        let (key, missing) = (&keys_on(1, 2)[0], &keys_on(1, 2)[1]);
        let command = |parts: &[&str]| {
            let mut request = format!("*{}\r\n", parts.len());
            parts.iter().for_each(|p| request += &format!("${}\r\n{p}\r\n", p.len()));
            request.into_bytes()
        };
        let mut conn = Pipeline::new(64);
        run(&mut conn, b"*2\r\n$5\r\nHELLO\r\n$1\r\n3\r\n", &core0);
        replies_now(&mut conn);
        let big = "v".repeat(100); // past the lane's short copies
        let input = [
            set(key, "ab"),
            command(&["APPEND", key, "c"]),
            get(key),
            command(&["SET", key, "x", "XX"]),
            get(key),
            set(key, &big),
            command(&["STRLEN", key]),
            get(missing),
            command(&["EXISTS", missing]),
        ]
        .concat();
        run(&mut conn, &input, &core0);
        core0.flush();
        let batch = inbox1.try_recv().expect("the batch");
        let tags: Vec<bool> = {
            let mut rest = &batch.ops[..];
            std::iter::from_fn(|| {
                let lane = super::lane::decode(rest);
                let (_, _, used) = Op::decode(rest)?;
                rest = &rest[used..];
                Some(lane.is_some())
            })
            .collect()
        };
        assert_eq!(tags, [true, false, true, false, true, true, false, true, false], "lane records where expected");
        core1.receive(batch);
        core1.flush();
        core0.receive(inbox0.try_recv().expect("the answers"));
        let want = b"+OK\r\n:3\r\n$3\r\nabc\r\n+OK\r\n$1\r\nx\r\n+OK\r\n:100\r\n_\r\n:0\r\n";
        assert_eq!(replies_now(&mut conn), want);
    }

    #[test]
    fn many_connections_requests_ride_one_batch_per_core_and_turn() {
        let (core0, core1, mut inbox0, mut inbox1) = two_cores();
        let (local, remote) = (keys_on(0, 3), keys_on(1, 3));
        let mut conns: Vec<Pipeline> = (0..3).map(|_| Pipeline::new(64)).collect();
        for (i, conn) in conns.iter_mut().enumerate() {
            // A remote SET, a local SET and a remote GET of the key just set: replies in order.
            let input = [set(&remote[i], "r"), set(&local[i], "l"), get(&remote[i])].concat();
            run(conn, &input, &core0);
        }
        core0.flush();
        let Ok(batch) = inbox1.try_recv() else { panic!("no batch for core 1") };
        assert!(inbox1.try_recv().is_err(), "three connections' requests went as one batch");
        assert_eq!((batch.from, decode_all(&batch.ops).count(), batch.answered), (0, 6, 0));
        core1.receive(batch);
        assert!(core1.flush_wanted.get(), "answers owed");
        core1.flush();
        let Ok(answer) = inbox0.try_recv() else { panic!("no answer for core 0") };
        assert_eq!((answer.from, answer.ops.len(), answer.answered), (1, 0, 1));
        core0.receive(answer);
        for conn in &mut conns {
            assert_eq!(replies_now(conn), b"+OK\r\n+OK\r\n$1\r\nr\r\n");
        }
        // The buffers read are pooled where they were read (core 0 pooled the answers and
        // their lengths; core 1 pooled the batch's, then took it for its next answers).
        assert_eq!((core0.pool.borrow().len(), core1.pool.borrow().len()), (2, 0));
        assert!(core1.links.borrow()[0].answers.capacity() > 0);
        assert_eq!(core0.links.borrow()[1].in_flight, 0);
        assert_eq!(core1.store.borrow().served.remote, 6);
        assert_eq!(core0.store.borrow().served.local, 3);
    }

    /// A connection that read a big value, from its own core's store or the other's, keeps
    /// no buffer of that size once the reply is written: the next pipeline's output comes in
    /// a buffer of the budget's size at most (it used to keep the value's 8 MiB for good).
    #[test]
    fn a_big_reply_leaves_no_big_buffer_behind() {
        let (core0, core1, mut inbox0, mut inbox1) = two_cores();
        let big = "x".repeat(8 << 20);
        for key in [&keys_on(0, 1)[0], &keys_on(1, 1)[0]] {
            let mut conn = Pipeline::new(64);
            run(&mut conn, &[set(key, &big), get(key)].concat(), &core0);
            core0.flush();
            if let Ok(batch) = inbox1.try_recv() {
                core1.receive(batch);
                core1.flush();
                core0.receive(inbox0.try_recv().expect("core 1 answers"));
            }
            let out = replies_now(&mut conn);
            assert!(out.len() > big.len(), "the value came back");
            conn.recycle(out);
            run(&mut conn, b"*1\r\n$4\r\nPING\r\n", &core0);
            let out = replies_now(&mut conn);
            assert_eq!(out, b"+PONG\r\n");
            assert!(out.capacity() <= 2 * REPLY_BUDGET, "{key}: {} bytes kept", out.capacity());
        }
    }

    /// CLIENT LIST and INFO asked on one core answer for the connections of both, in id
    /// order; CLIENT LIST ID finds one on the other core.
    #[test]
    fn client_list_and_info_count_every_cores_connections() {
        let (core0, core1, mut inbox0, mut inbox1) = two_cores();
        let mut conns: Vec<Pipeline> = (0..4).map(|_| Pipeline::new(64)).collect();
        for (i, conn) in conns.iter().enumerate() {
            [&core0, &core1][i % 2].clients().open_unconnected(conn.client_id());
        }
        let ids: Vec<u64> = conns.iter().map(Pipeline::client_id).collect();
        let asking = &mut conns[0];
        let listed = format!("CLIENT LIST\r\nINFO\r\nCLIENT LIST ID {} 0\r\n", ids[3]);
        run(asking, listed.as_bytes(), &core0);
        answer(&core0, &core1, &mut inbox0, &mut inbox1);
        let out = String::from_utf8(replies_now(asking)).unwrap();
        let lines: Vec<&str> = out.lines().filter(|l| l.starts_with("id=")).collect();
        let listed_ids: Vec<String> = lines.iter().map(|l| l.split(' ').next().unwrap().to_string()).collect();
        let every: Vec<String> = ids.iter().chain([&ids[3]]).map(|id| format!("id={id}")).collect();
        assert_eq!(listed_ids, every, "{out}");
        assert!(out.contains("\r\nconnected_clients:4\r\n"), "{out}");
    }

    #[test]
    fn a_multi_key_command_across_shards_combines_in_order() {
        let (core0, core1, mut inbox0, mut inbox1) = two_cores();
        let (a, b) = (&keys_on(0, 1)[0], &keys_on(1, 1)[0]);
        let mget = format!("*4\r\n$4\r\nMGET\r\n${}\r\n{b}\r\n${}\r\n{a}\r\n$7\r\nmissing\r\n", b.len(), a.len());
        let mut conn = Pipeline::new(64);
        run(&mut conn, &[set(a, "va"), set(b, "vb"), mget.into_bytes()].concat(), &core0);
        core0.flush();
        core1.receive(inbox1.try_recv().expect("a batch"));
        core1.flush();
        core0.receive(inbox0.try_recv().expect("the answers"));
        assert_eq!(replies_now(&mut conn), b"+OK\r\n+OK\r\n*3\r\n$2\r\nvb\r\n$2\r\nva\r\n$-1\r\n");
    }

    /// A RESP3 connection's nulls are RESP3's whichever core makes them: its own core's, the
    /// other core's answers to a forwarded GET and MGET (mixed with its own), and a SET NX
    /// there; INFO asked before HELLO 3 in the same pipeline stays a bulk string, and asked
    /// after, is a verbatim string. A RESP2 connection's answers on the same cores are RESP2's.
    #[test]
    fn a_resp3_connections_nulls_are_resp3_from_either_core() {
        let (core0, core1, mut inbox0, mut inbox1) = two_cores();
        let (a, b) = (&keys_on(0, 2), &keys_on(1, 2));
        let mget = |keys: [&String; 4]| {
            let args: String = keys.iter().map(|k| format!("${}\r\n{k}\r\n", k.len())).collect();
            format!("*5\r\n$4\r\nMGET\r\n{args}").into_bytes()
        };
        let set_nx = format!("*4\r\n$3\r\nSET\r\n${}\r\n{}\r\n$1\r\nv\r\n$2\r\nNX\r\n", b[0].len(), b[0]);
        let requests = [
            set(&a[0], "va"),
            set(&b[0], "vb"),
            get(&b[1]),
            get(&a[1]),
            mget([&b[0], &b[1], &a[0], &a[1]]),
            set_nx.into_bytes(),
        ]
        .concat();
        let mut resp2 = Pipeline::new(64);
        run(&mut resp2, &requests, &core0);
        answer(&core0, &core1, &mut inbox0, &mut inbox1);
        let nulls = |null: &str| {
            format!("+OK\r\n+OK\r\n{null}{null}*4\r\n$2\r\nvb\r\n{null}$2\r\nva\r\n{null}{null}").into_bytes()
        };
        assert_eq!(replies_now(&mut resp2), nulls("$-1\r\n"));
        let mut resp3 = Pipeline::new(64);
        run(
            &mut resp3,
            &[b"*1\r\n$4\r\nINFO\r\n*2\r\n$5\r\nHELLO\r\n$1\r\n3\r\n".as_slice(), &requests].concat(),
            &core0,
        );
        run(&mut resp3, b"*1\r\n$4\r\nINFO\r\n", &core0);
        answer(&core0, &core1, &mut inbox0, &mut inbox1);
        let out = replies_now(&mut resp3);
        let hello = format!(
            "%7\r\n$6\r\nserver\r\n$5\r\nredis\r\n$7\r\nversion\r\n$6\r\n7.0.15\r\n$5\r\nproto\r\n:3\r\n\
             $2\r\nid\r\n:{}\r\n$4\r\nmode\r\n$10\r\nstandalone\r\n$4\r\nrole\r\n$6\r\nmaster\r\n$7\r\nmodules\r\n*0\r\n",
            resp3.client_id()
        );
        let at = out.windows(hello.len()).position(|w| w == hello.as_bytes()).expect("HELLO 3's map");
        let (info2, rest) = out.split_at(at);
        let rest = rest[hello.len()..].strip_prefix(nulls("_\r\n").as_slice()).expect("RESP3's nulls");
        assert!(info2.starts_with(b"$") && info2.ends_with(b"\r\n"), "INFO asked before HELLO 3: a bulk string");
        assert!(rest.starts_with(b"=") && rest[..16].windows(6).any(|w| w == b"\r\ntxt:"), "then verbatim");
    }

    #[test]
    fn forwarded_requests_answered_out_of_order_keep_their_order() {
        // Three cores: core 0's pipeline asks core 1, core 2, core 1 again, one hole for all
        // three (nothing local between them); core 2 answers first.
        let on = |core| (0..).map(|i| format!("k{i}")).find(|k| Key::new(k.as_bytes()).shard(3) == core).unwrap();
        let (on1, on2) = (on(1), on(2));
        let channels: Vec<_> = (0..3).map(|_| cross_core::unbounded::<Msg>()).collect();
        let senders: Vec<_> = channels.iter().map(|(tx, _)| tx.clone()).collect();
        let mut inboxes: Vec<_> = channels.into_iter().map(|(_, rx)| rx).collect();
        let peers = Peers::new(senders);
        let cores: Vec<_> = (0..3).map(|me| Shards::new(me, peers.clone())).collect();
        let mut conn = Pipeline::new(64);
        run(&mut conn, &[set(&on1, "one"), set(&on2, "two")].concat(), &cores[0]);
        for core in 1..3 {
            cores[0].flush();
            cores[core].receive(inboxes[core].try_recv().expect("a batch"));
            cores[core].flush();
            cores[0].receive(inboxes[0].try_recv().expect("the answers"));
        }
        replies_now(&mut conn);
        run(&mut conn, &[get(&on1), get(&on2), get(&on1)].concat(), &cores[0]);
        cores[0].flush();
        for core in [2, 1] {
            cores[core].receive(inboxes[core].try_recv().expect("a batch"));
            cores[core].flush();
            cores[0].receive(inboxes[0].try_recv().expect("the answers"));
        }
        assert_eq!(replies_now(&mut conn), b"$3\r\none\r\n$3\r\ntwo\r\n$3\r\none\r\n");
    }

    /// Runs `input` as far as the budget lets it: the bytes used, and whether it stopped for
    /// the budget (rather than at the input's end).
    fn run_part(pipeline: &mut Pipeline, input: &[u8], shards: &Shards) -> (usize, bool) {
        match pipeline.run(input, shards, None) {
            (used, End::Owed) => (used, true),
            (used, End::More) => (used, false),
            (_, _) => panic!("neither more nor owed"),
        }
    }

    /// Core 1 answers core 0's batch and core 0 takes the answers in.
    fn answer(
        core0: &Shards,
        core1: &Shards,
        inbox0: &mut cross_core::Receiver<Msg>,
        inbox1: &mut cross_core::Receiver<Msg>,
    ) {
        core0.flush();
        core1.receive(inbox1.try_recv().expect("a batch"));
        core1.flush();
        core0.receive(inbox0.try_recv().expect("the answers"));
    }

    #[test]
    fn a_run_stops_once_its_replies_pass_the_budget_and_resumes_in_order() {
        use super::super::pipeline::{MAX_FORWARDED, REPLY_BUDGET};
        let (core0, core1, mut inbox0, mut inbox1) = two_cores();
        let (local, remote) = (&keys_on(0, 1)[0], &keys_on(1, 2));
        let third = "x".repeat(REPLY_BUDGET / 3 + 1);
        let one = [format!("${}\r\n", third.len()).as_bytes(), third.as_bytes(), b"\r\n"].concat();
        let mut conn = Pipeline::new(64);
        run(&mut conn, &[set(local, &third), set(&remote[0], &third), set(&remote[1], "s")].concat(), &core0);
        answer(&core0, &core1, &mut inbox0, &mut inbox1);
        replies_now(&mut conn);
        // Local replies: the fourth GET waits for the first three to be written.
        let gets = get(local).repeat(5);
        let (used, owed) = run_part(&mut conn, &gets, &core0);
        assert_eq!((used, owed), (3 * get(local).len(), true));
        assert_eq!(replies_now(&mut conn), one.repeat(3));
        assert_eq!(run_part(&mut conn, &gets[used..], &core0), (2 * get(local).len(), false));
        replies_now(&mut conn);
        // Forwarded ones, of unknown size: at most MAX_FORWARDED in a run.
        let small = get(&remote[1]).repeat(MAX_FORWARDED + 4);
        let (used, owed) = run_part(&mut conn, &small, &core0);
        assert_eq!((used, owed), (MAX_FORWARDED * get(&remote[1]).len(), true));
        answer(&core0, &core1, &mut inbox0, &mut inbox1);
        assert_eq!(replies_now(&mut conn), b"$1\r\ns\r\n".repeat(MAX_FORWARDED));
        // Once a big answer came back, forwarded requests count at its size.
        run(&mut conn, &get(&remote[0]), &core0);
        answer(&core0, &core1, &mut inbox0, &mut inbox1);
        assert_eq!(replies_now(&mut conn), one);
        let bigs = get(&remote[0]).repeat(4);
        let (used, owed) = run_part(&mut conn, &bigs, &core0);
        assert_eq!((used, owed), (3 * get(&remote[0]).len(), true), "three answers of a third");
        answer(&core0, &core1, &mut inbox0, &mut inbox1);
        assert_eq!(replies_now(&mut conn), one.repeat(3), "in order, whole");
    }

    #[test]
    fn forwarded_requests_with_small_replies_run_whole() {
        use super::super::pipeline::MAX_FORWARDED;
        let (core0, core1, mut inbox0, mut inbox1) = two_cores();
        let remote = &keys_on(1, 1)[0];
        let mut conn = Pipeline::new(64);
        // SETs answer +OK: their size is known, so they need not stop a run as GETs do.
        let sets = set(remote, "v").repeat(8 * MAX_FORWARDED);
        assert_eq!(run_part(&mut conn, &sets, &core0), (sets.len(), false), "one run, one wait");
        answer(&core0, &core1, &mut inbox0, &mut inbox1);
        assert_eq!(replies_now(&mut conn), b"+OK\r\n".repeat(8 * MAX_FORWARDED));
    }

    #[test]
    fn a_deep_pipeline_of_gets_of_small_values_runs_whole() {
        use super::super::pipeline::MAX_FORWARDED;
        let (core0, core1, mut inbox0, mut inbox1) = two_cores();
        let remote = &keys_on(1, 1)[0];
        let mut conn = Pipeline::new(64);
        run(&mut conn, &set(remote, "small"), &core0);
        answer(&core0, &core1, &mut inbox0, &mut inbox1);
        replies_now(&mut conn);
        // Core 1 never held a value past 5 bytes, so 256 GETs' replies fit the budget.
        let gets = get(remote).repeat(16 * MAX_FORWARDED);
        assert_eq!(run_part(&mut conn, &gets, &core0), (gets.len(), false), "one run, one wait");
        answer(&core0, &core1, &mut inbox0, &mut inbox1);
        assert_eq!(replies_now(&mut conn), b"$5\r\nsmall\r\n".repeat(16 * MAX_FORWARDED));
    }

    #[test]
    fn gets_behind_a_big_value_count_at_its_size() {
        use super::super::pipeline::{MAX_FORWARDED, REPLY_BUDGET};
        let (core0, core1, mut inbox0, mut inbox1) = two_cores();
        let (on0, on1) = (&keys_on(0, 1)[0], &keys_on(1, 2));
        let big = "b".repeat(REPLY_BUDGET / 4);
        // Sent from this core, not yet written there: the GETs behind it count at its size.
        let mut conn = Pipeline::new(64);
        let input = [set(&on1[0], &big), get(&on1[0]).repeat(2 * MAX_FORWARDED)].concat();
        let (used, owed) = run_part(&mut conn, &input, &core0);
        assert_eq!((used, owed), (set(&on1[0], &big).len() + MAX_FORWARDED * get(&on1[0]).len(), true));
        answer(&core0, &core1, &mut inbox0, &mut inbox1);
        replies_now(&mut conn);
        // Written on core 1 by its own client: published before that client's reply.
        let mut local = Pipeline::new(64);
        run(&mut local, &set(&on1[1], &big), &core1);
        assert_eq!(replies_now(&mut local), b"+OK\r\n");
        assert!(core0.value_bound(1) >= big.len() && core1.value_bound(0) == 0);
        run(&mut local, &set(on0, "x"), &core0);
        assert_eq!(core1.value_bound(0), 1, "core 0's record, published");
    }

    #[test]
    fn a_gone_core_answers_with_an_error_and_nothing_hangs() {
        let (core0, _core1, _inbox0, inbox1) = two_cores();
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
        let (core0, core1, mut inbox0, mut inbox1) = two_cores();
        let key = &keys_on(1, 1)[0];
        let mut conns: Vec<Pipeline> = (0..MAX_IN_FLIGHT + 3).map(|_| Pipeline::new(64)).collect();
        for conn in &mut conns {
            run(conn, &get(key), &core0);
            core0.flush();
        }
        assert_eq!(inbox1.len(), MAX_IN_FLIGHT, "the rest wait for answers");
        let waiting: u32 = core0.links.borrow()[1].waiters.iter().map(|w| w.count).sum();
        assert_eq!(waiting as usize, MAX_IN_FLIGHT + 3);
        // Core 1 answers every batch in one message; that frees core 0 to send the rest.
        while let Ok(batch) = inbox1.try_recv() {
            core1.receive(batch);
        }
        core1.flush();
        let answer = inbox0.try_recv().expect("the answers");
        assert_eq!(answer.answered, MAX_IN_FLIGHT);
        assert!(inbox0.try_recv().is_err(), "one message answers them all");
        core0.receive(answer);
        assert!(core0.flush_wanted.get(), "the held-back operations want a flush");
        core0.flush();
        let rest = inbox1.try_recv().expect("the rest");
        assert_eq!(decode_all(&rest.ops).count(), 3);
        for conn in &mut conns[..MAX_IN_FLIGHT] {
            assert_eq!(replies_now(conn), b"$-1\r\n");
        }
    }

    #[test]
    fn answers_ride_with_the_answering_cores_own_operations() {
        let (core0, core1, mut inbox0, mut inbox1) = two_cores();
        let (on0, on1) = (&keys_on(0, 1)[0], &keys_on(1, 1)[0]);
        let (mut conn0, mut conn1) = (Pipeline::new(64), Pipeline::new(64));
        run(&mut conn0, &get(on1), &core0);
        core0.flush();
        core1.receive(inbox1.try_recv().expect("core 0's batch"));
        run(&mut conn1, &set(on0, "v"), &core1); // core 1's own request for core 0, same turn
        core1.flush();
        let both = inbox0.try_recv().expect("core 1's message");
        assert!(inbox0.try_recv().is_err(), "operations and answers in one message");
        assert_eq!((decode_all(&both.ops).count(), both.answered), (1, 1));
        core0.receive(both);
        assert_eq!(replies_now(&mut conn0), b"$-1\r\n");
        core0.flush();
        let answer = inbox1.try_recv().expect("core 0's answer");
        assert_eq!((answer.ops.len(), answer.answered), (0, 1));
        core1.receive(answer);
        assert_eq!(replies_now(&mut conn1), b"+OK\r\n");
        assert!(!core0.flush_wanted.get() || !core0.links.borrow()[1].has_outgoing(), "nothing more owed");
    }

    #[test]
    fn a_lone_request_is_answered_on_the_clients_socket_with_nothing_sent_back() {
        use std::io::Read;
        use std::os::unix::net::UnixStream;

        use super::super::direct::Direct;

        let (core0, core1, mut inbox0, mut inbox1) = two_cores();
        let remote = &keys_on(1, 1)[0];
        let (socket, mut client) = UnixStream::pair().unwrap();
        client.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let direct = Direct::new(&socket).unwrap();
        let mut conn = Pipeline::new(64);
        let (used, _) = conn.run(&set(remote, "v"), &core0, Some(&direct));
        assert_eq!(used, set(remote, "v").len());
        assert!(direct.in_flight());
        assert_eq!(replies_now(&mut conn), b"", "nothing for the connection to write");
        core0.flush();
        let batch = inbox1.try_recv().expect("the batch");
        assert_eq!((decode_all(&batch.ops).count(), batch.direct.len()), (1, 1));
        assert_eq!(core0.links.borrow()[1].in_flight, 0, "a batch of direct replies is never answered");
        core1.receive(batch);
        let mut got = [0; 5];
        client.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"+OK\r\n");
        assert!(!core1.links.borrow()[0].has_outgoing(), "no answer owed");
        core1.flush();
        assert!(inbox0.try_recv().is_err(), "nothing sent back");
        // A later pipeline of two is answered the usual way, after the direct reply settled.
        let mut direct = direct;
        let settled = std::pin::pin!(direct.settled()).poll(&mut Context::from_waker(Waker::noop()));
        assert_eq!(settled, Poll::Ready(None), "settled as written");
        run_with_direct(&mut conn, &[get(remote), get(remote)].concat(), &core0, &direct);
        assert!(!direct.in_flight(), "a pipeline of two goes the usual way");
        core0.flush();
        core1.receive(inbox1.try_recv().expect("the second batch"));
        core1.flush();
        core0.receive(inbox0.try_recv().expect("its answers"));
        assert_eq!(replies_now(&mut conn), b"$1\r\nv\r\n$1\r\nv\r\n");
    }

    /// The other core writes a RESP3 connection's lone request's null to its socket as RESP3's.
    #[test]
    fn a_direct_reply_is_in_the_connections_protocol() {
        use std::io::Read;
        use std::os::unix::net::UnixStream;

        use super::super::direct::Direct;

        let (core0, core1, _inbox0, mut inbox1) = two_cores();
        let remote = &keys_on(1, 1)[0];
        let (socket, mut client) = UnixStream::pair().unwrap();
        client.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut direct = Direct::new(&socket).unwrap();
        let mut conn = Pipeline::new(64);
        run(&mut conn, b"*2\r\n$5\r\nHELLO\r\n$1\r\n3\r\n", &core0);
        assert!(replies_now(&mut conn).starts_with(b"%7\r\n"));
        for (request, want) in
            [(get(remote), &b"_\r\n"[..]), (set(remote, "v"), b"+OK\r\n"), (get(remote), b"$1\r\nv\r\n")]
        {
            run_with_direct(&mut conn, &request, &core0, &direct);
            assert!(direct.in_flight(), "answered on the socket");
            core0.flush();
            core1.receive(inbox1.try_recv().expect("the batch"));
            let mut got = vec![0; want.len()];
            client.read_exact(&mut got).unwrap();
            assert_eq!(got, want);
            let settled = std::pin::pin!(direct.settled()).poll(&mut Context::from_waker(Waker::noop()));
            assert_eq!(settled, Poll::Ready(None));
        }
    }

    fn run_with_direct(pipeline: &mut Pipeline, input: &[u8], shards: &Shards, direct: &super::super::direct::Direct) {
        let (used, end) = pipeline.run(input, shards, Some(direct));
        assert_eq!(used, input.len());
        assert!(matches!(end, End::More));
    }
}
