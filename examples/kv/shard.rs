//! Sharding: each core owns the keys that hash to it. A pipeline's operations on this core's
//! keys run at once; the rest go to their cores as one batch per core, over a bounded
//! cross-core channel, with a oneshot for the answers. Replies go back in request order.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use ringpoll::channel::cross_core;
use ringpoll::Handle;

use super::command::{combine, Plan};
use super::resp::Reply;
use super::store::{Op, Store};

/// Operations for one core, and where its replies go (same order).
pub struct Batch {
    ops: Vec<Op>,
    reply: cross_core::OneshotSender<Vec<Reply>>,
}

/// How many batches may wait in a core's inbox before senders wait (backpressure).
pub const INBOX: usize = 4096;

/// One core's view of the sharded store.
pub struct Shards {
    me: usize,
    store: Rc<RefCell<Store>>,
    inboxes: Vec<cross_core::Sender<Batch>>,
}

impl Shards {
    /// This core's view: its own store, and every core's inbox (its own unused).
    pub fn new(me: usize, store: Rc<RefCell<Store>>, inboxes: Vec<cross_core::Sender<Batch>>) -> Shards {
        Shards { me, store, inboxes }
    }

    /// How many cores share the keys.
    pub fn count(&self) -> usize {
        self.inboxes.len()
    }

    /// Runs a pipeline's plans and appends their replies, in order, to `out`. Returns
    /// whether the client asked to QUIT (requests after it are not run).
    pub async fn execute(&self, plans: Vec<Plan>, out: &mut Vec<u8>) -> bool {
        let mut per_core: Vec<Vec<(usize, Op)>> = (0..self.count()).map(|_| Vec::new()).collect();
        let mut slots = Vec::new();
        let mut steps = Vec::with_capacity(plans.len());
        let mut quit = false;
        for plan in plans {
            match plan {
                Plan::Now(reply) => steps.push(Step::Now(reply)),
                Plan::Quit => {
                    steps.push(Step::Now(Reply::Status("OK")));
                    quit = true;
                    break;
                }
                Plan::Ops(ops, how) => {
                    let first = slots.len();
                    for (core, op) in ops {
                        per_core[core].push((slots.len(), op));
                        slots.push(Reply::Nil);
                    }
                    steps.push(Step::Ops(first..slots.len(), how));
                }
            }
        }
        self.run(per_core, &mut slots).await;
        let mut slots = slots.into_iter();
        for step in steps {
            let reply = match step {
                Step::Now(reply) => reply,
                Step::Ops(range, how) => combine(how, slots.by_ref().take(range.len()).collect()),
            };
            reply.encode(out);
        }
        quit
    }

    /// Sends each other core its operations, runs this core's, then collects the answers.
    async fn run(&self, per_core: Vec<Vec<(usize, Op)>>, slots: &mut [Reply]) {
        let mut waiting = Vec::new();
        let mut local = Vec::new();
        for (core, ops) in per_core.into_iter().enumerate() {
            if ops.is_empty() {
                continue;
            }
            if core == self.me {
                local = ops;
                continue;
            }
            let (at, ops): (Vec<usize>, Vec<Op>) = ops.into_iter().unzip();
            let (reply, answer) = cross_core::oneshot();
            let sent = self.inboxes[core].send(Batch { ops, reply }).await.is_ok();
            waiting.push((at, sent.then_some(answer)));
        }
        {
            // Not held across the awaits below: other tasks of this core use the store too.
            let now = Instant::now();
            let mut store = self.store.borrow_mut();
            store.served.local += local.len() as u64;
            for (at, op) in local {
                slots[at] = answer(self.me, &mut store, op, now);
            }
        }
        for (at, answer) in waiting {
            let replies = match answer {
                Some(answer) => answer.await.ok(),
                None => None,
            };
            let mut replies = replies.map(Vec::into_iter);
            for i in at {
                slots[i] = replies
                    .as_mut()
                    .and_then(Iterator::next)
                    .unwrap_or_else(|| Reply::error("ERR the shard owning this key is shutting down"));
            }
        }
    }
}

enum Step {
    Now(Reply),
    Ops(std::ops::Range<usize>, super::command::Combine),
}

/// One operation on this core's store; INFO is answered here, where the core is known.
fn answer(me: usize, store: &mut Store, op: Op, now: Instant) -> Reply {
    match op {
        Op::Info => Reply::Bulk(info(me, store).into_bytes()),
        op => store.apply(op, now),
    }
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
            "accepted:{}\r\nopen_sockets:{}\r\ntasks_live:{}\r\nreactor_polls:{}\r\neventfd_writes:{}\r\n",
            stats.accepted, stats.sources_open, stats.tasks_live, stats.reactor_polls, stats.eventfd_writes
        );
    }
    text
}

/// Serves the batches other cores send to this one, until every sender is gone.
pub async fn serve_inbox(me: usize, mut inbox: cross_core::Receiver<Batch>, store: Rc<RefCell<Store>>) {
    while let Some(Batch { ops, reply }) = inbox.recv().await {
        let now = Instant::now();
        let mut store = store.borrow_mut();
        store.served.remote += ops.len() as u64;
        let replies = ops.into_iter().map(|op| answer(me, &mut store, op, now)).collect();
        drop(store);
        let _ = reply.send(replies); // the asking connection may have gone
    }
}

/// Removes expired keys once a second, until the runtime starts shutting down.
pub async fn sweep(store: Rc<RefCell<Store>>) {
    let mut draining = std::pin::pin!(ringpoll::shutdown::draining());
    loop {
        if ringpoll::time::timeout(Duration::from_secs(1), draining.as_mut()).await.is_ok() {
            return;
        }
        store.borrow_mut().sweep(Instant::now());
    }
}
